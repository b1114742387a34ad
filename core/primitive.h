#pragma once
// Primitives: the lax-level operations. Each primitive has one definition that holds its shape
// rule, its eager kernels (registered by the backends), and the slots the transforms fill: JVP,
// transpose, batching. A deliberate gap is recorded with no_rule(transform, reason).

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/array.h"
#include "core/params.h"

namespace jx {

class Primitive;

/// Abstract evaluation: output avals from input avals and params. Rejects bad input with
/// ShapeError / DTypeError / ValueError.
using ShapeRule =
    std::function<std::vector<AbstractValue>(std::span<const AbstractValue> in, const Params& params)>;
/// An eager kernel: `out` is preallocated from the shape rule's avals.
using Kernel = std::function<void(std::span<const Array> in, std::span<Array> out, const Params& params)>;
/// JVP: tangents of the outputs from primals, tangents (undefined Array = symbolic zero) and
/// the primal outputs (already computed). Returns one tangent per output (undefined = zero).
using JvpRule = std::function<std::vector<Array>(std::span<const Array> primals,
                                                 std::span<const Array> tangents,
                                                 std::span<const Array> outputs, const Params& params)>;
/// Transpose of a primitive linear in the inputs marked `linear`: cotangents for those inputs
/// from output cotangents (undefined = zero); other inputs are passed as known values.
using TransposeRule = std::function<std::vector<Array>(std::span<const Array> cts,
                                                       std::span<const Array> args,
                                                       std::span<const bool> linear,
                                                       const Params& params)>;
/// Batching: outputs and their batch dims from inputs and batch dims (nullopt = unbatched).
using BatchRule = std::function<std::pair<std::vector<Array>, std::vector<std::optional<int64_t>>>(
    std::span<const Array> args, std::span<const std::optional<int64_t>> dims, const Params& params)>;

/// Evaluation of a call primitive (one holding a sub-jaxpr or a user function) on concrete
/// inputs; used instead of a device kernel.
using ImplRule = std::function<std::vector<Array>(std::span<const Array> args, const Params& params)>;
/// A JVP rule that computes the primal outputs itself (custom_vjp: the forward pass also yields
/// residuals): returns outputs, then one tangent per output.
using JvpFullRule = std::function<std::pair<std::vector<Array>, std::vector<Array>>(
    std::span<const Array> primals, std::span<const Array> tangents, const Params& params)>;

/// Example input signatures for the registry sweep.
struct PrimitiveSample {
  std::vector<AbstractValue> args;
  Params params;
};

struct PrimitiveDef {
  std::string name;
  int id = -1;
  int num_outputs = 1;  // -1: decided by the shape rule
  ShapeRule shape_rule;
  std::array<Kernel, 2> kernels;  // indexed by DeviceKind
  ImplRule impl;                  // call primitives: evaluated by interpreting, not by a kernel
  JvpRule jvp;
  JvpFullRule jvp_full;           // when set, used by jvp instead of bind + jvp
  TransposeRule transpose;
  BatchRule batch;
  std::map<std::string, std::string> gaps;  // transform -> reason it has no rule
  std::vector<PrimitiveSample> samples;
};

/// A handle to a primitive definition; compares by identity.
class Primitive {
 public:
  Primitive() = default;
  explicit Primitive(PrimitiveDef* def) : def_(def) {}
  const std::string& name() const { return def_->name; }
  int id() const { return def_->id; }
  PrimitiveDef& def() const { return *def_; }
  bool valid() const { return def_ != nullptr; }
  bool operator==(const Primitive& other) const { return def_ == other.def_; }

 private:
  PrimitiveDef* def_ = nullptr;
};

/// Every primitive built so far, in creation order (for the registry sweep and side tables).
const std::vector<Primitive>& all_primitives();
/// Finds a primitive by name, or an invalid handle.
Primitive find_primitive(const std::string& name);

class PrimitiveBuilder {
 public:
  explicit PrimitiveBuilder(std::string name);
  PrimitiveBuilder& shape_rule(ShapeRule rule);
  PrimitiveBuilder& num_outputs(int n);
  PrimitiveBuilder& jvp(JvpRule rule);
  PrimitiveBuilder& jvp_full(JvpFullRule rule);
  PrimitiveBuilder& impl(ImplRule rule);
  PrimitiveBuilder& transpose(TransposeRule rule);
  PrimitiveBuilder& batch(BatchRule rule);
  PrimitiveBuilder& no_rule(const std::string& transform, const std::string& reason);
  PrimitiveBuilder& sample(std::vector<AbstractValue> args, Params params = {});
  Primitive build();

 private:
  std::unique_ptr<PrimitiveDef> def_;
};

/// Registers an eager kernel for `prim` on `device` (called by the backends' register_* functions).
void register_kernel(const Primitive& prim, DeviceKind device, Kernel kernel);

/// Makes sure every backend has registered its kernels (idempotent, thread-safe).
void ensure_runtime_initialized();

}  // namespace jx
