/**
 * The live-resource demo in a real Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser is downloaded), wired as `npm start` wires it:
 * the demo upstream (deploy/local/demo-upstream.mjs, tickers that change
 * every 500 ms), a bridge process polling its `/tickers` into the state
 * channel `demo.tickers` through an ingest, an edge process, and the demo
 * page's "Live resource" panel. The page must show the upstream's latest
 * state: after patches arrived, the upstream is paused and its `/tickers`
 * fetched directly, and the table must come to equal it; then one more
 * change must arrive as a patch. Saves a screenshot under test/output/.
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
  startBridgeProcess,
  startEdgeProcess,
  startIngest,
  stopOwnKafka,
  testKafka,
  type BridgeProcess,
  type EdgeProcess,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';
import {
  chromiumMissing,
  launchTestChromium,
  type TestChromium,
} from '../support/test-chromium.js';

const resourceChannel = 'demo.tickers';

interface Ticker {
  readonly symbol: string;
  readonly price: number;
  readonly change: number;
  readonly volume: number;
  readonly updatedAt: string;
}

interface DemoUpstream {
  readonly url: string;
  tick(): void;
  pause(): void;
  close(): Promise<void>;
}
interface DemoUpstreamModule {
  startDemoUpstream(options: { tickMs?: number }): Promise<DemoUpstream>;
}

interface DemoServer {
  readonly url: string;
  close(): Promise<void>;
}
interface DemoServerModule {
  startDemoServer(options: {
    edge: string;
    ingest: string;
    resource: { channel: string; statusChannel: string; url: string };
  }): Promise<DemoServer>;
}

async function importModule<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(repoRoot, path)).href)) as T;
}

/** The rows as the panel renders them: strings as they are, other values as JSON. */
function expectedRows(tickers: readonly Ticker[]): string[][] {
  return tickers.map((ticker) =>
    [ticker.symbol, ticker.price, ticker.change, ticker.volume, ticker.updatedAt].map((value) =>
      typeof value === 'string' ? value : JSON.stringify(value),
    ),
  );
}

const shownRows = `[...document.querySelectorAll('#resource-rows tr')].map((row) =>
  ['symbol', 'price', 'change', 'volume', 'updatedAt'].map(
    (column) => row.querySelector('td[data-column="' + column + '"]')?.textContent ?? '',
  ),
)`;

describe('live-resource demo', { skip: chromiumMissing }, () => {
  let kafka: TestKafka;
  let topic: string;
  let ingest: IngestHarness;
  let edge: EdgeProcess;
  let upstream: DemoUpstream;
  let bridge: BridgeProcess;
  let demo: DemoServer;
  let browser: TestChromium | undefined;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'live-demo', partitions: 2 });
    // The page's origin is only known once it listens: allow any origin.
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 2,
      env: { FANOUT_INGEST_CORS_ORIGINS: '*' },
    });
    edge = await startEdgeProcess({ brokers: kafka.brokers, topic });
    const upstreamModule = await importModule<DemoUpstreamModule>('deploy/local/demo-upstream.mjs');
    upstream = await upstreamModule.startDemoUpstream({ tickMs: 500 });
    bridge = await startBridgeProcess({
      config: {
        bridge: {
          origins: [{ origin: upstream.url, allowPrivate: true }],
          resources: [
            {
              channel: resourceChannel,
              url: `${upstream.url}/tickers`,
              intervalMs: 1000,
              arrayKey: '/symbol',
            },
          ],
          host: '127.0.0.1',
          port: 0,
          ingestAddress: `127.0.0.1:${ingest.app.grpcPort}`,
        },
      },
    });
    const demoModule = await importModule<DemoServerModule>('services/client/demo/demo-server.mjs');
    demo = await demoModule.startDemoServer({
      edge: edge.httpBase,
      ingest: ingest.httpBase,
      resource: {
        channel: resourceChannel,
        statusChannel: `${resourceChannel}.status`,
        url: `${upstream.url}/tickers`,
      },
    });
    browser = await launchTestChromium();
  });

  after(async () => {
    await browser?.close();
    await demo.close();
    await bridge.kill('SIGTERM');
    await upstream.close();
    await edge.kill('SIGTERM');
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  function patchesReceived(page: Page): Promise<number> {
    return page.evaluate<number>('window.fanoutDemo.resource.patches');
  }

  async function upstreamTickers(): Promise<Ticker[]> {
    const response = await fetch(`${upstream.url}/tickers`);
    assert.equal(response.status, 200);
    return (await response.json()) as Ticker[];
  }

  /** Waits (bounded) until the panel's table shows `tickers`; fails with what it shows. */
  async function showsTickers(page: Page, tickers: readonly Ticker[]): Promise<void> {
    const expected = JSON.stringify(expectedRows(tickers));
    try {
      await page.waitForFunction(
        `JSON.stringify(${shownRows}) === ${JSON.stringify(expected)}`,
        undefined,
        {
          timeout: 30_000,
        },
      );
    } catch (error) {
      assert.deepEqual(await page.evaluate(shownRows), expectedRows(tickers), String(error));
    }
  }

  it('shows the upstream tickers live through the bridge, patch by patch', async () => {
    assert.ok(browser);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${demo.url}?channel=demo.live.${randomBytes(3).toString('hex')}`);
    await page.waitForSelector('#resource-panel:not([hidden])', { timeout: 30_000 });
    // The upstream's health from the status channel.
    await page.waitForSelector('#resource-status[data-status="ok"]', { timeout: 60_000 });
    // Live: changes of the upstream arrive as patches after the snapshot.
    await page.waitForFunction('window.fanoutDemo.resource.patches >= 2', undefined, {
      timeout: 60_000,
    });

    // The upstream holds still: the page must reach exactly what it serves.
    upstream.pause();
    const latest = await upstreamTickers();
    assert.equal(latest.length, 20);
    await showsTickers(page, latest);

    // One more change, after everything: it arrives as a patch.
    const before = await patchesReceived(page);
    upstream.tick();
    const changed = await upstreamTickers();
    assert.notDeepEqual(changed, latest);
    await showsTickers(page, changed);
    assert.ok((await patchesReceived(page)) > before, 'the change came as a patch');
    assert.ok(
      (await page.locator('#resource-rows td.changed').count()) > 0,
      'the cells the change touched are marked',
    );
    const lastPatch = (await page.textContent('#resource-patches li:first-child')) ?? '';
    const sizes = /(\d+) ops, (\d+) B of a (\d+) B document/.exec(lastPatch);
    assert.ok(sizes, `the patch line names its size: ${lastPatch}`);
    assert.ok(Number(sizes[2]) < Number(sizes[3]), 'a patch is smaller than the document');
    assert.equal(
      Number(sizes[3]),
      Buffer.byteLength(JSON.stringify(changed)),
      'the document size is the upstream body',
    );
    assert.match((await page.textContent('#resource-position')) ?? '', /^[A-Za-z0-9_-]+:\d+:\d+$/);
    assert.deepEqual(errors, []);

    const output = join(repoRoot, 'test', 'output');
    await mkdir(output, { recursive: true });
    const screenshot = join(output, 'live-resource-demo.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);
  });
});
