import { describe, expect, it } from 'vitest';
import { DEFAULT_MUTATION, mutateProgram, type MutationSettings } from '../../src/evolve/mutate.js';
import { checkProgram } from '../../src/program/check.js';
import { programHash } from '../../src/program/hash.js';
import { parseProgram } from '../../src/program/parse.js';
import { printProgram } from '../../src/program/print.js';
import { Rng } from '../../src/random.js';

// The paper's search seed (Program 3): AdamW without bias correction or epsilon.
const SEED = parseProgram(`g2 = square(g)
m = interp(g, m, 0.9)
v = interp(g2, v, 0.999)
sqrt_v = sqrt(v)
update = m / sqrt_v
wd = w * 0.01
update = update + wd
update = update * lr * 0.001
`);

const only = (kind: 'insert' | 'delete' | 'modify'): MutationSettings => ({ ...DEFAULT_MUTATION, weights: { insert: 0, delete: 0, modify: 0, [kind]: 1 } });

describe('program mutation', () => {
  it('always yields a child that passes the checker, computes something new and survives printing', () => {
    let program = SEED;
    const rng = Rng.derive(1, 'mutate-chain');
    const kinds = new Set<string>();
    for (let i = 0; i < 400; i++) {
      // A chain of mutations, restarted from the seed now and then so programs stay varied in length.
      const parent = i % 50 === 0 ? SEED : program;
      const { child, mutation } = mutateProgram(parent, rng);
      kinds.add(mutation.split(' ')[0]);
      expect(checkProgram(child).problems, `${mutation}\n${printProgram(child)}`).toEqual([]);
      expect(programHash(child)).not.toBe(programHash(parent));
      const reparsed = parseProgram(printProgram(child));
      expect(programHash(reparsed), printProgram(child)).toBe(programHash(child));
      program = child;
    }
    expect([...kinds].sort()).toEqual(['delete', 'insert', 'modify']);
  });

  it('changes a constant by a factor 2^N(0,1), or a name to another of its type', () => {
    const parent = parseProgram('update = g * 0.5\n');
    const rng = Rng.derive(2, 'modify');
    const seen = { constant: 0, name: 0 };
    for (let i = 0; i < 60; i++) {
      const { child, mutation } = mutateProgram(parent, rng, only('modify'));
      expect(mutation).toMatch(/^modify line 1: /);
      const value = child.statements[0].value;
      expect(value.kind).toBe('call');
      if (value.kind !== 'call') continue;
      const [x, c] = value.args;
      if (c.kind === 'number' && x.kind === 'name' && x.name === 'g') {
        seen.constant++;
        const factor = Math.log2(c.value / 0.5);
        expect(Math.abs(factor)).toBeLessThan(6);
        expect(c.value).toBeGreaterThan(0);
      } else {
        seen.name++;
        // g is a tensor: only tensor names (w, m, v) may replace it.
        expect(x.kind === 'name' && ['w', 'm', 'v'].includes(x.name)).toBe(true);
      }
    }
    expect(seen.constant).toBeGreaterThan(10);
    expect(seen.name).toBeGreaterThan(10);
  });

  it('deletes one statement and inserts one statement', () => {
    const rng = Rng.derive(3, 'kinds');
    const deleted = mutateProgram(SEED, rng, only('delete'));
    expect(deleted.child.statements).toHaveLength(SEED.statements.length - 1);
    expect(deleted.mutation).toMatch(/^delete line \d+: /);
    const inserted = mutateProgram(SEED, rng, only('insert'));
    expect(inserted.child.statements).toHaveLength(SEED.statements.length + 1);
    expect(inserted.mutation).toMatch(/^insert line \d+: \w+ = /);
  });

  it('never inserts beyond maxStatements', () => {
    const rng = Rng.derive(4, 'max');
    const settings = { ...DEFAULT_MUTATION, maxStatements: SEED.statements.length };
    for (let i = 0; i < 50; i++) expect(mutateProgram(SEED, rng, settings).child.statements.length).toBeLessThanOrEqual(SEED.statements.length);
  });

  it('is deterministic for the same random stream', () => {
    const a = mutateProgram(SEED, Rng.derive(9, 'same'));
    const b = mutateProgram(SEED, Rng.derive(9, 'same'));
    expect(printProgram(a.child)).toBe(printProgram(b.child));
    expect(a.mutation).toBe(b.mutation);
  });

  it('says so when no mutation is possible, instead of looping', () => {
    expect(() => mutateProgram(parseProgram('update = g\n'), Rng.derive(1, 'x'), only('delete'))).toThrow(/every mutation kind has weight 0/);
    expect(() => mutateProgram(SEED, Rng.derive(1, 'x'), { ...DEFAULT_MUTATION, maxAttempts: 0 })).toThrow(/no valid mutation found in 0 attempts/);
  });
});
