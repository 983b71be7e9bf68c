import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { type ProblemCode, TokenkeeperError } from '#core';
import type { OutboundSettings } from './config.js';

/** Which rule refused an outbound URL; stable, shown to API callers. */
export type OutboundRule =
  | 'invalid_url'
  | 'https_required'
  | 'metadata'
  | 'link_local'
  | 'reserved'
  | 'private'
  | 'loopback'
  | 'unresolvable';

/** An outbound URL or address the operator's policy does not allow. */
export class OutboundPolicyError extends TokenkeeperError {
  static override readonly code = 'OUTBOUND_URL_REFUSED' satisfies ProblemCode;
  constructor(
    readonly rule: OutboundRule,
    message: string,
  ) {
    super(message);
  }
}

export type AddressClass = 'metadata' | 'link_local' | 'reserved' | 'private' | 'loopback' | 'public';

/** Host names of cloud metadata services, refused before any lookup. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

const blockList = (entries: [string, number, 'ipv4' | 'ipv6'][]) => {
  const list = new BlockList();
  for (const [address, prefix, family] of entries) list.addSubnet(address, prefix, family);
  return list;
};

const METADATA = blockList([
  ['169.254.169.254', 32, 'ipv4'],
  ['100.100.100.200', 32, 'ipv4'], // Alibaba Cloud
  ['fd00:ec2::254', 128, 'ipv6'], // AWS IMDS over IPv6
]);
const LINK_LOCAL = blockList([
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
const RESERVED = blockList([
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved and broadcast
  ['ff00::', 8, 'ipv6'], // multicast
]);
const LOOPBACK = blockList([
  ['127.0.0.0', 8, 'ipv4'],
  ['0.0.0.0', 8, 'ipv4'], // "this host": Linux connects 0.0.0.0 to loopback
  ['::1', 128, 'ipv6'],
  ['::', 128, 'ipv6'],
]);
const PRIVATE = blockList([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
  ['fc00::', 7, 'ipv6'],
]);

/**
 * The IPv4 address an IPv6 address carries, for the forms that reach an IPv4 host:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d).
 */
export function embeddedIPv4(address: string): string | undefined {
  const groups = expandIPv6(address);
  if (!groups) return undefined;
  const zeros = (n: number) => groups.slice(0, n).every((g) => g === 0);
  const mapped = zeros(5) && groups[5] === 0xffff;
  const compatible = zeros(6) && (groups[6] !== 0 || groups[7]! > 1);
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (!mapped && !compatible && !nat64) return undefined;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
}

function expandIPv6(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/^\[|\]$/g, '');
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (isIP(text) !== 6) return undefined;
  // A trailing dotted quad becomes two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - h.length - t.length).fill(0);
  const groups = [...h, ...fill, ...t];
  return groups.length === 8 ? groups : undefined;
}

/** Classifies an IP address (v4 or v6, brackets allowed). */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '');
  const v4 = isIP(bare) === 4 ? bare : embeddedIPv4(bare);
  const [ip, family] = v4 ? [v4, 'ipv4' as const] : [bare.split('%')[0]!, 'ipv6' as const];
  if (METADATA.check(ip, family)) return 'metadata';
  if (LINK_LOCAL.check(ip, family)) return 'link_local';
  if (RESERVED.check(ip, family)) return 'reserved';
  if (LOOPBACK.check(ip, family)) return 'loopback';
  if (PRIVATE.check(ip, family)) return 'private';
  return 'public';
}

export type HostResolver = (hostname: string) => Promise<string[]>;

const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The operator's rules for calls tokenkeeper makes on a user's behalf (token endpoints, webhooks,
 * registrars): a user must not be able to point tokenkeeper at the cloud metadata service or the
 * operator's internal network. Checked when a URL is registered and again on every connection,
 * against the address actually dialled (a name may resolve differently later: DNS rebinding).
 */
export class OutboundPolicy {
  private readonly allowed = new BlockList();
  private readonly httpHosts: Set<string>;

  constructor(
    readonly settings: Pick<
      OutboundSettings,
      'allowHttpHosts' | 'allowPrivate' | 'allowLoopback' | 'allowCidrs'
    >,
    private readonly resolve: HostResolver = systemResolver,
  ) {
    this.httpHosts = new Set(settings.allowHttpHosts.map((h) => h.toLowerCase()));
    for (const cidr of settings.allowCidrs) {
      const [address = '', bits] = cidr.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      this.allowed.addSubnet(
        address,
        bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits),
        family,
      );
    }
  }

  /** Throws OutboundPolicyError unless the address may be connected to. */
  checkAddress(address: string, host = address): void {
    const cls = classifyAddress(address);
    if (cls === 'public') return;
    const where = host === address ? address : `${host} (${address})`;
    if (cls === 'metadata') throw new OutboundPolicyError('metadata', `${where} is a cloud metadata address`);
    if (cls === 'link_local') throw new OutboundPolicyError('link_local', `${where} is a link-local address`);
    if (cls === 'reserved')
      throw new OutboundPolicyError('reserved', `${where} is a multicast or reserved address`);
    if (this.inAllowList(address)) return;
    if (cls === 'loopback' && !this.settings.allowLoopback) {
      throw new OutboundPolicyError(
        'loopback',
        `${where} is a loopback address (allow with TK_OUTBOUND_ALLOW_LOOPBACK or TK_OUTBOUND_ALLOW_CIDRS)`,
      );
    }
    if (cls === 'private' && !this.settings.allowPrivate) {
      throw new OutboundPolicyError(
        'private',
        `${where} is a private address (allow with TK_OUTBOUND_ALLOW_PRIVATE or TK_OUTBOUND_ALLOW_CIDRS)`,
      );
    }
  }

  /** Checks scheme and host name without resolving; returns the parsed URL. */
  checkUrlSyntax(raw: string | URL): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new OutboundPolicyError('invalid_url', 'not a valid URL');
    }
    const host = url.hostname.toLowerCase();
    // Address rules first: a metadata URL is reported as such whatever its scheme.
    if (METADATA_HOSTS.has(host.replace(/\.$/, '')))
      throw new OutboundPolicyError('metadata', `${host} is a cloud metadata host`);
    const literal = host.replace(/^\[|\]$/g, '');
    if (isIP(literal)) this.checkAddress(literal);
    if (url.protocol === 'http:') {
      if (!this.httpHosts.has(host) && !this.httpHosts.has('*')) {
        throw new OutboundPolicyError(
          'https_required',
          `https is required for ${host} (allow http with TK_OUTBOUND_ALLOW_HTTP_HOSTS)`,
        );
      }
    } else if (url.protocol !== 'https:') {
      throw new OutboundPolicyError('https_required', `${url.protocol} URLs are not allowed; use https`);
    }
    return url;
  }

  /** Full check at registration: scheme, host name, and every address the name resolves to now. */
  async checkUrl(raw: string | URL): Promise<URL> {
    const url = this.checkUrlSyntax(raw);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) return url;
    for (const address of await this.addressesOf(host)) this.checkAddress(address, host);
    return url;
  }

  /** Resolves a host name to the addresses it may be connected to; refuses if any is refused. */
  async addressesOf(host: string): Promise<string[]> {
    let addresses: string[];
    try {
      addresses = await this.resolve(host);
    } catch {
      throw new OutboundPolicyError('unresolvable', `${host} does not resolve`);
    }
    if (addresses.length === 0) throw new OutboundPolicyError('unresolvable', `${host} does not resolve`);
    for (const address of addresses) this.checkAddress(address, host);
    return addresses;
  }

  private inAllowList(address: string): boolean {
    const bare = address.replace(/^\[|\]$/g, '').split('%')[0]!;
    const v4 = isIP(bare) === 4 ? bare : embeddedIPv4(bare);
    return v4 ? this.allowed.check(v4, 'ipv4') : this.allowed.check(bare, 'ipv6');
  }
}
