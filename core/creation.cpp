// Creation functions: zeros, ones, full(_like), scalar, arange, linspace, eye. Fills are
// broadcast_in_dim of a 0-d value, arange(n) and eye are iota-based, so they stage under tracing as
// in JAX; arange with a start/step and linspace are host-computed constants (as JAX's concrete path).

#include <cmath>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/prims/shape.h"
#include "core/trace.h"

namespace jx {

namespace {

void check_shape(const char* op, const Shape& shape) {
  for (auto d : shape) {
    if (d < 0) throw_error<ShapeError>("[", op, "] negative dimension in shape ", shape_str(shape));
  }
}

// `value` as type `t`. A concrete 0-d value is converted on the host, so that under tracing the
// fill shows up as a literal (as JAX's Python scalars) rather than a convert_element_type.
Array convert_fill(const Array& value, TypeInfo t, const char* op) {
  if (value.dtype() == t.dtype && value.weak_type() == t.weak) return value;
  // A C++ number converts from its exact value (0.1 to float64 or float16: one rounding).
  if (!value.is_tracer() && value.impl().has_exact_scalar()) return detail::convert_weak_scalar(value, t.dtype, t.weak);
  if (!value.is_tracer() && value.ndim() == 0) {
    Array out = detail::empty_array(AbstractValue{t.dtype, {}, t.weak});
    detail::copy_to_host(value, t.dtype, out.raw_data(), op, Loc{});
    return out;
  }
  return detail::convert(value, t);
}

Array fill(const char* op, const Shape& shape, const Array& value, TypeInfo t) {
  if (!value.defined()) throw_error<ValueError>("[", op, "] the fill value is an undefined Array");
  check_shape(op, shape);
  Array v = convert_fill(value, t, op);
  if (v.ndim() == 0) return lax::broadcast_in_dim(v, shape, {});
  return broadcast_to(v, shape);
}

}  // namespace

Array full(const Shape& shape, const Array& value, std::optional<DType> dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!value.defined()) throw_error<ValueError>("[full] the fill value is an undefined Array");
    TypeInfo t = dtype ? TypeInfo{*dtype, false} : TypeInfo{value.dtype(), value.weak_type()};
    return fill("full", shape, value, t);
  });
}

Array zeros(const Shape& shape, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] { return fill("zeros", shape, Array(0), TypeInfo{dtype, false}); });
}

Array ones(const Shape& shape, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] { return fill("ones", shape, Array(1), TypeInfo{dtype, false}); });
}

Array scalar(double value, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] { return detail::scalar_array(value, dtype, false); });
}

Array full_like(const Array& x, const Array& value, std::optional<DType> dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!x.defined()) throw_error<ValueError>("[full_like] the operand is an undefined Array");
    TypeInfo t = dtype ? TypeInfo{*dtype, false} : TypeInfo{x.dtype(), x.weak_type()};
    return fill("full_like", x.shape(), value, t);
  });
}

Array zeros_like(const Array& x, std::optional<DType> dtype, const Loc& loc) {
  return at_loc(loc, [&] { return full_like(x, Array(0), dtype); });
}

Array ones_like(const Array& x, std::optional<DType> dtype, const Loc& loc) {
  return at_loc(loc, [&] { return full_like(x, Array(1), dtype); });
}

Array arange(int64_t stop, const Loc& loc) {
  return at_loc(loc, [&] { return lax::iota(int32, {std::max<int64_t>(stop, 0)}, 0); });
}

namespace {
// A host-computed constant (as JAX's np.arange / concrete linspace).
Array from_doubles(const std::vector<double>& v, DType dtype) {
  Array d = array(v, Shape{static_cast<int64_t>(v.size())});
  Array out = detail::empty_array(AbstractValue{dtype, d.shape(), false});
  detail::copy_to_host(d, dtype, out.raw_data(), "arange", Loc{});
  return out;
}
bool integral(double v) { return std::isfinite(v) && std::floor(v) == v; }
}  // namespace

Array arange(double start, double stop, double step, std::optional<DType> dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    if (step == 0) throw_error<ValueError>("[arange] step must not be zero");
    if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
      throw_error<ValueError>("[arange] start, stop and step must be finite, got ", start, ", ", stop, ", ", step);
    }
    DType dt = dtype.value_or(integral(start) && integral(stop) && integral(step) ? int32 : float32);
    if (dt == bool_) throw_error<DTypeError>("[arange] needs a numeric dtype, got bool");
    const double len = std::ceil((stop - start) / step);
    const int64_t n = len > 0 ? static_cast<int64_t>(len) : 0;
    if (start == 0 && step == 1) return lax::iota(dt, {n}, 0);
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
    return from_doubles(v, dt);
  });
}

Array linspace(double start, double stop, int64_t num, bool endpoint, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    if (num < 0) throw_error<ValueError>("[linspace] number of samples must be non-negative, got ", num);
    if (dtype == bool_) throw_error<DTypeError>("[linspace] needs a numeric dtype, got bool");
    std::vector<double> v(static_cast<size_t>(num));
    const int64_t div = endpoint ? num - 1 : num;
    for (int64_t i = 0; i < num; ++i) {
      double s = div > 0 ? static_cast<double>(i) / static_cast<double>(div) : 0.0;
      v[i] = start * (1 - s) + stop * s;
    }
    if (endpoint && num > 1) v[num - 1] = stop;
    if (!is_floating(dtype)) {
      for (auto& e : v) e = std::floor(e);  // as JAX: integer linspace rounds toward -inf
    }
    return from_doubles(v, dtype);
  });
}

Array eye(int64_t n, std::optional<int64_t> m_opt, int64_t k, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    const int64_t m = m_opt.value_or(n);
    if (n < 0 || m < 0) throw_error<ShapeError>("[eye] negative dimension: n = ", n, ", m = ", m);
    // As JAX's _eye: (row + k == column), converted.
    Shape s{n, m};
    return equal(lax::iota(int32, s, 0) + Array(k), lax::iota(int32, s, 1)).astype(dtype);
  });
}

}  // namespace jx
