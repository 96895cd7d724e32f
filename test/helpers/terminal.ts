// Runs bin/lion-train in a pseudo-terminal of a given size and reads back the screen, as a user sees it.
// The pty comes from script(1) (util-linux); the screen from @xterm/headless, a terminal emulator in JS.
import { spawn } from 'node:child_process';
import xterm from '@xterm/headless';
import { BIN, ROOT } from './cli.js';

export interface TerminalRun {
  code: number;
  /** Every line the terminal shows, scrollback included, a line wrapped over several rows joined back. */
  lines: string[];
  /** How many rows are continuations of a line wider than the screen. */
  wrapped: number;
}

export interface TerminalSession {
  /** Resolves once the screen shows `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Types into the terminal (`\x03` is Ctrl-C). */
  type(text: string): void;
  done: Promise<TerminalRun>;
}

const shellQuote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** Starts `lion-train …args` in a `cols` × `rows` terminal. */
export function startInTerminal(args: string[], size: { cols: number; rows?: number }): TerminalSession {
  const rows = size.rows ?? 40;
  const term = new xterm.Terminal({ cols: size.cols, rows, scrollback: 10_000, allowProposedApi: true, convertEol: false });
  // -echo: typed keys (Ctrl-C) are not echoed onto the screen being read.
  const command = `stty cols ${size.cols} rows ${rows} -echo; exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, TERM: 'xterm-256color' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let pending = Promise.resolve();
  const write = (chunk: Buffer) => {
    pending = pending.then(() => new Promise<void>((resolve) => term.write(chunk, resolve)));
  };
  child.stdout.on('data', write);
  child.stderr.on('data', write);

  const screen = () => {
    const buffer = term.buffer.active;
    const lines: string[] = [];
    let wrapped = 0;
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i)!;
      // A row the terminal wrapped continues the line above: joined back, the line reads as printed.
      if (line.isWrapped && lines.length > 0) {
        wrapped += 1;
        lines[lines.length - 1] += line.translateToString(true);
      } else lines.push(line.translateToString(true));
    }
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return { lines, wrapped };
  };

  const done = new Promise<TerminalRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      void pending.then(() => {
        resolve({ code: code ?? -1, ...screen() });
        term.dispose();
      });
    });
  });

  return {
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
          void pending.then(() => {
            if (pattern.test(screen().lines.join('\n'))) resolve();
            else if (Date.now() - started > timeoutMs) reject(new Error(`the screen never showed ${pattern}:\n${screen().lines.join('\n')}`));
            else setTimeout(poll, 50);
          });
        };
        poll();
      }),
    type: (text) => child.stdin.write(text),
    done,
  };
}

/** Runs `lion-train …args` in a terminal to the end. */
export function runInTerminal(args: string[], size: { cols: number; rows?: number }): Promise<TerminalRun> {
  const session = startInTerminal(args, size);
  return session.done;
}
