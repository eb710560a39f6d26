// Standalone check of the native kernels on aarch64 (run under qemu-user by bench/check-arm64.ts, which writes the
// cases: inputs and the TypeScript kernels' results). Every GEMM case runs on every SIMD path the CPU has and with 1
// and 3 threads. Prints one line per kernel and a summary; exits 1 on any mismatch.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "elementwise.h"
#include "gemm.h"

namespace {

struct Array {
  int kind = 0;  // 0: f32, 1: f64, 2: i32
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<int32_t> i32;
};

struct Case {
  std::string tag;
  std::vector<double> scalars;
  std::vector<Array> arrays;
};

bool read_all(FILE* f, void* p, size_t bytes) { return std::fread(p, 1, bytes, f) == bytes; }

bool read_case(FILE* f, Case& c) {
  uint32_t n;
  if (!read_all(f, &n, 4)) return false;
  c.tag.assign(n, ' ');
  if (!read_all(f, c.tag.data(), n) || !read_all(f, &n, 4)) return false;
  c.scalars.resize(n);
  if (!read_all(f, c.scalars.data(), n * 8) || !read_all(f, &n, 4)) return false;
  c.arrays.resize(n);
  for (Array& a : c.arrays) {
    uint32_t kind, len;
    if (!read_all(f, &kind, 4) || !read_all(f, &len, 4)) return false;
    a.kind = static_cast<int>(kind);
    bool ok = false;
    if (kind == 0) a.f32.resize(len), ok = read_all(f, a.f32.data(), len * 4);
    if (kind == 1) a.f64.resize(len), ok = read_all(f, a.f64.data(), len * 8);
    if (kind == 2) a.i32.resize(len), ok = read_all(f, a.i32.data(), len * 4);
    if (!ok) return false;
  }
  return true;
}

struct Tally {
  int64_t cases = 0;
  int64_t failures = 0;
  double worst = 0.0;  // largest |got − want| / allowed
};

std::map<std::string, Tally> tallies;

// |got − want| ≤ atol + rtol·scale[i] elementwise (NaN and infinities must match exactly); reports the first miss.
template <typename T, typename S>
bool compare(const std::string& label, const T* got, const T* want, const S* scale, size_t n, double atol, double rtol) {
  Tally& t = tallies[label.substr(0, label.find(' '))];
  ++t.cases;
  for (size_t i = 0; i < n; ++i) {
    const double g = got[i], w = want[i];
    const bool special = std::isnan(w) || std::isinf(w);
    const double allowed = atol + rtol * std::fabs(static_cast<double>(scale[i]));
    const double err = std::fabs(g - w);
    const bool ok = special ? (std::isnan(w) ? std::isnan(g) : g == w) : err <= allowed;
    if (!special && allowed > 0) t.worst = std::max(t.worst, err / allowed);
    if (!ok || (!special && allowed == 0 && err != 0)) {
      ++t.failures;
      std::printf("MISMATCH %s: element %zu got %.9g want %.9g (allowed %.3g)\n", label.c_str(), i, g, w, allowed);
      return false;
    }
  }
  return true;
}

void check_gemm(const Case& c, const std::vector<const char*>& paths) {
  const auto& s = c.scalars;
  lithe::GemmArgs g{};
  g.trans_a = s[0] != 0;
  g.trans_b = s[1] != 0;
  g.m = static_cast<int64_t>(s[2]);
  g.n = static_cast<int64_t>(s[3]);
  g.k = static_cast<int64_t>(s[4]);
  g.alpha = static_cast<float>(s[5]);
  g.beta = static_cast<float>(s[6]);
  g.lda = static_cast<int64_t>(s[7]);
  g.ldb = static_cast<int64_t>(s[8]);
  g.ldc = static_cast<int64_t>(s[9]);
  g.stride_a = static_cast<int64_t>(s[10]);
  g.stride_b = static_cast<int64_t>(s[11]);
  g.stride_c = static_cast<int64_t>(s[12]);
  g.batch = static_cast<int64_t>(s[13]);
  const double atol = s[14], rtol = s[15];
  g.a = c.arrays[0].f32.data();
  g.b = c.arrays[1].f32.data();
  const std::vector<float>& want = c.arrays[3].f32;
  const std::vector<float>& magnitude = c.arrays[4].f32;
  for (const char* path : paths) {
    lithe::set_simd(path);
    for (int threads : {1, 3}) {
      lithe::set_thread_count(threads);
      std::vector<float> out = c.arrays[2].f32;
      g.c = out.data();
      lithe::sgemm(g);
      char label[160];
      std::snprintf(label, sizeof label, "gemm/%s [m=%lld n=%lld k=%lld] trans %d%d alpha %g beta %g batch %lld threads %d",
                    path, static_cast<long long>(g.m), static_cast<long long>(g.n), static_cast<long long>(g.k),
                    g.trans_a, g.trans_b, g.alpha, g.beta, static_cast<long long>(g.batch), threads);
      compare(label, out.data(), want.data(), magnitude.data(), out.size(), atol, rtol);
    }
  }
}

void check_rows(const Case& c) {
  const auto& s = c.scalars;
  const auto& a = c.arrays;
  const double atol = s[s.size() - 2], rtol = s[s.size() - 1];
  char label[120];
  if (c.tag == "unary" || c.tag == "unaryGrad") {
    const auto op = static_cast<lithe::UnaryOp>(static_cast<int>(s[0]));
    const size_t n = static_cast<size_t>(s[1]);
    std::vector<float> out(n);
    const std::vector<float>& want = a.back().f32;
    if (c.tag == "unary") {
      lithe::unary_f32(op, a[0].f32.data(), out.data(), static_cast<int64_t>(n));
    } else if (!lithe::unary_grad_f32(op, a[0].f32.data(), a[1].f32.data(), out.data(), static_cast<int64_t>(n))) {
      out.assign(n, NAN);
    }
    std::snprintf(label, sizeof label, "%s op %d n=%zu", c.tag.c_str(), static_cast<int>(s[0]), n);
    compare(label, out.data(), want.data(), want.data(), n, atol, rtol);
  } else if (c.tag == "binary") {
    const int64_t n = static_cast<int64_t>(s[3]);
    std::vector<float> out(static_cast<size_t>(n));
    lithe::binary_f32(static_cast<lithe::BinaryOp>(static_cast<int>(s[0])), a[0].f32.data(), static_cast<int64_t>(s[1]),
                      a[1].f32.data(), static_cast<int64_t>(s[2]), out.data(), n);
    std::snprintf(label, sizeof label, "binary op %d steps %g,%g n=%lld", static_cast<int>(s[0]), s[1], s[2],
                  static_cast<long long>(n));
    compare(label, out.data(), a[2].f32.data(), a[2].f32.data(), out.size(), atol, rtol);
  } else if (c.tag == "softmax") {
    const int64_t rows = static_cast<int64_t>(s[0]), len = static_cast<int64_t>(s[1]);
    std::vector<float> out(a[0].f32.size());
    lithe::softmax_rows_f32(a[0].f32.data(), out.data(), rows, len, s[2] != 0);
    std::snprintf(label, sizeof label, "softmax %lldx%lld log=%d", static_cast<long long>(rows),
                  static_cast<long long>(len), s[2] != 0);
    compare(label, out.data(), a[1].f32.data(), a[1].f32.data(), out.size(), atol, rtol);
  } else if (c.tag == "softmaxBackward") {
    const int64_t rows = static_cast<int64_t>(s[0]), len = static_cast<int64_t>(s[1]);
    std::vector<float> dx(a[0].f32.size());
    lithe::softmax_backward_rows_f32(a[0].f32.data(), a[1].f32.data(), dx.data(), rows, len);
    std::snprintf(label, sizeof label, "softmaxBackward %lldx%lld", static_cast<long long>(rows),
                  static_cast<long long>(len));
    compare(label, dx.data(), a[2].f32.data(), a[2].f32.data(), dx.size(), atol, rtol);
  } else if (c.tag == "softmaxBands") {
    const int64_t rows = static_cast<int64_t>(s[0]), len = static_cast<int64_t>(s[1]);
    std::vector<float> x = a[0].f32;
    lithe::softmax_bands_f32(x.data(), rows, len, a[1].i32.data(), a[2].i32.data());
    std::snprintf(label, sizeof label, "softmaxBands %lldx%lld", static_cast<long long>(rows),
                  static_cast<long long>(len));
    compare(label, x.data(), a[3].f32.data(), a[3].f32.data(), x.size(), atol, rtol);
  } else if (c.tag == "rmsNorm") {
    const int64_t rows = static_cast<int64_t>(s[0]), dim = static_cast<int64_t>(s[1]);
    std::vector<float> out(a[0].f32.size());
    std::vector<double> rstd(static_cast<size_t>(rows));
    lithe::rms_norm_f32(a[0].f32.data(), a[1].f32.data(), out.data(), rstd.data(), rows, dim, static_cast<float>(s[2]));
    std::snprintf(label, sizeof label, "rmsNorm %lldx%lld", static_cast<long long>(rows), static_cast<long long>(dim));
    if (compare(label, out.data(), a[2].f32.data(), a[2].f32.data(), out.size(), atol, rtol)) {
      compare(std::string(label) + "/rstd", rstd.data(), a[3].f64.data(), a[3].f64.data(), rstd.size(), atol, rtol);
    }
  } else if (c.tag == "rmsNormBackward") {
    const int64_t rows = static_cast<int64_t>(s[0]), dim = static_cast<int64_t>(s[1]);
    std::vector<float> dx(a[0].f32.size());
    std::vector<double> dw(static_cast<size_t>(dim), 0.0);
    lithe::rms_norm_backward_f32(a[0].f32.data(), a[1].f32.data(), a[2].f64.data(), a[3].f32.data(), dx.data(),
                                 dw.data(), rows, dim);
    std::snprintf(label, sizeof label, "rmsNormBackward %lldx%lld", static_cast<long long>(rows),
                  static_cast<long long>(dim));
    if (compare(label, dx.data(), a[4].f32.data(), a[4].f32.data(), dx.size(), atol, rtol)) {
      compare(std::string(label) + "/dw", dw.data(), a[5].f64.data(), a[5].f64.data(), dw.size(), atol, rtol);
    }
  } else {
    std::printf("MISMATCH unknown case tag '%s'\n", c.tag.c_str());
    ++tallies["unknown"].failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: arm64_driver CASES.bin\n");
    return 2;
  }
  FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "arm64_driver: cannot open %s\n", argv[1]);
    return 2;
  }
  const std::vector<const char*> paths = lithe::simd_supported();
  const lithe::GemmBlocking b = lithe::gemm_blocking();
  std::printf("arm64 driver: SIMD paths");
  for (const char* p : paths) std::printf(" %s", p);
  std::printf("; %s blocking mr %lld nr %lld mc %lld kc %lld nc %lld\n", lithe::simd_name(), static_cast<long long>(b.mr),
              static_cast<long long>(b.nr), static_cast<long long>(b.mc), static_cast<long long>(b.kc),
              static_cast<long long>(b.nc));
  Case c;
  int64_t read = 0;
  while (read_case(f, c)) {
    ++read;
    if (c.tag == "gemm") {
      check_gemm(c, paths);
    } else {
      check_rows(c);
    }
  }
  const bool complete = std::feof(f) != 0;
  std::fclose(f);
  int64_t failures = 0, checks = 0;
  for (const auto& [name, t] : tallies) {
    std::printf("%-16s %5lld checks, %lld failed, worst error %.3f of the tolerance\n", name.c_str(),
                static_cast<long long>(t.cases), static_cast<long long>(t.failures), t.worst);
    failures += t.failures;
    checks += t.cases;
  }
  if (!complete || read == 0) {
    std::printf("arm64 driver: the case file is truncated or empty\n");
    return 1;
  }
  std::printf("arm64 driver: %lld cases, %lld checks, %lld failed\n", static_cast<long long>(read),
              static_cast<long long>(checks), static_cast<long long>(failures));
  return failures == 0 ? 0 : 1;
}
