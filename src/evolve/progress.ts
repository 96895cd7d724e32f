/**
 * The search's progress: on a terminal one status line rewritten in place (candidates, rate, best, cache
 * hits, ETA); elsewhere a plain line every 10 candidates. Other lines (baselines, funnel) print above it.
 */
import { formatSeconds } from '../telemetry/table.js';
import type { SearchSettings } from './settings.js';

export type ProgressMode = 'auto' | 'bar' | 'plain' | 'none';

export interface SearchState {
  told: number;
  evaluated: number;
  elapsedMs: number;
  best: number | null;
  bestId: number | null;
}

export class SearchProgress {
  private readonly live: boolean;
  private lastLine = '';
  private shown = 0;

  constructor(private readonly mode: ProgressMode, private readonly settings: SearchSettings, private readonly log: (line: string) => void, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.live = mode === 'bar' || (mode === 'auto' && stream.isTTY === true);
  }

  update(state: SearchState): void {
    if (this.mode === 'none') return;
    const line = this.format(state);
    if (this.live) {
      const width = this.stream.columns ?? 80;
      this.stream.write(`\r\x1b[K${line.slice(0, width - 1)}`);
      this.lastLine = line;
    } else if (state.told - this.shown >= 10) {
      this.shown = state.told;
      this.log(line);
    }
  }

  done(): void {
    if (this.live && this.lastLine) this.stream.write('\n');
  }

  private format(state: SearchState): string {
    const { candidates, maxMinutes } = this.settings.budget;
    const minutes = state.elapsedMs / 60_000;
    const rate = minutes > 0 ? state.evaluated / minutes : 0;
    const hits = state.told - state.evaluated;
    const perCandidateMs = state.told > 0 ? state.elapsedMs / state.told : 0;
    const etaByCount = candidates === null ? Infinity : (candidates - state.told) * perCandidateMs;
    const etaByTime = maxMinutes === null ? Infinity : maxMinutes * 60_000 - state.elapsedMs;
    const eta = Math.max(0, Math.min(etaByCount, etaByTime));
    const parts = [
      `evolve ${state.told}${candidates === null ? '' : `/${candidates}`} candidates`,
      `${rate.toFixed(1)} trained/min`,
      `best ${state.best === null ? '-' : state.best.toPrecision(5)}${state.bestId === null ? '' : ` (#${state.bestId})`}`,
      `cache hits ${hits} (${state.told > 0 ? ((100 * hits) / state.told).toFixed(0) : 0} %)`,
      `elapsed ${formatSeconds(state.elapsedMs / 1000)}`,
      `ETA ${Number.isFinite(eta) ? formatSeconds(eta / 1000) : '-'}`,
    ];
    return parts.join(' · ');
  }
}
