#pragma once
// A compiled program: the plan (program.h), its machine code, and how to run it on arrays.

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "jit/jit.h"
#include "jit/program.h"

namespace jx {

class Executable;

/// A cond, while or scan step whose sub-jaxprs are compiled too: the runtime drives the loop (or
/// picks the branch) and calls the compiled bodies on buffers it owns, with no interpretation and
/// no allocation per iteration (carries ping-pong between two buffers; scan slices are pointer
/// offsets into xs and ys; loop-invariant inputs are passed as they are).
struct ControlFlow {
  enum class Kind : uint8_t { cond, while_loop, scan };
  Kind kind = Kind::scan;
  std::vector<std::shared_ptr<const Executable>> subs;  // cond: branches; while: cond, body; scan: body
  int64_t length = 0;
  bool reverse = false;
  int num_consts = 0, num_carry = 0;     // scan
  int cond_nconsts = 0, body_nconsts = 0;  // while
  /// Loop-invariant hoisting: `pre` computes, once before the loop, the values of the body that
  /// depend only on its loop-invariant inputs; the compiled body takes them after those inputs.
  std::shared_ptr<const Executable> pre;
  int num_hoisted = 0;
};

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
  std::map<int, ControlFlow> control;  // by library-call index

  /// Precomputed for run_into (loop bodies run it once per iteration): the buffer table with the
  /// constants filled in, and the slots it patches per call.
  std::vector<void*> table_template;
  std::vector<std::pair<int, int64_t>> temp_slots;   // slot, arena offset
  std::vector<std::pair<int, int>> alias_slots;      // slot, root slot
  std::vector<std::pair<int, int>> output_targets;   // slot written in place, output index
  std::vector<int> copied_outputs;                   // outputs copied after the run
  void prepare();

  /// Runs on caller-provided storage: in[i] points at argument i, out[o] at the storage of output
  /// o (written); `arena` holds at least program.arena_bytes (or is null when none is needed).
  void run_into(const void* const* in, void* const* out, void* arena) const;

  /// Runs on concrete arguments matching in_avals. Donated arguments (donated[i]) are deleted;
  /// their buffers become outputs where the plan allows.
  std::vector<Array> run(std::span<const Array> args, const std::vector<bool>* donated = nullptr) const;
  /// The optimized jaxpr, the fusion plan and the IR.
  std::string text() const;
};

namespace detail {
/// A cond, while or scan library call: its ControlFlow header (without compiled bodies) and the
/// sub-jaxprs to compile (loop invariants split off into `pre`). Shared by the CPU and CUDA
/// backends. nullopt for any other call.
struct ControlPlan {
  ControlFlow header;
  std::vector<ClosedJaxpr> subs;
  std::vector<std::string> sub_names;  // suffixes for the compiled bodies' names
  std::optional<ClosedJaxpr> pre;
};
std::optional<ControlPlan> plan_control(const jitc::LibraryCall& call);
/// A run's output arrays: a donated argument's buffer where the plan allows (the argument is
/// marked in out_index / bufs), else fresh arrays on `device`; fills bufs[] of the output slots.
void allocate_outputs(const jitc::Program& p, std::span<const Array> args, const std::vector<bool>* donated,
                      Device device, void** bufs, int* out_index, std::vector<Array>& out_arrays);
/// The program's results after a run (outputs, passed-through arguments, constants, literals);
/// donated arguments are deleted unless returned unchanged.
std::vector<Array> collect_outputs(const jitc::Program& p, std::span<const Array> args, const std::vector<bool>* donated,
                                   const std::vector<Array>& out_arrays, const int* out_index,
                                   std::span<const Array> consts, std::span<const Array> output_literals);
/// Optimizes, plans and compiles a closed jaxpr whose constants are concrete.
std::shared_ptr<const Executable> compile_jaxpr(const ClosedJaxpr& jaxpr, const std::string& name, bool keep_ir);
}  // namespace detail

}  // namespace jx
