// LITHE_CLONES: build a function for AVX-512, AVX2+FMA and baseline x86-64 and pick one at load time
// (GCC on x86-64 Linux); elsewhere the function is compiled once for the default target.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) && !defined(__clang__))
#define LITHE_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define LITHE_CLONES
#endif
