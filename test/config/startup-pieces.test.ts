// What the build precompiles so that a process starts faster (scripts/build-startup.mjs, run by vitest's
// global set-up as by `npm run build`): each must behave exactly as what it stands for.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { RUN_VALIDATOR_OPTIONS, runSchema, runSchemaHash } from '../../src/config/schema.js';
import { ROOT } from '../helpers/cli.js';

const DIST_SCHEMA = join(ROOT, 'dist/config/schema.js');
const require = createRequire(import.meta.url);

/** Every config the repository holds that parses as YAML: shipped, examples and the bad-config fixtures. */
function configs(): [string, unknown][] {
  const folders = ['configs', 'configs/examples', 'examples/plugin-model', 'test/fixtures/bad-configs', 'test/fixtures/plugins'];
  const found: [string, unknown][] = [];
  for (const folder of folders) {
    for (const name of readdirSync(join(ROOT, folder)).filter((n) => n.endsWith('.yaml'))) {
      try {
        found.push([`${folder}/${name}`, parse(readFileSync(join(ROOT, folder, name), 'utf8'))]);
      } catch {
        // Not YAML (the fixtures of YAML syntax errors): nothing for a schema validator to judge.
      }
    }
  }
  return found;
}

describe('the precompiled run-schema validator (dist/config/run-validator.cjs)', () => {
  const precompiled = require(join(ROOT, 'dist/config/run-validator.cjs')) as ValidateFunction & { schemaSha256: string };

  it('records the hash of the schema file as it is now, and is the validator the built CLI uses', async () => {
    expect(precompiled.schemaSha256).toBe(runSchemaHash());
    const dist = (await import(pathToFileURL(DIST_SCHEMA).href)) as typeof import('../../src/config/schema.js');
    expect(dist.runValidator()).toBe(precompiled);
  });

  it('finds the same errors and fills the same defaults as the validator compiled from the schema now', () => {
    const compiled = new Ajv2020(RUN_VALIDATOR_OPTIONS).compile(runSchema());
    const all = configs();
    expect(all.length).toBeGreaterThan(50);
    let invalid = 0;
    for (const [file, data] of all) {
      const [a, b] = [structuredClone(data), structuredClone(data)];
      const verdict = compiled(a);
      expect(precompiled(b), file).toBe(verdict);
      expect(b, file).toEqual(a);
      expect(precompiled.errors ?? null, file).toEqual(compiled.errors ?? null);
      if (!verdict) invalid += 1;
    }
    expect(invalid).toBeGreaterThan(20);
  });
});

describe('dist/tf.js', () => {
  it('exports every name of @tensorflow/tfjs, each the same object', async () => {
    const fast = (await import(pathToFileURL(join(ROOT, 'dist/tf.js')).href)) as Record<string, unknown>;
    const tf = require('@tensorflow/tfjs') as Record<string, unknown>;
    const names = Object.keys(tf).filter((n) => n !== 'default' && n !== '__esModule');
    expect(names.length).toBeGreaterThan(400);
    for (const name of names) expect(fast[name], name).toBe(tf[name]);
    expect(Object.keys(fast).sort()).toEqual([...names].sort());
  });
});
