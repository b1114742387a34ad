#pragma once
// The indexing primitives (XLA semantics): dynamic_slice, dynamic_update_slice, gather and the
// scatter family. Shape rules and the lax/numpy ops: core/prims/indexing.cpp,
// core/indexing_ops.cpp. Kernels: backends/cpu/indexing.cpp.

#include "core/primitive.h"

namespace jx {

/// dynamic_slice(operand, *start_indices)[slice_sizes]: one integer 0-d start per operand dim
/// (all of one dtype); starts are clamped into [0, dim - size] so the slice always fits.
extern const Primitive dynamic_slice_p;
/// dynamic_update_slice(operand, update, *start_indices): starts clamped likewise.
extern const Primitive dynamic_update_slice_p;
/// gather(operand, indices)[offset_dims, collapsed_slice_dims, start_index_map, slice_sizes]:
/// XLA's general gather with index_vector_dim = the last dim of `indices`; starts are clamped
/// (JAX's "clip" mode).
extern const Primitive gather_p;
/// scatter*(operand, indices, updates)[update_window_dims, inserted_window_dims,
/// scatter_dims_to_operand_dims]: XLA scatter with index_vector_dim = the last dim of
/// `indices`; an update window that does not fit the operand is dropped whole (JAX's
/// "fill/drop" mode). Duplicate indices combine (scatter: the last update wins).
extern const Primitive scatter_p, scatter_add_p, scatter_mul_p, scatter_min_p, scatter_max_p;
//
// Under grad (rules in core/prims/indexing.cpp, as JAX's): dynamic_slice and gather are linear in
// the operand (transposes: dynamic_update_slice / scatter_add of the cotangent into zeros, at the
// clamped positions); dynamic_update_slice, scatter_add and scatter are linear in (operand,
// update[s]); scatter_mul is linear in the operand. Index operands get no tangents. A dropped
// scatter update gets a zero cotangent; with duplicate indices scatter's cotangent reaches only the
// update left in the output (the last one). scatter_min/max share a tangent equally among tied
// values. scatter_mul's derivative handles duplicates and zero updates exactly to first order;
// its second derivative misses the cross term d2/du_j du_k of two updates landing on one position
// when u_j is exactly zero (it reads 0 there).
// A linear input reaches a transpose rule without a value; the rules read its shape from
// transpose_input_aval (core/rules.h), so no shape is recorded on the equations.
//
// Under vmap (batching rules in core/prims/indexing.cpp, as JAX's): gather with only the operand
// mapped gains an offset (window) dim over the batch; with only the indices mapped, a leading
// index batch dim; with both, an iota over the batch is prepended to the index vectors (a
// collapsed operand dim). The scatters do the same with an update window dim / an inserted window
// dim. dynamic_slice / dynamic_update_slice with unmapped starts stay themselves (a start of 0 and
// the full batch extent on the batch axis); with mapped starts they become a gather / a scatter
// (the update's starts clamped first, as dynamic_update_slice clamps rather than drops).

namespace detail {
/// An integer index (any shape) converted to `dtype`, negative values counted from the end of a
/// dimension of size `n` (`where(i < 0, i + n, i)`, as JAX; a concrete C++ number is
/// normalized statically). Out-of-range values are left for the primitive to clamp or drop.
Array normalize_index(const Array& i, int64_t n, DType dtype);
/// dynamic_slice / dynamic_update_slice start indices: one integer 0-d Array per dimension of
/// `x`, converted to their common dtype and normalized as above.
std::vector<Array> normalize_start_indices(const char* op, const Array& x, const std::vector<Array>& starts);
}  // namespace detail

}  // namespace jx
