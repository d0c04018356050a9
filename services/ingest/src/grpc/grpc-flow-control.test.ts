import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { raiseReceiveWindow } from './grpc-flow-control.js';

const windowBytes = 4 * 1024 * 1024;
const bytes = (value: Buffer): Buffer => value;
const echo = {
  echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} as const;

/** Resolves once `check` holds, polling every 5 ms; rejects after 5 s. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('gRPC server receive window', () => {
  let server: grpc.Server;
  let port: number;

  before(async () => {
    server = new grpc.Server();
    server.addService(echo, {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        callback(null, call.request.subarray(0, 16));
      },
    });
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => {
        if (error) reject(error);
        else resolve(bound);
      });
    });
    assert.equal(raiseReceiveWindow(server, windowBytes), true);
  });

  after(() => {
    server.forceShutdown();
  });

  it('grants each new connection the configured stream and connection windows', async () => {
    const session: ClientHttp2Session = connect(`http://127.0.0.1:${port}`);
    try {
      await eventually(
        () => session.remoteSettings.initialWindowSize === windowBytes,
        'the stream window in the server SETTINGS',
      );
      await eventually(
        () => (session.state.remoteWindowSize ?? 0) >= windowBytes,
        'the connection window update',
      );
    } finally {
      session.close();
    }
  });

  it('still serves calls, a message larger than the default window included', async () => {
    const Client = grpc.makeGenericClientConstructor(echo, 'Echo');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = client['echo'] as (
      request: Buffer,
      callback: (error: grpc.ServiceError | null, value?: Buffer) => void,
    ) => void;
    try {
      const request = Buffer.alloc(1024 * 1024, 7);
      const answer = await new Promise<Buffer | undefined>((resolve, reject) => {
        call.call(client, request, (error, value) => {
          if (error) reject(error);
          else resolve(value);
        });
      });
      assert.deepEqual(answer, request.subarray(0, 16));
    } finally {
      client.close();
    }
  });

  it('leaves the default window alone when asked for no more than it', () => {
    const idle = new grpc.Server();
    assert.equal(raiseReceiveWindow(idle, 65_535), true);
    assert.equal(
      raiseReceiveWindow(idle, windowBytes),
      false,
      'an unbound server has no HTTP/2 server',
    );
  });
});
