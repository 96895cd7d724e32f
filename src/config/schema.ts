/** The run schema (schemas/run.schema.json, the single source of truth) and its compiled validator. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type Options, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RunConfig } from './types.generated.js';

export const SCHEMA_PATH = fileURLToPath(new URL('../../schemas/run.schema.json', import.meta.url));

/** ajv's options for the run schema: for the validator compiled at run time and the one the build precompiles. */
export const RUN_VALIDATOR_OPTIONS: Options = {
  allErrors: true,
  useDefaults: true,
  discriminator: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
};

/**
 * The run schema's validator as the build precompiled it (scripts/build-startup.mjs writes it beside the
 * compiled schema.js, as ajv standalone code): compiling the schema takes about a second, at the start
 * of every command that reads a config. Used only when it was compiled from the schema file as it is now.
 */
export const PRECOMPILED_VALIDATOR_PATH = fileURLToPath(new URL('./run-validator.cjs', import.meta.url));

export type JsonSchema = Record<string, unknown>;

let cachedSchemaText: string | undefined;
let cachedSchema: JsonSchema | undefined;
let cachedValidator: ValidateFunction<RunConfig> | undefined;

function runSchemaText(): string {
  cachedSchemaText ??= readFileSync(SCHEMA_PATH, 'utf8');
  return cachedSchemaText;
}

export function runSchema(): JsonSchema {
  cachedSchema ??= JSON.parse(runSchemaText()) as JsonSchema;
  return cachedSchema;
}

/** SHA-256 of the schema file's text: what a precompiled validator records it was compiled from. */
export function runSchemaHash(): string {
  return createHash('sha256').update(runSchemaText()).digest('hex');
}

/** Validates and fills defaults in place (ajv `useDefaults`). */
export function runValidator(): ValidateFunction<RunConfig> {
  cachedValidator ??= precompiledValidator() ?? new Ajv2020(RUN_VALIDATOR_OPTIONS).compile<RunConfig>(runSchema());
  return cachedValidator;
}

function precompiledValidator(): ValidateFunction<RunConfig> | undefined {
  if (!existsSync(PRECOMPILED_VALIDATOR_PATH)) return undefined;
  const validate = createRequire(import.meta.url)(PRECOMPILED_VALIDATOR_PATH) as ValidateFunction<RunConfig> & { schemaSha256?: string };
  return validate.schemaSha256 === runSchemaHash() ? validate : undefined;
}

export type SchemaError = ErrorObject;

/** Follows a local `$ref` (`#/$defs/x`) to its schema. */
export function deref(schema: JsonSchema): JsonSchema {
  let node = schema;
  for (let hops = 0; typeof node.$ref === 'string' && hops < 16; hops++) {
    const pointer = (node.$ref as string).replace(/^#\//, '').split('/');
    let target: unknown = runSchema();
    for (const part of pointer) target = (target as Record<string, unknown>)[part];
    node = target as JsonSchema;
  }
  return node;
}

/** The subschema that describes the value at `path`, or undefined (used for suggestions). */
export function schemaAt(path: readonly string[], data: unknown): JsonSchema | undefined {
  let node: JsonSchema | undefined = runSchema();
  let value: unknown = data;
  for (const key of path) {
    node = node && deref(node);
    if (!node) return undefined;
    node = branchFor(node, value);
    const properties = node.properties as Record<string, JsonSchema> | undefined;
    node = properties?.[key];
    value = (value as Record<string, unknown> | undefined)?.[key];
  }
  return node && branchFor(deref(node), value);
}

/** For a discriminated union, the branch chosen by the value's `name`. */
export function branchFor(schema: JsonSchema, value: unknown): JsonSchema {
  const discriminator = schema.discriminator as { propertyName: string } | undefined;
  if (!discriminator || !Array.isArray(schema.oneOf)) return schema;
  const tag = (value as Record<string, unknown> | undefined)?.[discriminator.propertyName];
  const branch = (schema.oneOf as JsonSchema[]).map(deref).find((b) => tagOf(b, discriminator.propertyName) === tag);
  return branch ?? schema;
}

export function unionTags(schema: JsonSchema): string[] {
  const discriminator = schema.discriminator as { propertyName: string } | undefined;
  if (!discriminator || !Array.isArray(schema.oneOf)) return [];
  return (schema.oneOf as JsonSchema[]).map((b) => tagOf(deref(b), discriminator.propertyName)).filter((t): t is string => typeof t === 'string');
}

function tagOf(branch: JsonSchema, property: string): unknown {
  return ((branch.properties as Record<string, JsonSchema> | undefined)?.[property] as { const?: unknown } | undefined)?.const;
}
