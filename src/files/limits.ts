/**
 * The in-memory data limit: the most bytes a dataset's decoded arrays may take in this process.
 * 2 GiB by default; the environment variable LION_TRAIN_DATA_MEMORY_LIMIT (a whole number of bytes) sets it
 * for a machine with more (or less) memory. Data over the limit is refused with its size and the limit.
 */
import { EXIT, UserError } from '../errors.js';

export const DEFAULT_DATA_MEMORY_LIMIT = 2 * 1024 ** 3;
export const DATA_LIMIT_VARIABLE = 'LION_TRAIN_DATA_MEMORY_LIMIT';
export const DATA_LIMIT_HINT = `set ${DATA_LIMIT_VARIABLE} (bytes) to raise the limit on a machine with the memory`;

/**
 * The limit in bytes.
 * @throws UserError (exit 2) when the environment variable is set but not a positive whole number.
 */
export function dataMemoryLimit(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[DATA_LIMIT_VARIABLE];
  if (text === undefined || text === '') return DEFAULT_DATA_MEMORY_LIMIT;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new UserError(`${DATA_LIMIT_VARIABLE}=${text}: expected a whole number of bytes`, EXIT.usage);
  return Number(text);
}
