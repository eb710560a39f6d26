#include "cache.h"

#include <algorithm>
#include <cstdio>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

namespace lithe {
namespace {

// Size and the logical CPUs sharing it, for one cache level; size 0 when not found.
struct Level {
  int64_t size = 0;
  int64_t sharing = 1;
};

struct Levels {
  Level l1d, l2, l3;
};

// Bytes per core: a cache shared by `sharing` logical CPUs, of which `per_core` are one core's threads.
int64_t per_core(const Level& level, int64_t threads_per_core) {
  const int64_t cores = std::max<int64_t>(1, level.sharing / std::max<int64_t>(1, threads_per_core));
  return level.size / cores;
}

// L1d and L2 belong to one core (its hyperthreads share them); L3 is split among the cores on it.
CacheSizes from_levels(const Levels& l, const char* source) {
  const int64_t threads = std::max<int64_t>(1, l.l2.size > 0 ? l.l2.sharing : l.l1d.sharing);
  return {l.l1d.size, per_core(l.l2, threads), l.l3.size > 0 ? per_core(l.l3, threads) : 0, source};
}

#if defined(__x86_64__) || defined(__i386__)
// Deterministic cache parameters: leaf 4 on Intel, 0x8000001D on AMD (same layout).
bool read_cpuid(unsigned leaf, Levels& out) {
  unsigned a, b, c, d;
  if (leaf >= 0x80000000u) {
    // AMD's leaf needs the TOPOEXT feature (CPUID 0x80000001, ECX bit 22).
    if (__get_cpuid_max(0x80000000u, nullptr) < leaf || !__get_cpuid(0x80000001u, &a, &b, &c, &d) ||
        !(c & (1u << 22))) {
      return false;
    }
  } else if (__get_cpuid_max(0, nullptr) < leaf) {
    return false;
  }
  bool any = false;
  for (unsigned sub = 0; sub < 16; ++sub) {
    __cpuid_count(leaf, sub, a, b, c, d);
    const unsigned type = a & 31u;  // 0: no more caches, 1: data, 2: instruction, 3: unified
    if (type == 0) break;
    if (type == 2) continue;
    const int64_t ways = ((b >> 22) & 0x3ffu) + 1;
    const int64_t partitions = ((b >> 12) & 0x3ffu) + 1;
    const int64_t line = (b & 0xfffu) + 1;
    const Level level{ways * partitions * line * (static_cast<int64_t>(c) + 1), ((a >> 14) & 0xfffu) + 1};
    switch ((a >> 5) & 7u) {
      case 1: out.l1d = level; break;
      case 2: out.l2 = level; break;
      case 3: out.l3 = level; break;
      default: break;
    }
    any = true;
  }
  return any && out.l1d.size > 0 && out.l2.size > 0;
}
#endif

#if defined(__linux__)
bool read_text(const std::string& path, std::string& text) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char buffer[256];
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, f);
  std::fclose(f);
  text.assign(buffer, n);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return true;
}

// How many CPUs a sysfs list such as "0-3,8-11" names.
int64_t count_cpus(const std::string& list) {
  int64_t count = 0;
  size_t i = 0;
  while (i < list.size()) {
    size_t end = list.find(',', i);
    if (end == std::string::npos) end = list.size();
    const std::string range = list.substr(i, end - i);
    const size_t dash = range.find('-');
    count += dash == std::string::npos ? 1 : std::stol(range.substr(dash + 1)) - std::stol(range.substr(0, dash)) + 1;
    i = end + 1;
  }
  return std::max<int64_t>(1, count);
}

bool read_sysfs(Levels& out) {
  for (int index = 0; index < 16; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::string level, type, size, shared;
    if (!read_text(dir + "level", level) || !read_text(dir + "type", type) || !read_text(dir + "size", size)) break;
    if (type == "Instruction") continue;
    try {
      // sizes read "32K" or "32768K"; a bare number is bytes.
      int64_t bytes = std::stoll(size);
      if (size.back() == 'K') bytes <<= 10;
      if (size.back() == 'M') bytes <<= 20;
      const Level l{bytes, read_text(dir + "shared_cpu_list", shared) ? count_cpus(shared) : 1};
      if (level == "1") out.l1d = l;
      if (level == "2") out.l2 = l;
      if (level == "3") out.l3 = l;
    } catch (...) {
      return false;
    }
  }
  return out.l1d.size > 0 && out.l2.size > 0;
}
#endif

#if defined(__APPLE__)
int64_t sysctl_int(const char* name) {
  int64_t value = 0;
  size_t length = sizeof(value);
  return sysctlbyname(name, &value, &length, nullptr, 0) == 0 ? value : 0;
}

// Apple silicon reports the performance cores' caches under hw.perflevel0, shared by cpusperl2.
bool read_sysctl(Levels& out) {
  out.l1d = {sysctl_int("hw.perflevel0.l1dcachesize"), 1};
  out.l2 = {sysctl_int("hw.perflevel0.l2cachesize"), std::max<int64_t>(1, sysctl_int("hw.perflevel0.cpusperl2"))};
  if (out.l1d.size <= 0) out.l1d = {sysctl_int("hw.l1dcachesize"), 1};
  if (out.l2.size <= 0) out.l2 = {sysctl_int("hw.l2cachesize"), 1};
  out.l3 = {sysctl_int("hw.l3cachesize"), std::max<int64_t>(1, sysctl_int("hw.ncpu"))};
  return out.l1d.size > 0 && out.l2.size > 0;
}
#endif

CacheSizes detect() {
  Levels levels;
#if defined(__x86_64__) || defined(__i386__)
  if (read_cpuid(4, levels) || read_cpuid(0x8000001Du, levels = Levels{})) return from_levels(levels, "cpuid");
#endif
#if defined(__linux__)
  if (read_sysfs(levels = Levels{})) return from_levels(levels, "sysfs");
#endif
#if defined(__APPLE__)
  if (read_sysctl(levels = Levels{})) {
    // The L2 is shared per cluster: each core's share, as on x86 for L3.
    return {levels.l1d.size, levels.l2.size / levels.l2.sharing, levels.l3.size / levels.l3.sharing, "sysctl"};
  }
#endif
  return {32 << 10, 512 << 10, 2 << 20, "default"};
}

}  // namespace

const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = detect();
  return sizes;
}

}  // namespace lithe
