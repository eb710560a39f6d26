// See svd.h. The loops live in svd_body.inc, built once for AVX2+FMA and once portable; the GEMM's
// path (gemm.h's simd_name, which follows LITHE_SIMD) picks the build.
#include "svd.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace lithe {
namespace {

namespace portable {
#include "svd_body.inc"
}  // namespace portable

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LITHE_SVD_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "svd_body.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif

using SvdOne = bool (*)(const SvdJob&);

SvdOne pick_svd() {
#ifdef LITHE_SVD_AVX2
  if (std::strcmp(simd_name(), "portable") != 0) return avx2::svd_one;
#endif
  return portable::svd_one;
}

// Multiply-adds of one job, roughly: the larger jobs go first so that the threads finish together.
double job_cost(const SvdJob& job) {
  const double rows = static_cast<double>(std::max(job.m, job.n));
  const double cols = static_cast<double>(std::min(job.m, job.n));
  return rows * cols * cols * (job.u ? 3 : 1);
}

}  // namespace

int64_t svd_f64_batch(const std::vector<SvdJob>& jobs) {
  const SvdOne one = pick_svd();
  const int64_t count = static_cast<int64_t>(jobs.size());
  std::vector<int64_t> order(count);
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return job_cost(jobs[x]) > job_cost(jobs[y]); });
  std::vector<char> failed(count, 0);
  std::atomic<int64_t> next{0};
  // One slot per thread; each takes the next job until none is left. A job runs wholly on one thread,
  // so its result is the same whatever the thread count.
  const int64_t slots = std::min<int64_t>(count, thread_count());
  parallel_for(slots, 1, [&](int64_t begin, int64_t end) {
    (void)begin;
    (void)end;
    for (int64_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
      if (!one(jobs[order[i]])) failed[order[i]] = 1;
    }
  });
  for (int64_t i = 0; i < count; ++i) {
    if (failed[i]) return i;
  }
  return -1;
}

}  // namespace lithe
