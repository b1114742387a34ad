// cuBLAS loaded at run time (the toolkit's libcublas.so.13 first, then the loader's path; cuBLAS
// 12 with a driver older than CUDA 13): one handle per device, bound to the device's stream, and
// strided batched float32/float64 GEMM.

#include <cublas_v2.h>
#include <dlfcn.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cuda/driver.h"
#include "backends/cuda/runtime.h"
#include "core/errors.h"
#include "core/log.h"

#ifndef JX_CUDA_LIB_DIR
#define JX_CUDA_LIB_DIR ""
#endif

namespace jx::cuda {

namespace {

#define JX_CUBLAS_STR2(x) #x
#define JX_CUBLAS_STR(x) JX_CUBLAS_STR2(x)

// Required entry points (named after cublas_v2.h's macros, as the driver's in driver.h).
#define JX_CUBLAS_FUNCTIONS(X) \
  X(cublasCreate)              \
  X(cublasDestroy)             \
  X(cublasSetStream)           \
  X(cublasSgemmStridedBatched_64) \
  X(cublasDgemmStridedBatched_64)

struct Cublas {
  void* lib = nullptr;
  std::string lib_name;
  std::string reason;  // empty when loaded
#define JX_CUBLAS_DECLARE(name) decltype(&::name) name = nullptr;
  JX_CUBLAS_FUNCTIONS(JX_CUBLAS_DECLARE)
#undef JX_CUBLAS_DECLARE
  decltype(&::cublasGetStatusName) get_status_name = nullptr;      // optional
  decltype(&::cublasGetStatusString) get_status_string = nullptr;  // optional

  std::mutex mu;  // guards handles and their use (a handle is not for concurrent calls)
  std::vector<cublasHandle_t> handles;
};

void load(Cublas& c) {
  const std::string dir = JX_CUDA_LIB_DIR;
  std::vector<std::string> names;
  // cuBLAS 13 needs a CUDA 13 driver; with an older one, only cuBLAS 12 can work.
  const int driver = driver_version();
  const bool want13 = driver == 0 || driver >= 13000;
  if (want13 && !dir.empty()) names.push_back(dir + "/libcublas.so.13");
  if (want13) names.push_back("libcublas.so.13");
  names.push_back("libcublas.so.12");
  names.push_back("libcublas.so");
  std::string errors;
  for (auto& name : names) {
    c.lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (c.lib) {
      c.lib_name = name;
      break;
    }
    const char* e = dlerror();
    errors += jx::detail::cat(errors.empty() ? "" : "; ", e ? e : name + ": dlopen failed");
  }
  if (!c.lib) {
    c.reason = "libcublas not found: " + errors;
    return;
  }
  auto resolve = [&](const char* name, void** out) {
    *out = dlsym(c.lib, name);
    if (!*out && c.reason.empty()) c.reason = jx::detail::cat(c.lib_name, " has no ", name, " (jx needs cuBLAS 12 or newer)");
  };
#define JX_CUBLAS_RESOLVE(name) resolve(JX_CUBLAS_STR(name), reinterpret_cast<void**>(&c.name));
  JX_CUBLAS_FUNCTIONS(JX_CUBLAS_RESOLVE)
#undef JX_CUBLAS_RESOLVE
  c.get_status_name = reinterpret_cast<decltype(c.get_status_name)>(dlsym(c.lib, "cublasGetStatusName"));
  c.get_status_string = reinterpret_cast<decltype(c.get_status_string)>(dlsym(c.lib, "cublasGetStatusString"));
}

Cublas& cublas() {
  // Leaked on purpose, as the driver's state: handles may be used until the process ends.
  static Cublas* c = [] {
    auto* lib = new Cublas();
    load(*lib);
    if (lib->reason.empty()) {
      jx::detail::logger("cuda")->info("cuBLAS loaded from {}", lib->lib_name);
    } else {
      jx::detail::logger("cuda")->info("cuBLAS unavailable: {}", lib->reason);
    }
    return lib;
  }();
  return *c;
}

void check_cublas(const Cublas& c, cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const char* name = c.get_status_name ? c.get_status_name(status) : nullptr;
  const char* desc = c.get_status_string ? c.get_status_string(status) : nullptr;
  std::string text = name ? std::string(name) : jx::detail::cat("cublasStatus_t ", static_cast<int>(status));
  if (desc) text += jx::detail::cat(" (", desc, ")");
  throw BackendError(jx::detail::cat("[cuda] ", call, " failed: ", text));
}

// The device's handle, created on first use and bound to the device's stream (c.mu held).
cublasHandle_t handle(Cublas& c, int device, CUstream stream) {
  if (c.handles.size() <= static_cast<size_t>(device)) c.handles.resize(static_cast<size_t>(device) + 1, nullptr);
  cublasHandle_t& h = c.handles[static_cast<size_t>(device)];
  if (!h) {
    cublasHandle_t created = nullptr;
    check_cublas(c, c.cublasCreate(&created), "cublasCreate");
    if (cublasStatus_t s = c.cublasSetStream(created, stream); s != CUBLAS_STATUS_SUCCESS) {
      c.cublasDestroy(created);
      check_cublas(c, s, "cublasSetStream");
    }
    h = created;
  }
  return h;
}

}  // namespace

bool cublas_available() { return cublas().reason.empty(); }
std::string cublas_unavailable_reason() { return cublas().reason; }

void gemm(const GemmArgs& a, int device) {
  const auto& ctx = detail::context(device);  // throws when CUDA is unavailable
  if (a.dtype != DType::float32 && a.dtype != DType::float64) {
    throw DTypeError(jx::detail::cat("[cuda] gemm supports float32 and float64, got ", dtype_name(a.dtype)));
  }
  if (a.m < 0 || a.n < 0 || a.k < 0 || a.batch < 0) {
    throw ValueError(jx::detail::cat("[cuda] gemm: negative size (m=", a.m, ", n=", a.n, ", k=", a.k,
                                     ", batch=", a.batch, ")"));
  }
  if (a.m == 0 || a.n == 0 || a.batch == 0) return;
  const size_t elem = a.dtype == DType::float32 ? 4 : 8;
  if (a.k == 0) {
    // An empty contraction: C = 0 (cuBLAS would reject lda = 0 for an empty operand).
    const detail::Driver& d = detail::driver();
    for (int64_t b = 0; b < (a.stride_c == 0 ? 1 : a.batch); ++b) {
      auto p = reinterpret_cast<uintptr_t>(a.c) + static_cast<uintptr_t>(b * a.stride_c) * elem;
      detail::check(d.cuMemsetD2D8Async(static_cast<CUdeviceptr>(p), static_cast<size_t>(a.ldc) * elem, 0,
                                        static_cast<size_t>(a.m) * elem, static_cast<size_t>(a.n), ctx.stream),
                    "cuMemsetD2D8Async");
    }
    return;
  }
  Cublas& c = cublas();
  if (!c.reason.empty()) throw BackendError("[cuda] cuBLAS is not available: " + c.reason);
  std::lock_guard lock(c.mu);
  cublasHandle_t h = handle(c, device, ctx.stream);
  const cublasOperation_t ta = a.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = a.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (a.dtype == DType::float32) {
    const float one = 1, zero = 0;
    check_cublas(c,
                 c.cublasSgemmStridedBatched_64(h, ta, tb, a.m, a.n, a.k, &one, static_cast<const float*>(a.a), a.lda,
                                                a.stride_a, static_cast<const float*>(a.b), a.ldb, a.stride_b, &zero,
                                                static_cast<float*>(a.c), a.ldc, a.stride_c, a.batch),
                 "cublasSgemmStridedBatched");
  } else {
    const double one = 1, zero = 0;
    check_cublas(c,
                 c.cublasDgemmStridedBatched_64(h, ta, tb, a.m, a.n, a.k, &one, static_cast<const double*>(a.a),
                                                a.lda, a.stride_a, static_cast<const double*>(a.b), a.ldb, a.stride_b,
                                                &zero, static_cast<double*>(a.c), a.ldc, a.stride_c, a.batch),
                 "cublasDgemmStridedBatched");
  }
}

}  // namespace jx::cuda
