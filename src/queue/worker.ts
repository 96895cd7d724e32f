/**
 * `lion-train worker --queue URL`: a long-lived process that takes candidate and trial jobs from the queue
 * and trains them with the same evaluators as local runs: candidates on {@link createEvaluator} (datasets
 * kept loaded between jobs, `--jobs` threads), trials with `train()` into `<runs-root>/<sweep>/<trial>/`.
 *
 * Faults: a worker killed mid-job leaves the job's lock to expire; BullMQ then moves the job back to the
 * queue (a stalled job) and another worker takes it. A trial taken up again resumes from its checkpoint
 * when the runs root is shared storage (the same folder for every worker), and restarts otherwise.
 * A payload that fails validation fails its job at once with the reason and is never run.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { type Job, Worker } from 'bullmq';
import { writeFileAtomic } from '../atomic-write.js';
import { configToYaml } from '../config/index.js';
import { createEvaluator } from '../evaluate/pool.js';
import { QUEUE_NAME, queueConnection, redactQueueUrl } from './connection.js';
import { checkedPayload, type CandidateResult, type TrialResult } from './payload.js';

export interface QueueWorkerOptions {
  url: string;
  /** Jobs at once (threads for candidates). */
  jobs: number;
  /** Where trials write their run directories. */
  runsRoot: string;
  log: (line: string) => void;
  /** Seconds a job's lock lasts without renewal: how long a killed worker's job waits before another takes it. */
  lockSeconds?: number;
}

export interface RunningWorker {
  /** Stops taking jobs, waits for the running ones, disconnects. */
  close(): Promise<void>;
}

/**
 * Starts a worker on the queue at `options.url`.
 * @throws UserError (exit 2) for a bad queue URL.
 */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<RunningWorker> {
  const connection = queueConnection(options.url);
  const evaluator = createEvaluator(options.jobs);
  const host = hostname();
  const lockDuration = (options.lockSeconds ?? 30) * 1000;
  const runsRoot = resolve(options.runsRoot);

  const process = async (job: Job): Promise<CandidateResult | TrialResult> => {
    const payload = checkedPayload(job.data);
    const started = performance.now();
    if (payload.kind === 'candidate') {
      const outcome = await evaluator.evaluate(payload.config, payload.timeLimitMs);
      options.log(`candidate ${job.id}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}`);
      return { kind: 'candidate', outcome, worker: { host, backend: payload.config.train.backend, wallMs: performance.now() - started } };
    }
    const runDir = join(runsRoot, payload.sweep, payload.trial);
    const configFile = join(runsRoot, payload.sweep, 'configs', `${payload.trial}.yaml`);
    mkdirSync(join(runsRoot, payload.sweep, 'configs'), { recursive: true });
    writeFileAtomic(configFile, configToYaml({ ...payload.config, output: { ...payload.config.output, dir: runDir } }));
    const hasCheckpoint = existsSync(join(runDir, 'checkpoints')) && readdirSync(join(runDir, 'checkpoints')).some((d) => /^step-\d+$/.test(d));
    options.log(`trial ${payload.sweep}/${payload.trial}: ${hasCheckpoint ? 'resuming from its checkpoint' : 'starting'}`);
    const { summary } = await train(configFile, { resume: hasCheckpoint ? runDir : undefined, overwrite: !hasCheckpoint && existsSync(runDir), progress: 'none', log: () => {}, resolvedConfig: true });
    options.log(`trial ${payload.sweep}/${payload.trial}: ${summary.status} at step ${summary.steps}`);
    return { kind: 'trial', summary, runDir, worker: { host, backend: summary.backend, wallMs: performance.now() - started } };
  };

  // TensorFlow.js loads here, before the first job: a job's lock is renewed from the event loop, which a
  // multi-second module load would block.
  const { train } = await import('../train/train.js');
  const worker = new Worker(QUEUE_NAME, process, { connection, concurrency: options.jobs, lockDuration, stalledInterval: lockDuration, maxStalledCount: 3 });
  worker.on('failed', (job, error) => options.log(`job ${job?.id ?? '?'} failed: ${error.message.split('\n')[0]}`));
  worker.on('error', (error) => options.log(`queue: ${error.message.split('\n')[0]}`));
  await worker.waitUntilReady();
  options.log(`worker on ${redactQueueUrl(options.url)}: ${options.jobs} job${options.jobs === 1 ? '' : 's'} at once, runs in ${runsRoot}`);
  return {
    close: async () => {
      await worker.close();
      await evaluator.close();
    },
  };
}
