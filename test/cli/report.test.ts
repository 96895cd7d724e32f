// report: a sweep run as two shards in two directories (as two machines would), merged into one
// report; the HTML opened in headless Chromium. Also `lion-train runs`, which lists the same runs.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, runCliAsync, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-report-');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const OPTIMIZERS = ['lion', 'adamw', 'adafactor'];

const shard = (i: number) =>
  runCliAsync(['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.name=lion,adamw,adafactor', '--shard', `${i}/2`, '--dir', join(dir.path, `machine-${i}`, 'sweep'), '--set', 'train.steps=30', '--set', 'train.evalEvery=10', '--quiet']);

beforeAll(async () => {
  const results = await Promise.all([shard(0), shard(1)]);
  for (const result of results) expect(result.code, result.stderr).toBe(0);
});
afterAll(() => dir.cleanup());

describe('lion-train report', () => {
  const out = join(dir.path, 'report');

  it('merges the shards into report.html and report.md, one row per run', () => {
    const result = runCli(['report', join(dir.path, 'machine-0'), join(dir.path, 'machine-1'), '--out', out, '--title', 'Tiny optimizers']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/^3 runs, 9 charts: .*report\.html, .*report\.md$/);
    const markdown = readFileSync(join(out, 'report.md'), 'utf8');
    expect(markdown.split('\n')[0]).toBe('# Tiny optimizers');
    const header = markdown.split('\n').find((l) => l.startsWith('| run |'))!;
    expect(header).toContain('| test accuracy | test loss |');
    // Trial labels keep their section: optimizer.name=lion, not name=lion.
    const rows = markdown.split('\n').filter((l) => /^\| optimizer\.name=/.test(l));
    expect(rows.map((r) => r.split(' | ')[1]).sort()).toEqual([...OPTIMIZERS].sort());
    expect(rows.every((r) => r.includes(' | completed | 30 | '))).toBe(true);
  });

  it('renders every chart in headless Chromium with data points, without console errors or network', async () => {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => requests.push(request.url()));
      const url = `file://${join(out, 'report.html')}`;
      await page.goto(url);

      expect(await page.locator('figure').count()).toBe(9);
      const charts = await page.locator('figure').evaluateAll((figures) =>
        figures.map((figure) => {
          const svg = figure.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          const count = (selector: string) => figure.querySelectorAll(selector).length;
          return {
            id: figure.id,
            width: box?.width ?? 0,
            height: box?.height ?? 0,
            lines: [...figure.querySelectorAll('.mark-line path')].filter((p) => (p.getAttribute('d') ?? '').length > 10).length,
            symbols: count('.mark-symbol path'),
            bars: count('.mark-rect path'),
            legendLabels: [...figure.querySelectorAll('.role-legend-label text')].map((t) => t.textContent),
          };
        }),
      );
      expect(charts.map((c) => c.id)).toEqual(['loss-step', 'loss-elapsed', 'loss-flops', 'accuracy-step', 'accuracy-elapsed', 'accuracy-flops', 'lr-step', 'speed-step', 'optimizer-state']);
      for (const chart of charts) {
        expect(chart.width, chart.id).toBeGreaterThan(300);
        expect(chart.height, chart.id).toBeGreaterThan(100);
      }
      // Loss and accuracy: 3 runs × (train, validation) lines; 3 logged train points + 3 evaluations per run.
      // The runs' legend is the page's one legend; a chart's own legend names only the splits.
      for (const chart of charts.slice(0, 6)) {
        expect(chart.lines, chart.id).toBe(6);
        expect(chart.symbols, chart.id).toBeGreaterThanOrEqual(3 * 6);
        expect(chart.legendLabels, chart.id).toEqual(['train', 'validation']);
      }
      expect((await page.locator('.legend li').allTextContents()).sort()).toEqual(OPTIMIZERS.map((o) => `optimizer.name=${o}`).sort());
      expect(charts[6].lines).toBe(3);
      expect(charts[7].lines).toBe(3);
      expect(charts[8].bars).toBe(3);
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    } finally {
      await browser?.close();
    }
  });

  it('draws the learning rate at every step from the schedule, warmup included', () => {
    // tiny.yaml: cosine with 5 warmup steps, 30 steps here; the log keeps every 10th step.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const lr = html.slice(html.indexOf('id="lr-step"'), html.indexOf('id="speed-step"'));
    const paths = [...lr.matchAll(/aria-roledescription="line mark" d="(M[^"]+)"/g)].map((m) => m[1]);
    // One line per run, through all 30 steps (M + 29 L segments), not the 3 logged points.
    expect(paths).toHaveLength(3);
    for (const d of paths) expect(d.split('L')).toHaveLength(30);
  });
  it('inlines everything: no scripts, stylesheets or images fetched from anywhere', () => {
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html.match(/<svg /g)).toHaveLength(9);
  });
});

describe('lion-train runs', () => {
  it('lists the runs of a folder, recursing into sweep directories', () => {
    const result = runCli(['runs', dir.path]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run\s+name\s+status\s+steps\s+best\s+test accuracy\s+wall time$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['machine-0/sweep/optimizer.name=adafactor', 'machine-0/sweep/optimizer.name=lion', 'machine-1/sweep/optimizer.name=adamw']);
    expect(lines.slice(2).every((l) => /\s+tiny\s+completed\s+30\/30\s+validation\.loss \d\.\d+ @30\s+\d+\.\d\d%\s+\d+\.\d s$/.test(l))).toBe(true);
  });

  it('exits 2 when there are no runs', () => {
    const empty = join(dir.path, 'empty');
    mkdirSync(empty);
    const result = runCli(['runs', empty]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`lion-train: no runs found under ${empty}`);
  });
});
