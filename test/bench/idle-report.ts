/**
 * The idle-connections section of `docs/benchmarks/results.md`: memory per
 * connection for every target side by side, then what each measurement
 * spread over which processes.
 */
import type { IdleMeasurement } from './idle-connections.js';

/** One idle count of one target: measured, or why it was not run. */
export type IdleResult = { readonly connections: number; readonly load: number } & (
  | { readonly skipped: string; readonly measured?: undefined }
  | { readonly skipped?: undefined; readonly measured: IdleMeasurement }
);

export interface IdleTargetResults {
  readonly target: string;
  readonly label: string;
  readonly idle?: readonly IdleResult[];
}

const num = (v: number): string =>
  Number.isFinite(v) ? v.toLocaleString('en', { maximumFractionDigits: 0 }) : '–';
const kib = (bytes: number | undefined): string =>
  bytes === undefined || !Number.isFinite(bytes) ? '–' : `${(bytes / 1024).toFixed(2)} KiB`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Label of a count's group in the chart: the count and its server processes. */
export function idleGroupLabel(count: number, targets: readonly IdleTargetResults[]): string {
  const processes = targets
    .map((t) => t.idle?.find((i) => i.connections === count)?.measured?.serverProcesses)
    .find((p) => p !== undefined);
  return `${num(count)} connections${processes === undefined ? '' : `\n${processes} server process${processes === 1 ? '' : 'es'} per target`}`;
}

/** Markdown lines of the section (without its heading). */
export function idleSection(
  counts: readonly number[],
  targets: readonly IdleTargetResults[],
): string[] {
  const shown = targets.filter((t) => t.idle !== undefined);
  const find = (t: IdleTargetResults, count: number): IdleResult | undefined =>
    t.idle?.find((i) => i.connections === count);
  const fanout = shown.find((t) => t.target === 'fanout');
  const peers = shown.filter((t) => t.target !== 'fanout');
  const lines = [
    "Every connection completes a subscribe (one channel per 10 connections, `subscribed` answered) before it counts; memory per connection is the RSS growth of all server processes of the target added up ÷ the connections open when it was read (each further connection's cost, without the first connections' fixed costs, is in the table below). A count above one process’s open-file limit is spread over several server processes (each its own port, all reading the same topic) and several client processes with source addresses of their own in 127.0.B.x; see [README.md](README.md#idle-connections).",
    '',
    `| connections | server processes | ${shown.map((t) => t.label).join(' | ')} | ${peers.map((p) => `fanout ÷ ${p.target}`).join(' | ')} | open (failed) | load |`,
    `| ---: | ---: | ${shown.map(() => '---:').join(' | ')} | ${peers.map(() => '---:').join(' | ')} | ---: | ---: |`,
  ];
  const notes: string[] = [];
  for (const count of counts) {
    const rows = shown.map((t) => find(t, count));
    const skipped = rows.find((r) => r?.skipped !== undefined)?.skipped;
    if (skipped !== undefined && rows.every((r) => r?.measured === undefined)) {
      lines.push(
        `| ${num(count)} | not run: ${skipped} | ${shown.map(() => '').join(' | ')} | ${peers.map(() => '').join(' | ')} | | |`,
      );
      continue;
    }
    const processes = [...new Set(rows.map((r) => r?.measured?.serverProcesses ?? '–'))].join(
      ' / ',
    );
    const f = fanout === undefined ? undefined : find(fanout, count)?.measured;
    const ratio = peers
      .map((peer) => {
        const n = find(peer, count)?.measured;
        return f !== undefined && n !== undefined && n.bytesPerConnection > 0
          ? `${(f.bytesPerConnection / n.bytesPerConnection).toFixed(2)} ×`
          : '–';
      })
      .join(' | ');
    lines.push(
      `| ${num(count)} | ${processes} | ${rows.map((r) => (r?.skipped !== undefined ? `not run: ${r.skipped}` : kib(r?.measured?.bytesPerConnection))).join(' | ')} | ${ratio} | ${rows.map((r) => (r?.measured === undefined ? '–' : `${num(r.measured.open)} (${num(r.measured.failed)})`)).join(' / ')} | ${rows.map((r) => r?.load ?? '–').join(' / ')} |`,
    );
    shown.forEach((t, i) => {
      const m = rows[i]?.measured;
      if (m === undefined) return;
      const reasons = Object.entries(m.failures)
        .sort((a, b) => b[1] - a[1])
        .map(([reason, times]) => `${reason} × ${num(times)}`)
        .join(', ');
      if (reasons !== '' || m.stoppedEarly !== undefined) {
        notes.push(
          `- ${t.label}, ${num(count)}: ${[m.stoppedEarly, reasons === '' ? undefined : `failed: ${reasons}`].filter((x) => x !== undefined).join('; ')}.`,
        );
      }
    });
  }
  lines.push('', ...(notes.length > 0 ? [...notes, ''] : []));
  lines.push(
    "Each further connection: the servers' RSS growth from the half-way reading (the first half of every client's connections open and settled) to the end ÷ the connections opened in between. The costs the first connections pay once — a young generation grown to its working size, code compiled, buffers allocated — fall out of it; the growth above includes them.",
    '',
    `| connections | ${shown.map((t) => t.label).join(' | ')} | ${peers.map((p) => `fanout ÷ ${p.target}`).join(' | ')} | open at half-way |`,
    `| ---: | ${shown.map(() => '---:').join(' | ')} | ${peers.map(() => '---:').join(' | ')} | ---: |`,
  );
  for (const count of counts) {
    const measured = shown.map((t) => find(t, count)?.measured);
    if (measured.every((m) => m === undefined)) continue;
    const f = fanout === undefined ? undefined : find(fanout, count)?.measured;
    const ratio = peers
      .map((peer) => {
        const n = find(peer, count)?.measured;
        return f !== undefined &&
          n !== undefined &&
          n.marginalBytesPerConnection > 0 &&
          Number.isFinite(f.marginalBytesPerConnection)
          ? `${(f.marginalBytesPerConnection / n.marginalBytesPerConnection).toFixed(2)} ×`
          : '–';
      })
      .join(' | ');
    lines.push(
      `| ${num(count)} | ${measured.map((m) => kib(m?.marginalBytesPerConnection)).join(' | ')} | ${ratio} | ${measured.map((m) => (m === undefined ? '–' : num(m.halfConnections))).join(' / ')} |`,
    );
  }
  lines.push(
    '',
    'Per server process (RSS growth ÷ its connections), and the client side:',
    '',
    '| target | connections | per server process: KiB per connection (connections) | client processes | source addresses | client RSS | time to open |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: |',
  );
  for (const t of shown) {
    for (const count of counts) {
      const m = find(t, count)?.measured;
      if (m === undefined) continue;
      lines.push(
        `| ${t.label} | ${num(count)} | ${m.perProcess.map((p) => `${kib(p.bytesPerConnection)} (${num(p.connections)})`).join(' · ')} | ${m.clientProcesses} | ${m.sourceAddresses} | ${mib(m.clientRssBytes)} | ${m.openSeconds.toFixed(1)} s |`,
      );
    }
  }
  lines.push('');
  return lines;
}
