// The reduce primitives (monoid reductions, arg-reductions, cumulative scans): shape rules, and
// the numpy-level reductions built on them (sum, mean, var, logsumexp, argmax, cumsum, ...).
// Kernels: backends/cpu/reduce.cpp.

#include "core/prims/reduce.h"

#include <algorithm>
#include <sstream>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"

namespace jx {

namespace {

using detail::DTypePredicate;

std::string axes_str(const std::vector<int64_t>& axes) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < axes.size(); ++i) os << (i ? ", " : "") << axes[i];
  os << (axes.size() == 1 ? ",)" : ")");
  return os.str();
}

// Axes of a lax-level reduction: each in [0, ndim), strictly increasing.
void check_axes(const std::string& name, const AbstractValue& x, const std::vector<int64_t>& axes) {
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= x.ndim()) {
      throw_error<ShapeError>("[", name, "] axis ", axes[i], " is out of range for ", x.str());
    }
    if (i > 0 && axes[i] <= axes[i - 1]) {
      throw_error<ShapeError>("[", name, "] axes must be sorted and distinct, got ", axes_str(axes), " for ",
                              x.str());
    }
  }
}

// reduce_sum, reduce_max, ...: drops the reduced dims, keeps dtype and weak type.
Primitive monoid_reduce(const std::string& name, DTypePredicate allowed, const char* what,
                        DType sample_dtype = DType::float32) {
  return PrimitiveBuilder(name)
      .shape_rule([name, allowed, what](std::span<const AbstractValue> in, const Params& p) {
        JX_CHECK(in.size() == 1, name, " takes one operand");
        const AbstractValue& x = in[0];
        if (!allowed(x.dtype)) throw_error<DTypeError>("[", name, "] needs ", what, " operand, got ", x.str());
        const auto& axes = p.get_ints("axes");
        check_axes(name, x, axes);
        AbstractValue out{x.dtype, {}, x.weak_type};
        for (int64_t d = 0; d < x.ndim(); ++d) {
          if (!std::binary_search(axes.begin(), axes.end(), d)) out.shape.push_back(x.shape[d]);
        }
        return std::vector<AbstractValue>{out};
      })
      .sample({AbstractValue{sample_dtype, {2, 3}}}, Params{{"axes", std::vector<int64_t>{1}}})
      .sample({AbstractValue{sample_dtype, {2, 3, 4}}}, Params{{"axes", std::vector<int64_t>{0, 2}}})
      .build();
}

bool and_or_dtype(DType d) { return d == DType::bool_ || is_integer(d); }

// argmax / argmin: one non-empty axis; the output drops it and has the index dtype.
Primitive arg_reduce(const std::string& name) {
  return PrimitiveBuilder(name)
      .shape_rule([name](std::span<const AbstractValue> in, const Params& p) {
        JX_CHECK(in.size() == 1, name, " takes one operand");
        const AbstractValue& x = in[0];
        const auto& axes = p.get_ints("axes");
        if (axes.size() != 1) {
          throw_error<ShapeError>("[", name, "] takes exactly one axis, got ", axes_str(axes), " for ", x.str());
        }
        check_axes(name, x, axes);
        if (x.shape[axes[0]] == 0) {
          throw_error<ShapeError>("[", name, "] the reduced axis ", axes[0], " of ", x.str(), " is empty");
        }
        DType index_dtype = p.get<DType>("index_dtype");
        if (index_dtype != DType::int32 && index_dtype != DType::int64) {
          throw_error<DTypeError>("[", name, "] index_dtype must be int32 or int64, got ", dtype_name(index_dtype));
        }
        AbstractValue out{index_dtype, {}, false};
        for (int64_t d = 0; d < x.ndim(); ++d) {
          if (d != axes[0]) out.shape.push_back(x.shape[d]);
        }
        return std::vector<AbstractValue>{out};
      })
      .sample({AbstractValue{float32, {2, 3}}},
              Params{{"axes", std::vector<int64_t>{1}}, {"index_dtype", DType::int32}})
      .build();
}

// cumsum / cumprod: output aval = input aval.
Primitive cumulative(const std::string& name) {
  return PrimitiveBuilder(name)
      .shape_rule([name](std::span<const AbstractValue> in, const Params& p) {
        JX_CHECK(in.size() == 1, name, " takes one operand");
        const AbstractValue& x = in[0];
        if (!detail::numeric_dtype(x.dtype)) {
          throw_error<DTypeError>("[", name, "] needs a numeric operand, got ", x.str());
        }
        int64_t axis = p.get_int("axis");
        if (axis < 0 || axis >= x.ndim()) {
          throw_error<ShapeError>("[", name, "] axis ", axis, " is out of range for ", x.str());
        }
        (void)p.get<bool>("reverse");
        return std::vector<AbstractValue>{x};
      })
      .sample({AbstractValue{float32, {2, 3}}}, Params{{"axis", int64_t{1}}, {"reverse", false}})
      .build();
}

}  // namespace

const Primitive reduce_sum_p = monoid_reduce("reduce_sum", detail::numeric_dtype, "a numeric");
const Primitive reduce_prod_p = monoid_reduce("reduce_prod", detail::numeric_dtype, "a numeric");
const Primitive reduce_max_p = monoid_reduce("reduce_max", detail::any_dtype, "any");
const Primitive reduce_min_p = monoid_reduce("reduce_min", detail::any_dtype, "any");
const Primitive reduce_and_p = monoid_reduce("reduce_and", and_or_dtype, "a bool or integer", DType::bool_);
const Primitive reduce_or_p = monoid_reduce("reduce_or", and_or_dtype, "a bool or integer", DType::bool_);
const Primitive argmax_p = arg_reduce("argmax");
const Primitive argmin_p = arg_reduce("argmin");
const Primitive cumsum_p = cumulative("cumsum");
const Primitive cumprod_p = cumulative("cumprod");

// ---- numpy-level reductions ------------------------------------------------------------------

namespace {

std::string int_axes_str(const Axes& axes) {
  return axes_str(std::vector<int64_t>(axes.begin(), axes.end()));
}

// Normalizes user axes (negative allowed; empty = all) into sorted distinct axes.
std::vector<int64_t> reduction_axes(const char* op, const Array& x, const Axes& axes) {
  const int64_t ndim = x.ndim();
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int a : axes) {
    if (a < -ndim || a >= ndim) throw_error<ShapeError>("[", op, "] axis ", a, " is out of range for ", x.aval().str());
    out.push_back(a < 0 ? a + ndim : a);
  }
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    throw_error<ShapeError>("[", op, "] repeated axis in ", int_axes_str(axes), " for ", x.aval().str());
  }
  return out;
}

int64_t single_axis(const char* op, const Array& x, int axis) {
  const int64_t ndim = x.ndim();
  if (axis < -ndim || axis >= ndim) {
    throw_error<ShapeError>("[", op, "] axis ", axis, " is out of range for ", x.aval().str());
  }
  return axis < 0 ? axis + ndim : axis;
}

Axes to_axes(const std::vector<int64_t>& axes) { return Axes(axes.begin(), axes.end()); }

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (auto a : axes) n *= shape[a];
  return n;
}

// keepdims: puts the reduced axes back as size-1 dims (JAX's lax.expand_dims, a broadcast_in_dim).
Array keep_dims(const Array& y, const Shape& x_shape, const std::vector<int64_t>& axes) {
  if (axes.empty()) return y;
  Shape shape = x_shape;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (std::binary_search(axes.begin(), axes.end(), d)) {
      shape[d] = 1;
    } else {
      dims.push_back(d);
    }
  }
  return lax::broadcast_in_dim(y, shape, dims);
}

Array reduce(const Primitive& prim, const Array& x, const std::vector<int64_t>& axes) {
  return bind1(prim, {x}, Params{{"axes", axes}});
}

// A scalar of `dtype`, so dividing by it keeps the other operand's dtype with no conversion.
Array typed_scalar(double value, DType dtype) { return detail::scalar_array(value, dtype, false); }

// sum and prod: bool counts as int32, as in numpy/JAX.
Array sum_like(const Primitive& prim, const char* op, const Array& x, const Axes& axes, bool keepdims) {
  auto ax = reduction_axes(op, x, axes);
  Array a = x.dtype() == DType::bool_ ? detail::convert(x, TypeInfo{default_int, false}) : x;
  Array y = reduce(prim, a, ax);
  return keepdims ? keep_dims(y, x.shape(), ax) : y;
}

// max and min: no identity, so an empty reduction is an error, as in numpy/JAX.
Array max_like(const Primitive& prim, const char* op, const Array& x, const Axes& axes, bool keepdims) {
  auto ax = reduction_axes(op, x, axes);
  for (auto a : ax) {
    if (x.shape()[a] == 0) {
      throw_error<ValueError>("[", op, "] zero-size array to reduction operation ", op,
                              " which has no identity (got ", x.aval().str(), ", axes ", axes_str(ax), ")");
    }
  }
  Array y = reduce(prim, x, ax);
  return keepdims ? keep_dims(y, x.shape(), ax) : y;
}

Array logical_like(const Primitive& prim, const char* op, const Array& x, const Axes& axes, bool keepdims) {
  auto ax = reduction_axes(op, x, axes);
  Array a = x.dtype() == DType::bool_ ? x : detail::convert(x, TypeInfo{DType::bool_, false});
  Array y = reduce(prim, a, ax);
  return keepdims ? keep_dims(y, x.shape(), ax) : y;
}

Array to_inexact(const Array& x) {
  return is_floating(x.dtype()) ? x : detail::convert(x, TypeInfo{default_float, false});
}

Array arg_like(const Primitive& prim, const char* op, const Array& x, int axis, bool keepdims) {
  int64_t a = single_axis(op, x, axis);
  if (x.shape()[a] == 0) {
    throw_error<ValueError>("[", op, "] attempt to get ", op, " of an empty sequence (axis ", a, " of ",
                            x.aval().str(), ")");
  }
  Array y = bind1(prim, {x}, Params{{"axes", std::vector<int64_t>{a}}, {"index_dtype", DType::int32}});
  return keepdims ? keep_dims(y, x.shape(), {a}) : y;
}

Array cumulative_op(const Primitive& prim, const char* op, const Array& x, int axis) {
  int64_t a = single_axis(op, x, axis);
  Array v = x.dtype() == DType::bool_ ? detail::convert(x, TypeInfo{default_int, false}) : x;
  return bind1(prim, {v}, Params{{"axis", a}, {"reverse", false}});
}

}  // namespace

Array sum(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return sum_like(reduce_sum_p, "sum", x, axes, keepdims); });
}

Array prod(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return sum_like(reduce_prod_p, "prod", x, axes, keepdims); });
}

Array max(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return max_like(reduce_max_p, "max", x, axes, keepdims); });
}

Array min(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return max_like(reduce_min_p, "min", x, axes, keepdims); });
}

Array all(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return logical_like(reduce_and_p, "all", x, axes, keepdims); });
}

Array any(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return logical_like(reduce_or_p, "any", x, axes, keepdims); });
}

// mean = reduce_sum / count, computed in the default float for integer input (as jnp.mean).
Array mean(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] {
    auto ax = reduction_axes("mean", x, axes);
    Array a = to_inexact(x);
    Array s = reduce(reduce_sum_p, a, ax);
    if (keepdims) s = keep_dims(s, x.shape(), ax);
    return divide(s, typed_scalar(static_cast<double>(reduced_count(x.shape(), ax)), s.dtype()));
  });
}

// var = sum((x - mean(x))^2) / max(n - ddof, 0), as numpy (ddof >= n gives inf or nan).
Array var(const Array& x, const Axes& axes, bool keepdims, int ddof, const Loc& loc) {
  return at_loc(loc, [&] {
    auto ax = reduction_axes("var", x, axes);
    Array a = to_inexact(x);
    Array centered = a - mean(a, to_axes(ax), /*keepdims=*/true);
    Array s = reduce(reduce_sum_p, centered * centered, ax);
    if (keepdims) s = keep_dims(s, x.shape(), ax);
    double n = static_cast<double>(std::max<int64_t>(reduced_count(x.shape(), ax) - ddof, 0));
    return divide(s, typed_scalar(n, s.dtype()));
  });
}

Array std(const Array& x, const Axes& axes, bool keepdims, int ddof, const Loc& loc) {
  return at_loc(loc, [&] {
    reduction_axes("std", x, axes);  // report bad axes as std's
    return sqrt(var(x, axes, keepdims, ddof));
  });
}

// logsumexp = log(sum(exp(x - m))) + m with m the max where finite (else 0), so rows of -inf
// give -inf and huge values do not overflow; an empty reduction gives -inf (as JAX).
Array logsumexp(const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] {
    auto ax = reduction_axes("logsumexp", x, axes);
    Array a = to_inexact(x);
    Array m = reduce(reduce_max_p, a, ax);
    m = lax::stop_gradient(where(isfinite(m), m, typed_scalar(0.0, m.dtype())));
    Array m_kept = keep_dims(m, x.shape(), ax);
    Array s = reduce(reduce_sum_p, exp(a - m_kept), ax);
    if (keepdims) return log(keep_dims(s, x.shape(), ax)) + m_kept;
    return log(s) + m;
  });
}

Array argmax(const Array& x, int axis, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return arg_like(argmax_p, "argmax", x, axis, keepdims); });
}

Array argmin(const Array& x, int axis, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] { return arg_like(argmin_p, "argmin", x, axis, keepdims); });
}

Array cumsum(const Array& x, int axis, const Loc& loc) {
  return at_loc(loc, [&] { return cumulative_op(cumsum_p, "cumsum", x, axis); });
}

Array cumprod(const Array& x, int axis, const Loc& loc) {
  return at_loc(loc, [&] { return cumulative_op(cumprod_p, "cumprod", x, axis); });
}

namespace lax {

namespace {
Array lax_reduce(const Primitive& prim, const Array& x, std::vector<int64_t> axes, const Loc& loc) {
  return at_loc(loc, [&] {
    std::sort(axes.begin(), axes.end());
    return bind1(prim, {x}, Params{{"axes", axes}});
  });
}
}  // namespace

Array reduce_sum(const Array& x, const std::vector<int64_t>& axes, const Loc& loc) {
  return lax_reduce(reduce_sum_p, x, axes, loc);
}
Array reduce_max(const Array& x, const std::vector<int64_t>& axes, const Loc& loc) {
  return lax_reduce(reduce_max_p, x, axes, loc);
}
Array reduce_min(const Array& x, const std::vector<int64_t>& axes, const Loc& loc) {
  return lax_reduce(reduce_min_p, x, axes, loc);
}
Array reduce_prod(const Array& x, const std::vector<int64_t>& axes, const Loc& loc) {
  return lax_reduce(reduce_prod_p, x, axes, loc);
}

}  // namespace lax

}  // namespace jx
