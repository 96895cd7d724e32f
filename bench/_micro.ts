import { lionRule, adamwRule } from '../src/optim/index.js';
const n = 1_000_000;
const p = new Float32Array(n).fill(0.1), g = new Float32Array(n).fill(0.2), m = new Float32Array(n).fill(0.01), v = new Float32Array(n).fill(0.01);
const o1 = new Float32Array(n), o2 = new Float32Array(n), o3 = new Float32Array(n);
for (let r = 0; r < 30; r++) {
  let t = performance.now();
  lionRule.arrays([n], p, g, [m], [o1, o2], { lr: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 0.1 });
  const lion = performance.now() - t;
  t = performance.now();
  adamwRule.arrays([n], p, g, [m, v], [o1, o2, o3], { lr: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 0.1, epsilon: 1e-8, t: r + 1 });
  const adamw = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < n; i++) o1[i] = p[i] + 0.5 * g[i];
  const triad = performance.now() - t;
  if (r % 5 === 4) console.log(r, lion.toFixed(2), adamw.toFixed(2), triad.toFixed(2));
}
