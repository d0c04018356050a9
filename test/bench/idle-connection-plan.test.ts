/**
 * The idle-connections scenario's plan (processes, source addresses) and
 * the sums it reports.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addCounts,
  ephemeralPortsFrom,
  evenSplit,
  idleLimitsFor,
  marginalBytesPerConnection,
  openFileLimitFrom,
  planIdleConnections,
  planProblem,
  splitSegments,
  summarizeMemory,
  type IdleLimits,
  type IdlePlan,
} from './idle-connection-plan.js';

/** The benchmark machine: 20,000 open files per process, ports 32768–60999. */
const machine = idleLimitsFor(20_000, 60_999 - 32_768 + 1);

/** Every property the plan promises, checked connection by connection. */
function assertSound(plan: IdlePlan, limits: IdleLimits, connections: number): void {
  const seen = new Uint8Array(connections);
  const perServer = new Map<number, number>();
  const perAddress = new Map<string, number>();
  for (const client of plan.clients) {
    let local = 0;
    for (const segment of client.segments) {
      for (let i = segment.first; i < segment.first + segment.count; i++) {
        assert.equal(seen[i], 0, `connection ${i} is planned twice`);
        seen[i] = 1;
        perServer.set(segment.server, (perServer.get(segment.server) ?? 0) + 1);
        const address = client.sourceAddresses[local++ % client.sourceAddresses.length] ?? '';
        perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      }
    }
    assert.ok(local <= limits.perClientProcess, `a client process opens ${local}`);
  }
  assert.equal(seen.indexOf(0), -1, 'every connection is planned');
  plan.servers.forEach((size, server) => {
    assert.ok(size <= limits.perServerProcess);
    assert.equal(perServer.get(server), size, `server ${server} gets what the plan says`);
  });
  for (const [address, count] of perAddress) {
    assert.match(address, /^127\.0\.\d{1,3}\.\d{1,3}$/);
    assert.ok(count <= limits.perSourceAddress, `${address} carries ${count}`);
  }
  const addresses = plan.clients.flatMap((client) => client.sourceAddresses);
  assert.equal(new Set(addresses).size, addresses.length, 'no two client processes share one');
}

describe('idle connection plan', () => {
  it('reads the hard open-file limit and the ephemeral port range', () => {
    assert.equal(
      openFileLimitFrom(
        'Max cpu time              unlimited            unlimited            seconds\nMax open files            20000                20000                files\n',
      ),
      20_000,
    );
    assert.equal(
      openFileLimitFrom(
        'Max open files            1024                 unlimited            files\n',
      ),
      Number.MAX_SAFE_INTEGER,
    );
    assert.equal(ephemeralPortsFrom('32768\t60999\n'), 28_232);
    assert.equal(ephemeralPortsFrom('garbage'), 28_232);
  });

  it('keeps room in every process and on every source address', () => {
    assert.deepEqual(machine, {
      perServerProcess: 17_000,
      perClientProcess: 17_000,
      perSourceAddress: 9_410,
      maxProcesses: 8,
    });
    assert.equal(idleLimitsFor(20_000, 28_232, 2000).perServerProcess, 2000);
    assert.throws(() => idleLimitsFor(2000, 28_232), /leaves no room/);
  });

  it('splits evenly, larger parts first', () => {
    assert.deepEqual(evenSplit(50_000, 3), [16_667, 16_667, 16_666]);
    assert.deepEqual(evenSplit(10_000, 1), [10_000]);
  });

  it('holds 10,000 connections in one server process, as before', () => {
    const plan = planIdleConnections(10_000, machine, 10);
    assert.deepEqual(plan.servers, [10_000]);
    assert.equal(plan.clients.length, 1);
    assert.deepEqual(plan.clients[0]?.sourceAddresses, ['127.0.10.1', '127.0.10.2']);
    assertSound(plan, machine, 10_000);
  });

  it('spreads 50,000 over three server and three client processes of their own addresses', () => {
    const plan = planIdleConnections(50_000, machine, 11);
    assert.deepEqual(plan.servers, [16_667, 16_667, 16_666]);
    assert.equal(plan.clients.length, 3);
    assert.deepEqual(
      plan.clients.map((client) => client.sourceAddresses),
      [
        ['127.0.11.1', '127.0.11.2'],
        ['127.0.11.3', '127.0.11.4'],
        ['127.0.11.5', '127.0.11.6'],
      ],
    );
    assertSound(plan, machine, 50_000);
  });

  it('lets a client process reach several server processes when the splits differ', () => {
    const limits: IdleLimits = { ...machine, perClientProcess: 4000, perSourceAddress: 1500 };
    const plan = planIdleConnections(10_000, { ...limits, perServerProcess: 6000 }, 12);
    assert.deepEqual(plan.servers, [5000, 5000]);
    assert.deepEqual(
      plan.clients.map((client) => client.segments),
      [
        [{ server: 0, first: 0, count: 3334 }],
        [
          { server: 0, first: 3334, count: 1666 },
          { server: 1, first: 5000, count: 1667 },
        ],
        [{ server: 1, first: 6667, count: 3333 }],
      ],
    );
    assertSound(plan, { ...limits, perServerProcess: 6000 }, 10_000);
  });

  it('says why a count cannot be spread, and refuses to plan it', () => {
    assert.match(planProblem(200_000, machine) ?? '', /needs 12 processes/);
    assert.match(planProblem(0, machine) ?? '', /not a positive number/);
    assert.match(
      planProblem(100_000, { ...machine, perSourceAddress: 100 }) ?? '',
      /needs 1002 source addresses/,
    );
    assert.equal(planProblem(50_000, machine), undefined);
    assert.throws(() => planIdleConnections(200_000, machine, 10), /needs 12 processes/);
    assert.throws(() => planIdleConnections(1000, machine, 256), /address block/);
  });
});

describe('idle connection sums', () => {
  it('divides the growth of all server processes by all their connections', () => {
    const summary = summarizeMemory([
      { connections: 1000, baseRssBytes: 50_000_000, rssBytes: 51_024_000 },
      { connections: 3000, baseRssBytes: 60_000_000, rssBytes: 62_048_000 },
      { connections: 0, baseRssBytes: 70_000_000, rssBytes: 70_000_000 },
    ]);
    assert.equal(summary.connections, 4000);
    assert.equal(summary.growthBytes, 3_072_000);
    assert.equal(summary.bytesPerConnection, 768);
    assert.deepEqual(
      summary.perProcess.map((p) => p.bytesPerConnection),
      [1024, 2_048_000 / 3000, Number.NaN],
    );
  });

  it('adds counts by key over client processes', () => {
    assert.deepEqual(addCounts([{ 0: 5, timeout: 1 }, { 0: 2, 1: 7 }, {}]), {
      0: 7,
      1: 7,
      timeout: 1,
    });
  });

  it('opens each segment in two halves, every connection once and in order', () => {
    const segments = [
      { server: 0, first: 0, count: 5, port: 1 },
      { server: 1, first: 5, count: 1, port: 2 },
      { server: 2, first: 6, count: 0, port: 3 },
    ];
    const [first, second] = splitSegments(segments);
    assert.deepEqual(first, [{ server: 0, first: 0, count: 2, port: 1 }]);
    assert.deepEqual(second, [
      { server: 0, first: 2, count: 3, port: 1 },
      { server: 1, first: 5, count: 1, port: 2 },
    ]);
    const plan = planIdleConnections(50_000, machine, 10);
    const halves = plan.clients.map((share) => splitSegments(share.segments));
    const counted = halves.flat(2).reduce((sum, segment) => sum + segment.count, 0);
    assert.equal(counted, 50_000);
    const firstHalf = halves.flatMap(([one]) => one).reduce((sum, s) => sum + s.count, 0);
    // Each segment rounds its half down.
    const segmentCount = plan.clients.reduce((sum, share) => sum + share.segments.length, 0);
    assert.ok(firstHalf <= 25_000 && firstHalf > 25_000 - segmentCount, `first half ${firstHalf}`);
  });

  it('counts what each further connection cost after the half-way reading', () => {
    const mib = 2 ** 20;
    const half = [
      { connections: 5_000, baseRssBytes: 100 * mib, rssBytes: 130 * mib },
      { connections: 5_000, baseRssBytes: 100 * mib, rssBytes: 128 * mib },
    ];
    const end = [
      { connections: 10_000, baseRssBytes: 100 * mib, rssBytes: 140 * mib },
      { connections: 9_000, baseRssBytes: 100 * mib, rssBytes: 136 * mib },
    ];
    // (10 + 8) MiB over 9,000 more connections; the growth from the base is 4.1 KiB each.
    assert.equal(marginalBytesPerConnection(half, end), (18 * mib) / 9_000);
    assert.ok(summarizeMemory(end).bytesPerConnection > marginalBytesPerConnection(half, end));
    assert.ok(Number.isNaN(marginalBytesPerConnection(half, half)), 'none opened in between');
  });
});
