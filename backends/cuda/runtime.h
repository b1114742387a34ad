#pragma once
// The CUDA runtime of jx, over the driver API loaded at run time (dlopen of libcuda.so.1; no link
// dependency, so libjx runs where there is no driver). One primary context and one stream per
// device: every operation jx issues on a device is ordered on that stream, and host reads
// synchronize it. Device memory comes from a caching, stream-ordered allocator (freed blocks are
// reused by later work on the same stream without synchronizing). cuBLAS is loaded at run time
// too. No CUDA headers here: core and jit include this file.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace jx::cuda {

/// True when the driver loaded, initialized and reports at least one device. Computed once per
/// process (thread-safe); never throws, also where there is no driver. JX_CUDA_DRIVER, when set,
/// names the driver library to load instead of libcuda.so.1 / libcuda.so.
bool available();
/// Why available() is false ("libcuda.so.1 not found: ...", "cuInit failed: ...", "no CUDA
/// device"); empty when available.
std::string unavailable_reason();
/// The number of devices; 0 when unavailable.
int device_count();
/// The driver's CUDA version (1000 * major + 10 * minor, 13000 for 13.0); 0 when it did not load.
int driver_version();

struct DeviceProps {
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability (sm = 10 * major + minor)
  int sm_count = 0;
  int max_threads_per_block = 1024;
  int max_shared_per_block = 48 * 1024;         // without opting in
  int max_shared_per_block_optin = 48 * 1024;   // launch() opts in above 48 KiB
  size_t total_memory = 0;
  int sm() const { return cc_major * 10 + cc_minor; }
};
const DeviceProps& props(int device);

/// Caching, stream-ordered device memory (256-byte aligned). free() makes the block reusable by
/// later work on the device's stream at once (no synchronization).
void* device_alloc(size_t nbytes, int device);
void device_free(void* ptr, size_t nbytes, int device);
/// Frees the cached blocks (also done automatically when an allocation fails).
void release_cached_memory(int device);
struct MemoryStats {
  size_t in_use = 0;       // bytes of live blocks (rounded to their size classes)
  size_t peak_in_use = 0;
  size_t cached = 0;       // bytes of free blocks kept for reuse
  size_t num_device_allocs = 0;  // cuMemAlloc calls so far (cache misses)
};
MemoryStats memory_stats(int device);

/// Copies, ordered on the device's stream. copy_h2d may return before the copy is done; the
/// source may be reused at once (it is staged). copy_d2h returns when the data is on the host.
void copy_h2d(void* dst, const void* src, size_t nbytes, int device);
void copy_d2h(void* dst, const void* src, size_t nbytes, int device);
void copy_d2d(void* dst, const void* src, size_t nbytes, int device);
void memset_zero(void* dst, size_t nbytes, int device);
/// Waits for all the work issued on the device's stream; rethrows an asynchronous error.
void synchronize(int device);

/// A module loaded from a CUBIN on one device; its functions stay valid while it lives.
class Module {
 public:
  virtual ~Module() = default;
  /// The kernel `name` (a CUfunction); throws jx::Error when the module has none.
  virtual void* function(const std::string& name) = 0;
};
std::shared_ptr<Module> load_module(const std::vector<char>& cubin, int device);

/// Launches `function` on the device's stream. `args` points at the kernel's arguments (as
/// cuLaunchKernel's kernelParams).
void launch(void* function, std::array<unsigned, 3> grid, std::array<unsigned, 3> block, unsigned shared_bytes,
            void** args, int device);

/// cuBLAS: C[b] = op(A[b]) * op(B[b]) for b < batch, column-major as cuBLAS (m x n result, k the
/// contracted size), float32 or float64; strides in elements (0: the same matrix for every b).
struct GemmArgs {
  DType dtype = DType::float32;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
};
void gemm(const GemmArgs& args, int device);
/// True when a cuBLAS library (13, or 12 with an older driver) loaded and has every function
/// gemm uses; needs no device. cublas_unavailable_reason() says why not.
bool cublas_available();
std::string cublas_unavailable_reason();

}  // namespace jx::cuda
