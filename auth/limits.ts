/**
 * Throttling of password guesses on the consent page: per client address with
 * exponential backoff, and a global ceiling, so a stranger can neither guess quickly
 * nor lock the owner out for long.
 *
 * @module
 */

/** Failures an address may make before backoff starts. */
export const FREE_FAILURES = 5;
/** Longest wait imposed on one address, in seconds. */
export const MAX_BACKOFF_SECONDS = 15 * 60;
/** Failures allowed from all addresses together per minute before everyone waits. */
export const GLOBAL_FAILURES_PER_MINUTE = 30;

interface AddressState {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

/** The verdict of a throttle check. */
export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Tracks failed owner logins; in memory, bounded. */
export function createLoginThrottle(now: () => number = Date.now) {
  const addresses = new Map<string, AddressState>();
  let windowStart = 0;
  let windowFailures = 0;

  function forget() {
    // Bounded memory: drop addresses whose backoff is long over.
    if (addresses.size < 10_000) return;
    const t = now();
    for (const [addr, s] of addresses) {
      if (t - s.lastFailure > MAX_BACKOFF_SECONDS * 1000) addresses.delete(addr);
    }
    if (addresses.size >= 10_000) addresses.clear();
  }

  return {
    check(address: string): ThrottleVerdict {
      const t = now();
      if (t - windowStart < 60_000 && windowFailures >= GLOBAL_FAILURES_PER_MINUTE) {
        return { allowed: false, retryAfterSeconds: Math.ceil((windowStart + 60_000 - t) / 1000) };
      }
      const s = addresses.get(address);
      if (s && s.blockedUntil > t) {
        return { allowed: false, retryAfterSeconds: Math.ceil((s.blockedUntil - t) / 1000) };
      }
      return { allowed: true };
    },
    fail(address: string): void {
      const t = now();
      if (t - windowStart >= 60_000) {
        windowStart = t;
        windowFailures = 0;
      }
      windowFailures++;
      forget();
      const s = addresses.get(address) ?? { failures: 0, blockedUntil: 0, lastFailure: 0 };
      // An address that behaved for the longest backoff starts over.
      if (t - s.lastFailure > MAX_BACKOFF_SECONDS * 1000) s.failures = 0;
      s.failures++;
      s.lastFailure = t;
      if (s.failures >= FREE_FAILURES) {
        const seconds = Math.min(MAX_BACKOFF_SECONDS, 2 ** (s.failures - FREE_FAILURES));
        s.blockedUntil = t + seconds * 1000;
      }
      addresses.set(address, s);
    },
    succeed(address: string): void {
      addresses.delete(address);
    },
  };
}

/** The throttle's type. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

/**
 * A fixed-window counter per key (client address): at most `limit` events per
 * `windowMs`. In memory and bounded; used for registration floods.
 */
export function createRateLimiter(limit: number, windowMs: number, now: () => number = Date.now) {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    /** Counts one event; refuses it when the key is over its limit. */
    take(key: string): ThrottleVerdict {
      const t = now();
      let w = windows.get(key);
      if (!w || t - w.start >= windowMs) {
        if (windows.size >= 10_000) {
          for (const [k, v] of windows) if (t - v.start >= windowMs) windows.delete(k);
          if (windows.size >= 10_000) windows.clear();
        }
        w = { start: t, count: 0 };
        windows.set(key, w);
      }
      if (w.count >= limit) {
        return { allowed: false, retryAfterSeconds: Math.ceil((w.start + windowMs - t) / 1000) };
      }
      w.count++;
      return { allowed: true };
    },
  };
}

/** The rate limiter's type. */
export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** Registrations one address may make per minute. */
export const REGISTRATIONS_PER_MINUTE = 20;
