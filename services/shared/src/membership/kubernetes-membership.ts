/**
 * Membership from Kubernetes EndpointSlices: the ready endpoints of the
 * slices labelled `kubernetes.io/service-name=<service>`, listed and then
 * watched through the API server with the pod's service account.
 *
 * - list, then watch from the list's resourceVersion (with bookmarks, so a
 *   quiet watch still advances it);
 * - a watch that ends is resumed from the last resourceVersion; `410 Gone`
 *   (the version is too old) lists again;
 * - failures retry with exponential backoff and jitter, keeping the last list;
 * - an endpoint counts when `conditions.ready` is not false (the API's
 *   advice: unknown means ready); it is named by its Pod (`targetRef.name`),
 *   else by its first address.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  memberUrl,
  MemberReporter,
  type Member,
  type MembershipErrorHandler,
  type MembershipListener,
  type MembershipSource,
} from './membership-source.js';

/** Where a pod finds its service account. */
export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubernetesMembershipOptions {
  /** API server base URL, e.g. https://10.96.0.1:443. */
  readonly apiUrl: string;
  readonly namespace: string;
  readonly service: string;
  /** EndpointSlice port clients use; empty takes the first. */
  readonly portName: string;
  /** Port when a slice lists none. */
  readonly port: number;
  readonly scheme: 'http' | 'https';
  /** Bearer token, read before every request (projected tokens rotate). */
  readonly token?: () => string | undefined;
  /** CA bundle of the API server (PEM). */
  readonly ca?: string;
  readonly onError?: MembershipErrorHandler;
  /** First retry delay; doubles up to `maxBackoffMs`. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Server-side timeout of one watch request. */
  readonly watchTimeoutSeconds?: number;
  /**
   * A failed first list does not fail start(): it is reported to onError,
   * the list starts empty and the list is retried with the backoff (for a
   * caller that can serve without members). Default: start() rejects.
   */
  readonly retryFirstList?: boolean;
}

/** The fields of a discovery.k8s.io/v1 EndpointSlice this source reads. */
interface EndpointSlice {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string };
  readonly addressType?: string;
  readonly endpoints?: readonly {
    readonly addresses?: readonly string[];
    readonly conditions?: { readonly ready?: boolean | null };
    readonly targetRef?: { readonly kind?: string; readonly name?: string };
  }[];
  readonly ports?: readonly { readonly name?: string; readonly port?: number }[] | null;
}

interface EndpointSliceList {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly items?: readonly EndpointSlice[];
}

interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: EndpointSlice & { readonly code?: number; readonly message?: string };
}

class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The options a pod derives from its environment and service account. */
export function inClusterOptions(): Pick<KubernetesMembershipOptions, 'apiUrl' | 'token' | 'ca'> & {
  namespace: string;
} {
  const host = process.env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  const readOptional = (file: string): string | undefined => {
    try {
      return readFileSync(`${serviceAccountDir}/${file}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const ca = readOptional('ca.crt');
  return {
    apiUrl: host === '' ? '' : `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: () => readOptional('token'),
    ...(ca === undefined ? {} : { ca: `${ca}\n` }),
    namespace: readOptional('namespace') ?? '',
  };
}

/** The ready members of a set of slices. */
export function membersOfSlices(
  slices: Iterable<EndpointSlice>,
  options: Pick<KubernetesMembershipOptions, 'portName' | 'port' | 'scheme'>,
): Member[] {
  const members: Member[] = [];
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    const ports = slice.ports ?? [];
    const named =
      options.portName === '' ? ports[0] : ports.find((entry) => entry.name === options.portName);
    const port = named?.port ?? options.port;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      const address = endpoint.addresses?.[0];
      if (address === undefined) continue;
      const pod = endpoint.targetRef?.kind === 'Pod' ? endpoint.targetRef.name : undefined;
      members.push({ id: pod ?? address, url: memberUrl(options.scheme, address, port) });
    }
  }
  return members;
}

export class KubernetesMembership implements MembershipSource {
  readonly kind = 'kubernetes';
  readonly #options: KubernetesMembershipOptions;
  readonly #reporter = new MemberReporter();
  readonly #slices = new Map<string, EndpointSlice>();
  #resourceVersion = '';
  #closed = false;
  #current: { destroy(): void } | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Ends the backoff wait at once (close). */
  #wake: (() => void) | undefined;
  #failures = 0;
  #loop: Promise<void> = Promise.resolve();

  constructor(options: KubernetesMembershipOptions) {
    if (options.apiUrl === '') throw new Error('no Kubernetes API server URL (not in a pod?)');
    if (options.namespace === '') throw new Error('no namespace for the EndpointSlices');
    if (options.service === '') throw new Error('no Service name for the EndpointSlices');
    this.#options = options;
  }

  #path(watch: boolean): string {
    const { namespace, service } = this.#options;
    const query = new URLSearchParams({ labelSelector: `kubernetes.io/service-name=${service}` });
    if (watch) {
      query.set('watch', 'true');
      query.set('allowWatchBookmarks', 'true');
      query.set('resourceVersion', this.#resourceVersion);
      query.set('timeoutSeconds', String(this.#options.watchTimeoutSeconds ?? 300));
    }
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices?${query.toString()}`;
  }

  #open(path: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const url = new URL(path, this.#options.apiUrl);
      const token = this.#options.token?.();
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'GET',
          headers: {
            accept: 'application/json',
            ...(token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }),
          },
          ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
        },
        (response) => {
          if (response.statusCode !== 200) {
            let body = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (body += chunk));
            response.on('end', () => {
              reject(
                new ApiError(
                  response.statusCode ?? 0,
                  `GET ${url.pathname}: ${response.statusCode} ${body.slice(0, 300)}`,
                ),
              );
            });
            response.on('error', reject);
            return;
          }
          resolve(response);
        },
      );
      this.#current = req;
      req.on('error', reject);
      req.end();
    });
  }

  async #list(): Promise<void> {
    const response = await this.#open(this.#path(false));
    let text = '';
    response.setEncoding('utf8');
    for await (const chunk of response) text += chunk as string;
    const list = JSON.parse(text) as EndpointSliceList;
    this.#slices.clear();
    for (const slice of list.items ?? []) this.#slices.set(slice.metadata?.name ?? '', slice);
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    this.#publish();
  }

  #publish(): void {
    this.#reporter.report(membersOfSlices(this.#slices.values(), this.#options));
  }

  /** Follows one watch request until it ends; returns 'relist' on 410 Gone. */
  async #watch(): Promise<'ended' | 'relist'> {
    const response = await this.#open(this.#path(true));
    response.setEncoding('utf8');
    let buffered = '';
    for await (const chunk of response) {
      buffered += chunk as string;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (line === '') continue;
        const event = JSON.parse(line) as WatchEvent;
        if (event.type === 'ERROR') {
          if (event.object.code === 410) return 'relist';
          throw new ApiError(
            event.object.code ?? 0,
            `watch error: ${event.object.message ?? line}`,
          );
        }
        const name = event.object.metadata?.name ?? '';
        const version = event.object.metadata?.resourceVersion;
        if (version !== undefined && version !== '') this.#resourceVersion = version;
        if (event.type === 'BOOKMARK') continue;
        if (event.type === 'DELETED') this.#slices.delete(name);
        else this.#slices.set(name, event.object);
        this.#failures = 0;
        this.#publish();
      }
    }
    return 'ended';
  }

  async #follow(listFirst: boolean): Promise<void> {
    let relist = listFirst;
    while (!this.#closed) {
      try {
        if (relist) {
          await this.#list();
          relist = false;
        }
        const outcome = await this.#watch();
        this.#failures = 0;
        if (outcome === 'relist') relist = true;
      } catch (error) {
        if (this.#reporter.closed) return;
        this.#options.onError?.(error);
        if (error instanceof ApiError && error.status === 410) relist = true;
        this.#failures++;
        await this.#backoff();
      }
    }
  }

  /** Waits the backoff of #failures failures in a row (with jitter). */
  async #backoff(): Promise<void> {
    const base = this.#options.backoffMs ?? 500;
    const delay = Math.min(this.#options.maxBackoffMs ?? 30_000, base * 2 ** (this.#failures - 1));
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#retryTimer = setTimeout(resolve, delay * (0.5 + Math.random() / 2));
    });
    this.#wake = undefined;
  }

  async #retryThenFollow(): Promise<void> {
    await this.#backoff();
    await this.#follow(true);
  }

  async start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#reporter.attach(listener);
    try {
      await this.#list();
    } catch (error) {
      if (this.#options.retryFirstList !== true || this.#closed) throw error;
      this.#options.onError?.(error);
      this.#failures = 1;
      this.#reporter.report([]);
      this.#loop = this.#retryThenFollow();
      return this.#reporter.current;
    }
    this.#loop = this.#follow(false);
    return this.#reporter.current;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#reporter.close();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#wake?.();
    this.#current?.destroy();
    await this.#loop;
  }
}
