/// <reference lib="dom" />
// The report on a laptop and a desktop screen: a 20-trial sweep and a language-model run, reported by the
// CLI and opened in headless Chromium at 1280 px and 1920 px.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const dir = tempDir('lion-train-report-layout-');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SEEDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const sweepDir = join(dir.path, 'sweep');
const gptDir = join(dir.path, 'gpt');

beforeAll(async () => {
  const sweep = runCliAsync(['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.name=lion,adamw', '--grid', `train.seed=${SEEDS.join(',')}`, '--dir', sweepDir, '--jobs', '2', '--quiet', ...['train.steps=10', 'train.evalEvery=5', 'log.everySteps=5', 'checkpoint.everySteps=null'].flatMap((s) => ['--set', s])]);
  const gptSettings = ['train.steps=4', 'train.evalEvery=2', 'log.everySteps=2', 'checkpoint.everySteps=null', 'train.backend=cpu', 'model.depth=1', 'model.width=32', 'model.mlpWidth=64', 'model.contextLength=16', 'data.evalWindows=8', `output.dir=${gptDir}`];
  const gpt = runCliAsync(['train', 'configs/char-gpt.yaml', '--quiet', ...gptSettings.flatMap((s) => ['--set', s])]);
  for (const result of await Promise.all([sweep, gpt])) expect(result.code, result.stderr).toBe(0);
  for (const [paths, out] of [[[sweepDir], 'sweep-report'], [[gptDir], 'gpt-report']] as const) {
    const result = runCli(['report', ...paths, '--out', join(dir.path, out)]);
    expect(result.code, result.stderr).toBe(0);
  }
}, 600_000);
afterAll(() => dir.cleanup());

interface Layout {
  pageOverflow: number;
  tableOverflow: number;
  chartColumns: number;
  legend: { label: string; colour: string }[];
  strokes: string[];
  chartLegends: string[][];
}

async function layoutAt(browser: Browser, file: string, width: number): Promise<Layout> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  await page.goto(`file://${file}`);
  const layout = await page.evaluate(() => {
    const root = document.documentElement;
    const wrap = document.querySelector('.table-wrap')!;
    const figures = [...document.querySelectorAll('figure')];
    return {
      pageOverflow: root.scrollWidth - root.clientWidth,
      tableOverflow: wrap.scrollWidth - wrap.clientWidth,
      chartColumns: new Set(figures.map((f) => Math.round(f.getBoundingClientRect().left))).size,
      legend: [...document.querySelectorAll('.legend li')].map((li) => ({ label: li.textContent ?? '', colour: getComputedStyle(li.querySelector('.swatch')!).backgroundColor })),
      strokes: [...document.querySelectorAll('#loss-step .mark-line path')].map((p) => p.getAttribute('stroke') ?? ''),
      chartLegends: figures.map((f) => [...f.querySelectorAll('.role-legend-label text')].map((t) => t.textContent ?? '')),
    };
  });
  await page.close();
  return layout;
}

describe('the report on a laptop and a desktop screen', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });
  afterAll(async () => browser?.close());

  for (const [width, columns] of [
    [1280, 2],
    [1920, 3],
  ] as const) {
    it(`at ${width} px: nothing wider than the page, ${columns} chart columns, one legend of 20 distinct colours`, async () => {
      const layout = await layoutAt(browser, join(dir.path, 'sweep-report', 'report.html'), width);
      expect(layout.pageOverflow).toBe(0);
      // The whole final-metrics table is in view, not behind a scroll bar.
      expect(layout.tableOverflow).toBe(0);
      expect(layout.chartColumns).toBe(columns);
      const expected = ['adamw', 'lion'].flatMap((o) => SEEDS.map((s) => `optimizer.name=${o},train.seed=${s}`));
      expect(layout.legend.map((l) => l.label).sort()).toEqual(expected.sort());
      expect(new Set(layout.legend.map((l) => l.colour)).size).toBe(20);
      // Train and validation lines of 20 runs, in 20 colours; each chart's own legend names only the splits.
      expect(layout.strokes).toHaveLength(40);
      expect(new Set(layout.strokes).size).toBe(20);
      for (const labels of layout.chartLegends) expect(labels.length).toBeLessThanOrEqual(2);
    });
  }

  it('a language model gets its bits-per-character columns, in the HTML and the Markdown', async () => {
    const run = readRun(gptDir);
    const bits = run.summary.final.validation!.bitsPerChar;
    expect(bits).toBeCloseTo(run.summary.final.validation!.loss / Math.LN2, 10);
    const markdown = readFileSync(join(dir.path, 'gpt-report', 'report.md'), 'utf8').split('\n');
    const header = markdown.find((l) => l.startsWith('| run |'))!.split(' | ');
    const row = markdown.find((l) => l.startsWith('| char-gpt |'))!.split(' | ');
    const column = header.indexOf('val bits/char');
    expect(column).toBeGreaterThan(0);
    expect(Number(row[column])).toBeCloseTo(bits, 3);
    expect(header).toContain('train bits/char');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`file://${join(dir.path, 'gpt-report', 'report.html')}`);
    const headers = await page.locator('th').allTextContents();
    expect(headers).toEqual(expect.arrayContaining(['val bits/char', 'train bits/char']));
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0);
    await page.close();
  });
});
