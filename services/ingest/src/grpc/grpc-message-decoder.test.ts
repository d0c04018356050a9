import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { FanoutError } from '@fanout/shared';
import { AdmittingMessageDecoder, installMessageDecoder } from './grpc-message-decoder.js';

function framed(body: Buffer, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

describe('admitting gRPC message decoder', () => {
  it('admits each message from its prefix, then reads it whole across chunks', () => {
    const admitted: number[] = [];
    const decoder = new AdmittingMessageDecoder({
      maxMessageBytes: 100,
      admit: (size) => admitted.push(size),
      refuse: () => assert.fail('refused'),
    });
    const stream = Buffer.concat([
      framed(Buffer.from('hello')),
      framed(Buffer.alloc(0)),
      framed(Buffer.from('world!')),
    ]);
    const messages: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 3)
      messages.push(...decoder.write(stream.subarray(at, at + 3)));
    assert.deepEqual(admitted, [5, 0, 6]);
    assert.deepEqual(
      messages.map((message) => message.subarray(5).toString()),
      ['hello', '', 'world!'],
    );
    assert.equal(messages[0]?.readUInt32BE(1), 5, 'messages keep their prefix');
  });

  it('refuses a message over the limit, or one not admitted, before reading it, and reads nothing more', () => {
    const refusals: FanoutError[] = [];
    const tooLarge = new AdmittingMessageDecoder({
      maxMessageBytes: 4,
      admit: () => assert.fail('not asked'),
      refuse: (error) => refusals.push(error),
    });
    assert.deepEqual(tooLarge.write(framed(Buffer.from('hello'))), []);
    assert.deepEqual(tooLarge.write(framed(Buffer.from('hi'))), []);
    assert.deepEqual(
      refusals.map((error) => error.code),
      ['event_too_large'],
    );

    const full = new AdmittingMessageDecoder({
      maxMessageBytes: 100,
      admit: (size, compressed) => {
        assert.equal(compressed, true);
        throw Object.assign(new Error('full'), { size });
      },
      refuse: (error) => refusals.push(error),
    });
    assert.deepEqual(full.write(framed(Buffer.from('hello'), true)), []);
    assert.equal(refusals.length, 2);
  });

  it('takes the place of the reader of a grpc-js server call', async () => {
    let installed: boolean | undefined;
    const server = new grpc.Server({
      interceptors: [
        (_method, call) => {
          installed = installMessageDecoder(
            call,
            new AdmittingMessageDecoder({ maxMessageBytes: 10, admit: () => {}, refuse: () => {} }),
          );
          return new grpc.ServerInterceptingCall(call);
        },
      ],
    });
    const definition = {
      echo: {
        path: '/test.Echo/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (bytes: Buffer) => bytes,
        requestDeserialize: (bytes: Buffer) => bytes,
        responseSerialize: (bytes: Buffer) => bytes,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    } as const;
    server.addService(definition, {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        callback(null, call.request);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => {
        if (error) reject(error);
        else resolve(bound);
      });
    });
    const Client = grpc.makeGenericClientConstructor(definition, 'Echo');
    const client = new Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      echo(
        request: Buffer,
        callback: (error: grpc.ServiceError | null, value?: Buffer) => void,
      ): void;
    };
    try {
      const echoed = await new Promise<Buffer | undefined>((resolve, reject) => {
        client.echo(Buffer.from('hi'), (error, value) => {
          if (error) reject(error);
          else resolve(value);
        });
      });
      assert.equal(echoed?.toString(), 'hi', 'messages still arrive');
      assert.equal(installed, true, 'grpc-js still reads messages with a replaceable decoder');
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
