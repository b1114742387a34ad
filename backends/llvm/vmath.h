#pragma once
// Branch-free LLVM IR for libm-class math functions (exp, log, tanh, sin, erf, pow, ...), built
// from selects, integer bit operations, FMA and polynomials, so that a loop calling them stays
// vectorizable. Only backends/llvm includes this header.

#include <string_view>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>

namespace jx::llvmgen {

/// Emits `fn(args...)` at the builder's insertion point and returns the result.
///
/// `fn` is a jx primitive name: exp, exp2, expm1, log, log2, log1p, tanh, logistic, sin, cos,
/// tan, atan, asin, acos, sinh, cosh, asinh, acosh, atanh, erf, erfc, cbrt (one argument) or
/// atan2, pow (two). The arguments are float or double scalars, or fixed vectors of them, all of
/// the same type; the result has that type.
///
/// The code has no branches and no calls, only vectorizable intrinsics (fma, fabs, copysign,
/// rint, floor, sqrt) and, for double sin/cos/tan of |x| >= 2^45, a gather from a 2 KB table of
/// 2/pi bits (a load for scalars); the loop vectorizer widens it. No fast-math: NaN, +-inf, +-0,
/// subnormal inputs and the overflow/underflow thresholds behave as in glibc, including C99's
/// special cases of pow and atan2. Accuracy (max error against correctly rounded results, as
/// measured by tests/jit/vmath_test.cpp): <= 1 ulp for most functions, <= 1.5 ulp for expm1,
/// log2 (float), tanh and double tan, asinh, acosh, atanh, erfc, atan2, pow.
/// float exp, exp2, expm1, log, log2, log1p, tanh, logistic and erf use float arithmetic; the
/// other float functions are evaluated in double and rounded once. The code assumes a target
/// with FMA (llvm.fma is exact by definition; without hardware FMA it becomes a libm call).
///
/// Returns nullptr for an unknown name, a wrong number of arguments or a non-float type.
llvm::Value* emit_math(llvm::IRBuilder<>& b, std::string_view fn, llvm::ArrayRef<llvm::Value*> args);

/// The number of arguments `fn` takes (1 or 2), or 0 when emit_math does not know it.
int math_arity(std::string_view fn);

}  // namespace jx::llvmgen
