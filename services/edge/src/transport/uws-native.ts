/**
 * The edge runs only on uWebSockets.js's native binary.
 *
 * The npm build we depend on (`@trufflesuite/uws-js-unofficial`, aliased as
 * `uWebSockets.js`) silently falls back to a pure-JavaScript server when its
 * native addon cannot be loaded for this platform/Node ABI, or when
 * `UWS_USE_FALLBACK` is set. That fallback has none of the C++ fan-out
 * (topics, corked writes) the edge is designed around, so we refuse it.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import uWS from 'uWebSockets.js';

export type Uws = typeof uWS;

/** Why the native binary is not in use, or `undefined` when it is. */
export interface UwsNativeStatus {
  readonly native: boolean;
  /** The binary file the package looks for on this platform and Node ABI. */
  readonly binary: string;
  /** Present when `native` is false: a sentence a person can act on. */
  readonly problem?: string;
}

const require = createRequire(import.meta.url);

function expectedBinaryPath(): string {
  const entry = require.resolve('uWebSockets.js');
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return join(dirname(entry), '..', 'binaries', file);
}

function isNativeFunction(value: unknown): boolean {
  return (
    typeof value === 'function' && Function.prototype.toString.call(value).includes('[native code]')
  );
}

/** Inspects the loaded uWebSockets.js module without side effects. */
export function uwsNativeStatus(module: Uws = uWS, env = process.env): UwsNativeStatus {
  const binary = expectedBinaryPath();
  const flag = env.UWS_USE_FALLBACK;
  if (flag !== undefined && flag !== '' && flag !== '0' && flag.toLowerCase() !== 'false') {
    return {
      native: false,
      binary,
      problem: `UWS_USE_FALLBACK=${flag} forces the pure-JavaScript fallback; unset it`,
    };
  }
  if (isNativeFunction(module.App)) return { native: true, binary };
  let reason = 'the module did not export the native App';
  try {
    require(binary);
  } catch (error) {
    reason =
      error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
  }
  return {
    native: false,
    binary,
    problem:
      `the native binary ${binary} could not be loaded (${reason}); ` +
      `uWebSockets.js fell back to its slow pure-JavaScript server. ` +
      `The edge needs Node.js 20 (ABI 115) on linux x64/arm64 with glibc >= 2.36; ` +
      `this process is Node.js ${process.versions.node} (ABI ${process.versions.modules}) ` +
      `on ${process.platform}-${process.arch}`,
  };
}

/** Returns the native module, or throws with a message that says how to fix it. */
export function requireNativeUws(module: Uws = uWS, env = process.env): Uws {
  const status = uwsNativeStatus(module, env);
  if (!status.native) {
    throw new Error(`fanout edge refuses to start: ${status.problem ?? 'uWS is not native'}`);
  }
  return module;
}
