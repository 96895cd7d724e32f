/**
 * The controller's side of the queue for `evolve --queue`: an {@link Evaluator} whose candidates are jobs.
 * Job ids come from the search and the candidate (`evolve.<search>.<key>`), so a controller that is killed and
 * resumed adds the same ids again: BullMQ ignores an id it holds, and a job that finished meanwhile hands
 * back its stored result at once. Results are kept in Redis until the search's `close()`.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { RunConfig } from '../config/types.generated.js';
import type { Evaluator } from '../evaluate/pool.js';
import type { ProxyOutcome } from '../evaluate/proxy.js';
import { closeQueue, QUEUE_NAME, queueConnection } from './connection.js';
import type { CandidatePayload, CandidateResult } from './payload.js';

export class QueueEvaluator implements Evaluator {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly ready: Promise<unknown>;

  /**
   * @param url the Redis URL (credentials allowed; never printed).
   * @param searchId a stable id of the search (kept in its directory), prefixing every job id.
   * @param jobs candidates kept in flight at once (the workers' total concurrency is a good value).
   */
  constructor(url: string, private readonly searchId: string, readonly jobs: number) {
    const connection = queueConnection(url);
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection });
    this.ready = this.events.waitUntilReady();
  }

  async evaluate(config: RunConfig, timeLimitMs: number | null, key?: string): Promise<ProxyOutcome> {
    await this.ready;
    const payload: CandidatePayload = { kind: 'candidate', config, timeLimitMs };
    // BullMQ refuses ':' in custom ids.
    const jobId = `evolve.${this.searchId}.${key ?? `anonymous-${Date.now()}-${Math.random()}`}`;
    const job = await this.queue.add('candidate', payload, { jobId, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
    try {
      const result = (await job.waitUntilFinished(this.events)) as CandidateResult;
      return result.outcome;
    } catch (error) {
      return { status: 'failed', metrics: {}, steps: 0, wallMs: 0, reason: `job ${jobId}: ${(error as Error).message.split('\n')[0]}` };
    }
  }

  async close(): Promise<void> {
    await closeQueue(this.queue, this.events);
  }
}
