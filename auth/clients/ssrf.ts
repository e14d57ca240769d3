/**
 * Which network addresses a server-side fetch may reach: global unicast only. The
 * classification is ipaddr.js's (a well-kept table of the IANA special-purpose
 * registries), not a list kept by hand here. It is loaded when the first server-side
 * fetch is checked, not when the server starts.
 *
 * @module
 */
import type ipaddrModule from "ipaddr.js";

type Ipaddr = typeof ipaddrModule;
let loaded: Promise<Ipaddr> | undefined;
const loadIpaddr = () => loaded ??= import("ipaddr.js").then((m) => m.default);

/** An address in the one form a resolver gives (dotted quad, or IPv6), else undefined. */
function parseAddress(
  ipaddr: Ipaddr,
  text: string,
): ipaddrModule.IPv4 | ipaddrModule.IPv6 | undefined {
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
 * if (!await addressBlocked("2002:7f00:1::1")) throw new Error("6to4 of 127.0.0.1 allowed");
 * if (await addressBlocked("8.8.8.8")) throw new Error("a public address refused");
 * ```
 */
export async function addressBlocked(address: string): Promise<boolean> {
  const ipaddr = await loadIpaddr();
  const parsed = parseAddress(ipaddr, address);
  if (!parsed || parsed.range() !== "unicast") return true;
  // RFC 4291 2.5.4 / IANA: global unicast IPv6 is 2000::/3. Everything else (IPv4-mapped
  // and -compatible, NAT64, site-local fec0::/10, discard, ...) can lead back inside.
  return parsed.kind() === "ipv6" &&
    !(parsed as ipaddrModule.IPv6).match(ipaddr.IPv6.parseCIDR("2000::/3"));
}

/** Whether any of `addresses` is blocked (see {@linkcode addressBlocked}). */
export async function anyBlocked(addresses: readonly string[]): Promise<boolean> {
  for (const address of addresses) if (await addressBlocked(address)) return true;
  return false;
}
