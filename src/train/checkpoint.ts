import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../engine/tensor.js';
import { saveDecoder } from '../io/checkpoint.js';
import { CheckpointError, checkpointErrorFrom } from '../io/errors.js';
import { type OutputDir, withOutputDir } from '../io/output-dir.js';
import { asStateReader, openSafetensors, saveSafetensors, type TensorReader } from '../io/safetensors.js';
import { openCheckpoint } from '../io/sharded.js';
import { DecoderForCausalLM } from '../models/llama/model.js';
import type { Module } from '../nn/module.js';
import { QuantLinear } from '../nn/quant-linear.js';
import { readState, stageStateDict, stateDict, type TensorSpec } from '../nn/state-dict.js';
import type { OptimizerStateDict } from './optim/optimizer.js';

export const TRAINER_STATE_FILE = 'trainer-state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
/**
 * The model's exact state dict, written when the HF weights cannot give it back: stored narrower than f32, or held in
 * another form (a QuantLinear's codes, stored in the HF file as its dequantised weight), so that resuming stays exact.
 */
const MASTER_WEIGHTS = 'trainer-weights';
/** The weights of a checkpoint of a module that is not a decoder: its state dict, as a decoder's are model.safetensors. */
const STATE_DICT_WEIGHTS = 'model';

/** What an optimiser must offer to be checkpointed; every `Optimizer` subclass does. */
export interface CheckpointableOptimizer {
  stateDict(): OptimizerStateDict;
  bufferSpecs(state: OptimizerStateDict['state']): Map<string, TensorSpec>;
  loadStateDict(dict: OptimizerStateDict): void;
}

/** The loop's own position: everything besides weights and optimiser state that decides what comes next. */
export interface LoopState {
  /** Optimiser steps taken; also the position in the LR schedule, which is a function of it. */
  step: number;
  /** Training wall time so far, carried over resumes. */
  elapsedSeconds: number;
  /** The batcher's `getState()`. */
  batcher: unknown;
}

interface TrainerStateFile extends LoopState {
  format: 'lithe-trainer-state';
  version: 1;
  masterWeights: boolean;
  optimizer: Omit<OptimizerStateDict, 'buffers'>;
}

export interface SaveTrainingOptions {
  /** Storage dtype of the HF weights (default f32). */
  dtype?: 'f32' | 'bf16' | 'f16';
}

/**
 * Write a resumable training checkpoint as sub-directory `name` of `out`: for a decoder an HF model directory
 * (config.json, model.safetensors), for any other module its state dict (model.safetensors), plus trainer-state.json
 * and optimizer.safetensors. The directory is swapped in whole, so an
 * existing checkpoint is replaced only once the new one is complete and weights and optimiser state always match.
 */
export async function saveTrainingCheckpoint(
  out: OutputDir,
  name: string,
  model: Module,
  optimizer: CheckpointableOptimizer,
  loop: LoopState,
  options: SaveTrainingOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? 'f32';
  const { buffers, ...optimizerJson } = optimizer.stateDict();
  // A decoder is saved as a Hugging Face model directory (in dtype, with f32 copies when narrower); any other module as
  // its state dict in f32 (model.safetensors), which is what resuming reads.
  const isDecoder = model instanceof DecoderForCausalLM;
  const exact = stateDict(model);
  const quantised = [...model.namedModules().values()].some((m) => m instanceof QuantLinear);
  const masterWeights = isDecoder && (dtype !== 'f32' || quantised);
  const state: TrainerStateFile = {
    format: 'lithe-trainer-state',
    version: 1,
    ...loop,
    masterWeights,
    optimizer: optimizerJson,
  };
  const trainerFiles = (checkpoint: OutputDir) => {
    checkpoint.writeFile(TRAINER_STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
    saveSafetensors(join(checkpoint.path, OPTIMIZER_FILE), new Map(Object.entries(buffers)));
    checkpoint.record(OPTIMIZER_FILE);
    if (masterWeights) {
      saveSafetensors(join(checkpoint.path, `${MASTER_WEIGHTS}.safetensors`), exact);
      checkpoint.record(`${MASTER_WEIGHTS}.safetensors`);
    }
  };
  await out.writeDir(name, (tmp) =>
    isDecoder
      ? saveDecoder(model, tmp, { dtype, extraFiles: trainerFiles })
      : withOutputDir(tmp, { kind: 'checkpoint' }, (checkpoint) => {
          saveSafetensors(join(checkpoint.path, `${STATE_DICT_WEIGHTS}.safetensors`), exact);
          checkpoint.record(`${STATE_DICT_WEIGHTS}.safetensors`);
          trainerFiles(checkpoint);
        }),
  );
}

/** Whether `dir` holds a training checkpoint (not just an HF model). */
export function hasTrainingCheckpoint(dir: string): boolean {
  return existsSync(join(dir, TRAINER_STATE_FILE));
}

/**
 * Restore a checkpoint written by saveTrainingCheckpoint into an existing model and optimiser.
 * Weights are copied into the model's parameters in place, so the optimiser keeps tracking the same tensors.
 * Everything is read and checked (weights and optimiser buffers through readState) before anything is changed.
 */
export function loadTrainingCheckpoint(dir: string, model: Module, optimizer: CheckpointableOptimizer): LoopState {
  const stateFile = join(dir, TRAINER_STATE_FILE);
  if (!existsSync(stateFile)) throw new CheckpointError(stateFile, 'no trainer state (not a training checkpoint)');
  let state: TrainerStateFile;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as TrainerStateFile;
  } catch (err) {
    throw new CheckpointError(stateFile, `not valid JSON: ${(err as Error).message}`);
  }
  if (state.format !== 'lithe-trainer-state' || state.version !== 1) {
    throw new CheckpointError(
      stateFile,
      `unsupported trainer state (format ${state.format}, version ${state.version})`,
    );
  }
  const weights = withReader(
    openCheckpoint(dir, { name: state.masterWeights ? MASTER_WEIGHTS : STATE_DICT_WEIGHTS }),
    (reader) => {
      try {
        return stageStateDict(model, asStateReader(reader), { strict: true });
      } catch (err) {
        throw checkpointErrorFrom(err, dir);
      }
    },
  );
  const optimizerFile = join(dir, OPTIMIZER_FILE);
  const buffers: Record<string, Tensor> = {};
  withReader(openSafetensors(optimizerFile), (reader) => {
    try {
      const specs = optimizer.bufferSpecs(state.optimizer.state);
      for (const [key, t] of readState(specs, asStateReader(reader), { strict: true })) buffers[key] = t;
    } catch (err) {
      throw checkpointErrorFrom(err, optimizerFile);
    }
  });
  optimizer.loadStateDict({ ...state.optimizer, buffers });
  weights.apply();
  return { step: state.step, elapsedSeconds: state.elapsedSeconds, batcher: state.batcher };
}

function withReader<T>(reader: TensorReader, fn: (reader: TensorReader) => T): T {
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}
