import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as lithe from '../src/index.js';

describe('package entry', () => {
  it('exports each layer of the public API', () => {
    for (const name of [
      'tensor',
      'noGrad',
      'matmul',
      'scaledDotProductAttention',
      'conv2d',
      'svd',
      'choleskyOfInverse',
      'loadDecoder',
      'loadModel',
      'loadStateDict',
      'saveDecoder',
      'openOutputDir',
      'openSafetensors',
      'perplexity',
      'multipleChoice',
      'generate',
      'wandaScores',
      'sparsegptPrune',
      'owlSparsities',
      'AdamW',
      'clipGradNorm',
      'backendInfo',
      'oneshot',
      'pruneModel',
      'buildPruneReport',
      'pruneReportHtml',
      'demoReportHtml',
      'parseRecipe',
      'resolveModelPath',
      'openOutputDir',
      'encodeDocumentsCached',
      'quantize',
      'dequantize',
      'QuantizedTensor',
      'quantMatmul',
    ]) {
      assert.equal(typeof (lithe as Record<string, unknown>)[name], 'function', name);
    }
  });
});
