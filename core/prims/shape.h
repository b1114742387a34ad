#pragma once
// Shape primitives: broadcast_in_dim, reshape, transpose, squeeze, expand_dims, slice, pad,
// concatenate, rev, iota. Kernels: backends/cpu/shape.cpp.

#include "core/primitive.h"

namespace jx {

extern const Primitive broadcast_in_dim_p;

}  // namespace jx
