/**
 * A running trial's progress, read from what its run directory already holds: the latest train record
 * of metrics.jsonl and summary.json's totalSteps. Used by `sweep` to print a line per running trial
 * between its start and its end (the trial's own output goes to its log file).
 */
import { readInputText } from '../files/input-file.js';
import { join } from 'node:path';
import { formatNumber } from '../telemetry/table.js';

export interface TrialProgress {
  step: number;
  totalSteps: number | undefined;
  loss: number | undefined;
}

/** The trial's latest logged step, or undefined before its first log line. */
export function trialProgress(runDir: string): TrialProgress | undefined {
  let text: string;
  try {
    text = readInputText(join(runDir, 'metrics.jsonl'));
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(lines[i]) as Record<string, unknown>;
    } catch {
      continue; // empty, or a line still being written
    }
    if (record.split !== 'train' || typeof record.step !== 'number') continue;
    let totalSteps: number | undefined;
    try {
      totalSteps = (JSON.parse(readInputText(join(runDir, 'summary.json'))) as { totalSteps?: number }).totalSteps;
    } catch {
      totalSteps = undefined;
    }
    return { step: record.step, totalSteps, loss: typeof record.loss === 'number' ? record.loss : undefined };
  }
  return undefined;
}

/** `step 120/400 (30%) loss 0.4321`. */
export function formatTrialProgress(progress: TrialProgress): string {
  const total = progress.totalSteps ? `/${progress.totalSteps} (${Math.floor((100 * progress.step) / progress.totalSteps)}%)` : '';
  return `step ${progress.step}${total}${progress.loss === undefined ? '' : ` loss ${formatNumber(progress.loss)}`}`;
}
