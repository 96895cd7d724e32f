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
  it('trains the seed first, fills the population with copies of it, then mutates tournament winners', () => {
    const search = new RegularizedEvolution(steps, 0, settings());
    const history = runSerial(search, 3);
    expect(history[0].candidate).toMatchObject({ id: 0, origin: 'seed', parent: null, genome: 0 });
    expect(search.population()).toHaveLength(4);
    expect(history[1].candidate).toMatchObject({ id: 1, origin: 'mutation', parent: 0 });
    expect(Math.abs(history[1].candidate.genome)).toBeGreaterThanOrEqual(1);
    // Members now: three copies of the seed and candidate 1 (the oldest copy died).
    expect(history[2].candidate.origin).toBe('mutation');
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
    // Seed told 5 (population: three copies of #0), then #1 told 1 and #2 told 3: members #0, #1, #2.
    const fit = [5, 1, 3];
    for (let i = 0; i < 3; i++) search.tell(search.ask().id, fit[i]);
    expect(search.population().map((m) => m.candidate.id)).toEqual([0, 1, 2]);
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
    search.tell(search.ask().id, Number.NaN);
    const good = search.ask();
    search.tell(good.id, 3);
    expect(search.population().map((m) => m.fitness)).toEqual([null, 3]);
    // Every tournament that samples the good member picks it; some of 40 children must descend from it.
    const parents = Array.from({ length: 40 }, () => search.ask().parent);
    expect(parents).toContain(good.id);
    expect(search.best()!.candidate.id).toBe(good.id);
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
    // Until the seed is told there is no population: every ask is the seed again (a driver waits on it).
    expect(asked.map((c) => c.origin)).toEqual(['seed', 'seed', 'seed']);
    search.tell(asked[2].id, 10);
    expect(search.population()).toHaveLength(2);
    search.tell(asked[0].id, 10);
    expect(() => search.tell(asked[0].id, 10)).toThrow(/not in flight/);
    expect(() => search.tell(99, 1)).toThrow(/not in flight/);
    expect(search.stats()).toMatchObject({ asked: 3, told: 2, inFlight: 1 });
    expect(search.ask().origin).toBe('mutation');
  });

  it('restarts from the best program, then from the seed, when progress stalls, with no evaluation', () => {
    // The seed (x = 0) scores 1, every other program 2: no improvement after the seed.
    const search = new RegularizedEvolution(steps, 0, settings({ population: 2, restartAfter: 5 }));
    const seen: number[][] = [];
    const history: Told<number>[] = [];
    for (let i = 0; i < 17; i++) {
      const c = search.ask();
      const f = c.genome === 0 ? 1 : 2;
      search.tell(c.id, f);
      history.push({ candidate: c, fitness: f });
      seen.push(search.population().map((m) => m.candidate.id));
    }
    expect(search.stats().restarts).toBe(3);
    // Restart 1 (after candidate 5) from the best, which is the seed here; generations advance.
    expect(seen[5]).toEqual([0, 0]);
    expect(history.filter((t) => t.candidate.origin === 'seed')).toHaveLength(1);
    expect(history[6].candidate.generation).toBe(1);
  });

  it('restarts from the best program when it is not the seed', () => {
    // Fitness: the genome's distance to 3, except that nothing beats the first program reaching 3.
    const search = new RegularizedEvolution(steps, 0, settings({ population: 3, restartAfter: 4, seed: 11 }));
    let best: number | null = null;
    for (let i = 0; i < 60 && search.stats().restarts === 0; i++) {
      const c = search.ask();
      const f = best !== null && c.genome !== best ? 9 : Math.abs(c.genome - 3);
      if (f === 0 && best === null) best = c.genome;
      search.tell(c.id, f);
    }
    expect(search.stats().restarts).toBe(1);
    expect(new Set(search.population().map((m) => m.candidate.genome))).toEqual(new Set([search.best()!.candidate.genome]));
    expect(search.best()!.candidate.origin).toBe('mutation');
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
