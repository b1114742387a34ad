#pragma once
// A compiled program's plan, between the optimized jaxpr and machine code: fused kernels (loop
// nests over a domain, described as small expression graphs that the code generators turn into
// LLVM IR or CUDA C++), library calls (eager kernels: oneDNN matmul/convolution, gathers, ...),
// and a buffer plan (slots: inputs, constants, outputs, and temporaries placed in one arena by
// liveness). Backend-independent: no LLVM types here.

#include <cstdint>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/params.h"
#include "core/primitive.h"
#include "trace/jaxpr.h"

namespace jx::jitc {

/// A buffer of the program. Every value that crosses a step boundary has a slot.
struct Slot {
  enum class Kind : uint8_t { input, constant, output, temp, alias };
  Kind kind = Kind::temp;
  AbstractValue aval;
  int index = -1;       // input: argument index; constant: const index; output: output index
  int64_t offset = 0;   // temp: byte offset in the arena
  int alias_of = -1;    // alias: the slot whose memory this one reinterprets (a reshape)
  size_t nbytes() const { return static_cast<size_t>(aval.size()) * itemsize(aval.dtype); }
};

/// One node of a fused kernel's expression graph.
struct KNode {
  enum class Kind : uint8_t { load, literal, op };
  Kind kind = Kind::op;
  AbstractValue aval;
  int slot = -1;          // load: the slot read (its aval is `aval`, read at the node's own index)
  Array literal;          // literal: a 0-d concrete array
  Primitive prim;         // op: an elementwise, shape (broadcast/reshape/transpose/...) or reduce primitive
  Params params;
  std::vector<int> operands;
};

/// A loop nest. Elementwise: over `domain`, every output has the domain's shape. Reduction: over
/// the reduce operand's shape `domain`, reducing `reduce_axes`; outputs are reduce nodes (the
/// reduced shape) or domain-shaped side outputs.
struct Kernel {
  std::string name;
  std::vector<KNode> nodes;
  Shape domain;
  std::vector<int64_t> reduce_axes;  // sorted; empty for elementwise kernels
  struct Output {
    int node = -1;
    int slot = -1;
  };
  std::vector<Output> outputs;
  /// Work items the entry function splits across threads: domain elements (elementwise) or
  /// output elements (reductions), and the smallest chunk worth a thread.
  int64_t parallel_items = 1;
  int64_t grain = 1;
  /// Reduction strategy: reduced axes trailing (one accumulator per output element) or not
  /// (outputs accumulate in memory, the reduced axes outermost).
  bool row_reduction = true;
  bool is_reduction() const { return !reduce_axes.empty(); }
};

/// An equation run by its eager kernel on views of the program's buffers.
struct LibraryCall {
  Primitive prim;
  Params params;
  std::vector<int> in_slots;        // -1: a literal, taken from `literals`
  std::vector<Array> literals;      // parallel to in_slots
  std::vector<int> out_slots;
  Loc loc;
  /// dot_general with a fused epilogue: out = activation(dot + bias[N]) (oneDNN post-ops).
  int bias_slot = -1;
  std::string activation;
  bool fused_epilogue() const { return bias_slot >= 0 || !activation.empty(); }
};

struct Step {
  enum class Kind : uint8_t { kernel, library };
  Kind kind;
  int index;  // into kernels / calls
};

struct Program {
  std::string name;
  ClosedJaxpr jaxpr;                 // the optimized jaxpr the plan was made from
  std::vector<Slot> slots;
  std::vector<Kernel> kernels;
  std::vector<LibraryCall> calls;
  std::vector<Step> steps;
  std::vector<Array> consts;         // values of the constant slots
  std::vector<int> input_slots;      // per argument
  /// Per output of the program: a slot (output, or an input/constant passed through), or -1 with
  /// the value in `output_literals`.
  std::vector<int> output_slots;
  std::vector<Array> output_literals;
  int64_t arena_bytes = 0;
  /// For each output, the argument indices whose (donated) buffer it may take over.
  std::vector<std::vector<int>> donation_candidates;
  std::string report;                // fusion and buffer-plan summary for lower().as_text()
};

/// Fusion and buffer planning of an optimized, closed jaxpr (constants are concrete).
Program plan_program(const ClosedJaxpr& jaxpr, const std::string& name);

/// True when `prim` can be part of a fused loop nest (elementwise, shape, iota, reductions).
bool fusible(const Primitive& prim);

}  // namespace jx::jitc
