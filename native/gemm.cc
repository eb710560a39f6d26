// BLIS-style f32 GEMM: op(A) is packed into MC x KC blocks of MR-tall row panels, op(B) into
// KC x NC blocks of NR-wide column panels, and a register-blocked MR x NR micro-kernel multiplies
// one A panel by one B panel. The micro-kernel (AVX-512, AVX2/FMA or portable on x86-64; NEON or
// portable on aarch64) is chosen at run time; each x86 one is compiled for its own target, so the
// binary runs on any x86-64. NEON is baseline on aarch64, so its kernels need no target attribute.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "cache.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LITHE_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define LITHE_AVX2 __attribute__((target("avx2,fma")))
#define LITHE_AVX2_INLINE inline __attribute__((always_inline, target("avx2,fma")))
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#define LITHE_INLINE inline __attribute__((always_inline))

namespace lithe {
namespace {

// Multiplies an MR x kc panel of A by a kc x NR panel of B and stores the top-left rows x cols
// corner of C = alpha * AB + beta * C (C is not read when beta == 0).
using MicroKernel = void (*)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                             int64_t rows, int64_t cols, float alpha, float beta);
// Packs rows x kc of op(A) (rows <= MC) into MR-tall panels, zero-padding the last one.
using PackA = void (*)(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out);
// Packs kc x cols of op(B) (cols <= NC) into NR-wide panels, zero-padding the last one.
using PackB = void (*)(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out);

// Small m (at most kSmallM rows of C): C[0:rows, n0:n1] = alpha * op(A) op(B) + beta * C without
// packing. `a` holds the rows of op(A) contiguously over k, `ars` floats apart; `b` is the batch
// entry's B as stored (op(B) applied here), `c` the first row of C to write.
using SmallGemm = void (*)(const GemmArgs& g, const float* a, int64_t ars, int64_t rows, const float* b, float* c,
                           int64_t n0, int64_t n1);
constexpr int64_t kSmallM = 4;

constexpr int kMaxVectorsPerRow = 4;  // vector registers per micro-tile row, at most

struct KernelSet {
  const char* name;
  int mr;
  int nr;
  int64_t mc;  // rows of A per block (a multiple of MR): an MC x KC block of A comes from L3
  int64_t kc;  // depth per block: an MR x KC panel of A and a KC x NR panel of B stay in L1
  int64_t nc;  // columns of B per block (a multiple of NR): KC x NC floats stay in L2
  int vector;  // floats per vector register
  // micro[v] handles panels at most (v + 1) * vector columns wide, so that narrow edge panels
  // skip the vectors that would only multiply zero padding.
  MicroKernel micro[kMaxVectorsPerRow];
  PackA pack_a;
  PackB pack_b;
  SmallGemm small;
};

// ---------------------------------------------------------------------------------------------
// Packing, written once and inlined into each target so the compiler vectorises it for that ISA.

// dst[q * W + r] = src[q * ld + r] for q < count, r < width (<= W); zero for r >= width.
template <int W>
LITHE_INLINE void copy_rows(const float* src, int64_t ld, int64_t count, int64_t width, float* dst) {
  for (int64_t q = 0; q < count; ++q, src += ld, dst += W) {
    if (width == W) {
      for (int r = 0; r < W; ++r) dst[r] = src[r];
    } else {
      for (int r = 0; r < W; ++r) dst[r] = r < width ? src[r] : 0.0f;
    }
  }
}

// dst[q * W + r] = src[r * ld + q] for r < height (<= W), q < count; zero for r >= height.
template <int W>
LITHE_INLINE void interleave_rows(const float* src, int64_t ld, int64_t height, int64_t count, float* dst) {
  const float* rows[W];
  for (int r = 0; r < W; ++r) rows[r] = src + std::min<int64_t>(r, height - 1) * ld;
  for (int64_t q = 0; q < count; ++q, dst += W) {
    for (int r = 0; r < W; ++r) dst[r] = r < height ? rows[r][q] : 0.0f;
  }
}

// ---------------------------------------------------------------------------------------------
// Portable micro-kernel: plain loops the compiler auto-vectorises for the baseline ISA.

constexpr int kPortableMr = 4;
constexpr int kPortableNr = 16;

void micro_portable(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c,
                    int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  float acc[kPortableMr][kPortableNr] = {};
  for (int64_t p = 0; p < kc; ++p, ap += kPortableMr, bp += kPortableNr) {
    for (int i = 0; i < kPortableMr; ++i) {
      for (int j = 0; j < kPortableNr; ++j) acc[i][j] += ap[i] * bp[j];
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    float* row = c + i * ldc;
    for (int64_t j = 0; j < cols; ++j) {
      row[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * row[j];
    }
  }
}

void pack_a_portable(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  for (int64_t i = 0; i < rows; i += kPortableMr, out += kPortableMr * kc) {
    const int64_t height = std::min<int64_t>(kPortableMr, rows - i);
    if (trans) {
      copy_rows<kPortableMr>(a + i, lda, kc, height, out);  // op(A)(i, p) = a[p * lda + i]
    } else {
      interleave_rows<kPortableMr>(a + i * lda, lda, height, kc, out);  // op(A)(i, p) = a[i * lda + p]
    }
  }
}

void pack_b_portable(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out) {
  for (int64_t j = 0; j < cols; j += kPortableNr, out += kPortableNr * kc) {
    const int64_t width = std::min<int64_t>(kPortableNr, cols - j);
    if (trans) {
      interleave_rows<kPortableNr>(b + j * ldb, ldb, width, kc, out);  // op(B)(p, j) = b[j * ldb + p]
    } else {
      copy_rows<kPortableNr>(b + j, ldb, kc, width, out);  // op(B)(p, j) = b[p * ldb + j]
    }
  }
}

// Portable small-m path. op(B) transposed: one dot product per (row, column) over k, in eight
// partial sums the compiler can vectorise. Otherwise rows of B stream into a row block of C.
LITHE_INLINE void store_scaled(float* c, float v, float alpha, float beta) {
  *c = beta == 0.0f ? alpha * v : alpha * v + beta * *c;
}

void small_portable(const GemmArgs& g, const float* a, int64_t ars, int64_t rows, const float* b, float* c,
                    int64_t n0, int64_t n1) {
  const int64_t k = g.k;
  if (g.trans_b) {
    for (int64_t j = n0; j < n1; ++j) {
      const float* bj = b + j * g.ldb;
      for (int64_t i = 0; i < rows; ++i) {
        const float* ai = a + i * ars;
        float s[8] = {};
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) {
          for (int l = 0; l < 8; ++l) s[l] += ai[p + l] * bj[p + l];
        }
        float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        for (; p < k; ++p) t += ai[p] * bj[p];
        store_scaled(c + i * g.ldc + j, t, g.alpha, g.beta);
      }
    }
    return;
  }
  constexpr int64_t kWidth = 64;
  for (int64_t j0 = n0; j0 < n1; j0 += kWidth) {
    const int64_t w = std::min(kWidth, n1 - j0);
    float acc[kSmallM][kWidth] = {};
    for (int64_t p = 0; p < k; ++p) {
      const float* bp = b + p * g.ldb + j0;
      for (int64_t i = 0; i < rows; ++i) {
        const float ai = a[i * ars + p];
        for (int64_t j = 0; j < w; ++j) acc[i][j] += ai * bp[j];
      }
    }
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < w; ++j) store_scaled(c + i * g.ldc + j0 + j, acc[i][j], g.alpha, g.beta);
    }
  }
}

// The block sizes of these tables are 0: blocked_kernels() derives them from the caches.
const KernelSet kPortable = {"portable", kPortableMr, kPortableNr, 0, 0, 0, kPortableNr,
                             {micro_portable, nullptr, nullptr, nullptr}, pack_a_portable, pack_b_portable,
                             small_portable};

#if defined(__x86_64__)

// dst[q * W + r] = src[r * ld + q] for r < 8, q < count: eight rows at a time through 8 x 8
// register transposes (packing a row-major A, or a transposed B, is a transpose).
template <int W>
LITHE_AVX2_INLINE void interleave8(const float* src, int64_t ld, int64_t count, float* dst) {
  int64_t q = 0;
  for (; q + 8 <= count; q += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld + q);
    __m256 t[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    __m256 s[8];
    for (int h = 0; h < 2; ++h) {
      const __m256* u = t + 4 * h;
      s[4 * h + 0] = _mm256_shuffle_ps(u[0], u[2], _MM_SHUFFLE(1, 0, 1, 0));
      s[4 * h + 1] = _mm256_shuffle_ps(u[0], u[2], _MM_SHUFFLE(3, 2, 3, 2));
      s[4 * h + 2] = _mm256_shuffle_ps(u[1], u[3], _MM_SHUFFLE(1, 0, 1, 0));
      s[4 * h + 3] = _mm256_shuffle_ps(u[1], u[3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
      _mm256_storeu_ps(dst + (q + i) * W, _mm256_permute2f128_ps(s[i], s[4 + i], 0x20));
      _mm256_storeu_ps(dst + (q + 4 + i) * W, _mm256_permute2f128_ps(s[i], s[4 + i], 0x31));
    }
  }
  for (; q < count; ++q) {
    for (int i = 0; i < 8; ++i) dst[q * W + i] = src[i * ld + q];
  }
}

// interleave_rows for a full W-tall panel, through interleave8 when W is a multiple of 8.
template <int W>
LITHE_AVX2_INLINE void interleave_panel(const float* src, int64_t ld, int64_t height, int64_t count, float* dst) {
  if constexpr (W % 8 == 0) {
    if (height == W) {
      for (int r = 0; r < W; r += 8) interleave8<W>(src + r * ld, ld, count, dst + r);
      return;
    }
  }
  interleave_rows<W>(src, ld, height, count, dst);
}

template <int MR>
LITHE_AVX2_INLINE void pack_a_x86(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  for (int64_t i = 0; i < rows; i += MR, out += MR * kc) {
    const int64_t height = std::min<int64_t>(MR, rows - i);
    if (trans) {
      copy_rows<MR>(a + i, lda, kc, height, out);
    } else {
      interleave_panel<MR>(a + i * lda, lda, height, kc, out);
    }
  }
}

template <int NR>
LITHE_AVX2_INLINE void pack_b_x86(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out) {
  for (int64_t j = 0; j < cols; j += NR, out += NR * kc) {
    const int64_t width = std::min<int64_t>(NR, cols - j);
    if (trans) {
      interleave_panel<NR>(b + j * ldb, ldb, width, kc, out);
    } else {
      copy_rows<NR>(b + j, ldb, kc, width, out);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AVX2/FMA: 6 x 16 (two ymm per row, 12 accumulators).

constexpr int kAvx2Mr = 6;
constexpr int kAvx2Nr = 16;
static_assert(kAvx2Mr == 6 && kAvx2Nr == 16, "micro_avx2 names one accumulator per row and vector");

LITHE_AVX2 void micro_avx2(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c,
                           int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  constexpr int nv = kAvx2Nr / 8;
  // Named accumulators, not an array: GCC 12 kept an acc[6][2] array on the stack and stored all
  // twelve every iteration, which capped the kernel at a third of the FMA rate.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < kc; ++p, ap += kAvx2Mr, bp += kAvx2Nr) {
    const __m256 b0 = _mm256_load_ps(bp);
    const __m256 b1 = _mm256_load_ps(bp + 8);
    __m256 a = _mm256_broadcast_ss(ap);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  const __m256 acc[kAvx2Mr][nv] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows < kAvx2Mr || cols < kAvx2Nr) {
    // Edge tile: go through a scratch tile so that nothing outside rows x cols is touched.
    alignas(32) float tile[kAvx2Mr][kAvx2Nr];
    for (int i = 0; i < kAvx2Mr; ++i) {
      for (int v = 0; v < nv; ++v) _mm256_store_ps(tile[i] + v * 8, acc[i][v]);
    }
    for (int64_t i = 0; i < rows; ++i) {
      float* row = c + i * ldc;
      for (int64_t j = 0; j < cols; ++j) {
        row[j] = beta == 0.0f ? alpha * tile[i][j] : alpha * tile[i][j] + beta * row[j];
      }
    }
    return;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  for (int i = 0; i < kAvx2Mr; ++i) {
    float* row = c + i * ldc;
    for (int v = 0; v < nv; ++v) {
      __m256 r = _mm256_mul_ps(va, acc[i][v]);
      if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + v * 8), r);
      _mm256_storeu_ps(row + v * 8, r);
    }
  }
}

LITHE_AVX2 void pack_a_avx2(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  pack_a_x86<kAvx2Mr>(trans, a, lda, rows, kc, out);
}

LITHE_AVX2 void pack_b_avx2(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out) {
  pack_b_x86<kAvx2Nr>(trans, b, ldb, kc, cols, out);
}

// ---------------------------------------------------------------------------------------------
// AVX2/FMA small-m path (also used by the AVX-512 set: it is bound by reading B, not by FMAs).

// Lanes [0, left) set, left in [1, 8].
LITHE_AVX2_INLINE __m256i lane_mask(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

LITHE_AVX2_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// op(B) transposed: C[i, j .. j + J) = dot(op(A) row i, B row j ..) over k, vectorised over k.
template <int M, int J>
LITHE_AVX2_INLINE void dots_avx2(const GemmArgs& g, const float* a, int64_t ars, const float* b, float* c) {
  const int64_t k = g.k;
  __m256 acc[M][J];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < J; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 bv[J];
#pragma GCC unroll 16
    for (int j = 0; j < J; ++j) bv[j] = _mm256_loadu_ps(b + j * g.ldb + p);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m256 av = _mm256_loadu_ps(a + i * ars + p);
#pragma GCC unroll 16
      for (int j = 0; j < J; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
  if (p < k) {
    const __m256i mask = lane_mask(k - p);
    __m256 bv[J];
#pragma GCC unroll 16
    for (int j = 0; j < J; ++j) bv[j] = _mm256_maskload_ps(b + j * g.ldb + p, mask);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m256 av = _mm256_maskload_ps(a + i * ars + p, mask);
#pragma GCC unroll 16
      for (int j = 0; j < J; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < J; ++j) store_scaled(c + i * g.ldc + j, hsum(acc[i][j]), g.alpha, g.beta);
  }
}

// op(B) as stored: C[i, j .. j + 8 NV) = alpha * sum over p < kb of op(A)(i, p) * B row p + beta * C,
// vectorised over n; MASKED limits the last vector to `mask`'s lanes. B's rows are a page or more
// apart, so the hardware prefetchers stop at every row: prefetch the lines two strips ahead instead.
template <int M, int NV, bool MASKED>
LITHE_AVX2_INLINE void rows_avx2(int64_t kb, const float* a, int64_t ars, const float* b, int64_t ldb, float* c,
                                 int64_t ldc, float alpha, float beta, __m256i mask) {
  __m256 acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < kb; ++p, b += ldb) {
#pragma GCC unroll 4
    for (int l = 0; l < NV; l += 2) _mm_prefetch(reinterpret_cast<const char*>(b + 16 * NV + 8 * l), _MM_HINT_T0);
    __m256 bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      bv[v] = MASKED && v == NV - 1 ? _mm256_maskload_ps(b + 8 * v, mask) : _mm256_loadu_ps(b + 8 * v);
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * ars + p);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const bool partial = MASKED && v == NV - 1;
      __m256 r = _mm256_mul_ps(va, acc[i][v]);
      if (beta != 0.0f) {
        const __m256 old = partial ? _mm256_maskload_ps(row + 8 * v, mask) : _mm256_loadu_ps(row + 8 * v);
        r = _mm256_fmadd_ps(vb, old, r);
      }
      if (partial) {
        _mm256_maskstore_ps(row + 8 * v, mask, r);
      } else {
        _mm256_storeu_ps(row + 8 * v, r);
      }
    }
  }
}

template <int M>
LITHE_AVX2_INLINE void small_avx2_rows(const GemmArgs& g, const float* a, int64_t ars, const float* b, float* c,
                                       int64_t n0, int64_t n1) {
  if (g.trans_b) {
    constexpr int J = M <= 2 ? 4 : 2;
    int64_t j = n0;
    for (; j + J <= n1; j += J) dots_avx2<M, J>(g, a, ars, b + j * g.ldb, c + j);
    for (; j < n1; ++j) dots_avx2<M, 1>(g, a, ars, b + j * g.ldb, c + j);
    return;
  }
  // Depth blocks of kSmallKc rows: prefetched lines stay in L1 until their strip runs.
  // Later blocks accumulate onto what the first one stored.
  constexpr int NV = M <= 2 ? 4 : 2;
  constexpr int64_t kSmallKc = 128;
  const __m256i all = _mm256_set1_epi32(-1);
  for (int64_t p0 = 0; p0 < g.k; p0 += kSmallKc) {
    const int64_t kb = std::min(kSmallKc, g.k - p0);
    const float beta = p0 == 0 ? g.beta : 1.0f;
    const float* ap = a + p0;
    const float* bp = b + p0 * g.ldb;
    int64_t j = n0;
    for (; j + 8 * NV <= n1; j += 8 * NV) {
      rows_avx2<M, NV, false>(kb, ap, ars, bp + j, g.ldb, c + j, g.ldc, g.alpha, beta, all);
    }
    for (; j + 8 <= n1; j += 8) rows_avx2<M, 1, false>(kb, ap, ars, bp + j, g.ldb, c + j, g.ldc, g.alpha, beta, all);
    if (j < n1) {
      rows_avx2<M, 1, true>(kb, ap, ars, bp + j, g.ldb, c + j, g.ldc, g.alpha, beta, lane_mask(n1 - j));
    }
  }
}

LITHE_AVX2 void small_avx2(const GemmArgs& g, const float* a, int64_t ars, int64_t rows, const float* b, float* c,
                           int64_t n0, int64_t n1) {
  static_assert(kSmallM == 4, "small_avx2 has one case per row count");
  switch (rows) {
    case 1:
      small_avx2_rows<1>(g, a, ars, b, c, n0, n1);
      break;
    case 2:
      small_avx2_rows<2>(g, a, ars, b, c, n0, n1);
      break;
    case 3:
      small_avx2_rows<3>(g, a, ars, b, c, n0, n1);
      break;
    default:
      small_avx2_rows<4>(g, a, ars, b, c, n0, n1);
      break;
  }
}

const KernelSet kAvx2 = {"avx2", kAvx2Mr, kAvx2Nr, 0, 0, 0, kAvx2Nr,
                         {micro_avx2, nullptr, nullptr, nullptr}, pack_a_avx2, pack_b_avx2, small_avx2};

// ---------------------------------------------------------------------------------------------
// AVX-512: MR x (16 * NV) with zmm FMAs; edge columns use masked loads and stores.

// 8 x 48: 24 zmm accumulators, 3 loads of B and 8 broadcasts of A per 24 FMAs. Measured on Zen 5
// against 6x64, 10x48, 12x32 and 14x32, which were equal or slower.
constexpr int kAvx512Mr = 8;
constexpr int kAvx512Nv = 3;
constexpr int kAvx512Nr = kAvx512Nv * 16;
static_assert(kAvx512Nv == 3, "kAvx512.micro lists one kernel per vector count");

// NV vectors of a panel whose packed rows are kAvx512Nr floats apart.
template <int NV>
LITHE_AVX512 void micro_avx512(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                               float* __restrict c, int64_t ldc, int64_t rows, int64_t cols, float alpha,
                               float beta) {
  __m512 acc[kAvx512Mr][NV];
  for (int i = 0; i < kAvx512Mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * 16 - 1), _MM_HINT_T0);
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p, ap += kAvx512Mr, bp += kAvx512Nr) {
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(bp + v * 16);
    for (int i = 0; i < kAvx512Mr; ++i) {
      const __m512 ai = _mm512_set1_ps(ap[i]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  // Column masks: all ones except in the last, partial vector of an edge panel.
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) {
    const int64_t left = std::clamp<int64_t>(cols - v * 16, 0, 16);
    mask[v] = static_cast<__mmask16>((1u << left) - 1);
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  for (int i = 0; i < kAvx512Mr; ++i) {
    if (i >= rows) break;
    float* row = c + i * ldc;
    for (int v = 0; v < NV; ++v) {
      __m512 r = _mm512_mul_ps(va, acc[i][v]);
      if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], row + v * 16), r);
      _mm512_mask_storeu_ps(row + v * 16, mask[v], r);
    }
  }
}

LITHE_AVX512 void pack_a_avx512(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  pack_a_x86<kAvx512Mr>(trans, a, lda, rows, kc, out);
}

LITHE_AVX512 void pack_b_avx512(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out) {
  pack_b_x86<kAvx512Nr>(trans, b, ldb, kc, cols, out);
}

const KernelSet kAvx512 = {"avx512",
                           kAvx512Mr,
                           kAvx512Nr,
                           0,
                           0,
                           0,
                           16,
                           {micro_avx512<1>, micro_avx512<2>, micro_avx512<3>, nullptr},
                           pack_a_avx512,
                           pack_b_avx512,
                           small_avx2};

#endif  // __x86_64__

#if defined(__aarch64__)

// ---------------------------------------------------------------------------------------------
// NEON: 8 x 12 (three q registers per row, 24 accumulators), the A column in two q registers and
// each FMA taking its A value by lane: 24 + 3 + 2 of the 32 vector registers.

constexpr int kNeonMr = 8;
constexpr int kNeonNv = 3;
constexpr int kNeonNr = kNeonNv * 4;

// NV vectors of a panel whose packed rows are kNeonNr floats apart (narrow edge panels skip the rest).
template <int NV>
void micro_neon(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c,
                int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  float32x4_t acc[kNeonMr][NV];
  for (int i = 0; i < kNeonMr; ++i) {
    for (int v = 0; v < NV; ++v) acc[i][v] = vdupq_n_f32(0.0f);
  }
  for (int64_t p = 0; p < kc; ++p, ap += kNeonMr, bp += kNeonNr) {
    float32x4_t bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = vld1q_f32(bp + v * 4);
    const float32x4_t a0 = vld1q_f32(ap);
    const float32x4_t a1 = vld1q_f32(ap + 4);
    for (int v = 0; v < NV; ++v) {
      acc[0][v] = vfmaq_laneq_f32(acc[0][v], bv[v], a0, 0);
      acc[1][v] = vfmaq_laneq_f32(acc[1][v], bv[v], a0, 1);
      acc[2][v] = vfmaq_laneq_f32(acc[2][v], bv[v], a0, 2);
      acc[3][v] = vfmaq_laneq_f32(acc[3][v], bv[v], a0, 3);
      acc[4][v] = vfmaq_laneq_f32(acc[4][v], bv[v], a1, 0);
      acc[5][v] = vfmaq_laneq_f32(acc[5][v], bv[v], a1, 1);
      acc[6][v] = vfmaq_laneq_f32(acc[6][v], bv[v], a1, 2);
      acc[7][v] = vfmaq_laneq_f32(acc[7][v], bv[v], a1, 3);
    }
  }
  if (rows < kNeonMr || cols < NV * 4) {
    // Edge tile: go through a scratch tile so that nothing outside rows x cols is touched.
    float tile[kNeonMr][NV * 4];
    for (int i = 0; i < kNeonMr; ++i) {
      for (int v = 0; v < NV; ++v) vst1q_f32(tile[i] + v * 4, acc[i][v]);
    }
    for (int64_t i = 0; i < rows; ++i) {
      float* row = c + i * ldc;
      for (int64_t j = 0; j < cols; ++j) {
        row[j] = beta == 0.0f ? alpha * tile[i][j] : alpha * tile[i][j] + beta * row[j];
      }
    }
    return;
  }
  const float32x4_t va = vdupq_n_f32(alpha);
  const float32x4_t vb = vdupq_n_f32(beta);
  for (int i = 0; i < kNeonMr; ++i) {
    float* row = c + i * ldc;
    for (int v = 0; v < NV; ++v) {
      float32x4_t r = vmulq_f32(va, acc[i][v]);
      if (beta != 0.0f) r = vfmaq_f32(r, vb, vld1q_f32(row + v * 4));
      vst1q_f32(row + v * 4, r);
    }
  }
}

void pack_a_neon(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  for (int64_t i = 0; i < rows; i += kNeonMr, out += kNeonMr * kc) {
    const int64_t height = std::min<int64_t>(kNeonMr, rows - i);
    if (trans) {
      copy_rows<kNeonMr>(a + i, lda, kc, height, out);
    } else {
      interleave_rows<kNeonMr>(a + i * lda, lda, height, kc, out);
    }
  }
}

void pack_b_neon(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out) {
  for (int64_t j = 0; j < cols; j += kNeonNr, out += kNeonNr * kc) {
    const int64_t width = std::min<int64_t>(kNeonNr, cols - j);
    if (trans) {
      interleave_rows<kNeonNr>(b + j * ldb, ldb, width, kc, out);
    } else {
      copy_rows<kNeonNr>(b + j, ldb, kc, width, out);
    }
  }
}

// The small-m path is the portable one: -O3 vectorises its loops for NEON, the aarch64 baseline.
const KernelSet kNeon = {"neon", kNeonMr, kNeonNr, 0, 0, 0, 4,
                         {micro_neon<1>, micro_neon<2>, micro_neon<3>, nullptr}, pack_a_neon, pack_b_neon,
                         small_portable};

#endif  // __aarch64__

// Block sizes measured to beat the derived ones on one kernel set and cache geometry.
struct BlockOverride {
  const char* name;
  int64_t l1d;
  int64_t l2;
  int64_t mc;
  int64_t kc;
  int64_t nc;
};

// Zen 5: an 8 x 512 panel of A (16 KB) stays in L1 and a 512 x 384 block of B (768 KB) in the
// 1 MB L2; a 1024 x 512 block of A (2 MB) comes from L3. Chosen by measurement there.
constexpr BlockOverride kBlockOverrides[] = {{"avx512", 48 << 10, 1 << 20, 1024, 512, 384}};

int64_t round_down(int64_t x, int64_t multiple, int64_t least) { return std::max(least, x / multiple * multiple); }

// BLIS's analytical model, with A and B in the roles gemm_tile's loop order gives them: an MR x KC
// panel of A plus a KC x NR panel of B fill L1, the KC x NC block of B half of L2, the MC x KC
// block of A half of this core's share of L3 (L2 where there is no L3).
KernelSet blocked(const KernelSet& table, const CacheSizes& cache) {
  KernelSet ks = table;
  for (const BlockOverride& o : kBlockOverrides) {
    if (std::strcmp(o.name, ks.name) == 0 && o.l1d == cache.l1d && o.l2 == cache.l2) {
      ks.mc = o.mc;
      ks.kc = o.kc;
      ks.nc = o.nc;
      return ks;
    }
  }
  constexpr int64_t f = sizeof(float);
  ks.kc = std::min<int64_t>(1024, round_down(cache.l1d / ((ks.mr + ks.nr) * f), 8, 64));
  ks.nc = std::min<int64_t>(4096, round_down(cache.l2 / 2 / (ks.kc * f), ks.nr, ks.nr));
  ks.mc = std::min<int64_t>(8192, round_down(std::max(cache.l3, cache.l2) / 2 / (ks.kc * f), ks.mr, ks.mr));
  return ks;
}

// The kernel sets this CPU can run, fastest first, with their block sizes.
std::vector<KernelSet> supported_kernels() {
  std::vector<const KernelSet*> tables;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    tables.push_back(&kAvx512);
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) tables.push_back(&kAvx2);
#endif
#if defined(__aarch64__)
  tables.push_back(&kNeon);
#endif
  tables.push_back(&kPortable);
  std::vector<KernelSet> sets;
  for (const KernelSet* table : tables) sets.push_back(blocked(*table, cache_sizes()));
  return sets;
}

const std::vector<KernelSet>& supported() {
  static const std::vector<KernelSet> sets = supported_kernels();
  return sets;
}

std::atomic<const KernelSet*> active_kernels{nullptr};

const KernelSet& kernels() {
  const KernelSet* ks = active_kernels.load(std::memory_order_acquire);
  if (ks == nullptr) {
    ks = &supported().front();
    active_kernels.store(ks, std::memory_order_release);
  }
  return *ks;
}

// ---------------------------------------------------------------------------------------------
// Per-thread packing buffers, grown on demand and kept for the next call.

struct AlignedFree {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
};

class PackBuffer {
 public:
  float* get(size_t floats) {
    if (floats > capacity_) {
      data_.reset(static_cast<float*>(::operator new[](floats * sizeof(float), std::align_val_t(64))));
      capacity_ = floats;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<float[], AlignedFree> data_;
  size_t capacity_ = 0;
};

int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// One batch entry of the problem, with the pointers already moved to that entry.
struct Matrices {
  const float* a;
  const float* b;
  float* c;
};

// C[m0:m1, n0:n1] of one batch entry with at most kSmallM rows, through the kernel set's
// no-packing path. A transposed op(A) is gathered into rows first (at most kSmallM x k floats).
void gemm_small(const KernelSet& ks, const GemmArgs& g, const Matrices& x, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1) {
  const int64_t rows = m1 - m0;
  const float* a = x.a;
  int64_t ars = g.lda;
  if (!g.trans_a) {
    a += m0 * g.lda;
  } else {
    thread_local PackBuffer a_rows;
    float* buf = a_rows.get(static_cast<size_t>(rows * g.k));
    for (int64_t p = 0; p < g.k; ++p) {
      for (int64_t i = 0; i < rows; ++i) buf[i * g.k + p] = x.a[p * g.lda + m0 + i];
    }
    a = buf;
    ars = g.k;
  }
  ks.small(g, a, ars, rows, x.b, x.c + m0 * g.ldc, n0, n1);
}

// C[m0:m1, n0:n1] of one batch entry, single-threaded. An MR x KC panel of A stays in L1 while
// the micro-kernel sweeps the KC x NC block of B, which stays in L2.
void gemm_tile(const KernelSet& ks, const GemmArgs& g, const Matrices& x, int64_t m0, int64_t m1,
               int64_t n0, int64_t n1) {
  if (g.m <= kSmallM) {
    gemm_small(ks, g, x, m0, m1, n0, n1);
    return;
  }
  thread_local PackBuffer a_buffer;
  thread_local PackBuffer b_buffer;
  const int64_t mr = ks.mr;
  const int64_t nr = ks.nr;
  const int64_t kc_max = std::min(ks.kc, g.k);
  const int64_t a_rows = round_up(std::min(ks.mc, m1 - m0), mr);
  const int64_t b_cols = round_up(std::min(ks.nc, n1 - n0), nr);
  float* ap = a_buffer.get(static_cast<size_t>(a_rows * kc_max));
  float* bp = b_buffer.get(static_cast<size_t>(b_cols * kc_max));

  for (int64_t ic = m0; ic < m1; ic += ks.mc) {
    const int64_t mc = std::min(ks.mc, m1 - ic);
    for (int64_t pc = 0; pc < g.k; pc += ks.kc) {
      const int64_t kc = std::min(ks.kc, g.k - pc);
      ks.pack_a(g.trans_a, g.trans_a ? x.a + pc * g.lda + ic : x.a + ic * g.lda + pc, g.lda, mc, kc, ap);
      // Later depth blocks accumulate onto what the first one stored.
      const float beta = pc == 0 ? g.beta : 1.0f;
      for (int64_t jc = n0; jc < n1; jc += ks.nc) {
        const int64_t nc = std::min(ks.nc, n1 - jc);
        ks.pack_b(g.trans_b, g.trans_b ? x.b + jc * g.ldb + pc : x.b + pc * g.ldb + jc, g.ldb, kc, nc, bp);
        for (int64_t ir = 0; ir < mc; ir += mr) {
          const int64_t rows = std::min(mr, mc - ir);
          for (int64_t jr = 0; jr < nc; jr += nr) {
            const int64_t cols = std::min(nr, nc - jr);
            const MicroKernel micro = ks.micro[(cols - 1) / ks.vector];
            micro(kc, ap + ir * kc, bp + jr * kc, x.c + (ic + ir) * g.ldc + jc + jr, g.ldc, rows, cols, g.alpha,
                  beta);
          }
        }
      }
    }
  }
}

// k == 0: op(A) * op(B) is zero, so C = beta * C (and exactly 0 when beta == 0).
void scale_c(const GemmArgs& g) {
  for (int64_t bi = 0; bi < g.batch; ++bi) {
    for (int64_t i = 0; i < g.m; ++i) {
      float* row = g.c + bi * g.stride_c + i * g.ldc;
      for (int64_t j = 0; j < g.n; ++j) row[j] = g.beta == 0.0f ? 0.0f : g.beta * row[j];
    }
  }
}

Matrices entry(const GemmArgs& g, int64_t bi) {
  return {g.a + bi * g.stride_a, g.b + bi * g.stride_b, g.c + bi * g.stride_c};
}

// Below this many multiply-adds in total, waking the pool costs more than it saves.
constexpr double kParallelThreshold = 64.0 * 64.0 * 64.0;

// LITHE_THREADS when it is a whole number in [1, kMaxThreads], else the hardware's count (capped). The
// TypeScript side rejects other values with a clear error before any kernel runs; this only keeps a
// direct addon user from starting an unbounded number of threads.
int default_threads() {
  if (const char* s = std::getenv("LITHE_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(s, &end, 10);
    if (end != s && *end == '\0' && n >= 1 && n <= kMaxThreads) return static_cast<int>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min<unsigned>(hw, kMaxThreads));
}

std::mutex pool_mutex;
std::shared_ptr<ThreadPool> pool_instance;

// The current pool; a caller keeps it alive through set_thread_count from another thread.
std::shared_ptr<ThreadPool> pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool_instance) pool_instance = std::make_shared<ThreadPool>(default_threads());
  return pool_instance;
}

// Splits `units` blocks of `unit` elements into `parts` near-equal ranges; returns part `t`.
void split(int64_t extent, int64_t unit, int parts, int t, int64_t& begin, int64_t& end) {
  const int64_t units = (extent + unit - 1) / unit;
  begin = std::min(extent, units * t / parts * unit);
  end = std::min(extent, units * (t + 1) / parts * unit);
}

}  // namespace

void sgemm(const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return;
  if (g.k <= 0) {
    scale_c(g);
    return;
  }
  const KernelSet& ks = kernels();
  const std::shared_ptr<ThreadPool> pool_ref = pool();
  ThreadPool& threads = *pool_ref;
  const double work = static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  const int nt = threads.size();

  if (nt == 1 || work * static_cast<double>(g.batch) < kParallelThreshold) {
    for (int64_t bi = 0; bi < g.batch; ++bi) gemm_tile(ks, g, entry(g, bi), 0, g.m, 0, g.n);
    return;
  }

  // Many matrices: whole batch entries per thread. Otherwise every thread takes one tile of each.
  if (g.batch >= 4 * nt || g.batch % nt == 0) {
    threads.run(nt, [&](int t) {
      const int64_t first = g.batch * t / nt;
      const int64_t last = g.batch * (t + 1) / nt;
      for (int64_t bi = first; bi < last; ++bi) gemm_tile(ks, g, entry(g, bi), 0, g.m, 0, g.n);
    });
    return;
  }

  // Grid of tm x tn tiles (tm * tn == nt) minimising the packing each thread does (m/tm + n/tn).
  int tm = 1;
  double best = -1.0;
  for (int rows = 1; rows <= nt; ++rows) {
    if (nt % rows != 0) continue;
    const double cost = static_cast<double>(g.m) / rows + static_cast<double>(g.n) / (nt / rows);
    if (best < 0.0 || cost < best) {
      best = cost;
      tm = rows;
    }
  }
  const int tn = nt / tm;
  threads.run(nt, [&](int t) {
    int64_t m0, m1, n0, n1;
    split(g.m, ks.mr, tm, t % tm, m0, m1);
    split(g.n, ks.nr, tn, t / tm, n0, n1);
    if (m0 >= m1 || n0 >= n1) return;
    for (int64_t bi = 0; bi < g.batch; ++bi) gemm_tile(ks, g, entry(g, bi), m0, m1, n0, n1);
  });
}

const char* simd_name() { return kernels().name; }

bool set_simd(const char* name) {
  for (const KernelSet& ks : supported()) {
    if (std::strcmp(ks.name, name) == 0) {
      active_kernels.store(&ks, std::memory_order_release);
      return true;
    }
  }
  return false;
}

std::vector<const char*> simd_supported() {
  std::vector<const char*> names;
  for (const KernelSet& ks : supported()) names.push_back(ks.name);
  return names;
}

GemmBlocking gemm_blocking() {
  const KernelSet& ks = kernels();
  return {ks.mr, ks.nr, ks.mc, ks.kc, ks.nc};
}

int thread_count() { return pool()->size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  const std::shared_ptr<ThreadPool> pool_ref = pool();
  const int nt = static_cast<int>(std::min<int64_t>(pool_ref->size(), std::max<int64_t>(1, n / std::max<int64_t>(1, grain))));
  if (nt <= 1) {
    fn(0, n);
    return;
  }
  pool_ref->run(nt, [&](int t) {
    const int64_t begin = n * t / nt;
    const int64_t end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  });
}

void set_thread_count(int n) {
  n = std::clamp(n, 1, kMaxThreads);
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool_instance && pool_instance->size() == n) return;
  pool_instance = std::make_shared<ThreadPool>(n);
}

}  // namespace lithe
