/**
 * Membership from a JSON file, `{"members":[{"id","url"}]}`, re-read when it
 * changes: for hosts outside Kubernetes managed by configuration tools, and
 * for test harnesses that add and remove edges. Write the file atomically
 * (a new file renamed over it); a file that does not parse is reported and
 * the last list kept.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  MemberReporter,
  type Member,
  type MembershipErrorHandler,
  type MembershipListener,
  type MembershipSource,
} from './membership-source.js';

export interface FileMembershipOptions {
  readonly path: string;
  /** Re-read at least this often, in case a change notification is missed. */
  readonly pollIntervalMs: number;
  readonly onError?: MembershipErrorHandler;
}

/** Parses the file's text; throws naming what is wrong. */
export function parseMembersFile(text: string): Member[] {
  const parsed = JSON.parse(text) as unknown;
  const list = (parsed as { members?: unknown } | null)?.members;
  if (!Array.isArray(list)) throw new Error('the members file must be {"members":[{"id","url"}]}');
  return list.map((entry: unknown, index) => {
    const { id, url } = (entry ?? {}) as { id?: unknown; url?: unknown };
    if (
      typeof id !== 'string' ||
      id === '' ||
      typeof url !== 'string' ||
      !/^https?:\/\//.test(url)
    ) {
      throw new Error(
        `members[${index}] must be {"id": "<non-empty>", "url": "http(s)://host:port"}`,
      );
    }
    return { id, url };
  });
}

export class FileMembership implements MembershipSource {
  readonly kind = 'file';
  readonly #options: FileMembershipOptions;
  readonly #reporter = new MemberReporter();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> = Promise.resolve();

  constructor(options: FileMembershipOptions) {
    this.#options = options;
  }

  async #read(): Promise<readonly Member[]> {
    return this.#reporter.report(parseMembersFile(await readFile(this.#options.path, 'utf8')));
  }

  #refresh(): void {
    // One read at a time, in order.
    this.#reading = this.#reading.then(async () => {
      if (this.#reporter.closed) return;
      try {
        await this.#read();
      } catch (error) {
        this.#options.onError?.(error);
      }
    });
  }

  async start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#reporter.attach(listener);
    const first = await this.#read();
    // Watch the directory: an atomic rename replaces the file's inode.
    const name = basename(this.#options.path);
    try {
      this.#watcher = watch(dirname(this.#options.path), (_event, changed) => {
        if (changed === null || changed === name) this.#refresh();
      });
      this.#watcher.on('error', (error) => this.#options.onError?.(error));
    } catch (error) {
      this.#options.onError?.(error);
    }
    this.#timer = setInterval(() => {
      this.#refresh();
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
    return first;
  }

  async close(): Promise<void> {
    this.#reporter.close();
    this.#watcher?.close();
    if (this.#timer) clearInterval(this.#timer);
    await this.#reading;
  }
}
