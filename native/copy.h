// Strided gather: the native twin of src/backends/ts/copy.ts.
#pragma once

#include <cstdint>

namespace lithe {

// dst (contiguous, shape's element count) = the view of src with the given shape, element strides
// (any sign) and offset. Callers check that every index the view reaches lies inside src.
void copy_strided_f32(const float* src, float* dst, int rank, const int64_t* shape, const int64_t* strides,
                      int64_t offset);

}  // namespace lithe
