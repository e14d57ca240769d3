/**
 * Throttling of password guesses on the consent page: per client address with
 * exponential backoff, and a global ceiling, so a stranger can neither guess quickly
 * nor lock the owner out for long.
 *
 * @module
 */

import { type Counters, createMemoryCounters } from "./counters.ts";

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

/** The subject of the global window (no client address looks like it). */
const GLOBAL = "*";

/** The verdict of a throttle check. */
export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** The global failure window. */
interface Window {
  start: number;
  count: number;
}

/**
 * Tracks failed owner logins, through `counters`: in memory by default; in the store
 * when other processes share it, so that every process sees the same failures.
 */
export function createLoginThrottle(
  now: () => number = Date.now,
  counters: Counters = createMemoryCounters(now),
) {
  return {
    async check(address: string): Promise<ThrottleVerdict> {
      const t = now();
      const [global, s] = await Promise.all([
        counters.get<Window>("login", GLOBAL),
        counters.get<AddressState>("login", address),
      ]);
      if (global && t - global.start < 60_000 && global.count >= GLOBAL_FAILURES_PER_MINUTE) {
        return { allowed: false, retryAfterSeconds: Math.ceil((global.start + 60_000 - t) / 1000) };
      }
      if (s && s.blockedUntil > t) {
        return { allowed: false, retryAfterSeconds: Math.ceil((s.blockedUntil - t) / 1000) };
      }
      return { allowed: true };
    },
    async fail(address: string): Promise<void> {
      const t = now();
      await counters.update<Window>("login", GLOBAL, (w) => {
        const window = !w || t - w.start >= 60_000 ? { start: t, count: 0 } : w;
        return { value: { ...window, count: window.count + 1 }, expiresAt: window.start + 60_000 };
      });
      await counters.update<AddressState>("login", address, (current) => {
        const s = current ?? { failures: 0, blockedUntil: 0, lastFailure: 0 };
        // An address that behaved for the longest backoff starts over.
        const failures = t - s.lastFailure > MAX_BACKOFF_SECONDS * 1000 ? 1 : s.failures + 1;
        const blockedUntil = failures >= FREE_FAILURES
          ? t + Math.min(MAX_BACKOFF_SECONDS, 2 ** (failures - FREE_FAILURES)) * 1000
          : s.blockedUntil;
        return {
          value: { failures, blockedUntil, lastFailure: t },
          expiresAt: Math.max(blockedUntil, t + MAX_BACKOFF_SECONDS * 1000),
        };
      });
    },
    async succeed(address: string): Promise<void> {
      await counters.delete("login", address);
    },
  };
}

/** The throttle's type. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

/**
 * A fixed-window counter per key (client address): at most `limit` events per
 * `windowMs`, through `counters` (in memory by default, bounded); used for
 * registration floods.
 */
export function createRateLimiter(
  limit: number,
  windowMs: number,
  now: () => number = Date.now,
  counters: Counters = createMemoryCounters(now),
  name = "rate",
) {
  return {
    /** Counts one event; refuses it when the key is over its limit. */
    async take(key: string): Promise<ThrottleVerdict> {
      const t = now();
      let refused: Window | undefined;
      await counters.update<Window>(name, key, (current) => {
        const w = !current || t - current.start >= windowMs ? { start: t, count: 0 } : current;
        refused = w.count >= limit ? w : undefined;
        return refused
          ? undefined
          : { value: { ...w, count: w.count + 1 }, expiresAt: w.start + windowMs };
      });
      if (refused) {
        return {
          allowed: false,
          retryAfterSeconds: Math.ceil((refused.start + windowMs - t) / 1000),
        };
      }
      return { allowed: true };
    },
  };
}

/** The rate limiter's type. */
export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** Registrations one address may make per minute. */
export const REGISTRATIONS_PER_MINUTE = 20;
