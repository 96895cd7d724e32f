import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/random.js';
import { type Candidate, type EvolutionSettings, type GenomeOps, RegularizedEvolution, type Told } from '../../src/evolve/regularized-evolution.js';

// A fake search space: a genome is an integer, a mutation adds ±1 or ±2, fitness is the distance to 10.
const steps: GenomeOps<number> = {
  mutate(parent, rng) {
    const delta = [-2, -1, 1, 2][rng.int(4)];
    return { child: parent + delta, mutation: `add ${delta}` };
  },
  hash: (x) => `x=${x}`,
};
const distanceTo10 = (x: number): number => Math.abs(x - 10);
const settings = (over: Partial<EvolutionSettings> = {}): EvolutionSettings => ({ population: 4, tournament: 2, seed: 7, mode: 'min', restartAfter: 0, ...over });

/** Asks and tells one candidate at a time (a `--jobs 1` driver), using the cache as a driver would. */
function runSerial(search: RegularizedEvolution<number>, n: number, fitness = distanceTo10): Told<number>[] {
  const history: Told<number>[] = [];
  for (let i = 0; i < n; i++) {
    const c = search.ask();
    const cached = search.cached(c.hash);
    const f = cached !== undefined ? cached : fitness(c.genome);
    search.tell(c.id, f);
    history.push({ candidate: c, fitness: f });
  }
  return history;
}

describe('regularized evolution', () => {
  it('starts with the population filled by copies of the seed, then mutates tournament winners', () => {
    const search = new RegularizedEvolution(steps, 0, settings());
    const history = runSerial(search, 6);
    expect(history.slice(0, 4).map((t) => [t.candidate.origin, t.candidate.parent, t.candidate.genome])).toEqual([
      ['seed', null, 0], ['seed', null, 0], ['seed', null, 0], ['seed', null, 0],
    ]);
    expect(history[4].candidate.origin).toBe('mutation');
    expect(history[4].candidate.parent).not.toBeNull();
    expect(Math.abs(history[4].candidate.genome)).toBeGreaterThanOrEqual(1);
  });

  it('ages: the population is the last `population` candidates told, the fittest included or not', () => {
    const search = new RegularizedEvolution(steps, 10, settings({ population: 3 }));
    // The seed itself is optimal (fitness 0); after three more tells it has aged out all the same.
    runSerial(search, 9);
    expect(search.population().map((m) => m.candidate.id)).toEqual([6, 7, 8]);
    expect(search.best()!.fitness).toBe(0);
  });

  it('picks the fitter of the sampled members, drawing from the candidate\'s own stream (hand-checked)', () => {
    const search = new RegularizedEvolution(steps, 0, settings({ population: 3, tournament: 2 }));
    // Fill by hand with distinct fitness so the winner of any pair is known: ids 0, 1, 2 → 5, 1, 3.
    const fit = [5, 1, 3];
    for (let i = 0; i < 3; i++) search.tell(search.ask().id, fit[i]);
    const next = search.ask();
    const rng = Rng.derive(7, 'candidate', 3);
    const a = rng.int(3);
    const b = rng.int(3);
    const winner = fit[b] < fit[a] ? b : a;
    expect(next.parent).toBe(winner);
    expect(next.mutation).toBe(`add ${[-2, -1, 1, 2][rng.int(4)]}`);
  });

  it('ranks a failed candidate (null, NaN, Infinity) below every number', () => {
    const search = new RegularizedEvolution(steps, 0, settings({ population: 2, tournament: 2 }));
    expect(search.better(1e9, null)).toBe(true);
    expect(search.better(null, 1e9)).toBe(false);
    const ids = [search.ask().id, search.ask().id];
    search.tell(ids[0], Number.NaN);
    search.tell(ids[1], 3);
    expect(search.population().map((m) => m.fitness)).toEqual([null, 3]);
    // Every tournament that samples the good member picks it; at least one of 40 children must descend from it.
    const parents = Array.from({ length: 40 }, () => { const c = search.ask(); return c.parent; });
    expect(parents).toContain(ids[1]);
    expect(search.best()!.candidate.id).toBe(ids[1]);
  });

  it('finds the optimum of the fake fitness', () => {
    const search = new RegularizedEvolution(steps, 0, settings({ population: 10, tournament: 3 }));
    runSerial(search, 150);
    expect(search.best()!.fitness).toBe(0);
    expect(search.best()!.candidate.genome).toBe(10);
  });

  it('maximises when mode is max', () => {
    const search = new RegularizedEvolution(steps, 0, settings({ population: 10, tournament: 3, mode: 'max' }));
    runSerial(search, 150, (x) => -distanceTo10(x));
    expect(search.best()!.candidate.genome).toBe(10);
  });

  it('caches fitness by hash: equal programs are trained once', () => {
    const search = new RegularizedEvolution(steps, 0, settings());
    let trained = 0;
    runSerial(search, 60, (x) => { trained++; return distanceTo10(x); });
    expect(search.stats().uniquePrograms).toBe(trained);
    expect(trained).toBeLessThan(60);
    expect(search.cached('x=0')).toBe(10);
    expect(search.cached('x=999')).toBeUndefined();
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const genomes = (seed: number) => runSerial(new RegularizedEvolution(steps, 0, settings({ seed })), 40).map((t) => t.candidate.genome);
    expect(genomes(3)).toEqual(genomes(3));
    expect(genomes(3)).not.toEqual(genomes(4));
  });

  it('replays a history to the same state: a resumed search asks what the uninterrupted one asked', () => {
    const full = runSerial(new RegularizedEvolution(steps, 0, settings({ restartAfter: 6 })), 50);
    for (const cut of [0, 3, 4, 17, 49]) {
      const resumed = new RegularizedEvolution(steps, 0, settings({ restartAfter: 6 }));
      resumed.replay(full.slice(0, cut));
      const rest = runSerial(resumed, 50 - cut);
      expect([...full.slice(0, cut), ...rest].map(describeTold)).toEqual(full.map(describeTold));
    }
  });

  it('refuses to replay a history that names a candidate twice, or into a used search', () => {
    const history = runSerial(new RegularizedEvolution(steps, 0, settings()), 5);
    expect(() => new RegularizedEvolution(steps, 0, settings()).replay([...history, history[2]])).toThrow(/candidate 2 twice/);
    const used = new RegularizedEvolution(steps, 0, settings());
    used.ask();
    expect(() => used.replay(history)).toThrow(/fresh search/);
  });

  it('keeps several candidates in flight and tells them in any order', () => {
    const search = new RegularizedEvolution(steps, 0, settings({ population: 2 }));
    const asked: Candidate<number>[] = [search.ask(), search.ask(), search.ask()];
    // Two fill copies and, with the population still empty, a third copy rather than a tournament.
    expect(asked.map((c) => c.origin)).toEqual(['seed', 'seed', 'seed']);
    search.tell(asked[2].id, 10);
    search.tell(asked[0].id, 10);
    expect(() => search.tell(asked[0].id, 10)).toThrow(/not in flight/);
    expect(() => search.tell(99, 1)).toThrow(/not in flight/);
    expect(search.stats()).toMatchObject({ asked: 3, told: 2, inFlight: 1 });
  });

  it('restarts from the best program, then from the seed, when progress stalls', () => {
    // A fitness that never improves after the first candidate: every restartAfter tells, a restart.
    const search = new RegularizedEvolution(steps, 0, settings({ population: 2, restartAfter: 5 }));
    const history = runSerial(search, 20, (x) => (x === 0 ? 1 : 2));
    expect(search.stats().restarts).toBe(3);
    const origins = history.map((t) => t.candidate.origin);
    expect(origins.indexOf('restart-best')).toBe(6);
    expect(origins.indexOf('restart-seed')).toBeGreaterThan(6);
    expect(history[6].candidate.genome).toBe(search.best()!.candidate.genome);
  });

  it('does not let a candidate asked before a restart join the new population', () => {
    const search = new RegularizedEvolution(steps, 0, settings({ population: 2, restartAfter: 2 }));
    search.tell(search.ask().id, 1);
    const late = search.ask();
    const a = search.ask();
    search.tell(a.id, 5);
    const b = search.ask();
    search.tell(b.id, 5); // second without improvement: restart
    expect(search.stats().generation).toBe(1);
    search.tell(late.id, 7);
    expect(search.population().map((m) => m.candidate.id)).not.toContain(late.id);
  });

  it('rejects settings outside their ranges', () => {
    expect(() => new RegularizedEvolution(steps, 0, settings({ population: 0 }))).toThrow(/population/);
    expect(() => new RegularizedEvolution(steps, 0, settings({ tournament: 5 }))).toThrow(/tournament/);
  });
});

function describeTold(t: Told<number>): string {
  return `${t.candidate.id}:${t.candidate.origin}:${t.candidate.parent}:${t.candidate.genome}:${t.fitness}`;
}
