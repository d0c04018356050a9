/**
 * What kind of address an IP literal is, for the upstream policy: public
 * unicast, or one of the ranges a bridge must not reach unless told so.
 *
 * IPv6 forms that carry an IPv4 address — IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) —
 * are classified by the IPv4 address they carry, so `::ffff:127.0.0.1` is
 * loopback and `64:ff9b::a9fe:a9fe` is the cloud metadata address.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type AddressClass =
  /** Routable on the internet. */
  | 'public'
  /** RFC 1918, CGNAT 100.64.0.0/10, IPv6 unique local fc00::/7, NAT64 local-use 64:ff9b:1::/48. */
  | 'private'
  /** 127.0.0.0/8, ::1. */
  | 'loopback'
  /** 169.254.0.0/16, fe80::/10 (the cloud metadata address is `metadata`). */
  | 'link-local'
  /** The instance metadata service of the clouds: 169.254.169.254, fd00:ec2::254. */
  | 'metadata'
  /** 0.0.0.0/8, ::. */
  | 'unspecified'
  /** 224.0.0.0/4, 255.255.255.255, ff00::/8. */
  | 'multicast'
  /** Documentation, benchmarking, protocol-assignment, reserved and discard ranges. */
  | 'reserved';

/** Classes `allowPrivate` opens for an origin; the others are never reached. */
export const privateClasses: ReadonlySet<AddressClass> = new Set([
  'private',
  'loopback',
  'link-local',
]);

interface Range {
  readonly bytes: readonly number[];
  readonly prefix: number;
  readonly kind: AddressClass;
}

function v4(text: string, prefix: number, kind: AddressClass): Range {
  return { bytes: parseIPv4(text) ?? [], prefix, kind };
}

function v6(text: string, prefix: number, kind: AddressClass): Range {
  return { bytes: parseIPv6(text) ?? [], prefix, kind };
}

/** Most specific first: the first match wins. */
const ipv4Ranges: readonly Range[] = [
  v4('169.254.169.254', 32, 'metadata'),
  v4('255.255.255.255', 32, 'multicast'),
  v4('0.0.0.0', 8, 'unspecified'),
  v4('10.0.0.0', 8, 'private'),
  v4('100.64.0.0', 10, 'private'),
  v4('127.0.0.0', 8, 'loopback'),
  v4('169.254.0.0', 16, 'link-local'),
  v4('172.16.0.0', 12, 'private'),
  v4('192.0.0.0', 24, 'reserved'),
  v4('192.0.2.0', 24, 'reserved'),
  v4('192.88.99.0', 24, 'reserved'),
  v4('192.168.0.0', 16, 'private'),
  v4('198.18.0.0', 15, 'reserved'),
  v4('198.51.100.0', 24, 'reserved'),
  v4('203.0.113.0', 24, 'reserved'),
  v4('224.0.0.0', 4, 'multicast'),
  v4('240.0.0.0', 4, 'reserved'),
];

const ipv6Ranges: readonly Range[] = [
  v6('::', 128, 'unspecified'),
  v6('::1', 128, 'loopback'),
  v6('fd00:ec2::254', 128, 'metadata'),
  v6('64:ff9b:1::', 48, 'private'),
  v6('100::', 64, 'reserved'),
  v6('2001::', 23, 'reserved'),
  v6('2001:db8::', 32, 'reserved'),
  v6('3fff::', 20, 'reserved'),
  v6('5f00::', 16, 'reserved'),
  v6('fc00::', 7, 'private'),
  v6('fe80::', 10, 'link-local'),
  v6('fec0::', 10, 'reserved'),
  v6('ff00::', 8, 'multicast'),
];

function matches(bytes: readonly number[], range: Range): boolean {
  let bits = range.prefix;
  for (let index = 0; bits > 0; index += 1, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[index] ?? 0) & mask) !== ((range.bytes[index] ?? 0) & mask)) return false;
  }
  return true;
}

/** The four bytes of a dotted-quad IPv4 address, or undefined. */
export function parseIPv4(text: string): number[] | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').map(Number);
}

/** The sixteen bytes of an IPv6 address (without brackets or zone), or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let groups: number[];
  const halves = text.split('::');
  const parseHalf = (half: string): number[] => {
    if (half === '') return [];
    const out: number[] = [];
    for (const part of half.split(':')) {
      const quad = parseIPv4(part);
      if (quad !== undefined) {
        out.push(((quad[0] ?? 0) << 8) | (quad[1] ?? 0), ((quad[2] ?? 0) << 8) | (quad[3] ?? 0));
      } else {
        out.push(Number.parseInt(part, 16));
      }
    }
    return out;
  };
  if (halves.length === 2) {
    const head = parseHalf(halves[0] ?? '');
    const tail = parseHalf(halves[1] ?? '');
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = parseHalf(text);
  }
  if (groups.length !== 8) return undefined;
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}

function classifyIPv4Bytes(bytes: readonly number[]): AddressClass {
  return ipv4Ranges.find((range) => matches(bytes, range))?.kind ?? 'public';
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
function embeddedIPv4(bytes: readonly number[]): number[] | undefined {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated; :: and ::1 are matched before).
  if (zeros(0, 10) && ((bytes[10] === 0xff && bytes[11] === 0xff) || zeros(10, 12))) {
    return bytes.slice(12, 16);
  }
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) {
    if (zeros(4, 12)) return bytes.slice(12, 16);
  }
  // 2002:AABB:CCDD::/48 (6to4)
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6);
  return undefined;
}

/**
 * The class of an IP literal (IPv4 dotted quad, or IPv6 with or without
 * brackets); undefined when it is not one.
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const quad = parseIPv4(bare);
  if (quad !== undefined) return classifyIPv4Bytes(quad);
  const bytes = parseIPv6(bare);
  if (bytes === undefined) return undefined;
  const specific = ipv6Ranges.find((range) => range.prefix >= 128 && matches(bytes, range));
  if (specific !== undefined) return specific.kind;
  const embedded = embeddedIPv4(bytes);
  if (embedded !== undefined) return classifyIPv4Bytes(embedded);
  return ipv6Ranges.find((range) => matches(bytes, range))?.kind ?? 'public';
}
