#pragma once
// A compiled program: the plan (program.h), its machine code, and how to run it on arrays.

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "jit/jit.h"
#include "jit/program.h"

namespace jx {

class Executable {
 public:
  jitc::Program program;
  std::vector<AbstractValue> in_avals;
  std::vector<AbstractValue> out_avals;
  void (*entry)(void** bufs, void* ctx) = nullptr;
  std::shared_ptr<void> code;  // keeps the machine code loaded
  std::string ir;              // LLVM IR, when compiled with keep_ir
  bool cache_hit = false;
  double compile_ms = 0;       // planning + code generation (or cache load)
  std::array<double, 3> phase_ms{};  // jaxpr passes, fusion and planning, LLVM (or cache load)

  /// Runs on concrete arguments matching in_avals. Donated arguments (donated[i]) are deleted;
  /// their buffers become outputs where the plan allows.
  std::vector<Array> run(std::span<const Array> args, const std::vector<bool>* donated = nullptr) const;
  /// The optimized jaxpr, the fusion plan and the IR.
  std::string text() const;
};

namespace detail {
/// Optimizes, plans and compiles a closed jaxpr whose constants are concrete.
std::shared_ptr<const Executable> compile_jaxpr(const ClosedJaxpr& jaxpr, const std::string& name, bool keep_ir);
}  // namespace detail

}  // namespace jx
