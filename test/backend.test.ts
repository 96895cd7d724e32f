import { describe, expect, it } from 'vitest';
import { describeBackend, initBackend } from '../src/backend.js';
import { UserError } from '../src/errors.js';

const missingNative = async (specifier: string) => {
  if (specifier.startsWith('@tensorflow/tfjs-node') || specifier === 'webgpu') throw new Error(`Cannot find package '${specifier}'`);
  return import(specifier);
};

describe('backend selection', () => {
  it('auto passes over the native packages when they are missing, says why, and lands on wasm', async () => {
    const choice = await initBackend('auto', { importModule: missingNative });
    expect(choice.name).toBe('wasm');
    expect(choice.tfBackend).toBe('wasm');
    expect(choice.passedOver).toHaveLength(3);
    expect(choice.passedOver[0]).toMatch(/^gpu: @tensorflow\/tfjs-node-gpu is not installed or failed to load \(Cannot find package/);
    expect(choice.passedOver[1]).toMatch(/^webgpu: the package webgpu \(Dawn\) is not installed or failed to load \(Cannot find package 'webgpu'/);
    expect(choice.passedOver[2]).toMatch(/^node: @tensorflow\/tfjs-node is not installed/);
    expect(describeBackend(choice)).toMatch(/^wasm \(auto; passed over: gpu: /);
  });

  it('falls back to cpu when wasm is missing too', async () => {
    const onlyCpu = async (specifier: string) => {
      throw new Error(`Cannot find package '${specifier}'`);
    };
    const choice = await initBackend('auto', { importModule: onlyCpu });
    expect(choice.name).toBe('cpu');
    expect(choice.passedOver.map((line) => line.split(':')[0])).toEqual(['gpu', 'webgpu', 'node', 'wasm']);
  });

  it('refuses a named backend that is not installed with exit 2 and how to install it', async () => {
    const attempt = initBackend('gpu', { importModule: missingNative });
    await expect(attempt).rejects.toBeInstanceOf(UserError);
    await expect(initBackend('node', { importModule: missingNative })).rejects.toThrow(/train\.backend node is not available: .*install it with: npm install @tensorflow\/tfjs-node/);
    await initBackend('gpu', { importModule: missingNative }).catch((error: UserError) => expect(error.exitCode).toBe(2));
    await expect(initBackend('webgpu', { importModule: missingNative })).rejects.toThrow(
      /^train\.backend webgpu is not available: webgpu: the package webgpu \(Dawn\) is not installed .*; install it with: npm install webgpu @tensorflow\/tfjs-backend-webgpu/,
    );
  });

  it('treats a package that registers no backend as a failure, not a silent fallback', async () => {
    const emptyModule = async () => ({});
    await expect(initBackend('gpu', { importModule: emptyModule })).rejects.toThrow(/loaded but registered no "tensorflow" backend/);
  });

  it('initialises the backends it names', async () => {
    expect((await initBackend('cpu')).name).toBe('cpu');
    expect((await initBackend('wasm')).name).toBe('wasm');
  });
});
