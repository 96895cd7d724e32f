/** Reading and tampering with checkpoints on disk, for tests of what lion-train trusts. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../../src/safetensors.js';

export type State = Record<string, unknown> & { step: unknown; checksums: Record<string, string> };

export function readState(checkpointDir: string): State {
  return JSON.parse(readFileSync(join(checkpointDir, 'state.json'), 'utf8')) as State;
}

export function writeState(checkpointDir: string, state: unknown): void {
  writeFileSync(join(checkpointDir, 'state.json'), JSON.stringify(state, null, 2));
}

/** Rewrites a tensor file through `edit` and records its new sha256 in state.json, so only the content is wrong. */
export function rewriteTensors(checkpointDir: string, file: 'model.safetensors' | 'optimizer.safetensors', edit: (tensors: NamedArray[]) => NamedArray[]): void {
  const tensors = decodeSafetensors(readFileSync(join(checkpointDir, file))).tensors;
  writeRawTensorFile(checkpointDir, file, encodeSafetensors(edit(tensors)));
}

/** Writes raw bytes as a tensor file with a matching checksum. */
export function writeRawTensorFile(checkpointDir: string, file: string, bytes: Uint8Array): void {
  writeFileSync(join(checkpointDir, file), bytes);
  const state = readState(checkpointDir);
  state.checksums[file] = createHash('sha256').update(bytes).digest('hex');
  writeState(checkpointDir, state);
}

/** Every file under `dir` with its bytes' sha256, by relative path: compare two snapshots for "untouched". */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, prefix: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
      else out[`${prefix}${name}`] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}
