// @ts-check
/**
 * The browser bundle of @fanout/client: one ESM file built with esbuild from
 * the compiled package (`tsc -b` first), for `platform: 'browser'`, so any
 * Node.js-only import fails the build. Returns the code, its size minified
 * and gzipped, and the bare imports left in it (none expected).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @param {{ minify?: boolean, entry?: 'index' | 'proto' }} [options]
 * @returns {Promise<{ code: string, bytes: number, gzipBytes: number, inputs: string[] }>}
 */
export async function buildBrowserBundle(options = {}) {
  const result = await build({
    entryPoints: [join(packageRoot, 'dist', `${options.entry ?? 'index'}.js`)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild wrote nothing');
  return {
    code: output.text,
    bytes: output.contents.byteLength,
    gzipBytes: gzipSync(output.contents).byteLength,
    inputs: Object.keys(result.metafile.inputs),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const entry of /** @type {const} */ (['index', 'proto'])) {
    const bundle = await buildBrowserBundle({ entry });
    console.log(
      `@fanout/client${entry === 'index' ? '' : '/proto'}: ${bundle.bytes} bytes minified, ${bundle.gzipBytes} bytes gzipped`,
    );
  }
}
