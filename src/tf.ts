/**
 * TensorFlow.js, the one place lion-train imports it from.
 *
 * As written here it is `export * from '@tensorflow/tfjs'`: the types, and what the tests run from source.
 * The build replaces the compiled dist/tf.js with the same names taken from `require('@tensorflow/tfjs')`
 * (scripts/tf-entry.mjs): an ES `export *` of tfjs's CommonJS bundles makes Node scan them for export
 * names (cjs-module-lexer) at every process start, which took longer than loading them (1.7-2.4 s against
 * 0.4-0.9 s on a busy 2-core machine), and every CLI command, sweep trial and worker thread starts one.
 */
export * from '@tensorflow/tfjs';
