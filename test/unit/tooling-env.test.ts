/**
 * Tooling variables never collide with the services' configuration: every
 * FANOUT_* variable that `npm start`, the local broker, the tests,
 * benchmarks or load scripts read is either a setting they pass on, or one
 * the configuration loader ignores — so setting it in the shell that runs
 * `npm start` (which passes its environment to ingest and edge) is safe.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  configFields,
  configFileEnv,
  formerToolingEnvNames,
  isReservedEnv,
  loadConfig,
  toolingEnvPrefixes,
} from '@fanout/shared';
import { toolingEnvReads } from '../support/tooling-env.js';

/** Former names still read, with a warning, by the tool that renamed them (not reserved). */
const formerNamesReadWithWarning = new Set(['FANOUT_K6']);

/** What the services read: their settings, and the name of their configuration file. */
const settings = new Set([...configFields.map((field) => field.env), configFileEnv]);
const brokers = { FANOUT_KAFKA_BROKERS: '127.0.0.1:9092' };

describe('tooling variables and the services configuration', () => {
  it('finds the tooling variables of the local broker, npm start, tests and load scripts', () => {
    const reads = toolingEnvReads();
    for (const name of [
      'FANOUT_LOCAL_KAFKA_PORT',
      'FANOUT_LOCAL_KAFKA_HEAP',
      'FANOUT_LOCAL_KAFKA_JVM_OPTS',
      'FANOUT_LOCAL_KAFKA_CDS',
      'FANOUT_CACHE_DIR',
      'FANOUT_TEST_KAFKA_BROKERS',
      'FANOUT_BENCH_SECONDS',
      'FANOUT_LOAD_EDGE_URL',
      'FANOUT_LOAD_K6',
    ]) {
      assert.ok(reads.has(name), `${name} is read by the tooling`);
    }
  });

  it('leaves every tooling variable that is not a setting to the tooling', () => {
    const collisions: string[] = [];
    for (const [name, where] of toolingEnvReads()) {
      if (settings.has(name) || formerNamesReadWithWarning.has(name)) continue;
      if (!isReservedEnv(name)) collisions.push(`${name} (${where.join(', ')})`);
      // And the loader really starts with it set.
      else loadConfig({ env: { ...brokers, [name]: 'x' } });
    }
    assert.deepEqual(collisions, [], 'tooling variables the services would read as settings');
  });

  it('names no setting with a tooling prefix', () => {
    const clashing = configFields
      .map((field) => field.env)
      .filter((name) => toolingEnvPrefixes.some((prefix) => name.startsWith(prefix)));
    assert.deepEqual(clashing, []);
  });

  it('ignores the former names of the local broker variables for one more release', () => {
    for (const name of formerToolingEnvNames) {
      assert.ok(isReservedEnv(name), name);
      loadConfig({ env: { ...brokers, [name]: '0' } });
    }
  });

  it('still refuses an unknown setting next to the tooling variables', () => {
    assert.throws(
      () =>
        loadConfig({
          env: { ...brokers, FANOUT_LOCAL_KAFKA_CDS: '0', FANOUT_KAFKA_CDSS: '0' },
        }),
      /FANOUT_KAFKA_CDSS: unknown setting/,
    );
  });
});
