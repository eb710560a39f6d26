// Data cache sizes of the CPU lithe runs on, read once at run time; the GEMM blocking is derived
// from them (see native/gemm.cc).
#pragma once

#include <cstdint>

namespace lithe {

struct CacheSizes {
  int64_t l1d;  // bytes of L1 data cache per core
  int64_t l2;   // bytes of L2 per core (its share, where cores share one)
  int64_t l3;   // bytes of L3 per core (its share of the last level); 0 when there is none
  const char* source;  // "cpuid", "sysfs", "sysctl" or "default"
};

// Detected on the first call: CPUID leaf 4 (Intel) or 0x8000001D (AMD) on x86, else Linux sysfs,
// else macOS sysctl, else typical sizes (32 KB, 512 KB, 2 MB).
const CacheSizes& cache_sizes();

}  // namespace lithe
