// One writer per run directory (a lock), and a true summary on every exit path: a second process,
// a double Ctrl-C, kill -9, a full disk, a read-only file system, Ctrl-C in the final evaluation and
// a sweep controller that dies.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, hasStackTrace, runCliAsync, startCli, tempDir } from '../helpers/cli.js';
import { readJsonl } from '../../src/telemetry/jsonl.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-writer-');
afterAll(() => work.cleanup());

const LONG = ['model.hidden=[192, 192]', 'data.inputShape=[96]', 'data.trainExamples=4096', 'train.steps=100000', 'log.everySteps=10', 'checkpoint.everySteps=20'];
const train = (dir: string, ...set: string[]) => ['train', 'configs/tiny.yaml', ...['log.progress=none', ...LONG, `output.dir=${dir}`, ...set].flatMap((s) => ['--set', s])];

async function waitFor(what: string, condition: () => boolean, timeoutMs = 90_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lockOf = (dir: string) => join(dir, '.lion-train.lock');
const holderPid = (dir: string): number => JSON.parse(readFileSync(lockOf(dir), 'utf8')).pid;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const loggedStep = (dir: string) => Math.max(0, ...readJsonl(join(dir, 'metrics.jsonl')).filter((r) => r.split === 'train').map((r) => r.step));
const runsStatus = (dir: string) => spawnSync(process.execPath, [BIN, 'runs', dir], { encoding: 'utf8' }).stdout.split('\n')[2]?.split(/\s{2,}/)[2];

/** Each split's records strictly ascend by step: no duplicated or out-of-order lines from a second writer. */
function assertOneWriter(dir: string): void {
  const { metrics } = readRun(dir);
  for (const split of ['train', 'validation']) {
    const steps = metrics.filter((r) => r.split === split).map((r) => r.step);
    expect(steps, split).toEqual([...new Set(steps)].sort((a, b) => a - b));
  }
}

describe('one writer per run directory', () => {
  it('refuses a second train, --resume or --overwrite naming the holder; every exit path leaves a true summary and no lock', async () => {
    const dir = join(work.path, 'shared');
    const first = startCli(train(dir));
    await waitFor('the first run to log', () => existsSync(lockOf(dir)) && existsSync(join(dir, 'metrics.jsonl')) && loggedStep(dir) >= 20);
    const pid = first.child.pid!;
    expect(holderPid(dir)).toBe(pid);
    expect(runsStatus(dir)).toBe('running');

    const [resume, fresh, overwrite] = await Promise.all([runCliAsync([...train(dir), '--resume']), runCliAsync(train(dir)), runCliAsync([...train(dir), '--overwrite'])]);
    for (const second of [resume, fresh, overwrite]) {
      expect(second.code, second.stderr).toBe(2);
      expect(second.stderr.trim().split('\n').pop()).toMatch(new RegExp(`^lion-train: run directory ${dir} is in use by another lion-train process \\(pid ${pid} on \\S+ since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: train configs/tiny\\.yaml`));
      expect(hasStackTrace(second.stderr)).toBe(false);
    }

    // Ctrl-C: checkpoint, exit 130, lock released.
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    const interrupted = readRun(dir).summary;
    expect(interrupted).toMatchObject({ status: 'interrupted', reason: 'SIGINT' });
    expect(existsSync(lockOf(dir))).toBe(false);
    assertOneWriter(dir);

    // A double Ctrl-C quits at once, and still says how far the run got.
    const second = startCli([...train(dir), '--resume']);
    await waitFor('the resumed run to log', () => existsSync(lockOf(dir)) && loggedStep(dir) >= interrupted.steps + 20);
    second.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 30));
    second.child.kill('SIGINT');
    const quit = await second.done;
    expect(quit.code).toBe(130);
    const summary = readRun(dir).summary;
    expect(summary).toMatchObject({ status: 'interrupted', reason: 'SIGINT: quit at once, without a checkpoint' });
    expect(summary.steps).toBeGreaterThanOrEqual(interrupted.steps + 20);
    expect(summary.totals.examples).toBe(summary.steps * 64);
    expect(typeof summary.final.train?.loss).toBe('number');
    expect(summary.finishedAt).not.toBeNull();
    expect(existsSync(lockOf(dir))).toBe(false);

    // kill -9 leaves the lock: `runs` shows the run as stopped, and the next writer takes the lock over.
    const third = startCli([...train(dir), '--resume']);
    await waitFor('the third run to take the lock', () => existsSync(lockOf(dir)) && holderPid(dir) === third.child.pid && readRun(dir).summary.status === 'running');
    third.child.kill('SIGKILL');
    await third.done;
    expect(existsSync(lockOf(dir))).toBe(true);
    expect(runsStatus(dir)).toBe('stopped');
    const fourth = await runCliAsync([...train(dir), '--resume', '--pause-at', String(summary.steps + 40)]);
    expect(fourth.code, fourth.stderr).toBe(0);
    expect(fourth.stderr).toContain(`taking over the lock of ${dir} from pid ${third.child.pid} on`);
    expect(existsSync(lockOf(dir))).toBe(false);
    assertOneWriter(dir);
  }, 400_000);
});

/** Runs a shell script in its own mount namespace (unshare, util-linux): a small or read-only tmpfs. */
function inMountNamespace(script: string): { stdout: string; stderr: string; status: number | null } {
  return spawnSync('unshare', ['-rm', 'sh', '-c', script], { encoding: 'utf8', timeout: 300_000 });
}

describe('file-system errors', () => {
  it('a full disk mid-run: exit 1 naming ENOSPC, the summary says failed at the step reached, earlier checkpoints intact', () => {
    const mount = join(work.path, 'small');
    const args = train(`${mount}/run`, 'train.steps=200', 'checkpoint.keepLast=2').map((a) => `'${a}'`).join(' ');
    // Each checkpoint is ~450 kB: two fit in 1 MiB, the third does not.
    const result = inMountNamespace(
      `mkdir -p ${mount} && mount -t tmpfs -o size=1m none ${mount} && "${process.execPath}" ${BIN} ${args} 2>${mount}/stderr; echo "exit=$?"; tail -n 1 ${mount}/stderr; cat ${mount}/run/summary.json; ls -a ${mount}/run/checkpoints; cat ${mount}/run/checkpoints/latest`,
    );
    const [exit, lastError, ...rest] = result.stdout.split('\n');
    expect(exit, result.stderr).toBe('exit=1');
    expect(lastError).toMatch(/^lion-train: ENOSPC: no space left on device/);
    const text = rest.join('\n');
    const summary = JSON.parse(text.slice(0, text.lastIndexOf('}') + 1));
    expect(summary).toMatchObject({ status: 'failed', steps: 60 });
    expect(summary.reason).toMatch(/^ENOSPC: no space left on device/);
    expect(summary.totals.examples).toBe(60 * 64);
    expect(typeof summary.final.train.loss).toBe('number');
    const listing = text.slice(text.lastIndexOf('}') + 1).trim().split('\n');
    expect(listing.filter((n) => !['.', '..'].includes(n))).toEqual(['best', 'latest', 'step-000020', 'step-000040', 'step-000040']);
  });

  it('a read-only file system is named as such (not ENOENT), exit 2', () => {
    const mount = join(work.path, 'readonly');
    const args = train(`${mount}/a/run`).map((a) => `'${a}'`).join(' ');
    const result = inMountNamespace(`mkdir -p ${mount} && mount -t tmpfs -o ro none ${mount} && "${process.execPath}" ${BIN} ${args}; echo "exit=$?"`);
    expect(result.stdout.trim(), result.stderr).toBe('exit=2');
    expect(result.stderr.trim().split('\n').pop()).toBe(`lion-train: cannot write run directory ${mount}/a/run: EROFS: read-only file system, mkdir '${mount}/a'`);
  });
});

describe('Ctrl-C during the final evaluation', () => {
  it('stops it: exit 130, no partial record, a checkpoint; a resume evaluates once', async () => {
    const dir = join(work.path, 'final-eval');
    // A large test split makes the final evaluation last seconds; the last validation is due in it too.
    const args = ['train', 'configs/tiny.yaml', ...['log.progress=none', 'train.steps=20', 'train.evalEvery=15', 'data.testExamples=1000000', `output.dir=${dir}`].flatMap((s) => ['--set', s])];
    const run = startCli(args);
    await waitFor('the last step to be logged', () => existsSync(join(dir, 'metrics.jsonl')) && loggedStep(dir) === 20, 200_000);
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('lion-train: interrupted by SIGINT at step 20');
    const after = readRun(dir);
    expect(after.summary).toMatchObject({ status: 'interrupted', reason: 'SIGINT', steps: 20 });
    expect(after.summary.final.test).toBeUndefined();
    expect(after.test).toEqual([]);
    expect(after.validation.map((r) => r.step)).toEqual([15]);
    expect(readFileSync(join(dir, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-000020');

    const resumed = await runCliAsync([...args, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const done = readRun(dir);
    expect(done.summary.status).toBe('completed');
    expect(done.validation.map((r) => r.step)).toEqual([15, 20]);
    expect(done.test.map((r) => r.step)).toEqual([20]);
  }, 400_000);
});

describe('a sweep controller that dies', () => {
  it('takes its trials with it: each checkpoints and stops; a second sweep meanwhile is refused', async () => {
    const sweepDir = join(work.path, 'sweep');
    const args = ['sweep', 'configs/tiny.yaml', '--quiet', '--jobs', '2', '--dir', sweepDir, '--grid', 'train.seed=0,1', ...['log.progress=none', ...LONG].flatMap((s) => ['--set', s])];
    const controller = startCli(args);
    const trialDirs = () => (existsSync(sweepDir) ? readdirSync(sweepDir).filter((d) => d.startsWith('train.seed=')).map((d) => join(sweepDir, d)) : []);
    await waitFor('both trials to run', () => trialDirs().length === 2 && trialDirs().every((d) => existsSync(lockOf(d)) && existsSync(join(d, 'metrics.jsonl')) && loggedStep(d) >= 20), 200_000);
    const pids = trialDirs().map(holderPid);

    const again = await runCliAsync(args);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/is in use by another lion-train process \(pid \d+ on /);

    controller.child.kill('SIGKILL');
    await controller.done;
    await waitFor('the trials to end', () => pids.every((pid) => !alive(pid)), 60_000);
    for (const dir of trialDirs()) {
      const summary = readRun(dir).summary;
      expect(summary).toMatchObject({ status: 'interrupted', reason: 'sweep controller exited' });
      expect(readFileSync(join(dir, 'checkpoints', 'latest'), 'utf8').trim()).toBe(`step-${String(summary.steps).padStart(6, '0')}`);
      expect(existsSync(lockOf(dir))).toBe(false);
    }
  }, 400_000);
});
