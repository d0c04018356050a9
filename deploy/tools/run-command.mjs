/**
 * Runs a tool's build or install step (`go install`, `go build`, `pip`, ...)
 * with its output captured: resolves with its standard output, and on
 * failure rejects with the command line and the last lines of what it wrote
 * to both streams, in the order it wrote them.
 */
import { spawn } from 'node:child_process';

/**
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, tailLines?: number }} [options]
 * @returns {Promise<string>} standard output
 */
export function runCommand(command, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */
    const out = [];
    /** @type {Buffer[]} */
    const both = [];
    child.stdout.on('data', (/** @type {Buffer} */ chunk) => {
      out.push(chunk);
      both.push(chunk);
    });
    child.stderr.on('data', (/** @type {Buffer} */ chunk) => both.push(chunk));
    child.once('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) {
        resolvePromise(Buffer.concat(out).toString('utf8'));
        return;
      }
      const text = Buffer.concat(both)
        .toString('utf8')
        .trim()
        .split('\n')
        .slice(-(options.tailLines ?? 30))
        .join('\n');
      reject(
        new Error(
          `${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`}):\n${text}`,
        ),
      );
    });
  });
}
