/**
 * Which URIs may receive authorization codes, and how a requested redirect URI is
 * matched against the registered ones. Pure functions, table-tested.
 *
 * @module
 */
import { isLoopbackHost } from "../../core/config.ts";

// Schemes that run code or read local data in a browser: never a redirect target.
const FORBIDDEN_SCHEMES = new Set([
  "javascript:",
  "data:",
  "file:",
  "blob:",
  "vbscript:",
  "about:",
  "filesystem:",
]);

function parse(uri: string): URL | undefined {
  // WHATWG parsing folds backslashes and odd whitespace; refuse them outright so that
  // what we check is byte-for-byte what the client registered.
  // deno-lint-ignore no-control-regex -- control characters are exactly what is refused
  if (/[\\\s\x00-\x1f\x7f]/.test(uri)) return undefined;
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

/** Whether `origin` (e.g. `http://localhost:6274`) is named by an allowlist entry. */
export function originAllowed(
  origin: string,
  entries: readonly string[],
  ownOrigin: string,
): boolean {
  if (origin === ownOrigin) return true;
  const url = parse(origin);
  if (!url || url.origin !== origin) return false;
  for (const entry of entries) {
    if (entry === "loopback") {
      if ((url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.hostname)) {
        return true;
      }
    } else if (entry === origin) return true;
  }
  return false;
}

/**
 * Whether a redirect URI may be registered: it parses, has no fragment or userinfo
 * (RFC 6749 3.1.2, RFC 9700 4.1), uses no script scheme, and is named by an entry of
 * the allowlist. Plain http is allowed only to loopback.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2 | RFC 6749 3.1.2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc9700#section-4.1 | RFC 9700 4.1}
 * @see {@link https://www.rfc-editor.org/rfc/rfc8252#section-7.3 | RFC 8252 7.3}
 */
export function redirectAllowed(uri: string, allowlist: readonly string[]): boolean {
  const url = parse(uri);
  if (!url || url.hash || uri.includes("#") || url.username || url.password || uri.includes("@")) {
    return false;
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return false;
  for (const entry of allowlist) {
    if (entry === "loopback") {
      if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return true;
    } else if (entry.endsWith(":") && !entry.includes("/")) {
      if (url.protocol === entry && url.protocol !== "http:" && url.protocol !== "https:") {
        return true;
      }
    } else if (url.protocol === "https:" && url.origin === entry) return true;
  }
  return false;
}

/**
 * Finds the registered URI a requested one matches: exact string equality, except
 * that loopback http URIs match on any port (RFC 8252 7.3; VS Code and CLI clients
 * pick a free port at run time). Returns undefined when none matches.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8252#section-7.3 | RFC 8252 7.3}
 */
export function matchRedirect(
  requested: string,
  registered: readonly string[],
): string | undefined {
  if (registered.includes(requested)) return requested;
  const req = parse(requested);
  if (!req || req.protocol !== "http:" || !isLoopbackHost(req.hostname)) return undefined;
  for (const candidate of registered) {
    const reg = parse(candidate);
    if (
      reg && reg.protocol === "http:" && reg.hostname === req.hostname &&
      reg.pathname === req.pathname && reg.search === req.search && !req.hash && !req.username
    ) {
      return candidate;
    }
  }
  return undefined;
}
