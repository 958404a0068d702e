/**
 * Caches of the selector: a small in-memory LRU (query embeddings, tool documents, tool-set
 * indexes) and the persistent tool-embedding store, its own SQLite file `embeddings.sqlite` in the
 * data directory (bun:sqlite, WAL). A stored entry is keyed by SHA-256 of (model id, views version,
 * hash of the tool's canonical JSON): a changed tool or model gets a new key, so added, changed and
 * removed tools need no manual step; entries unused for `maxAgeDays` are pruned at start.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex, VIEWS_VERSION, type ToolDoc } from "./tool-doc.ts";

/**
 * Least-recently-used map with at most `capacity` entries and, when `weigh` is given, at most
 * `maxWeight` in total (e.g. bytes): a client that sends large tools fills the cache with fewer
 * entries instead of more memory. An entry heavier than `maxWeight` on its own is not kept.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  private readonly weights = new Map<K, number>();
  private total = 0;

  constructor(
    readonly capacity: number,
    private readonly weigh?: (value: V, key: K) => number,
    readonly maxWeight = Number.POSITIVE_INFINITY,
  ) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.weigh?.(value, key) ?? 0;
    if (weight > this.maxWeight) return;
    this.map.set(key, value);
    this.weights.set(key, weight);
    this.total += weight;
    while (this.map.size > this.capacity || this.total > this.maxWeight) this.delete(this.map.keys().next().value!);
  }

  private delete(key: K): void {
    if (!this.map.delete(key)) return;
    this.total -= this.weights.get(key)!;
    this.weights.delete(key);
  }

  get size(): number {
    return this.map.size;
  }

  /** The total weight of the entries kept. */
  get weight(): number {
    return this.total;
  }

  /** The entries, least recently used first. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
    this.weights.clear();
    this.total = 0;
  }
}

/** Approximate bytes of a tool's document: its texts (UTF-16) plus a fixed overhead per object. */
export function docBytes(doc: ToolDoc): number {
  let chars = doc.name.length + doc.hash.length;
  for (const text of Object.values(doc.fields)) chars += text.length;
  for (const text of [...doc.views, ...doc.slots]) chars += text.length;
  return 2 * chars + 512;
}

/** Bytes of a tool's view embeddings. */
export function viewBytes(views: Float32Array[]): number {
  return views.reduce((s, v) => s + v.byteLength, 64);
}

/** The cache key of one tool's view embeddings under `model`. */
export function embeddingKey(model: string, toolHash: string): string {
  return sha256Hex(`${model}\n${VIEWS_VERSION}\n${toolHash}`);
}

export class EmbeddingStore {
  readonly db: Database;
  private readonly getStmt;
  private readonly putStmt;
  private readonly touchStmt;
  private readonly deleteStmt;

  /**
   * @param dataDir directory for `embeddings.sqlite`, or ":memory:"
   * @throws when the directory or database cannot be created
   */
  constructor(dataDir: string, maxAgeDays = 30) {
    let path = ":memory:";
    if (dataDir !== ":memory:") {
      mkdirSync(dataDir, { recursive: true });
      path = join(dataDir, "embeddings.sqlite");
    }
    this.db = new Database(path, { create: true });
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;
      CREATE TABLE IF NOT EXISTS tool_embeddings (
        key TEXT PRIMARY KEY,    -- embeddingKey(model, tool hash)
        dim INTEGER NOT NULL,
        vectors BLOB NOT NULL,   -- Float32 little-endian, views x dim
        used_at INTEGER NOT NULL -- ms since epoch
      );`);
    this.db.run("DELETE FROM tool_embeddings WHERE used_at < ?", [Date.now() - maxAgeDays * 86_400_000]);
    this.getStmt = this.db.prepare<{ dim: number; vectors: Uint8Array }, [string]>("SELECT dim, vectors FROM tool_embeddings WHERE key = ?");
    this.putStmt = this.db.prepare("INSERT OR REPLACE INTO tool_embeddings (key, dim, vectors, used_at) VALUES (?, ?, ?, ?)");
    this.touchStmt = this.db.prepare("UPDATE tool_embeddings SET used_at = ? WHERE key = ?");
    this.deleteStmt = this.db.prepare("DELETE FROM tool_embeddings WHERE key = ?");
  }

  /**
   * The stored view embeddings of `key`, or undefined. A malformed row (dimension not a positive
   * integer, a blob that is empty or not whole vectors of it) is a miss, and is deleted: the tool is
   * embedded again and stored right.
   */
  get(key: string): Float32Array[] | undefined {
    const row = this.getStmt.get(key);
    if (!row) return undefined;
    const { dim, vectors } = row;
    const bytes = vectors?.byteLength ?? 0;
    if (!Number.isInteger(dim) || dim <= 0 || bytes === 0 || bytes % (dim * 4) !== 0) {
      this.deleteStmt.run(key);
      return undefined;
    }
    this.touchStmt.run(Date.now(), key);
    const floats = new Float32Array(vectors.buffer.slice(vectors.byteOffset, vectors.byteOffset + bytes));
    const out: Float32Array[] = [];
    for (let i = 0; i < floats.length; i += dim) out.push(floats.subarray(i, i + dim));
    return out;
  }

  /**
   * Stores several entries in one transaction. An entry with no vectors, or with vectors of
   * different or zero lengths, is not stored (get() could not split it back into vectors).
   */
  putMany(entries: { key: string; vectors: Float32Array[] }[]): void {
    const now = Date.now();
    this.db.transaction(() => {
      for (const { key, vectors } of entries) {
        const dim = vectors[0]?.length ?? 0;
        if (dim === 0 || vectors.some((v) => v.length !== dim)) continue;
        const all = new Float32Array(vectors.length * dim);
        vectors.forEach((v, i) => all.set(v, i * dim));
        this.putStmt.run(key, dim, new Uint8Array(all.buffer), now);
      }
    })();
  }

  /** Number of stored entries. */
  count(): number {
    return (this.db.query("SELECT COUNT(*) AS n FROM tool_embeddings").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
