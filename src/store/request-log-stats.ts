/**
 * The shapes of the dashboard's overview statistics (GET /admin/stats), shared by the request-log
 * reader that computes them and the page (src/ui/web) that draws them. Types only: the page's
 * bundle imports nothing from here at run time.
 */

export type StatsWindow = "hour" | "day" | "week";

/** Request figures over a set of rows: ms and tokens, latency percentiles over the rows. */
export interface RequestFigures {
  requests: number;
  errors: number;
  latency_p50: number | null;
  latency_p95: number | null;
  ttfb_p50: number | null;
  ttfb_p95: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  /** tool_tokens_before - tool_tokens_after, summed. */
  tool_tokens_saved: number;
  /** Estimated prompt tokens removed by compression, when the log has its columns. */
  compression_tokens_saved: number;
}

/** One bucket of the overview's time series (`t`: the bucket's start, ms since epoch). */
export interface StatsBucket extends RequestFigures {
  t: number;
}

/** One model's figures over the whole window. */
export interface ModelStats extends RequestFigures {
  model: string;
}

export interface Stats {
  window: StatsWindow;
  from: number;
  to: number;
  bucket_ms: number;
  buckets: StatsBucket[];
  models: ModelStats[];
}
