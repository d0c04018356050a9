// @ts-check
/* global document, window, URLSearchParams */
/**
 * The demo page: subscribes to one channel with @fanout/client, lists the
 * events live with the connection status and the last position, and
 * publishes through ingest's HTTP endpoint. The channel comes from `?channel=`
 * (default `demo`); the page keeps the position in sessionStorage, so a
 * reload resumes too. When the server names a live resource (`npm start`
 * does: `demo.tickers`, polled by a bridge) or the page gets `?resource=`,
 * the "Live resource" panel follows it on the same client (live-resource.js).
 */
import { createClient } from './fanout-client.js';
import { followLiveResource } from './live-resource.js';

const config = await (await fetch('./config.json')).json();
const params = new URLSearchParams(window.location.search);
const channel = params.get('channel') ?? 'demo';
const byId = (/** @type {string} */ id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element;
};
byId('channel').textContent = channel;

const storageKey = `fanout-demo-position:${channel}`;
const stored = window.sessionStorage.getItem(storageKey) ?? undefined;
const client = createClient({ url: config.edge });
client.onStatus((status) => {
  const element = byId('status');
  element.textContent = status.state;
  element.dataset['state'] = status.state;
  byId('transport').textContent =
    `${status.transport ?? ''}${status.error ? ` (${status.error.code}: ${status.error.message})` : ''}`;
});

/** @type {string[]} */
const received = [];
const subscription = client.subscribe(channel, {
  ...(stored === undefined ? {} : { since: stored }),
  onEvent: (event) => {
    received.push(event.id);
    const item = document.createElement('li');
    item.dataset['id'] = event.id;
    item.textContent = `${event.position}  ${event.type}  ${JSON.stringify(event.data)}`;
    byId('events').append(item);
    byId('position').textContent = event.position;
    byId('count').textContent = String(received.length);
    window.sessionStorage.setItem(storageKey, event.position);
  },
  // The stored position is too old: start over with live events.
  onReset: () => {
    window.sessionStorage.removeItem(storageKey);
    byId('events').replaceChildren();
    return undefined;
  },
  onError: (error) => {
    byId('transport').textContent = `${error.code}: ${error.message}`;
  },
});

byId('publish').addEventListener('click', () => {
  const input = /** @type {HTMLInputElement} */ (byId('message'));
  void fetch(`${config.ingest}/v1/channels/${encodeURIComponent(channel)}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'demo.message', data: { text: input.value } }),
  })
    .then(async (response) => {
      const body = await response.json();
      byId('published').textContent = response.ok
        ? `published at ${body.results[0].position}`
        : `${body.error.code}: ${body.error.message}`;
    })
    .catch((/** @type {unknown} */ error) => {
      byId('published').textContent = String(error);
    });
});

const resourceChannel = params.get('resource') ?? config.resource?.channel;
const resource =
  resourceChannel === undefined || resourceChannel === ''
    ? undefined
    : followLiveResource(
        client,
        resourceChannel === config.resource?.channel
          ? config.resource
          : { channel: resourceChannel },
        byId,
      );

// For automated checks of the page.
Object.assign(window, { fanoutDemo: { client, subscription, received, resource } });
