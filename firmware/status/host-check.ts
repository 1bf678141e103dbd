// DNS rebinding: a web page elsewhere can point a name of its own at this node's LAN address and
// then read the status page as "its" origin. The browser still sends that foreign name in the Host
// header, so the page answers only to its own names: localhost, its host name and <hostname>.local
// (mDNS, as avahi announces it: btn-<id>.local on the image), the addresses of its interfaces, the
// address it listens on, and names it was given. Also <hostname>-<n>.local: avahi's name after a
// conflict with another device on the LAN; .local names resolve only by multicast on the LAN, so
// no outside page can point one at this node.
import { hostname, networkInterfaces } from 'node:os';

/** The names are looked up again after this long (DHCP may change an address). */
const REFRESH_MS = 30_000;
const MAX_HOST_CHARS = 260;

/** The name in a Host header, lowercase, without port, brackets or a trailing dot; null when malformed. */
export function hostOf(header: string | undefined): string | null {
  if (header === undefined || header.length === 0 || header.length > MAX_HOST_CHARS) return null;
  const h = header.trim().toLowerCase();
  let name: string;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return null;
    name = h.slice(1, end);
    if (end + 1 < h.length && !/^:\d{1,5}$/.test(h.slice(end + 1))) return null;
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0 && (h.indexOf(':', colon + 1) >= 0 || !/^\d{1,5}$/.test(h.slice(colon + 1)))) return null;
    name = colon >= 0 ? h.slice(0, colon) : h;
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return /^[a-z0-9.:_%-]+$/.test(name) ? name : null;
}

export interface HostCheck {
  /** True when `header` names this machine. */
  allows(header: string | undefined): boolean;
  /** Its names now (for the refusal's text and tests). */
  names(): ReadonlySet<string>;
}

export function hostCheck(options: {
  readonly listenHost: string; readonly extra?: readonly string[]; readonly now?: () => number; readonly hostname?: () => string;
}): HostCheck {
  const now = options.now ?? (() => performance.now());
  const hostnameOf = options.hostname ?? hostname;
  let renamed: RegExp | null = null;
  let names: Set<string> | null = null;
  let at = 0;
  const compute = (): Set<string> => {
    const own = new Set<string>(['localhost', '127.0.0.1', '::1']);
    const add = (n: string): void => { const h = hostOf(n.includes(':') && !n.startsWith('[') ? `[${n}]` : n); if (h !== null) own.add(h); };
    if (options.listenHost !== '0.0.0.0' && options.listenHost !== '::') add(options.listenHost);
    const host = hostnameOf().toLowerCase();
    const short = host.split('.')[0]!;
    if (host !== '') { add(host); add(`${short}.local`); }
    renamed = /^[a-z0-9-]{1,63}$/.test(short) ? new RegExp(`^${short}-[1-9][0-9]{0,2}\\.local$`) : null;
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) add(a.address.split('%')[0]!);
    for (const n of options.extra ?? []) add(n);
    return own;
  };
  const current = (): Set<string> => {
    if (names === null || now() - at > REFRESH_MS) { names = compute(); at = now(); }
    return names;
  };
  return {
    allows(header) {
      const name = hostOf(header);
      if (name === null) return false;
      const own = current();
      return own.has(name) || (renamed?.test(name) ?? false);
    },
    names: () => current(),
  };
}
