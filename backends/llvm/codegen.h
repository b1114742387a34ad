#pragma once
// LLVM code generation for jit programs: each fused kernel becomes a loop nest over a range of
// its work items, and one entry function runs the program's steps in order (kernels through the
// runtime's parallel_for, library calls through the runtime). Compiled by ORC LLJIT for the host
// CPU, with an optional on-disk object cache (JX_CACHE_DIR). No LLVM types in this header.

#include <cstdint>
#include <memory>
#include <string>

#include "jit/program.h"

namespace jx::llvmgen {

/// A fused kernel: processes work items [begin, end).
using KernelFn = void (*)(void** bufs, int64_t begin, int64_t end);
/// The runtime functions the entry function calls.
struct RuntimeHooks {
  void (*parallel_for)(void* ctx, KernelFn kernel, void** bufs, int64_t items, int64_t grain) = nullptr;
  void (*library_call)(void* ctx, int64_t index, void** bufs) = nullptr;
};

struct CompiledCode {
  void (*entry)(void** bufs, void* ctx) = nullptr;
  std::string ir;            // the module's LLVM IR (optimized, when it was compiled in this process)
  bool cache_hit = false;    // the object code came from JX_CACHE_DIR
  double compile_ms = 0;     // IR generation + optimization + machine code (or cache load)
  std::shared_ptr<void> resources;  // keeps the code loaded; released with the last copy
};

/// Generates, optimizes and compiles `program`. Thread-safe (compiles are serialized).
CompiledCode compile_program(const jitc::Program& program, const RuntimeHooks& hooks, bool keep_ir);

}  // namespace jx::llvmgen
