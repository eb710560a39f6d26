// f32 helpers shared by the row kernels (elementwise.cc, attention.cc): an exp without a libm call, and
// an eight-lane vector type with the same exp on it.
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

// Eight f32 lanes as a GCC vector: one AVX2 register, two SSE or NEON ones; each target lowers it
// to what it has. Loops GCC will not vectorise on its own (fast_exp's selects, under the default
// -ftrapping-math) are written with it instead.
typedef float Vec8 __attribute__((vector_size(32)));
typedef int32_t Int8 __attribute__((vector_size(32)));

inline Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store8(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }

// fast_exp on eight lanes, the same steps lane by lane.
inline Vec8 fast_exp8(Vec8 x) {
  const float hi = 88.72283935546875f;
  const float lo = -87.33654022216797f;
  const Vec8 zero = {};
  Vec8 xc = x < lo ? zero + lo : x;
  xc = xc > hi ? zero + hi : xc;
  const Vec8 k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const Vec8 r = (xc - k * 0.693359375f) + k * 2.12194440e-4f;
  Vec8 p = zero + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const Int8 bits = (__builtin_convertvector(k, Int8) + 127) << 23;
  Vec8 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  Vec8 y = p * scale;
  y = x > hi ? zero + INFINITY : y;
  y = x < lo ? zero : y;
  return x != x ? x : y;
}

}  // namespace lithe
