// The webgpu tests run on whatever adapter VK_ICD_FILENAMES names; where it is unset, on the lavapipe that
// `npm test`'s pretest unpacked into .cache/lavapipe/ (scripts/system-pieces.mjs). Call before Dawn starts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export const LAVAPIPE_ICD = join(ROOT, '.cache', 'lavapipe', 'lvp_icd.json');

/** The environment for a process that should find the test adapter. Throws, saying how, when there is none. */
export function webgpuEnv(): { VK_ICD_FILENAMES: string } {
  const icd = process.env.VK_ICD_FILENAMES ?? LAVAPIPE_ICD;
  if (!existsSync(icd)) throw new Error(`no Vulkan driver for the webgpu tests: ${icd} does not exist; run: npm run system-pieces`);
  return { VK_ICD_FILENAMES: icd };
}

/** Points this process's Vulkan loader at the test adapter (before the first use of Dawn). */
export function useTestAdapter(): void {
  process.env.VK_ICD_FILENAMES = webgpuEnv().VK_ICD_FILENAMES;
}
