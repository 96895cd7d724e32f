/**
 * The quality figures of a run's one-line summary: the test split when the run has one, else validation;
 * accuracy for classifiers, bits per character for language models, then the loss.
 * `test accuracy 96.48%, test loss 0.2251` · `validation bits/char 2.912, validation loss 2.0186`.
 */
import type { RunSummary } from '../telemetry/summary.js';

export function qualityHeadline(summary: RunSummary): string {
  for (const split of ['test', 'validation'] as const) {
    const metrics = summary.final[split];
    if (!metrics || typeof metrics.loss !== 'number') continue;
    const parts: string[] = [];
    if (typeof metrics.bitsPerChar === 'number') parts.push(`${split} bits/char ${metrics.bitsPerChar.toFixed(3)}`);
    else if (typeof metrics.accuracy === 'number') parts.push(`${split} accuracy ${(100 * metrics.accuracy).toFixed(2)}%`);
    parts.push(`${split} loss ${metrics.loss.toFixed(4)}`);
    return parts.join(', ');
  }
  return '';
}
