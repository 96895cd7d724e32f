// Destructive operations (--overwrite, retention, crash clean-up, sweep re-runs, regress --update)
// touch only what lion-train made: everything else in the way refuses the operation with exit 2.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-safety-');
afterAll(() => work.cleanup());

const tiny = (dir: string, ...set: string[]) => ['train', 'configs/tiny.yaml', '--quiet', ...['log.progress=none', 'train.steps=20', 'checkpoint.everySteps=10', `output.dir=${dir}`, ...set].flatMap((s) => ['--set', s])];

/** Every file under `dir` (links not followed) with its contents, to show nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const visit = (path: string, shown: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      const name = shown ? `${shown}/${entry.name}` : entry.name;
      if (entry.isSymbolicLink()) files[name] = '-> link';
      else if (entry.isDirectory()) visit(full, name);
      else files[name] = readFileSync(full, 'utf8');
    }
  };
  visit(dir, '');
  return files;
}

/** A finished run of lion-train's own at `dir` (a copy of one trained once). */
let template: string | undefined;
async function ownRun(dir: string): Promise<void> {
  if (!template) {
    template = join(work.path, 'template');
    const result = await runCliAsync(tiny(template));
    expect(result.code, result.stderr).toBe(0);
  }
  cpSync(template, dir, { recursive: true });
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()!;
}

describe('--overwrite', () => {
  it('refuses a folder holding a notes file and another run, and deletes nothing', async () => {
    const dir = join(work.path, 'shared-folder');
    await ownRun(join(dir, 'other-run'));
    writeFileSync(join(dir, 'notes.txt'), 'my notes\n');
    const before = snapshot(dir);
    const result = await runCliAsync([...tiny(dir), '--overwrite']);
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toBe(
      `lion-train: cannot overwrite ${dir}: it is not a lion-train run directory (no .lion-train-run marker) and holds notes.txt, other-run; lion-train replaces only run directories it created`,
    );
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(snapshot(dir)).toEqual(before);
  });

  it('refuses a run directory that holds anything lion-train did not write, naming it', async () => {
    const outside = join(work.path, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'precious.txt'), 'keep me\n');
    const cases: [string, (dir: string) => void, string][] = [
      ['a notes file', (dir) => writeFileSync(join(dir, 'notes.txt'), 'n\n'), 'notes.txt is not a file lion-train writes'],
      ['a folder', (dir) => mkdirSync(join(dir, 'analysis')), 'analysis is not a file lion-train writes'],
      ['a link to a folder outside', (dir) => symlinkSync(outside, join(dir, 'checkpoints', 'step-000990')), 'checkpoints/step-000990 is a symbolic link (lion-train makes none)'],
      ['a link named like its own file', (dir) => (rmSync(join(dir, 'metrics.jsonl')), symlinkSync(join(outside, 'precious.txt'), join(dir, 'metrics.jsonl'))), 'metrics.jsonl is a symbolic link (lion-train makes none)'],
      ['a foreign folder named like a checkpoint', (dir) => (mkdirSync(join(dir, 'checkpoints', 'step-000500')), writeFileSync(join(dir, 'checkpoints', 'step-000500', 'notes.md'), 'x')), 'checkpoints/step-000500/notes.md is not a file lion-train writes'],
      ['a foreign file inside a checkpoint', (dir) => writeFileSync(join(dir, 'checkpoints', 'step-000010', 'eval.csv'), 'x'), 'checkpoints/step-000010/eval.csv is not a file lion-train writes'],
      ['a folder named almost like a checkpoint', (dir) => mkdirSync(join(dir, 'checkpoints', 'step-10')), 'checkpoints/step-10 is not a file lion-train writes'],
    ];
    for (const [what, plant, why] of cases) {
      const dir = join(work.path, `own-${what.replace(/\W+/g, '-')}`);
      await ownRun(dir);
      plant(dir);
      const before = snapshot(dir);
      const result = await runCliAsync([...tiny(dir), '--overwrite']);
      expect(result.code, what).toBe(2);
      expect(lastLine(result.stderr), what).toBe(`lion-train: cannot overwrite ${dir}: ${why}; nothing was deleted (move it away to go on)`);
      expect(snapshot(dir), what).toEqual(before);
    }
    expect(readFileSync(join(outside, 'precious.txt'), 'utf8')).toBe('keep me\n');
  }, 400_000);

  it("replaces lion-train's own run, keeping its marker", async () => {
    const dir = join(work.path, 'own');
    await ownRun(dir);
    const marker = readFileSync(join(dir, '.lion-train-run'), 'utf8');
    expect(JSON.parse(marker)).toMatchObject({ format: 1, createdBy: 'lion-train' });
    const result = await runCliAsync([...tiny(dir, 'train.steps=10'), '--overwrite']);
    expect(result.code, result.stderr).toBe(0);
    expect(readRun(dir).summary.steps).toBe(10);
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(['best', 'latest', 'step-000010']);
    expect(readFileSync(join(dir, '.lion-train-run'), 'utf8')).toBe(marker);
    expect(existsSync(join(dir, '.lion-train.lock'))).toBe(false);
  });

  it('recognises a run from before the marker by its config.yaml and summary.json', async () => {
    const dir = join(work.path, 'legacy');
    await ownRun(dir);
    rmSync(join(dir, '.lion-train-run'));
    const result = await runCliAsync([...tiny(dir, 'train.steps=10'), '--overwrite']);
    expect(result.code, result.stderr).toBe(0);
    expect(readRun(dir).summary.steps).toBe(10);
    expect(existsSync(join(dir, '.lion-train-run'))).toBe(true);
    // Without a summary it is not recognisably lion-train's.
    const bare = join(work.path, 'legacy-bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'config.yaml'), 'name: mine\n');
    const refused = await runCliAsync([...tiny(bare), '--overwrite']);
    expect(refused.code).toBe(2);
    expect(lastLine(refused.stderr)).toMatch(/is not a lion-train run directory \(no \.lion-train-run marker\) and holds config\.yaml;/);
    expect(readFileSync(join(bare, 'config.yaml'), 'utf8')).toBe('name: mine\n');
  });

  it('refuses a run directory path that is a file or a link', async () => {
    const file = join(work.path, 'a-file');
    writeFileSync(file, 'data\n');
    const result = await runCliAsync([...tiny(file), '--overwrite']);
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toBe(`lion-train: run directory ${file} is not a directory; lion-train does not replace it`);
    expect(readFileSync(file, 'utf8')).toBe('data\n');
  });
});

describe('a new run', () => {
  it('into a folder that is not a run says so, and writes nothing there', async () => {
    const dir = join(work.path, 'notes-only');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'n\n');
    const result = await runCliAsync(tiny(dir));
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toBe(`lion-train: run directory ${dir} already exists and is not a lion-train run (no .lion-train-run marker); choose another output.dir`);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });
});

describe('--resume', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(work.path, 'resume');
    const result = await runCliAsync([...tiny(dir), '--pause-at', '10']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('refuses a checkpoints folder holding what lion-train did not write', async () => {
    for (const [plant, name] of [
      [() => mkdirSync(join(dir, 'checkpoints', '.tmp-mine')), 'checkpoints/.tmp-mine'],
      [() => symlinkSync(work.path, join(dir, 'checkpoints', 'step-000020')), 'checkpoints/step-000020'],
    ] as const) {
      plant();
      const result = await runCliAsync([...tiny(dir), '--resume']);
      expect(result.code).toBe(2);
      expect(lastLine(result.stderr)).toMatch(new RegExp(`^lion-train: cannot resume ${dir}: ${name.replace(/\./g, '\\.')} is (not a file lion-train writes|a symbolic link \\(lion-train makes none\\)); nothing was deleted`));
      rmSync(join(dir, name), { recursive: true });
    }
    // A link at one of its own names would be written through: refused too, the target untouched.
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    const outside = join(work.path, 'outside-metrics.jsonl');
    writeFileSync(outside, 'mine\n');
    rmSync(join(dir, 'metrics.jsonl'));
    symlinkSync(outside, join(dir, 'metrics.jsonl'));
    const result = await runCliAsync([...tiny(dir), '--resume']);
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toBe(`lion-train: cannot resume ${dir}: metrics.jsonl is a symbolic link (lion-train makes none); nothing was deleted (move it away to go on)`);
    expect(readFileSync(outside, 'utf8')).toBe('mine\n');
    rmSync(join(dir, 'metrics.jsonl'));
    writeFileSync(join(dir, 'metrics.jsonl'), metrics);
  });

  it('removes the temporary files a crashed writer left, and only those', async () => {
    writeFileSync(join(dir, '.summary.json.99999.tmp'), '{');
    mkdirSync(join(dir, 'checkpoints', '.tmp-step-000020-99999'));
    writeFileSync(join(dir, 'checkpoints', '.tmp-step-000020-99999', 'model.safetensors'), 'partial');
    writeFileSync(join(dir, 'checkpoints', '.latest.99999.tmp'), 'step-0000');
    writeFileSync(join(dir, 'notes.txt'), 'kept\n');
    const result = await runCliAsync([...tiny(dir), '--resume']);
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['.lion-train-run', 'checkpoints', 'compute.jsonl', 'config.yaml', 'metrics.jsonl', 'notes.txt', 'summary.json']);
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(['best', 'latest', 'step-000010', 'step-000020']);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('kept\n');
  });
});

describe('sweep re-runs', () => {
  it('refuse, before any trial runs, a trial directory holding what lion-train did not write', async () => {
    const sweepDir = join(work.path, 'sweep');
    const args = ['sweep', 'configs/tiny.yaml', '--quiet', '--dir', sweepDir, '--grid', 'train.seed=0,1', '--set', 'train.steps=10', '--set', 'log.progress=none'];
    const first = await runCliAsync(args);
    expect(first.code, first.stderr).toBe(0);
    // Trial seed=1 now looks half-done (no summary) and holds someone's notes: a re-run would restart it.
    const trial = readdirSync(sweepDir).find((d) => d.includes('seed=1'))!;
    rmSync(join(sweepDir, trial, 'summary.json'));
    writeFileSync(join(sweepDir, trial, 'notes.txt'), 'n\n');
    const before = snapshot(sweepDir);
    const again = await runCliAsync(args);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`trial ${trial}: cannot overwrite ${join(sweepDir, trial)}: notes.txt is not a file lion-train writes; nothing was deleted`);
    expect(snapshot(sweepDir)).toEqual(before);
  });
});

describe('regress --update', () => {
  it('replaces a baseline file, never a link or what it points to', async () => {
    const dir = join(work.path, 'for-baseline');
    await ownRun(dir);
    const target = join(work.path, 'real-baseline.yaml');
    const created = await runCliAsync(['regress', dir, '--baseline', target, '--update']);
    expect(created.code, created.stderr).toBe(0);
    const link = join(work.path, 'linked-baseline.yaml');
    symlinkSync(target, link);
    const text = readFileSync(target, 'utf8');
    const result = await runCliAsync(['regress', dir, '--baseline', link, '--update']);
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toBe(`lion-train: cannot update ${link}: it is a symbolic link (to ${target}); lion-train replaces only a regular file: update that file instead`);
    expect(readFileSync(target, 'utf8')).toBe(text);
  });
});
