/**
 * Per-model calibration of the token estimate: the factor by which the upstream's own count
 * (`usage.prompt_tokens`) exceeds our raw o200k_base estimate of the prompt we sent, as an
 * exponential moving average. Models differ in tokenizer and chat template (Qwen renders each tool
 * with its own instructions, for one), so one factor per upstream model.
 *
 * Kept in `<data_dir>/compression-calibration.json`: read once at start, written a few seconds after
 * a change (asynchronously, never on a request's path) and at shutdown.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The factor of a model not yet calibrated: on Home Assistant conversations the Qwen2 prompt
 * (tokenizer and chat template, counted by llama-server) is 1.03-1.20x our o200k_base estimate, mean
 * 1.10 (docs/compression.md); starting there keeps a new model's first requests from being refused.
 */
export const UNCALIBRATED = 1.1;
/** Weight of a new observation: ~10 requests make up most of the factor, so it follows a model swap within minutes. */
const ALPHA = 0.1;
/** Observations whose ratio is outside this range are not a tokenizer difference but a different thing counted (cached prompts, truncation). */
const MIN_RATIO = 0.3;
const MAX_RATIO = 4;
/** Wait after a change before writing the file, so a busy proxy writes it at most every few seconds. */
const WRITE_DELAY_MS = 5_000;

export interface CalibrationEntry {
  /** upstream tokens / estimated tokens */
  factor: number;
  samples: number;
  /** ms since epoch of the last sample */
  updated: number;
}

export class Calibration {
  readonly path: string;
  private entries: Record<string, CalibrationEntry> = {};
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** Reads the stored factors; a missing or unreadable file starts empty. */
  constructor(dataDir: string) {
    this.path = join(dataDir, "compression-calibration.json");
    try {
      const stored = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, CalibrationEntry>;
      for (const [key, e] of Object.entries(stored)) {
        if (e && Number.isFinite(e.factor) && e.factor > 0) this.entries[key] = { factor: e.factor, samples: e.samples | 0, updated: e.updated | 0 };
      }
    } catch {
      // first start, or a damaged file: estimates start uncalibrated
    }
  }

  /** The factor for `key` (upstream/model); UNCALIBRATED until the upstream has reported a count. */
  factor(key: string): number {
    return this.entries[key]?.factor ?? UNCALIBRATED;
  }

  /**
   * Learns from one exchange: `estimated` raw tokens were sent, the upstream counted `actual`.
   * @returns whether the observation was used
   */
  observe(key: string, estimated: number, actual: number): boolean {
    if (!(estimated > 0) || !(actual > 0)) return false;
    const ratio = actual / estimated;
    if (ratio < MIN_RATIO || ratio > MAX_RATIO) return false;
    const e = this.entries[key];
    this.entries[key] = e
      ? { factor: e.factor + ALPHA * (ratio - e.factor), samples: e.samples + 1, updated: Date.now() }
      : { factor: ratio, samples: 1, updated: Date.now() };
    this.scheduleWrite();
    return true;
  }

  /** For /admin. */
  snapshot(): Record<string, CalibrationEntry> {
    return Object.fromEntries(Object.entries(this.entries).map(([k, e]) => [k, { ...e, factor: Math.round(e.factor * 10_000) / 10_000 }]));
  }

  /** Writes now (shutdown). Never throws. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(this.path, JSON.stringify(this.entries, null, 1));
    } catch {
      // a read-only data directory: calibration is relearned after a restart
    }
  }

  private scheduleWrite(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Bun.write creates the directory; a failure (read-only data directory) only costs the persistence.
      Bun.write(this.path, JSON.stringify(this.entries, null, 1)).catch(() => undefined);
    }, WRITE_DELAY_MS);
    this.timer.unref?.();
  }
}
