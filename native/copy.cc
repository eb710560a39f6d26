// Strided gather, split across the thread pool by outer rows (every axis but the last).
#include "copy.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace lithe {

void copy_strided_f32(const float* src, float* dst, int rank, const int64_t* shape, const int64_t* strides,
                      int64_t offset) {
  if (rank == 0) {
    dst[0] = src[offset];
    return;
  }
  const int64_t inner = shape[rank - 1];
  const int64_t inner_stride = strides[rank - 1];
  int64_t outer = 1;
  for (int ax = 0; ax < rank - 1; ++ax) outer *= shape[ax];
  if (outer == 0 || inner == 0) return;
  constexpr int64_t kGrain = 1 << 15;
  parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t begin, int64_t end) {
    // Start the odometer at row `begin`.
    std::vector<int64_t> idx(rank > 1 ? rank - 1 : 1, 0);
    int64_t base = offset;
    for (int64_t rest = begin, ax = rank - 2; ax >= 0; --ax) {
      idx[ax] = rest % shape[ax];
      rest /= shape[ax];
      base += idx[ax] * strides[ax];
    }
    float* out = dst + begin * inner;
    for (int64_t row = begin; row < end; ++row) {
      if (inner_stride == 1) {
        std::memcpy(out, src + base, static_cast<size_t>(inner) * sizeof(float));
      } else {
        for (int64_t i = 0; i < inner; ++i) out[i] = src[base + i * inner_stride];
      }
      out += inner;
      for (int ax = rank - 2; ax >= 0; --ax) {
        base += strides[ax];
        if (++idx[ax] < shape[ax]) break;
        base -= strides[ax] * shape[ax];
        idx[ax] = 0;
      }
    }
  });
}

}  // namespace lithe
