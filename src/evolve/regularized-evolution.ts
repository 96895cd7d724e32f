/**
 * Regularized evolution (Real et al. 2019, "Regularized Evolution for Image Classifier Architecture Search";
 * AutoML-Zero's `regularized_evolution.cc`; Chen et al. 2023, section 2) as a pure ask/tell state machine.
 *
 * The search never evaluates anything itself: a driver asks for a candidate, evaluates it however it likes
 * (in this process, on worker threads, on machines behind a queue) and tells the fitness back. Asks may run
 * ahead of tells (asynchronous evolution keeps several candidates in flight), and the state after a
 * sequence of tells depends only on that sequence, so replaying `history.jsonl` in order rebuilds it.
 *
 * One cycle: sample `tournament` members uniformly (with replacement), take the fittest, mutate a copy,
 * evaluate the child, push it to the back of the population and, when the population is full, drop the
 * oldest member (aging: every member dies of age, however fit). The population starts as `population`
 * copies of the seed program (the paper's initialisation), made once the seed's fitness is known: the seed
 * is the first candidate, and asks made before it is told are further copies of it (a driver's cache turns
 * them into waits, not trainings). When `restartAfter` candidates in a row bring no improvement of the best
 * fitness, the population is rebuilt as copies of the best program so far and of the seed, in turn; both
 * fitnesses are known, so a restart costs no evaluation.
 *
 * Fitness is "lower is better" or "higher is better" (`mode`); a failed or diverged candidate is told
 * `null` and ranks below every number.
 */
import { Rng } from '../random.js';

/** The operations the search needs on a genome (an optimizer program in lion-train; anything in tests). */
export interface GenomeOps<P> {
  /** A mutated copy of `parent`, drawing only from `rng`; the description is logged (`insert`, `delete`, …). */
  mutate(parent: P, rng: Rng): { child: P; mutation: string };
  /** A structural hash: equal for programs that compute the same thing, the fitness cache's key. */
  hash(genome: P): string;
}

export interface EvolutionSettings {
  /** Members kept alive (the paper: 1,000). */
  population: number;
  /** Members sampled per tournament (the paper: 2). */
  tournament: number;
  /** Seed of every random draw; candidate k draws from `Rng.derive(seed, 'candidate', k)`. */
  seed: number;
  /** `min`: lower fitness is better (a loss); `max`: higher is better (an accuracy). */
  mode: 'min' | 'max';
  /** Candidates told in a row without improving the best before the population restarts; 0: never. */
  restartAfter: number;
}

export type CandidateOrigin = 'seed' | 'mutation';

export interface Candidate<P> {
  /** 0, 1, 2, … in the order asked. */
  id: number;
  /** The tournament winner it was mutated from; null for copies of the seed or of a restart program. */
  parent: number | null;
  origin: CandidateOrigin;
  /** The mutation applied (`insert …`, `delete …`), or `seed` for the seed itself. */
  mutation: string;
  genome: P;
  hash: string;
  /** Restart epoch the candidate was asked in; a candidate told after a restart does not join the new population. */
  generation: number;
}

export interface Member<P> {
  candidate: Candidate<P>;
  fitness: number | null;
}

/** What a driver records per finished candidate and what {@link RegularizedEvolution.replay} reads back. */
export interface Told<P> {
  candidate: Candidate<P>;
  fitness: number | null;
}

/** Regularized evolution over genomes `P`; see the module comment for the algorithm. */
export class RegularizedEvolution<P> {
  private readonly members: Member<P>[] = [];
  private readonly cache = new Map<string, number | null>();
  private readonly inFlight = new Map<number, Candidate<P>>();
  private nextId = 0;
  private generation = 0;
  /** The seed once told: what the population starts as, and what every second restart starts from. */
  private seedMember: Member<P> | null = null;
  private bestMember: Member<P> | null = null;
  private sinceImprovement = 0;
  private restarts = 0;

  constructor(
    private readonly ops: GenomeOps<P>,
    private readonly seedGenome: P,
    private readonly settings: EvolutionSettings,
  ) {
    if (!Number.isInteger(settings.population) || settings.population < 1) throw new RangeError(`population must be an integer ≥ 1, got ${settings.population}`);
    if (!Number.isInteger(settings.tournament) || settings.tournament < 1 || settings.tournament > settings.population) {
      throw new RangeError(`tournament must be an integer in [1, population=${settings.population}], got ${settings.tournament}`);
    }
  }

  /** The next candidate to evaluate. */
  ask(): Candidate<P> {
    const id = this.nextId++;
    const rng = Rng.derive(this.settings.seed, 'candidate', id);
    let candidate: Candidate<P>;
    if (this.members.length === 0) {
      candidate = { id, parent: null, origin: 'seed', mutation: 'seed', genome: this.seedGenome, hash: this.ops.hash(this.seedGenome), generation: this.generation };
    } else {
      const parent = this.tournament(rng);
      const { child, mutation } = this.ops.mutate(parent.candidate.genome, rng);
      candidate = { id, parent: parent.candidate.id, origin: 'mutation', mutation, genome: child, hash: this.ops.hash(child), generation: this.generation };
    }
    this.inFlight.set(id, candidate);
    return candidate;
  }

  /**
   * The fitness already measured for a program with this hash (`undefined` when none): a driver tells it
   * at once instead of training again. `null` is a cached failure.
   */
  cached(hash: string): number | null | undefined {
    return this.cache.get(hash);
  }

  /**
   * Records the fitness of an asked candidate (`null` or a non-finite number: failed, ranks last).
   * @throws Error when `id` was never asked or was told already.
   */
  tell(id: number, fitness: number | null): void {
    const candidate = this.inFlight.get(id);
    if (!candidate) throw new Error(`candidate ${id} is not in flight (never asked, or told already)`);
    this.inFlight.delete(id);
    this.record(candidate, fitness);
  }

  /**
   * Rebuilds the state from finished candidates in the order they were told (a `history.jsonl`), so a
   * killed search goes on where it stopped. Candidates that were in flight are lost; new asks continue
   * after the highest id told, so with one candidate in flight at a time the resumed search asks exactly
   * what the uninterrupted one would have.
   * @throws Error when the search has been used already or the history names a candidate twice.
   */
  replay(history: Iterable<Told<P>>): void {
    if (this.nextId !== 0) throw new Error('replay needs a fresh search');
    const seen = new Set<number>();
    for (const { candidate, fitness } of history) {
      if (seen.has(candidate.id)) throw new Error(`history names candidate ${candidate.id} twice`);
      seen.add(candidate.id);
      this.nextId = Math.max(this.nextId, candidate.id + 1);
      this.record(candidate, fitness);
    }
  }

  /** Members alive now, oldest first. */
  population(): readonly Member<P>[] {
    return this.members;
  }

  best(): Member<P> | null {
    return this.bestMember;
  }

  stats(): { asked: number; told: number; inFlight: number; restarts: number; generation: number; uniquePrograms: number } {
    return {
      asked: this.nextId,
      told: this.nextId - this.inFlight.size,
      inFlight: this.inFlight.size,
      restarts: this.restarts,
      generation: this.generation,
      uniquePrograms: this.cache.size,
    };
  }

  /** True when `a` is strictly fitter than `b` (null ranks last). */
  better(a: number | null, b: number | null): boolean {
    if (a === null) return false;
    if (b === null) return true;
    return this.settings.mode === 'min' ? a < b : a > b;
  }

  private tournament(rng: Rng): Member<P> {
    let winner = this.members[rng.int(this.members.length)];
    for (let i = 1; i < this.settings.tournament; i++) {
      const contender = this.members[rng.int(this.members.length)];
      if (this.better(contender.fitness, winner.fitness)) winner = contender;
    }
    return winner;
  }

  private record(candidate: Candidate<P>, raw: number | null): void {
    const fitness = raw === null || !Number.isFinite(raw) ? null : raw;
    if (!this.cache.has(candidate.hash)) this.cache.set(candidate.hash, fitness);
    const member = { candidate, fitness };
    if (this.bestMember === null || this.better(fitness, this.bestMember.fitness)) {
      this.bestMember = member;
      this.sinceImprovement = 0;
    } else {
      this.sinceImprovement++;
    }
    if (candidate.origin === 'seed' && this.seedMember === null) {
      this.seedMember = member;
      this.fill(member);
    } else if (candidate.generation === this.generation) {
      this.members.push(member);
      if (this.members.length > this.settings.population) this.members.shift();
    }
    if (this.settings.restartAfter > 0 && this.sinceImprovement >= this.settings.restartAfter) this.restart();
  }

  private restart(): void {
    this.restarts++;
    this.generation++;
    this.sinceImprovement = 0;
    this.fill(this.restarts % 2 === 1 ? this.bestMember! : this.seedMember!);
  }

  /** The population as `population` copies of one member (its fitness already known). */
  private fill(member: Member<P>): void {
    this.members.length = 0;
    for (let i = 0; i < this.settings.population; i++) this.members.push(member);
  }
}
