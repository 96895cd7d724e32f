/**
 * `lion-train evolve`: the search of Chen et al. (2023) run on the runner as fitness. It reads top to bottom:
 *
 *   1. Directory: a new search directory (marker first), or the one being resumed; the resolved config
 *      is saved as evolve.yaml, with every path in it made absolute so a resume finds the same files.
 *   2. Baselines and the seed on the proxy: built-in optimizers (with the config's tuning) for comparison.
 *   3. The search: regularized evolution keeps `jobs` candidates in flight on the evaluators; a candidate
 *      whose hash was seen is told the cached fitness at once; each finished candidate is appended to
 *      history.jsonl before the next is asked for, so `kill -9` loses only the candidates in flight.
 *   4. The funnel: the top programs of each stage, the seed and the baselines trained on the next stage.
 *   5. Results: summary.json, best.yaml (an optimizer section for `extends:`), top.md.
 *
 * Resume rule: `--resume <dir>` replays history.jsonl into a fresh search (same seed, same settings), so
 * with `--jobs 1` the resumed search asks exactly the candidates the uninterrupted one would have.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { readInputText } from '../files/input-file.js';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { ConfigError, configToYaml, loadConfig } from '../config/index.js';
import { checkComponents, staticProblems } from '../train/static-checks.js';
import type { RunConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
import { createEvaluator, type Evaluator } from '../evaluate/pool.js';
import type { ProxyOutcome } from '../evaluate/proxy.js';
import type { Program } from '../program/ast.js';
import { programHash } from '../program/hash.js';
import { parseProgram } from '../program/parse.js';
import { printProgram } from '../program/print.js';
import { EVOLVE_MARKER, HistoryLog, type HistoryRecord, readHistory } from './history.js';
import { mutateProgram } from './mutate.js';
import { type Candidate, RegularizedEvolution, type Told } from './regularized-evolution.js';
import { writeResults, type EvolveSummary, type FunnelTable } from './results.js';
import { searchSettings, type SearchSettings, type Stage } from './settings.js';
import { SearchProgress, type ProgressMode } from './progress.js';

export interface EvolveOptions {
  /** `key.path=value` overrides of the config (or, with `resume`, of the saved evolve.yaml). */
  set?: string[];
  /** Evaluators working at once (threads; 1: in this thread). */
  jobs?: number;
  /** Search directory to continue. */
  resume?: string;
  /** Replace an existing search directory (only one lion-train made). */
  overwrite?: boolean;
  /** Search directory (default `<output.root>/<name>-evolve`). */
  dir?: string;
  progress?: ProgressMode;
  log?: (line: string) => void;
  /** Set `signal` to stop asking for candidates; those in flight finish and are recorded. */
  stop?: { signal: string | null };
  /** Redis URL: candidates become jobs for `lion-train worker`s; `jobs` is then how many are in flight. */
  queue?: string;
  /** Replaces the evaluators (tests). */
  evaluator?: Evaluator;
}

export interface EvolveResult {
  dir: string;
  summary: EvolveSummary;
}

/**
 * Runs (or resumes) the search that `configFile` declares in its `evolve:` section.
 * @throws UserError exit 2 for config problems, an existing directory, or a resume of a non-search;
 *   exit 1 when the proxy's dataset cannot be loaded.
 */
export async function evolve(configFile: string | undefined, options: EvolveOptions = {}): Promise<EvolveResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stop = options.stop ?? { signal: null };

  // ── 1. Directory and settings ───────────────────────────────────────────────────────────────
  const resumeDir = options.resume === undefined ? undefined : resolve(options.resume);
  if (resumeDir && !existsSync(join(resumeDir, EVOLVE_MARKER))) {
    throw new UserError(`cannot resume ${options.resume}: not a search directory of lion-train evolve (no ${EVOLVE_MARKER})`, EXIT.usage);
  }
  const file = resumeDir ? join(resumeDir, 'evolve.yaml') : configFile;
  if (!file) throw new UserError('evolve needs a config file, or --resume <dir>', EXIT.usage);
  const set = options.set ?? [];
  const loaded = loadConfig(file, { set });
  const settings = searchSettings(loaded.config, loaded.file, set);
  const problems = await staticProblems(loaded, { resolved: resumeDir !== undefined });
  if (problems.length > 0) throw new ConfigError(problems);
  const dir = resumeDir ?? resolve(options.dir ?? join(loaded.config.output.root, `${loaded.config.name}-evolve`));
  if (!resumeDir) prepareDirectory(dir, options.overwrite === true);
  writeFileAtomic(join(dir, 'evolve.yaml'), configToYaml(savedConfig(loaded.config, settings)));
  log(`search directory: ${dir}`);

  const searchId = readInputText(join(dir, EVOLVE_MARKER)).match(/search ([0-9a-f]+)/)?.[1] ?? 'search';
  const evaluator = options.evaluator ?? (options.queue ? await queueEvaluator(options.queue, searchId, options.jobs ?? 1) : createEvaluator(options.jobs ?? 1));
  const progress = new SearchProgress(options.progress ?? 'auto', settings, log);
  try {
    const funnelPath = join(dir, 'funnel.json');
    const funnel: FunnelTable = existsSync(funnelPath) ? (JSON.parse(readInputText(funnelPath)) as FunnelTable) : { metric: settings.metric, stages: [] };
    const saveFunnel = () => writeJsonAtomic(funnelPath, funnel);
    const proxy = settings.stages[0];

    // ── 2. Baselines and the seed on the proxy ──────────────────────────────────────────────────
    await trainReferences(proxy, settings, evaluator, funnel, saveFunnel, log);

    // ── 3. The search ───────────────────────────────────────────────────────────────────────────
    const historyPath = join(dir, 'history.jsonl');
    const previous = readHistory(historyPath);
    const search = new RegularizedEvolution<Program>(
      { mutate: (parent, rng) => mutateProgram(parent, rng, settings.mutation), hash: programHash },
      settings.seedProgram.program,
      settings.evolution,
    );
    search.replay(previous.map(toTold));
    if (previous.length > 0) log(`resumed: ${previous.length} candidates replayed from history.jsonl`);
    const history = new HistoryLog(historyPath);
    const elapsedBefore = previous.length > 0 ? previous[previous.length - 1].elapsedMs : 0;
    const start = performance.now();
    const elapsed = () => elapsedBefore + (performance.now() - start);
    let told = previous.length;
    let evaluated = previous.filter((r) => !r.cacheHit).length;
    let evaluationMs = previous.reduce((sum, r) => sum + (r.cacheHit ? 0 : r.wallMs), 0);
    const { candidates: maxCandidates, maxMinutes } = settings.budget;
    const budgetLeft = (inFlight: number) =>
      stop.signal === null && (maxCandidates === null || told + inFlight < maxCandidates) && (maxMinutes === null || elapsed() < maxMinutes * 60_000);

    const record = (candidate: Candidate<Program>, outcome: { fitness: number | null; failure?: string; cacheHit: boolean; wallMs: number }) => {
      search.tell(candidate.id, outcome.fitness);
      history.append({
        id: candidate.id,
        parent: candidate.parent,
        origin: candidate.origin,
        mutation: candidate.mutation,
        generation: candidate.generation,
        program: printProgram(candidate.genome),
        hash: candidate.hash,
        fitness: { [proxy.name]: outcome.fitness },
        ...(outcome.failure ? { failure: outcome.failure } : {}),
        cacheHit: outcome.cacheHit,
        wallMs: Math.round(outcome.wallMs),
        elapsedMs: Math.round(elapsed()),
      });
      told++;
      if (!outcome.cacheHit) {
        evaluated++;
        evaluationMs += outcome.wallMs;
      }
      progress.update({ told, evaluated, elapsedMs: elapsed(), best: search.best()?.fitness ?? null, bestId: search.best()?.candidate.id ?? null });
    };

    // Candidates whose program is being trained now, by hash: an equal program waits for that result.
    const pending = new Map<string, Promise<number | null>>();
    const inFlight = new Set<Promise<void>>();
    while (budgetLeft(inFlight.size)) {
      while (inFlight.size < evaluator.jobs && budgetLeft(inFlight.size)) {
        const candidate = search.ask();
        // The seed was trained on the proxy with the baselines: its fitness is known.
        const seedRow = funnel.stages[0].seed;
        const cached = candidate.origin === 'seed' && seedRow !== null ? seedRow.fitness : search.cached(candidate.hash);
        if (cached !== undefined) {
          record(candidate, { fitness: cached, cacheHit: true, wallMs: 0 });
          continue;
        }
        const running = pending.get(candidate.hash);
        const work: Promise<void> = running
          ? running.then((fitness) => record(candidate, { fitness, cacheHit: true, wallMs: 0 }))
          : (() => {
              const result = trainProgram(proxy, candidate.genome, settings, evaluator, `c${candidate.id}-${candidate.hash}`);
              pending.set(candidate.hash, result.then((r) => r.fitness));
              return result.then((r) => {
                pending.delete(candidate.hash);
                record(candidate, { ...r, cacheHit: false });
              });
            })();
        const tracked = work.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
      if (inFlight.size === 0) break;
      await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    progress.done();

    // ── 4. The funnel ───────────────────────────────────────────────────────────────────────────
    const records = readHistory(historyPath);
    if (stop.signal === null) {
      for (let s = 1; s < settings.stages.length; s++) {
        // The seed is trained on every stage anyway: it is not promoted as a candidate.
        const seedHash = programHash(settings.seedProgram.program);
        const ranking = (s === 1 ? proxyRanking(records) : stageRanking(funnel, settings.stages[s - 1].name)).filter((r) => r.hash !== seedHash);
        const promoted = topPrograms(ranking, settings.stages[s].top, settings.evolution.mode);
        log(`funnel stage ${settings.stages[s].name}: ${promoted.length} programs, the seed and ${settings.baselines.join(', ')}`);
        await trainReferences(settings.stages[s], settings, evaluator, funnel, saveFunnel, log, promoted);
      }
    }

    // ── 5. Results ──────────────────────────────────────────────────────────────────────────────
    const summary = writeResults(dir, {
      status: stop.signal === null ? 'completed' : 'interrupted',
      settings,
      records,
      funnel,
      elapsedMs: elapsed(),
      evaluated,
      evaluationMs,
      restarts: search.stats().restarts,
      jobs: evaluator.jobs,
    });
    return { dir, summary };
  } finally {
    if (!options.evaluator) await evaluator.close();
  }
}

async function queueEvaluator(url: string, searchId: string, jobs: number): Promise<Evaluator> {
  const { QueueEvaluator } = await import('../queue/evaluator.js');
  return new QueueEvaluator(url, searchId, jobs);
}

/** What a search directory holds: the only entries `--overwrite` removes. */
const SEARCH_FILES = new Set([EVOLVE_MARKER, 'evolve.yaml', 'history.jsonl', 'funnel.json', 'summary.json', 'best.yaml', 'top.md']);

/** A new (or empty) search directory, marked as lion-train's before anything else is written. */
function prepareDirectory(dir: string, overwrite: boolean): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    if (!overwrite) throw new UserError(`search directory ${dir} already exists (continue it with --resume ${dir}, or replace it with --overwrite)`, EXIT.usage);
    if (!existsSync(join(dir, EVOLVE_MARKER))) {
      const what = readdirSync(dir).slice(0, 3).join(', ');
      throw new UserError(`not replacing ${dir}: lion-train evolve did not make it (no ${EVOLVE_MARKER}; it holds ${what || 'nothing'})`, EXIT.usage);
    }
    // Only what a search writes is removed, entry by entry; anything else in the way refuses the overwrite.
    const foreign = readdirSync(dir).find((entry) => !SEARCH_FILES.has(entry) && !/^\..+\.\d+\.tmp$/.test(entry));
    if (foreign !== undefined || lstatSync(dir).isSymbolicLink()) {
      throw new UserError(`not replacing ${dir}: it holds ${foreign ?? 'a link'}, which lion-train evolve did not write; move it away first`, EXIT.usage);
    }
    for (const entry of readdirSync(dir)) if (entry !== EVOLVE_MARKER) unlinkSync(join(dir, entry));
    unlinkSync(join(dir, EVOLVE_MARKER));
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, EVOLVE_MARKER), `lion-train evolve search directory (format 1), search ${randomBytes(8).toString('hex')}\n`);
}

/** The config as saved in evolve.yaml: seed program and stage configs as absolute paths. */
function savedConfig(config: RunConfig, settings: SearchSettings): RunConfig {
  const evolve = config.evolve!;
  const shipped = /^[a-z0-9-]+$/.test(evolve.seedProgram);
  return {
    ...config,
    evolve: {
      ...evolve,
      seedProgram: shipped ? evolve.seedProgram : resolve(settings.stages[0].file, '..', evolve.seedProgram),
      funnel: evolve.funnel.map((stage, i) => ({ ...stage, config: stage.config === null ? null : settings.stages[i + 1].file })),
    },
  };
}

function toTold(record: HistoryRecord): Told<Program> {
  const genome = parseProgram(record.program);
  const fitness = Object.values(record.fitness)[0] ?? null;
  return {
    candidate: { id: record.id, parent: record.parent, origin: record.origin as Candidate<Program>['origin'], mutation: record.mutation, genome, hash: record.hash, generation: record.generation },
    fitness,
  };
}

/** The overrides that make a stage's config train `program`. */
export function programOverrides(program: Program): string[] {
  return ['optimizer.name=program', 'optimizer.learningRate=1', `optimizer.program=${JSON.stringify(printProgram(program))}`];
}

interface Trained {
  fitness: number | null;
  failure?: string;
  wallMs: number;
}

function fitnessOf(outcome: ProxyOutcome, metric: string): Trained {
  if (outcome.status !== 'completed') return { fitness: null, failure: `${outcome.status}: ${outcome.reason ?? ''}`.trim(), wallMs: outcome.wallMs };
  const value = outcome.metrics[metric];
  if (value === undefined) return { fitness: null, failure: `the run measured no ${metric}`, wallMs: outcome.wallMs };
  return { fitness: Number.isFinite(value) ? value : null, wallMs: outcome.wallMs };
}

/** Trains `program` on `stage`; a config the program makes invalid is a failed candidate, not an error. */
/**
 * A stage's config with `set` on top, checked as `train` checks it; a model or data module's option
 * defaults are filled in by that check.
 * @throws ConfigError with the problems found.
 */
async function stageConfig(stage: Stage, set: string[]): Promise<RunConfig> {
  const loaded = loadConfig(stage.file, { set: [...stage.set, ...set] });
  const { problems } = await checkComponents(loaded);
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded.config;
}

async function trainProgram(stage: Stage, program: Program, settings: SearchSettings, evaluator: Evaluator, key: string): Promise<Trained> {
  let config: RunConfig;
  try {
    config = await stageConfig(stage, programOverrides(program));
  } catch (error) {
    return { fitness: null, failure: `invalid config: ${(error as Error).message.split('\n')[0]}`, wallMs: 0 };
  }
  return fitnessOf(await evaluator.evaluate(config, settings.timeLimitMs, key), settings.metric);
}

async function trainBuiltIn(stage: Stage, optimizer: string, settings: SearchSettings, evaluator: Evaluator): Promise<Trained> {
  const config = await stageConfig(stage, [`optimizer.name=${optimizer}`]);
  return fitnessOf(await evaluator.evaluate(config, null, `${stage.name}-${optimizer}`), settings.metric);
}

/**
 * Trains on `stage` whatever its row of the funnel table still lacks: the baselines, the seed program
 * and the promoted programs, in parallel on the evaluators; the table is saved after each one.
 */
async function trainReferences(
  stage: Stage,
  settings: SearchSettings,
  evaluator: Evaluator,
  funnel: FunnelTable,
  save: () => void,
  log: (line: string) => void,
  promoted: Array<{ hash: string; id: number; program: string }> = [],
): Promise<void> {
  let row = funnel.stages.find((s) => s.name === stage.name);
  if (!row) {
    row = { name: stage.name, baselines: {}, seed: null, programs: [] };
    funnel.stages.push(row);
  }
  const target = row;
  // Results of programs no longer promoted (the search went on after a resume) are dropped; the rest are kept.
  if (stage.top > 0) target.programs = target.programs.filter((p) => promoted.some((q) => q.hash === p.hash));
  const jobs: Array<() => Promise<void>> = [];
  for (const baseline of settings.baselines) {
    if (baseline in target.baselines) continue;
    jobs.push(async () => {
      const result = await trainBuiltIn(stage, baseline, settings, evaluator);
      target.baselines[baseline] = result.fitness;
      log(`${stage.name}: ${baseline} ${settings.metric} ${formatFitness(result.fitness)}${result.failure ? ` (${result.failure})` : ''}`);
      save();
    });
  }
  if (target.seed === null) {
    jobs.push(async () => {
      const result = await trainProgram(stage, settings.seedProgram.program, settings, evaluator, `${stage.name}-seed`);
      target.seed = { program: settings.seedProgram.name, fitness: result.fitness };
      log(`${stage.name}: seed program ${settings.seedProgram.name} ${settings.metric} ${formatFitness(result.fitness)}`);
      save();
    });
  }
  for (const entry of promoted) {
    if (target.programs.some((p) => p.hash === entry.hash)) continue;
    jobs.push(async () => {
      const result = await trainProgram(stage, parseProgram(entry.program), settings, evaluator, `${stage.name}-${entry.hash}`);
      target.programs.push({ ...entry, fitness: result.fitness });
      log(`${stage.name}: candidate ${entry.id} ${settings.metric} ${formatFitness(result.fitness)}`);
      save();
    });
  }
  // As many at once as there are evaluators.
  const queue = [...jobs];
  await Promise.all(Array.from({ length: Math.min(evaluator.jobs, queue.length) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await job();
  }));
  if (stage.top > 0) {
    target.programs = promoted.map((q) => target.programs.find((p) => p.hash === q.hash)!).filter(Boolean);
    save();
  }
}

export function formatFitness(value: number | null): string {
  return value === null ? 'failed' : value.toPrecision(5);
}

/** Proxy results by program, best first per hash. */
function proxyRanking(records: HistoryRecord[]): Array<{ hash: string; id: number; program: string; fitness: number | null }> {
  return records.filter((r) => !r.cacheHit).map((r) => ({ hash: r.hash, id: r.id, program: r.program, fitness: Object.values(r.fitness)[0] ?? null }));
}

function stageRanking(funnel: FunnelTable, name: string): Array<{ hash: string; id: number; program: string; fitness: number | null }> {
  return funnel.stages.find((s) => s.name === name)?.programs ?? [];
}

/** The `top` fittest distinct programs (by hash) with a number for fitness. */
export function topPrograms<T extends { hash: string; fitness: number | null }>(ranking: T[], top: number, mode: 'min' | 'max'): T[] {
  const seen = new Set<string>();
  const sorted = ranking.filter((r) => r.fitness !== null).sort((a, b) => (mode === 'min' ? a.fitness! - b.fitness! : b.fitness! - a.fitness!));
  const out: T[] = [];
  for (const entry of sorted) {
    if (seen.has(entry.hash)) continue;
    seen.add(entry.hash);
    out.push(entry);
    if (out.length === top) break;
  }
  return out;
}
