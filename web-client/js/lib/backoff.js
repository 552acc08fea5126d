// Reconnect delays: exponential backoff with jitter (docs/PROTOCOL.md 5.7).

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
/** A connection that stayed up this long resets the backoff. */
export const BACKOFF_RESET_AFTER_MS = 60_000;

/**
 * The delay before reconnect attempt `attempt` (0 for the first): the ceiling doubles from the
 * base up to the maximum, and the delay is drawn in [ceiling/2, ceiling) so that a crowd of
 * clients dropped by one restart does not come back in lockstep.
 */
export function backoffDelay(attempt, random = Math.random, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS) {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
