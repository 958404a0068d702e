/**
 * Where the working sets of cache-aware selection live (working-set.ts), behind a small store
 * interface so that a shared implementation (Redis through `Bun.redis`, say) can replace it when
 * several proxies serve one upstream (DESIGN.md, "Scaling past one machine"). The interface is
 * asynchronous for that reason.
 *
 * - MemoryWorkingSetStore: a map bounded to `capacity` sets, least recently used dropped first.
 * - FileWorkingSetStore: the same, loaded from `<data_dir>/working-sets.json` at start and written
 *   back (temp file + rename) a moment after a change, off the request path, so that a restart does
 *   not cost the upstream a cold prefix cache. A missing or unreadable file starts empty (the sets
 *   are an optimisation and rebuild themselves); `close()` writes pending changes synchronously.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Lru } from "./cache.ts";
import type { WorkingSet } from "./working-set.ts";

export interface WorkingSetStore {
  get(key: string): Promise<WorkingSet | undefined>;
  set(key: string, value: WorkingSet): Promise<void>;
  /** Writes pending changes and releases resources. */
  close(): void;
}

/** Working sets kept: one per client tool set and upstream model; a household has a handful. */
const CAPACITY = 256;

export class MemoryWorkingSetStore implements WorkingSetStore {
  protected readonly sets: Lru<string, WorkingSet>;

  constructor(capacity = CAPACITY) {
    this.sets = new Lru(capacity);
  }

  async get(key: string): Promise<WorkingSet | undefined> {
    return this.sets.get(key);
  }

  async set(key: string, value: WorkingSet): Promise<void> {
    this.sets.set(key, value);
  }

  close(): void {}
}

interface StoredFile {
  version: 1;
  sets: [string, WorkingSet][];
}

/** Delay before a change is written: requests in a burst share one write. */
const WRITE_DELAY_MS = 1_000;

export class FileWorkingSetStore extends MemoryWorkingSetStore {
  readonly path: string;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private warned = false;
  private writing: Promise<void> = Promise.resolve();

  /** @throws when the data directory cannot be created */
  constructor(dataDir: string, capacity = CAPACITY) {
    super(capacity);
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, "working-sets.json");
    try {
      const stored = JSON.parse(readFileSync(this.path, "utf8")) as StoredFile;
      if (stored?.version === 1 && Array.isArray(stored.sets)) for (const [k, v] of stored.sets) if (isWorkingSet(v)) this.sets.set(k, v);
    } catch {
      // no file yet, or a damaged one: start empty
    }
  }

  override async set(key: string, value: WorkingSet): Promise<void> {
    await super.set(key, value);
    this.timer ??= setTimeout(() => this.write(), WRITE_DELAY_MS);
  }

  override close(): void {
    if (this.timer) this.write(true);
  }

  /** Writes the file now: synchronously on close, else asynchronously (off the event loop's request work). */
  private write(sync = false): void | Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const text = JSON.stringify({ version: 1, sets: [...this.sets.entries()] } satisfies StoredFile);
    const tmp = `${this.path}.tmp`;
    const fail = (err: unknown) => {
      if (!this.warned) console.warn(`llm-proxy: cannot write ${this.path}: ${(err as Error).message}`);
      this.warned = true;
    };
    // Writes run one after the other, so a rename never moves a temp file another write is filling.
    if (!sync) return (this.writing = this.writing.then(() => writeFile(tmp, text)).then(() => rename(tmp, this.path)).catch(fail));
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, this.path);
    } catch (err) {
      fail(err);
    }
  }
}

function isWorkingSet(v: unknown): v is WorkingSet {
  const w = v as WorkingSet;
  return Array.isArray(w?.tools) && Array.isArray(w.lastUsed) && w.tools.length === w.lastUsed.length && Number.isInteger(w.requests) && Number.isInteger(w.changes) && typeof w.tailTokens === "number";
}

/** The file store in `dataDir`, or a memory store for ":memory:". */
export function openWorkingSetStore(dataDir: string): WorkingSetStore {
  return dataDir === ":memory:" ? new MemoryWorkingSetStore() : new FileWorkingSetStore(dataDir);
}
