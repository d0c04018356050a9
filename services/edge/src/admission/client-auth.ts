/**
 * Who a client is and which channels it may read. A bearer JWT (HS256,
 * RS256/ES256 public key or JWKS, from `auth.*`) names the client in `sub`
 * and lists its readable namespaces in `edge.jwtChannelsClaim`. Without
 * `edge.authRequired`, clients without a token read every channel.
 */
import { FanoutError, namespacesAllow, type FanoutConfig, type JwtVerifier } from '@fanout/shared';

export interface ClientIdentity {
  readonly subject: string;
  readonly namespaces: readonly string[];
  /** Token expiry, epoch milliseconds. */
  readonly expiresAt?: number;
  readonly anonymous: boolean;
}

/** The latest instant a JavaScript Date can hold (epoch milliseconds). */
const latestDate = 8.64e15;

export const anonymousClient: ClientIdentity = Object.freeze({
  subject: 'anonymous',
  namespaces: ['*'],
  anonymous: true,
});

export class ClientAuth {
  readonly required: boolean;
  readonly #verifier: JwtVerifier | undefined;
  readonly #claim: string;

  constructor(config: FanoutConfig['edge'], verifier: JwtVerifier | undefined) {
    this.required = config.authRequired;
    this.#verifier = verifier;
    this.#claim = config.jwtChannelsClaim;
    if (this.required && !verifier) {
      throw new FanoutError(
        'config_invalid',
        'edge.authRequired needs a token key: set auth.jwtHs256Secret, auth.jwtPublicKeyFile or auth.jwksUrl',
      );
    }
  }

  /** Identity of a token, or anonymous when none is given and none is required. */
  async identify(token: string | undefined): Promise<ClientIdentity> {
    if (token === undefined || token === '') {
      if (this.required) {
        throw new FanoutError('unauthenticated', 'a bearer token is required');
      }
      return anonymousClient;
    }
    if (!this.#verifier) {
      throw new FanoutError('unauthenticated', 'this edge does not accept tokens');
    }
    const verified = await this.#verifier.verify(token);
    const expiresAt = verified.expiresAt;
    if (expiresAt !== undefined && !(Math.abs(expiresAt) <= latestDate)) {
      // Not a time: a token claiming it is refused rather than trusted forever.
      throw new FanoutError(
        'unauthenticated',
        'the token exp is not a representable time (at most 8.64e12 seconds since 1970)',
      );
    }
    const claim = verified.claims[this.#claim];
    const namespaces = Array.isArray(claim)
      ? claim.filter((item): item is string => typeof item === 'string')
      : typeof claim === 'string'
        ? claim.split(' ').filter((item) => item !== '')
        : [];
    return {
      subject: verified.subject,
      namespaces,
      anonymous: false,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
  }

  /** Throws permission_denied unless the identity may read the channel or pattern. */
  authorize(identity: ClientIdentity, channel: string): void {
    if (namespacesAllow(identity.namespaces, channel)) return;
    throw new FanoutError(
      'permission_denied',
      `${identity.subject} may not read ${channel} (allowed: ${identity.namespaces.join(', ') || 'none'})`,
      { details: { channel } },
    );
  }
}

/** The bearer token of a request: `Authorization: Bearer …` or the `token` query parameter. */
export function requestToken(authorization: string, query: URLSearchParams): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (match?.[1]) return match[1];
  const token = query.get('token');
  return token === null || token === '' ? undefined : token;
}
