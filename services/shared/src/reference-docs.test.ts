import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generatedReferences, referenceDir } from './docs-generate.js';

describe('generated reference docs', () => {
  for (const { file, render } of generatedReferences) {
    it(`docs/reference/${file} matches the code (run npm run docs:generate)`, () => {
      assert.equal(readFileSync(join(referenceDir, file), 'utf8'), render());
    });
  }
});
