#pragma once
// Shape primitives: broadcast_in_dim, reshape, transpose, squeeze, slice, pad, concatenate, rev,
// iota. Kernels: backends/cpu/shape.cpp. Numpy-level ops: core/prims/shape.cpp, creation
// functions: core/creation.cpp.
//
// Params (as JAX's lax):
//   broadcast_in_dim  shape, broadcast_dimensions     (operand dim i -> output dim broadcast_dimensions[i])
//   reshape           new_sizes                       (row-major; same element count)
//   transpose         permutation                     (output dim i = input dim permutation[i])
//   squeeze           dimensions                      (sorted, each of extent 1)
//   slice             start_indices, limit_indices,   (one per dim, 0 <= start <= limit <= dim,
//                     strides                          strides >= 1)
//   pad               padding_config                  (flat (low, high, interior) triples, one per
//                                                      dim; operands: x, 0-d padding value of x's dtype)
//   concatenate       dimension                       (N >= 1 operands of one dtype and rank)
//   rev               dimensions                      (sorted, distinct)
//   iota              dtype, shape, dimension         (no operands; values 0..shape[dimension]-1)
//
// Autodiff: every primitive but iota is linear (its JVP binds it on the tangents), with JAX's
// transpose rules. A linear input reaches a transpose rule without a value; the rules read its
// shape from transpose_input_aval (core/rules.h), so the params are JAX's and print as JAX's.
//
// Batching (vmap), as JAX's lax rules: the batch axis stays where it is whenever the primitive
// can carry it there, the axis params shifted past it (broadcast_in_dim: placed after the output
// dim of the operand dim before it; transpose, slice, rev, pad with an unmapped value: in place;
// squeeze: moved left by the squeezed dims before it; concatenate: the first mapped operand's
// axis, unmapped operands broadcast there). reshape moves it to the front first; pad with a
// mapped padding value selects each example's value by a padded mask. iota has no operands and
// no rule (no_rule).

#include "core/primitive.h"

namespace jx {

extern const Primitive broadcast_in_dim_p;
extern const Primitive reshape_p;
extern const Primitive transpose_p;
extern const Primitive squeeze_p;
extern const Primitive slice_p;
extern const Primitive pad_p;
extern const Primitive concatenate_p;
extern const Primitive rev_p;
extern const Primitive iota_p;

}  // namespace jx
