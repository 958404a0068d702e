/**
 * Per-model calibration of the token estimate against the upstream's own count of the prompt
 * (`usage.prompt_tokens`). Models differ in tokenizer and chat template, and not uniformly: Qwen's
 * template renders each tool definition with spaces and framing, so tools cost it ~26% more than our
 * o200k_base count while messages cost ~2% more. One factor per model leaves ±6% of spread; two
 * weights, one for the messages and one for the tools, fit the Qwen2 prompt within ±1%
 * (docs/compression.md). So upstream tokens ≈ messages weight x messages estimate + tools weight x
 * tools estimate, learned by recursive least squares: a Bayesian linear regression whose prior is
 * UNCALIBRATED for both weights, updated with every answered request, slowly forgetting (a model
 * swapped behind the same name is followed within some dozens of requests). When the tool list never
 * changes, the split between the two stays near the prior while their sum fits.
 *
 * Kept in `<data_dir>/compression-calibration.json`: read once at start, written a few seconds after
 * a change (asynchronously, never on a request's path) and at shutdown.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The weight of a model not yet calibrated: on Home Assistant conversations the Qwen2 prompt
 * (tokenizer and chat template, counted by llama-server) is 1.03-1.20x our o200k_base estimate, mean
 * 1.10 (docs/compression.md); starting there keeps a new model's first requests from being refused.
 */
export const UNCALIBRATED = 1.1;
/** Prior variance of each weight (sd 0.3): one observation moves the weights most of the way. */
const PRIOR_VARIANCE = 0.09;
/** Noise of one observation, relative to its count (2%): the share of a count the weights need not explain. */
const NOISE = 0.02;
/** Forgetting per observation: the last ~200 requests make up the fit. */
const FORGET = 0.995;
/** Weights are kept in this range: beyond it the fit is explaining something other than a tokenizer. */
const MIN_WEIGHT = 0.3;
const MAX_WEIGHT = 4;
/** Observations whose ratio to the raw estimate is outside this range are not a tokenizer difference but a different thing counted (cached prompts, truncation). */
const MIN_RATIO = 0.3;
const MAX_RATIO = 4;
/** Wait after a change before writing the file, so a busy proxy writes it at most every few seconds. */
const WRITE_DELAY_MS = 5_000;

/** Upstream tokens per estimated token, for the two parts of a prompt. */
export interface Weights {
  messages: number;
  tools: number;
}

export interface CalibrationEntry extends Weights {
  /** Covariance of (messages, tools) weights, row-major 2x2. */
  p: [number, number, number, number];
  samples: number;
  /** ms since epoch of the last sample */
  updated: number;
}

const clamp = (w: number) => Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, w));

export class Calibration {
  readonly path: string;
  private entries: Record<string, CalibrationEntry> = {};
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** Reads the stored weights; a missing or unreadable file starts empty. */
  constructor(dataDir: string) {
    this.path = join(dataDir, "compression-calibration.json");
    try {
      const stored = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, CalibrationEntry>;
      for (const [key, e] of Object.entries(stored)) {
        const valid = e && [e.messages, e.tools, ...(Array.isArray(e.p) ? e.p : [NaN])].every(Number.isFinite) && e.p.length === 4;
        if (valid) this.entries[key] = { messages: clamp(e.messages), tools: clamp(e.tools), p: e.p, samples: e.samples | 0, updated: e.updated | 0 };
      }
    } catch {
      // first start, or a damaged file: estimates start uncalibrated
    }
  }

  /** The weights for `key` (upstream/model); UNCALIBRATED until the upstream has reported a count. */
  weights(key: string): Weights {
    const e = this.entries[key];
    return e ? { messages: e.messages, tools: e.tools } : { messages: UNCALIBRATED, tools: UNCALIBRATED };
  }

  /**
   * Learns from one exchange: we estimated `messages` + `tools` raw tokens for what was sent, the
   * upstream counted `actual`.
   * @returns whether the observation was used
   */
  observe(key: string, messages: number, tools: number, actual: number): boolean {
    const raw = messages + tools;
    if (!(raw > 0) || !(actual > 0) || messages < 0 || tools < 0) return false;
    const ratio = actual / raw;
    if (ratio < MIN_RATIO || ratio > MAX_RATIO) return false;
    const e = this.entries[key] ?? { messages: UNCALIBRATED, tools: UNCALIBRATED, p: [PRIOR_VARIANCE, 0, 0, PRIOR_VARIANCE], samples: 0, updated: 0 };
    const [p11, p12, p21, p22] = e.p;
    // Recursive least squares with a forgetting factor (Haykin, Adaptive Filter Theory, ch. 10).
    const pf1 = p11 * messages + p12 * tools;
    const pf2 = p21 * messages + p22 * tools;
    const noise = (NOISE * actual) ** 2;
    const denominator = noise + messages * pf1 + tools * pf2;
    const k1 = pf1 / denominator;
    const k2 = pf2 / denominator;
    const error = actual - (e.messages * messages + e.tools * tools);
    // P := (P - k (Pf)^T) / forget, its variances no larger than the prior's (a part that never
    // varies must not wind up), the covariance bounded so that P stays positive semi-definite.
    const n11 = Math.max(0, Math.min(PRIOR_VARIANCE, (p11 - k1 * pf1) / FORGET));
    const n22 = Math.max(0, Math.min(PRIOR_VARIANCE, (p22 - k2 * pf2) / FORGET));
    const bound = Math.sqrt(n11 * n22);
    const n12 = Math.max(-bound, Math.min(bound, (p12 - k1 * pf2 + (p21 - k2 * pf1)) / 2 / FORGET));
    this.entries[key] = {
      messages: clamp(e.messages + k1 * error),
      tools: clamp(e.tools + k2 * error),
      p: [n11, n12, n12, n22],
      samples: e.samples + 1,
      updated: Date.now(),
    };
    this.scheduleWrite();
    return true;
  }

  /** For /admin: weights and sample counts per model. */
  snapshot(): Record<string, { messages: number; tools: number; samples: number; updated: number }> {
    const r = (x: number) => Math.round(x * 10_000) / 10_000;
    return Object.fromEntries(Object.entries(this.entries).map(([k, e]) => [k, { messages: r(e.messages), tools: r(e.tools), samples: e.samples, updated: e.updated }]));
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
