// Quantised GEMM.
// - Few activation rows (decoding): each thread takes a range of W's rows and dots the codes straight with x,
//   applying zero point and scale once per group as s·(Σ x·q − z·Σ x); W is read once, as bytes.
// - More rows: a panel of W's rows (at most kPanelElements floats, never the whole weight) is dequantised into
//   scratch and handed to the f32 GEMM, whose blocking and micro-kernels then do the arithmetic.
// The AVX2/FMA paths are written with intrinsics: GCC's target clones of the plain loops widen bytes to floats in
// 128-bit steps without FMA, about 4x slower. The portable loops serve LITHE_SIMD=portable and other CPUs.
#include "quant.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define LITHE_AVX2 __attribute__((target("avx2,fma")))
#endif

#include "clones.h"
#include "gemm.h"

namespace lithe {
namespace {

// Below this many x rows the fused path wins: the GEMM cannot amortise dequantising a panel.
constexpr int64_t kFusedRows = 8;
// int4 codes unpacked to bytes at a time on the portable path (a 256-byte stack buffer).
constexpr int64_t kChunk = 256;
// f32 elements of W dequantised per panel on the GEMM path (4 MB: few panels, so few fork-joins and A packings),
// and the fewest rows a panel holds.
constexpr int64_t kPanelElements = 1 << 20;
constexpr int64_t kMinPanelRows = 16;

int64_t groups_per_row(const QuantWeightView& w) { return w.cols == 0 ? 0 : (w.cols + w.group_size - 1) / w.group_size; }

// Code slots per row: int4 rows are padded to whole bytes.
int64_t code_stride(const QuantWeightView& w) { return w.format == QuantFormat::kInt4 ? w.cols + (w.cols & 1) : w.cols; }

// Σ x[i]·q[i] over len u8 (or i8) codes, with 16 independent partial sums so that GCC vectorises it (byte to
// float conversion and FMA) without -ffast-math.
template <typename Code>
LITHE_CLONES float dot_codes(const float* x, const Code* q, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += x[i + l] * static_cast<float>(q[i + l]);
  }
  float total = 0.0f;
  for (; i < n; ++i) total += x[i] * static_cast<float>(q[i]);
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// out[i] = the int4 code in slot (slot + i), one byte each, for len slots.
LITHE_CLONES void unpack_int4(const uint8_t* codes, int64_t slot, int64_t len, uint8_t* out) {
  int64_t i = 0;
  if (slot & 1) out[i++] = codes[slot >> 1] >> 4;
  const uint8_t* q = codes + ((slot + i) >> 1);
  const int64_t pairs = (len - i) / 2;
  for (int64_t j = 0; j < pairs; ++j) {
    out[i + 2 * j] = q[j] & 0x0f;
    out[i + 2 * j + 1] = q[j] >> 4;
  }
  i += 2 * pairs;
  if (i < len) out[i] = q[pairs] & 0x0f;
}

// out[i] = q(slot + i) − zero, exactly (small integers), for len codes of one row.
void unpack_codes(const QuantWeightView& w, int64_t slot, int64_t len, float zero, float* out) {
  if (w.format == QuantFormat::kInt8Channel) {
    const int8_t* q = reinterpret_cast<const int8_t*>(w.codes) + slot;
    for (int64_t i = 0; i < len; ++i) out[i] = static_cast<float>(q[i]);
  } else if (w.format == QuantFormat::kInt8) {
    const uint8_t* q = w.codes + slot;
    for (int64_t i = 0; i < len; ++i) out[i] = static_cast<float>(q[i]) - zero;
  } else {
    uint8_t bytes[kChunk];
    for (int64_t c = 0; c < len; c += kChunk) {
      const int64_t n = std::min(kChunk, len - c);
      unpack_int4(w.codes, slot + c, n, bytes);
      for (int64_t i = 0; i < n; ++i) out[c + i] = static_cast<float>(bytes[i]) - zero;
    }
  }
}

// Σ x[i]·q_i over one group's codes starting at slot (the zero point is applied by the caller through Σ x).
float dot_group(const QuantWeightView& w, const float* x, int64_t slot, int64_t len) {
  if (w.format == QuantFormat::kInt8Channel) return dot_codes(x, reinterpret_cast<const int8_t*>(w.codes) + slot, len);
  if (w.format == QuantFormat::kInt8) return dot_codes(x, w.codes + slot, len);
  uint8_t bytes[kChunk];
  float total = 0.0f;
  for (int64_t c = 0; c < len; c += kChunk) {
    const int64_t n = std::min(kChunk, len - c);
    unpack_int4(w.codes, slot + c, n, bytes);
    total += dot_codes(x + c, bytes, n);
  }
  return total;
}

// One row's dequantisation and one row's dot product: the portable builds below, or the AVX2 ones on x86-64.
using DequantizeRow = void (*)(const QuantWeightView&, int64_t, float*);
using RowDot = float (*)(const QuantWeightView&, const float*, const float*, int64_t);

#if defined(__x86_64__)
LITHE_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc0 += x[0..8)·codes[0..8), acc1 += x[8..16)·codes[8..16), the 16 byte codes widened to floats.
template <bool Signed>
LITHE_AVX2 inline void fma16(const float* x, __m128i codes, __m256& acc0, __m256& acc1) {
  const __m256i lo = Signed ? _mm256_cvtepi8_epi32(codes) : _mm256_cvtepu8_epi32(codes);
  const __m128i upper = _mm_srli_si128(codes, 8);
  const __m256i hi = Signed ? _mm256_cvtepi8_epi32(upper) : _mm256_cvtepu8_epi32(upper);
  acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_cvtepi32_ps(lo), acc0);
  acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_cvtepi32_ps(hi), acc1);
}

// 32 codes from code slot `slot` (even for int4) as two vectors of 16 bytes, in order.
template <QuantFormat F>
LITHE_AVX2 inline void load32(const uint8_t* codes, int64_t slot, __m128i& first, __m128i& second) {
  if (F == QuantFormat::kInt4) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + slot / 2));
    const __m128i lo = _mm_and_si128(b, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
    first = _mm_unpacklo_epi8(lo, hi);
    second = _mm_unpackhi_epi8(lo, hi);
  } else {
    first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + slot));
    second = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + slot + 16));
  }
}

// Σ_groups s·(Σ x·q − z·Σ x) over row r: each group's partial sums are scaled into a row accumulator as vectors,
// so the horizontal sum happens once per row; the last (len mod 32) codes of a group go through the scalar path.
template <QuantFormat F>
LITHE_AVX2 float row_dot_avx2(const QuantWeightView& w, const float* x, const float* x_sums, int64_t r) {
  constexpr bool kSigned = F == QuantFormat::kInt8Channel;
  const int64_t groups = groups_per_row(w);
  const int64_t row_slot = r * code_stride(w);
  __m256 row = _mm256_setzero_ps();
  float rest = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * w.group_size;
    const int64_t len = std::min(w.group_size, w.cols - c0);
    const float scale = w.scales[r * groups + g];
    const int64_t slot = row_slot + c0;
    float tail = 0.0f;
    int64_t i = 0;
    if (F != QuantFormat::kInt4 || (slot & 1) == 0) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (; i + 32 <= len; i += 32) {
        __m128i first, second;
        load32<F>(w.codes, slot + i, first, second);
        fma16<kSigned>(x + c0 + i, first, a0, a1);
        fma16<kSigned>(x + c0 + i + 16, second, a2, a3);
      }
      row = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), row);
    }
    if (i < len) tail = dot_group(w, x + c0 + i, slot + i, len - i);
    if (w.zeros) tail -= static_cast<float>(w.zeros[r * groups + g]) * x_sums[g];
    rest += scale * tail;
  }
  return hsum(row) + rest;
}

// out[c] = scale·(q − zero) for row r, 16 codes at a time; bit for bit as dequantize_row.
template <QuantFormat F>
LITHE_AVX2 void dequantize_row_avx2(const QuantWeightView& w, int64_t r, float* out) {
  constexpr bool kSigned = F == QuantFormat::kInt8Channel;
  const int64_t groups = groups_per_row(w);
  const int64_t row_slot = r * code_stride(w);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * w.group_size;
    const int64_t len = std::min(w.group_size, w.cols - c0);
    const float scale = w.scales[r * groups + g];
    const float zero = w.zeros ? static_cast<float>(w.zeros[r * groups + g]) : 0.0f;
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256 vz = _mm256_set1_ps(zero);
    const int64_t slot = row_slot + c0;
    int64_t i = 0;
    if (F != QuantFormat::kInt4 || (slot & 1) == 0) {
      for (; i + 32 <= len; i += 32) {
        __m128i halves[2];
        load32<F>(w.codes, slot + i, halves[0], halves[1]);
        for (int h = 0; h < 2; ++h) {
          const __m128i upper = _mm_srli_si128(halves[h], 8);
          const __m256i lo = kSigned ? _mm256_cvtepi8_epi32(halves[h]) : _mm256_cvtepu8_epi32(halves[h]);
          const __m256i hi = kSigned ? _mm256_cvtepi8_epi32(upper) : _mm256_cvtepu8_epi32(upper);
          float* dst = out + c0 + i + 16 * h;
          _mm256_storeu_ps(dst, _mm256_mul_ps(vs, _mm256_sub_ps(_mm256_cvtepi32_ps(lo), vz)));
          _mm256_storeu_ps(dst + 8, _mm256_mul_ps(vs, _mm256_sub_ps(_mm256_cvtepi32_ps(hi), vz)));
        }
      }
    }
    if (i < len) {
      unpack_codes(w, slot + i, len - i, zero, out + c0 + i);
      for (int64_t j = i; j < len; ++j) out[c0 + j] *= scale;
    }
  }
}

DequantizeRow dequantize_row_avx2_for(QuantFormat format) {
  switch (format) {
    case QuantFormat::kInt8:
      return dequantize_row_avx2<QuantFormat::kInt8>;
    case QuantFormat::kInt4:
      return dequantize_row_avx2<QuantFormat::kInt4>;
    default:
      return dequantize_row_avx2<QuantFormat::kInt8Channel>;
  }
}

RowDot row_dot_avx2_for(QuantFormat format) {
  switch (format) {
    case QuantFormat::kInt8:
      return row_dot_avx2<QuantFormat::kInt8>;
    case QuantFormat::kInt4:
      return row_dot_avx2<QuantFormat::kInt4>;
    default:
      return row_dot_avx2<QuantFormat::kInt8Channel>;
  }
}
#endif

// out[c] = scale·(q − zero) for row r, bit for bit as dequantizeRows in formats.ts.
LITHE_CLONES void dequantize_row(const QuantWeightView& w, int64_t r, float* out) {
  const int64_t groups = groups_per_row(w);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * w.group_size;
    const int64_t len = std::min(w.group_size, w.cols - c0);
    const float scale = w.scales[r * groups + g];
    const float zero = w.zeros ? static_cast<float>(w.zeros[r * groups + g]) : 0.0f;
    unpack_codes(w, r * code_stride(w) + c0, len, zero, out + c0);
    for (int64_t i = 0; i < len; ++i) out[c0 + i] *= scale;
  }
}

// Row r of W against x's row (x_sums: Σ x over each group), on the portable path.
float row_dot(const QuantWeightView& w, const float* x, const float* x_sums, int64_t r) {
  const int64_t groups = groups_per_row(w);
  float acc = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * w.group_size;
    const int64_t len = std::min(w.group_size, w.cols - c0);
    float part = dot_group(w, x + c0, r * code_stride(w) + c0, len);
    if (w.zeros) part -= static_cast<float>(w.zeros[r * groups + g]) * x_sums[g];
    acc += w.scales[r * groups + g] * part;
  }
  return acc;
}

// y[i, r] for r in [r_begin, r_end): x · Wᵀ on the fused path, as Σ_groups s·(Σ x·q − z·Σ x); x_sums[i, g] = Σ x
// over group g of row i.
void fused_rows(int64_t m, const float* x, const float* x_sums, const QuantWeightView& w, float* y, int64_t r_begin,
                int64_t r_end) {
  const int64_t groups = groups_per_row(w);
  // The GEMM's SIMD choice (LITHE_SIMD) decides here too, so that tests cover the portable path.
  RowDot dot = row_dot;
#if defined(__x86_64__)
  if (std::strcmp(simd_name(), "portable") != 0) dot = row_dot_avx2_for(w.format);
#endif
  for (int64_t r = r_begin; r < r_end; ++r) {
    for (int64_t i = 0; i < m; ++i) y[i * w.rows + r] = dot(w, x + i * w.cols, x_sums + i * groups, r);
  }
}

}  // namespace

void quant_gemm_f32(bool trans_w, int64_t m, const float* x, const QuantWeightView& w, float* y) {
  if (m == 0) return;
  if (trans_w && m < kFusedRows) {
    const int64_t groups = groups_per_row(w);
    std::vector<float> x_sums(static_cast<size_t>(m * groups), 0.0f);
    if (w.zeros) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t c = 0; c < w.cols; ++c) x_sums[i * groups + c / w.group_size] += x[i * w.cols + c];
      }
    }
    parallel_for(w.rows, 16, [&](int64_t begin, int64_t end) { fused_rows(m, x, x_sums.data(), w, y, begin, end); });
    return;
  }
  if (!trans_w && w.rows == 0) std::fill(y, y + m * w.cols, 0.0f);
  const int64_t panel_rows = std::min(w.rows, std::max(kMinPanelRows, kPanelElements / std::max<int64_t>(w.cols, 1)));
  std::vector<float> panel(static_cast<size_t>(panel_rows * w.cols));
  DequantizeRow dequantize = dequantize_row;
#if defined(__x86_64__)
  if (std::strcmp(simd_name(), "portable") != 0) dequantize = dequantize_row_avx2_for(w.format);
#endif
  for (int64_t r0 = 0; r0 < w.rows; r0 += panel_rows) {
    const int64_t r1 = std::min(w.rows, r0 + panel_rows);
    parallel_for(r1 - r0, 8, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) dequantize(w, r0 + r, panel.data() + r * w.cols);
    });
    GemmArgs g{};
    g.m = m;
    g.alpha = 1.0f;
    g.a = x;
    g.b = panel.data();
    g.ldb = w.cols;
    g.batch = 1;
    if (trans_w) {
      // y[:, r0:r1] = x · panelᵀ
      g.trans_b = true;
      g.n = r1 - r0;
      g.k = w.cols;
      g.lda = w.cols;
      g.beta = 0.0f;
      g.c = y + r0;
      g.ldc = w.rows;
    } else {
      // y += x[:, r0:r1] · panel
      g.n = w.cols;
      g.k = r1 - r0;
      g.a = x + r0;
      g.lda = w.rows;
      g.beta = r0 == 0 ? 0.0f : 1.0f;
      g.c = y;
      g.ldc = w.cols;
    }
    sgemm(g);
  }
}

}  // namespace lithe
