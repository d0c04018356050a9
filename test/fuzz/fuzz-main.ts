/**
 * `npm run fuzz [-- --inputs N --seconds S --seed X]`: the hostile-input run
 * against a local broker, ingest and edge (loopback only). Prints its
 * figures; exits 1 on any wrong answer, crash, or lost, duplicated or
 * reordered control event.
 */
import { parseArgs } from 'node:util';
import { formatReport, runHostileInput } from './hostile-run.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '900' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const inputs = Number(values.inputs);
const seconds = Number(values.seconds);
console.log(`hostile input: ${inputs} inputs or ${seconds} s, seed ${seed}`);
const report = await runHostileInput({
  inputs,
  maxSeconds: seconds,
  seed,
  concurrency: Number(values.concurrency),
  log: (line) => {
    console.log(line);
  },
});
console.log(formatReport(report));
process.exitCode = report.failures.length === 0 ? 0 : 1;
