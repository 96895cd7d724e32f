/**
 * The optimizer-program language (Chen et al. 2023, arXiv:2302.06675): parse, check, abstract
 * execution (types, dead statements, hash), simplify and print. Pure: no tfjs here; the tfjs
 * compiler is compile/ops.ts, the fused-loop compiler compile/fused.ts.
 */
export * from './ast.js';
export { parseProgram, ProgramError, type ProgramProblem } from './parse.js';
export { checkProgram, checkedProgram, type CheckResult } from './check.js';
export { liveness, removeDead, foldConstants, simplifyProgram, type Liveness } from './simplify.js';
export { printProgram, printExpression, formatNumber, type PrintOptions } from './print.js';
export { programHash } from './hash.js';
export { buildIr, type Ir, type IrNode } from './ir.js';
export { FUNCTIONS, CONSTANTS, functionSpec, evaluateScalar, type FunctionSpec, type ValueType } from './functions.js';
