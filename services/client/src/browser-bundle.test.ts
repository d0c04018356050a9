import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Bundle {
  readonly code: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly inputs: readonly string[];
}
interface BundleModule {
  readonly buildBrowserBundle: (options: {
    minify?: boolean;
    entry?: 'index' | 'proto';
  }) => Promise<Bundle>;
}

const script = fileURLToPath(new URL('../scripts/browser-bundle.mjs', import.meta.url));

describe('browser bundle', () => {
  it('builds for browsers without Node.js modules or protobufjs, and stays small', async () => {
    const { buildBrowserBundle } = (await import(pathToFileURL(script).href)) as BundleModule;
    const bundle = await buildBrowserBundle({ minify: true });
    assert.doesNotMatch(bundle.code, /\bfrom\s*["'](node:|[a-z@])/, 'no import is left');
    assert.ok(!bundle.inputs.some((input) => input.includes('protobufjs')), 'no protobufjs');
    assert.ok(!bundle.inputs.some((input) => input.startsWith('node:')), 'no node: module');
    console.log(
      `@fanout/client browser bundle: ${bundle.bytes} B minified, ${bundle.gzipBytes} B gzipped`,
    );
    // State channels brought fast-json-patch (decision 041) and the state
    // model: about 7 kB gzipped over the 17 kB of events alone; live
    // resources (`client.resource()`) about 0.5 kB more.
    assert.ok(bundle.gzipBytes < 26 * 1024, `${bundle.gzipBytes} B gzipped`);
  });
});
