/**
 * Per-server call counters and the durations of recent calls, for `GET /admin/mcp`.
 */

/** Recent calls kept for percentiles: enough for a steady p95, 8 KB per server. */
const WINDOW = 1000;

export interface CallStatsSnapshot {
  calls: number;
  errors: number;
  /** Over the last 1000 calls, ms; null before the first call. */
  p50_ms: number | null;
  p95_ms: number | null;
}

/** Counters and a ring of the last WINDOW call durations (ms) of one server; percentiles by nearest rank. */
export class CallStats {
  calls = 0;
  errors = 0;
  private readonly durations = new Float64Array(WINDOW);

  /** Records one finished call: its wall time in ms and whether it failed. */
  record(ms: number, failed: boolean): void {
    this.durations[this.calls % WINDOW] = ms;
    this.calls++;
    if (failed) this.errors++;
  }

  snapshot(): CallStatsSnapshot {
    const n = Math.min(this.calls, WINDOW);
    if (n === 0) return { calls: 0, errors: 0, p50_ms: null, p95_ms: null };
    const sorted = this.durations.slice(0, n).sort();
    // Nearest-rank percentile.
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]! * 10) / 10;
    return { calls: this.calls, errors: this.errors, p50_ms: at(0.5), p95_ms: at(0.95) };
  }
}
