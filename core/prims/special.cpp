// Special-function primitives (erfc, erf_inv, log_ndtr, bessel_i0e, bessel_i1e): shape rules
// from the elementwise family, JVP rules from jx primitives, and the public ops.
// Kernels: backends/cpu/special.cpp.

#include "core/prims/special.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/rules.h"
#include "core/trace.h"

namespace jx {

namespace {

using detail::elementwise_unary;
using detail::float_dtype;

// ---- lax-level helpers for the rules (one dtype; 0-d constants broadcast) ---------------------

Array cst(double v, const Array& like) { return detail::scalar_array(v, like.dtype(), like.weak_type()); }
Array lmul(const Array& a, const Array& b) { return bind1(mul_p, {a, b}); }
Array ladd(const Array& a, const Array& b) { return bind1(add_p, {a, b}); }
Array lsub(const Array& a, const Array& b) { return bind1(sub_p, {a, b}); }
Array lexp(const Array& a) { return bind1(exp_p, {a}); }
Array lsquare(const Array& a) { return bind1(square_p, {a}); }
// select_n(pred, on_false, on_true) with a 0-d case broadcast to pred's shape.
Array lselect(const Array& pred, const Array& on_false, const Array& on_true) {
  auto fit = [&](const Array& v) { return v.shape() == pred.shape() ? v : lax::broadcast_in_dim(v, pred.shape(), {}); };
  return bind1(select_n_p, {pred, fit(on_false), fit(on_true)});
}

PrimitiveBuilder float_unary(const std::string& name) { return elementwise_unary(name, float_dtype, "a floating-point"); }

// JVP of a unary primitive from (t, x, y = f(x)); t is never a symbolic zero here.
using UnaryRule = Array (*)(const Array& t, const Array& x, const Array& y);
JvpRule unary_jvp(UnaryRule rule) {
  return [rule](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params&) -> std::vector<Array> {
    if (!tangents[0].defined()) return {Array()};
    return {rule(tangents[0], primals[0], outputs[0])};
  };
}

BatchRule ew_batch(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& params) {
    return elementwise_batch_rule(*prim)(args, dims, params);
  };
}

constexpr double kPi = std::numbers::pi;

}  // namespace

// d erfc x = -2/sqrt(pi) exp(-x^2) dx.
const Primitive erfc_p = float_unary("erfc")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                               const double c = -2.0 / std::sqrt(kPi);
                               return lmul(t, lmul(cst(c, x), lexp(bind1(neg_p, {lsquare(x)}))));
                             }))
                             .batch(ew_batch(&erfc_p))
                             .build();

// d erf_inv x = sqrt(pi)/2 exp(erf_inv(x)^2) dx.
const Primitive erf_inv_p = float_unary("erf_inv")
                                .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                                  return lmul(t, lmul(cst(std::sqrt(kPi) / 2, x), lexp(lsquare(y))));
                                }))
                                .batch(ew_batch(&erf_inv_p))
                                .build();

// d log_ndtr x = phi(x) / ndtr(x) dx = exp(-x^2/2 - log_ndtr(x)) / sqrt(2 pi) dx: the ratio is
// taken in log space, so it stays finite far into the lower tail (where it approaches -x).
const Primitive log_ndtr_p =
    float_unary("log_ndtr")
        .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
          Array log_ratio = lsub(lmul(cst(-0.5, x), lsquare(x)), y);
          return lmul(t, lmul(cst(1.0 / std::sqrt(2 * kPi), x), lexp(log_ratio)));
        }))
        .batch(ew_batch(&log_ndtr_p))
        .build();

// d i0e x = (i1e(x) - sign(x) i0e(x)) dx.
const Primitive bessel_i0e_p = float_unary("bessel_i0e")
                                   .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                                     Array d = lsub(bind1(bessel_i1e_p, {x}), lmul(bind1(sign_p, {x}), y));
                                     return lmul(t, d);
                                   }))
                                   .batch(ew_batch(&bessel_i0e_p))
                                   .build();

// d i1e x = (i0e(x) - i1e(x) (sign(x) + 1/x)) dx, and 1/2 at x = 0 (as JAX: |x| <= eps uses
// the limit, with a safe x in the untaken branch so its derivatives stay finite).
const Primitive bessel_i1e_p =
    float_unary("bessel_i1e")
        .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
          const double eps = x.dtype() == DType::float64 ? std::numeric_limits<double>::epsilon()
                                                         : static_cast<double>(std::numeric_limits<float>::epsilon());
          Array not_tiny = bind1(gt_p, {bind1(abs_p, {x}), cst(eps, x)});
          Array safe_x = lselect(not_tiny, cst(eps, x), x);
          Array recip = bind1(integer_pow_p, {safe_x}, Params{{"y", int64_t{-1}}});
          Array d = lsub(bind1(bessel_i0e_p, {safe_x}), lmul(y, ladd(bind1(sign_p, {safe_x}), recip)));
          return lmul(t, lselect(not_tiny, cst(0.5, x), d));
        }))
        .batch(ew_batch(&bessel_i1e_p))
        .build();

// ---- public ops -------------------------------------------------------------------------------

namespace {
Array unary_float(const Primitive& prim, const char* op, const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!x.defined()) throw_error<ValueError>("[", op, "] the operand is an undefined Array");
    return bind1(prim, detail::promote_to_inexact(op, {x}));
  });
}
}  // namespace

Array erfc(const Array& x, const Loc& loc) { return unary_float(erfc_p, "erfc", x, loc); }
Array erf_inv(const Array& x, const Loc& loc) { return unary_float(erf_inv_p, "erf_inv", x, loc); }
Array log_ndtr(const Array& x, const Loc& loc) { return unary_float(log_ndtr_p, "log_ndtr", x, loc); }
Array i0e(const Array& x, const Loc& loc) { return unary_float(bessel_i0e_p, "i0e", x, loc); }
Array i1e(const Array& x, const Loc& loc) { return unary_float(bessel_i1e_p, "i1e", x, loc); }

Array ndtr(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!x.defined()) throw_error<ValueError>("[ndtr] the operand is an undefined Array");
    Array v = detail::promote_to_inexact("ndtr", {x})[0];
    return lmul(cst(0.5, v), bind1(erfc_p, {lmul(v, cst(-1.0 / std::numbers::sqrt2, v))}));
  });
}

}  // namespace jx
