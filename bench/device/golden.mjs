// The golden optimizer trajectories on the webgpu backend, without the test runner (for the device bundle):
//   node bench/device/golden.mjs <golden dir>
// Same cases and tolerance as test/optim/golden.test.ts (|got − want| ≤ 1e-6 + 1e-5·|want|), through the fused WGSL
// passes and through tfjs ops; prints one line per case and path and the worst error, exits 1 on a mismatch, 2
// without a WebGPU adapter.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../dist/backend.js';
import { Adafactor, AdamW, Lion } from '../../dist/optim/index.js';

const dir = resolve(process.argv[2] ?? 'golden');
const make = { lion: (o) => new Lion(o), adamw: (o) => new AdamW(o), adafactor: (o) => new Adafactor(o) };
let choice;
try {
  choice = await initBackend('webgpu');
} catch (error) {
  console.error(`golden: ${error.message}`);
  process.exit(2);
}
console.log(`golden on webgpu: ${choice.adapter.vendor} ${choice.adapter.architecture} ${choice.adapter.device} (${choice.adapter.driver})`);
let failures = 0;
let worstOverall = 0;
for (const [fused, file] of [true, false].flatMap((f) => readdirSync(dir).filter((name) => name.endsWith('.json')).sort().map((name) => [f, name]))) {
  const c = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const options = { ...c.options, fused };
  if (c.learningRatePerStep) options.learningRate = (step) => c.learningRatePerStep[step];
  else if (options.learningRate === null) delete options.learningRate;
  const opt = make[c.optimizer](options);
  const vars = Object.fromEntries(Object.entries(c.params).map(([name, p]) => [name, tf.variable(tf.tensor(p.values, p.shape, 'float32'), true, name)]));
  let worst = 0;
  let problem = '';
  for (const [k, step] of c.steps.entries()) {
    const grads = Object.fromEntries(Object.entries(step.grads).map(([name, g]) => [name, tf.tensor(g, vars[name].shape, 'float32')]));
    opt.applyGradients(grads);
    tf.dispose(Object.values(grads));
    for (const [name, want] of Object.entries(step.expected)) {
      const got = await vars[name].data();
      want.forEach((w, i) => {
        const error = Math.abs(got[i] - w);
        worst = Math.max(worst, error / (1e-6 + 1e-5 * Math.abs(w)));
        if (!problem && !(error <= 1e-6 + 1e-5 * Math.abs(w))) problem = `step ${k} ${name}[${i}]: got ${got[i]}, expected ${w}`;
      });
    }
  }
  opt.dispose();
  tf.dispose(Object.values(vars));
  worstOverall = Math.max(worstOverall, worst);
  console.log(`${problem ? 'FAIL' : 'ok  '} ${file} (${fused ? 'fused WGSL' : 'tfjs ops'}): worst error ${worst.toFixed(3)} of the tolerance${problem ? ` (${problem})` : ''}`);
  if (problem) failures++;
}
console.log(`golden on webgpu: ${failures === 0 ? 'all cases match' : `${failures} cases differ`}; worst error ${worstOverall.toFixed(3)} of the tolerance`);
process.exit(failures === 0 ? 0 : 1);
