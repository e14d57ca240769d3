/**
 * Which network addresses a server-side fetch may reach: global unicast only. The
 * classification is ipaddr.js's (a well-kept table of the IANA special-purpose
 * registries), not a list kept by hand here.
 *
 * @module
 */
import ipaddr from "ipaddr.js";

// RFC 4291 2.5.4 / IANA: global unicast IPv6 is 2000::/3. Everything else (IPv4-mapped
// and -compatible, NAT64, site-local fec0::/10, discard, ...) can lead back inside.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR("2000::/3");

/** An address in the one form a resolver gives (dotted quad, or IPv6), else undefined. */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = text.replace(/^\[|\]$/g, "");
  // Shorthand IPv4 ("127.1", "0x7f.1", "2130706433") is never what a lookup returns.
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (ipaddr.IPv6.isValid(bare)) return ipaddr.IPv6.parse(bare);
  return undefined;
}

/**
 * Whether `address` (an IPv4 or IPv6 literal) is one a server-side fetch must not
 * reach: anything but global unicast. ipaddr.js names every special-purpose range
 * (loopback, private, link-local, CGNAT, multicast, documentation, benchmarking,
 * 6to4, Teredo, NAT64, IPv4-mapped and -translated, ...); only "unicast" passes,
 * and for IPv6 only inside 2000::/3. Unparseable input is refused.
 *
 * @example
 * ```ts
 * import { addressBlocked } from "./ssrf.ts";
 * if (!addressBlocked("2002:7f00:1::1")) throw new Error("6to4 of 127.0.0.1 allowed");
 * if (addressBlocked("8.8.8.8")) throw new Error("a public address refused");
 * ```
 */
export function addressBlocked(address: string): boolean {
  const parsed = parseAddress(address);
  if (!parsed || parsed.range() !== "unicast") return true;
  return parsed.kind() === "ipv6" && !parsed.match(GLOBAL_UNICAST_V6);
}
