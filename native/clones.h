// LITHE_CLONES: build a function for AVX-512, AVX2+FMA (x86-64-v3) and baseline x86-64 and pick one at load time
// (GCC on x86-64 Linux); elsewhere the function is compiled once for the default target.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) && !defined(__clang__))
// Each string is one clone: "avx2,fma" would make two (AVX2 without FMA, FMA without AVX2), and the resolver picks
// the FMA-less AVX2 one. x86-64-v3 is AVX2 + FMA (+ BMI, F16C) in one clone, and GCC 11+ selects it on any vendor's
// CPU (an arch=<cpu> clone such as haswell is chosen only on that CPU model); older GCC keeps plain AVX2.
#if __GNUC__ >= 11
#define LITHE_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define LITHE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define LITHE_CLONES
#endif
