/**
 * The cluster as processes (its own broker, 2 ingest and 3 edge processes,
 * a watched membership file, a few thousand WebSocket and SSE clients,
 * steady producers; `ClusterScenario`) through (a) an edge killed with
 * SIGKILL that comes back on a new port, (b) 3→4 edges and (c) 4→2 edges
 * with SIGTERM drain. After each step every client is live again; at the
 * end the independent checker compares what every client received with what
 * Kafka holds: nothing missing, per-channel order, duplicates only across a
 * reconnect and with the record's id. Prints reconnect times and clients
 * moved per step (docs/guides/scaling.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClusterScenario, clusterSettleMs } from '../support/cluster-scenario.js';
import { stopOwnKafka } from '../support/index.js';

const stepTimeout = 110_000;

describe('cluster of processes: kill -9, scale up, scale down with drain', () => {
  let scenario: ClusterScenario | undefined;

  before(
    async () => {
      scenario = await ClusterScenario.start({ ownBroker: false });
    },
    { timeout: stepTimeout },
  );

  after(async () => {
    await scenario?.stop();
    await stopOwnKafka();
  });

  it(
    '(a) an edge killed with SIGKILL: its clients resume elsewhere',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const { harness, clients } = scenario;
      const victim = harness.members.get('edge-1');
      assert.ok(victim);
      const onVictim = clients.filter((client) => client.url === victim.url).length;
      const result = await scenario.step(
        'kill -9 an edge (it restarts on a new port)',
        async () => {
          await victim.process.kill('SIGKILL');
          const others = [...harness.members.values()].filter((member) => member !== victim);
          await harness.setMembers(others);
          const back = await harness.startEdge('edge-1');
          await harness.setMembers([...others, back]);
        },
        clusterSettleMs + 2000,
      );
      assert.ok(onVictim > 0, 'the killed edge had clients');
      assert.ok(result.reconnected >= onVictim, 'every client of the killed edge reconnected');
    },
  );

  it(
    '(b) 3→4 edges: clients of moved partitions are rebalanced to the new edge',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const { harness, clients } = scenario;
      const added = await harness.startEdge('edge-3');
      const result = await scenario.step(
        'scale 3→4',
        async () => {
          await harness.setMembers([...harness.members.values(), added]);
        },
        clusterSettleMs + 3000,
      );
      assert.ok(result.moved > 0, 'clients moved');
      assert.ok(
        clients.some((client) => client.url === added.url),
        'the new edge has clients',
      );
    },
  );

  it(
    '(c) 4→2 edges with SIGTERM drain: their clients resume on the others',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const { harness, clients } = scenario;
      const leaving = [...harness.members.values()].filter(
        (member) => member.id === 'edge-1' || member.id === 'edge-2',
      );
      assert.equal(leaving.length, 2);
      const result = await scenario.step(
        'scale 4→2 (SIGTERM drain)',
        async () => {
          await harness.setMembers(
            [...harness.members.values()].filter((member) => !leaving.includes(member)),
          );
          await Promise.all(leaving.map((member) => member.process.kill('SIGTERM')));
        },
        clusterSettleMs + 1000,
      );
      const leftUrls = leaving.map((member) => member.url);
      assert.ok(result.reconnected > 0);
      assert.equal(
        clients.filter((client) => leftUrls.includes(client.url)).length,
        0,
        'no client stays on a stopped edge',
      );
    },
  );

  it(
    'every client got every event of its channels in order, duplicates only across reconnects',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const report = await scenario.check();
      assert.deepEqual(report.problems, []);
      assert.ok(report.eventsChecked > 0);
    },
  );
});
