// Flash-style attention: a block of query rows meets one block of keys at a time, so the scratch is
// a few [kQueryBlock, kKeyBlock] tiles and never [T, S]. The products go through accumulate_rows, a
// 4 × 16 register tile (an AVX2+FMA build and a portable one); the row steps use an eight-lane
// vector type under target_clones. The forward
// runs one task per (batch, query head, query block); the backward one per (batch, kv head), which
// owns that head's dk/dv and its query heads' dq, so no two tasks write the same output.
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "clones.h"
#include "gemm.h"
#include "row_math.h"

namespace lithe {
namespace {

constexpr int64_t kQueryBlock = 32;
constexpr int64_t kKeyBlock = 64;
constexpr int64_t kLanes = 16;  // columns per register tile: two Vec8
constexpr int64_t kTileRows = 4;

// C[r][0:w) += Σ_x A(r, x) · B[x·ldb + 0:w) for r < rows, where A(r, x) = a[r·a_row + x·a_col]: a
// 4-row × 16-column tile of C stays in registers over the whole depth. Inlined into one build per
// instruction set below.
inline __attribute__((always_inline)) void accumulate_rows_body(float* c, int64_t ldc, int64_t rows, int64_t w,
                                                                const float* a, int64_t a_row, int64_t a_col,
                                                                int64_t depth, const float* b, int64_t ldb) {
  const int64_t wv = w - w % kLanes;
  int64_t r = 0;
  for (; r + kTileRows <= rows; r += kTileRows) {
    float* c0 = c + r * ldc;
    float* c1 = c0 + ldc;
    float* c2 = c1 + ldc;
    float* c3 = c2 + ldc;
    const float* a0 = a + r * a_row;
    const float* a1 = a0 + a_row;
    const float* a2 = a1 + a_row;
    const float* a3 = a2 + a_row;
    for (int64_t j = 0; j < wv; j += kLanes) {
      Vec8 t00 = load8(c0 + j), t01 = load8(c0 + j + 8);
      Vec8 t10 = load8(c1 + j), t11 = load8(c1 + j + 8);
      Vec8 t20 = load8(c2 + j), t21 = load8(c2 + j + 8);
      Vec8 t30 = load8(c3 + j), t31 = load8(c3 + j + 8);
      for (int64_t x = 0; x < depth; ++x) {
        const float* bx = b + x * ldb + j;
        const Vec8 b0 = load8(bx);
        const Vec8 b1 = load8(bx + 8);
        const float s0 = a0[x * a_col];
        const float s1 = a1[x * a_col];
        const float s2 = a2[x * a_col];
        const float s3 = a3[x * a_col];
        t00 += s0 * b0;
        t01 += s0 * b1;
        t10 += s1 * b0;
        t11 += s1 * b1;
        t20 += s2 * b0;
        t21 += s2 * b1;
        t30 += s3 * b0;
        t31 += s3 * b1;
      }
      store8(c0 + j, t00);
      store8(c0 + j + 8, t01);
      store8(c1 + j, t10);
      store8(c1 + j + 8, t11);
      store8(c2 + j, t20);
      store8(c2 + j + 8, t21);
      store8(c3 + j, t30);
      store8(c3 + j + 8, t31);
    }
    for (int64_t x = 0; wv < w && x < depth; ++x) {
      const float* bx = b + x * ldb;
      const float s0 = a0[x * a_col];
      const float s1 = a1[x * a_col];
      const float s2 = a2[x * a_col];
      const float s3 = a3[x * a_col];
      for (int64_t j = wv; j < w; ++j) {
        c0[j] += s0 * bx[j];
        c1[j] += s1 * bx[j];
        c2[j] += s2 * bx[j];
        c3[j] += s3 * bx[j];
      }
    }
  }
  for (; r < rows; ++r) {
    float* cr = c + r * ldc;
    const float* ar = a + r * a_row;
    for (int64_t j = 0; j < wv; j += kLanes) {
      Vec8 t0 = load8(cr + j), t1 = load8(cr + j + 8);
      for (int64_t x = 0; x < depth; ++x) {
        const float* bx = b + x * ldb + j;
        const float s = ar[x * a_col];
        t0 += s * load8(bx);
        t1 += s * load8(bx + 8);
      }
      store8(cr + j, t0);
      store8(cr + j + 8, t1);
    }
    for (int64_t x = 0; wv < w && x < depth; ++x) {
      const float s = ar[x * a_col];
      const float* bx = b + x * ldb;
      for (int64_t j = wv; j < w; ++j) cr[j] += s * bx[j];
    }
  }
}

using AccumulateRows = void (*)(float* c, int64_t ldc, int64_t rows, int64_t w, const float* a, int64_t a_row,
                                int64_t a_col, int64_t depth, const float* b, int64_t ldb);

void accumulate_rows_portable(float* c, int64_t ldc, int64_t rows, int64_t w, const float* a, int64_t a_row,
                              int64_t a_col, int64_t depth, const float* b, int64_t ldb) {
  accumulate_rows_body(c, ldc, rows, w, a, a_row, a_col, depth, b, ldb);
}

#if defined(__x86_64__) && defined(__GNUC__)
// Spelled out rather than through LITHE_CLONES: target_clones reads "avx2,fma" as two clones, and its
// resolver picks the avx2 one, which has no FMA.
__attribute__((target("avx2,fma"))) void accumulate_rows_avx2(float* c, int64_t ldc, int64_t rows, int64_t w,
                                                              const float* a, int64_t a_row, int64_t a_col,
                                                              int64_t depth, const float* b, int64_t ldb) {
  accumulate_rows_body(c, ldc, rows, w, a, a_row, a_col, depth, b, ldb);
}
#endif

// The build for the GEMM's path (gemm.h's simd_name, which follows LITHE_SIMD): AVX2+FMA also
// serves AVX-512 machines.
AccumulateRows pick_accumulate_rows() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (std::strcmp(simd_name(), "portable") != 0) return accumulate_rows_avx2;
#endif
  return accumulate_rows_portable;
}

// x[0:n) = fast_exp(x − shift), eight lanes at a time; returns their sum.
LITHE_CLONES double exp_shifted_sum(float* x, int64_t n, float shift) {
  Vec8 lanes = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Vec8 e = fast_exp8(load8(x + i) - shift);
    store8(x + i, e);
    lanes += e;
  }
  double total = 0.0;
  for (; i < n; ++i) {
    x[i] = fast_exp(x[i] - shift);
    total += x[i];
  }
  for (int l = 0; l < 8; ++l) total += lanes[l];
  return total;
}

// Max of x[0:n), −inf when n = 0 (NaN is passed over).
LITHE_CLONES float row_max(const float* x, int64_t n) {
  Vec8 lanes = Vec8{} - INFINITY;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Vec8 v = load8(x + i);
    lanes = v > lanes ? v : lanes;
  }
  float best = -INFINITY;
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  for (int l = 0; l < 8; ++l) best = lanes[l] > best ? lanes[l] : best;
  return best;
}

LITHE_CLONES void scale_inplace(float* x, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

// out[jj] = factor · q·keys[jj] for jj < n, keys `width` floats apart: four dot products at a time,
// eight lanes each.
LITHE_CLONES void scaled_dots(const float* q, const float* keys, int64_t width, int64_t n, float factor, float* out) {
  const int64_t wv = width - width % 8;
  int64_t jj = 0;
  const auto total = [](Vec8 lanes) {
    float t = 0.0f;
    for (int l = 0; l < 8; ++l) t += lanes[l];
    return t;
  };
  for (; jj + 4 <= n; jj += 4) {
    const float* k0 = keys + jj * width;
    const float* k1 = k0 + width;
    const float* k2 = k1 + width;
    const float* k3 = k2 + width;
    Vec8 l0 = {}, l1 = {}, l2 = {}, l3 = {};
    for (int64_t c = 0; c < wv; c += 8) {
      const Vec8 qc = load8(q + c);
      l0 += qc * load8(k0 + c);
      l1 += qc * load8(k1 + c);
      l2 += qc * load8(k2 + c);
      l3 += qc * load8(k3 + c);
    }
    float t0 = total(l0), t1 = total(l1), t2 = total(l2), t3 = total(l3);
    for (int64_t c = wv; c < width; ++c) {
      t0 += q[c] * k0[c];
      t1 += q[c] * k1[c];
      t2 += q[c] * k2[c];
      t3 += q[c] * k3[c];
    }
    out[jj] = factor * t0;
    out[jj + 1] = factor * t1;
    out[jj + 2] = factor * t2;
    out[jj + 3] = factor * t3;
  }
  for (; jj < n; ++jj) {
    const float* kr = keys + jj * width;
    Vec8 lanes = {};
    for (int64_t c = 0; c < wv; c += 8) lanes += load8(q + c) * load8(kr + c);
    float t = total(lanes);
    for (int64_t c = wv; c < width; ++c) t += q[c] * kr[c];
    out[jj] = factor * t;
  }
}

// Keys query i may see before the mask: [lo, hi], empty when lo > hi.
void band(const AttentionShape& a, int64_t i, int64_t& lo, int64_t& hi) {
  const int64_t shift = a.s - a.t;
  lo = a.window > 0 ? std::max<int64_t>(0, i + shift - a.window + 1) : 0;
  hi = a.causal ? std::min<int64_t>(a.s - 1, i + shift) : a.s - 1;
}

// Per-thread tiles, reused across that thread's tasks, and the tile product for this CPU.
struct Scratch {
  AccumulateRows accumulate_rows = pick_accumulate_rows();
  std::vector<float> packed;  // [max(D, Dv), kKeyBlock]: a key block transposed
  std::vector<float> scores;  // [kQueryBlock, kKeyBlock]
  std::vector<float> grads;   // [kQueryBlock, kKeyBlock]: dP, then dS
  std::vector<float> rows;    // [kQueryBlock, max(D, Dv)]: the output or dq accumulator
  explicit Scratch(const AttentionShape& a)
      : packed(std::max(a.d, a.dv) * kKeyBlock),
        scores(kQueryBlock * kKeyBlock),
        grads(kQueryBlock * kKeyBlock),
        rows(kQueryBlock * std::max(a.d, a.dv)) {}
};

// packed[c][jj] = factor · src[(j0 + jj)·width + c] for jj < kb: a block of rows transposed, kKeyBlock apart.
void pack_transposed(const float* src, int64_t width, int64_t j0, int64_t kb, float factor, float* packed) {
  for (int64_t jj = 0; jj < kb; ++jj) {
    const float* row = src + (j0 + jj) * width;
    for (int64_t c = 0; c < width; ++c) packed[c * kKeyBlock + jj] = factor * row[c];
  }
}

// scores[r][0:kb) = q_r·(scale · k_j) + mask for query rows i0 + r (r < rows) of head h and keys j = j0 + jj,
// and −inf outside each row's band or where the keep mask is 0. q_rows: the rows' q; keys: the kv head's k.
void block_scores(const AttentionShape& a, int64_t b, int64_t h, const float* q_rows, int64_t i0, int64_t rows,
                  const float* keys, int64_t j0, int64_t kb, Scratch& scratch) {
  float* scores = scratch.scores.data();
  if (rows < kTileRows) {
    // Too few rows (decoding one token) to pay for packing the keys: one dot product per score.
    for (int64_t r = 0; r < rows; ++r) {
      scaled_dots(q_rows + r * a.d, keys + j0 * a.d, a.d, kb, a.scale, scores + r * kKeyBlock);
    }
  } else {
    // The scale goes into the packed keys, which saves a pass over the scores.
    pack_transposed(keys, a.d, j0, kb, a.scale, scratch.packed.data());
    std::fill(scores, scores + rows * kKeyBlock, 0.0f);
    scratch.accumulate_rows(scores, kKeyBlock, rows, kb, q_rows, a.d, 1, a.d, scratch.packed.data(), kKeyBlock);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = scores + r * kKeyBlock;
    const int64_t i = i0 + r;
    if (a.mask_keep || a.mask_add) {
      const int64_t* ms = a.mask_strides;
      const int64_t base = b * ms[0] + h * ms[1] + i * ms[2] + j0 * ms[3];
      if (a.mask_add) {
        for (int64_t jj = 0; jj < kb; ++jj) sr[jj] += a.mask_add[base + jj * ms[3]];
      } else {
        for (int64_t jj = 0; jj < kb; ++jj) {
          if (a.mask_keep[base + jj * ms[3]] == 0) sr[jj] = -INFINITY;
        }
      }
    }
    int64_t lo, hi;
    band(a, i, lo, hi);
    const int64_t first = std::clamp<int64_t>(lo - j0, 0, kb);
    const int64_t end = std::clamp<int64_t>(hi + 1 - j0, first, kb);
    std::fill(sr, sr + first, -INFINITY);
    std::fill(sr + end, sr + kb, -INFINITY);
  }
}

// Runs task(i, scratch) for i in [0, n), each pool thread taking the next index when it is free
// (causal blocks differ in cost); a task's result does not depend on which thread runs it.
template <typename Task>
void for_each_task(const AttentionShape& a, int64_t n, const Task& task) {
  std::atomic<int64_t> next{0};
  parallel_for(std::min<int64_t>(thread_count(), n), 1, [&](int64_t, int64_t) {
    Scratch scratch(a);
    for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) task(i, scratch);
  });
}

}  // namespace

void attention_forward_f32(const AttentionShape& a, const float* q, const float* k, const float* v, float* out,
                           float* lse) {
  const int64_t group = a.heads / a.kv_heads;
  const int64_t query_blocks = (a.t + kQueryBlock - 1) / kQueryBlock;
  for_each_task(a, a.batch * a.heads * query_blocks, [&](int64_t task, Scratch& scratch) {
    const int64_t bh = task / query_blocks;
    // Last query blocks first: under the causal rule they see the most keys.
    const int64_t i0 = (query_blocks - 1 - task % query_blocks) * kQueryBlock;
    const int64_t b = bh / a.heads;
    const int64_t h = bh % a.heads;
    const int64_t kv = b * a.kv_heads + h / group;
    const int64_t rows = std::min(kQueryBlock, a.t - i0);
    const float* keys = k + kv * a.s * a.d;
    const float* values = v + kv * a.s * a.dv;
    float max[kQueryBlock];
    double total[kQueryBlock];
    std::fill(max, max + rows, -INFINITY);
    std::fill(total, total + rows, 0.0);
    float* acc = scratch.rows.data();
    std::fill(acc, acc + rows * a.dv, 0.0f);
    int64_t lo, unused, hi;
    band(a, i0, lo, unused);
    band(a, i0 + rows - 1, unused, hi);
    for (int64_t j0 = lo; j0 <= hi; j0 += kKeyBlock) {
      const int64_t kb = std::min(kKeyBlock, hi + 1 - j0);
      block_scores(a, b, h, q + (bh * a.t + i0) * a.d, i0, rows, keys, j0, kb, scratch);
      for (int64_t r = 0; r < rows; ++r) {
        float* sr = scratch.scores.data() + r * kKeyBlock;
        const float block_max = row_max(sr, kb);
        if (block_max == -INFINITY) {
          std::fill(sr, sr + kb, 0.0f);
          continue;
        }
        // Rescale what earlier blocks summed to the new max (nothing to rescale before the first visible key).
        const float new_max = std::max(max[r], block_max);
        if (max[r] != -INFINITY && new_max != max[r]) {
          const float alpha = fast_exp(max[r] - new_max);
          total[r] *= alpha;
          scale_inplace(acc + r * a.dv, a.dv, alpha);
        }
        max[r] = new_max;
        total[r] += exp_shifted_sum(sr, kb, new_max);
      }
      scratch.accumulate_rows(acc, a.dv, rows, a.dv, scratch.scores.data(), kKeyBlock, 1, kb, values + j0 * a.dv, a.dv);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = bh * a.t + i0 + r;
      float* o = out + row * a.dv;
      if (total[r] == 0.0) {
        std::fill(o, o + a.dv, 0.0f);
        lse[row] = INFINITY;
        continue;
      }
      const float inv = static_cast<float>(1.0 / total[r]);
      for (int64_t c = 0; c < a.dv; ++c) o[c] = acc[r * a.dv + c] * inv;
      lse[row] = static_cast<float>(max[r] + std::log(total[r]));
    }
  });
}

void attention_backward_f32(const AttentionShape& a, const float* q, const float* k, const float* v,
                            const float* out, const float* lse, const float* d_out, float* dq, float* dk, float* dv) {
  const int64_t group = a.heads / a.kv_heads;
  const int64_t query_blocks = (a.t + kQueryBlock - 1) / kQueryBlock;
  for_each_task(a, a.batch * a.kv_heads, [&](int64_t kv, Scratch& scratch) {
    const int64_t b = kv / a.kv_heads;
    const int64_t g = kv % a.kv_heads;
    const float* keys = k + kv * a.s * a.d;
    const float* values = v + kv * a.s * a.dv;
    float* dk_head = dk ? dk + kv * a.s * a.d : nullptr;
    float* dv_head = dv ? dv + kv * a.s * a.dv : nullptr;
    if (dk_head) std::fill(dk_head, dk_head + a.s * a.d, 0.0f);
    if (dv_head) std::fill(dv_head, dv_head + a.s * a.dv, 0.0f);
    const bool need_ds = dq || dk;
    float* p = scratch.scores.data();
    float* ds = scratch.grads.data();
    float* dq_rows = scratch.rows.data();
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      const int64_t bh = b * a.heads + h;
      for (int64_t i0 = 0; i0 < a.t; i0 += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, a.t - i0);
        const int64_t row0 = bh * a.t + i0;
        const float* q_rows = q + row0 * a.d;
        const float* do_rows = d_out + row0 * a.dv;
        // D_i = Σ dO_i ⊙ O_i
        float row_dot[kQueryBlock];
        for (int64_t r = 0; r < rows; ++r) {
          double dot = 0.0;
          const float* o = out + (row0 + r) * a.dv;
          for (int64_t c = 0; c < a.dv; ++c) dot += static_cast<double>(do_rows[r * a.dv + c]) * o[c];
          row_dot[r] = static_cast<float>(dot);
        }
        std::fill(dq_rows, dq_rows + rows * a.d, 0.0f);
        int64_t lo, unused, hi;
        band(a, i0, lo, unused);
        band(a, i0 + rows - 1, unused, hi);
        for (int64_t j0 = lo; j0 <= hi; j0 += kKeyBlock) {
          const int64_t kb = std::min(kKeyBlock, hi + 1 - j0);
          block_scores(a, b, h, q_rows, i0, rows, keys, j0, kb, scratch);
          // P = exp(score − lse); lse = +inf (no visible key) gives 0.
          for (int64_t r = 0; r < rows; ++r) exp_shifted_sum(p + r * kKeyBlock, kb, lse[row0 + r]);
          if (need_ds) {
            // dP = dO Vᵀ, then dS = scale · P ⊙ (dP − D_i)
            pack_transposed(values, a.dv, j0, kb, 1.0f, scratch.packed.data());
            std::fill(ds, ds + rows * kKeyBlock, 0.0f);
            scratch.accumulate_rows(ds, kKeyBlock, rows, kb, do_rows, a.dv, 1, a.dv, scratch.packed.data(), kKeyBlock);
            for (int64_t r = 0; r < rows; ++r) {
              float* dr = ds + r * kKeyBlock;
              const float* pr = p + r * kKeyBlock;
              for (int64_t jj = 0; jj < kb; ++jj) dr[jj] = a.scale * pr[jj] * (dr[jj] - row_dot[r]);
            }
          }
          // dV[j] += Σ_i P_ij dO_i; dK[j] += Σ_i dS_ij Q_i; dQ_i += Σ_j dS_ij K_j
          const AccumulateRows acc = scratch.accumulate_rows;
          if (dv_head) acc(dv_head + j0 * a.dv, a.dv, kb, a.dv, p, 1, kKeyBlock, rows, do_rows, a.dv);
          if (dk_head) acc(dk_head + j0 * a.d, a.d, kb, a.d, ds, 1, kKeyBlock, rows, q_rows, a.d);
          if (dq) acc(dq_rows, a.d, rows, a.d, ds, kKeyBlock, 1, kb, keys + j0 * a.d, a.d);
        }
        if (dq) std::copy(dq_rows, dq_rows + rows * a.d, dq + row0 * a.d);
      }
    }
  });
}

}  // namespace lithe
