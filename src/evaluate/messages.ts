/** Messages between an evaluator thread and its pool. */
import type { RunConfig } from '../config/types.generated.js';
import type { ProxyOutcome } from './proxy.js';

export interface EvaluateRequest {
  id: number;
  config: RunConfig;
  timeLimitMs: number | null;
}

export type EvaluateReply = { id: number; outcome: ProxyOutcome } | { id: number; fatal: string };
