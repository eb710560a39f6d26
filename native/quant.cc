// Quantised GEMM. Few activation rows (decoding): each thread takes a range of W's rows and, chunk by chunk of a
// group, unpacks the codes to (q − z) in a small stack buffer and dots it with every x row, scaling once per group;
// W is read once, as bytes. More rows: a panel of W's rows is dequantised into scratch (bounded, not the whole
// weight) and handed to the f32 GEMM, whose blocking and micro-kernels then do the arithmetic.
#include "quant.h"

#include <algorithm>
#include <vector>

#include "clones.h"
#include "gemm.h"

namespace lithe {
namespace {

// Below this many x rows the fused path wins: the GEMM cannot amortise dequantising a panel.
constexpr int64_t kFusedRows = 8;
// Elements of a group unpacked at a time on the fused path (a 1 KB stack buffer).
constexpr int64_t kChunk = 256;
// f32 elements of W dequantised per panel on the GEMM path (1 MB), and the fewest rows a panel holds.
constexpr int64_t kPanelElements = 1 << 18;
constexpr int64_t kMinPanelRows = 16;

int64_t groups_per_row(const QuantWeightView& w) { return w.cols == 0 ? 0 : (w.cols + w.group_size - 1) / w.group_size; }

// Code slots per row: int4 rows are padded to whole bytes.
int64_t code_stride(const QuantWeightView& w) { return w.format == QuantFormat::kInt4 ? w.cols + (w.cols & 1) : w.cols; }

// out[i] = q(slot + i) − zero, exactly (small integers), for len codes of one row.
LITHE_CLONES void unpack_codes(const QuantWeightView& w, int64_t slot, int64_t len, float zero, float* out) {
  if (w.format == QuantFormat::kInt8Channel) {
    const int8_t* q = reinterpret_cast<const int8_t*>(w.codes) + slot;
    for (int64_t i = 0; i < len; ++i) out[i] = static_cast<float>(q[i]);
  } else if (w.format == QuantFormat::kInt8) {
    const uint8_t* q = w.codes + slot;
    for (int64_t i = 0; i < len; ++i) out[i] = static_cast<float>(q[i]) - zero;
  } else {
    int64_t i = 0;
    if (slot & 1) out[i++] = static_cast<float>(w.codes[slot >> 1] >> 4) - zero;
    const uint8_t* q = w.codes + ((slot + i) >> 1);
    const int64_t pairs = (len - i) / 2;
    for (int64_t j = 0; j < pairs; ++j) {
      out[i + 2 * j] = static_cast<float>(q[j] & 0x0f) - zero;
      out[i + 2 * j + 1] = static_cast<float>(q[j] >> 4) - zero;
    }
    i += 2 * pairs;
    if (i < len) out[i] = static_cast<float>(q[pairs] & 0x0f) - zero;
  }
}

// Σ a[i]·b[i] with 16 independent partial sums, so that GCC vectorises it without -ffast-math.
LITHE_CLONES float dot(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  float total = 0.0f;
  for (; i < n; ++i) total += a[i] * b[i];
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

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

// y[i, r] for r in [r_begin, r_end): x · Wᵀ on the fused path.
void fused_rows(int64_t m, const float* x, const QuantWeightView& w, float* y, int64_t r_begin, int64_t r_end) {
  const int64_t groups = groups_per_row(w);
  float buf[kChunk];
  float acc[kFusedRows];
  for (int64_t r = r_begin; r < r_end; ++r) {
    std::fill(acc, acc + m, 0.0f);
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = g * w.group_size;
      const int64_t c1 = std::min(c0 + w.group_size, w.cols);
      const float zero = w.zeros ? static_cast<float>(w.zeros[r * groups + g]) : 0.0f;
      float part[kFusedRows] = {};
      for (int64_t c = c0; c < c1; c += kChunk) {
        const int64_t len = std::min(kChunk, c1 - c);
        unpack_codes(w, r * code_stride(w) + c, len, zero, buf);
        for (int64_t i = 0; i < m; ++i) part[i] += dot(x + i * w.cols + c, buf, len);
      }
      const float scale = w.scales[r * groups + g];
      for (int64_t i = 0; i < m; ++i) acc[i] += scale * part[i];
    }
    for (int64_t i = 0; i < m; ++i) y[i * w.rows + r] = acc[i];
  }
}

}  // namespace

void quant_gemm_f32(bool trans_w, int64_t m, const float* x, const QuantWeightView& w, float* y) {
  if (m == 0) return;
  if (trans_w && m < kFusedRows) {
    parallel_for(w.rows, 16, [&](int64_t begin, int64_t end) { fused_rows(m, x, w, y, begin, end); });
    return;
  }
  if (!trans_w && w.rows == 0) std::fill(y, y + m * w.cols, 0.0f);
  const int64_t panel_rows = std::min(w.rows, std::max(kMinPanelRows, kPanelElements / std::max<int64_t>(w.cols, 1)));
  std::vector<float> panel(static_cast<size_t>(panel_rows * w.cols));
  for (int64_t r0 = 0; r0 < w.rows; r0 += panel_rows) {
    const int64_t r1 = std::min(w.rows, r0 + panel_rows);
    parallel_for(r1 - r0, 8, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) dequantize_row(w, r0 + r, panel.data() + r * w.cols);
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
