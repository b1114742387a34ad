#pragma once
// Programs on a CUDA device: the jit's plan (jit/program.h, the same passes and fusion as on the
// CPU) with its fused kernels rendered as CUDA C++ (render.h), compiled by NVRTC for the device's
// architecture (nvrtc.h) and launched on the device's stream (runtime.h); dot_general through
// cuBLAS; control flow driven from the host with compiled bodies; other library calls run their
// CPU kernel on host copies (logged once per primitive). Eager operations on CUDA arrays are
// single-equation programs through the same path, cached. No CUDA headers here.

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/params.h"
#include "core/primitive.h"
#include "backends/cuda/runtime.h"
#include "jit/program.h"
#include "trace/jaxpr.h"

namespace jx::cuda {

class Executable {
 public:
  jitc::Program program;
  int device = 0;
  std::vector<AbstractValue> in_avals, out_avals;
  std::string source;       // the CUDA C++ of the program's kernels
  double compile_ms = 0;    // passes, planning, rendering, NVRTC and module load
  bool cache_hit = false;   // the CUBIN came from the in-memory or JX_CACHE_DIR cache

  /// Runs on arrays on this executable's device (the caller moves host arguments first).
  /// Donated arguments (donated[i]) are deleted; their buffers become outputs where allowed.
  std::vector<Array> run(std::span<const Array> args, const std::vector<bool>* donated = nullptr) const;
  /// Runs on device pointers: in[i] argument i, out[o] output o (written), `arena` at least
  /// program.arena_bytes of device memory (or null when none is needed).
  void run_into(const void* const* in, void* const* out, void* arena) const;
  /// The optimized jaxpr, the fusion plan and the CUDA source.
  std::string text() const;

  struct Impl;
  std::shared_ptr<Impl> impl;  // module, kernels, device constants, compiled control flow
};

/// Optimizes, plans, renders and compiles a closed jaxpr for CUDA device `device`.
std::shared_ptr<const Executable> compile(const ClosedJaxpr& jaxpr, const std::string& name, int device);

/// The CUDA device a computation on `args` runs on: that of the first argument on CUDA, else
/// the default device's (JX_PLATFORM=cuda); -1 for the CPU.
int placement(std::span<const Array> args);
/// Where an eager operation on `args` runs: the CUDA device of its first CUDA argument, else the
/// default device's (JX_PLATFORM=cuda: host arrays are moved, as JAX's uncommitted arrays), except
/// inside a HostScope; -1 for the CPU.
int eager_placement(std::span<const Array> args);
/// While one lives in a thread, eager operations without CUDA arguments run on the CPU whatever
/// the default device (the compilers' constant folding and planning compute on host values).
struct HostScope {
  HostScope();
  ~HostScope();
  HostScope(const HostScope&) = delete;
  HostScope& operator=(const HostScope&) = delete;
};
/// A new array made from host data, placed on the default device when that is a CUDA device
/// (outside a HostScope); `x` itself otherwise.
Array place_new_array(const Array& x);
/// `x` on CUDA device `device` (copied when it lives elsewhere).
Array to_device(const Array& x, int device);

/// A dot_general as one strided batched cuBLAS gemm (pointers left null), when its layout allows
/// it with transposes only: batch dims leading in both operands, the contracting dims one
/// contiguous block (same order in both), the free dims the other block; float32/float64 with
/// the output in the operands' dtype. nullopt otherwise (the call then runs on the host).
std::optional<GemmArgs> gemm_for_dot(const AbstractValue& lhs, const AbstractValue& rhs, const AbstractValue& out,
                                     const Params& params);

/// Eager evaluation of `prim` on CUDA device `device` (arguments on other devices are copied):
/// a single-equation program compiled once per (primitive, parameters, argument types).
std::vector<Array> eval_primitive(const Primitive& prim, std::span<const Array> args, const Params& params, int device);

}  // namespace jx::cuda
