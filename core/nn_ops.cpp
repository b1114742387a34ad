// The neural-network elementwise ops (jax.nn): softmax, log_softmax, relu, gelu. All are
// compositions of existing primitives, staged as JAX stages them.

#include <cmath>
#include <numbers>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"

namespace jx {

namespace {

int64_t softmax_axis(const char* op, const Array& x, int axis) {
  const int64_t ndim = x.ndim();
  if (axis < -ndim || axis >= ndim) {
    throw_error<ShapeError>("[", op, "] axis ", axis, " is out of range for ", x.aval().str());
  }
  return axis < 0 ? axis + ndim : axis;
}

Array to_inexact(const Array& x) {
  return is_floating(x.dtype()) ? x : detail::convert(x, TypeInfo{default_float, x.weak_type()});
}

// A constant with x's exact type, so arithmetic with it stages no conversion.
Array like(double value, const Array& x) { return detail::scalar_array(value, x.dtype(), x.weak_type()); }

// max over `axis` kept as a size-1 dim, with -inf for an empty axis (jnp.max(..., initial=-inf)),
// behind stop_gradient: the shift does not change the result, only its numerics.
Array shift_for(const Array& x, int64_t axis) {
  Array m = lax::reduce_max(x, {axis});
  return lax::stop_gradient(expand_dims(m, {static_cast<int>(axis)}));
}

}  // namespace

// softmax = exp(x - max) / sum(exp(x - max)).
Array softmax(const Array& x, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    int64_t a = softmax_axis("softmax", x, axis);
    Array v = to_inexact(x);
    Array unnormalized = exp(v - shift_for(v, a));
    return unnormalized / sum(unnormalized, {static_cast<int>(a)}, /*keepdims=*/true);
  });
}

// log_softmax = (x - max) - log(sum(exp(x - max))).
Array log_softmax(const Array& x, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    int64_t a = softmax_axis("log_softmax", x, axis);
    Array v = to_inexact(x);
    Array shifted = v - shift_for(v, a);
    return shifted - log(sum(exp(shifted), {static_cast<int>(a)}, /*keepdims=*/true));
  });
}

// relu = where(x <= 0, 0, x): max(x, 0) with NaN propagated, and a derivative of exactly 0 at 0
// (JAX's custom JVP where(x > 0, g, 0)); maximum's JVP would split the tie and give 1/2 there.
Array relu(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    if (x.dtype() == DType::bool_) return maximum(x, Array(0));  // promotes to int32, as JAX
    Array zero = like(0.0, x);
    return where(less_equal(x, zero), zero, x);
  });
}

// approximate: x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)));
// exact: x * (erf(x / sqrt(2)) + 1) / 2.
Array gelu(const Array& x, bool approximate, const Loc& loc) {
  return at_loc(loc, [&] {
    Array v = to_inexact(x);
    if (approximate) {
      Array inner = like(std::sqrt(2.0 / std::numbers::pi), v) * (v + like(0.044715, v) * lax::integer_pow(v, 3));
      Array cdf = like(0.5, v) * (like(1.0, v) + tanh(inner));
      return v * cdf;
    }
    return v * (erf(v / like(std::numbers::sqrt2, v)) + like(1.0, v)) / like(2.0, v);
  });
}

}  // namespace jx
