/**
 * Debian's Chromium for browser tests, driven by playwright-core (no browser
 * is downloaded): a headless persistent context on a fresh profile, removed
 * on close. Tests skip with `chromiumMissing` where it is not installed.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

/** A skip reason when there is no Chromium, else false. */
export const chromiumMissing: string | false = existsSync(chromiumPath)
  ? false
  : `no ${chromiumPath}`;

export interface TestChromium {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

export async function launchTestChromium(): Promise<TestChromium> {
  const profile = await mkdtemp(join(tmpdir(), 'fanout-chromium-'));
  // A fresh profile (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
