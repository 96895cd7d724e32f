// Writes model.json + weights.bin beside this file: a small Keras-style classifier saved by tfjs model.save(),
// as you would save your own (in the browser, with tfjs-node's file://, or converted from Keras).
//   node examples/layers-model/make-model.mjs
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';

const here = new URL('.', import.meta.url);
const model = tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [16], units: 32, activation: 'relu', name: 'hidden', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 4, activation: 'softmax', name: 'classes', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
  ],
});
await model.save(
  tf.io.withSaveHandler(async (artifacts) => {
    writeFileSync(new URL('weights.bin', here), Buffer.from(artifacts.weightData));
    const json = { format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`, convertedBy: null, modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] };
    writeFileSync(new URL('model.json', here), JSON.stringify(json, null, 1) + '\n');
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }),
);
