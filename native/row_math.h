// f32 row helpers shared by the row kernels (elementwise.cc, attention.cc): an exp without a libm call, so that
// loops calling it vectorise, and reductions that keep independent lanes, so that GCC vectorises them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace lithe {

// exp(x) for f32 in about 2 ulp: 2^k · p(r) with r = x − k·ln2 and a degree-6 polynomial.
// Inputs below -87.3 give 0 (no subnormals) and above 88.7 give +inf; NaN stays NaN.
inline float fast_exp(float x) {
  const float hi = 88.72283935546875f;
  const float lo = -87.33654022216797f;
  const bool over = x > hi;
  const bool under = x < lo;
  const float xc = std::min(std::max(x, lo), hi);
  // Round to nearest by the 1.5·2^23 trick: plain adds, which every vector unit has.
  const float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (xc - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float y = p * scale;
  y = over ? INFINITY : y;
  y = under ? 0.0f : y;
  return x != x ? x : y;
}

// Max of x[0..n) (-inf when n == 0); nan tells whether any element is NaN.
float lane_max(const float* x, int64_t n, bool& nan);

// Σ x[0..n), summed in float lanes and totalled in double.
double lane_sum(const float* x, int64_t n);

}  // namespace lithe
