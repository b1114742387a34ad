#pragma once
// Special functions in the elementwise family (beyond erf, lgamma and digamma, which live in
// core/prims/elementwise.h): erfc, erf_inv, log_ndtr, bessel_i0e, bessel_i1e. Each is a unary
// floating-point primitive with a JVP rule written with jx primitives (so derivatives of any
// order work) and the generic elementwise batching rule. Kernels: backends/cpu/special.cpp.

#include "core/primitive.h"

namespace jx {

/// erfc(x) = 1 - erf(x), accurate where erf(x) is close to 1. d erfc = -2/sqrt(pi) exp(-x^2).
extern const Primitive erfc_p;
/// The inverse of erf on (-1, 1); +-inf at +-1, NaN outside [-1, 1].
/// d erf_inv(x) = sqrt(pi)/2 exp(erf_inv(x)^2).
extern const Primitive erf_inv_p;
/// log of the standard normal CDF, accurate far into both tails (asymptotic series below
/// -20; float is computed in double). d log_ndtr(x) = exp(-x^2/2 - log_ndtr(x)) / sqrt(2 pi).
extern const Primitive log_ndtr_p;
/// Exponentially scaled modified Bessel functions of the first kind: exp(-|x|) I0(x) and
/// exp(-|x|) I1(x) (Cephes' Chebyshev expansions).
extern const Primitive bessel_i0e_p, bessel_i1e_p;

/// The public ops promote integer and bool inputs to the default float (as jnp).
Array erfc(const Array& x, const Loc& loc = Loc::current());
Array erf_inv(const Array& x, const Loc& loc = Loc::current());
Array log_ndtr(const Array& x, const Loc& loc = Loc::current());
/// The standard normal CDF, 0.5 * erfc(-x / sqrt(2)).
Array ndtr(const Array& x, const Loc& loc = Loc::current());
Array i0e(const Array& x, const Loc& loc = Loc::current());
Array i1e(const Array& x, const Loc& loc = Loc::current());

}  // namespace jx
