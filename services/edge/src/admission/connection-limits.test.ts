import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FanoutError } from '@fanout/shared';
import { clientAddress, ConnectionLimits } from './connection-limits.js';
import { SubscribeBudget } from './subscribe-budget.js';

function limitOf(error: unknown): unknown {
  return error instanceof FanoutError && error.code === 'connection_limit'
    ? error.details['limit']
    : undefined;
}

describe('connection limits', () => {
  it('refuses the connection over the per-address limit until one closes', () => {
    const limits = new ConnectionLimits({ total: 0, perAddress: 2, perSubject: 0 });
    const first = limits.acquire('10.0.0.1');
    limits.acquire('10.0.0.1');
    assert.throws(
      () => limits.acquire('10.0.0.1'),
      (e) => limitOf(e) === 'perAddress',
    );
    limits.acquire('10.0.0.2');
    first.release();
    first.release();
    assert.equal(limits.connectionsOf('10.0.0.1'), 1);
    limits.acquire('10.0.0.1');
    assert.equal(limits.connectionsOf('10.0.0.1'), 2);
  });

  it('counts subjects across addresses, also when they identify after connecting', () => {
    const limits = new ConnectionLimits({ total: 0, perAddress: 0, perSubject: 2 });
    limits.acquire('a', 'alice');
    const later = limits.acquire('b');
    later.identify('alice');
    assert.equal(limits.connectionsWith('alice'), 2);
    assert.throws(
      () => limits.acquire('c', 'alice'),
      (e) => limitOf(e) === 'perSubject',
    );
    // A refused acquire takes no place of its address either.
    assert.equal(limits.connectionsOf('c'), 0);
    const third = limits.acquire('c');
    assert.throws(() => {
      third.identify('alice');
    }, /limit 2/);
    assert.equal(third.subject, undefined);
    later.release();
    third.identify('alice');
    assert.equal(limits.connectionsWith('alice'), 2);
    third.release();
    assert.equal(limits.connectionsWith('alice'), 1);
  });

  it('limits connections in all, counting every lease until it is released', () => {
    const limits = new ConnectionLimits({ total: 3, perAddress: 0, perSubject: 0 });
    const leases = [limits.acquire('a'), limits.acquire('b', 's'), limits.acquire('c')];
    assert.equal(limits.total, 3);
    assert.equal(limits.full(), true);
    assert.throws(
      () => limits.acquire('d'),
      (e) =>
        e instanceof FanoutError && e.code === 'connection_limit' && e.details['limit'] === 'total',
    );
    leases[1]?.release();
    leases[1]?.release();
    assert.equal(limits.total, 2);
    assert.equal(limits.full(), false);
    limits.acquire('d');
    assert.equal(limits.total, 3);
  });

  it('has no limit at zero', () => {
    const limits = new ConnectionLimits({ total: 0, perAddress: 0, perSubject: 0 });
    for (let i = 0; i < 1000; i++) limits.acquire('same', 'same');
    assert.equal(limits.connectionsOf('same'), 1000);
  });

  it('takes the client address from the last entry of the configured header', () => {
    const lines: [string, string][] = [['x-forwarded-for', '203.0.113.9, 198.51.100.7']];
    const request = {
      forEach: (visit: (name: string, value: string) => void) => {
        for (const [name, value] of lines) visit(name, value);
      },
    };
    assert.equal(clientAddress('10.1.1.1', 'x-forwarded-for', request), '198.51.100.7');
    assert.equal(clientAddress('10.1.1.1', '', request), '10.1.1.1');
    assert.equal(clientAddress('10.1.1.1', 'x-real-ip', request), '10.1.1.1');
    lines.push(['x-real-ip', ' 192.0.2.4 ']);
    assert.equal(clientAddress('10.1.1.1', 'x-real-ip', request), '192.0.2.4');
  });

  it("reads every line of the header as one list, so a line before the proxy's does not choose", () => {
    const lines: [string, string][] = [
      ['x-forwarded-for', '203.0.113.66'],
      ['user-agent', 'x'],
      ['x-forwarded-for', '203.0.113.67, 198.51.100.8'],
    ];
    const request = {
      forEach: (visit: (name: string, value: string) => void) => {
        for (const [name, value] of lines) visit(name, value);
      },
    };
    assert.equal(clientAddress('10.1.1.1', 'x-forwarded-for', request), '198.51.100.8');
    // An empty last entry is no address: the peer counts.
    lines.push(['x-forwarded-for', '']);
    assert.equal(clientAddress('10.1.1.1', 'x-forwarded-for', request), '10.1.1.1');
    lines.length = 0;
    lines.push(['x-forwarded-for', ''], ['x-forwarded-for', '198.51.100.9']);
    assert.equal(clientAddress('10.1.1.1', 'x-forwarded-for', request), '198.51.100.9');
  });
});

describe('subscribe budget', () => {
  it('allows a first burst, then the rate, and names the delay', () => {
    let now = 0;
    const budget = new SubscribeBudget(10, 100, () => now);
    budget.spend(100);
    assert.throws(
      () => {
        budget.spend(5);
      },
      (e) =>
        e instanceof FanoutError && e.code === 'rate_limited' && e.details['retryAfterMs'] === 500,
    );
    now = 500;
    budget.spend(5);
    assert.throws(() => {
      budget.spend(1);
    });
    now = 60_000;
    budget.spend(100);
  });

  it('never limits at rate zero', () => {
    const budget = new SubscribeBudget(0, 1, () => 0);
    for (let i = 0; i < 100; i++) budget.spend(100);
  });
});
