/**
 * One JSON request to a bridge with node:http(s): a timeout for the whole
 * exchange and a cap on the answer read. (Not fetch: undici repeats a
 * request answered 421 by itself, and 421 is how a bridge names the owner.)
 * With a token (edge.resources.bridgeToken) it is sent as
 * `authorization: Bearer <token>`.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface BridgeAnswer {
  readonly status: number;
  readonly text: string;
}

export function putJson(
  url: string,
  body: string,
  timeoutMs: number,
  maxBytes: number,
  token = '',
): Promise<BridgeAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(target, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        ...(token === '' ? {} : { authorization: `Bearer ${token}` }),
      },
      signal: AbortSignal.timeout(timeoutMs),
    });
    request.on('error', reject);
    request.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          request.destroy(new Error(`the bridge answered more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        resolve({
          status: response.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    request.end(body);
  });
}
