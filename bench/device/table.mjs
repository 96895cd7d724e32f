// Prints the bench table of finished runs: node bench/device/table.mjs <run dir>…
// ms/step, examples/s and GFLOP/s are the means of the last logged interval (compute.jsonl); the adapter and
// the final test accuracy come from summary.json.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const rows = [['run', 'backend', 'steps', 'ms/step', 'examples/s', 'GFLOP/s', 'test accuracy', 'adapter']];
for (const dir of process.argv.slice(2)) {
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  const compute = readFileSync(join(dir, 'compute.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const last = compute[compute.length - 1] ?? {};
  const a = summary.adapter;
  rows.push([
    basename(dir), summary.backend, String(summary.steps), last.stepTimeMs?.toFixed(1) ?? '-', last.examplesPerSecond?.toFixed(0) ?? '-',
    last.gflopsPerSecond?.toFixed(1) ?? '-', summary.final?.test?.accuracy !== undefined ? `${(100 * summary.final.test.accuracy).toFixed(2)} %` : '-',
    a ? `${a.vendor} ${a.architecture} ${a.device} (${a.driver})` : '-',
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log([line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n'));
