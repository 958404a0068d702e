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
import { sha256Hex, VIEWS_VERSION } from "./tool-doc.ts";

/** Least-recently-used map with at most `capacity` entries. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
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
