// A stand-in for libcuda (loaded by tests through JX_CUDA_DRIVER) that imitates the driver API
// with host memory, so that jx's CUDA runtime (allocator, pinned staging, copies, device_put,
// host reads of device arrays, threads) is exercised on machines without a GPU. One device, one
// context. Streams are queues run lazily: an operation happens only when something waits for it
// (stream or event synchronization, a device->host copy, an event query that decides it is done),
// so a runtime that reuses a staging buffer or frees memory too early reads wrong data here.
// Modules and kernel launches are not imitated (they fail with CUDA_ERROR_NOT_SUPPORTED).

#include <cuda.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

namespace {

std::mutex mu;
std::deque<std::pair<long, std::function<void()>>> pending;  // (sequence number, operation)
long next_seq = 1;
long done_seq = 0;
size_t used = 0;
constexpr size_t kTotal = size_t{1} << 30;
std::map<void*, size_t> allocations;
unsigned queries = 0;
int the_context, the_stream;
thread_local CUcontext current = nullptr;

struct Event {
  long seq = 0;
};

void run_until(long seq) {
  while (!pending.empty() && pending.front().first <= seq) {
    pending.front().second();
    done_seq = pending.front().first;
    pending.pop_front();
  }
  if (done_seq < seq) done_seq = seq;
}

long enqueue(std::function<void()> op) {
  long seq = next_seq++;
  pending.emplace_back(seq, std::move(op));
  return seq;
}

// The real driver fails without a current context; jx must set it in every thread it uses.
CUresult need_context(const char* call) {
  if (current == reinterpret_cast<CUcontext>(&the_context)) return CUDA_SUCCESS;
  std::fprintf(stderr, "mock libcuda: %s called without a current context\n", call);
  return CUDA_ERROR_INVALID_CONTEXT;
}

#define JX_MOCK_NEED_CONTEXT                                         \
  if (CUresult r = need_context(__func__); r != CUDA_SUCCESS) return r; \
  std::lock_guard lock(mu)

void* ptr(CUdeviceptr p) { return reinterpret_cast<void*>(static_cast<uintptr_t>(p)); }

}  // namespace

extern "C" {

CUresult cuInit(unsigned) { return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int* v) {
  *v = CUDA_VERSION;
  return CUDA_SUCCESS;
}
CUresult cuGetErrorName(CUresult r, const char** s) {
  switch (r) {
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case CUDA_ERROR_INVALID_CONTEXT: *s = "CUDA_ERROR_INVALID_CONTEXT"; break;
    case CUDA_ERROR_NOT_SUPPORTED: *s = "CUDA_ERROR_NOT_SUPPORTED"; break;
    default: *s = "CUDA_ERROR_UNKNOWN";
  }
  return CUDA_SUCCESS;
}
CUresult cuGetErrorString(CUresult, const char** s) {
  *s = "mock driver";
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetCount(int* n) {
  *n = 1;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGet(CUdevice* d, int i) {
  if (i != 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  std::snprintf(name, static_cast<size_t>(len), "Mock GPU");
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice) {
  switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 * 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 227 * 1024; break;
    default: *v = 0;
  }
  return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem(size_t* bytes, CUdevice) {
  *bytes = kTotal;
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(&the_context);
  return CUDA_SUCCESS;
}
CUresult cuCtxSetCurrent(CUcontext c) {
  current = c;
  return CUDA_SUCCESS;
}
CUresult cuCtxGetCurrent(CUcontext* c) {
  *c = current;
  return CUDA_SUCCESS;
}
CUresult cuStreamCreate(CUstream* s, unsigned flags) {
  if (CUresult r = need_context(__func__); r != CUDA_SUCCESS) return r;
  if (flags != CU_STREAM_NON_BLOCKING) return CUDA_ERROR_INVALID_VALUE;
  *s = reinterpret_cast<CUstream>(&the_stream);
  return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream) {
  JX_MOCK_NEED_CONTEXT;
  run_until(next_seq);
  return CUDA_SUCCESS;
}
CUresult cuMemAlloc(CUdeviceptr* p, size_t n) {
  JX_MOCK_NEED_CONTEXT;
  if (used + n > kTotal) return CUDA_ERROR_OUT_OF_MEMORY;
  void* q = std::aligned_alloc(256, (n + 255) / 256 * 256);
  std::memset(q, 0xab, n);  // garbage, as fresh device memory
  allocations[q] = n;
  used += n;
  *p = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(q));
  return CUDA_SUCCESS;
}
CUresult cuMemFree(CUdeviceptr p) {
  JX_MOCK_NEED_CONTEXT;
  run_until(next_seq);  // as the real one, it waits for the device
  auto it = allocations.find(ptr(p));
  if (it == allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  used -= it->second;
  allocations.erase(it);
  std::free(ptr(p));
  return CUDA_SUCCESS;
}
CUresult cuMemGetInfo(size_t* free_bytes, size_t* total) {
  std::lock_guard lock(mu);
  *free_bytes = kTotal - used;
  *total = kTotal;
  return CUDA_SUCCESS;
}
CUresult cuMemHostAlloc(void** p, size_t n, unsigned) {
  *p = std::malloc(n);
  return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
CUresult cuMemFreeHost(void* p) {
  std::free(p);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void* src, size_t n, CUstream) {
  JX_MOCK_NEED_CONTEXT;
  enqueue([=] { std::memcpy(ptr(dst), src, n); });
  return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoHAsync(void* dst, CUdeviceptr src, size_t n, CUstream) {
  JX_MOCK_NEED_CONTEXT;
  // Into pageable memory the real driver returns once the copy is done.
  run_until(enqueue([=] { std::memcpy(dst, ptr(src), n); }));
  return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) {
  JX_MOCK_NEED_CONTEXT;
  enqueue([=] { std::memmove(ptr(dst), ptr(src), n); });
  return CUDA_SUCCESS;
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream) {
  JX_MOCK_NEED_CONTEXT;
  enqueue([=] { std::memset(ptr(dst), v, n); });
  return CUDA_SUCCESS;
}
CUresult cuMemsetD2D8Async(CUdeviceptr dst, size_t pitch, unsigned char v, size_t width, size_t height, CUstream) {
  JX_MOCK_NEED_CONTEXT;
  enqueue([=] {
    for (size_t row = 0; row < height; ++row) std::memset(static_cast<char*>(ptr(dst)) + row * pitch, v, width);
  });
  return CUDA_SUCCESS;
}
CUresult cuEventCreate(CUevent* e, unsigned) {
  *e = reinterpret_cast<CUevent>(new Event);
  return CUDA_SUCCESS;
}
CUresult cuEventRecord(CUevent e, CUstream) {
  JX_MOCK_NEED_CONTEXT;
  reinterpret_cast<Event*>(e)->seq = enqueue([] {});
  return CUDA_SUCCESS;
}
CUresult cuEventQuery(CUevent e) {
  std::lock_guard lock(mu);
  const long seq = reinterpret_cast<Event*>(e)->seq;
  if (seq <= done_seq) return CUDA_SUCCESS;
  if (++queries % 3 != 0) return CUDA_ERROR_NOT_READY;  // the device is busy two times in three
  run_until(seq);
  return CUDA_SUCCESS;
}
CUresult cuEventSynchronize(CUevent e) {
  std::lock_guard lock(mu);
  run_until(reinterpret_cast<Event*>(e)->seq);
  return CUDA_SUCCESS;
}
CUresult cuModuleLoadData(CUmodule*, const void*) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuModuleGetFunction(CUfunction*, CUmodule, const char*) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuModuleUnload(CUmodule) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuFuncSetAttribute(CUfunction, CUfunction_attribute, int) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuLaunchKernel(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                        void**, void**) {
  return CUDA_ERROR_NOT_SUPPORTED;
}

}  // extern "C"
