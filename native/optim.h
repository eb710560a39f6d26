// Optimiser update kernels: the native twins of src/backends/ts/adam.ts.
#pragma once

#include <cstdint>

namespace lithe {

// Adam's per-step scalars, already rounded to f32 (see AdamScalars in adam.ts).
struct AdamScalars {
  float weight1, decay2, weight2, correction2, eps, neg_step_size;
};

// Advance the moments m, v (and v_max when not null, for AMSGrad) by one gradient and write
// −lr·m̂/(√v̂ + eps) to delta, bit for bit as adamDeltaTs.
void adam_delta_f32(const float* grad, float* m, float* v, float* v_max, float* delta, int64_t n, const AdamScalars& s);

}  // namespace lithe
