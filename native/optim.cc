// Elementwise Adam, split across the thread pool by chunks. Rounding follows adamDeltaTs exactly: f32
// ops where it rounds to f32, f64 where it computes in double (products of two floats are exact in f64,
// so contracting them into FMAs changes nothing).
#include "optim.h"

#include <algorithm>
#include <cmath>

#include "clones.h"
#include "gemm.h"

namespace lithe {
namespace {

// torch's CPU lerp: from whichever end is nearer the weight, one rounding after the multiply-add.
inline float lerp(float start, float end, float weight) {
  const float diff = end - start;
  return std::fabs(weight) < 0.5f ? static_cast<float>(static_cast<double>(weight) * diff + start)
                                  : static_cast<float>(static_cast<double>(weight - 1.0f) * diff + end);
}

LITHE_CLONES void adam_range(const float* grad, float* m, float* v, float* v_max, float* delta, int64_t n,
                             const AdamScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    m[i] = lerp(m[i], g, s.weight1);
    const float scaled = s.weight2 * g;
    v[i] = static_cast<float>(static_cast<double>(scaled) * g + static_cast<double>(v[i] * s.decay2));
    float second = v[i];
    if (v_max) second = v_max[i] = std::max(v_max[i], second);
    const float denom = std::sqrt(second) / s.correction2 + s.eps;
    delta[i] = (s.neg_step_size * m[i]) / denom;
  }
}

}  // namespace

void adam_delta_f32(const float* grad, float* m, float* v, float* v_max, float* delta, int64_t n,
                    const AdamScalars& s) {
  parallel_for(n, 1 << 15, [&](int64_t begin, int64_t end) {
    adam_range(grad + begin, m + begin, v + begin, v_max ? v_max + begin : nullptr, delta + begin, end - begin, s);
  });
}

}  // namespace lithe
