#pragma once
// Internal: eager evaluation of primitives on float16/bfloat16 arrays, which are storage types.
// The CPU kernels are instantiated for the six compute types only; a kernel registered for the
// CPU is wrapped so that 16-bit float operands are widened to float32 (exactly), the float32
// kernel runs, and 16-bit float results are rounded back to nearest even: one rounding per
// primitive, as jit's generated code does. convert_element_type and bitcast_convert_type convert
// directly instead (one rounding from the exact source value: float64 -> float16 never goes
// through float32).

#include <string>

#include "core/primitive.h"

namespace jx::detail {

/// `kernel` (a CPU kernel for the compute types) extended to float16/bfloat16 operands and
/// results. Arrays of other dtypes reach `kernel` unchanged, with no copies.
Kernel with_half_storage(const Primitive& prim, Kernel kernel);

/// Copies `x` into `out` (same shape, any two dtypes) converting each element as
/// convert_element_type does; one of them is float16 or bfloat16.
void convert_half_elements(const Array& x, const Array& out);

/// The shortest decimal text that reads back as the same float16/bfloat16 value (numpy's repr
/// digits: positional for 1e-4 <= |v| < 1e16, else scientific), e.g. "0.1", "65500", "6e-08".
/// `v` must be exactly representable in `dtype`; NaN and infinities are "nan", "inf", "-inf".
std::string format_half(float v, DType dtype);

}  // namespace jx::detail
