/**
 * `npm run docs:generate`: writes the generated reference pages.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigurationReference, renderErrorsReference } from './reference-docs.js';

/** docs/reference of the repository (this file runs from services/shared/dist). */
export const referenceDir = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'docs',
  'reference',
);

export const generatedReferences: readonly { file: string; render: () => string }[] = [
  { file: 'configuration.md', render: renderConfigurationReference },
  { file: 'errors.md', render: renderErrorsReference },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const { file, render } of generatedReferences) {
    writeFileSync(join(referenceDir, file), render());
    console.log(`wrote docs/reference/${file}`);
  }
}
