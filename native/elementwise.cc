// Row and elementwise f32 kernels. Each inner loop is plain arithmetic (no libm calls on the hot
// paths) so that GCC vectorises it; target_clones builds AVX-512, AVX2 and baseline versions and
// picks one at load time. Work is split across the shared thread pool by rows or by chunks.
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "clones.h"
#include "gemm.h"
#include "row_math.h"

namespace lithe {
namespace {

// Elements per thread below which threading costs more than it saves.
constexpr int64_t kGrain = 1 << 15;

inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
inline Vec8 sigmoid8(Vec8 x) { return 1.0f / (1.0f + fast_exp8(-x)); }

// out[i] = lanes(x, ...) eight at a time and one(x, ...) for the tail: fast_exp's selects keep GCC from vectorising
// the scalar form outside the AVX-512 clone, so the exp-based row ops go through Vec8 on every target.
template <typename Lanes, typename One>
inline void map8(int64_t n, Lanes lanes, One one) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) lanes(i);
  for (; i < n; ++i) one(i);
}

// Without -ffast-math, GCC keeps a float reduction in order and so will not vectorise it; these
// keep 16 independent partial results instead, which it turns into one vector register.
constexpr int kLanes = 16;

LITHE_CLONES float lane_max(const float* x, int64_t n, bool& nan) {
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, -INFINITY);
  int nan_count = 0;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      lanes[l] = x[i + l] > lanes[l] ? x[i + l] : lanes[l];
      nan_count += x[i + l] != x[i + l];
    }
  }
  for (; i < n; ++i) {
    lanes[0] = x[i] > lanes[0] ? x[i] : lanes[0];
    nan_count += x[i] != x[i];
  }
  nan = nan_count > 0;
  return *std::max_element(lanes, lanes + kLanes);
}

LITHE_CLONES double lane_sum(const float* x, int64_t n) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += x[i + l];
  }
  double total = 0.0;
  for (; i < n; ++i) total += x[i];
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// out[0:n) = fast_exp(x − shift), through fast_exp8 (see map8); the lanes give the scalar form's values.
LITHE_CLONES void exp_shifted(const float* x, float* out, int64_t n, float shift) {
  map8(
      n, [&](int64_t i) { store8(out + i, fast_exp8(load8(x + i) - shift)); },
      [&](int64_t i) { out[i] = fast_exp(x[i] - shift); });
}

// Σ exp(x[i] − shift): exponentials of a chunk into a stack buffer, then a vectorised sum.
LITHE_CLONES double sum_exp(const float* x, int64_t n, float shift) {
  constexpr int64_t kChunk = 512;
  float buf[kChunk];
  double total = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    exp_shifted(x + i0, buf, m, shift);
    total += lane_sum(buf, m);
  }
  return total;
}

// log(1 + e^x) without overflow.
inline float softplus(float x) { return std::max(x, 0.0f) + std::log1p(fast_exp(-std::fabs(x))); }

LITHE_CLONES void unary_range(UnaryOp op, const float* x, float* out, int64_t n) {
  switch (op) {
    case UnaryOp::kNeg:
      for (int64_t i = 0; i < n; ++i) out[i] = -x[i];
      return;
    case UnaryOp::kExp:
      exp_shifted(x, out, n, 0.0f);
      return;
    case UnaryOp::kLog:
      for (int64_t i = 0; i < n; ++i) out[i] = std::log(x[i]);
      return;
    case UnaryOp::kSqrt:
      for (int64_t i = 0; i < n; ++i) out[i] = std::sqrt(x[i]);
      return;
    case UnaryOp::kRsqrt:
      for (int64_t i = 0; i < n; ++i) out[i] = 1.0f / std::sqrt(x[i]);
      return;
    case UnaryOp::kAbs:
      for (int64_t i = 0; i < n; ++i) out[i] = std::fabs(x[i]);
      return;
    case UnaryOp::kRelu:
      for (int64_t i = 0; i < n; ++i) out[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
      return;
    case UnaryOp::kSigmoid:
      map8(
          n, [&](int64_t i) { store8(out + i, sigmoid8(load8(x + i))); }, [&](int64_t i) { out[i] = sigmoid(x[i]); });
      return;
    case UnaryOp::kTanh:
      // tanh(x) = 1 − 2/(e^{2x} + 1), saturating cleanly at ±1.
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        out[i] = std::fabs(v) < 0.0004f ? v : 1.0f - 2.0f / (fast_exp(2.0f * v) + 1.0f);
      }
      return;
    case UnaryOp::kSilu:
      map8(
          n,
          [&](int64_t i) {
            const Vec8 v = load8(x + i);
            store8(out + i, v * sigmoid8(v));
          },
          [&](int64_t i) { out[i] = x[i] * sigmoid(x[i]); });
      return;
    case UnaryOp::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        // 0.5·(1 + tanh(u)) = sigmoid(2u)
        out[i] = v * sigmoid(2.0f * u);
      }
      return;
    case UnaryOp::kGeluErf:
      for (int64_t i = 0; i < n; ++i) out[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      return;
    case UnaryOp::kSoftplus:
      for (int64_t i = 0; i < n; ++i) out[i] = softplus(x[i]);
      return;
    case UnaryOp::kLogSigmoid:
      for (int64_t i = 0; i < n; ++i) out[i] = -softplus(-x[i]);
      return;
  }
}

LITHE_CLONES bool unary_grad_range(UnaryOp op, const float* x, const float* g, float* out, int64_t n) {
  switch (op) {
    case UnaryOp::kRelu:
      for (int64_t i = 0; i < n; ++i) out[i] = x[i] > 0.0f ? g[i] : 0.0f;
      return true;
    case UnaryOp::kSilu:
      map8(
          n,
          [&](int64_t i) {
            const Vec8 v = load8(x + i);
            const Vec8 s = sigmoid8(v);
            store8(out + i, load8(g + i) * s * (1.0f + v * (1.0f - s)));
          },
          [&](int64_t i) {
            const float s = sigmoid(x[i]);
            out[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
          });
      return true;
    case UnaryOp::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float s = sigmoid(2.0f * 0.7978845608028654f * (v + 0.044715f * v * v * v));  // (1 + tanh u)/2
        const float t = 2.0f * s - 1.0f;
        const float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
        out[i] = g[i] * (s + 0.5f * v * (1.0f - t * t) * du);
      }
      return true;
    case UnaryOp::kGeluErf:
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float cdf = 0.5f * (1.0f + std::erf(v * 0.70710678118654752f));
        const float pdf = fast_exp(-0.5f * v * v) * 0.3989422804014327f;
        out[i] = g[i] * (cdf + v * pdf);
      }
      return true;
    case UnaryOp::kSoftplus:
      for (int64_t i = 0; i < n; ++i) out[i] = g[i] * sigmoid(x[i]);
      return true;
    case UnaryOp::kLogSigmoid:
      for (int64_t i = 0; i < n; ++i) out[i] = g[i] * sigmoid(-x[i]);
      return true;
    default:
      return false;
  }
}

template <typename F>
LITHE_CLONES void binary_loop(const float* a, int64_t as, const float* b, int64_t bs, float* out, int64_t n, F f) {
  if (as == 1 && bs == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (as == 1) {
    const float y = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], y);
  } else if (bs == 1) {
    const float x = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[0], b[0]);
  }
}

void binary_range(BinaryOp op, const float* a, int64_t as, const float* b, int64_t bs, float* out, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      binary_loop(a, as, b, bs, out, n, [](float x, float y) { return x + y; });
      return;
    case BinaryOp::kSub:
      binary_loop(a, as, b, bs, out, n, [](float x, float y) { return x - y; });
      return;
    case BinaryOp::kMul:
      binary_loop(a, as, b, bs, out, n, [](float x, float y) { return x * y; });
      return;
    case BinaryOp::kDiv:
      binary_loop(a, as, b, bs, out, n, [](float x, float y) { return x / y; });
      return;
  }
}

LITHE_CLONES void scale_row(float* x, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

// Softmax of one row of n values into out (may alias).
void softmax_row(const float* x, float* out, int64_t n, bool log) {
  bool nan = false;
  const float max = lane_max(x, n, nan);
  if (nan || max == -INFINITY) {
    // NaN in, or every input -inf: NaN out, as torch and the TS twin give.
    std::fill(out, out + n, NAN);
    return;
  }
  if (log) {
    const float log_total = static_cast<float>(std::log(sum_exp(x, n, max)));
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] - max - log_total;
    return;
  }
  exp_shifted(x, out, n, max);
  const float inv = static_cast<float>(1.0 / lane_sum(out, n));
  scale_row(out, n, inv);
}

}  // namespace

void unary_f32(UnaryOp op, const float* x, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { unary_range(op, x + begin, out + begin, end - begin); });
}

bool unary_grad_f32(UnaryOp op, const float* x, const float* g, float* out, int64_t n) {
  if (!unary_grad_range(op, x, g, out, 0)) return false;
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    unary_grad_range(op, x + begin, g + begin, out + begin, end - begin);
  });
  return true;
}

void binary_f32(BinaryOp op, const float* a, int64_t a_step, const float* b, int64_t b_step, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    binary_range(op, a + begin * a_step, a_step, b + begin * b_step, b_step, out + begin, end - begin);
  });
}

void softmax_rows_f32(const float* x, float* out, int64_t rows, int64_t len, bool log) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, len)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) softmax_row(x + r * len, out + r * len, len, log);
  });
}

void softmax_bands_f32(float* x, int64_t rows, int64_t len, const int32_t* lo, const int32_t* hi) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, len)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = x + r * len;
      const int64_t a = std::max<int64_t>(0, lo[r]);
      const int64_t b = std::min<int64_t>(len - 1, hi[r]);
      if (a > b) {
        std::fill(row, row + len, 0.0f);
        continue;
      }
      std::fill(row, row + a, 0.0f);
      std::fill(row + b + 1, row + len, 0.0f);
      softmax_row(row + a, row + a, b - a + 1, false);
    }
  });
}

void rms_norm_f32(const float* x, const float* weight, float* out, double* rstd, int64_t rows, int64_t dim,
                  float eps) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * dim;
      float* yr = out + r * dim;
      double squares = 0.0;
      for (int64_t i = 0; i < dim; ++i) squares += static_cast<double>(xr[i]) * xr[i];
      // Rounded to f32 step by step, as torch computes LlamaRMSNorm in float32.
      const float mean = static_cast<float>(squares / static_cast<double>(dim));
      const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(mean + eps)));
      rstd[r] = scale;
      for (int64_t i = 0; i < dim; ++i) yr[i] = weight[i] * (xr[i] * scale);
    }
  });
}

int64_t cross_entropy_f32(const float* logits, const int32_t* targets, float* losses, double* row_max,
                          double* row_log_sum, int64_t rows, int64_t classes, int32_t ignore_index,
                          double smoothing) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, classes)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int32_t t = targets[r];
      if (t == ignore_index) {
        losses[r] = 0.0f;
        continue;
      }
      const float* row = logits + r * classes;
      bool nan = false;
      const float max = lane_max(row, classes, nan);
      const double total = lane_sum(row, classes);
      const double log_sum = std::log(sum_exp(row, classes, max));
      row_max[r] = max;
      row_log_sum[r] = log_sum;
      const double nll = static_cast<double>(max) - row[t] + log_sum;
      const double uniform = static_cast<double>(max) - total / static_cast<double>(classes) + log_sum;
      losses[r] = static_cast<float>(smoothing == 0.0 ? nll : (1.0 - smoothing) * nll + smoothing * uniform);
    }
  });
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) counted += targets[r] != ignore_index;
  return counted;
}

void cross_entropy_backward_f32(const float* logits, const int32_t* targets, const double* row_max,
                                const double* row_log_sum, const double* row_grad, float* dx, int64_t rows,
                                int64_t classes, int32_t ignore_index, double smoothing) {
  const float uniform = static_cast<float>(smoothing / static_cast<double>(classes));
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, classes)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* d = dx + r * classes;
      const int32_t t = targets[r];
      if (t == ignore_index) {
        std::fill(d, d + classes, 0.0f);
        continue;
      }
      const float shift = static_cast<float>(row_max[r] + row_log_sum[r]);
      exp_shifted(logits + r * classes, d, classes, shift);
      const float g = static_cast<float>(row_grad[r]);
      for (int64_t j = 0; j < classes; ++j) d[j] = g * (d[j] - uniform);
      d[t] -= g * static_cast<float>(1.0 - smoothing);
    }
  });
}

void rms_norm_backward_f32(const float* x, const float* weight, const double* rstd, const float* g, float* dx,
                           double* dw, int64_t rows, int64_t dim) {
  const int64_t row_grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim));
  if (dx) {
    parallel_for(rows, row_grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = x + r * dim;
        const float* gr = g + r * dim;
        const double scale = rstd[r];
        double dot = 0.0;
        for (int64_t i = 0; i < dim; ++i) dot += static_cast<double>(gr[i]) * weight[i] * xr[i];
        const double coef = scale * scale * scale * dot / static_cast<double>(dim);
        float* d = dx + r * dim;
        for (int64_t i = 0; i < dim; ++i) d[i] = static_cast<float>(scale * weight[i] * gr[i] - xr[i] * coef);
      }
    });
  }
  if (!dw) return;
  // Split by columns so that each thread owns its dw entries; rows are summed in order, as the TS twin does.
  const int64_t col_grain = std::max<int64_t>(8, kGrain / std::max<int64_t>(1, rows));
  parallel_for(dim, col_grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      const float* gr = g + r * dim;
      const double scale = rstd[r];
      for (int64_t i = begin; i < end; ++i) dw[i] += static_cast<double>(gr[i]) * xr[i] * scale;
    }
  });
}

void softmax_backward_rows_f32(const float* y, const float* g, float* dx, int64_t rows, int64_t len) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, len)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* yr = y + r * len;
      const float* gr = g + r * len;
      double dot = 0.0;
      for (int64_t i = 0; i < len; ++i) dot += static_cast<double>(gr[i]) * yr[i];
      float* d = dx + r * len;
      for (int64_t i = 0; i < len; ++i) d[i] = static_cast<float>(yr[i] * (gr[i] - dot));
    }
  });
}

void rope_f32(const float* src, float* out, int64_t rows, int64_t dim, const float* cos, const int32_t* cos_rows,
              int64_t cos_step, const float* sin, const int32_t* sin_rows, int64_t sin_step, bool transpose) {
  const int64_t half = dim / 2;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* s = src + r * dim;
      float* o = out + r * dim;
      const float* c = cos + cos_rows[r];
      const float* sn = sin + sin_rows[r];
      // out_j = s_j·cos_j − s_{j+h}·sin_j (j < h), s_j·cos_j + s_{j−h}·sin_j (j ≥ h); the transpose
      // reads the partner's sin with the opposite sign.
      for (int64_t j = 0; j < half; ++j) {
        const float sin_lo = transpose ? -sn[(j + half) * sin_step] : sn[j * sin_step];
        const float sin_hi = transpose ? -sn[j * sin_step] : sn[(j + half) * sin_step];
        o[j] = s[j] * c[j * cos_step] - s[j + half] * sin_lo;
        o[j + half] = s[j + half] * c[(j + half) * cos_step] + s[j] * sin_hi;
      }
    }
  });
}

}  // namespace lithe
