import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME, queueConnection } from '../../src/queue/connection.js';
import { readHistory } from '../../src/evolve/history.js';
import { hasStackTrace, ROOT, runCli, runCliAsync, startCli, tempDir } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const TINY = join(ROOT, 'configs/tiny.yaml');
const EVOLVE = join(ROOT, 'test/fixtures/evolve/tiny-evolve.yaml');
// Six short trials (20 steps, an evaluation and a checkpoint every 10).
const GRID = ['--grid', 'optimizer.name=lion,adamw,adafactor', '--grid', 'train.seed=0,1', ...['train.steps=20', 'train.evalEvery=10', 'checkpoint.everySteps=10'].flatMap((s) => ['--set', s])];
let redis: RedisServer;
const temps: Array<{ cleanup: () => void }> = [];
const workers: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  // When beforeAll could not start redis-server, its error is the one to report, not a TypeError here.
  if (redis !== undefined) await redis.dispose();
  temps.forEach((t) => t.cleanup());
});

function newDir(): string {
  const t = tempDir('queue-');
  temps.push(t);
  return t.path;
}

/**
 * Starts `lion-train worker` and resolves once it is taking jobs; its log is collected. A killed worker's
 * job goes back to the queue `lockSeconds` to twice that after the kill.
 */
async function startWorker(runsRoot: string, lockSeconds = 15): Promise<{ child: ChildProcess; log: () => string }> {
  const { child } = startCli(['worker', '--queue', redis.url, '--runs-root', runsRoot, '--lock-seconds', String(lockSeconds)]);
  workers.push(child);
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setInterval(() => {
      if (/worker on redis:\/\/127\.0\.0\.1/.test(log)) {
        clearInterval(timer);
        resolveReady();
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`worker exited: ${log}`));
      }
    }, 50);
  });
  return { child, log: () => log };
}

const finals = (sweepDir: string) =>
  Object.fromEntries(
    readdirSync(sweepDir)
      .filter((d) => existsSync(join(sweepDir, d, 'summary.json')))
      .map((d) => [d, JSON.parse(readFileSync(join(sweepDir, d, 'summary.json'), 'utf8')).final]),
  );

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('work queue on a real Redis', { timeout: 400_000 }, () => {
  it('rejects a job whose payload fails validation, with the reason, and never runs it', async () => {
    const root = newDir();
    const worker = await startWorker(root);
    const connection = queueConnection(redis.url);
    const queue = new Queue(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    await events.waitUntilReady();
    try {
      const bad = await queue.add('trial', { kind: 'trial', sweep: '../../etc', trial: 'x', config: {} }, { jobId: 'bad-1', attempts: 3 });
      await expect(bad.waitUntilFinished(events)).rejects.toThrow(/invalid job payload: sweep must be a plain name/);
      const badConfig = await queue.add('candidate', { kind: 'candidate', timeLimitMs: null, config: { model: { name: 'mlp' }, data: { name: 'nope' } } }, { jobId: 'bad-2', attempts: 3 });
      await expect(badConfig.waitUntilFinished(events)).rejects.toThrow(/invalid job payload: config\.data/);
      expect((await queue.getJob('bad-2'))!.attemptsMade).toBe(1);
      expect(worker.log()).not.toMatch(/^candidate bad-2: /m);
    } finally {
      worker.child.kill('SIGTERM');
      await events.close();
      await queue.close();
    }
  });

  it('a sweep of 6 trials over 2 workers equals the same sweep run locally', async () => {
    const root = newDir();
    const local = runCli(['sweep', TINY, ...GRID, '--dir', join(root, 'local'), '--jobs', '2'], { timeoutMs: 300_000 });
    expect(local.code, local.stderr).toBe(0);
    const [a, b] = [await startWorker(root), await startWorker(root)];
    const queued = await runCliAsync(['sweep', TINY, ...GRID, '--dir', join(root, 'queued'), '--queue', redis.url]);
    expect(queued.code, queued.stderr).toBe(0);
    expect(finals(join(root, 'queued'))).toEqual(finals(join(root, 'local')));
    expect(Object.keys(finals(join(root, 'queued')))).toHaveLength(6);
    // Both workers took trials.
    expect(a.log()).toMatch(/trial queued\/.*: completed/);
    expect(b.log()).toMatch(/trial queued\/.*: completed/);
    // Started again with every trial done: nothing to run, exit 0, no stack trace (it once crashed here after a
    // Redis restart: BullMQ closing a connection that was still connecting emitted an error with no listener).
    for (let i = 0; i < 3; i++) {
      const again = await runCliAsync(['sweep', TINY, ...GRID, '--dir', join(root, 'queued'), '--queue', redis.url]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('6 already completed, 0 to run');
      expect(hasStackTrace(again.stderr), again.stderr).toBe(false);
    }
    for (const w of [a, b]) w.child.kill('SIGTERM');
  });

  it('a worker killed mid-trial: another takes the trial up from its checkpoint and ends where an uninterrupted trial ends', async () => {
    const root = newDir();
    const long = ['--set', 'train.steps=300', '--set', 'checkpoint.everySteps=20', '--grid', 'train.seed=0,1'];
    const local = runCli(['sweep', TINY, ...long, '--dir', join(root, 'local')], { timeoutMs: 300_000 });
    expect(local.code, local.stderr).toBe(0);
    const first = await startWorker(root, 5);
    const controller = runCliAsync(['sweep', TINY, ...long, '--dir', join(root, 'shared'), '--queue', redis.url]);
    await waitFor(() => readdirSync(root).includes('shared') && readdirSync(join(root, 'shared')).some((t) => existsSync(join(root, 'shared', t, 'checkpoints')) && readdirSync(join(root, 'shared', t, 'checkpoints')).some((c) => /^step-\d+$/.test(c))), 'a checkpoint');
    first.child.kill('SIGKILL');
    const second = await startWorker(root, 5);
    const result = await controller;
    expect(result.code, result.stderr).toBe(0);
    expect(second.log()).toMatch(/resuming from its checkpoint/);
    expect(finals(join(root, 'shared'))).toEqual(finals(join(root, 'local')));
    second.child.kill('SIGTERM');
  });

  it('a controller killed and started again re-attaches, and Redis restarting mid-sweep loses nothing', async () => {
    const root = newDir();
    const worker = await startWorker(root);
    const args = ['sweep', TINY, ...GRID, '--dir', join(root, 'sweep'), '--queue', redis.url];
    const first = startCli(args);
    await waitFor(() => /trial sweep\/.*: completed/.test(worker.log()), 'a finished trial');
    first.child.kill('SIGKILL');
    await first.done;
    await redis.stop();
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();
    const again = await runCliAsync(args);
    expect(again.code, again.stderr).toBe(0);
    expect(Object.keys(finals(join(root, 'sweep')))).toHaveLength(6);
    // Every trial was trained once.
    const starts = worker.log().match(/^trial sweep\/\S+: starting$/gm) ?? [];
    expect(new Set(starts).size).toBe(starts.length);
    expect(starts).toHaveLength(6);
    worker.child.kill('SIGTERM');
  });

  it('evolve over 2 workers: every candidate recorded once, the seed scored as a local run scores it', async () => {
    const root = newDir();
    const budget = ['--set', 'evolve.budget.candidates=10', '--set', 'evolve.funnel=[]'];
    const local = runCli(['evolve', EVOLVE, '--dir', join(root, 'local'), ...budget, '--set', 'evolve.budget.candidates=1'], { timeoutMs: 300_000 });
    expect(local.code, local.stderr).toBe(0);
    const [a, b] = [await startWorker(root), await startWorker(root)];
    const queued = await runCliAsync(['evolve', EVOLVE, '--dir', join(root, 'queued'), '--queue', redis.url, '--jobs', '2', ...budget]);
    expect(queued.code, queued.stderr).toBe(0);
    const history = readHistory(join(root, 'queued', 'history.jsonl'));
    expect(history.map((r) => r.id).sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    const seedLocal = readHistory(join(root, 'local', 'history.jsonl'))[0].fitness.proxy;
    expect(history.find((r) => r.id === 0)!.fitness.proxy).toBe(seedLocal);
    expect(queued.stdout + queued.stderr).not.toContain('s3cret');
    for (const w of [a, b]) w.child.kill('SIGTERM');
  });
});
