/**
 * The long-lived part of compression (it outlives config reloads, hung on the Runtime): the token
 * estimator with its count cache, the per-model calibration, and the count of stage failures (each
 * one passed the request on unchanged).
 */
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

  /** For GET /admin/compression. */
  snapshot() {
    return { failures: this.failures, calibration: this.calibration.snapshot(), estimator: this.estimator.stats() };
  }

  /** Writes the calibration file. */
  close(): void {
    this.calibration.close();
  }
}
