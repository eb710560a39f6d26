{
  "targets": [
    {
      "target_name": "lithe_native",
      "sources": ["native/binding.cc", "native/gemm.cc", "native/cache.cc", "native/elementwise.cc", "native/copy.cc", "native/optim.cc", "native/quant.cc", "native/attention.cc", "native/svd.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-ffp-contract=fast"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUS_FLAGS": ["-O3", "-ffp-contract=fast"]
      }
    }
  ]
}
