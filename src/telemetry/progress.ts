/** Progress display: a cli-progress bar on a terminal, plain lines on a non-TTY (CI), or nothing. */
import cliProgress from 'cli-progress';

export interface ProgressFields {
  loss?: number;
  accuracy?: number;
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
 * `note` lines (evaluations, checkpoints) go to `log` in plain and none modes, and above the bar in
 * bar mode; a quiet caller passes a `log` that drops them.
 */
export function createProgress(mode: ProgressMode, plainEvery: number, log: (line: string) => void, stream: NodeJS.WriteStream = process.stderr): Progress {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'plain') : mode;
  if (resolved === 'bar') return new BarProgress(stream);
  if (resolved === 'plain') return new PlainProgress(plainEvery, stream, log);
  return { start() {}, update() {}, note: log, stop() {} };
}

const fmt = {
  num: (x: number | undefined, digits = 4) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits)),
  pct: (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`),
  lr: (x: number) => x.toExponential(2),
  rate: (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)),
};

class PlainProgress implements Progress {
  private total = 0;
  private started = 0;
  private startStep = 0;
  constructor(
    private readonly every: number,
    private readonly stream: NodeJS.WriteStream,
    private readonly log: (line: string) => void,
  ) {}

  start(totalSteps: number, startStep: number): void {
    this.total = totalSteps;
    this.startStep = startStep;
    this.started = performance.now();
  }

  update(step: number, f: ProgressFields): void {
    if (step % this.every !== 0 && step !== this.total) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const done = step - this.startStep;
    const eta = done > 0 ? ((this.total - step) * elapsed) / done : NaN;
    const parts = [`step ${step}/${this.total}`, `loss ${fmt.num(f.loss)}`];
    if (f.accuracy !== undefined) parts.push(`acc ${fmt.pct(f.accuracy)}`);
    parts.push(`lr ${fmt.lr(f.lr)}`, `${fmt.rate(f.examplesPerSecond)} ex/s`, `eta ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '-'}`);
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
  private lastDraw = 0;
  constructor(stream: NodeJS.WriteStream) {
    this.bars = new cliProgress.MultiBar(
      {
        stream,
        format: ' {bar} {value}/{total} | loss {loss} | acc {accuracy} | lr {lr} | {rate} ex/s | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  start(totalSteps: number, startStep: number): void {
    this.bar = this.bars.create(totalSteps, startStep, { loss: '-', accuracy: '-', lr: '-', rate: '-' });
  }

  update(step: number, f: ProgressFields): void {
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.bar?.update(step, { loss: fmt.num(f.loss), accuracy: fmt.pct(f.accuracy), lr: fmt.lr(f.lr), rate: fmt.rate(f.examplesPerSecond) });
  }

  note(line: string): void {
    this.bars.log(`${line}\n`);
  }

  stop(): void {
    this.bars.stop();
  }
}
