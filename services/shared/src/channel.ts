/**
 * Channel names and patterns. A channel is 1-255 characters of dot-separated
 * segments, each of [A-Za-z0-9_-]: `orders`, `orders.eu.1234`. A pattern is a
 * channel whose last segment is `*` and that has at least one segment before
 * it: `orders.*` matches `orders.eu` and `orders.eu.1234`; it stays within its
 * namespace (`*` alone is not allowed).
 * Browser-safe.
 */
import { FanoutError } from './fanout-error.js';

export const maxChannelLength = 255;
const segment = '[A-Za-z0-9_-]+';
const channelPattern = new RegExp(`^${segment}(\\.${segment})*$`);
const wildcardPattern = new RegExp(`^${segment}(\\.${segment})*\\.\\*$`);

export function isValidChannel(channel: string): boolean {
  return channel.length <= maxChannelLength && channelPattern.test(channel);
}

export function isChannelPattern(value: string): boolean {
  return value.length <= maxChannelLength && wildcardPattern.test(value);
}

/** Throws FanoutError('channel_invalid') naming the field when the channel is invalid. */
export function assertValidChannel(channel: string, field = 'channel'): void {
  if (isValidChannel(channel)) return;
  const shown = channel.length > 80 ? `${channel.slice(0, 80)}…` : channel;
  const why =
    channel.length === 0
      ? 'it is empty'
      : channel.length > maxChannelLength
        ? `it is ${channel.length} characters long (at most ${maxChannelLength})`
        : 'use dot-separated segments of [A-Za-z0-9_-], e.g. "orders.eu.1234"';
  throw new FanoutError('channel_invalid', `${field} "${shown}" is not a valid channel: ${why}`, {
    details: { field },
  });
}

/** True when `channel` is the pattern's namespace or below it. */
export function patternMatches(pattern: string, channel: string): boolean {
  if (!pattern.endsWith('.*')) return pattern === channel;
  const prefix = pattern.slice(0, -1); // keeps the trailing dot
  return channel.startsWith(prefix) && channel.length > prefix.length;
}

/**
 * True when a channel, or a pattern's prefix, lies in one of the namespaces:
 * `orders` allows `orders` and every `orders.…` channel; `*` allows all.
 */
export function namespacesAllow(namespaces: readonly string[], channel: string): boolean {
  const name = channel.endsWith('.*') ? channel.slice(0, -2) : channel;
  return namespaces.some(
    (namespace) => namespace === '*' || name === namespace || name.startsWith(`${namespace}.`),
  );
}
