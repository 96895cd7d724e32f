#!/usr/bin/env node
// Writes configs/data/rings.csv, the small CSV that configs/csv-example.yaml trains on (made here, seeded,
// no downloads): `node scripts/make-rings-csv.mjs [out.csv] [rows]`.
//
// Points on three noisy concentric rings (inner r≈1, middle r≈2, outer r≈3) in the plane, so the classes are
// not linearly separable and an MLP has something to learn. Each row: the point (x, y), two distractors on
// very different scales (a reading around 1000 ± 50 and a tiny drift around 0.001, both independent of the
// class, which is what standardisation is for), and the ring's name. The header quotes one name that holds a
// comma, which exercises the CSV parser; the label is the third column. Same rows on every run.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'configs', 'data', 'rings.csv');
const rows = Number(process.argv[3] ?? 1500);

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = mulberry32(20231125);
const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const RINGS = ['inner', 'middle', 'outer'];

const lines = ['x,y,ring,"pressure, hPa",drift'];
for (let i = 0; i < rows; i++) {
  const ring = Math.floor(random() * 3);
  const radius = ring + 1 + 0.25 * normal();
  const angle = 2 * Math.PI * random();
  const x = radius * Math.cos(angle);
  const y = radius * Math.sin(angle);
  const pressure = 1000 + 50 * normal();
  const drift = 0.001 + 0.0002 * normal();
  lines.push([x.toFixed(4), y.toFixed(4), RINGS[ring], pressure.toFixed(1), drift.toExponential(3)].join(','));
}
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(`wrote ${rows} rows to ${out}`);
