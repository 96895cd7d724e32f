/**
 * Weight-decay masks: which variables are excluded from decoupled weight decay, by name.
 *
 * Names are the keys given to `applyGradients` (a `NamedTensorMap` key or `NamedTensor.name`);
 * lion-train names parameters like `blocks.0.attn.q.kernel`, `blocks.0.norm1.scale`, `head.bias`.
 * A string pattern matches the whole name, `*` matching any run of characters (dots included),
 * every other character literally: `*.bias`, `*norm*`, `blocks.*.attn.*`. A RegExp is tested as
 * written (unanchored). A predicate `(name) => boolean` returns true for names to exclude.
 * Without a mask every variable is decayed.
 */
import { describe } from './options.js';

export type DecayPattern = string | RegExp;
export type WeightDecayExclude = ReadonlyArray<DecayPattern> | ((name: string) => boolean);

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

/** Compiles an exclusion spec into a predicate that is true for names NOT decayed. */
export function compileDecayMask(owner: string, exclude: unknown): (name: string) => boolean {
  if (exclude === undefined || exclude === null) return () => false;
  if (typeof exclude === 'function') {
    const fn = exclude as (name: string) => boolean;
    return (name) => Boolean(fn(name));
  }
  if (!Array.isArray(exclude)) {
    throw new RangeError(
      `${owner}: weightDecayExclude must be an array of name patterns (strings, * matching any run ` +
        `of characters, or RegExps) or a function (name) => boolean, got ${describe(exclude)}`,
    );
  }
  const tests = exclude.map((p: unknown, i: number) => {
    if (typeof p === 'string' && p.length > 0) return globToRegExp(p);
    // Drop g / y so that `test` has no lastIndex state.
    if (p instanceof RegExp) return new RegExp(p.source, p.flags.replace(/[gy]/g, ''));
    throw new RangeError(
      `${owner}: weightDecayExclude[${i}] must be a non-empty string or a RegExp, got ${describe(p)}`,
    );
  });
  return (name) => tests.some((re) => re.test(name));
}

// tfjs-layers camel-cases every string in a saved optimizer config whose text has an underscore
// (`layer_norm` → `layerNorm`), so pattern text is stored with `%` and `_` percent-escaped.
const escape = (s: string): string => s.replace(/%/g, '%25').replace(/_/g, '%5F');
const unescape = (s: string): string => s.replace(/%(25|5F)/g, (_m, code: string) => (code === '25' ? '%' : '_'));

export type SerializedPattern = { glob: string } | { regexp: string; flags: string };

/**
 * The JSON form of a pattern list for `getConfig`; a predicate cannot be serialised and gives
 * `undefined` (the restored optimizer then decays everything).
 */
export function serializeDecayExclude(exclude: WeightDecayExclude | undefined): SerializedPattern[] | undefined {
  if (exclude === undefined || typeof exclude === 'function') return undefined;
  return exclude.map((p) =>
    typeof p === 'string' ? { glob: escape(p) } : { regexp: escape(p.source), flags: p.flags },
  );
}

/** Inverse of `serializeDecayExclude`; plain strings and RegExps pass through unchanged. */
export function deserializeDecayExclude(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((p: unknown) => {
    if (p !== null && typeof p === 'object' && !(p instanceof RegExp)) {
      const o = p as Record<string, unknown>;
      if (typeof o.glob === 'string') return unescape(o.glob);
      if (typeof o.regexp === 'string') return new RegExp(unescape(o.regexp), typeof o.flags === 'string' ? o.flags : '');
    }
    return p;
  });
}
