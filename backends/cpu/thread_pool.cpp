// A small fixed thread pool with passive waiting.

#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace jx::cpu {

namespace {

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return threads_; }

  void resize(int n) {
    stop();
    threads_ = std::max(1, n);
    stopping_ = false;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
  }

  void run(int64_t n, int64_t chunks, const std::function<void(int64_t, int64_t)>& body) {
    std::unique_lock run_lock(run_mu_);  // one parallel region at a time
    Job job{&body, n, chunks};
    {
      std::lock_guard lock(mu_);
      job_ = &job;
      ++generation_;
    }
    cv_.notify_all();
    work(job);
    // The job lives on this stack frame: wait until every chunk is done AND every worker that
    // picked the job up has left it, then unpublish it under the lock so no worker can start on it.
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return job.finished.load() == job.chunks && job.workers == 0; });
    job_ = nullptr;
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* body;
    int64_t n, chunks;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> finished{0};
    int workers = 0;  // workers inside work(), guarded by mu_
  };

  void work(Job& job) {
    for (;;) {
      int64_t c = job.next.fetch_add(1);
      if (c >= job.chunks) return;
      int64_t begin = job.n * c / job.chunks, end = job.n * (c + 1) / job.chunks;
      (*job.body)(begin, end);
      job.finished.fetch_add(1);
    }
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      Job* job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || (job_ && generation_ != seen); });
        if (stopping_) return;
        seen = generation_;
        job = job_;
        ++job->workers;
      }
      work(*job);
      {
        std::lock_guard lock(mu_);
        --job->workers;
      }
      done_cv_.notify_all();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("JX_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static auto* p = new Pool(default_threads());  // leaked: workers must outlive static arrays
  return *p;
}

thread_local bool in_parallel_region = false;

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int threads = num_threads();
  if (threads <= 1 || n < 2 * grain || in_parallel_region) {
    body(0, n);
    return;
  }
  int64_t chunks = std::min<int64_t>(n / grain, threads * 4);
  in_parallel_region = true;
  try {
    pool().run(n, chunks, [&](int64_t b, int64_t e) {
      bool prev = in_parallel_region;
      in_parallel_region = true;
      body(b, e);
      in_parallel_region = prev;
    });
  } catch (...) {
    in_parallel_region = false;
    throw;
  }
  in_parallel_region = false;
}

}  // namespace jx::cpu

namespace jx {
void set_num_threads(int n) { cpu::set_num_threads(n); }
}  // namespace jx
