/**
 * Paths into the repository, from the compiled `test/dist/support/` files.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The broker script both the fixture and `npm run kafka` use. */
export const localKafkaScript = join(repoRoot, 'deploy', 'kafka', 'local-kafka.mjs');

/** The Kafka version pinned in `deploy/kafka/pom.xml`. */
export function pinnedKafkaVersion(): string {
  const pom = join(repoRoot, 'deploy', 'kafka', 'pom.xml');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no <kafka.version> in ${pom}`);
  return match[1];
}
