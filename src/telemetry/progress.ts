/**
 * Progress display: a cli-progress bar on a terminal, plain lines on a non-TTY (CI), or nothing.
 *
 * The bar line is built to the terminal's width on every draw: the fields a user needs (step, loss,
 * quality metric, lr, examples/s, elapsed, ETA) come first, the bar takes what is left, and only when
 * even the fields do not fit are the least needed ones dropped. Lines noted while the bar is up are
 * printed above it; lines noted after it stops (final evaluation, last checkpoint) go straight out.
 */
import cliProgress from 'cli-progress';

export interface ProgressFields {
  loss?: number;
  /** Classification runs. */
  accuracy?: number;
  /** Language-model runs: their quality metric in place of accuracy. */
  bitsPerChar?: number;
  lr: number;
  examplesPerSecond: number;
}

export interface Progress {
  start(totalSteps: number, startStep: number): void;
  /** Called every step; implementations decide how often to draw. */
  update(step: number, fields: ProgressFields): void;
  /** A line that must be seen (eval results, checkpoints), printed without breaking the bar. */
  note(line: string): void;
  stop(): void;
}

export type ProgressMode = 'auto' | 'bar' | 'plain' | 'none';

/**
 * `note` lines (evaluations, checkpoints) go to `log` in plain and none modes and after the bar has
 * stopped, and above the bar while it runs; a quiet caller passes a `log` that drops them.
 */
export function createProgress(mode: ProgressMode, plainEvery: number, log: (line: string) => void, stream: NodeJS.WriteStream = process.stderr): Progress {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'plain') : mode;
  if (resolved === 'bar') return new BarProgress(stream, log);
  if (resolved === 'plain') return new PlainProgress(plainEvery, stream, log);
  return { start() {}, update() {}, note: log, stop() {} };
}

/**
 * Seconds as a user reads them: `9s`, `59s`, `1m00s`, `12m05s`, `1h00m`, `26h13m`. Rounded once, to
 * whole seconds (whole minutes past an hour), before splitting, so no part reads 60.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

const fmt = {
  num: (x: number | undefined, digits = 4) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits)),
  pct: (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(2)}%`),
  lr: (x: number) => x.toExponential(2),
  rate: (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)),
};

/** Where a run stands, as both displays show it. */
interface Snapshot {
  step: number;
  total: number;
  fields: ProgressFields | undefined;
  elapsedSeconds: number;
  etaSeconds: number;
}

/** The fields of a progress line, most needed first; each is `label value` so a reader can tell them apart. */
function fieldTexts(s: Snapshot): { text: string; keep: number }[] {
  const f = s.fields;
  // keep: lower is dropped later when the width is short.
  const fields = [
    { text: `${s.step}/${s.total}`, keep: 0 },
    { text: `loss ${fmt.num(f?.loss)}`, keep: 1 },
  ];
  if (f?.accuracy !== undefined) fields.push({ text: `acc ${fmt.pct(f.accuracy)}`, keep: 2 });
  if (f?.bitsPerChar !== undefined) fields.push({ text: `bpc ${fmt.num(f.bitsPerChar, 3)}`, keep: 2 });
  fields.push(
    { text: `lr ${f ? fmt.lr(f.lr) : '-'}`, keep: 4 },
    { text: `${f ? fmt.rate(f.examplesPerSecond) : '-'} ex/s`, keep: 5 },
    { text: `${formatDuration(s.elapsedSeconds)} elapsed`, keep: 6 },
    { text: `ETA ${formatDuration(s.etaSeconds)}`, keep: 3 },
  );
  return fields;
}

/** The fields that fit in `width` columns, joined; the least needed are dropped first when they do not all fit. */
function fittedText(s: Snapshot, width: number): string {
  const separator = '  ';
  let fields = fieldTexts(s);
  const textWidth = () => fields.reduce((sum, f) => sum + f.text.length, 0) + separator.length * (fields.length - 1);
  while (fields.length > 1 && textWidth() > width) {
    const drop = fields.reduce((worst, f) => (f.keep > worst.keep ? f : worst));
    fields = fields.filter((f) => f !== drop);
  }
  return fields.map((f) => f.text).join(separator);
}

/**
 * One bar line no wider than `width` − 1 columns (the last column would wrap on some terminals):
 * ` ███░░░ 120/3000  loss 0.4123  acc 87.50%  lr 3.00e-4  2.1k ex/s  12s elapsed  ETA 4m48s`.
 * The bar gets the room the fields leave (at most 40 columns, none below 8). `reserve`: room kept
 * for the fields (the widest text drawn so far), so the bar does not jump as numbers change width.
 */
export function barLine(s: Snapshot, width: number, reserve = 0): { line: string; textWidth: number } {
  const text = fittedText(s, width - 2);
  const barWidth = Math.min(40, width - 1 - Math.max(text.length, reserve) - 2);
  if (barWidth < 8) return { line: ` ${text}`, textWidth: text.length };
  const filled = s.total > 0 ? Math.round((barWidth * Math.min(s.step, s.total)) / s.total) : 0;
  return { line: ` ${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)} ${text}`, textWidth: text.length };
}

/** Elapsed time since start and ETA at the mean pace of the steps taken since start. */
class Clock {
  private started = 0;
  private startStep = 0;
  total = 0;

  start(totalSteps: number, startStep: number): void {
    this.total = totalSteps;
    this.startStep = startStep;
    this.started = performance.now();
  }

  snapshot(step: number, fields: ProgressFields | undefined): Snapshot {
    const elapsedSeconds = (performance.now() - this.started) / 1000;
    const done = step - this.startStep;
    const etaSeconds = step >= this.total ? 0 : done > 0 ? ((this.total - step) * elapsedSeconds) / done : NaN;
    return { step, total: this.total, fields, elapsedSeconds, etaSeconds };
  }
}

class PlainProgress implements Progress {
  private readonly clock = new Clock();
  constructor(
    private readonly every: number,
    private readonly stream: NodeJS.WriteStream,
    private readonly log: (line: string) => void,
  ) {}

  start(totalSteps: number, startStep: number): void {
    this.clock.start(totalSteps, startStep);
  }

  update(step: number, f: ProgressFields): void {
    if (step % this.every !== 0 && step !== this.clock.total) return;
    const s = this.clock.snapshot(step, f);
    const parts = [`step ${step}/${s.total}`, `loss ${fmt.num(f.loss)}`];
    if (f.accuracy !== undefined) parts.push(`acc ${fmt.pct(f.accuracy)}`);
    if (f.bitsPerChar !== undefined) parts.push(`bpc ${fmt.num(f.bitsPerChar, 3)}`);
    parts.push(`lr ${fmt.lr(f.lr)}`, `${fmt.rate(f.examplesPerSecond)} ex/s`, `elapsed ${formatDuration(s.elapsedSeconds)}`, `eta ${formatDuration(s.etaSeconds)}`);
    this.stream.write(`${parts.join('  ')}\n`);
  }

  note(line: string): void {
    this.log(line);
  }

  stop(): void {}
}

class BarProgress implements Progress {
  // A MultiBar holding one bar: unlike SingleBar it can print log lines above the bar.
  private readonly bars: cliProgress.MultiBar;
  private bar: cliProgress.SingleBar | undefined;
  private readonly clock = new Clock();
  private step = 0;
  private fields: ProgressFields | undefined;
  private lastDraw = 0;
  private stopped = false;
  private widest = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly log: (line: string) => void,
  ) {
    this.bars = new cliProgress.MultiBar({
      stream,
      // The whole line is ours, built to the width at each draw (the terminal may be resized).
      format: () => {
        const { line, textWidth } = barLine(this.clock.snapshot(this.step, this.fields), this.stream.columns || 80, this.widest);
        this.widest = Math.max(this.widest, textWidth);
        return line;
      },
      hideCursor: true,
      fps: 5,
    });
  }

  start(totalSteps: number, startStep: number): void {
    this.clock.start(totalSteps, startStep);
    this.step = startStep;
    this.bar = this.bars.create(totalSteps, startStep);
  }

  update(step: number, fields: ProgressFields): void {
    this.step = step;
    this.fields = fields;
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.bar?.update(step);
  }

  note(line: string): void {
    if (this.stopped) this.log(line);
    else this.bars.log(`${line}\n`);
  }

  /** The last draw shows the last step taken; lines noted but not yet drawn are printed, not lost. */
  stop(): void {
    if (this.stopped || !this.bar) return;
    this.stopped = true;
    this.bar.update(this.step);
    // MultiBar.stop draws the bars but not its pending log lines: one update first flushes them.
    this.bars.update();
    this.bars.stop();
  }
}
