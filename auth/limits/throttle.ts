/**
 * Throttling of password guesses on the consent page, so that a stranger can neither
 * guess quickly nor lock the owner out:
 * - the attempts of one address (or device) take turns, and each is counted (reserved)
 *   before its password is verified, so concurrent guesses cannot all slip past the
 *   check; at most two verifications run at once;
 * - per client address (IPv6 per /64) with exponential backoff, plus a global ceiling;
 * - a browser that approved before presents a signed device cookie and is counted on
 *   its own, outside the per-address and global blocks (OWASP "device cookies").
 *
 * @module
 */

import { type Counters, createMemoryCounters } from "./counters.ts";

/** Failures an address (or a device) may make before backoff starts. */
export const FREE_FAILURES = 5;
/** Longest wait imposed on one address, in seconds. */
export const MAX_BACKOFF_SECONDS = 15 * 60;
/** Failures allowed from all addresses together per minute before everyone waits. */
export const GLOBAL_FAILURES_PER_MINUTE = 30;
/** Password verifications (PBKDF2) allowed to run at the same time. */
export const CONCURRENT_VERIFICATIONS = 2;
/** The subject of the global window (no client address looks like it). */
const GLOBAL = "*";

interface KeyState {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

/** The verdict of a throttle check. */
export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * A reserved attempt: counted as a failure unless it finishes with success. The next
 * attempt of the same address (or device) waits until this one has finished.
 */
export type Attempt =
  | { allowed: true; finish(succeeded: boolean): Promise<void> }
  | { allowed: false; retryAfterSeconds: number };

function expandIpv6(address: string): number[] | undefined {
  const [head, tail, extra] = address.split("::");
  if (extra !== undefined) return undefined;
  const parse = (part: string | undefined): number[] | undefined => {
    if (!part) return [];
    const groups = part.split(":");
    const out: number[] = [];
    for (const [i, g] of groups.entries()) {
      if (i === groups.length - 1 && g.includes(".")) {
        // An embedded IPv4 address is the last 32 bits.
        const v4 = g.split(".").map(Number);
        if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
          return undefined;
        }
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-f]{1,4}$/i.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  const left = parse(head);
  const right = parse(tail);
  if (!left || !right) return undefined;
  if (tail === undefined) return left.length === 8 ? left : undefined;
  const missing = 8 - left.length - right.length;
  if (missing < 1) return undefined;
  return [...left, ...new Array<number>(missing).fill(0), ...right];
}

/**
 * The bucket an address is counted in: an IPv4 address as itself; an IPv6 address by
 * its /64, because one subscriber is usually handed a whole /64 and could otherwise
 * change address on every guess (RFC 6177; OWASP Credential Stuffing Prevention).
 * IPv4-mapped IPv6 addresses count as their IPv4 address.
 *
 * @example
 * ```ts
 * import { addressBucket } from "./throttle.ts";
 * if (addressBucket("2001:db8:1:2::a") !== addressBucket("2001:db8:1:2:ffff::1")) throw new Error("one /64");
 * if (addressBucket("::ffff:192.0.2.1") !== "192.0.2.1") throw new Error("mapped IPv4");
 * ```
 */
export function addressBucket(address: string): string {
  if (!address.includes(":")) return address;
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const groups = expandIpv6(bare);
  if (!groups) return address;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".");
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** A fixed window: when it began and how many it counted. */
interface Window {
  start: number;
  count: number;
}

/**
 * Failure counters per key with exponential backoff, kept in `counters` under `name`:
 * in memory, or in the store that several processes share.
 */
function createBackoff(counters: Counters, name: string) {
  return {
    /**
     * In one atomic step: refuses (with how long to wait, ms) when the key is blocked,
     * else counts one failure, so that concurrent attempts, in this process or another,
     * cannot all pass the check before any is counted.
     */
    async reserve(key: string, t: number): Promise<number> {
      let blocked = 0;
      await counters.update<KeyState>(name, key, (current) => {
        blocked = current && current.blockedUntil > t ? current.blockedUntil - t : 0;
        if (blocked) return undefined;
        const s = current ?? { failures: 0, blockedUntil: 0, lastFailure: 0 };
        // A key that behaved for the longest backoff starts over.
        const failures = t - s.lastFailure > MAX_BACKOFF_SECONDS * 1000 ? 1 : s.failures + 1;
        const blockedUntil = failures >= FREE_FAILURES
          ? Math.max(
            s.blockedUntil,
            t + Math.min(MAX_BACKOFF_SECONDS, 2 ** (failures - FREE_FAILURES)) * 1000,
          )
          : s.blockedUntil;
        return {
          value: { failures, blockedUntil, lastFailure: t },
          expiresAt: Math.max(blockedUntil, t + MAX_BACKOFF_SECONDS * 1000),
        };
      });
      return blocked;
    },
    async clear(key: string): Promise<void> {
      await counters.delete(name, key);
    },
  };
}

/**
 * Tracks owner logins through `counters`: in memory by default; in the store when other
 * processes share it, so that N processes allow what one allows.
 *
 * @example Five wrong guesses, then a wait; another address is not affected
 * ```ts
 * import { createLoginThrottle } from "./throttle.ts";
 * const throttle = createLoginThrottle();
 * for (let i = 0; i < 5; i++) {
 *   const attempt = await throttle.reserve({ address: "192.0.2.1" });
 *   if (!attempt.allowed) throw new Error("too early");
 *   await attempt.finish(false);
 * }
 * if ((await throttle.reserve({ address: "192.0.2.1" })).allowed) throw new Error("not throttled");
 * if (!(await throttle.reserve({ address: "192.0.2.2" })).allowed) throw new Error("blocked");
 * ```
 */
export function createLoginThrottle(
  now: () => number = Date.now,
  counters: Counters = createMemoryCounters(now),
) {
  const addresses = createBackoff(counters, "login");
  const devices = createBackoff(counters, "device");
  /** The tail of each key's line of attempts; a key without one is not in the map. */
  const lines = new Map<string, Promise<void>>();

  /** Waits for the key's earlier attempts to finish; returns the release of this one. */
  async function turn(key: string): Promise<() => void> {
    const before = lines.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before ? before.then(() => mine) : mine;
    lines.set(key, tail);
    await before;
    return () => {
      release();
      if (lines.get(key) === tail) lines.delete(key);
    };
  }

  function wait(ms: number, release: () => void): Attempt {
    release();
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
  }

  return {
    /**
     * Waits for the turn of `who`, then counts one attempt before the password is
     * checked, or refuses it. `device` is the id from a valid device cookie: such an
     * attempt is counted on that device alone, outside the address and global limits.
     */
    async reserve(who: { address: string; device?: string }): Promise<Attempt> {
      if (who.device !== undefined) {
        const device = who.device;
        const release = await turn(`device ${device}`);
        const blocked = await devices.reserve(device, now());
        if (blocked) return wait(blocked, release);
        return {
          allowed: true,
          async finish(succeeded) {
            try {
              if (succeeded) await devices.clear(device);
            } finally {
              release();
            }
          },
        };
      }
      const key = addressBucket(who.address);
      const release = await turn(key);
      const t = now();
      const global = await counters.get<Window>("login", GLOBAL);
      if (global && t - global.start < 60_000 && global.count >= GLOBAL_FAILURES_PER_MINUTE) {
        return wait(global.start + 60_000 - t, release);
      }
      const blocked = await addresses.reserve(key, t);
      if (blocked) return wait(blocked, release);
      // The global ceiling counts the attempt too (approximately across processes: a
      // ceiling, not a lock).
      const counted = await counters.update<Window>("login", GLOBAL, (w) => {
        const window = !w || t - w.start >= 60_000 ? { start: t, count: 0 } : w;
        return { value: { ...window, count: window.count + 1 }, expiresAt: window.start + 60_000 };
      });
      return {
        allowed: true,
        async finish(succeeded) {
          try {
            if (!succeeded) return;
            await addresses.clear(key);
            // A right password is no failure: it leaves the global window it was counted in.
            await counters.update<Window>(
              "login",
              GLOBAL,
              (w) =>
                w && counted && w.start === counted.start && w.count > 0
                  ? { value: { ...w, count: w.count - 1 }, expiresAt: w.start + 60_000 }
                  : undefined,
            );
          } finally {
            release();
          }
        },
      };
    },
  };
}

/** The throttle's type. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

/**
 * Runs at most `limit` tasks at once; the others wait in line, and `priority` tasks go
 * to the front of it. Keeps slow password hashing from eating every core.
 *
 * @example At most two at a time
 * ```ts
 * import { createConcurrencyLimit } from "./throttle.ts";
 * const limit = createConcurrencyLimit(2);
 * let running = 0, most = 0;
 * const task = () => limit.run(async () => {
 *   most = Math.max(most, ++running);
 *   await new Promise((r) => setTimeout(r, 5));
 *   running--;
 * });
 * await Promise.all([task(), task(), task(), task()]);
 * if (most !== 2) throw new Error(`ran ${most} at once`);
 * ```
 */
export function createConcurrencyLimit(limit: number) {
  let running = 0;
  const waiting: { priority: boolean; start: () => void }[] = [];
  function next() {
    if (running >= limit) return;
    const task = waiting.shift();
    if (!task) return;
    running++;
    task.start();
  }
  return {
    run<T>(task: () => Promise<T>, priority = false): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          task().then(resolve, reject).finally(() => {
            running--;
            next();
          });
        };
        if (priority) {
          const firstOrdinary = waiting.findIndex((w) => !w.priority);
          waiting.splice(firstOrdinary === -1 ? waiting.length : firstOrdinary, 0, {
            priority,
            start,
          });
        } else waiting.push({ priority, start });
        next();
      });
    },
  };
}

/** The concurrency limit's type. */
export type ConcurrencyLimit = ReturnType<typeof createConcurrencyLimit>;

/**
 * A fixed-window counter per client address (IPv6 per /64): at most `limit` events per
 * `windowMs`, through `counters` (in memory by default, bounded; in the store when
 * several processes share it); used for registration floods.
 */
export function createRateLimiter(
  limit: number,
  windowMs: number,
  now: () => number = Date.now,
  counters: Counters = createMemoryCounters(now),
  name = "rate",
) {
  return {
    /** Counts one event; refuses it when the address is over its limit. */
    async take(address: string): Promise<ThrottleVerdict> {
      const t = now();
      let refused: Window | undefined;
      await counters.update<Window>(name, addressBucket(address), (current) => {
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
