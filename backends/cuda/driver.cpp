// The CUDA driver loaded at run time: dlopen of libcuda, entry points through cuGetProcAddress
// (dlsym of the versioned names as a fallback), one primary context and one non-blocking stream
// per device, host<->device copies (host->device staged through a pinned ring), modules and
// kernel launches.

#include "backends/cuda/driver.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/cuda/runtime.h"
#include "core/errors.h"
#include "core/log.h"

namespace jx::cuda {
namespace detail {

namespace {

#define JX_CUDA_STR2(x) #x
#define JX_CUDA_STR(x) JX_CUDA_STR2(x)

// Pinned staging for host->device copies: a ring of kStagingBytes, filled in pieces of at most
// kStagingPiece so that a large copy pipelines (memcpy of piece i+1 while piece i is in flight).
constexpr size_t kStagingBytes = size_t{64} << 20;
constexpr size_t kStagingPiece = size_t{16} << 20;
constexpr size_t kStagingAlign = 256;

// A ring of pinned memory. Live regions are in issue order; each one is free again once its
// event (recorded on the stream after the copy that reads it) has completed.
struct Staging {
  std::mutex mu;
  char* base = nullptr;
  bool failed = false;  // cuMemHostAlloc failed once: copy synchronously from pageable memory
  struct Region {
    size_t offset, size;
    CUevent done;
  };
  std::deque<Region> live;
  size_t head = 0;  // end of the newest region
  std::vector<CUevent> spare_events;
};

struct Slot {
  std::once_flag once;
  DeviceContext ctx;
  DeviceProps props;
  Staging staging;
};

struct State {
  void* lib = nullptr;
  std::string lib_name;
  Driver fns;
  std::string reason;  // empty when available
  int count = 0;
  std::vector<std::unique_ptr<Slot>> slots;
};

// Names of the errors that matter before the driver works (the stub library's cuGetErrorName
// fails too); the driver's own names are used whenever it gives them.
const char* fallback_error_name(CUresult r) {
  switch (r) {
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
    case CUDA_ERROR_DEINITIALIZED: return "CUDA_ERROR_DEINITIALIZED";
    case CUDA_ERROR_STUB_LIBRARY: return "CUDA_ERROR_STUB_LIBRARY";
    case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
    case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
    case CUDA_ERROR_SYSTEM_NOT_READY: return "CUDA_ERROR_SYSTEM_NOT_READY";
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
    case CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
    case CUDA_ERROR_OPERATING_SYSTEM: return "CUDA_ERROR_OPERATING_SYSTEM";
    case CUDA_ERROR_UNKNOWN: return "CUDA_ERROR_UNKNOWN";
    default: return nullptr;
  }
}

const char* fallback_error_description(CUresult r) {
  switch (r) {
    case CUDA_ERROR_STUB_LIBRARY: return "the CUDA driver library is a stub, not a real driver";
    case CUDA_ERROR_NO_DEVICE: return "no CUDA-capable device is detected";
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: return "system has unsupported display driver / cuda driver combination";
    default: return nullptr;
  }
}

std::string error_text_with(const Driver& fns, CUresult r) {
  const char* name = nullptr;
  const char* desc = nullptr;
  if (!fns.cuGetErrorName || fns.cuGetErrorName(r, &name) != CUDA_SUCCESS) name = nullptr;
  if (!fns.cuGetErrorString || fns.cuGetErrorString(r, &desc) != CUDA_SUCCESS) desc = nullptr;
  if (!name) name = fallback_error_name(r);
  if (!desc) desc = fallback_error_description(r);
  std::string out = name ? name : jx::detail::cat("CUresult ", static_cast<int>(r));
  if (desc) out += jx::detail::cat(" (", desc, ")");
  return out;
}

// 1. dlopen the driver; 2. resolve every entry point; 3. cuInit; 4. count the devices and read
// their properties. Any failure leaves the reason and no devices.
void load(State& s) {
  std::vector<std::string> names;
  if (const char* path = std::getenv("JX_CUDA_DRIVER"); path && *path) {
    names = {path};
  } else {
    names = {"libcuda.so.1", "libcuda.so"};
  }
  std::string first_error;
  for (auto& name : names) {
    s.lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (s.lib) {
      s.lib_name = name;
      break;
    }
    const char* e = dlerror();
    if (first_error.empty()) first_error = e ? e : "dlopen failed";
  }
  if (!s.lib) {
    s.reason = jx::detail::cat(names[0], " not found (no NVIDIA driver is installed): ", first_error);
    return;
  }

  using GetProcAddress = CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);
  auto get_proc = reinterpret_cast<GetProcAddress>(dlsym(s.lib, "cuGetProcAddress_v2"));
  auto get_version = reinterpret_cast<decltype(&::cuDriverGetVersion)>(dlsym(s.lib, "cuDriverGetVersion"));
  if (get_version && get_version(&s.fns.version) != CUDA_SUCCESS) s.fns.version = 0;
  // Ask for the ABI of the headers we were built with, or the driver's own when it is older.
  const int request = s.fns.version > 0 ? std::min(s.fns.version, CUDA_VERSION) : CUDA_VERSION;
  auto resolve = [&](const char* base, const char* versioned, void** out) {
    void* p = nullptr;
    CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (get_proc && (get_proc(base, &p, request, CU_GET_PROC_ADDRESS_DEFAULT, &found) != CUDA_SUCCESS ||
                     found != CU_GET_PROC_ADDRESS_SUCCESS)) {
      p = nullptr;
    }
    if (!p) p = dlsym(s.lib, versioned);
    *out = p;
    if (!p && s.reason.empty()) {
      s.reason = jx::detail::cat(s.lib_name, " has no ", versioned, " (driver version ", s.fns.version / 1000, ".",
                                 s.fns.version % 1000 / 10, "; jx needs CUDA 12 or newer)");
    }
  };
#define JX_CUDA_RESOLVE(name) resolve(#name, JX_CUDA_STR(name), reinterpret_cast<void**>(&s.fns.name));
  JX_CUDA_DRIVER_FUNCTIONS(JX_CUDA_RESOLVE)
#undef JX_CUDA_RESOLVE
  if (!s.reason.empty()) return;

  if (CUresult r = s.fns.cuInit(0); r != CUDA_SUCCESS) {
    s.reason = "cuInit failed: " + error_text_with(s.fns, r);
    return;
  }
  int count = 0;
  if (CUresult r = s.fns.cuDeviceGetCount(&count); r != CUDA_SUCCESS) {
    s.reason = "cuDeviceGetCount failed: " + error_text_with(s.fns, r);
    return;
  }
  if (count <= 0) {
    s.reason = "no CUDA device (the driver reports none)";
    return;
  }
  std::vector<std::unique_ptr<Slot>> slots;
  for (int i = 0; i < count; ++i) {
    auto slot = std::make_unique<Slot>();
    DeviceProps& p = slot->props;
    auto fail = [&](const char* call, CUresult r) {
      s.reason = jx::detail::cat(call, " failed for device ", i, ": ", error_text_with(s.fns, r));
    };
    CUdevice dev = 0;
    if (CUresult r = s.fns.cuDeviceGet(&dev, i); r != CUDA_SUCCESS) return fail("cuDeviceGet", r);
    slot->ctx.device = dev;
    char name[256] = {};
    if (CUresult r = s.fns.cuDeviceGetName(name, sizeof(name) - 1, dev); r != CUDA_SUCCESS)
      return fail("cuDeviceGetName", r);
    p.name = name;
    const std::pair<CUdevice_attribute, int*> attributes[] = {
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &p.cc_major},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &p.cc_minor},
        {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &p.sm_count},
        {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &p.max_threads_per_block},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, &p.max_shared_per_block},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, &p.max_shared_per_block_optin},
    };
    for (auto [attribute, value] : attributes) {
      if (CUresult r = s.fns.cuDeviceGetAttribute(value, attribute, dev); r != CUDA_SUCCESS)
        return fail("cuDeviceGetAttribute", r);
    }
    p.max_shared_per_block_optin = std::max(p.max_shared_per_block_optin, p.max_shared_per_block);
    if (CUresult r = s.fns.cuDeviceTotalMem(&p.total_memory, dev); r != CUDA_SUCCESS)
      return fail("cuDeviceTotalMem", r);
    slots.push_back(std::move(slot));
  }
  s.slots = std::move(slots);
  s.count = count;
}

State& state() {
  // Leaked on purpose: buffers and modules held by static objects are released after main.
  static State* s = [] {
    auto* st = new State();
    load(*st);
    if (!st->reason.empty()) {
      jx::detail::logger("cuda")->info("CUDA unavailable: {}", st->reason);
    } else {
      jx::detail::logger("cuda")->info("CUDA driver {} ({}), {} device(s), cuda:0 = {} (sm_{})", st->fns.version,
                                       st->lib_name, st->count, st->slots[0]->props.name,
                                       st->slots[0]->props.sm());
    }
    return st;
  }();
  return *s;
}

State& usable_state() {
  State& s = state();
  if (!s.reason.empty()) throw BackendError("[cuda] no CUDA device is available: " + s.reason);
  return s;
}

Slot& slot(int device) {
  State& s = usable_state();
  if (device < 0 || device >= s.count) {
    throw ValueError(jx::detail::cat("[cuda] there is no device cuda:", device, " (", s.count, " CUDA device",
                                     s.count == 1 ? "" : "s", ")"));
  }
  return *s.slots[static_cast<size_t>(device)];
}

CUdeviceptr dptr(const void* p) { return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace

const Driver& driver() { return usable_state().fns; }

std::string error_text(CUresult result) { return error_text_with(state().fns, result); }

void check(CUresult result, const char* call) {
  if (result == CUDA_SUCCESS) return;
  throw BackendError(jx::detail::cat("[cuda] ", call, " failed: ", error_text(result)));
}

const DeviceContext& context(int device) {
  Slot& sl = slot(device);
  const Driver& d = state().fns;
  std::call_once(sl.once, [&] {
    CUcontext ctx = nullptr;
    check(d.cuDevicePrimaryCtxRetain(&ctx, sl.ctx.device), "cuDevicePrimaryCtxRetain");
    check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    CUstream stream = nullptr;
    check(d.cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    sl.ctx.context = ctx;
    sl.ctx.stream = stream;
  });
  // The context is per thread: make it current here (another library may have changed it).
  CUcontext current = nullptr;
  if (d.cuCtxGetCurrent(&current) != CUDA_SUCCESS || current != sl.ctx.context) {
    check(d.cuCtxSetCurrent(sl.ctx.context), "cuCtxSetCurrent");
  }
  return sl.ctx;
}

}  // namespace detail

using detail::check;
using detail::context;
using detail::dptr;

bool available() { return detail::state().reason.empty(); }
std::string unavailable_reason() { return detail::state().reason; }
int device_count() { return detail::state().count; }
int driver_version() { return detail::state().fns.version; }

const DeviceProps& props(int device) { return detail::slot(device).props; }

void copy_h2d(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  const auto& ctx = context(device);
  const detail::Driver& d = detail::state().fns;
  detail::Staging& st = detail::slot(device).staging;
  std::lock_guard lock(st.mu);
  if (!st.base && !st.failed) {
    void* p = nullptr;
    if (CUresult r = d.cuMemHostAlloc(&p, detail::kStagingBytes, 0); r != CUDA_SUCCESS) {
      st.failed = true;
      jx::detail::logger("cuda")->warn("cuMemHostAlloc of {} bytes for staging failed ({}); host->device copies "
                                       "will be synchronous",
                                       detail::kStagingBytes, detail::error_text(r));
    } else {
      st.base = static_cast<char*>(p);
    }
  }
  if (st.failed) {
    // The driver stages pageable memory itself; waiting for the stream lets the caller reuse src.
    check(d.cuMemcpyHtoDAsync(dptr(dst), src, nbytes, ctx.stream), "cuMemcpyHtoDAsync");
    check(d.cuStreamSynchronize(ctx.stream), "cuStreamSynchronize");
    return;
  }
  // Frees the regions whose copies have completed (in issue order).
  auto reclaim = [&] {
    while (!st.live.empty()) {
      CUresult r = d.cuEventQuery(st.live.front().done);
      if (r == CUDA_ERROR_NOT_READY) break;
      check(r, "cuEventQuery");
      st.spare_events.push_back(st.live.front().done);
      st.live.pop_front();
    }
    if (st.live.empty()) st.head = 0;
  };
  // An offset where `size` bytes are free, waiting for the oldest copy while there is none.
  auto reserve = [&](size_t size) -> size_t {
    for (;;) {
      reclaim();
      if (st.live.empty()) return 0;
      const size_t tail = st.live.front().offset;
      if (st.head > tail) {  // used: [tail, head); free: [head, end) and [0, tail)
        if (detail::kStagingBytes - st.head >= size) return st.head;
        if (tail >= size) return 0;
      } else if (tail - st.head >= size) {  // wrapped; used: [tail, end) and [0, head)
        return st.head;
      }
      check(d.cuEventSynchronize(st.live.front().done), "cuEventSynchronize");
    }
  };
  const char* from = static_cast<const char*>(src);
  char* to = static_cast<char*>(dst);
  for (size_t done = 0; done < nbytes;) {
    const size_t piece = std::min(nbytes - done, detail::kStagingPiece);
    const size_t size = (piece + detail::kStagingAlign - 1) / detail::kStagingAlign * detail::kStagingAlign;
    const size_t offset = reserve(size);
    // The event first: once the copy is queued, nothing may fail before the region is marked.
    if (st.spare_events.empty()) {
      CUevent created = nullptr;
      check(d.cuEventCreate(&created, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
      st.spare_events.push_back(created);
    }
    CUevent event = st.spare_events.back();
    std::memcpy(st.base + offset, from + done, piece);
    check(d.cuMemcpyHtoDAsync(dptr(to + done), st.base + offset, piece, ctx.stream), "cuMemcpyHtoDAsync");
    st.spare_events.pop_back();
    if (CUresult r = d.cuEventRecord(event, ctx.stream); r != CUDA_SUCCESS) {
      st.spare_events.push_back(event);
      // The copy was queued but nothing marks its end: wait so the region is not reused early.
      (void)d.cuStreamSynchronize(ctx.stream);
      check(r, "cuEventRecord");
    }
    st.live.push_back({offset, size, event});
    st.head = offset + size;
    done += piece;
  }
}

void copy_d2h(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  const auto& ctx = context(device);
  const detail::Driver& d = detail::state().fns;
  check(d.cuMemcpyDtoHAsync(dst, dptr(src), nbytes, ctx.stream), "cuMemcpyDtoHAsync");
  check(d.cuStreamSynchronize(ctx.stream), "cuStreamSynchronize");
}

void copy_d2d(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  const auto& ctx = context(device);
  check(detail::state().fns.cuMemcpyDtoDAsync(dptr(dst), dptr(src), nbytes, ctx.stream), "cuMemcpyDtoDAsync");
}

void memset_zero(void* dst, size_t nbytes, int device) {
  if (nbytes == 0) return;
  const auto& ctx = context(device);
  check(detail::state().fns.cuMemsetD8Async(dptr(dst), 0, nbytes, ctx.stream), "cuMemsetD8Async");
}

void synchronize(int device) {
  const auto& ctx = context(device);
  check(detail::state().fns.cuStreamSynchronize(ctx.stream), "cuStreamSynchronize");
}

namespace {

class DriverModule final : public Module {
 public:
  DriverModule(CUmodule module, int device) : module_(module), device_(device) {}
  ~DriverModule() override {
    // Kernels of this module may still be queued: let them finish before unloading. Errors
    // here (a failed earlier launch, a driver shutting down at exit) have been or will be
    // reported by synchronize(); a destructor cannot throw them.
    try {
      const auto& ctx = context(device_);
      const detail::Driver& d = detail::state().fns;
      (void)d.cuStreamSynchronize(ctx.stream);
      (void)d.cuModuleUnload(module_);
    } catch (...) {
    }
  }
  void* function(const std::string& name) override {
    context(device_);
    CUfunction f = nullptr;
    CUresult r = detail::state().fns.cuModuleGetFunction(&f, module_, name.c_str());
    if (r == CUDA_ERROR_NOT_FOUND) {
      throw BackendError(jx::detail::cat("[cuda] the loaded module has no kernel '", name, "'"));
    }
    check(r, "cuModuleGetFunction");
    return f;
  }

 private:
  CUmodule module_;
  int device_;
};

}  // namespace

std::shared_ptr<Module> load_module(const std::vector<char>& cubin, int device) {
  const auto& ctx = context(device);
  (void)ctx;
  if (cubin.empty()) throw ValueError("[cuda] load_module: the CUBIN image is empty");
  CUmodule module = nullptr;
  CUresult r = detail::state().fns.cuModuleLoadData(&module, cubin.data());
  if (r != CUDA_SUCCESS) {
    const DeviceProps& p = props(device);
    throw BackendError(jx::detail::cat("[cuda] cuModuleLoadData failed: ", detail::error_text(r), " (cuda:", device,
                                       " is ", p.name, ", sm_", p.sm(), "; driver ", driver_version() / 1000, ".",
                                       driver_version() % 1000 / 10, ")"));
  }
  return std::make_shared<DriverModule>(module, device);
}

void launch(void* function, std::array<unsigned, 3> grid, std::array<unsigned, 3> block, unsigned shared_bytes,
            void** args, int device) {
  const auto& ctx = context(device);
  const detail::Driver& d = detail::state().fns;
  auto f = static_cast<CUfunction>(function);
  if (shared_bytes > 48 * 1024) {
    check(d.cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(shared_bytes)),
          "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)");
  }
  CUresult r = d.cuLaunchKernel(f, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_bytes, ctx.stream,
                                args, nullptr);
  if (r != CUDA_SUCCESS) {
    throw BackendError(jx::detail::cat("[cuda] cuLaunchKernel failed: ", detail::error_text(r), " (grid ", grid[0],
                                       "x", grid[1], "x", grid[2], ", block ", block[0], "x", block[1], "x", block[2],
                                       ", ", shared_bytes, " bytes of dynamic shared memory)"));
  }
}

}  // namespace jx::cuda
