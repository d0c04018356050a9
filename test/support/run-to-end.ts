/**
 * Runs a command to its end for a test (a tool script, `runc`): resolves
 * with its standard output, rejects with the command line and the end of
 * what it wrote to standard error when it fails.
 */
import { spawn } from 'node:child_process';

export function runToEnd(
  command: string,
  args: readonly string[],
  options: { readonly cwd?: string; readonly name?: string; readonly tailChars?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(out);
      else {
        const line = `${options.name ?? command} ${args.join(' ')}`;
        reject(new Error(`${line} failed (${code}):\n${err.slice(-(options.tailChars ?? 4000))}`));
      }
    });
  });
}
