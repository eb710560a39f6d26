// A persistent fork-join thread pool: run(n, task) calls task(0..n-1) on n threads, the caller
// being thread 0, and returns when all are done. Workers spin briefly before sleeping so that
// back-to-back calls (one GEMM per layer) do not pay a futex wake-up each time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LITHE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define LITHE_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define LITHE_CPU_RELAX() std::this_thread::yield()
#endif

namespace lithe {

class ThreadPool {
 public:
  // When the OS refuses a thread (a container's process limit, say), the pool keeps the workers it
  // did start instead of letting the exception abort the process.
  explicit ThreadPool(int threads) {
    try {
      for (int id = 1; id < threads; ++id) workers_.emplace_back([this, id] { work(id); });
    } catch (const std::system_error&) {
    }
    size_ = static_cast<int>(workers_.size()) + 1;
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Runs task(t) for t in [0, n), n <= size(). Every worker takes part in every job (those with
  // id >= n just check in), so none can lag into the next one. If another thread is already
  // using the pool (Node worker_threads), the job runs serially on the caller instead.
  void run(int n, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (n <= 1 || size_ == 1 || !busy.owns_lock()) {
      for (int t = 0; t < n; ++t) task(t);
      return;
    }
    task_ = &task;
    active_ = n;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    task(0);
    wait_until([this] { return pending_.load(std::memory_order_acquire) == 0; }, finished_);
  }

 private:
  static constexpr std::chrono::microseconds kSpin{200};

  // Spins for kSpin, then sleeps on `cv` until `ready()` holds.
  template <typename Ready>
  void wait_until(Ready ready, std::condition_variable& cv) {
    auto deadline = std::chrono::steady_clock::now() + kSpin;
    while (!ready()) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv.wait(lock, ready);
        return;
      }
      LITHE_CPU_RELAX();
    }
  }

  void work(int id) {
    uint64_t seen = 0;
    for (;;) {
      wait_until(
          [&] {
            return stop_.load(std::memory_order_acquire) ||
                   generation_.load(std::memory_order_acquire) != seen;
          },
          wake_);
      if (stop_.load(std::memory_order_acquire)) return;
      ++seen;
      if (id < active_) (*task_)(id);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.notify_one();
      }
    }
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  const std::function<void(int)>* task_ = nullptr;
  int active_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
};

}  // namespace lithe
