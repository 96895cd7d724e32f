/**
 * Runs trials as child processes (`bin/lion-train train <config> --set … --set output.dir=…`), at most
 * `jobs` at a time. Each child writes its run directory as any training run does and its output to
 * <sweep-dir>/logs/<trial>.log. A failed trial is reported and the others go on.
 *
 * Signals: children run in their own process group, so a Ctrl-C reaches them once, forwarded from
 * here: each finishes its step, checkpoints and exits 130; no new trial starts. A second Ctrl-C kills
 * them. A re-run resumes them from their last checkpoint. A controller that dies (kill -9) closes each
 * child's IPC channel; the children then checkpoint and stop the same way, so none runs on as an orphan.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { makeDirectory } from '../atomic-write.js';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunStatus } from '../telemetry/summary.js';
import { readSummary } from '../telemetry/run-reader.js';
import type { Trial } from './grid.js';
import { readInputText } from '../files/input-file.js';

export const BIN = fileURLToPath(new URL('../../bin/lion-train', import.meta.url));

/** Set in a trial's environment: stop (checkpoint, exit 130) when the controller's IPC channel closes. */
export const STOP_ON_DISCONNECT = 'LION_TRAIN_STOP_ON_DISCONNECT';

export interface TrialJob {
  trial: Trial;
  /** The trial's run directory. */
  dir: string;
  /** Arguments after `lion-train`. */
  args: string[];
  log: string;
}

export interface TrialOutcome {
  job: TrialJob;
  /** The run's status from its summary.json, or failed when it wrote none. */
  status: RunStatus;
  exitCode: number;
  seconds: number;
  /** The child's last line of error output when it did not complete. */
  message: string;
}

export interface RunTrialsOptions {
  jobs: number;
  onStart?: (job: TrialJob) => void;
  onFinish?: (outcome: TrialOutcome) => void;
}

export interface TrialRunner {
  done: Promise<TrialOutcome[]>;
  /** Forwards a signal to running children and starts no new trial; called again, kills them. */
  stop: (signal: NodeJS.Signals) => void;
}

export function runTrials(jobs: readonly TrialJob[], options: RunTrialsOptions): TrialRunner {
  const queue = [...jobs];
  const running = new Set<ChildProcess>();
  const outcomes: TrialOutcome[] = [];
  let stopped = false;
  let resolveDone!: (outcomes: TrialOutcome[]) => void;
  const done = new Promise<TrialOutcome[]>((resolve) => (resolveDone = resolve));

  const launch = () => {
    while (!stopped && running.size < options.jobs && queue.length > 0) start(queue.shift()!);
    if (running.size === 0 && (stopped || queue.length === 0)) resolveDone(outcomes);
  };

  const start = (job: TrialJob) => {
    makeDirectory(dirname(job.log));
    const fd = openSync(job.log, 'w');
    const began = performance.now();
    options.onStart?.(job);
    // The IPC channel is how a trial learns that this controller died (even by kill -9): it closes, and
    // the trial checkpoints and stops instead of running on as an orphan.
    const child = spawn(process.execPath, [BIN, ...job.args], { stdio: ['ignore', fd, fd, 'ipc'], detached: true, env: { ...process.env, [STOP_ON_DISCONNECT]: '1' } });
    closeSync(fd);
    running.add(child);
    let finished = false;
    const finish = (exitCode: number, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      running.delete(child);
      const outcome = outcomeOf(job, exitCode, (performance.now() - began) / 1000, stopped, spawnError);
      outcomes.push(outcome);
      options.onFinish?.(outcome);
      launch();
    };
    child.on('error', (error) => finish(-1, error));
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 : -1)));
  };

  const stop = (signal: NodeJS.Signals) => {
    // A second stop does not wait for checkpoints: the children are killed.
    const send = stopped ? 'SIGKILL' : signal;
    stopped = true;
    for (const child of running) {
      try {
        child.kill(send);
      } catch {
        // Already gone.
      }
    }
    launch();
  };

  launch();
  return { done, stop };
}

/** What became of a trial, from the exit code the CLI promises (0, 1, 130, …) and the run's summary. */
function outcomeOf(job: TrialJob, exitCode: number, seconds: number, stopped: boolean, spawnError?: Error): TrialOutcome {
  let recorded: RunStatus | undefined;
  try {
    recorded = readSummary(job.dir).status;
  } catch {
    // No summary: the child failed before training (or could not start).
  }
  let status: RunStatus;
  if (exitCode === 0 && recorded === 'completed') status = 'completed';
  else if (exitCode === 130) status = 'interrupted';
  else if (exitCode === 1 && (recorded === 'diverged' || recorded === 'failed')) status = recorded;
  else status = stopped ? 'interrupted' : 'failed';
  if (status === 'completed') return { job, status, exitCode, seconds, message: '' };
  const message = spawnError ? spawnError.message : stopped && status === 'interrupted' && exitCode !== 130 ? 'killed' : lastErrorLine(job.log, exitCode);
  return { job, status, exitCode, seconds, message };
}

function lastErrorLine(log: string, exitCode: number): string {
  try {
    const lines = readInputText(log).split('\n').map((l) => l.trim()).filter(Boolean);
    const error = [...lines].reverse().find((l) => l.startsWith('lion-train:')) ?? lines[lines.length - 1];
    if (error) return error.replace(/^lion-train: /, '');
  } catch {
    // No log.
  }
  return `exit code ${exitCode}`;
}
