/**
 * The controller's side of `sweep --queue`: every trial becomes a job (its resolved config), trained by
 * whichever `lion-train worker` takes it. Job ids come from the sweep directory, the trial's name and its
 * config's hash, so a controller started again re-attaches to the same jobs: finished ones hand back their
 * results at once, running ones are waited for, none is trained twice.
 *
 * Where the worker's run directory is not the controller's (no shared storage), the trial's summary.json
 * and config.yaml are written into the controller's sweep directory so the results table can be built.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { configToYaml, loadConfig } from '../config/index.js';
import { trialSets } from '../sweep/grid.js';
import type { TrialJob, TrialOutcome, TrialRunner } from '../sweep/runner.js';
import { closeQueue, QUEUE_NAME, queueConnection } from './connection.js';
import type { TrialPayload, TrialResult } from './payload.js';

export interface QueueSweep {
  dir: string;
  configFile: string;
}

/** Enqueues `jobs` and resolves with their outcomes as workers finish them. */
export function runTrialsOnQueue(url: string, sweep: QueueSweep, set: readonly string[], jobs: readonly TrialJob[], options: { onStart?: (job: TrialJob) => void; onFinish?: (outcome: TrialOutcome) => void }): TrialRunner {
  const connection = queueConnection(url);
  if (jobs.length === 0) return { done: Promise.resolve([]), stop: () => {} }; // every trial done: nothing to connect for
  const queue = new Queue(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  let stopped = false;
  let resolveStop!: () => void;
  const stoppedPromise = new Promise<void>((r) => (resolveStop = r));

  const one = async (job: TrialJob): Promise<TrialOutcome | undefined> => {
    const config = loadConfig(sweep.configFile, { set: [...set, ...trialSets(job.trial)] }).config;
    const payload: TrialPayload = { kind: 'trial', sweep: basename(sweep.dir), trial: job.trial.name, config };
    const digest = createHash('sha256').update(`${resolve(sweep.dir)}\n${JSON.stringify(config)}`).digest('hex').slice(0, 16);
    const began = performance.now();
    options.onStart?.(job);
    const added = await queue.add('trial', payload, { jobId: `sweep.${digest}.${job.trial.name}`, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
    let outcome: TrialOutcome;
    try {
      const finished = added.waitUntilFinished(events) as Promise<TrialResult>;
      const result = await Promise.race([finished, stoppedPromise.then(() => undefined)]);
      if (result === undefined) return undefined;
      const local = join(sweep.dir, job.trial.name);
      if (resolve(result.runDir) !== resolve(local)) {
        mkdirSync(local, { recursive: true });
        writeJsonAtomic(join(local, 'summary.json'), result.summary);
        if (!existsSync(join(local, 'config.yaml'))) writeFileAtomic(join(local, 'config.yaml'), configToYaml(config));
      }
      outcome = { job, status: result.summary.status, exitCode: 0, seconds: (performance.now() - began) / 1000, message: `on ${result.worker.host}` };
    } catch (error) {
      outcome = { job, status: 'failed', exitCode: 1, seconds: (performance.now() - began) / 1000, message: (error as Error).message.split('\n')[0] };
    }
    options.onFinish?.(outcome);
    return outcome;
  };

  const done = (async () => {
    await events.waitUntilReady();
    try {
      const outcomes = await Promise.all(jobs.map(one));
      return outcomes.filter((o): o is TrialOutcome => o !== undefined);
    } finally {
      await closeQueue(queue, events);
    }
  })();
  return {
    done,
    // The jobs stay on the queue for the workers; the controller stops waiting (run it again to re-attach).
    stop: () => {
      if (!stopped) {
        stopped = true;
        resolveStop();
      }
    },
  };
}
