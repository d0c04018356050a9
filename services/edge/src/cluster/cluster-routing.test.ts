import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createLogger, isOwner, loadConfig, ManualMembership, type Member } from '@fanout/shared';
import { Registry } from 'prom-client';
import { createEdgeMetrics } from '../edge-metrics.js';
import { ClusterRouting } from './cluster-routing.js';

const edge = (id: string): Member => ({ id, url: `http://${id}:8081` });
const partitions = 12;

describe('rebalancing', () => {
  it('moves no client while this edge is not ready, and moves them once it is', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const config = loadConfig({
        env: { FANOUT_KAFKA_BROKERS: '127.0.0.1:9', FANOUT_CLUSTER_REBALANCE_JITTER_MS: '0' },
      });
      let ready = true;
      const source = new ManualMembership([edge('a')]);
      const routing = new ClusterRouting({
        config: config.cluster,
        self: edge('a'),
        membership: source,
        logger: createLogger({ service: 'test', level: 'silent' }),
        metrics: createEdgeMetrics(new Registry()),
        selfReady: () => ready,
      });
      await routing.start();
      // Alone, this edge owns every partition: its client follows all of them.
      const clientPartitions = new Set<number>();
      for (let partition = 0; partition < partitions; partition++) {
        assert.ok(isOwner(routing.placement(partitions), 'a', partition));
      }
      const moves: (string | undefined)[] = [];
      routing.addSweep('ws', (select) => {
        for (let partition = 0; partition < partitions; partition++) {
          clientPartitions.clear();
          clientPartitions.add(partition);
          const target = select(clientPartitions, `client-${partition}`);
          if (target !== undefined) moves.push(target);
        }
        return 0;
      });

      // Two edges join while this one is not ready: nothing moves, however long.
      ready = false;
      source.set([edge('a'), edge('b'), edge('c')]);
      mock.timers.tick(10_000);
      assert.deepEqual(moves, [], 'an unready edge moves no client');

      // Ready again: the clients of the partitions b and c took over move to them.
      ready = true;
      mock.timers.tick(1000);
      assert.ok(moves.length > 0, 'clients of partitions this edge no longer owns move');
      assert.ok(
        moves.every((url) => url === edge('b').url || url === edge('c').url),
        'they move to the new owners',
      );
      await routing.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('re-admitted before it was ready again, an edge has nothing to move', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const config = loadConfig({
        env: { FANOUT_KAFKA_BROKERS: '127.0.0.1:9', FANOUT_CLUSTER_REBALANCE_JITTER_MS: '0' },
      });
      let ready = true;
      const source = new ManualMembership([edge('a'), edge('b'), edge('c')]);
      const routing = new ClusterRouting({
        config: config.cluster,
        self: edge('a'),
        membership: source,
        logger: createLogger({ service: 'test', level: 'silent' }),
        metrics: createEdgeMetrics(new Registry()),
        selfReady: () => ready,
      });
      await routing.start();
      routing.placement(partitions);
      let asked = 0;
      const moves: string[] = [];
      routing.addSweep('ws', (select) => {
        for (let partition = 0; partition < partitions; partition++) {
          asked++;
          const target = select(new Set([partition]), `client-${partition}`);
          if (target !== undefined) moves.push(target);
        }
        return 0;
      });

      // Kafka is lost: this edge drops itself from its own view, then comes back.
      ready = false;
      source.set([edge('b'), edge('c')]);
      mock.timers.tick(5000);
      source.set([edge('a'), edge('b'), edge('c')]);
      ready = true;
      mock.timers.tick(2000);
      assert.ok(asked > 0, 'the sweep ran once this edge was ready');
      assert.deepEqual(moves, [], 'no client moved for an outage the edge came back from');
      await routing.close();
    } finally {
      mock.timers.reset();
    }
  });
});
