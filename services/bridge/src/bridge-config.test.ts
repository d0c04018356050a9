import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '@fanout/shared';
import { declaredResources } from './bridge-runtime.js';

const origins = [
  'https://api.example.com',
  { origin: 'http://127.0.0.1:8080', allowPrivate: true },
];

function load(resources: unknown, extra: Record<string, unknown> = {}) {
  return loadConfig({
    env: {},
    overrides: { 'bridge.origins': origins, 'bridge.resources': resources, ...extra },
  });
}

function refusal(resources: unknown, extra: Record<string, unknown> = {}): string {
  try {
    load(resources, extra);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  assert.fail('the configuration was accepted');
}

describe('bridge.resources', () => {
  it('accepts declared resources and fills in the interval and the status channel', () => {
    const config = load([
      { channel: 'prices.eu', url: 'https://api.example.com/prices?region=eu' },
      {
        channel: 'builds.main',
        url: 'http://127.0.0.1:8080/status',
        intervalMs: 2000,
        headers: { 'x-api-key': 'k' },
        statusChannel: 'builds.health',
        arrayKey: '/id',
      },
    ]);
    const specs = declaredResources(config.bridge.resources, {
      intervalMs: config.bridge.pollIntervalMs,
      statusSuffix: config.bridge.statusSuffix,
    });
    assert.deepEqual(specs, [
      {
        kind: 'declared',
        channel: 'prices.eu',
        statusChannel: 'prices.eu.status',
        url: 'https://api.example.com/prices?region=eu',
        intervalMs: 5000,
      },
      {
        kind: 'declared',
        channel: 'builds.main',
        statusChannel: 'builds.health',
        url: 'http://127.0.0.1:8080/status',
        intervalMs: 2000,
        resourceHeaders: { 'x-api-key': 'k' },
        arrayKey: '/id',
      },
    ]);
  });

  it('refuses an arrayKey that is not a JSON Pointer, with the reason', () => {
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com/x', arrayKey: 'id' }]),
      /arrayKey: .*JSON Pointer starting with "\/"/,
    );
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com/x', arrayKey: '/a~2' }]),
      /"~" only as "~0" or "~1"/,
    );
  });

  it('refuses a URL whose origin is not allowed, with the item named', () => {
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://evil.example.com/x' }]),
      /bridge\.resources\.url: item 1 its origin https:\/\/evil\.example\.com is not in bridge\.origins/,
    );
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com:8443/x' }]),
      /is not in bridge\.origins/,
    );
    assert.match(refusal([{ channel: 'a.b', url: 'not a url' }]), /must be an absolute URL/);
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://user:pw@api.example.com/x' }]),
      /user name or password/,
    );
  });

  it('refuses channels outside the channel grammar', () => {
    assert.match(
      refusal([{ channel: 'has space', url: 'https://api.example.com/x' }]),
      /bridge\.resources\.channel: item 1 must be a channel name/,
    );
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com/x', statusChannel: 'a..b' }]),
      /bridge\.resources\.statusChannel: item 1 must be a channel name/,
    );
    assert.match(
      refusal([{ channel: 'x'.repeat(250), url: 'https://api.example.com/x' }]),
      /item 1 its status channel x+\.status is not a valid channel name/,
    );
  });

  it('refuses intervals out of bounds', () => {
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com/x', intervalMs: 50 }]),
      /intervalMs/,
    );
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com/x', intervalMs: 500 }]),
      /at least bridge\.minPollIntervalMs \(1000\)/,
    );
  });

  it('refuses duplicate channels and status channels', () => {
    assert.match(
      refusal([
        { channel: 'a.b', url: 'https://api.example.com/x' },
        { channel: 'a.b', url: 'https://api.example.com/y' },
      ]),
      /bridge\.resources\.channel: item 2 a\.b is already used by item 1/,
    );
    assert.match(
      refusal([
        { channel: 'a.b', url: 'https://api.example.com/x' },
        { channel: 'c.d', url: 'https://api.example.com/y', statusChannel: 'a.b.status' },
      ]),
      /bridge\.resources\.statusChannel: item 2 a\.b\.status is already used by item 1/,
    );
  });

  it('refuses unknown keys of a resource', () => {
    assert.match(
      refusal([{ channel: 'a.b', url: 'https://api.example.com/x', interval: 5 }]),
      /interval/,
    );
  });
});
