// Node-API glue: validates the JavaScript arguments (types, integer ranges, and that every
// element the GEMM touches lies inside its Float32Array) and throws TypeError/RangeError instead
// of letting a bad call read or write out of bounds.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cmath>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "attention.h"
#include "cache.h"
#include "copy.h"
#include "elementwise.h"
#include "gemm.h"
#include "optim.h"
#include "quant.h"
#include "svd.h"

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

// A typed array of the given kind, as pointer and element count.
template <typename T>
struct View {
  T* data;
  int64_t length;
};

template <typename T>
View<T> get_typed(napi_env env, napi_value value, napi_typedarray_type want, const char* kind, const char* name) {
  bool is_typed = false;
  check(env, napi_is_typedarray(env, value, &is_typed));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (is_typed) check(env, napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr));
  if (!is_typed || type != want) throw JsError{false, std::string(name) + " must be a " + kind};
  return {static_cast<T*>(data), static_cast<int64_t>(length)};
}

View<float> f32_arg(napi_env env, napi_value v, const char* name) {
  return get_typed<float>(env, v, napi_float32_array, "Float32Array", name);
}
View<double> f64_arg(napi_env env, napi_value v, const char* name) {
  return get_typed<double>(env, v, napi_float64_array, "Float64Array", name);
}
View<int32_t> i32_arg(napi_env env, napi_value v, const char* name) {
  return get_typed<int32_t>(env, v, napi_int32_array, "Int32Array", name);
}

using F32View = View<float>;

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
    const F32View a = f32_arg(env, argv[6], "gemm: a");
    const int64_t a_offset = get_index(env, argv[7], "gemm: aOffset");
    g.lda = get_index(env, argv[8], "gemm: lda");
    g.stride_a = get_index(env, argv[9], "gemm: strideA");
    const F32View b = f32_arg(env, argv[10], "gemm: b");
    const int64_t b_offset = get_index(env, argv[11], "gemm: bOffset");
    g.ldb = get_index(env, argv[12], "gemm: ldb");
    g.stride_b = get_index(env, argv[13], "gemm: strideB");
    g.beta = get_float(env, argv[14], "gemm: beta");
    const F32View c = f32_arg(env, argv[15], "gemm: c");
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

napi_value set_threads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    size_t argc = 1;
    napi_value argv[1];
    check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    if (argc < 1) throw JsError{false, "setThreads expects 1 argument"};
    const int64_t n = get_index(env, argv[0], "setThreads: n");
    if (n < 1 || n > lithe::kMaxThreads) {
      throw JsError{true, "setThreads: n must be between 1 and " + std::to_string(lithe::kMaxThreads)};
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

// { simd, supported, mr, nr, mc, kc, nc, l1d, l2, l3, cacheSource }: the GEMM path in use, the
// paths this CPU runs, the blocking and the cache sizes it was derived from (lithe doctor).
napi_value gemm_info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value result;
    check(env, napi_create_object(env, &result));
    const auto set_string = [&](const char* key, const char* value) {
      napi_value v;
      check(env, napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v));
      check(env, napi_set_named_property(env, result, key, v));
    };
    const auto set_number = [&](const char* key, int64_t value) {
      napi_value v;
      check(env, napi_create_int64(env, value, &v));
      check(env, napi_set_named_property(env, result, key, v));
    };
    set_string("simd", lithe::simd_name());
    const std::vector<const char*> names = lithe::simd_supported();
    napi_value list;
    check(env, napi_create_array_with_length(env, names.size(), &list));
    for (size_t i = 0; i < names.size(); ++i) {
      napi_value v;
      check(env, napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v));
      check(env, napi_set_element(env, list, static_cast<uint32_t>(i), v));
    }
    check(env, napi_set_named_property(env, result, "supported", list));
    const lithe::GemmBlocking blocks = lithe::gemm_blocking();
    set_number("mr", blocks.mr);
    set_number("nr", blocks.nr);
    set_number("mc", blocks.mc);
    set_number("kc", blocks.kc);
    set_number("nc", blocks.nc);
    const lithe::CacheSizes& cache = lithe::cache_sizes();
    set_number("l1d", cache.l1d);
    set_number("l2", cache.l2);
    set_number("l3", cache.l3);
    set_string("cacheSource", cache.source);
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

// Throws a RangeError unless `need` elements fit in `have`.
void need(int64_t have, int64_t need_count, const char* name) {
  if (need_count < 0 || need_count > have) {
    throw JsError{true, std::string(name) + " is too short: needs " + std::to_string(need_count) + " elements, has " +
                            std::to_string(have)};
  }
}

// Reads exactly `count` arguments, or throws.
template <size_t N>
void args(napi_env env, napi_callback_info info, napi_value (&argv)[N], const char* fn) {
  size_t argc = N;
  check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < N) throw JsError{false, std::string(fn) + " expects " + std::to_string(N) + " arguments"};
}

int64_t safe_product(int64_t a, int64_t b) { return mul_add(a, b, 0); }

// unary(op, x, out)
napi_value unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[3];
    args(env, info, argv, "unary");
    const int64_t op = get_index(env, argv[0], "unary: op");
    if (op > static_cast<int64_t>(lithe::UnaryOp::kLogSigmoid)) throw JsError{true, "unary: unknown op"};
    const View<float> x = f32_arg(env, argv[1], "unary: x");
    const View<float> out = f32_arg(env, argv[2], "unary: out");
    need(out.length, x.length, "unary: out");
    lithe::unary_f32(static_cast<lithe::UnaryOp>(op), x.data, out.data, x.length);
    return nullptr;
  });
}

// Every target is a class index in [0, classes) or the ignore index; returns the ignore index.
int32_t check_targets(const View<int32_t>& targets, int64_t rows, int64_t classes, double ignore, const char* fn) {
  const int32_t ignore_index = static_cast<int32_t>(ignore);
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t t = targets.data[r];
    if (t != ignore_index && (t < 0 || t >= classes)) throw JsError{true, std::string(fn) + ": target out of range"};
  }
  return ignore_index;
}

// unaryGrad(op, x, g, out) -> false when the op has no native gradient kernel.
napi_value unary_grad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[4];
    args(env, info, argv, "unaryGrad");
    const int64_t op = get_index(env, argv[0], "unaryGrad: op");
    if (op > static_cast<int64_t>(lithe::UnaryOp::kLogSigmoid)) throw JsError{true, "unaryGrad: unknown op"};
    const View<float> x = f32_arg(env, argv[1], "unaryGrad: x");
    const View<float> g = f32_arg(env, argv[2], "unaryGrad: g");
    const View<float> out = f32_arg(env, argv[3], "unaryGrad: out");
    need(g.length, x.length, "unaryGrad: g");
    need(out.length, x.length, "unaryGrad: out");
    const bool done = lithe::unary_grad_f32(static_cast<lithe::UnaryOp>(op), x.data, g.data, out.data, x.length);
    napi_value result;
    check(env, napi_get_boolean(env, done, &result));
    return result;
  });
}

// crossEntropyBackward(logits, targets, rowMax, rowLogSum, rowGrad, dx, rows, classes, ignoreIndex, smoothing)
napi_value cross_entropy_backward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[10];
    args(env, info, argv, "crossEntropyBackward");
    const View<float> logits = f32_arg(env, argv[0], "crossEntropyBackward: logits");
    const View<int32_t> targets = i32_arg(env, argv[1], "crossEntropyBackward: targets");
    const View<double> row_max = f64_arg(env, argv[2], "crossEntropyBackward: rowMax");
    const View<double> row_log_sum = f64_arg(env, argv[3], "crossEntropyBackward: rowLogSum");
    const View<double> row_grad = f64_arg(env, argv[4], "crossEntropyBackward: rowGrad");
    const View<float> dx = f32_arg(env, argv[5], "crossEntropyBackward: dx");
    const int64_t rows = get_index(env, argv[6], "crossEntropyBackward: rows");
    const int64_t classes = get_index(env, argv[7], "crossEntropyBackward: classes");
    const double ignore = get_number(env, argv[8], "crossEntropyBackward: ignoreIndex");
    const double smoothing = get_number(env, argv[9], "crossEntropyBackward: smoothing");
    need(logits.length, safe_product(rows, classes), "crossEntropyBackward: logits");
    need(dx.length, safe_product(rows, classes), "crossEntropyBackward: dx");
    need(targets.length, rows, "crossEntropyBackward: targets");
    need(row_max.length, rows, "crossEntropyBackward: rowMax");
    need(row_log_sum.length, rows, "crossEntropyBackward: rowLogSum");
    need(row_grad.length, rows, "crossEntropyBackward: rowGrad");
    const int32_t ignore_index = check_targets(targets, rows, classes, ignore, "crossEntropyBackward");
    lithe::cross_entropy_backward_f32(logits.data, targets.data, row_max.data, row_log_sum.data, row_grad.data,
                                      dx.data, rows, classes, ignore_index, smoothing);
    return nullptr;
  });
}

// binary(op, a, aStep, b, bStep, out): out[i] = a[i·aStep] op b[i·bStep], steps 0 or 1.
napi_value binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[6];
    args(env, info, argv, "binary");
    const int64_t op = get_index(env, argv[0], "binary: op");
    if (op > static_cast<int64_t>(lithe::BinaryOp::kDiv)) throw JsError{true, "binary: unknown op"};
    const View<float> a = f32_arg(env, argv[1], "binary: a");
    const int64_t as = get_index(env, argv[2], "binary: aStep");
    const View<float> b = f32_arg(env, argv[3], "binary: b");
    const int64_t bs = get_index(env, argv[4], "binary: bStep");
    const View<float> out = f32_arg(env, argv[5], "binary: out");
    if (as > 1 || bs > 1) throw JsError{true, "binary: steps must be 0 or 1"};
    const int64_t n = out.length;
    if (n > 0) {
      need(a.length, as ? n : 1, "binary: a");
      need(b.length, bs ? n : 1, "binary: b");
    }
    lithe::binary_f32(static_cast<lithe::BinaryOp>(op), a.data, as, b.data, bs, out.data, n);
    return nullptr;
  });
}

// softmaxRows(x, out, rows, len, log)
napi_value softmax_rows(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[5];
    args(env, info, argv, "softmaxRows");
    const View<float> x = f32_arg(env, argv[0], "softmaxRows: x");
    const View<float> out = f32_arg(env, argv[1], "softmaxRows: out");
    const int64_t rows = get_index(env, argv[2], "softmaxRows: rows");
    const int64_t len = get_index(env, argv[3], "softmaxRows: len");
    const bool log = get_bool(env, argv[4], "softmaxRows: log");
    need(x.length, safe_product(rows, len), "softmaxRows: x");
    need(out.length, safe_product(rows, len), "softmaxRows: out");
    lithe::softmax_rows_f32(x.data, out.data, rows, len, log);
    return nullptr;
  });
}

// softmaxBands(x, offset, rows, len, lo, hi), in place from x[offset].
napi_value softmax_bands(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[6];
    args(env, info, argv, "softmaxBands");
    const View<float> x = f32_arg(env, argv[0], "softmaxBands: x");
    const int64_t offset = get_index(env, argv[1], "softmaxBands: offset");
    const int64_t rows = get_index(env, argv[2], "softmaxBands: rows");
    const int64_t len = get_index(env, argv[3], "softmaxBands: len");
    const View<int32_t> lo = i32_arg(env, argv[4], "softmaxBands: lo");
    const View<int32_t> hi = i32_arg(env, argv[5], "softmaxBands: hi");
    need(x.length, mul_add(rows, len, offset), "softmaxBands: x");
    need(lo.length, rows, "softmaxBands: lo");
    need(hi.length, rows, "softmaxBands: hi");
    lithe::softmax_bands_f32(x.data + offset, rows, len, lo.data, hi.data);
    return nullptr;
  });
}

// rmsNorm(x, weight, out, rstd, rows, dim, eps)
napi_value rms_norm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[7];
    args(env, info, argv, "rmsNorm");
    const View<float> x = f32_arg(env, argv[0], "rmsNorm: x");
    const View<float> w = f32_arg(env, argv[1], "rmsNorm: weight");
    const View<float> out = f32_arg(env, argv[2], "rmsNorm: out");
    const View<double> rstd = f64_arg(env, argv[3], "rmsNorm: rstd");
    const int64_t rows = get_index(env, argv[4], "rmsNorm: rows");
    const int64_t dim = get_index(env, argv[5], "rmsNorm: dim");
    const float eps = get_float(env, argv[6], "rmsNorm: eps");
    need(x.length, safe_product(rows, dim), "rmsNorm: x");
    need(out.length, safe_product(rows, dim), "rmsNorm: out");
    need(w.length, dim, "rmsNorm: weight");
    need(rstd.length, rows, "rmsNorm: rstd");
    lithe::rms_norm_f32(x.data, w.data, out.data, rstd.data, rows, dim, eps);
    return nullptr;
  });
}

// crossEntropy(logits, targets, losses, rowMax, rowLogSum, rows, classes, ignoreIndex, smoothing) -> counted
napi_value cross_entropy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[9];
    args(env, info, argv, "crossEntropy");
    const View<float> logits = f32_arg(env, argv[0], "crossEntropy: logits");
    const View<int32_t> targets = i32_arg(env, argv[1], "crossEntropy: targets");
    const View<float> losses = f32_arg(env, argv[2], "crossEntropy: losses");
    const View<double> row_max = f64_arg(env, argv[3], "crossEntropy: rowMax");
    const View<double> row_log_sum = f64_arg(env, argv[4], "crossEntropy: rowLogSum");
    const int64_t rows = get_index(env, argv[5], "crossEntropy: rows");
    const int64_t classes = get_index(env, argv[6], "crossEntropy: classes");
    const double ignore = get_number(env, argv[7], "crossEntropy: ignoreIndex");
    const double smoothing = get_number(env, argv[8], "crossEntropy: smoothing");
    need(logits.length, safe_product(rows, classes), "crossEntropy: logits");
    need(targets.length, rows, "crossEntropy: targets");
    need(losses.length, rows, "crossEntropy: losses");
    need(row_max.length, rows, "crossEntropy: rowMax");
    need(row_log_sum.length, rows, "crossEntropy: rowLogSum");
    const int32_t ignore_index = check_targets(targets, rows, classes, ignore, "crossEntropy");
    const int64_t counted = lithe::cross_entropy_f32(logits.data, targets.data, losses.data, row_max.data,
                                                     row_log_sum.data, rows, classes, ignore_index, smoothing);
    napi_value result;
    check(env, napi_create_int64(env, counted, &result));
    return result;
  });
}

// rmsNormBackward(x, weight, rstd, g, dx | null, dw | null, rows, dim)
napi_value rms_norm_backward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[8];
    args(env, info, argv, "rmsNormBackward");
    const View<float> x = f32_arg(env, argv[0], "rmsNormBackward: x");
    const View<float> w = f32_arg(env, argv[1], "rmsNormBackward: weight");
    const View<double> rstd = f64_arg(env, argv[2], "rmsNormBackward: rstd");
    const View<float> g = f32_arg(env, argv[3], "rmsNormBackward: g");
    const bool has_dx = type_of(env, argv[4]) != napi_null;
    const bool has_dw = type_of(env, argv[5]) != napi_null;
    const View<float> dx = has_dx ? f32_arg(env, argv[4], "rmsNormBackward: dx") : View<float>{nullptr, 0};
    const View<double> dw = has_dw ? f64_arg(env, argv[5], "rmsNormBackward: dw") : View<double>{nullptr, 0};
    const int64_t rows = get_index(env, argv[6], "rmsNormBackward: rows");
    const int64_t dim = get_index(env, argv[7], "rmsNormBackward: dim");
    const int64_t n = safe_product(rows, dim);
    need(x.length, n, "rmsNormBackward: x");
    need(g.length, n, "rmsNormBackward: g");
    need(w.length, dim, "rmsNormBackward: weight");
    need(rstd.length, rows, "rmsNormBackward: rstd");
    if (has_dx) need(dx.length, n, "rmsNormBackward: dx");
    if (has_dw) need(dw.length, dim, "rmsNormBackward: dw");
    lithe::rms_norm_backward_f32(x.data, w.data, rstd.data, g.data, dx.data, dw.data, rows, dim);
    return nullptr;
  });
}

// softmaxBackwardRows(y, g, dx, rows, len); dx may be g.
napi_value softmax_backward_rows(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[5];
    args(env, info, argv, "softmaxBackwardRows");
    const View<float> y = f32_arg(env, argv[0], "softmaxBackwardRows: y");
    const View<float> g = f32_arg(env, argv[1], "softmaxBackwardRows: g");
    const View<float> dx = f32_arg(env, argv[2], "softmaxBackwardRows: dx");
    const int64_t rows = get_index(env, argv[3], "softmaxBackwardRows: rows");
    const int64_t len = get_index(env, argv[4], "softmaxBackwardRows: len");
    const int64_t n = safe_product(rows, len);
    need(y.length, n, "softmaxBackwardRows: y");
    need(g.length, n, "softmaxBackwardRows: g");
    need(dx.length, n, "softmaxBackwardRows: dx");
    lithe::softmax_backward_rows_f32(y.data, g.data, dx.data, rows, len);
    return nullptr;
  });
}

// Every table row offset r plus (dim - 1) steps must lie inside the table.
void check_table_rows(const View<float>& table, const View<int32_t>& offsets, int64_t rows, int64_t dim,
                      int64_t step, const char* name) {
  need(offsets.length, rows, name);
  const int64_t reach = mul_add(dim - 1, step, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t start = offsets.data[r];
    if (start < 0 || reach < 0 || start + reach >= table.length) {
      throw JsError{true, std::string(name) + ": row " + std::to_string(r) + " runs past the table"};
    }
  }
}

// rope(src, out, rows, dim, cos, cosRows, cosStep, sin, sinRows, sinStep, transpose)
napi_value rope(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[11];
    args(env, info, argv, "rope");
    const View<float> src = f32_arg(env, argv[0], "rope: src");
    const View<float> out = f32_arg(env, argv[1], "rope: out");
    const int64_t rows = get_index(env, argv[2], "rope: rows");
    const int64_t dim = get_index(env, argv[3], "rope: dim");
    const View<float> cos = f32_arg(env, argv[4], "rope: cos");
    const View<int32_t> cos_rows = i32_arg(env, argv[5], "rope: cosRows");
    const int64_t cos_step = get_index(env, argv[6], "rope: cosStep");
    const View<float> sin = f32_arg(env, argv[7], "rope: sin");
    const View<int32_t> sin_rows = i32_arg(env, argv[8], "rope: sinRows");
    const int64_t sin_step = get_index(env, argv[9], "rope: sinStep");
    const bool transpose = get_bool(env, argv[10], "rope: transpose");
    if (dim % 2 != 0) throw JsError{true, "rope: dim must be even"};
    const int64_t n = safe_product(rows, dim);
    need(src.length, n, "rope: src");
    need(out.length, n, "rope: out");
    if (n > 0) {
      check_table_rows(cos, cos_rows, rows, dim, cos_step, "rope: cos");
      check_table_rows(sin, sin_rows, rows, dim, sin_step, "rope: sin");
    }
    lithe::rope_f32(src.data, out.data, rows, dim, cos.data, cos_rows.data, cos_step, sin.data, sin_rows.data,
                    sin_step, transpose);
    return nullptr;
  });
}

// copyStrided(src, dst, shape, strides, offset): shape and strides are Float64Arrays of integers.
napi_value copy_strided(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[5];
    args(env, info, argv, "copyStrided");
    const View<float> src = f32_arg(env, argv[0], "copyStrided: src");
    const View<float> dst = f32_arg(env, argv[1], "copyStrided: dst");
    const View<double> shape_in = f64_arg(env, argv[2], "copyStrided: shape");
    const View<double> strides_in = f64_arg(env, argv[3], "copyStrided: strides");
    const int64_t offset = get_index(env, argv[4], "copyStrided: offset");
    if (strides_in.length != shape_in.length) throw JsError{true, "copyStrided: shape and strides differ in length"};
    const int rank = static_cast<int>(shape_in.length);
    std::vector<int64_t> shape(rank);
    std::vector<int64_t> strides(rank);
    int64_t count = 1;
    int64_t lowest = offset;
    int64_t highest = offset;
    for (int ax = 0; ax < rank; ++ax) {
      const double d = shape_in.data[ax];
      const double st = strides_in.data[ax];
      if (!(d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d)) throw JsError{true, "copyStrided: bad shape"};
      if (!(std::fabs(st) <= 4294967296.0 && std::floor(st) == st)) throw JsError{true, "copyStrided: bad stride"};
      shape[ax] = static_cast<int64_t>(d);
      strides[ax] = static_cast<int64_t>(st);
      count = safe_product(count, shape[ax]);
      if (count < 0) throw JsError{true, "copyStrided: shape too large"};
      if (shape[ax] > 0) {
        const int64_t span = (shape[ax] - 1) * strides[ax];
        (span > 0 ? highest : lowest) += span;
      }
    }
    need(dst.length, count, "copyStrided: dst");
    if (count == 0) return nullptr;
    if (lowest < 0 || highest >= src.length) throw JsError{true, "copyStrided: the view runs outside src"};
    lithe::copy_strided_f32(src.data, dst.data, rank, shape.data(), strides.data(), offset);
    return nullptr;
  });
}

// adamDelta(grad, m, v, vMax | null, delta, weight1, decay2, weight2, correction2, eps, negStepSize)
napi_value adam_delta(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[11];
    args(env, info, argv, "adamDelta");
    const View<float> grad = f32_arg(env, argv[0], "adamDelta: grad");
    const View<float> m = f32_arg(env, argv[1], "adamDelta: m");
    const View<float> v = f32_arg(env, argv[2], "adamDelta: v");
    const bool amsgrad = type_of(env, argv[3]) != napi_null;
    const View<float> v_max = amsgrad ? f32_arg(env, argv[3], "adamDelta: vMax") : View<float>{nullptr, 0};
    const View<float> delta = f32_arg(env, argv[4], "adamDelta: delta");
    const lithe::AdamScalars s{get_float(env, argv[5], "adamDelta: weight1"),
                               get_float(env, argv[6], "adamDelta: decay2"),
                               get_float(env, argv[7], "adamDelta: weight2"),
                               get_float(env, argv[8], "adamDelta: correction2"),
                               get_float(env, argv[9], "adamDelta: eps"),
                               get_float(env, argv[10], "adamDelta: negStepSize")};
    const int64_t n = grad.length;
    need(m.length, n, "adamDelta: m");
    need(v.length, n, "adamDelta: v");
    if (amsgrad) need(v_max.length, n, "adamDelta: vMax");
    need(delta.length, n, "adamDelta: delta");
    lithe::adam_delta_f32(grad.data, m.data, v.data, v_max.data, delta.data, n, s);
    return nullptr;
  });
}

// quantGemm(transW, m, x, format, rows, cols, groupSize, codes, scales, zeros | null, y): see native/quant.h.
napi_value quant_gemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[11];
    args(env, info, argv, "quantGemm");
    const bool trans_w = get_bool(env, argv[0], "quantGemm: transW");
    const int64_t m = get_index(env, argv[1], "quantGemm: m");
    const View<float> x = f32_arg(env, argv[2], "quantGemm: x");
    const int64_t format = get_index(env, argv[3], "quantGemm: format");
    if (format > static_cast<int64_t>(lithe::QuantFormat::kInt8Channel)) throw JsError{true, "quantGemm: unknown format"};
    lithe::QuantWeightView w{};
    w.format = static_cast<lithe::QuantFormat>(format);
    w.rows = get_index(env, argv[4], "quantGemm: rows");
    w.cols = get_index(env, argv[5], "quantGemm: cols");
    w.group_size = get_index(env, argv[6], "quantGemm: groupSize");
    if (w.cols > 0 && w.group_size < 1) throw JsError{true, "quantGemm: groupSize must be at least 1"};
    const bool symmetric = w.format == lithe::QuantFormat::kInt8Channel;
    if (symmetric && w.group_size != w.cols) throw JsError{true, "quantGemm: int8-channel has one group per row"};
    const View<uint8_t> codes =
        symmetric ? get_typed<uint8_t>(env, argv[7], napi_int8_array, "Int8Array", "quantGemm: codes")
                  : get_typed<uint8_t>(env, argv[7], napi_uint8_array, "Uint8Array", "quantGemm: codes");
    const View<float> scales = f32_arg(env, argv[8], "quantGemm: scales");
    const bool has_zeros = type_of(env, argv[9]) != napi_null;
    if (has_zeros == symmetric) throw JsError{false, "quantGemm: zeros must be null exactly for int8-channel"};
    const View<uint8_t> zeros = has_zeros
                                    ? get_typed<uint8_t>(env, argv[9], napi_uint8_array, "Uint8Array", "quantGemm: zeros")
                                    : View<uint8_t>{nullptr, 0};
    const View<float> y = f32_arg(env, argv[10], "quantGemm: y");
    const int64_t groups = w.cols == 0 ? 0 : (w.cols + w.group_size - 1) / w.group_size;
    const int64_t stride = w.format == lithe::QuantFormat::kInt4 ? w.cols + (w.cols & 1) : w.cols;
    const int64_t code_bytes = w.format == lithe::QuantFormat::kInt4 ? safe_product(w.rows, stride) / 2
                                                                     : safe_product(w.rows, stride);
    need(codes.length, code_bytes, "quantGemm: codes");
    need(scales.length, safe_product(w.rows, groups), "quantGemm: scales");
    if (has_zeros) need(zeros.length, safe_product(w.rows, groups), "quantGemm: zeros");
    need(x.length, safe_product(m, trans_w ? w.cols : w.rows), "quantGemm: x");
    need(y.length, safe_product(m, trans_w ? w.rows : w.cols), "quantGemm: y");
    w.codes = codes.data;
    w.scales = scales.data;
    w.zeros = zeros.data;
    lithe::quant_gemm_f32(trans_w, m, x.data, w, y.data);
    return nullptr;
  });
}

// The sizes and rules both attention entries end with: batch, heads, kvHeads, t, s, d, dv, scale, causal,
// window, mask (null, Uint8Array keep or Float32Array add), maskStrides (4 integers as a Float64Array,
// read as [B, Hq, T, S]) and maskOffset. Checks that q, k, v and the mask lie inside their arrays.
constexpr size_t kAttentionShapeArgs = 13;

lithe::AttentionShape attention_shape(napi_env env, const napi_value* argv, const char* fn, const View<float>& q,
                                      const View<float>& k, const View<float>& v) {
  const std::string name(fn);
  const auto index = [&](int i, const char* what) { return get_index(env, argv[i], (name + ": " + what).c_str()); };
  lithe::AttentionShape a{};
  a.batch = index(0, "batch");
  a.heads = index(1, "heads");
  a.kv_heads = index(2, "kvHeads");
  a.t = index(3, "t");
  a.s = index(4, "s");
  a.d = index(5, "d");
  a.dv = index(6, "dv");
  a.scale = get_float(env, argv[7], (name + ": scale").c_str());
  a.causal = get_bool(env, argv[8], (name + ": causal").c_str());
  a.window = index(9, "window");
  if (a.kv_heads == 0 || a.heads % a.kv_heads != 0) {
    throw JsError{true, name + ": heads must be a multiple of kvHeads"};
  }
  const int64_t rows = safe_product(safe_product(a.batch, a.heads), a.t);
  const int64_t kv_rows = safe_product(safe_product(a.batch, a.kv_heads), a.s);
  need(q.length, safe_product(rows, a.d), (name + ": q").c_str());
  need(k.length, safe_product(kv_rows, a.d), (name + ": k").c_str());
  need(v.length, safe_product(kv_rows, a.dv), (name + ": v").c_str());
  if (type_of(env, argv[10]) == napi_null) return a;
  const View<double> strides = f64_arg(env, argv[11], (name + ": maskStrides").c_str());
  if (strides.length != 4) throw JsError{true, name + ": maskStrides must hold 4 strides"};
  int64_t last = index(12, "maskOffset");
  const int64_t sizes[4] = {a.batch, a.heads, a.t, a.s};
  bool empty = false;
  for (int i = 0; i < 4; ++i) {
    const double stride = strides.data[i];
    if (!(stride >= 0.0 && stride <= kMaxSafeInteger && std::floor(stride) == stride)) {
      throw JsError{true, name + ": maskStrides must be non-negative integers"};
    }
    a.mask_strides[i] = static_cast<int64_t>(stride);
    empty = empty || sizes[i] == 0;
    if (sizes[i] > 0 && last >= 0) last = mul_add(sizes[i] - 1, a.mask_strides[i], last);
  }
  bool is_typed = false;
  napi_typedarray_type type = napi_int8_array;
  check(env, napi_is_typedarray(env, argv[10], &is_typed));
  if (is_typed) check(env, napi_get_typedarray_info(env, argv[10], &type, nullptr, nullptr, nullptr, nullptr));
  const int64_t offset = index(12, "maskOffset");
  if (is_typed && type == napi_uint8_array) {
    const View<uint8_t> mask = get_typed<uint8_t>(env, argv[10], napi_uint8_array, "Uint8Array", fn);
    if (!empty) need(mask.length, last < 0 ? -1 : last + 1, (name + ": mask").c_str());
    a.mask_keep = mask.data + offset;
  } else if (is_typed && type == napi_float32_array) {
    const View<float> mask = f32_arg(env, argv[10], fn);
    if (!empty) need(mask.length, last < 0 ? -1 : last + 1, (name + ": mask").c_str());
    a.mask_add = mask.data + offset;
  } else {
    throw JsError{false, name + ": mask must be null, a Uint8Array or a Float32Array"};
  }
  return a;
}

// attentionForward(q, k, v, out, lse, ...shape): out [B, Hq, T, Dv] and lse [B, Hq, T].
napi_value attention_forward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[5 + kAttentionShapeArgs];
    args(env, info, argv, "attentionForward");
    const View<float> q = f32_arg(env, argv[0], "attentionForward: q");
    const View<float> k = f32_arg(env, argv[1], "attentionForward: k");
    const View<float> v = f32_arg(env, argv[2], "attentionForward: v");
    const View<float> out = f32_arg(env, argv[3], "attentionForward: out");
    const View<float> lse = f32_arg(env, argv[4], "attentionForward: lse");
    const lithe::AttentionShape a = attention_shape(env, argv + 5, "attentionForward", q, k, v);
    const int64_t rows = safe_product(safe_product(a.batch, a.heads), a.t);
    need(out.length, safe_product(rows, a.dv), "attentionForward: out");
    need(lse.length, rows, "attentionForward: lse");
    lithe::attention_forward_f32(a, q.data, k.data, v.data, out.data, lse.data);
    return nullptr;
  });
}

// attentionBackward(q, k, v, out, lse, dOut, dq | null, dk | null, dv | null, ...shape)
napi_value attention_backward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[9 + kAttentionShapeArgs];
    args(env, info, argv, "attentionBackward");
    const View<float> q = f32_arg(env, argv[0], "attentionBackward: q");
    const View<float> k = f32_arg(env, argv[1], "attentionBackward: k");
    const View<float> v = f32_arg(env, argv[2], "attentionBackward: v");
    const View<float> out = f32_arg(env, argv[3], "attentionBackward: out");
    const View<float> lse = f32_arg(env, argv[4], "attentionBackward: lse");
    const View<float> d_out = f32_arg(env, argv[5], "attentionBackward: dOut");
    const auto optional = [&](int i, const char* name) {
      return type_of(env, argv[i]) == napi_null ? View<float>{nullptr, 0} : f32_arg(env, argv[i], name);
    };
    const View<float> dq = optional(6, "attentionBackward: dq");
    const View<float> dk = optional(7, "attentionBackward: dk");
    const View<float> dv = optional(8, "attentionBackward: dv");
    const lithe::AttentionShape a = attention_shape(env, argv + 9, "attentionBackward", q, k, v);
    const int64_t rows = safe_product(safe_product(a.batch, a.heads), a.t);
    const int64_t kv_rows = safe_product(safe_product(a.batch, a.kv_heads), a.s);
    need(out.length, safe_product(rows, a.dv), "attentionBackward: out");
    need(d_out.length, safe_product(rows, a.dv), "attentionBackward: dOut");
    need(lse.length, rows, "attentionBackward: lse");
    if (dq.data) need(dq.length, safe_product(rows, a.d), "attentionBackward: dq");
    if (dk.data) need(dk.length, safe_product(kv_rows, a.d), "attentionBackward: dk");
    if (dv.data) need(dv.length, safe_product(kv_rows, a.dv), "attentionBackward: dv");
    lithe::attention_backward_f32(a, q.data, k.data, v.data, out.data, lse.data, d_out.data, dq.data, dk.data,
                                  dv.data);
    return nullptr;
  });
}

napi_value named(napi_env env, napi_value object, const char* key) {
  napi_value value;
  check(env, napi_get_named_property(env, object, key, &value));
  return value;
}

// svdBatch(jobs: {a, m, n, full, s, u | null, vt | null}[]): see native/svd.h. Returns the index of
// the first job that did not converge, or -1.
napi_value svd_batch(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[1];
    args(env, info, argv, "svdBatch");
    bool is_array = false;
    check(env, napi_is_array(env, argv[0], &is_array));
    if (!is_array) throw JsError{false, "svdBatch: jobs must be an array"};
    uint32_t count = 0;
    check(env, napi_get_array_length(env, argv[0], &count));
    std::vector<lithe::SvdJob> jobs(count);
    for (uint32_t i = 0; i < count; ++i) {
      napi_value job;
      check(env, napi_get_element(env, argv[0], i, &job));
      if (type_of(env, job) != napi_object) throw JsError{false, "svdBatch: each job must be an object"};
      const View<double> a = f64_arg(env, named(env, job, "a"), "svdBatch: a");
      const int64_t m = get_index(env, named(env, job, "m"), "svdBatch: m");
      const int64_t n = get_index(env, named(env, job, "n"), "svdBatch: n");
      const bool full = get_bool(env, named(env, job, "full"), "svdBatch: full");
      const View<double> s = f64_arg(env, named(env, job, "s"), "svdBatch: s");
      const int64_t k = std::min(m, n);
      need(a.length, safe_product(m, n), "svdBatch: a");
      need(s.length, k, "svdBatch: s");
      const napi_value u_value = named(env, job, "u");
      const napi_value vt_value = named(env, job, "vt");
      const bool vectors = type_of(env, u_value) != napi_null;
      if (vectors != (type_of(env, vt_value) != napi_null)) throw JsError{false, "svdBatch: u and vt must both be null or both arrays"};
      lithe::SvdJob& out = jobs[i];
      out = {a.data, m, n, full, s.data, nullptr, nullptr};
      if (vectors) {
        const View<double> u = f64_arg(env, u_value, "svdBatch: u");
        const View<double> vt = f64_arg(env, vt_value, "svdBatch: vt");
        need(u.length, safe_product(m, full ? m : k), "svdBatch: u");
        need(vt.length, safe_product(full ? n : k, n), "svdBatch: vt");
        out.u = u.data;
        out.vt = vt.data;
      }
    }
    napi_value result;
    check(env, napi_create_double(env, static_cast<double>(lithe::svd_f64_batch(jobs)), &result));
    return result;
  });
}

// Tensors allocate and drop large buffers every step. By default glibc maps each large one fresh
// from the OS (a page fault per 4 KB on first touch) and trims freed memory right back. Serving
// them from the heap and keeping freed memory for reuse makes a forward pass about 20% faster.
void tune_allocator() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

napi_value init(napi_env env, napi_value exports) {
  tune_allocator();
  return guarded(env, [&]() -> napi_value {
    const napi_property_descriptor properties[] = {
        {"gemm", nullptr, gemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"threads", nullptr, threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"setThreads", nullptr, set_threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"simd", nullptr, simd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"setSimd", nullptr, set_simd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"gemmInfo", nullptr, gemm_info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"unary", nullptr, unary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"unaryGrad", nullptr, unary_grad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"crossEntropyBackward", nullptr, cross_entropy_backward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"binary", nullptr, binary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"softmaxRows", nullptr, softmax_rows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"softmaxBands", nullptr, softmax_bands, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"rmsNorm", nullptr, rms_norm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"crossEntropy", nullptr, cross_entropy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"rmsNormBackward", nullptr, rms_norm_backward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"softmaxBackwardRows", nullptr, softmax_backward_rows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"rope", nullptr, rope, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"copyStrided", nullptr, copy_strided, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"adamDelta", nullptr, adam_delta, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"quantGemm", nullptr, quant_gemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"attentionForward", nullptr, attention_forward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"attentionBackward", nullptr, attention_backward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
        {"svdBatch", nullptr, svd_batch, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    };
    check(env, napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties));
    return exports;
  });
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
