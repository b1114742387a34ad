#pragma once
// The reduce primitives (JAX's lax reductions, arg-reductions and cumulative scans) and the
// numpy-level reductions built on them. Kernels: backends/cpu/reduce.cpp.

#include "core/primitive.h"

namespace jx {

/// Monoid reductions over `axes` (param "axes": sorted, distinct, each in [0, ndim)). The output
/// drops the reduced dims and keeps the input's dtype and weak type. An empty reduction gives the
/// monoid's identity (0, 1, -inf / lowest, +inf / highest, true, false).
/// reduce_sum / reduce_prod: numeric dtypes; reduce_max / reduce_min: any dtype (NaN propagates);
/// reduce_and / reduce_or: bool (logical) or integers (bitwise).
/// Derivatives: reduce_sum linear; reduce_max/min pick the tangent at the extreme, ties averaged;
/// reduce_prod exact at zeros; reduce_and/or zero tangents.
/// Batching: the batch axis stays in place (no transpose); the reduced axes are shifted past it
/// and the output's batch axis moves left by the number of reduced axes before it.
extern const Primitive reduce_sum_p, reduce_prod_p, reduce_max_p, reduce_min_p, reduce_and_p, reduce_or_p;

/// Index of the first maximum / minimum along one axis (params "axes" = (axis,), "index_dtype"
/// int32 or int64). A NaN counts as the extreme value, as in JAX. The axis must be non-empty.
/// Batching: as the monoid reductions (the axis is shifted past the batch axis).
extern const Primitive argmax_p, argmin_p;

/// Inclusive running sum / product along "axis" (from the end when "reverse"); numeric dtypes,
/// output aval = input aval. cumsum is linear (transpose: cumsum in the other direction);
/// cumprod's JVP is exact at zeros.
/// Batching: "axis" is shifted past the batch axis, which stays where it is in the output.
extern const Primitive cumsum_p, cumprod_p;

}  // namespace jx
