import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpResponse } from 'uWebSockets.js';
import {
  failResponse,
  guard,
  markFinished,
  markStreaming,
  uwsFaults,
  type HandlerGuard,
} from './uws-guard.js';
import { idleTimeouts } from './ws-endpoint.js';

function recorder(): HandlerGuard & { reports: string[] } {
  const reports: string[] = [];
  return {
    reports,
    report(handler, error) {
      reports.push(`${handler}: ${error instanceof Error ? error.message : String(error)}`);
    },
  };
}

/** What a response was asked to do, in order. */
function fakeResponse(): { response: HttpResponse; calls: string[] } {
  const calls: string[] = [];
  const response = {
    cork(callback: () => void) {
      callback();
      return response;
    },
    writeStatus(status: string) {
      calls.push(`status ${status}`);
      return response;
    },
    writeHeader(name: string, value: string) {
      calls.push(`header ${name}: ${value}`);
      return response;
    },
    end(body: string) {
      calls.push(`end ${body}`);
      return response;
    },
    close() {
      calls.push('close');
      return response;
    },
  };
  return { response: response as unknown as HttpResponse, calls };
}

describe('uWS handler guard', () => {
  it('reports a thrown exception and ends what it belongs to, without rethrowing', () => {
    const reports = recorder();
    const faults: unknown[] = [];
    const guarded = guard(
      reports,
      'ws message',
      (value: number) => {
        throw new Error(`bad ${value}`);
      },
      (error, value) => faults.push([error instanceof Error ? error.message : error, value]),
    );
    guarded(7);
    assert.deepEqual(reports.reports, ['ws message: bad 7']);
    assert.deepEqual(faults, [['bad 7', 7]]);
  });

  it('treats the rejection of an async handler as its exception', async () => {
    const reports = recorder();
    let ended = 0;
    const guarded = guard(
      reports,
      'ws open',
      async () => {
        await Promise.resolve();
        throw new Error('later');
      },
      () => ended++,
    );
    guarded();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(reports.reports, ['ws open: later']);
    assert.equal(ended, 1);
  });

  it('reports a failing onFault too, and still does not throw', () => {
    const reports = recorder();
    const guarded = guard(
      reports,
      'http GET /x',
      () => {
        throw new Error('first');
      },
      () => {
        throw new Error('second');
      },
    );
    guarded();
    assert.deepEqual(reports.reports, ['http GET /x: first', 'http GET /x: second']);
  });

  it('runs the fault hook with the handler name', () => {
    const reports = recorder();
    let ran = false;
    uwsFaults.inject = (name) => {
      if (name === 'ws drain') throw new Error('injected');
    };
    try {
      guard(
        reports,
        'ws drain',
        () => (ran = true),
        () => undefined,
      )();
    } finally {
      uwsFaults.inject = undefined;
    }
    assert.equal(ran, false);
    assert.deepEqual(reports.reports, ['ws drain: injected']);
  });

  it('answers 500 internal when nothing was sent, closes a started stream, and leaves a finished one', () => {
    const fresh = fakeResponse();
    failResponse(fresh.response);
    assert.equal(fresh.calls[0], 'status 500 Internal Server Error');
    assert.match(fresh.calls.at(-1) ?? '', /^end \{"error":\{"code":"internal"/);
    failResponse(fresh.response);
    assert.equal(fresh.calls.filter((call) => call.startsWith('end')).length, 1, 'once');

    const streaming = fakeResponse();
    markStreaming(streaming.response);
    failResponse(streaming.response);
    assert.deepEqual(streaming.calls, ['close']);

    const finished = fakeResponse();
    markFinished(finished.response);
    failResponse(finished.response);
    assert.deepEqual(finished.calls, []);
  });
});

describe('idle timeouts', () => {
  it('closes at the configured time with uWS as a backstop behind it, within what uWS accepts', () => {
    assert.deepEqual(idleTimeouts(8), { edgeSeconds: 8, uwsSeconds: 24 });
    assert.deepEqual(idleTimeouts(120), { edgeSeconds: 120, uwsSeconds: 136 });
    assert.deepEqual(idleTimeouts(944), { edgeSeconds: 944, uwsSeconds: 960 });
    assert.deepEqual(idleTimeouts(960), { edgeSeconds: 952, uwsSeconds: 960 });
  });
});
