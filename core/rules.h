#pragma once
// Helpers for writing a primitive's JVP and transpose rules next to its shape rule
// (core/prims/*.cpp). An undefined Array stands for a symbolic zero.

#include <span>
#include <vector>

#include "core/primitive.h"

namespace jx {

/// a + b where either may be a symbolic zero (undefined).
Array add_tangents(const Array& a, const Array& b);
/// Zeros with the dtype and shape of `aval` (float0-free: integer avals get integer zeros).
Array zeros_for(const AbstractValue& aval);
/// `t`, or zeros of `aval` when `t` is a symbolic zero.
Array instantiate(const Array& t, const AbstractValue& aval);
/// Sums `ct` down to `shape` (undoing a 0-d operand's implicit broadcast in a binary primitive).
Array unbroadcast(const Array& ct, const AbstractValue& aval);

/// Inside a transpose rule: the abstract value of input `i` of the equation being transposed.
/// Linear inputs reach the rule as undefined Arrays, so their shape and dtype are read here
/// (e.g. to unbroadcast a cotangent to a 0-d operand, or to convert it back to the input dtype).
const AbstractValue& transpose_input_aval(size_t i);

/// JVP rule of a primitive that is linear in all its inputs: the primitive applied to the
/// tangents (zeros instantiated).
JvpRule linear_jvp(const Primitive& prim);

// ---- batching rules (vmap) ---------------------------------------------------------------------

/// A batch dimension per value: the axis that is mapped, or nullopt for an unmapped value.
using BatchDim = std::optional<int64_t>;

/// The batch size shared by the mapped arguments.
int64_t batch_size(std::span<const Array> args, std::span<const BatchDim> dims);
/// Moves the batch axis of x from `from` to `to`; an unmapped x (from == nullopt) is broadcast
/// to gain a batch axis of `size` at `to`.
Array move_batch_axis(const Array& x, BatchDim from, int64_t to, int64_t size);
/// The batching rule of an elementwise primitive (operands of one shape or 0-d): keeps a shared
/// batch axis in place when it can, else moves batch axes to the front.
BatchRule elementwise_batch_rule(const Primitive& prim);
/// For primitives that act on whole operands: moves every batch axis to the front (unmapped
/// operands broadcast), so the rule can treat axis 0 as a leading batch axis.
std::vector<Array> batch_at_front(std::span<const Array> args, std::span<const BatchDim> dims, int64_t size);

namespace detail {
/// Sets the avals transpose_input_aval reports while a transpose rule runs (used by the
/// backward pass); restores the previous ones on destruction.
class TransposeInputAvalsScope {
 public:
  explicit TransposeInputAvalsScope(const std::vector<AbstractValue>* avals);
  ~TransposeInputAvalsScope();

 private:
  const std::vector<AbstractValue>* saved_;
};
}  // namespace detail

}  // namespace jx
