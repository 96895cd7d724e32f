/**
 * Jobs on the queue. A job is an input like any other: the worker validates its payload again (the config
 * against the run schema) before running anything, and refuses one that fails with the reason, never retried.
 *
 *   candidate: train a resolved config as a proxy run (evolve); result: the ProxyOutcome.
 *   trial:     train a resolved config as a full run into <runs-root>/<sweep>/<trial>/ (sweep); result: its summary.
 */
import { UnrecoverableError } from 'bullmq';
import type { RunConfig } from '../config/types.generated.js';
import { runValidator } from '../config/schema.js';
import type { ProxyOutcome } from '../evaluate/proxy.js';
import type { RunSummary } from '../telemetry/summary.js';

export interface CandidatePayload {
  kind: 'candidate';
  config: RunConfig;
  timeLimitMs: number | null;
}

export interface TrialPayload {
  kind: 'trial';
  /** The sweep's name and the trial's: the run directory is <runs-root>/<sweep>/<trial>. */
  sweep: string;
  trial: string;
  config: RunConfig;
}

export type JobPayload = CandidatePayload | TrialPayload;

/** What a worker returns, whatever the job: where it ran, and the outcome. */
export interface WorkerInfo {
  host: string;
  backend: string;
  wallMs: number;
}
export type CandidateResult = { kind: 'candidate'; outcome: ProxyOutcome; worker: WorkerInfo };
export type TrialResult = { kind: 'trial'; summary: RunSummary; runDir: string; worker: WorkerInfo };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._=,~+-]*$/;

/**
 * The payload of a job, checked: kind, names safe as folder names, a config the run schema accepts.
 * @throws UnrecoverableError (the job fails at once, with no retry) naming what is wrong.
 */
export function checkedPayload(data: unknown): JobPayload {
  const refuse = (why: string): never => {
    throw new UnrecoverableError(`invalid job payload: ${why}`);
  };
  if (typeof data !== 'object' || data === null) return refuse('not an object');
  const payload = data as Record<string, unknown>;
  if (payload.kind !== 'candidate' && payload.kind !== 'trial') return refuse(`kind must be candidate or trial, got ${JSON.stringify(payload.kind)}`);
  if (payload.kind === 'trial') {
    for (const key of ['sweep', 'trial'] as const) {
      const value = payload[key];
      if (typeof value !== 'string' || !NAME.test(value) || value.length > 200) return refuse(`${key} must be a plain name (letters, digits, . _ = , ~ + -), got ${JSON.stringify(value)}`);
    }
  } else if (payload.timeLimitMs !== null && (typeof payload.timeLimitMs !== 'number' || !(payload.timeLimitMs > 0))) {
    return refuse(`timeLimitMs must be a positive number or null, got ${JSON.stringify(payload.timeLimitMs)}`);
  }
  if (typeof payload.config !== 'object' || payload.config === null) return refuse('config must be an object');
  // Validated on a copy: the schema's defaults must not be filled into the config that runs (the
  // controller resolved it; other optimizers' blocks stay as written there).
  const validate = runValidator();
  if (!validate(structuredClone(payload.config))) {
    const first = validate.errors![0];
    return refuse(`config${first.instancePath.replace(/\//g, '.')}: ${first.message}`);
  }
  return payload as unknown as JobPayload;
}
