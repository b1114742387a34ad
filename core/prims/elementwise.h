#pragma once
// Elementwise primitives (lax level: operands of one dtype and one shape, or a 0-d operand
// broadcast against the other), and the numpy-layer helpers that promote and broadcast.

#include <functional>
#include <span>
#include <vector>

#include "core/primitive.h"

namespace jx {

extern const Primitive add_p, sub_p, mul_p, div_p, rem_p, neg_p, max_p, min_p, pow_p, atan2_p;
extern const Primitive exp_p, log_p, log1p_p, expm1_p, sin_p, cos_p, tan_p, tanh_p, sinh_p, cosh_p,
    asin_p, acos_p, atan_p, sqrt_p, rsqrt_p, square_p, abs_p, sign_p, floor_p, ceil_p, round_p, erf_p,
    lgamma_p, digamma_p, logistic_p, is_finite_p, integer_pow_p;
extern const Primitive eq_p, ne_p, lt_p, le_p, gt_p, ge_p, and_p, or_p, not_p;
extern const Primitive select_n_p, convert_element_type_p, stop_gradient_p;
extern const Primitive xor_p, shift_left_p, shift_right_logical_p, shift_right_arithmetic_p, bitcast_convert_type_p;
// Parameters and contracts beyond "same dtype, same shape (or one 0-d operand)":
//  - eq/ne/lt/le/gt/ge: any dtype, bool output. and/or/not: bool or integer (bitwise on ints).
//  - is_finite: floating input, bool output.
//  - integer_pow[y]: numeric input; y < 0 is rejected for integers.
//  - round[rounding_method]: 0 = half away from zero (lax.round's default), 1 = half to even.
//  - select_n(pred, *cases): pred is bool (2 cases) or int32 (case index), with the cases'
//    shape or 0-d; cases share dtype and shape; case i is taken where pred == i (false = 0).
//    Out-of-range int32 indices are clamped.
//  - stop_gradient: identity (its JVP is zero).
//  - xor: bool or integer (bitwise on ints). Zero tangents.
//  - shift_left / shift_right_logical / shift_right_arithmetic: integer operands (not bool); the
//    shift amount is read as unsigned, as XLA: amounts >= the bit width (or negative) give 0,
//    or the sign fill for shift_right_arithmetic (which shifts the bit pattern arithmetically on
//    unsigned types too). Zero tangents.
//  - bitcast_convert_type[new_dtype]: reinterprets the bits of a non-bool operand as new_dtype
//    of the same width (int32/uint32/float32, int64/float64); same shape. Zero tangent (the bit
//    pattern has no meaningful derivative).

/// numpy's bitwise_xor (^): bool or integer operands, promoted and broadcast.
Array bitwise_xor(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// numpy's left_shift (<<): integer operands (bools count as int32), promoted and broadcast.
Array left_shift(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// numpy's right_shift (>>): arithmetic for signed types, logical for unsigned ones.
Array right_shift(const Array& a, const Array& b, const Loc& loc = Loc::current());

namespace lax {
Array shift_left(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array shift_right_logical(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array shift_right_arithmetic(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// Reinterprets x's bits as `new_dtype` (same bit width; not bool).
Array bitcast_convert_type(const Array& x, DType new_dtype, const Loc& loc = Loc::current());
}  // namespace lax

/// Exact-match overloads next to ops.h's `operator!(const ArrayArg&)` and
/// `operator&&/||(const Array&, const ArrayArg&)`: Array's explicit operator bool makes the
/// built-in `!x` and `x && true` equally good candidates, so these settle the overload.
/// (They cannot carry the caller's line: errors name the op only.)
Array operator!(const Array& x);
Array operator&&(const Array& a, bool b);
Array operator||(const Array& a, bool b);

namespace detail {

using DTypePredicate = bool (*)(DType);
bool any_dtype(DType);
bool numeric_dtype(DType);  // not bool
bool float_dtype(DType);
bool int_or_bool_dtype(DType);
bool signed_or_float_dtype(DType);  // abs: signed integers and floats

/// Builder for a unary primitive whose output aval equals its input's; rejects dtypes outside
/// `allowed` with a DTypeError naming `what` ("a floating-point", ...).
PrimitiveBuilder elementwise_unary(const std::string& name, DTypePredicate allowed, const char* what);
/// Builder for a binary primitive: equal dtypes, equal shapes or one 0-d operand; the output
/// has that dtype (or `out_dtype` when set, as for comparisons) and is weak when both inputs are.
PrimitiveBuilder elementwise_binary(const std::string& name, DTypePredicate allowed, const char* what,
                                    std::optional<DType> out_dtype = std::nullopt);

/// The promoted type of the arguments on JAX's lattice (weak types honoured).
TypeInfo result_type(std::span<const Array> args);
/// Converts `x` to `t` (no-op when it already has that dtype and weakness).
Array convert(const Array& x, TypeInfo t);
/// Broadcasts `x` to `shape` with numpy rules (no-op when equal; 0-d operands are left alone
/// when `keep_scalars`, since the binary primitives take them as they are).
Array broadcast_to_shape(const Array& x, const Shape& shape, bool keep_scalars);
/// numpy semantics for an n-ary elementwise op: promote all args to one type, broadcast to one
/// shape. `op` names the op in errors.
std::vector<Array> promote_and_broadcast(const char* op, std::vector<Array> args, bool keep_scalars = true);
/// Like promote_and_broadcast, then converts integer/bool results to the default float (for
/// ops like sin or true division that only make sense on floats).
std::vector<Array> promote_to_inexact(const char* op, std::vector<Array> args, bool keep_scalars = true);
/// Like promote_and_broadcast, then converts bool results to int32 (numpy's arithmetic on
/// bools: floor_divide, mod, power, square).
std::vector<Array> promote_numeric(const char* op, std::vector<Array> args, bool keep_scalars = true);

}  // namespace detail
}  // namespace jx
