import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { RunConfig } from '../../src/config/types.generated.js';
import type { Evaluator } from '../../src/evaluate/pool.js';
import type { ProxyOutcome } from '../../src/evaluate/proxy.js';
import { readHistory } from '../../src/evolve/history.js';
import { evolve } from '../../src/evolve/search.js';
import { ROOT, tempDir } from '../helpers/cli.js';

const CONFIG = join(ROOT, 'test/fixtures/evolve/tiny-evolve.yaml');
const temps: Array<{ cleanup: () => void }> = [];
afterAll(() => temps.forEach((t) => t.cleanup()));
const newDir = () => {
  const t = tempDir('evolve-');
  temps.push(t);
  return t.path;
};

/**
 * A fake fitness that needs no training: the distance of the program's constants' sum to 1.5, plus its
 * length / 100 (so shorter is better); a program using `exp` "diverges". Built-in baselines get fixed values.
 */
class FakeEvaluator implements Evaluator {
  readonly jobs: number;
  calls: string[] = [];
  constructor(jobs = 1) {
    this.jobs = jobs;
  }
  async evaluate(config: RunConfig): Promise<ProxyOutcome> {
    const optimizer = config.optimizer as unknown as { name: string; program?: string };
    const steps = config.train.steps!;
    if (optimizer.name !== 'program') {
      this.calls.push(optimizer.name);
      return { status: 'completed', metrics: { 'validation.loss': optimizer.name === 'lion' ? 0.5 : 0.6 }, steps, wallMs: 1 };
    }
    const text = optimizer.program!;
    this.calls.push(text);
    if (/\bexp\(/.test(text)) return { status: 'diverged', metrics: {}, steps: 3, wallMs: 1, reason: 'loss is NaN at step 3' };
    const constants = [...text.matchAll(/(?<![\w.])(\d+\.?\d*(?:e-?\d+)?)/g)].map((m) => Number(m[1]));
    const sum = constants.reduce((a, b) => a + b, 0);
    const lines = text.trim().split('\n').length;
    return { status: 'completed', metrics: { 'validation.loss': Math.abs(sum - 1.5) + lines / 100 + steps / 1000 }, steps, wallMs: 1 };
  }
  async close(): Promise<void> {}
}

const essence = (dir: string) => readHistory(join(dir, 'history.jsonl')).map((r) => ({ id: r.id, parent: r.parent, mutation: r.mutation, program: r.program, fitness: r.fitness, cacheHit: r.cacheHit }));

describe('evolve search driver', () => {
  it('runs the budget, trains baselines and seed on every stage, and writes its results', async () => {
    const dir = newDir();
    const evaluator = new FakeEvaluator();
    const { summary } = await evolve(CONFIG, { dir: join(dir, 's'), evaluator, log: () => {}, progress: 'none' });
    expect(summary.candidates).toBe(12);
    expect(summary.evaluated + summary.cacheHits).toBe(12);
    // The seed (candidate 0) was trained with the baselines: it is a cache hit, and the population its copies.
    const first = readHistory(join(dir, 's/history.jsonl'))[0];
    expect(first).toMatchObject({ id: 0, origin: 'seed', cacheHit: true, fitness: { proxy: summary.seed.proxy } });
    expect(evaluator.calls.filter((c) => !['lion', 'adamw'].includes(c))).toHaveLength(summary.evaluated + 2 /* seed on 2 stages */ + 2 /* promoted */);
    expect(summary.baselines).toEqual({ proxy: { lion: 0.5, adamw: 0.6 }, longer: { lion: 0.5, adamw: 0.6 } });
    const funnel = JSON.parse(readFileSync(join(dir, 's/funnel.json'), 'utf8'));
    expect(funnel.stages.map((s: { name: string }) => s.name)).toEqual(['proxy', 'longer']);
    expect(funnel.stages[1].programs).toHaveLength(2);
    // Stage `longer` trains 40 steps: its fitness is the proxy's + 0.02 for the same program.
    const history = readHistory(join(dir, 's/history.jsonl'));
    for (const p of funnel.stages[1].programs) {
      const proxy = history.find((r) => r.hash === p.hash)!.fitness.proxy!;
      expect(p.fitness).toBeCloseTo(proxy + 0.02, 10);
    }
    expect(summary.best!.stage).toBe('longer');
    // best.yaml is an optimizer section a run config can extend.
    const runConfig = join(dir, 'run.yaml');
    writeFileSync(runConfig, `extends: [${JSON.stringify(join(ROOT, 'configs/tiny.yaml'))}, s/best.yaml]\n`);
    const loaded = loadConfig(runConfig).config;
    expect(loaded.optimizer.name).toBe('program');
    expect(existsSync(join(dir, 's/top.md'))).toBe(true);
    expect(readFileSync(join(dir, 's/top.md'), 'utf8')).toContain('## Stage longer');
  });

  it('is deterministic with one job and a fixed seed', async () => {
    const [a, b] = [newDir(), newDir()];
    await evolve(CONFIG, { dir: a, evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', set: ['evolve.budget.candidates=30'] });
    await evolve(CONFIG, { dir: b, evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', set: ['evolve.budget.candidates=30'] });
    expect(essence(a)).toEqual(essence(b));
    const c = newDir();
    await evolve(CONFIG, { dir: c, evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', set: ['evolve.budget.candidates=30', 'evolve.seed=5'] });
    expect(essence(c)).not.toEqual(essence(a));
  });

  it('resumes from history.jsonl (a torn last line included) to the same search', async () => {
    const full = newDir();
    await evolve(CONFIG, { dir: full, evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', set: ['evolve.budget.candidates=30'] });
    const cut = newDir();
    mkdirSync(cut, { recursive: true });
    await evolve(CONFIG, { dir: join(cut, 's'), evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', set: ['evolve.budget.candidates=17'] });
    appendFileSync(join(cut, 's/history.jsonl'), '{"id":17,"parent":3,"ori');
    const resumed = new FakeEvaluator();
    await evolve(undefined, { resume: join(cut, 's'), evaluator: resumed, log: () => {}, progress: 'none', set: ['evolve.budget.candidates=30'] });
    expect(essence(join(cut, 's'))).toEqual(essence(full));
    // Nothing that had finished was trained again: the baselines and seed come from funnel.json.
    expect(resumed.calls.filter((c) => c === 'lion' || c === 'adamw')).toEqual([]);
    expect(JSON.parse(readFileSync(join(cut, 's/funnel.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(full, 'funnel.json'), 'utf8')));
  });

  it('scores a diverging program worst and goes on', async () => {
    const dir = newDir();
    const seed = join(dir, 'diverges.opt');
    writeFileSync(seed, 'update = exp(g) * lr\n');
    const { summary } = await evolve(CONFIG, { dir: join(dir, 's'), evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', set: [`evolve.seedProgram=${seed}`, 'evolve.budget.candidates=20'] });
    const history = readHistory(join(dir, 's/history.jsonl'));
    expect(history[0]).toMatchObject({ origin: 'seed', fitness: { proxy: null } });
    expect(history.some((r) => r.failure === 'diverged: loss is NaN at step 3')).toBe(true);
    expect(history).toHaveLength(20);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.best?.fitness).not.toBeNull();
  });

  it('refuses to replace a directory it did not make, and one that exists without --overwrite', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await expect(evolve(CONFIG, { dir, evaluator: new FakeEvaluator(), log: () => {}, progress: 'none', overwrite: true })).rejects.toThrow(/not replacing .*lion-train evolve did not make it .*notes\.txt/);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    await expect(evolve(CONFIG, { dir, evaluator: new FakeEvaluator(), log: () => {}, progress: 'none' })).rejects.toThrow(/already exists .*--resume/);
    await expect(evolve(undefined, { resume: dir, evaluator: new FakeEvaluator(), log: () => {} })).rejects.toThrow(/not a search directory/);
  });
});

describe('lion-train evolve (real training)', () => {
  it('searches, writes history, results and a report, and kill -9 + --resume continues the same search', async () => {
    const { runCli, runCliAsync, startCli } = await import('../helpers/cli.js');
    const dir = newDir();
    const budget = ['--set', 'evolve.budget.candidates=10', '--set', 'evolve.funnel=[]'];
    const full = runCli(['evolve', CONFIG, '--dir', join(dir, 'full'), ...budget], { timeoutMs: 300_000 });
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/^evolve: 10 candidates \(\d+ trained, cache hit rate [\d.]+ %\), [\d.]+ trained per minute with 1 job$/m);
    expect(full.stdout).toMatch(/^proxy validation\.loss: seed [\d.]+, lion [\d.]+, adamw [\d.]+/m);
    for (const file of ['history.jsonl', 'summary.json', 'best.yaml', 'top.md', 'funnel.json', 'evolve.yaml']) expect(existsSync(join(dir, 'full', file)), file).toBe(true);

    // The same search killed once a few candidates are in history.jsonl, then resumed.
    const killed = join(dir, 'killed');
    const { child, done } = startCli(['evolve', CONFIG, '--dir', killed, ...budget]);
    await new Promise<void>((resolveWait) => {
      const timer = setInterval(() => {
        const lines = existsSync(join(killed, 'history.jsonl')) ? readFileSync(join(killed, 'history.jsonl'), 'utf8').split('\n').length - 1 : 0;
        if (lines >= 7) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolveWait();
        }
      }, 20);
    });
    expect((await done).code).toBe(137);
    const resumed = await runCliAsync(['evolve', '--resume', killed]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed: \d+ candidates replayed/);
    const strip = (d: string) => essence(d).map(({ id, parent, program, fitness }) => ({ id, parent, program, fitness }));
    expect(strip(killed)).toEqual(strip(join(dir, 'full')));

    const report = runCli(['report', killed, '--out', join(dir, 'report')]);
    expect(report.code, report.stderr).toBe(0);
    const html = readFileSync(join(dir, 'report/report.html'), 'utf8');
    expect(html.match(/<svg/g)).toHaveLength(2);
    expect(html).toContain('<h2>Funnel</h2>');
    expect(readFileSync(join(dir, 'report/report.md'), 'utf8')).toMatch(/\| proxy \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
  });

  it('exits 2 with a located message for a config without evolve:, and for a bad evolve value', async () => {
    const { runCli } = await import('../helpers/cli.js');
    const none = runCli(['evolve', join(ROOT, 'configs/tiny.yaml')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/tiny\.yaml: no evolve: section/);
    const bad = runCli(['evolve', CONFIG, '--set', 'evolve.tournament=9']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/evolve\.tournament: must be at most evolve\.population \(6\), got 9/);
    const typo = runCli(['evolve', CONFIG, '--set', 'evolve.populaton=9']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/populaton.*did you mean.*population/);
  });
});
