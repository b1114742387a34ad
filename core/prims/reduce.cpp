// The reduce primitives (monoid reductions, arg-reductions, cumulative scans): shape rules, and
// the numpy-level reductions built on them (sum, mean, var, logsumexp, argmax, cumsum, ...).
// Kernels: backends/cpu/reduce.cpp.

#include "core/prims/reduce.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"
#include "core/rules.h"

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
PrimitiveBuilder monoid_reduce(const std::string& name, DTypePredicate allowed, const char* what,
                        DType sample_dtype = DType::float32) {
  return std::move(PrimitiveBuilder(name)
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
      .sample({AbstractValue{sample_dtype, {2, 3, 4}}}, Params{{"axes", std::vector<int64_t>{0, 2}}}));
}

bool and_or_dtype(DType d) { return d == DType::bool_ || is_integer(d); }

// argmax / argmin: one non-empty axis; the output drops it and has the index dtype.
PrimitiveBuilder arg_reduce(const std::string& name) {
  return std::move(PrimitiveBuilder(name)
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
              Params{{"axes", std::vector<int64_t>{1}}, {"index_dtype", DType::int32}}));
}

// cumsum / cumprod: output aval = input aval.
PrimitiveBuilder cumulative(const std::string& name) {
  return std::move(PrimitiveBuilder(name)
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
      .sample({AbstractValue{float32, {2, 3}}}, Params{{"axis", int64_t{1}}, {"reverse", false}}));
}

}  // namespace

namespace {

// ---- differentiation rules --------------------------------------------------------------------

// The kept (non-reduced) dims of a reduction, in order: where the output's dims sit in the operand.
std::vector<int64_t> kept_dims(int64_t ndim, const std::vector<int64_t>& axes) {
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < ndim; ++d)
    if (!std::binary_search(axes.begin(), axes.end(), d)) dims.push_back(d);
  return dims;
}

// A reduction's output broadcast back to the operand's shape (size-1 reduced dims are not kept:
// broadcast_in_dim maps the output's dims onto the kept dims directly).
Array unreduce(const Array& y, const Shape& operand_shape, const std::vector<int64_t>& axes) {
  return lax::broadcast_in_dim(y, operand_shape, kept_dims(static_cast<int64_t>(operand_shape.size()), axes));
}

// A constant of x's exact type.
Array constant_like(double value, const Array& x) { return detail::scalar_array(value, x.dtype(), x.weak_type()); }

// reduce_sum is linear: its JVP is itself, its transpose broadcasts the cotangent back to the
// operand's shape.
std::vector<Array> reduce_sum_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                  std::span<const Array>, const Params& params) {
  return {bind1(reduce_sum_p, {instantiate(tangents[0], primals[0].aval())}, params)};
}

std::vector<Array> reduce_sum_transpose(std::span<const Array> cts, std::span<const Array>, std::span<const bool>,
                                        const Params& params) {
  if (!cts[0].defined()) return {Array()};
  return {unreduce(cts[0], transpose_input_aval(0).shape, params.get_ints("axes"))};
}

// reduce_max / reduce_min (JAX's _reduce_chooser_jvp_rule): the tangent at the locations equal
// to the result, ties averaged: sum(t * [x == y]) / sum([x == y]).
std::vector<Array> reduce_chooser_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                      std::span<const Array> outputs, const Params& params) {
  const Array& x = primals[0];
  const auto& axes = params.get_ints("axes");
  Array t = instantiate(tangents[0], x.aval());
  Array at_extreme = lax::convert_element_type(equal(x, unreduce(outputs[0], x.shape(), axes)), t.dtype());
  Array counts = lax::reduce_sum(at_extreme, axes);
  return {divide(lax::reduce_sum(multiply(t, at_extreme), axes), counts)};
}

// reduce_prod (as JAX's _reduce_prod_jvp_rule): the JVP of a tree of pairwise products over the
// reduced elements, so a zero operand is handled exactly (no division by x). The reduced axes
// are moved to the front and flattened; each level multiplies the first half by the second
// (padded with the identity when odd), carrying (product, tangent) by the product rule.
std::vector<Array> reduce_prod_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                   std::span<const Array> outputs, const Params& params) {
  const Array& x = primals[0];
  const auto& axes = params.get_ints("axes");
  Array t = instantiate(tangents[0], x.aval());
  if (axes.empty()) return {t};
  std::vector<int> perm;
  Shape flat_shape{1};
  for (auto a : axes) {
    perm.push_back(static_cast<int>(a));
    flat_shape[0] *= x.shape()[a];
  }
  for (auto d : kept_dims(x.ndim(), axes)) {
    perm.push_back(static_cast<int>(d));
    flat_shape.push_back(x.shape()[d]);
  }
  const int64_t rank = static_cast<int64_t>(flat_shape.size());
  if (flat_shape[0] == 0) return {Array()};  // an empty product is the constant 1
  Array p = reshape(transpose(x, perm), flat_shape);
  t = reshape(transpose(t, perm), flat_shape);
  auto part = [&](const Array& v, int64_t lo, int64_t hi) {
    std::vector<int64_t> start(rank, 0), limit(v.shape());
    start[0] = lo;
    limit[0] = hi;
    return lax::slice(v, start, limit);
  };
  auto pad_end = [&](const Array& v, double value) {
    std::vector<std::array<int64_t, 3>> config(rank, std::array<int64_t, 3>{0, 0, 0});
    config[0][1] = 1;
    return lax::pad(v, constant_like(value, v), config);
  };
  for (int64_t n = flat_shape[0]; n > 1; n = (n + 1) / 2) {
    const int64_t n1 = (n + 1) / 2;
    Array p1 = part(p, 0, n1), p2 = part(p, n1, n);
    Array t1 = part(t, 0, n1), t2 = part(t, n1, n);
    if (n - n1 != n1) {
      p2 = pad_end(p2, 1.0);
      t2 = pad_end(t2, 0.0);
    }
    t = add(multiply(t1, p2), multiply(p1, t2));  // d(p1 p2) = t1 p2 + p1 t2
    p = multiply(p1, p2);
  }
  return {reshape(t, outputs[0].shape())};
}

// A zero tangent: integer outputs (argmax, argmin) and bool/bitwise reductions (reduce_and/or).
std::vector<Array> zero_jvp(std::span<const Array>, std::span<const Array>, std::span<const Array> outputs,
                            const Params&) {
  return std::vector<Array>(outputs.size());
}

// cumsum is linear; its transpose is the cumulative sum in the other direction.
std::vector<Array> cumsum_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                              std::span<const Array>, const Params& params) {
  return {bind1(cumsum_p, {instantiate(tangents[0], primals[0].aval())}, params)};
}

std::vector<Array> cumsum_transpose(std::span<const Array> cts, std::span<const Array>, std::span<const bool>,
                                    const Params& params) {
  if (!cts[0].defined()) return {Array()};
  return {bind1(cumsum_p, {cts[0]}, Params{{"axis", params.get_int("axis")}, {"reverse", !params.get<bool>("reverse")}})};
}

// cumprod: the JVP of a log-depth (Hillis-Steele) associative scan, y <- y * shift(y, k) for
// k = 1, 2, 4, ..., with shift filling the identity, carrying (y, t) by the product rule. Like
// JAX's associative_scan formulation it only multiplies, so zeros in x are handled exactly
// (O(n log n) work along the axis instead of JAX's O(n) odd/even scan).
std::vector<Array> cumprod_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                               std::span<const Array>, const Params& params) {
  const Array& x = primals[0];
  const int64_t axis = params.get_int("axis");
  const bool reverse = params.get<bool>("reverse");
  const int64_t n = x.shape()[axis];
  const int64_t rank = x.ndim();
  Array y = x;
  Array t = instantiate(tangents[0], x.aval());
  // shift(v, k)[i] = v[i - k] (v[i + k] when reverse), `fill` where that is out of range.
  auto shift = [&](const Array& v, int64_t k, double fill) {
    std::vector<int64_t> start(rank, 0), limit(v.shape());
    std::vector<std::array<int64_t, 3>> config(rank, std::array<int64_t, 3>{0, 0, 0});
    if (reverse) {
      start[axis] = k;
      config[axis][1] = k;
    } else {
      limit[axis] = n - k;
      config[axis][0] = k;
    }
    return lax::pad(lax::slice(v, start, limit), constant_like(fill, v), config);
  };
  for (int64_t k = 1; k < n; k *= 2) {
    Array ys = shift(y, k, 1.0), ts = shift(t, k, 0.0);
    t = add(multiply(t, ys), multiply(y, ts));  // d(y ys) = t ys + y ts
    y = multiply(y, ys);
  }
  return {t};
}

// ---- batching rules ---------------------------------------------------------------------------

// Reductions and arg-reductions (JAX's _reduction_batch_rule / _argminmax_batch_rule): the batch
// axis stays where it is; the reduced axes are shifted past it, and the batch axis of the output
// moves left by the number of reduced axes before it. No transpose is staged.
BatchRule reduce_batch_rule(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& params) {
    const int64_t batch_dim = *dims[0];
    std::vector<int64_t> axes;
    int64_t out_dim = batch_dim;
    for (int64_t a : params.get_ints("axes")) {
      const int64_t physical = a < batch_dim ? a : a + 1;  // sorted order is preserved
      axes.push_back(physical);
      if (physical < batch_dim) --out_dim;
    }
    Params p = params;
    p.set("axes", axes);
    return std::pair{jx::bind(*prim, args, p), std::vector<BatchDim>{out_dim}};
  };
}

// cumsum / cumprod: the scanned axis is shifted past the batch axis, which stays in place.
BatchRule cumulative_batch_rule(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& params) {
    const int64_t batch_dim = *dims[0];
    const int64_t axis = params.get_int("axis");
    Params p = params;
    p.set("axis", axis < batch_dim ? axis : axis + 1);
    return std::pair{jx::bind(*prim, args, p), std::vector<BatchDim>{batch_dim}};
  };
}

}  // namespace

const Primitive reduce_sum_p = monoid_reduce("reduce_sum", detail::numeric_dtype, "a numeric")
                                   .jvp(reduce_sum_jvp)
                                   .transpose(reduce_sum_transpose)
                                   .batch(reduce_batch_rule(&reduce_sum_p))
                                   .build();
const Primitive reduce_prod_p = monoid_reduce("reduce_prod", detail::numeric_dtype, "a numeric")
                                    .jvp(reduce_prod_jvp)
                                    .batch(reduce_batch_rule(&reduce_prod_p))
                                    .build();
const Primitive reduce_max_p = monoid_reduce("reduce_max", detail::any_dtype, "any")
                                   .jvp(reduce_chooser_jvp)
                                   .batch(reduce_batch_rule(&reduce_max_p))
                                   .build();
const Primitive reduce_min_p = monoid_reduce("reduce_min", detail::any_dtype, "any")
                                   .jvp(reduce_chooser_jvp)
                                   .batch(reduce_batch_rule(&reduce_min_p))
                                   .build();
const Primitive reduce_and_p = monoid_reduce("reduce_and", and_or_dtype, "a bool or integer", DType::bool_)
                                   .jvp(zero_jvp)
                                   .batch(reduce_batch_rule(&reduce_and_p))
                                   .build();
const Primitive reduce_or_p = monoid_reduce("reduce_or", and_or_dtype, "a bool or integer", DType::bool_)
                                  .jvp(zero_jvp)
                                  .batch(reduce_batch_rule(&reduce_or_p))
                                  .build();
const Primitive argmax_p = arg_reduce("argmax").jvp(zero_jvp).batch(reduce_batch_rule(&argmax_p)).build();
const Primitive argmin_p = arg_reduce("argmin").jvp(zero_jvp).batch(reduce_batch_rule(&argmin_p)).build();
const Primitive cumsum_p = cumulative("cumsum")
                               .jvp(cumsum_jvp)
                               .transpose(cumsum_transpose)
                               .batch(cumulative_batch_rule(&cumsum_p))
                               .build();
const Primitive cumprod_p = cumulative("cumprod").jvp(cumprod_jvp).batch(cumulative_batch_rule(&cumprod_p)).build();

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
    // float16/bfloat16: computed in float32 and rounded once (jnp.mean's upcast)
    if (is_half_float(a.dtype())) return lax::convert_element_type(mean(lax::convert_element_type(a, float32), axes, keepdims), a.dtype());
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
    if (is_half_float(a.dtype())) return lax::convert_element_type(var(lax::convert_element_type(a, float32), axes, keepdims, ddof), a.dtype());
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
