// The read-back rule on the webgpu backend, in one process: a run reads its step results from the GPU once per
// log interval, never once per step. Counted at the backend (every data() of any tensor ends in its read()), so
// any read a step made would show.
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { train } from '../../src/train/train.js';
import { tempDir } from '../helpers/cli.js';
import { useTestAdapter } from '../helpers/webgpu.js';

useTestAdapter();
const work = tempDir('lion-train-webgpu-reads-');
afterAll(() => work.cleanup());

/** Reads from the GPU during a 20-step run of configs/tiny.yaml on webgpu that logs every `everySteps` steps. */
async function readsDuringRun(everySteps: number): Promise<number> {
  await initBackend('webgpu');
  const backend = tf.backend() as unknown as { read(dataId: object): Promise<unknown> };
  const read = backend.read;
  let reads = 0;
  backend.read = function (this: unknown, dataId: object) {
    reads += 1;
    return read.call(this, dataId);
  };
  try {
    const set = ['train.backend=webgpu', 'train.steps=20', 'train.evalEvery=0', 'checkpoint.everySteps=null', `log.everySteps=${everySteps}`, `output.dir=${join(work.path, `every-${everySteps}`)}`];
    const { summary } = await train('configs/tiny.yaml', { set, progress: 'none', log: () => {} });
    expect(summary).toMatchObject({ status: 'completed', steps: 20, backend: 'webgpu' });
  } finally {
    backend.read = read;
  }
  return reads;
}

describe('webgpu: step results are read once per log interval', () => {
  it('a 20-step run reads its step results 20, 4 and 2 times when it logs every 1, 5 and 10 steps', async () => {
    const [every1, every5, every10] = [await readsDuringRun(1), await readsDuringRun(5), await readsDuringRun(10)];
    // The rest of the run (final evaluations, the end-of-run checks and checkpoint) reads the same in all three.
    expect(every1 - every10).toBe(20 - 2);
    expect(every5 - every10).toBe(4 - 2);
  });
});
