/**
 * Who is publishing, and where they may publish.
 *
 * Publishers present an API key (`x-api-key`) or a bearer JWT
 * (`authorization: Bearer …`) in gRPC metadata or HTTP headers, or, with
 * mutual TLS, a client certificate whose subject common name (CN) an entry
 * of the keys file maps to a publisher (`certificateSubject`). An identity
 * has a name (stored with every event it publishes) and the channel
 * namespaces it may publish to: `orders` allows `orders` and every
 * `orders.…` channel; `*` allows all.
 *
 * An API key or token in the call wins over the connection's certificate.
 * With `required: false` and no credentials (or a certificate no entry
 * maps), the publisher is `anonymous` and may publish anywhere (local
 * development). Keys and tokens that are presented are always checked.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { FanoutError, namespacesAllow, type JwtVerifier } from '@fanout/shared';

export interface PublisherIdentity {
  readonly name: string;
  readonly namespaces: readonly string[];
}

export interface PublisherCredentials {
  readonly authorization?: string | undefined;
  readonly apiKey?: string | undefined;
  /** Subject CN of the client certificate, only when the TLS layer verified it. */
  readonly certificateSubject?: string | undefined;
}

export interface ApiKeyEntry {
  readonly name: string;
  /** Hex SHA-256 of the key (preferred: the key itself is not stored). */
  readonly sha256?: string;
  /** The key itself, for development setups. */
  readonly key?: string;
  /** Subject common name (CN) of a verified client certificate that identifies this publisher. */
  readonly certificateSubject?: string;
  readonly namespaces: readonly string[];
}

export interface PublisherAuthOptions {
  readonly required: boolean;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly jwt?: JwtVerifier;
  /** Claim of a JWT that lists the namespaces (array or space-separated string). */
  readonly namespacesClaim: string;
}

const anonymous: PublisherIdentity = Object.freeze({ name: 'anonymous', namespaces: ['*'] });

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
  const subjects = new Map<string, number>();
  return parsed.map((entry: unknown, index) => {
    const where = `${source}[${index}]`;
    if (typeof entry !== 'object' || entry === null) throw new Error(`${where}: must be an object`);
    const {
      name,
      sha256: hash,
      key,
      certificateSubject,
      namespaces,
    } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') throw new Error(`${where}.name: required`);
    if (hash !== undefined && (typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash))) {
      throw new Error(`${where}.sha256: must be 64 hex characters`);
    }
    if (key !== undefined && (typeof key !== 'string' || key.length < 16)) {
      throw new Error(`${where}.key: must be a string of at least 16 characters`);
    }
    if (certificateSubject !== undefined) {
      if (typeof certificateSubject !== 'string' || certificateSubject === '') {
        throw new Error(`${where}.certificateSubject: must be a non-empty string`);
      }
      const earlier = subjects.get(certificateSubject);
      if (earlier !== undefined) {
        throw new Error(
          `${where}.certificateSubject: "${certificateSubject}" is already ${source}[${earlier}]'s`,
        );
      }
      subjects.set(certificateSubject, index);
    }
    if (hash === undefined && key === undefined && certificateSubject === undefined) {
      throw new Error(`${where}: needs sha256, key or certificateSubject`);
    }
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
      ...(typeof certificateSubject === 'string' ? { certificateSubject } : {}),
      namespaces: namespaces as string[],
    };
  });
}

export class PublisherAuth {
  private readonly keys: { digest: Buffer; identity: PublisherIdentity }[] = [];
  private readonly bySubject = new Map<string, PublisherIdentity>();

  constructor(private readonly options: PublisherAuthOptions) {
    for (const entry of options.apiKeys) {
      const identity = Object.freeze({ name: entry.name, namespaces: [...entry.namespaces] });
      if (entry.sha256 !== undefined || entry.key !== undefined) {
        this.keys.push({
          digest:
            entry.sha256 !== undefined ? Buffer.from(entry.sha256, 'hex') : sha256(entry.key ?? ''),
          identity,
        });
      }
      if (entry.certificateSubject !== undefined) {
        this.bySubject.set(entry.certificateSubject, identity);
      }
    }
  }

  /** True when some entry maps a client certificate subject to a publisher. */
  get mapsCertificates(): boolean {
    return this.bySubject.size > 0;
  }

  async authenticate(credentials: PublisherCredentials): Promise<PublisherIdentity> {
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
    const subject = credentials.certificateSubject;
    const mapped = subject === undefined ? undefined : this.bySubject.get(subject);
    if (mapped !== undefined) return mapped;
    if (this.options.required) {
      throw new FanoutError(
        'unauthenticated',
        subject === undefined
          ? 'credentials required: an x-api-key or a bearer token'
          : `credentials required: the client certificate "${subject}" is not mapped to a producer; send an x-api-key or a bearer token`,
      );
    }
    return anonymous;
  }

  private byApiKey(key: string): PublisherIdentity {
    const digest = sha256(key);
    const found = this.keys.find((entry) => timingSafeEqual(entry.digest, digest));
    if (found === undefined) throw new FanoutError('unauthenticated', 'unknown API key');
    return found.identity;
  }

  private async byToken(token: string): Promise<PublisherIdentity> {
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

  /**
   * Throws permission_denied unless every event's channel is in the
   * identity's namespaces; the error names the first offending event's
   * field (`events[i].channel`).
   */
  authorize(identity: PublisherIdentity, events: readonly { readonly channel: string }[]): void {
    let index = 0;
    for (const { channel } of events) {
      if (!namespacesAllow(identity.namespaces, channel)) {
        const field = `events[${index}].channel`;
        throw new FanoutError(
          'permission_denied',
          `${field}: producer "${identity.name}" may not publish to "${channel}"`,
          { details: { field, producer: identity.name } },
        );
      }
      index++;
    }
  }
}
