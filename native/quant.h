// GEMM with a quantised right operand: the native twin of src/backends/ts/quant.ts (f32 activations).
#pragma once

#include <cstdint>

namespace lithe {

// Must match QUANT_FORMATS in src/engine/quant/formats.ts.
enum class QuantFormat : int { kInt8, kInt4, kInt8Channel };

// W [rows, cols] in groups of group_size along each row (the last group of a row may be shorter). Codes are stored
// row by row: u8 for kInt8, two u4 a byte (low nibble first, rows padded to whole bytes) for kInt4, i8 for
// kInt8Channel. scales and zeros are [rows, groups]; zeros is null for kInt8Channel. ŵ = scale·(q − zero).
struct QuantWeightView {
  QuantFormat format;
  int64_t rows;
  int64_t cols;
  int64_t group_size;
  const uint8_t* codes;
  const float* scales;
  const uint8_t* zeros;
};

// trans_w: y[m, rows] = x[m, cols] · Wᵀ; else y[m, cols] = x[m, rows] · W. x, y contiguous; y is overwritten.
// The f32 W is never formed: a few rows at a time are dequantised into per-call scratch.
void quant_gemm_f32(bool trans_w, int64_t m, const float* x, const QuantWeightView& w, float* y);

}  // namespace lithe
