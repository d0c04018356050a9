// @ts-check
/* global document, TextEncoder */
/**
 * The demo page's "Live resource" panel: follows a state channel that a
 * bridge publishes from an upstream JSON API (`client.state(channel)`) and
 * its status channel (`client.subscribe(statusChannel, { rewind: 1 })`, the
 * current health first). It shows the document as a table that updates
 * (the cells a change touched are marked), the last patches received with
 * their operations and their size next to the whole document's, and the
 * upstream's status.
 */

/** How many patches the panel lists. */
const patchesShown = 8;
const encoder = new TextEncoder();

/** @param {unknown} value */
const bytesOf = (value) => encoder.encode(JSON.stringify(value) ?? '').byteLength;

/** @param {unknown} value */
const cellText = (value) =>
  typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);

/** @param {unknown} value @returns {value is Record<string, unknown>} */
const isRecord = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The document as rows: an array of objects is one row per item (its
 * members the columns), an object one row per member.
 * @param {unknown} document
 * @returns {{ columns: string[], rows: { key: string, cells: Record<string, unknown> }[] }}
 */
function tableOf(document) {
  if (Array.isArray(document)) {
    /** @type {string[]} */
    const columns = [];
    const rows = document.map((item, index) => {
      /** @type {Record<string, unknown>} */
      const cells = isRecord(item) ? item : { value: item };
      for (const column of Object.keys(cells)) if (!columns.includes(column)) columns.push(column);
      const first = columns[0] === undefined ? undefined : cells[columns[0]];
      return { key: typeof first === 'string' ? first : String(index), cells };
    });
    return { columns, rows };
  }
  if (isRecord(document)) {
    return {
      columns: ['key', 'value'],
      rows: Object.entries(document).map(([key, value]) => ({ key, cells: { key, value } })),
    };
  }
  return document === undefined
    ? { columns: [], rows: [] }
    : { columns: ['value'], rows: [{ key: '', cells: { value: document } }] };
}

/**
 * One line per operation, shortened.
 * @param {import('../src/state-channel.js').StatePatchBody} patch
 */
function describePatch(patch) {
  switch (patch.delta) {
    case 'json-patch':
      return patch.ops
        .map((op) => `${op.op} ${op.path}${'value' in op ? ` ${JSON.stringify(op.value)}` : ''}`)
        .join('; ');
    case 'merge-patch':
      return `merge ${JSON.stringify(patch.patch)}`;
    case 'full':
      return 'the whole document';
  }
}

/** @param {import('../src/state-channel.js').StatePatchBody} patch */
function patchBytes(patch) {
  switch (patch.delta) {
    case 'json-patch':
      return bytesOf(patch.ops);
    case 'merge-patch':
      return bytesOf(patch.patch);
    case 'full':
      return bytesOf(patch.document);
  }
}

/**
 * @param {import('../src/fanout-client.js').FanoutClient} client
 * @param {{ channel: string, statusChannel?: string, url?: string }} resource
 * @param {(id: string) => HTMLElement} byId
 */
export function followLiveResource(client, resource, byId) {
  const statusChannel = resource.statusChannel ?? `${resource.channel}.status`;
  byId('resource-panel').hidden = false;
  byId('resource-channel').textContent = `${resource.channel} (status: ${statusChannel})`;
  const link = /** @type {HTMLAnchorElement} */ (byId('resource-url'));
  link.textContent = resource.url ?? '–';
  if (resource.url !== undefined) link.href = resource.url;

  let updates = 0;
  let patches = 0;

  /**
   * @param {unknown} value
   * @param {unknown} previous
   */
  function render(value, previous) {
    const { columns, rows } = tableOf(value);
    const before = new Map(tableOf(previous).rows.map((row) => [row.key, row.cells]));
    const head = document.createElement('tr');
    for (const column of columns) {
      const cell = document.createElement('th');
      cell.textContent = column;
      head.append(cell);
    }
    byId('resource-head').replaceChildren(head);
    byId('resource-rows').replaceChildren(
      ...rows.map((row) => {
        const line = document.createElement('tr');
        line.dataset['key'] = row.key;
        const old = before.get(row.key);
        for (const column of columns) {
          const cell = document.createElement('td');
          cell.dataset['column'] = column;
          cell.textContent = cellText(row.cells[column]);
          if (old !== undefined && cellText(old[column]) !== cell.textContent) {
            cell.className = 'changed';
          }
          line.append(cell);
        }
        return line;
      }),
    );
    byId('resource-size').textContent = value === undefined ? 'none' : `${bytesOf(value)} B`;
  }

  const state = client.state(resource.channel, {
    onUpdate: (update) => {
      if (update.type === 'refused') {
        byId('resource-detail').textContent = `change refused: ${update.reason}`;
        return;
      }
      updates += 1;
      byId('resource-updates').textContent = String(updates);
      byId('resource-position').textContent = update.position;
      render(update.value, update.type === 'change' ? update.previous : undefined);
      const item = document.createElement('li');
      if (update.type === 'snapshot') {
        item.textContent = `${update.position}  snapshot${update.reset ? ' (reset)' : ''}  ${
          update.exists ? `${bytesOf(update.value)} B` : 'no document yet'
        }`;
      } else {
        patches += 1;
        const size = patchBytes(update.patch);
        const whole = bytesOf(update.value);
        item.dataset['patch'] = String(patches);
        const ops = update.patch.delta === 'json-patch' ? `${update.patch.ops.length} ops, ` : '';
        item.textContent = `${update.position}  ${ops}${size} B of a ${whole} B document  ${describePatch(update.patch)}`;
      }
      const list = byId('resource-patches');
      list.prepend(item);
      while (list.children.length > patchesShown) list.lastElementChild?.remove();
    },
    onError: (error) => {
      byId('resource-detail').textContent = `${error.code}: ${error.message}`;
    },
  });

  const status = client.subscribe(statusChannel, {
    rewind: 1,
    onEvent: (event) => {
      const data = /** @type {Record<string, unknown>} */ (isRecord(event.data) ? event.data : {});
      const element = byId('resource-status');
      element.textContent = String(data['status'] ?? 'unknown');
      element.dataset['status'] = String(data['status'] ?? 'unknown');
      const code = typeof data['code'] === 'string' ? `${data['code']}: ${data['message']}` : '';
      byId('resource-status-detail').textContent = [
        code,
        `since ${data['at']}`,
        data['lastChangeAt'] ? `last change ${data['lastChangeAt']}` : '',
      ]
        .filter((part) => part !== '')
        .join(', ');
    },
    onError: (error) => {
      byId('resource-status-detail').textContent = `${error.code}: ${error.message}`;
    },
  });

  return {
    state,
    status,
    get patches() {
      return patches;
    },
  };
}
