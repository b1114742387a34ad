#pragma once
// The window primitives: reduce_window_sum / reduce_window_max / reduce_window_min (JAX's
// monoid reductions over sliding windows). Public ops: lax::reduce_window, jx::max_pool,
// jx::avg_pool. Kernels: backends/cpu/window.cpp.

#include "core/primitive.h"

namespace jx {

/// Params: window_dimensions, window_strides, padding (low, high per dim), base_dilation,
/// window_dilation (one entry per operand dim each). Padding and the holes of base dilation
/// hold the monoid's identity. Output dim: (padded - dilated_window) / stride + 1, or 0.
extern const Primitive reduce_window_sum_p, reduce_window_max_p, reduce_window_min_p;

}  // namespace jx
