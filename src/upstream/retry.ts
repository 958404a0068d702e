/**
 * Retry policy for upstream calls: which outcomes are retried, and how long to wait.
 * Backoff is exponential with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter");
 * `Retry-After` follows RFC 9110 §10.2.3 (delay-seconds or an HTTP-date).
 */

/**
 * Parses a Retry-After header value into ms from `now`.
 * @returns undefined when absent or malformed; 0 for a date in the past
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Full-jitter delay in ms before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

export interface RetryTiming {
  /** Statuses worth another attempt (the upstream's `retry_on`). */
  retry_on: readonly number[];
  retry_base_delay_ms: number;
  retry_max_delay_ms: number;
  rate_limit_wait_ms: number;
  max_retry_after_ms: number;
}

/**
 * How long to wait before retrying `response` (or a connection error when `response` is undefined).
 * @returns ms to wait, or undefined when this outcome must not be retried
 */
export function retryDelay(response: Response | undefined, attempt: number, timing: RetryTiming): number | undefined {
  if (response && !timing.retry_on.includes(response.status)) return undefined;
  const retryAfter = response ? parseRetryAfter(response.headers.get("retry-after")) : undefined;
  if (retryAfter !== undefined) return retryAfter <= timing.max_retry_after_ms ? retryAfter : undefined;
  if (response?.status === 429) return timing.rate_limit_wait_ms;
  return backoffDelay(attempt, timing.retry_base_delay_ms, timing.retry_max_delay_ms);
}
