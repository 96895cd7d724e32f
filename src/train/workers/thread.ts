/**
 * A training worker thread: its own TensorFlow.js and backend, and a replica of the model. Each step it
 * loads the parameters the main thread wrote, computes the gradients of the micro-batches it is sent
 * (with the dropout seeds those micro-batches have on any thread) and writes them back to shared memory.
 * It keeps no state between steps beyond the replica's parameters, which every step overwrites.
 */
import * as tf from '../../tf.js';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../../backend.js';
import { modelFamilyFor } from '../../models/registry.js';
import { buildModel } from '../components.js';
import { dropoutSeedFor, microBatchGradients } from '../step.js';
import { layoutDifference, layoutOf, loadParams, slotOf, writeFlat } from './layout.js';
import type { StepRequest, WorkerInit, WorkerReply } from './messages.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const reply = (message: WorkerReply) => port.postMessage(message);

await initBackend(init.backend);
// The replica's initial values do not matter: the main thread's parameters replace them every step.
const model = await buildModel(await modelFamilyFor(init.model), init.model, init.spec, 0);
const difference = layoutDifference(layoutOf(model), init.layout);
if (difference) throw new Error(`the replica's parameters differ from the main model's: ${difference}`);
const params = new Float32Array(init.params);
const grads = new Float32Array(init.grads);

port.on('message', (request: StepRequest) => {
  loadParams(model, init.layout, params);
  const losses: number[] = [];
  const corrects: number[] = [];
  request.micros.forEach((micro, j) => {
    tf.tidy(() => {
      const seed = dropoutSeedFor(init.seed, request.step, request.firstMicro + j);
      const { loss, correct, grads: g } = microBatchGradients(model, micro, seed, init.labelSmoothing);
      writeFlat(g, init.layout, slotOf(grads, init.layout, j));
      losses.push(loss.dataSync()[0]);
      corrects.push(correct.dataSync()[0]);
      correct.dispose(); // kept by microBatchGradients
    });
  });
  reply({ type: 'done', step: request.step, losses, corrects });
});
reply({ type: 'ready' });
