import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as portable from './portable.js';

/** Packages the browser-safe entry point may import. */
const allowedPackages = [/^protobufjs\/minimal(\.js)?$/, /^fast-json-patch$/];

/** Every module the file imports, following relative imports (compiled JavaScript). */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = source.matchAll(
      /(?:^|\n)\s*(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    );
    for (const match of specifiers) {
      const specifier = match[1] ?? match[2] ?? '';
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else packages.add(specifier);
    }
  }
  return { files, packages };
}

describe('@fanout/shared/portable', () => {
  it('imports no Node.js built-in and no server-side package', () => {
    const entry = fileURLToPath(new URL('./portable.js', import.meta.url));
    const { files, packages } = importGraph(entry);
    assert.ok(files.size > 3, 'the import graph was followed');
    for (const specifier of packages) {
      assert.ok(
        allowedPackages.some((allowed) => allowed.test(specifier)),
        `portable code imports ${specifier}`,
      );
    }
  });

  it('has a core that imports no package at all (no protobuf codecs)', () => {
    const entry = fileURLToPath(new URL('./portable-core.js', import.meta.url));
    const { files, packages } = importGraph(entry);
    assert.ok(files.size > 3, 'the import graph was followed');
    assert.deepEqual([...packages], []);
  });

  it('exports the error catalog and close codes', () => {
    assert.equal(typeof portable.errorSpec, 'function');
    assert.equal(typeof portable.actionForCloseCode, 'function');
    assert.equal(portable.CloseCode.draining, 4200);
    assert.equal(new portable.FanoutError('internal').code, 'internal');
  });
});
