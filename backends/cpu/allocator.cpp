// A caching host allocator (64-byte aligned blocks in size classes, freed blocks kept for reuse:
// a first touch of a fresh page costs ~1-1.6 us on these machines, released on pressure), and
// Buffer, which takes GPU memory from backends/cuda's caching allocator instead.

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/array.h"
#include "core/device.h"

#ifdef JX_WITH_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace jx {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMaxCachedBytes = size_t{2} << 30;  // keep at most 2 GiB of free blocks

// Size classes: multiples of 64 bytes up to 1 KiB, then 4 classes per power of two.
size_t size_class(size_t n) {
  if (n <= 1024) return (n + 63) & ~size_t{63};
  size_t p = size_t{1} << (63 - __builtin_clzll(n - 1));  // largest power of two < n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

class HostAllocator {
 public:
  void* allocate(size_t nbytes) {
    size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
    {
      std::lock_guard lock(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= cls;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, cls);
    if (!p) {
      release_all();
      p = std::aligned_alloc(kAlignment, cls);
      if (!p) throw std::bad_alloc();
    }
    return p;
  }

  void deallocate(void* p, size_t nbytes) {
    size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
    std::lock_guard lock(mu_);
    if (cached_bytes_ + cls > kMaxCachedBytes) {
      std::free(p);
      return;
    }
    free_[cls].push_back(p);
    cached_bytes_ += cls;
  }

  void release_all() {
    std::lock_guard lock(mu_);
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }

  ~HostAllocator() { release_all(); }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_bytes_ = 0;
};

HostAllocator& host_allocator() {
  // Leaked on purpose: buffers held by static arrays may be freed after main returns.
  static auto* a = new HostAllocator();
  return *a;
}

}  // namespace

Buffer::Buffer(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.kind == DeviceKind::cpu && device.id == 0) {
    data_ = host_allocator().allocate(nbytes);
    return;
  }
  if (std::string why = detail::device_unavailable_reason(device); !why.empty()) {
    throw BackendError(detail::cat("[Buffer] cannot allocate ", nbytes, " bytes on ", device.str(), ": ", why));
  }
#ifdef JX_WITH_CUDA
  data_ = cuda::device_alloc(nbytes, device.id);
  detail::note_device_buffer();
#else
  JX_CHECK(false, "a buffer on ", device.str(), " in a build without CUDA");
#endif
}

Buffer::~Buffer() {
  if (view_) return;
  if (device_.kind == DeviceKind::cpu) {
    host_allocator().deallocate(data_, nbytes_);
    return;
  }
#ifdef JX_WITH_CUDA
  cuda::device_free(data_, nbytes_, device_.id);  // never throws
#endif
}

}  // namespace jx
