/**
 * Small self-contained SVG charts for the benchmark results: a line chart
 * (one line per series over shared x values) and a grouped bar chart. Each
 * chart carries a title and a caption line (command, machine, date).
 */

export interface Series {
  readonly name: string;
  /** One value per x (or per group); NaN leaves a gap. */
  readonly values: readonly number[];
}

export interface ChartText {
  readonly title: string;
  readonly yLabel: string;
  /** Lines under the chart: command, machine, date. */
  readonly caption: readonly string[];
}

const palette = ['#1f6feb', '#d1242f', '#8250df', '#1a7f37', '#bf8700'];
const width = 720;
const plotLeft = 90;
const plotRight = 560;
const plotTop = 50;
const plotBottom = 300;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Rounds up to 1, 2 or 5 × 10^n. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(value >= 1e7 ? 0 : 1)} M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(0)} k`;
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(value >= 10 ? 1 : 2);
}

function frame(text: ChartText, yMax: number, body: string, legend: readonly string[]): string {
  const height = plotBottom + 60 + text.caption.length * 16;
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const y = plotBottom - f * (plotBottom - plotTop);
      return `<line x1="${plotLeft}" x2="${plotRight}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${plotLeft - 8}" y="${y + 4}" text-anchor="end">${escape(formatNumber(f * yMax))}</text>`;
    })
    .join('');
  const legendItems = legend
    .map(
      (name, i) =>
        `<rect x="${plotRight + 20}" y="${plotTop + i * 22}" width="14" height="14" fill="${palette[i % palette.length] ?? '#000'}"/><text x="${plotRight + 40}" y="${plotTop + i * 22 + 12}">${escape(name)}</text>`,
    )
    .join('');
  const caption = text.caption
    .map(
      (line, i) =>
        `<text x="10" y="${plotBottom + 55 + i * 16}" font-size="11" fill="#555">${escape(line)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" font-size="15" font-weight="bold">${escape(text.title)}</text>
<text x="16" y="${(plotTop + plotBottom) / 2}" transform="rotate(-90 16 ${(plotTop + plotBottom) / 2})" text-anchor="middle">${escape(text.yLabel)}</text>
${ticks}
<line x1="${plotLeft}" x2="${plotRight}" y1="${plotBottom}" y2="${plotBottom}" stroke="#333"/>
${body}
${legendItems}
${caption}
</svg>
`;
}

/** One line per series over `xs` (evenly spaced, labelled). */
export function lineChart(
  text: ChartText,
  xs: readonly string[],
  series: readonly Series[],
  xLabel: string,
): string {
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.values.filter(Number.isFinite))));
  const step = xs.length > 1 ? (plotRight - plotLeft - 40) / (xs.length - 1) : 0;
  const xAt = (i: number): number => plotLeft + 20 + i * step;
  const yAt = (v: number): number => plotBottom - (v / yMax) * (plotBottom - plotTop);
  const labels = xs
    .map(
      (x, i) =>
        `<text x="${xAt(i)}" y="${plotBottom + 18}" text-anchor="middle">${escape(x)}</text>`,
    )
    .join('');
  const lines = series
    .map((s, si) => {
      const color = palette[si % palette.length] ?? '#000';
      const points = s.values
        .map((v, i) => (Number.isFinite(v) ? `${xAt(i)},${yAt(v)}` : ''))
        .filter((p) => p !== '');
      const dots = s.values
        .map((v, i) =>
          Number.isFinite(v)
            ? `<circle cx="${xAt(i)}" cy="${yAt(v)}" r="3.5" fill="${color}"><title>${escape(`${s.name}: ${formatNumber(v)}`)}</title></circle>`
            : '',
        )
        .join('');
      return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>${dots}`;
    })
    .join('');
  const axis = `<text x="${(plotLeft + plotRight) / 2}" y="${plotBottom + 36}" text-anchor="middle">${escape(xLabel)}</text>`;
  return frame(
    text,
    yMax,
    labels + lines + axis,
    series.map((s) => s.name),
  );
}

/** Groups along x, one bar per series in each group, values printed on the bars. */
export function barChart(
  text: ChartText,
  groups: readonly string[],
  series: readonly Series[],
): string {
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.values.filter(Number.isFinite))));
  const groupWidth = (plotRight - plotLeft) / Math.max(1, groups.length);
  const barWidth = Math.min(40, (groupWidth - 20) / Math.max(1, series.length));
  const yAt = (v: number): number => plotBottom - (v / yMax) * (plotBottom - plotTop);
  let body = '';
  groups.forEach((group, gi) => {
    const groupLeft = plotLeft + gi * groupWidth + (groupWidth - barWidth * series.length) / 2;
    body += `<text x="${plotLeft + (gi + 0.5) * groupWidth}" y="${plotBottom + 18}" text-anchor="middle">${escape(group)}</text>`;
    series.forEach((s, si) => {
      const value = s.values[gi] ?? Number.NaN;
      const x = groupLeft + si * barWidth;
      const color = palette[si % palette.length] ?? '#000';
      if (!Number.isFinite(value)) {
        body += `<text x="${x + barWidth / 2}" y="${plotBottom - 4}" text-anchor="middle" font-size="10" fill="#888">n/a</text>`;
        return;
      }
      body += `<rect x="${x + 1}" y="${yAt(value)}" width="${barWidth - 2}" height="${plotBottom - yAt(value)}" fill="${color}"><title>${escape(`${s.name}: ${formatNumber(value)}`)}</title></rect>`;
      body += `<text x="${x + barWidth / 2}" y="${yAt(value) - 4}" text-anchor="middle" font-size="10">${escape(formatNumber(value))}</text>`;
    });
  });
  return frame(
    text,
    yMax,
    body,
    series.map((s) => s.name),
  );
}
