/**
 * Which process was the limit of a benchmark phase, the machine's CPU from
 * /proc/stat, and the meter on this very process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CpuMeter,
  cpuVerdict,
  isSaturated,
  type PhaseCpu,
  type ProcessCpu,
} from './cpu-verdict.js';
import { runQueueWaitFrom } from '@fanout/shared';
import { cpuTimesFrom, machineBusyShare, machineTicksFrom } from './process-stats.js';

const edge = (cores: number): ProcessCpu => ({
  name: 'fanout edge',
  role: 'server',
  threads: 'one',
  cores,
});
const bench = (cores: number): ProcessCpu => ({
  name: 'bench (producer + clients)',
  role: 'client',
  threads: 'one',
  cores,
});
const broker = (cores: number): ProcessCpu => ({
  name: 'Kafka broker',
  role: 'broker',
  threads: 'many',
  cores,
});
const phase = (processes: ProcessCpu[], machine: number): PhaseCpu => ({
  processes,
  machine,
  cpuCount: 2,
  loadStart: [1, 1, 1],
  loadEnd: [2, 1, 1],
});

describe('cpu verdict', () => {
  it('saturates a single-threaded process at 90 % of a core, a multi-threaded one at 90 % of all', () => {
    assert.equal(isSaturated(edge(0.9), 2), true);
    assert.equal(isSaturated(edge(0.89), 2), false);
    assert.equal(isSaturated(broker(1.2), 2), false);
    assert.equal(isSaturated(broker(1.8), 2), true);
    assert.equal(isSaturated(edge(Number.NaN), 2), false);
  });

  it('names the client, not the server, when only the client saturated', () => {
    const verdict = cpuVerdict(phase([edge(0.4), bench(0.98), broker(0.1)], 0.75));
    assert.deepEqual(verdict.saturated, ['bench (producer + clients)']);
    assert.equal(verdict.machineLimit, false);
    assert.match(
      verdict.words,
      /^the client, not the server, was the limit \(bench \(producer \+ clients\) at 98 % of a core\)$/,
    );
  });

  it('names the client process that saturated among several, and a producer of its own', () => {
    const clients = (n: number, cores: number): ProcessCpu => ({
      name: `bench clients ${n}`,
      role: 'client',
      threads: 'one',
      cores,
    });
    const producer = (cores: number): ProcessCpu => ({
      name: 'bench producer',
      role: 'producer',
      threads: 'one',
      cores,
    });
    const one = cpuVerdict(
      phase([edge(0.5), producer(0.1), clients(1, 0.7), clients(2, 0.95), broker(0.1)], 0.8),
    );
    assert.deepEqual(one.saturated, ['bench clients 2']);
    assert.equal(
      one.words,
      'the client, not the server, was the limit (bench clients 2 at 95 % of a core)',
    );
    const producing = cpuVerdict(
      phase([edge(0.3), producer(0.93), clients(1, 0.2), clients(2, 0.2), broker(0.1)], 0.7),
    );
    assert.equal(
      producing.words,
      'bench producer, not the server, was the limit (bench producer at 93 % of a core)',
    );
    const spread = cpuVerdict(
      phase([edge(0.6), producer(0.1), clients(1, 0.6), clients(2, 0.6), broker(0.1)], 0.96),
    );
    assert.equal(
      spread.words,
      'the machine, not the server, was the limit (96 % of all 2 cores busy)',
    );
  });

  it('names the server when it saturated', () => {
    const verdict = cpuVerdict(phase([edge(0.97), bench(0.5), broker(0.1)], 0.8));
    assert.deepEqual(verdict.saturated, ['fanout edge']);
    assert.match(verdict.words, /^the server was the limit/);
  });

  it('says when the machine, not the server, was the limit', () => {
    const verdict = cpuVerdict(phase([edge(0.6), bench(0.7), broker(0.5)], 0.95));
    assert.deepEqual(verdict.saturated, []);
    assert.equal(verdict.machineLimit, true);
    assert.equal(
      verdict.words,
      'the machine, not the server, was the limit (95 % of all 2 cores busy)',
    );
    const both = cpuVerdict(phase([edge(0.95), bench(0.92), broker(0.1)], 0.97));
    assert.match(
      both.words,
      /the server and another process were at their limit.*; the machine was at its limit too/,
    );
  });

  it('says nothing saturated when nothing did', () => {
    assert.equal(
      cpuVerdict(phase([edge(0.2), bench(0.3), broker(0.05)], 0.3)).words,
      'nothing saturated (machine 30 % of 2 cores)',
    );
  });

  it('names a server event loop that waited for a core, and leaves a short wait out', () => {
    const waiting = (share: number): ProcessCpu => ({ ...edge(0.48), waiting: share });
    const verdict = cpuVerdict(phase([waiting(0.21), bench(0.3), broker(0.2)], 0.75));
    assert.deepEqual(verdict.saturated, []);
    assert.equal(
      verdict.words,
      'nothing saturated (machine 75 % of 2 cores); fanout edge waited for a core 21 % of the phase (runnable, not running: the cores were shared)',
    );
    assert.equal(
      cpuVerdict(phase([waiting(0.05), bench(0.3)], 0.4)).words,
      'nothing saturated (machine 40 % of 2 cores)',
    );
    const client = { ...bench(0.3), waiting: 0.5 };
    assert.doesNotMatch(cpuVerdict(phase([edge(0.3), client], 0.4)).words, /waited/, 'a client');
  });

  it('reads the run-queue wait of a thread from /proc/<pid>/schedstat', () => {
    assert.equal(runQueueWaitFrom('2500000000 125000000 1042\n'), 0.125);
    assert.equal(runQueueWaitFrom(''), undefined);
  });

  it('reads the busy share of all cores from /proc/stat', () => {
    const before = machineTicksFrom(
      'cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1 2 3\n',
    );
    assert.deepEqual(before, { busy: 150, total: 1000 });
    const after = machineTicksFrom('cpu  400 10 140 1200 50 0 0 0 0 0\n');
    assert.deepEqual(after, { busy: 550, total: 1800 });
    assert.equal(machineBusyShare(before, after), 0.5);
    assert.equal(machineTicksFrom('intr 1 2\n'), undefined);
    assert.ok(Number.isNaN(machineBusyShare(undefined, after)));
  });

  it('reads the user and system time of a process from /proc/<pid>/stat, whatever its name', () => {
    const rest = 'S 1 2 3 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 500 1000 200';
    assert.deepEqual(cpuTimesFrom(`1234 (node) ${rest}`), { user: 2.5, system: 0.75 });
    assert.deepEqual(cpuTimesFrom(`1234 (a) b (c) ${rest}`), { user: 2.5, system: 0.75 });
    assert.equal(cpuTimesFrom('1234 (node) S 1 2'), undefined);
    assert.equal(cpuTimesFrom(''), undefined);
  });

  it(
    'measures this process at work, and the machine',
    { skip: process.platform !== 'linux' },
    () => {
      const meter = CpuMeter.start([
        { name: 'this', role: 'client', pid: process.pid, threads: 'one' },
        { name: 'nobody', role: 'server', pid: undefined, threads: 'one' },
      ]);
      const until = performance.now() + 300;
      let spin = 0;
      while (performance.now() < until) spin++;
      const cpu = meter.stop();
      assert.ok(spin > 0);
      assert.ok((cpu.processes[0]?.cores ?? 0) > 0, `this process: ${cpu.processes[0]?.cores}`);
      assert.ok(Number.isNaN(cpu.processes[1]?.cores));
      const waited = cpu.processes[0]?.waiting;
      assert.ok(waited === undefined || (waited >= 0 && waited < 1), `waited ${waited}`);
      assert.equal(cpu.processes[1]?.waiting, undefined);
      assert.ok(cpu.machine > 0 && cpu.machine <= 1, `machine ${cpu.machine}`);
      assert.equal(cpu.loadStart.length, 3);
      assert.equal(cpu.loadEnd.length, 3);
    },
  );
});
