/** An evaluator thread: one long-lived ProxyTrainer that trains each config it is sent. */
import { parentPort } from 'node:worker_threads';
import type { EvaluateReply, EvaluateRequest } from './messages.js';
import { ProxyTrainer } from './proxy.js';

const trainer = new ProxyTrainer();
parentPort!.on('message', async (request: EvaluateRequest) => {
  let reply: EvaluateReply;
  try {
    reply = { id: request.id, outcome: await trainer.evaluate(request.config, { timeLimitMs: request.timeLimitMs }) };
  } catch (error) {
    reply = { id: request.id, fatal: (error instanceof Error ? error.message : String(error)).split('\n')[0] };
  }
  parentPort!.postMessage(reply);
});
