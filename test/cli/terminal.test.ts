// The progress display as a user sees it: the CLI in a pseudo-terminal at 80 and 160 columns, the screen
// read back through a terminal emulator; and the plain lines a non-terminal (CI log) gets.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/telemetry/progress.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { runInTerminal, startInTerminal, type TerminalRun } from '../helpers/terminal.js';

const work = tempDir('lion-train-terminal-');
afterAll(() => work.cleanup());

const STEPS = 150;
const tiny = (out: string, ...extra: string[]) => ['train', 'configs/tiny.yaml', ...[`train.steps=${STEPS}`, 'train.evalEvery=50', 'checkpoint.everySteps=50', `output.dir=${join(work.path, out)}`, ...extra].flatMap((s) => ['--set', s])];

/** The bar's lines: those that show `step/total`. */
const barLines = (run: TerminalRun, total: number) => run.lines.filter((l) => new RegExp(`(^| )\\d+/${total} `).test(l));
const index = (run: TerminalRun, pattern: RegExp) => run.lines.findIndex((l) => pattern.test(l));
// Elapsed and ETA as the display writes them: 7s, 1m05s, 2h03m; never a 60 in the lower place.
const DURATION = String.raw`(\d|[1-5]\d)s|\d+m[0-5]\ds|\d+h[0-5]\dm`;

describe('progress in a terminal', () => {
  for (const cols of [80, 160]) {
    it(`at ${cols} columns: the bar ends at the last step with every field, and every line after the loop is shown`, async () => {
      const run = await runInTerminal(tiny(`tty-${cols}`), { cols });
      expect(run.code, run.lines.join('\n')).toBe(0);
      const bars = barLines(run, STEPS);
      expect(bars.length, run.lines.join('\n')).toBeGreaterThan(0);
      // The bar never wraps: every drawing of it fits the width.
      for (const line of bars) expect(line.length, line).toBeLessThan(cols);
      const last = bars[bars.length - 1];
      expect(last).toMatch(new RegExp(` ${STEPS}/${STEPS}  loss \\d\\.\\d{4}  acc \\d+\\.\\d\\d%  lr \\d\\.\\d\\de-\\d  [\\d.]+k? ex/s  (${DURATION}) elapsed  ETA 0s$`));
      if (cols === 160) expect(last).toMatch(/^ █{40} /);
      // After the loop, in order and below the finished bar: the test evaluation, the end checkpoint, the outcome.
      const bar = run.lines.lastIndexOf(last);
      const test = index(run, new RegExp(`^step ${STEPS} test: loss`));
      const checkpoint = index(run, new RegExp(`^checkpoint step-0+${STEPS} \\(end of training\\)$`));
      const outcome = index(run, /^tiny: completed 150 steps in /);
      expect([bar < test, test < checkpoint, checkpoint < outcome], run.lines.join('\n')).toEqual([true, true, true]);
      // Lines noted while the bar runs stay on screen too.
      expect(run.lines.filter((l) => /^checkpoint step-\d+ \(every steps\)$/.test(l))).toHaveLength(2);
    });
  }

  it('Ctrl-C: the SIGINT note, the checkpoint written on the way out and the resume hint all stay on screen', async () => {
    const session = startInTerminal(tiny('interrupted', 'train.steps=100000'), { cols: 80 });
    await session.waitFor(/checkpoint step-0+50 \(every steps\)/);
    session.type('\x03');
    const run = await session.done;
    expect(run.code, run.lines.join('\n')).toBe(130);
    const text = run.lines.join('\n');
    expect(text).toMatch(/^SIGINT: finishing the current step and writing a checkpoint/m);
    expect(text).toMatch(/^checkpoint step-\d+ \(on SIGINT\)$/m);
    expect(text).toMatch(/^lion-train: interrupted by SIGINT at step \d+; resume with: /m);
    for (const line of barLines(run, 100000)) expect(line.length, line).toBeLessThan(80);
  });

  it('a language model shows its bits per character where a classifier shows accuracy', async () => {
    const settings = ['train.steps=4', 'train.evalEvery=0', 'log.everySteps=2', 'checkpoint.everySteps=null', 'train.backend=cpu', 'model.depth=1', 'model.width=32', 'model.mlpWidth=64', 'model.contextLength=16', 'data.evalWindows=8', `output.dir=${join(work.path, 'gpt')}`];
    const run = await runInTerminal(['train', 'configs/char-gpt.yaml', ...settings.flatMap((s) => ['--set', s])], { cols: 80 });
    expect(run.code, run.lines.join('\n')).toBe(0);
    const bars = barLines(run, 4);
    expect(bars[bars.length - 1]).toMatch(/ 4\/4  loss \d\.\d{4}  bpc \d\.\d{3}  lr /);
    expect(run.lines.join('\n')).not.toMatch(/acc -/);
  });
});

describe('progress without a terminal', () => {
  it('prints plain lines with elapsed time and ETA, the last at the last step', () => {
    const result = runCli(tiny('plain'));
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('step ') && l.includes(' ex/s'));
    expect(lines.length).toBe(STEPS / 10);
    for (const line of lines) expect(line).toMatch(new RegExp(`^step \\d+/${STEPS}  loss \\d\\.\\d{4}  acc [\\d.]+%  lr \\S+  \\S+ ex/s  elapsed (${DURATION})  eta (${DURATION})$`));
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^step ${STEPS}/${STEPS} .* eta 0s$`));
  });
});

describe('durations', () => {
  it('round once, so no part reads 60', () => {
    const cases: [number, string][] = [
      [0.4, '0s'],
      [9.6, '10s'],
      [59.4, '59s'],
      [59.6, '1m00s'],
      [119.5, '2m00s'],
      [125, '2m05s'],
      [3599.4, '59m59s'],
      [3599.6, '1h00m'],
      [7170, '2h00m'],
      [94_380, '26h13m'],
    ];
    for (const [seconds, text] of cases) expect(formatDuration(seconds), String(seconds)).toBe(text);
    expect(formatDuration(NaN)).toBe('-');
  });
});
