import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ERR_TOLERANCE,
  lowRankCompress,
  normalizeSpectrum,
  type Spectrum,
  searchTau,
  thresholdPlan,
  uniformPlan,
} from '../../src/compress/lowrank/index.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { singularValues } from '../../src/linalg/index.js';

/** tools/make_lowrank_golden.py: PyTorch's ranks on the tiny golden models, from the paper's definitions. */
interface Golden {
  models: Record<
    string,
    {
      parameters: number;
      modules: { name: string; shape: [number, number]; singularValues: number[] }[];
      cases: {
        method: 'svd' | 'welore';
        targetErr: number;
        minRatio: number;
        tau: number | null;
        withinTolerance: boolean;
        achievedErr: number;
        ranks: number[];
        stored: string[];
        parametersAfter: number;
      }[];
    }
  >;
}

const golden = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/golden/lowrank/tiny.json', import.meta.url)), 'utf8'),
) as Golden;
const modelDir = (name: string) => fileURLToPath(new URL(`../../../test/golden/models/${name}`, import.meta.url));

describe('low-rank ranks against PyTorch (test/golden/lowrank, tools/make_lowrank_golden.py)', () => {
  for (const [name, expected] of Object.entries(golden.models)) {
    it(`${name}: the same spectra, the same ranks at the same τ, and a search that lands within tolerance`, async () => {
      const model = await loadDecoder(modelDir(name));
      const linears = model.blocks().flatMap((b) => b.linearGroups.flat());
      assert.deepEqual(
        linears.map((l) => l.name),
        expected.modules.map((m) => m.name),
      );
      const spectra: Spectrum[] = linears.map(({ name: module, linear }) => {
        const values = singularValues(linear.weight, { dtype: 'f64' });
        return {
          name: module,
          shape: [linear.outFeatures, linear.inFeatures],
          values,
          normalized: normalizeSpectrum(values),
        };
      });
      for (const [i, s] of spectra.entries()) {
        const ref = expected.modules[i].singularValues;
        const got = s.values.floatData();
        for (let j = 0; j < ref.length; j++) assert.ok(Math.abs(got[j] - ref[j]) <= 1e-6 * ref[0], `${s.name}[${j}]`);
      }
      const total = spectra.reduce((n, s) => n + Math.min(...s.shape), 0);
      for (const c of expected.cases) {
        const label = `${c.method} ERR ${c.targetErr} min-ratio ${c.minRatio}`;
        const plan =
          c.method === 'svd'
            ? uniformPlan(spectra, c.targetErr, c.minRatio, total)
            : thresholdPlan(spectra, c.tau as number, c.minRatio, total);
        assert.deepEqual(
          spectra.map((s) => plan.ranks.get(s.name)),
          c.ranks,
          label,
        );
        assert.ok(Math.abs(plan.achievedErr - c.achievedErr) < 1e-12, label);
        if (c.method === 'welore') {
          const searched = searchTau(spectra, c.targetErr, c.minRatio, total);
          // lithe takes the closest achievable ERR; PyTorch's bisection stops at the first within tolerance.
          assert.ok(Math.abs(searched.achievedErr - c.targetErr) <= Math.abs(c.achievedErr - c.targetErr) + 1e-12);
          if (c.withinTolerance) assert.ok(Math.abs(searched.achievedErr - c.targetErr) <= ERR_TOLERANCE, label);
        }
      }
    });

    it(`${name}: stores each reduced matrix as PyTorch does and counts the same parameters`, async () => {
      for (const c of expected.cases.filter((c) => c.targetErr === 0.5)) {
        const model = await loadDecoder(modelDir(name));
        const result = await lowRankCompress(model, {
          method: c.method,
          err: c.targetErr,
          minRatio: c.minRatio,
          ...(c.tau === null ? {} : { tau: c.tau }),
        });
        const stored = result.modules.map((m) => m.stored);
        assert.deepEqual(stored, c.stored, `${c.method} min-ratio ${c.minRatio}`);
        assert.equal(result.parameters.before, expected.parameters);
        assert.equal(result.parameters.after, c.parametersAfter);
      }
    });
  }
});
