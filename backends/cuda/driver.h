#pragma once
// Internal to backends/cuda: the driver API's entry points (resolved at run time from libcuda),
// CUresult checking, and the per-device state (primary context, stream). Includes <cuda.h> for
// its types only; nothing outside backends/cuda includes this file.

#include <cuda.h>

#include <string>

namespace jx::cuda::detail {

// The driver functions jx uses. Each member is named after <cuda.h>'s macro for the function
// (cuMemAlloc is cuMemAlloc_v2 there), so its type is the versioned ABI that the header declares.
#define JX_CUDA_DRIVER_FUNCTIONS(X)                                                              \
  X(cuInit)                                                                                      \
  X(cuDriverGetVersion)                                                                          \
  X(cuGetErrorName)                                                                              \
  X(cuGetErrorString)                                                                            \
  X(cuDeviceGetCount)                                                                            \
  X(cuDeviceGet)                                                                                 \
  X(cuDeviceGetName)                                                                             \
  X(cuDeviceGetAttribute)                                                                        \
  X(cuDeviceTotalMem)                                                                            \
  X(cuDevicePrimaryCtxRetain)                                                                    \
  X(cuCtxSetCurrent)                                                                             \
  X(cuCtxGetCurrent)                                                                             \
  X(cuStreamCreate)                                                                              \
  X(cuStreamSynchronize)                                                                         \
  X(cuMemAlloc)                                                                                  \
  X(cuMemFree)                                                                                   \
  X(cuMemGetInfo)                                                                                \
  X(cuMemHostAlloc)                                                                              \
  X(cuMemFreeHost)                                                                               \
  X(cuMemcpyHtoDAsync)                                                                           \
  X(cuMemcpyDtoHAsync)                                                                           \
  X(cuMemcpyDtoDAsync)                                                                           \
  X(cuMemsetD8Async)                                                                             \
  X(cuMemsetD2D8Async)                                                                           \
  X(cuEventCreate)                                                                               \
  X(cuEventRecord)                                                                               \
  X(cuEventQuery)                                                                                \
  X(cuEventSynchronize)                                                                          \
  X(cuModuleLoadData)                                                                            \
  X(cuModuleGetFunction)                                                                         \
  X(cuModuleUnload)                                                                              \
  X(cuFuncSetAttribute)                                                                          \
  X(cuLaunchKernel)

struct Driver {
#define JX_CUDA_DECLARE(name) decltype(&::name) name = nullptr;
  JX_CUDA_DRIVER_FUNCTIONS(JX_CUDA_DECLARE)
#undef JX_CUDA_DECLARE
  int version = 0;  // cuDriverGetVersion: 1000 * major + 10 * minor
};

/// The loaded, initialized driver; throws jx::BackendError ("[cuda] no CUDA device is
/// available: <reason>") when available() is false.
const Driver& driver();

/// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
std::string error_text(CUresult result);
/// Throws jx::BackendError "[cuda] <call> failed: CUDA_ERROR_... (description)" unless success.
void check(CUresult result, const char* call);

/// One device's primary context and stream. context(device) makes the context current in the
/// calling thread (each call: threads may come and go) and returns the state.
struct DeviceContext {
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
};
/// Throws jx::BackendError when CUDA is unavailable and jx::ValueError for a device index out of
/// range.
const DeviceContext& context(int device);

}  // namespace jx::cuda::detail
