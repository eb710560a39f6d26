// Node-API glue: validates the JavaScript arguments (types, integer ranges, and that every
// element the GEMM touches lies inside its Float32Array) and throws TypeError/RangeError instead
// of letting a bad call read or write out of bounds.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "gemm.h"

namespace {

// Thrown through C++ code until the entry point turns it into a pending JS exception.
struct JsError {
  bool range;  // RangeError when true, TypeError otherwise
  std::string message;
};

constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

void check(napi_env env, napi_status status) {
  if (status != napi_ok) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    throw JsError{false, info && info->error_message ? info->error_message : "Node-API call failed"};
  }
}

napi_valuetype type_of(napi_env env, napi_value value) {
  napi_valuetype type;
  check(env, napi_typeof(env, value, &type));
  return type;
}

bool get_bool(napi_env env, napi_value value, const char* name) {
  if (type_of(env, value) != napi_boolean) throw JsError{false, std::string(name) + " must be a boolean"};
  bool result;
  check(env, napi_get_value_bool(env, value, &result));
  return result;
}

double get_number(napi_env env, napi_value value, const char* name) {
  if (type_of(env, value) != napi_number) throw JsError{false, std::string(name) + " must be a number"};
  double result;
  check(env, napi_get_value_double(env, value, &result));
  return result;
}

float get_float(napi_env env, napi_value value, const char* name) {
  const double x = get_number(env, value, name);
  if (!std::isfinite(x)) throw JsError{true, std::string(name) + " must be finite"};
  return static_cast<float>(x);
}

// A non-negative safe integer (sizes, offsets, leading dimensions, strides).
int64_t get_index(napi_env env, napi_value value, const char* name) {
  const double x = get_number(env, value, name);
  if (!(x >= 0.0 && x <= kMaxSafeInteger && std::floor(x) == x)) {
    std::ostringstream message;
    message << name << " must be a non-negative integer, got " << x;
    throw JsError{true, message.str()};
  }
  return static_cast<int64_t>(x);
}

struct F32View {
  float* data;
  int64_t length;
};

F32View get_f32(napi_env env, napi_value value, const char* name) {
  bool is_typed = false;
  check(env, napi_is_typedarray(env, value, &is_typed));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (is_typed) check(env, napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr));
  if (!is_typed || type != napi_float32_array) throw JsError{false, std::string(name) + " must be a Float32Array"};
  // Node-API already moves `data` to the view's first element (its byteOffset).
  return {static_cast<float*>(data), static_cast<int64_t>(length)};
}

// a * b + c, or -1 when it overflows int64 (all inputs are non-negative).
int64_t mul_add(int64_t a, int64_t b, int64_t c) {
  if (a != 0 && b > (INT64_MAX - c) / a) return -1;
  return a * b + c;
}

// Checks that a rows x cols matrix (all >= 1) repeated `batch` times fits in `array` from `offset`.
void check_extent(const F32View& array, const char* name, int64_t offset, int64_t rows, int64_t cols,
                  int64_t ld, int64_t stride, int64_t batch) {
  int64_t last = mul_add(batch - 1, stride, offset);
  if (last >= 0) last = mul_add(rows - 1, ld, last);
  if (last >= 0) last = mul_add(1, cols - 1, last);
  if (last < 0 || last >= array.length) {
    throw JsError{true, std::string("gemm: ") + name + " is too short: " + std::to_string(batch) + " x " +
                            std::to_string(rows) + " x " + std::to_string(cols) + " (ld " + std::to_string(ld) +
                            ", stride " + std::to_string(stride) + ", offset " + std::to_string(offset) +
                            ") needs index " + (last < 0 ? std::string("beyond int64") : std::to_string(last)) +
                            " but its length is " + std::to_string(array.length)};
  }
}

void throw_js(napi_env env, const JsError& error) {
  if (error.range) {
    napi_throw_range_error(env, nullptr, error.message.c_str());
  } else {
    napi_throw_type_error(env, nullptr, error.message.c_str());
  }
}

// Runs `body`, turning a JsError into a pending JS exception.
template <typename Body>
napi_value guarded(napi_env env, Body body) {
  try {
    return body();
  } catch (const JsError& error) {
    throw_js(env, error);
    return nullptr;
  }
}

constexpr size_t kGemmArgs = 20;

napi_value gemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    size_t argc = kGemmArgs;
    napi_value argv[kGemmArgs];
    check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    if (argc < kGemmArgs) {
      throw JsError{false, "gemm expects 20 arguments, got " + std::to_string(argc)};
    }
    lithe::GemmArgs g;
    g.trans_a = get_bool(env, argv[0], "gemm: transA");
    g.trans_b = get_bool(env, argv[1], "gemm: transB");
    g.m = get_index(env, argv[2], "gemm: m");
    g.n = get_index(env, argv[3], "gemm: n");
    g.k = get_index(env, argv[4], "gemm: k");
    g.alpha = get_float(env, argv[5], "gemm: alpha");
    const F32View a = get_f32(env, argv[6], "gemm: a");
    const int64_t a_offset = get_index(env, argv[7], "gemm: aOffset");
    g.lda = get_index(env, argv[8], "gemm: lda");
    g.stride_a = get_index(env, argv[9], "gemm: strideA");
    const F32View b = get_f32(env, argv[10], "gemm: b");
    const int64_t b_offset = get_index(env, argv[11], "gemm: bOffset");
    g.ldb = get_index(env, argv[12], "gemm: ldb");
    g.stride_b = get_index(env, argv[13], "gemm: strideB");
    g.beta = get_float(env, argv[14], "gemm: beta");
    const F32View c = get_f32(env, argv[15], "gemm: c");
    const int64_t c_offset = get_index(env, argv[16], "gemm: cOffset");
    g.ldc = get_index(env, argv[17], "gemm: ldc");
    g.stride_c = get_index(env, argv[18], "gemm: strideC");
    g.batch = get_index(env, argv[19], "gemm: batch");

    // C is touched when it is non-empty; A and B only when there is also something to multiply.
    const bool c_used = g.m > 0 && g.n > 0 && g.batch > 0;
    const bool ab_used = c_used && g.k > 0;
    g.a = a.data;
    g.b = b.data;
    g.c = c.data;
    if (ab_used) {
      check_extent(a, "a", a_offset, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda, g.stride_a, g.batch);
      check_extent(b, "b", b_offset, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb, g.stride_b, g.batch);
      g.a += a_offset;
      g.b += b_offset;
    }
    if (c_used) {
      check_extent(c, "c", c_offset, g.m, g.n, g.ldc, g.stride_c, g.batch);
      g.c += c_offset;
    }
    lithe::sgemm(g);
    return nullptr;
  });
}

napi_value threads(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value result;
    check(env, napi_create_int32(env, lithe::thread_count(), &result));
    return result;
  });
}

constexpr int64_t kMaxThreads = 1024;

napi_value set_threads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    size_t argc = 1;
    napi_value argv[1];
    check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    if (argc < 1) throw JsError{false, "setThreads expects 1 argument"};
    const int64_t n = get_index(env, argv[0], "setThreads: n");
    if (n < 1 || n > kMaxThreads) {
      throw JsError{true, "setThreads: n must be between 1 and " + std::to_string(kMaxThreads)};
    }
    lithe::set_thread_count(static_cast<int>(n));
    return nullptr;
  });
}

napi_value simd(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value result;
    check(env, napi_create_string_utf8(env, lithe::simd_name(), NAPI_AUTO_LENGTH, &result));
    return result;
  });
}

napi_value set_simd(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    size_t argc = 1;
    napi_value argv[1];
    check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    if (argc < 1 || type_of(env, argv[0]) != napi_string) throw JsError{false, "setSimd expects a string"};
    char name[32];
    size_t length = 0;
    check(env, napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &length));
    if (!lithe::set_simd(name)) {
      throw JsError{true, std::string("setSimd: '") + name + "' is not a kernel set this CPU supports"};
    }
    return nullptr;
  });
}

napi_value init(napi_env env, napi_value exports) {
  return guarded(env, [&]() -> napi_value {
    const napi_property_descriptor properties[] = {
        {"gemm", nullptr, gemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"threads", nullptr, threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"setThreads", nullptr, set_threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"simd", nullptr, simd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"setSimd", nullptr, set_simd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    };
    check(env, napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties));
    return exports;
  });
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
