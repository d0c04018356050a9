/**
 * Who is publishing, and where they may publish.
 *
 * Producers present an API key (`x-api-key`) or a bearer JWT
 * (`authorization: Bearer …`) in gRPC metadata or HTTP headers. An identity
 * has a name (stored with every event it publishes) and the channel
 * namespaces it may publish to: `orders` allows `orders` and every
 * `orders.…` channel; `*` allows all.
 *
 * With `required: false` and no credentials, the producer is `anonymous`
 * and may publish anywhere (local development). Credentials that are
 * presented are always checked.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { FanoutError, type JwtVerifier } from '@fanout/shared';

export interface ProducerIdentity {
  readonly name: string;
  readonly namespaces: readonly string[];
}

export interface ProducerCredentials {
  readonly authorization?: string | undefined;
  readonly apiKey?: string | undefined;
}

export interface ApiKeyEntry {
  readonly name: string;
  /** Hex SHA-256 of the key (preferred: the key itself is not stored). */
  readonly sha256?: string;
  /** The key itself, for development setups. */
  readonly key?: string;
  readonly namespaces: readonly string[];
}

export interface ProducerAuthOptions {
  readonly required: boolean;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly jwt?: JwtVerifier;
  /** Claim of a JWT that lists the namespaces (array or space-separated string). */
  readonly namespacesClaim: string;
}

const anonymous: ProducerIdentity = Object.freeze({ name: 'anonymous', namespaces: ['*'] });

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Parses and checks an API keys document (a JSON array of ApiKeyEntry). */
export function parseApiKeys(json: string, source: string): ApiKeyEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(
      `${source}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  if (!Array.isArray(parsed)) throw new Error(`${source}: must be a JSON array of keys`);
  return parsed.map((entry: unknown, index) => {
    const where = `${source}[${index}]`;
    if (typeof entry !== 'object' || entry === null) throw new Error(`${where}: must be an object`);
    const { name, sha256: hash, key, namespaces } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') throw new Error(`${where}.name: required`);
    if (hash !== undefined && (typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash))) {
      throw new Error(`${where}.sha256: must be 64 hex characters`);
    }
    if (key !== undefined && (typeof key !== 'string' || key.length < 16)) {
      throw new Error(`${where}.key: must be a string of at least 16 characters`);
    }
    if (hash === undefined && key === undefined) throw new Error(`${where}: needs sha256 or key`);
    if (
      !Array.isArray(namespaces) ||
      namespaces.length === 0 ||
      !namespaces.every((n) => typeof n === 'string' && n !== '')
    ) {
      throw new Error(`${where}.namespaces: must be a non-empty list of strings`);
    }
    return {
      name,
      ...(typeof hash === 'string' ? { sha256: hash.toLowerCase() } : {}),
      ...(typeof key === 'string' ? { key } : {}),
      namespaces: namespaces as string[],
    };
  });
}

/** True when `channel` lies in one of the namespaces. */
export function channelAllowed(namespaces: readonly string[], channel: string): boolean {
  return namespaces.some(
    (namespace) =>
      namespace === '*' || channel === namespace || channel.startsWith(`${namespace}.`),
  );
}

export class ProducerAuth {
  private readonly keys: { digest: Buffer; identity: ProducerIdentity }[];

  constructor(private readonly options: ProducerAuthOptions) {
    this.keys = options.apiKeys.map((entry) => ({
      digest:
        entry.sha256 !== undefined ? Buffer.from(entry.sha256, 'hex') : sha256(entry.key ?? ''),
      identity: Object.freeze({ name: entry.name, namespaces: [...entry.namespaces] }),
    }));
  }

  async authenticate(credentials: ProducerCredentials): Promise<ProducerIdentity> {
    const apiKey = credentials.apiKey?.trim();
    if (apiKey) return this.byApiKey(apiKey);
    const authorization = credentials.authorization?.trim();
    if (authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (match?.[1] === undefined) {
        throw new FanoutError('unauthenticated', 'authorization must be "Bearer <token>"');
      }
      return this.byToken(match[1]);
    }
    if (this.options.required) {
      throw new FanoutError(
        'unauthenticated',
        'credentials required: an x-api-key or a bearer token',
      );
    }
    return anonymous;
  }

  private byApiKey(key: string): ProducerIdentity {
    const digest = sha256(key);
    const found = this.keys.find((entry) => timingSafeEqual(entry.digest, digest));
    if (found === undefined) throw new FanoutError('unauthenticated', 'unknown API key');
    return found.identity;
  }

  private async byToken(token: string): Promise<ProducerIdentity> {
    if (this.options.jwt === undefined) {
      throw new FanoutError(
        'unauthenticated',
        'bearer tokens are not accepted here (no JWT key configured)',
      );
    }
    const verified = await this.options.jwt.verify(token);
    const claim = verified.claims[this.options.namespacesClaim];
    const namespaces = Array.isArray(claim)
      ? claim.filter((value): value is string => typeof value === 'string')
      : typeof claim === 'string'
        ? claim.split(/\s+/).filter((value) => value !== '')
        : [];
    return { name: verified.subject, namespaces };
  }

  /** Throws permission_denied unless every channel is in the identity's namespaces. */
  authorize(
    identity: ProducerIdentity,
    channels: readonly { channel: string; field: string }[],
  ): void {
    for (const { channel, field } of channels) {
      if (!channelAllowed(identity.namespaces, channel)) {
        throw new FanoutError(
          'permission_denied',
          `${field}: producer "${identity.name}" may not publish to "${channel}"`,
          { details: { field, producer: identity.name } },
        );
      }
    }
  }
}
