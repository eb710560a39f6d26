// Batched, strided, row-major f32 GEMM: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b].
// Same contract as GemmArgs in src/backends/ts/gemm.ts; the pointers already include the offsets.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace lithe {

struct GemmArgs {
  bool trans_a;
  bool trans_b;
  int64_t m;
  int64_t n;
  int64_t k;
  float alpha;
  float beta;
  const float* a;
  int64_t lda;
  int64_t stride_a;
  const float* b;
  int64_t ldb;
  int64_t stride_b;
  float* c;
  int64_t ldc;
  int64_t stride_c;
  int64_t batch;
};

// Callers validate the arguments; this never checks bounds. When beta == 0, C is never read.
void sgemm(const GemmArgs& args);

// "avx512", "avx2", "neon" (aarch64) or "portable": the micro-kernel in use (the fastest this CPU runs by default).
const char* simd_name();

// Switches to another kernel set this CPU supports (tests use it to cover the slower ones);
// returns false, changing nothing, for an unknown or unsupported name.
bool set_simd(const char* name);

// The kernel sets this CPU runs, fastest first (the default is the first).
std::vector<const char*> simd_supported();

// The micro-tile and block sizes of the kernel set in use, derived from cache_sizes() (cache.h).
struct GemmBlocking {
  int64_t mr;
  int64_t nr;
  int64_t mc;
  int64_t kc;
  int64_t nc;
};
GemmBlocking gemm_blocking();

int thread_count();

// Most threads a pool may have (src/backends/registry.ts's MAX_THREADS): far more only adds
// contention, and tens of thousands exhaust the OS's thread limit and abort the process.
constexpr int kMaxThreads = 256;

// Replaces the thread pool with one of n threads, 1 <= n <= kMaxThreads.
void set_thread_count(int n);

// Runs fn(begin, end) over [0, n) cut into one near-equal range per pool thread; with fewer
// than 2 * grain items, or one thread, it runs inline as fn(0, n).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace lithe
