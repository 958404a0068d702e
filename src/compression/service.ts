/**
 * The long-lived part of compression (it outlives config reloads, hung on the Runtime): the token
 * estimator with its count cache, the per-model calibration, and the count of stage failures (each
 * one passed the request on unchanged).
 */
import type { CompressionConfig } from "../config/schema.ts";
import { encoding } from "../selection/tokens.ts";
import { Calibration } from "./calibration.ts";
import { TokenEstimator } from "./estimate.ts";

export class CompressionService {
  readonly estimator = new TokenEstimator();
  readonly calibration: Calibration;
  /** Requests the stage failed on (passed on unchanged). */
  failures = 0;

  /** @param dataDir where the calibration file lives */
  constructor(dataDir: string) {
    this.calibration = new Calibration(dataDir);
  }

  /**
   * Applies a (re)loaded `compression` section: when mode random is on anywhere (globally or for a
   * model), the o200k encoder it needs (random-drop.ts) starts loading now, at start or reload, so
   * that no request waits ~0.4 s for its table. Mode fit never loads it (estimate.ts). A failed load
   * is retried by the first random request, which then fails open.
   */
  configure(config: CompressionConfig): void {
    const random = config.mode === "random" || Object.values(config.models).some((m) => m.mode === "random");
    if (random) encoding().catch(() => undefined);
  }

  /** For GET /admin/compression. */
  snapshot() {
    return { failures: this.failures, calibration: this.calibration.snapshot(), estimator: this.estimator.stats() };
  }

  /** Writes the calibration file. */
  close(): void {
    this.calibration.close();
  }
}
