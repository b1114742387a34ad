#pragma once
// The dot primitives: dot_general (batched contraction, as XLA's DotGeneral). Public ops built on
// it (matmul, dot, outer, tensordot, trace, einsum) live in core/linalg_ops.cpp.
// Kernels: backends/cpu/dot.cpp.

#include "core/primitive.h"

namespace jx {

/// dot_general[lhs_contracting, rhs_contracting, lhs_batch, rhs_batch, preferred_element_type?]:
/// operands of one dtype; output dims are the batch dims (in lhs_batch order), then the lhs free
/// dims, then the rhs free dims (each in ascending order). preferred_element_type, when present,
/// is the output dtype (same kind as the operands: float->float, int->int).
extern const Primitive dot_general_p;

}  // namespace jx
