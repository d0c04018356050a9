/**
 * The browser demo in a real Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser is downloaded): the page loads, receives what
 * its button and another producer publish, the edge process is killed and a
 * new one started behind the same address, and the page resumes with no
 * event missing or repeated. Saves a screenshot under test/output/.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import {
  repoRoot,
  startEdgeProcess,
  startIngest,
  startTcpForwarder,
  stopOwnKafka,
  testKafka,
  type EdgeProcess,
  type IngestHarness,
  type TcpForwarder,
  type TestKafka,
} from '../support/index.js';
import {
  chromiumMissing,
  launchTestChromium,
  type TestChromium,
} from '../support/test-chromium.js';

interface DemoServer {
  readonly url: string;
  close(): Promise<void>;
}
interface DemoServerModule {
  startDemoServer(options: { edge: string; ingest: string }): Promise<DemoServer>;
}

describe('browser demo', { skip: chromiumMissing }, () => {
  let kafka: TestKafka;
  let topic: string;
  let ingest: IngestHarness;
  let edge: EdgeProcess;
  let front: TcpForwarder;
  let demo: DemoServer;
  let browser: TestChromium | undefined;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'browser', partitions: 3 });
    edge = await startEdgeProcess({ brokers: kafka.brokers, topic });
    front = await startTcpForwarder(edge.port);
    const module = (await import(
      pathToFileURL(join(repoRoot, 'services/client/demo/demo-server.mjs')).href
    )) as DemoServerModule;
    // The page's origin is only known once it listens: start ingest allowing any origin.
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 3,
      env: { FANOUT_INGEST_CORS_ORIGINS: '*' },
    });
    demo = await module.startDemoServer({ edge: front.url, ingest: ingest.httpBase });
    browser = await launchTestChromium();
  });

  after(async () => {
    await browser?.close();
    await demo.close();
    await front.close();
    await edge.kill('SIGTERM');
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  async function publish(channel: string, text: string): Promise<string> {
    const response = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'demo.message', data: { text } }),
    });
    const body = (await response.json()) as { results: { id: string }[] };
    return body.results[0]?.id ?? '';
  }

  async function received(page: Page, count: number): Promise<string[]> {
    await page.waitForFunction(
      `document.querySelectorAll('#events li').length >= ${count}`,
      undefined,
      {
        timeout: 60_000,
      },
    );
    const ids: unknown = await page.evaluate(
      `[...document.querySelectorAll('#events li')].map((item) => item.dataset.id ?? '')`,
    );
    return ids as string[];
  }

  it('shows published events live and resumes without a gap after the edge restarts', async () => {
    const channel = `demo.browser.${randomBytes(3).toString('hex')}`;
    assert.ok(browser);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${demo.url}?channel=${channel}`);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    // Live only after the subscription is in place.
    await page.waitForFunction(`window.fanoutDemo?.subscription.state === 'active'`, undefined, {
      timeout: 30_000,
    });

    await page.click('#publish');
    await page.waitForSelector('#published:has-text("published at")');
    const fromOthers = [await publish(channel, 'one'), await publish(channel, 'two')];
    const first = await received(page, 3);
    assert.deepEqual(first.slice(1), fromOthers);

    front.retarget(undefined);
    await edge.kill('SIGKILL');
    await page.waitForSelector('#status:not([data-state="connected"])', { timeout: 30_000 });
    const whileDown = [await publish(channel, 'three'), await publish(channel, 'four')];
    edge = await startEdgeProcess({ brokers: kafka.brokers, topic });
    front.retarget(edge.port);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 60_000 });
    const afterRestart = [await publish(channel, 'five')];

    const all = await received(page, 6);
    assert.deepEqual(
      all,
      [...first, ...whileDown, ...afterRestart],
      'no event missing or repeated',
    );
    assert.equal(new Set(all).size, all.length);
    const position = await page.textContent('#position');
    assert.match(position ?? '', /^[A-Za-z0-9_-]+:\d+:\d+$/);
    assert.deepEqual(errors, []);

    const output = join(repoRoot, 'test', 'output');
    await mkdir(output, { recursive: true });
    const screenshot = join(output, 'client-browser-demo.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);
  });
});
