#!/usr/bin/env node
/**
 * The edge as one ES module file (decision 050): esbuild bundles the compiled
 * edge (`services/edge/dist/main.js`) with @fanout/shared and its npm
 * dependencies into `services/edge/dist/bundle/edge.js`, so the process loads
 * one file instead of some 1,500 modules, and @platformatic/kafka's option
 * validators are compiled by ajv the first time one is called instead of all
 * of them at import time.
 *
 * Kept outside the bundle: uWebSockets.js (a native addon the edge locates and
 * checks by its own path) and pino (its transports start worker threads by
 * file name).
 *
 *   node deploy/tools/edge-bundle.mjs [--outfile services/edge/dist/bundle/edge.js]
 *
 * Run after `tsc -b` (`npm run build` runs both).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Packages the bundle leaves to `node_modules` at run time. */
export const bundleExternals = Object.freeze([
  'uWebSockets.js',
  'pino',
  'thread-stream',
  '@platformatic/wasm-utils',
]);

/** @platformatic/kafka's modules that compile ajv validators at their top level. */
const kafkaOptionsModule =
  /[\\/]@platformatic[\\/]kafka[\\/]dist[\\/]clients[\\/].+[\\/]options\.js$/;

/**
 * A module's `ajv.compile(schema)` calls made lazy: each returns a function
 * that compiles the schema on its first call, then validates with it and
 * mirrors the compiled validator's `errors` (what the package reads after a
 * failed validation). Behaviour is the same; only the time of compilation moves.
 * The lazy compilation skips checking the schema against the JSON Schema
 * meta-schema (compiling that meta-schema alone took 50–300 ms at the first
 * validator the edge calls, in its Kafka consumer's constructor): the
 * package's schemas are constants, and the unbundled build (and its tests)
 * compiles and checks every one at import.
 *
 * @param {string} source
 * @returns {{ code: string, replaced: number }}
 */
export function lazyAjvCompile(source) {
  let replaced = 0;
  const code = source.replace(/\bajv\.compile\(/g, () => {
    replaced++;
    return '__fanoutLazyCompile(ajv, ';
  });
  if (replaced === 0) return { code: source, replaced };
  const helper = `
function __fanoutLazyCompile(ajv, schema) {
  let compiled;
  const validate = function (data) {
    if (compiled === undefined) {
      // The package's schemas are constants; checking them against the JSON
      // Schema meta-schema (itself compiled for it, on the first call) is left
      // to the unbundled build, which compiles every one at import.
      const check = ajv.opts.validateSchema;
      ajv.opts.validateSchema = false;
      try {
        compiled = ajv.compile(schema);
      } finally {
        ajv.opts.validateSchema = check;
      }
    }
    const valid = compiled(data);
    validate.errors = compiled.errors;
    return valid;
  };
  validate.errors = null;
  validate.schema = schema;
  return validate;
}
`;
  return { code: `${code}\n${helper}`, replaced };
}

/** The esbuild plugin applying {@link lazyAjvCompile} to @platformatic/kafka's option modules. */
export function lazyAjvCompilePlugin() {
  return {
    name: 'fanout-lazy-ajv-compile',
    /** @param {import('esbuild').PluginBuild} build */
    setup(build) {
      build.onLoad({ filter: kafkaOptionsModule }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        const { code, replaced } = lazyAjvCompile(source);
        if (replaced === 0) {
          return {
            contents: source,
            loader: 'js',
            warnings: [{ text: `no ajv.compile( call left to defer in ${args.path}` }],
          };
        }
        return { contents: code, loader: 'js' };
      });
    },
  };
}

/**
 * Bundles the compiled edge. Returns the output file and esbuild's metafile
 * (inputs, outputs, sizes).
 *
 * @param {{ outfile?: string, entry?: string }} [options]
 */
export async function bundleEdge(options = {}) {
  const { build } = await import('esbuild');
  const outfile = options.outfile ?? join(root, 'services/edge/dist/bundle/edge.js');
  const result = await build({
    entryPoints: [options.entry ?? join(root, 'services/edge/dist/main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // Stack traces need the mappings only; without the sources the map is a
    // fraction of the size to read at start (--enable-source-maps).
    sourcesContent: false,
    external: [...bundleExternals],
    // CommonJS dependencies call require() for Node's built-ins; an ES module
    // has none, so the bundle makes one.
    banner: {
      js: "import { createRequire as __fanoutCreateRequire } from 'node:module';\nconst require = __fanoutCreateRequire(import.meta.url);",
    },
    plugins: [lazyAjvCompilePlugin()],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  return { outfile, metafile: result.metafile };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outfile: { type: 'string' } } });
  const { outfile, metafile } = await bundleEdge(
    values.outfile === undefined ? {} : { outfile: values.outfile },
  );
  const inputs = Object.keys(metafile.inputs).length;
  const bytes = Object.values(metafile.outputs).reduce(
    (sum, output) => sum + (output.bytes ?? 0),
    0,
  );
  process.stdout.write(
    `edge bundle: ${outfile} (${inputs} modules, ${(bytes / 1024 / 1024).toFixed(1)} MiB with its source map)\n`,
  );
}
