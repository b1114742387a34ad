// The caching device allocator: blocks in size classes with a free list per device. All jx work
// on a device is ordered on its one stream, so a freed block is reusable at once by later work
// (stream-ordered reuse, no synchronization). cuMemAlloc happens only on a cache miss; when it
// runs out of memory the cache is released and the allocation retried.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backends/cuda/driver.h"
#include "backends/cuda/runtime.h"
#include "core/errors.h"
#include "core/log.h"

namespace jx::cuda {

namespace {

constexpr size_t kMinBlock = 256;  // cuMemAlloc's alignment, and our smallest class

// Multiples of 256 bytes up to 4 KiB, then 8 classes per power of two (at most 12.5% unused).
size_t size_class(size_t n) {
  if (n <= 4096) return std::max(kMinBlock, (n + kMinBlock - 1) / kMinBlock * kMinBlock);
  size_t p = size_t{1} << (63 - __builtin_clzll(n - 1));  // largest power of two < n
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct DevicePool {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;  // size class -> blocks
  MemoryStats stats;
};

class DeviceAllocator {
 public:
  DevicePool& pool(int device) {
    detail::context(device);  // validates the index (and that CUDA is available)
    std::lock_guard lock(mu_);
    if (pools_.size() <= static_cast<size_t>(device)) pools_.resize(static_cast<size_t>(device) + 1);
    auto& p = pools_[static_cast<size_t>(device)];
    if (!p) p = std::make_unique<DevicePool>();
    return *p;
  }
  // For device_free, which must not throw: the pool exists since the block came from it.
  DevicePool* existing_pool(int device) {
    std::lock_guard lock(mu_);
    if (device < 0 || static_cast<size_t>(device) >= pools_.size()) return nullptr;
    return pools_[static_cast<size_t>(device)].get();
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<DevicePool>> pools_;
};

DeviceAllocator& allocator() {
  // Leaked on purpose: buffers held by static arrays may be freed after main returns.
  static auto* a = new DeviceAllocator();
  return *a;
}

// Frees every cached block of the pool (the caller holds pool.mu). Blocks freed by jx may still
// be read by queued work, so the stream is drained first.
void release_locked(DevicePool& pool, int device) {
  if (pool.stats.cached == 0) return;
  const auto& ctx = detail::context(device);
  const detail::Driver& d = detail::driver();
  detail::check(d.cuStreamSynchronize(ctx.stream), "cuStreamSynchronize");
  for (auto& [cls, blocks] : pool.free) {
    while (!blocks.empty()) {  // popped first: a failed cuMemFree leaves no dangling entry
      void* p = blocks.back();
      blocks.pop_back();
      pool.stats.cached -= cls;
      detail::check(d.cuMemFree(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p))), "cuMemFree");
    }
  }
  pool.free.clear();
}

}  // namespace

void* device_alloc(size_t nbytes, int device) {
  DevicePool& pool = allocator().pool(device);
  const size_t cls = size_class(nbytes);
  std::lock_guard lock(pool.mu);
  auto take = [&](void* p) {
    pool.stats.in_use += cls;
    pool.stats.peak_in_use = std::max(pool.stats.peak_in_use, pool.stats.in_use);
    return p;
  };
  if (auto it = pool.free.find(cls); it != pool.free.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    pool.stats.cached -= cls;
    return take(p);
  }
  detail::context(device);  // current in this thread
  const detail::Driver& d = detail::driver();
  CUdeviceptr p = 0;
  CUresult r = d.cuMemAlloc(&p, cls);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) {
    const size_t cached = pool.stats.cached;
    jx::detail::logger("cuda")->info("cuda:{}: out of memory allocating {} bytes; releasing {} cached bytes",
                                     device, cls, cached);
    release_locked(pool, device);
    r = d.cuMemAlloc(&p, cls);
    if (r == CUDA_ERROR_OUT_OF_MEMORY) {
      size_t free_bytes = 0, total_bytes = 0;
      std::string device_info;
      if (d.cuMemGetInfo(&free_bytes, &total_bytes) == CUDA_SUCCESS) {
        device_info = jx::detail::cat("; the device has ", free_bytes, " of ", total_bytes, " bytes free");
      }
      throw BackendError(jx::detail::cat("[cuda] out of device memory allocating ", nbytes, " bytes on cuda:", device,
                                         " (", cached, " bytes cached, ", pool.stats.in_use, " in use",
                                         device_info, ")"));
    }
  }
  detail::check(r, "cuMemAlloc");
  ++pool.stats.num_device_allocs;
  return take(reinterpret_cast<void*>(static_cast<uintptr_t>(p)));
}

void device_free(void* ptr, size_t nbytes, int device) {
  if (!ptr) return;
  DevicePool* pool = allocator().existing_pool(device);
  if (!pool) return;  // not ours: nothing to return it to
  const size_t cls = size_class(nbytes);
  std::lock_guard lock(pool->mu);
  pool->stats.in_use -= std::min(pool->stats.in_use, cls);
  try {
    pool->free[cls].push_back(ptr);
    pool->stats.cached += cls;
  } catch (const std::bad_alloc&) {
    // No host memory for the free list: the block leaks rather than throwing from a destructor.
  }
}

void release_cached_memory(int device) {
  DevicePool& pool = allocator().pool(device);
  std::lock_guard lock(pool.mu);
  release_locked(pool, device);
}

MemoryStats memory_stats(int device) {
  DevicePool& pool = allocator().pool(device);
  std::lock_guard lock(pool.mu);
  return pool.stats;
}

}  // namespace jx::cuda
