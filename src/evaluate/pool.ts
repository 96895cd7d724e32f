/**
 * Evaluators for searches: `jobs` long-lived trainers that candidates are handed to as they come. With one
 * job the trainer runs in this thread (no copy of the config, fully deterministic); with more, each runs
 * in a worker thread of its own (wasm in Node is single-threaded, so threads are how a search uses cores).
 * A thread that dies fails the candidate it held and is replaced; the search goes on.
 */
import type { Worker } from 'node:worker_threads';
import type { RunConfig } from '../config/types.generated.js';
import { spawnThread } from '../train/workers/pool.js';
import type { EvaluateReply, EvaluateRequest } from './messages.js';
import { type ProxyOutcome, ProxyTrainer } from './proxy.js';

/** Something that trains a resolved config and says how it went: in process, on threads, or (later) on a queue. */
export interface Evaluator {
  /** Candidates that can run at once. */
  readonly jobs: number;
  /**
   * Trains `config`; resolves with the outcome whatever the candidate does. `key` names the work
   * (`c12-<hash>`, `proxy-lion`) for evaluators that keep results by name (the queue).
   * @throws Error only when the evaluator itself cannot go on (its dataset cannot be loaded).
   */
  evaluate(config: RunConfig, timeLimitMs: number | null, key?: string): Promise<ProxyOutcome>;
  close(): Promise<void>;
}

/** Evaluates in this thread, one candidate at a time. */
export class InProcessEvaluator implements Evaluator {
  readonly jobs = 1;
  private readonly trainer = new ProxyTrainer();
  private queue: Promise<unknown> = Promise.resolve();

  evaluate(config: RunConfig, timeLimitMs: number | null): Promise<ProxyOutcome> {
    const run = this.queue.then(() => this.trainer.evaluate(config, { timeLimitMs }));
    this.queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {}
}

interface Pending {
  request: EvaluateRequest;
  resolve: (outcome: ProxyOutcome) => void;
  reject: (error: Error) => void;
}

/** Evaluates on `jobs` worker threads, each keeping its own datasets loaded. */
export class ThreadEvaluator implements Evaluator {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly waiting: Pending[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly jobs: number, private readonly entry = new URL(import.meta.url.endsWith('.ts') ? './thread.ts' : './thread.js', import.meta.url)) {
    for (let i = 0; i < jobs; i++) this.idle.push(this.spawn());
  }

  evaluate(config: RunConfig, timeLimitMs: number | null): Promise<ProxyOutcome> {
    if (this.closed) return Promise.reject(new Error('the evaluator is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ request: { id: this.nextId++, config, timeLimitMs }, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const worker = this.idle.pop()!;
      const pending = this.waiting.shift()!;
      this.busy.set(worker, pending);
      worker.postMessage(pending.request);
    }
  }

  private spawn(): Worker {
    const worker = spawnThread(this.entry, null);
    worker.on('message', (reply: EvaluateReply) => {
      const pending = this.busy.get(worker);
      if (!pending || pending.request.id !== reply.id) return;
      this.busy.delete(worker);
      this.idle.push(worker);
      if ('fatal' in reply) pending.reject(new Error(reply.fatal));
      else pending.resolve(reply.outcome);
      this.dispatch();
    });
    let gone = false;
    const lost = (why: string) => {
      if (gone) return;
      gone = true;
      const pending = this.busy.get(worker);
      this.busy.delete(worker);
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
      if (this.closed) return;
      pending?.resolve({ status: 'failed', metrics: {}, steps: 0, wallMs: 0, reason: `evaluator thread ${why}` });
      this.idle.push(this.spawn());
      this.dispatch();
    };
    worker.on('error', (error) => lost(`failed: ${error.message.split('\n')[0]}`));
    worker.on('exit', (code) => lost(`exited (code ${code})`));
    return worker;
  }
}

/** One evaluator for `jobs` candidates at a time. */
export function createEvaluator(jobs: number): Evaluator {
  if (!Number.isInteger(jobs) || jobs < 1) throw new RangeError(`jobs must be an integer ≥ 1, got ${jobs}`);
  return jobs === 1 ? new InProcessEvaluator() : new ThreadEvaluator(jobs);
}
