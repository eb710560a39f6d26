// Row and elementwise f32 kernels: the native twins of src/backends/ts/{elementwise,softmax,norm}.ts.
// Callers validate sizes; arrays are contiguous and never alias unless stated.
#pragma once

#include <cstdint>

namespace lithe {

// Must match UNARY_OPS in src/backends/native/loader.ts.
enum class UnaryOp : int {
  kNeg, kExp, kLog, kSqrt, kRsqrt, kAbs, kRelu, kSigmoid, kTanh, kSilu, kGeluTanh, kGeluErf, kSoftplus, kLogSigmoid
};

// Must match BINARY_OPS in src/backends/native/loader.ts.
enum class BinaryOp : int { kAdd, kSub, kMul, kDiv };

// out[i] = op(x[i]); out may alias x.
void unary_f32(UnaryOp op, const float* x, float* out, int64_t n);

// out[i] = g[i] · op'(x[i]) for the activations whose derivative comes from the input (relu, silu,
// geluTanh, geluErf, softplus, logSigmoid); returns false, writing nothing, for any other op.
bool unary_grad_f32(UnaryOp op, const float* x, const float* g, float* out, int64_t n);

// out[i] = a[i * a_step] op b[i * b_step], steps 0 (a scalar) or 1; out may alias a or b.
void binary_f32(BinaryOp op, const float* a, int64_t a_step, const float* b, int64_t b_step, float* out, int64_t n);

// Softmax (or log-softmax) of each row of [rows, len]; out may alias x.
void softmax_rows_f32(const float* x, float* out, int64_t rows, int64_t len, bool log);

// In place on [rows, len]: row r becomes softmax over columns lo[r]..hi[r] and 0 elsewhere
// (all 0 when lo[r] > hi[r]); the causal / sliding-window attention mask.
void softmax_bands_f32(float* x, int64_t rows, int64_t len, const int32_t* lo, const int32_t* hi);

// HF LlamaRMSNorm of each row of [rows, dim]; rstd[r] gets the row's rsqrt(mean(x^2) + eps).
void rms_norm_f32(const float* x, const float* weight, float* out, double* rstd, int64_t rows, int64_t dim, float eps);

// Gradient of rms_norm_f32: dx = r·w·g − x·r³/dim·Σ g·w·x per row, and dw[i] += Σ_rows g·x·r.
// Either output may be null when that input needs no gradient.
void rms_norm_backward_f32(const float* x, const float* weight, const double* rstd, const float* g, float* dx,
                           double* dw, int64_t rows, int64_t dim);

// Softmax gradient from each row's output y over [rows, len]: dx = y·(g − Σ g·y); dx may alias g.
void softmax_backward_rows_f32(const float* y, const float* g, float* dx, int64_t rows, int64_t len);

// Rotate-half rotary embedding of each row of [rows, dim]: out = src·cos + rotate_half(src)·sin, or its
// transpose (the gradient map) when `transpose`. Row r's tables start at cos[cos_rows[r]] and
// sin[sin_rows[r]] and step by cos_step / sin_step along the row.
void rope_f32(const float* src, float* out, int64_t rows, int64_t dim, const float* cos, const int32_t* cos_rows,
              int64_t cos_step, const float* sin, const int32_t* sin_rows, int64_t sin_step, bool transpose);

// Per-row cross entropy with label smoothing and an ignore index (see crossEntropyForwardTs);
// returns the number of rows counted. Targets are valid class indices or ignore_index.
int64_t cross_entropy_f32(const float* logits, const int32_t* targets, float* losses, double* row_max,
                          double* row_log_sum, int64_t rows, int64_t classes, int32_t ignore_index, double smoothing);

// Gradient of cross_entropy_f32 w.r.t. the logits: row_grad[r] · (softmax − (1−ε)·onehot − ε/C),
// zero on ignored rows.
void cross_entropy_backward_f32(const float* logits, const int32_t* targets, const double* row_max,
                                const double* row_log_sum, const double* row_grad, float* dx, int64_t rows,
                                int64_t classes, int32_t ignore_index, double smoothing);

}  // namespace lithe
