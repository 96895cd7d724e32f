import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers/cli.js';

const KINDS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment as never,
  'batch/v1 Job': Job as never,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim as never,
  'v1 Service': Service as never,
};
const dir = join(ROOT, 'deploy/kubernetes');

describe('deploy examples', () => {
  const documents = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => ({ file, doc })));

  it('every Kubernetes manifest parses and validates against the Kubernetes API types', () => {
    expect(documents.length).toBeGreaterThanOrEqual(5);
    for (const { file, doc } of documents) {
      expect(doc.errors, file).toEqual([]);
      const value = doc.toJS() as { apiVersion: string; kind: string };
      const Model = KINDS[`${value.apiVersion} ${value.kind}`];
      expect(Model, `${file}: ${value.apiVersion} ${value.kind}`).toBeDefined();
      expect(() => new Model(value as never).validate(), file).not.toThrow();
    }
  });

  it('workers run `lion-train worker` in parallel on the shared runs volume, the controller re-attaches with --resume', () => {
    const workers = documents.find((d) => d.doc.toJS().metadata.name === 'lion-train-workers')!.doc.toJS();
    expect(workers.spec.parallelism).toBeGreaterThan(1);
    const command = workers.spec.template.spec.containers[0].command.join(' ');
    expect(command).toMatch(/lion-train worker --queue \$\(QUEUE_URL\) .*--runs-root \/runs/);
    expect(workers.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe('lion-train-runs');
    const controller = documents.find((d) => d.doc.toJS().metadata.name === 'lion-train-evolve')!.doc.toJS();
    expect(controller.spec.template.spec.containers[0].command.join(' ')).toMatch(/evolve --resume .* --queue/);
    const runs = documents.find((d) => d.doc.toJS().metadata.name === 'lion-train-runs')!.doc.toJS();
    expect(runs.spec.accessModes).toEqual(['ReadWriteMany']);
  });

  it('a manifest with a mistake is refused by the same check (the check can fail)', () => {
    const broken = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'x' }, spec: { parallelism: 'four', template: { spec: { containers: [] } } } };
    expect(() => new Job(broken as never).validate()).toThrow();
  });

  it('the Slurm array runs one worker per task with the queue from the environment', () => {
    const script = readFileSync(join(ROOT, 'deploy/slurm/workers.sbatch'), 'utf8');
    expect(script).toMatch(/^#SBATCH --cpus-per-task=\d+$/m);
    expect(script).toMatch(/lion-train worker --queue "\$\{QUEUE_URL\}"/);
  });
});
