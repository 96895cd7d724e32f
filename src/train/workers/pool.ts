/**
 * The worker threads of a run: train.workers − 1 of them (the main thread computes a share too).
 * Started once per run, sent each step's micro-batches, terminated at the end, on errors and on signals.
 * A thread that throws or exits fails the step it owes (or the next one) with a WorkerFailure: never a hang.
 */
import { Worker } from 'node:worker_threads';
import type { Batch } from '../../data/dataset.js';
import { EXIT, UserError } from '../../errors.js';
import type { Model } from '../../models/model.js';
import { sharedFloats, slotOf, writeFlat, type ParamLayout } from './layout.js';
import type { StepRequest, WorkerInit, WorkerReply } from './messages.js';

/** A worker thread failed or vanished: the run ends with status failed (exit 1). */
export class WorkerFailure extends UserError {
  constructor(message: string) {
    super(message, EXIT.failed);
    this.name = 'WorkerFailure';
  }
}

export interface PoolOptions extends Omit<WorkerInit, 'index' | 'params' | 'grads'> {
  /** Threads computing each step, the main thread included (train.workers). */
  threads: number;
  /** Micro-batches per thread per step (accumulationSteps / workers). */
  share: number;
  /** The thread's module; tests swap in another. Defaults to thread.js (or thread.ts) beside this file. */
  entry?: URL;
}

/** One worker's part of a step: loss and correct count per micro-batch, in order (gradients stay in its slots). */
export interface WorkerShare {
  losses: number[];
  corrects: number[];
}

interface Waiting {
  what: string;
  resolve: (reply: WorkerReply) => void;
  reject: (error: Error) => void;
}

class Thread {
  readonly worker: Worker;
  failure: WorkerFailure | undefined;
  private waiting: Waiting | undefined;

  constructor(readonly index: number, readonly grads: Float32Array, entry: URL, init: WorkerInit, closing: () => boolean) {
    this.worker = spawnThread(entry, init);
    this.worker.on('message', (reply: WorkerReply) => this.settle((w) => w.resolve(reply)));
    this.worker.on('error', (error) => this.fail((what) => `worker thread ${index} failed ${what}: ${error.message.split('\n')[0]}`));
    this.worker.on('exit', (code) => {
      if (!closing()) this.fail((what) => `worker thread ${index} exited ${what} (exit code ${code})`);
    });
  }

  /** The next reply, or the thread's failure. One request at a time. */
  next(what: string): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { what, resolve, reject }));
  }

  private settle(action: (waiting: Waiting) => void): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) action(waiting);
  }

  private fail(message: (what: string) => string): void {
    this.failure ??= new WorkerFailure(message(this.waiting?.what ?? 'between steps'));
    const failure = this.failure;
    this.settle((w) => w.reject(failure));
  }
}

export class WorkerPool {
  private closing = false;
  private readonly threadsList: Thread[] = [];
  private readonly params: Float32Array;

  private constructor(private readonly options: PoolOptions) {
    this.params = sharedFloats(options.layout);
  }

  /** Starts threads − 1 workers and waits until each has its backend and model replica. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    const entry = options.entry ?? new URL(import.meta.url.endsWith('.ts') ? './thread.ts' : './thread.js', import.meta.url);
    const { entry: _entry, threads: _threads, share: _share, ...common } = options;
    for (let index = 1; index < options.threads; index++) {
      const grads = sharedFloats(options.layout, options.share);
      const init: WorkerInit = { ...common, index, params: pool.params.buffer as SharedArrayBuffer, grads: grads.buffer as SharedArrayBuffer };
      pool.threadsList.push(new Thread(index, grads, entry, init, () => pool.closing));
    }
    try {
      await Promise.all(pool.threadsList.map((t) => t.next('while starting')));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Threads computing each step, the main thread included. */
  get threads(): number {
    return this.options.threads;
  }

  /** Micro-batches per thread per step. */
  get share(): number {
    return this.options.share;
  }

  /** Worker threads still running (0 once close() has resolved). */
  get running(): number {
    return this.threadsList.filter((t) => t.worker.threadId !== -1).length;
  }

  /** Writes the current parameters where the workers read them (once per step, before compute). */
  publishParameters(model: Model): void {
    writeFlat(model.params, this.options.layout, this.params);
  }

  /**
   * Sends the workers their micro-batches of `step` (worker w gets `share` of them, in order, after the
   * main thread's own share) and resolves when all have written their gradients.
   */
  compute(step: number, micros: Batch[]): Promise<WorkerShare[]> {
    const { share } = this;
    if (micros.length !== share * this.threadsList.length) throw new Error(`expected ${share * this.threadsList.length} micro-batches for the workers, got ${micros.length}`);
    return Promise.all(
      this.threadsList.map(async (thread, w) => {
        const mine = micros.slice(w * share, (w + 1) * share);
        const request: StepRequest = { type: 'step', step, firstMicro: (w + 1) * share, micros: mine };
        const replied = thread.next(`at step ${step}`);
        const transfer = new Set(mine.flatMap((m) => [m.x.buffer, m.y.buffer]).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer));
        if (!thread.failure) thread.worker.postMessage(request, [...transfer]);
        const reply = await replied;
        if (reply.type !== 'done' || reply.step !== step) throw new WorkerFailure(`worker thread ${thread.index} answered ${reply.type} for step ${step}`);
        return { losses: reply.losses, corrects: reply.corrects };
      }),
    );
  }

  /** The parameter layout of the flat slots. */
  get layout(): ParamLayout {
    return this.options.layout;
  }

  /** The flat gradients worker `worker` (0-based among the workers) wrote to slot `slot` (a view of shared memory). */
  gradientSlot(worker: number, slot: number): Float32Array {
    return slotOf(this.threadsList[worker].grads, this.options.layout, slot);
  }

  /** Terminates every worker thread (idempotent). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threadsList.map((t) => t.worker.terminate()));
  }
}

/** Starts the thread module `entry`; from the TypeScript sources (vitest, tsx) it is loaded through tsx. */
export function spawnThread(entry: URL, init: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: init });
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(entry.href)}));`;
  return new Worker(code, { eval: true, workerData: init });
}
