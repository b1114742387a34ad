#pragma once
// CUDA C++ for jit programs: the second renderer of jitc::Program's fused kernels (the first is
// backends/llvm/codegen). One translation unit per program, one __global__ function per kernel,
// with the launch shape chosen per kernel. Elementwise semantics follow the eager kernels
// (backends/cpu/elementwise.cpp) as the LLVM renderer does. No CUDA headers needed here.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "jit/program.h"

namespace jx::cudagen {

/// How to launch one rendered kernel. The kernel's parameters are pointers only (no scalars):
/// params[i] is the slot whose device address goes in argument i (cuLaunchKernel's kernelParams
/// point at these addresses), first the slots the kernel reads, then the slots it writes. An
/// alias slot is passed as its root's address. Read-only parameters are `const T* __restrict__`
/// unless the plan lets an output of the kernel take over that input's buffer (donation), so
/// buffers must not overlap otherwise. bool is one byte, float16/bfloat16 two (their bits).
/// Reductions keep their shared memory static (shared_bytes stays 0); a reduction split over
/// several blocks per output keeps partial results and counters in the module's own __device__
/// globals (the last block resets them), so one kernel must not run concurrently with itself
/// (launches on one stream are fine). The grid is capped (grid-stride loops cover the rest).
struct LaunchSpec {
  std::string name;                 // the extern "C" __global__ function's name
  std::vector<int> params;          // the kernel's pointer parameters, in order: program slots
  std::array<unsigned, 3> grid{1, 1, 1};
  std::array<unsigned, 3> block{1, 1, 1};
  unsigned shared_bytes = 0;        // dynamic shared memory
};

struct RenderedProgram {
  std::string source;               // CUDA C++, self-contained (no #include)
  std::vector<LaunchSpec> kernels;  // parallel to Program::kernels
};

/// Renders every fused kernel of `program`. Throws jx::Error for a kernel node it cannot render.
RenderedProgram render_program(const jitc::Program& program);

/// The codegen check of the jit (JX_CUDA_CODEGEN_CHECK=<sm>, e.g. 90): when the variable is set,
/// every program the jit plans is rendered and compiled by NVRTC for that architecture, and a
/// failure throws (so does a missing NVRTC). The counts are printed at exit. A no-op otherwise.
void codegen_check(const jitc::Program& program);
/// The architecture JX_CUDA_CODEGEN_CHECK asks for (read once), or 0 when it is not set.
int codegen_check_sm();

}  // namespace jx::cudagen
