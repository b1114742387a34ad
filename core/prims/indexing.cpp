// The indexing primitives' shape rules and the lax wrappers (dynamic_slice,
// dynamic_update_slice, gather, the scatter family). numpy-level indexing: core/indexing_ops.cpp.

#include "core/prims/indexing.h"

#include <algorithm>
#include <sstream>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"
#include "core/rules.h"

namespace jx {

namespace {

std::string tuple_str(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << ")";
  return os.str();
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

/// Dimension numbers must be unique and within [0, bound); `sorted` also demands increasing order.
void check_dim_list(const char* op, const char* what, const std::vector<int64_t>& dims, int64_t bound,
                    bool sorted, const std::string& context) {
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0 || dims[i] >= bound) {
      throw_error<ShapeError>("[", op, "] ", what, " ", tuple_str(dims), " has dimension ", dims[i],
                              " out of range [0, ", bound, ") for ", context);
    }
    for (size_t j = 0; j < i; ++j) {
      if (dims[j] == dims[i]) {
        throw_error<ShapeError>("[", op, "] ", what, " ", tuple_str(dims), " repeats dimension ", dims[i], " for ",
                                context);
      }
    }
    if (sorted && i > 0 && dims[i] < dims[i - 1]) {
      throw_error<ShapeError>("[", op, "] ", what, " ", tuple_str(dims), " must be sorted, for ", context);
    }
  }
}

void check_index_dtype(const char* op, const AbstractValue& idx) {
  if (!is_integer(idx.dtype)) {
    throw_error<DTypeError>("[", op, "] indices must have an integer dtype, got ", idx.str());
  }
}

/// Start-index operands of dynamic_slice / dynamic_update_slice: integer scalars of one dtype,
/// one per operand dimension.
void check_starts(const char* op, const AbstractValue& operand, std::span<const AbstractValue> starts) {
  if (static_cast<int64_t>(starts.size()) != operand.ndim()) {
    throw_error<ShapeError>("[", op, "] operand ", operand.str(), " has rank ", operand.ndim(), " but ",
                            starts.size(), " start indices were given");
  }
  for (const auto& s : starts) {
    if (s.ndim() != 0) throw_error<ShapeError>("[", op, "] start indices must be 0-d, got ", s.str());
    check_index_dtype(op, s);
    if (s.dtype != starts[0].dtype) {
      throw_error<DTypeError>("[", op, "] start indices must all have one integer dtype, got ", starts[0].str(),
                              " and ", s.str());
    }
  }
}

std::vector<AbstractValue> dynamic_slice_rule(std::span<const AbstractValue> in, const Params& p) {
  const auto& x = in[0];
  check_starts("dynamic_slice", x, in.subspan(1));
  const auto& sizes = p.get_ints("slice_sizes");
  bool fits = static_cast<int64_t>(sizes.size()) == x.ndim();
  for (size_t d = 0; fits && d < sizes.size(); ++d) fits = sizes[d] >= 0 && sizes[d] <= x.shape[d];
  if (!fits) {
    throw_error<ShapeError>("[dynamic_slice] slice sizes ", shape_str(sizes), " do not fit operand ", x.str());
  }
  return {AbstractValue{x.dtype, sizes, x.weak_type}};
}

std::vector<AbstractValue> dynamic_update_slice_rule(std::span<const AbstractValue> in, const Params& p) {
  JX_CHECK(in.size() >= 2, "dynamic_update_slice takes an operand and an update");
  const auto& x = in[0];
  const auto& u = in[1];
  if (u.dtype != x.dtype) {
    throw_error<DTypeError>("[dynamic_update_slice] update ", u.str(), " must have the dtype of operand ", x.str());
  }
  bool fits = u.ndim() == x.ndim();
  for (int64_t d = 0; fits && d < u.ndim(); ++d) fits = u.shape[d] <= x.shape[d];
  if (!fits) throw_error<ShapeError>("[dynamic_update_slice] update ", u.str(), " does not fit operand ", x.str());
  check_starts("dynamic_update_slice", x, in.subspan(2));
  return {x};
}

std::vector<AbstractValue> gather_rule(std::span<const AbstractValue> in, const Params& p) {
  JX_CHECK(in.size() == 2, "gather takes an operand and indices");
  const auto& x = in[0];
  const auto& idx = in[1];
  const auto& offset_dims = p.get_ints("offset_dims");
  const auto& collapsed = p.get_ints("collapsed_slice_dims");
  const auto& start_map = p.get_ints("start_index_map");
  const auto& sizes = p.get_ints("slice_sizes");
  check_index_dtype("gather", idx);
  std::string ctx = detail::cat("operand ", x.str(), " and indices ", idx.str());
  if (idx.ndim() < 1) {
    throw_error<ShapeError>("[gather] indices need a trailing index-vector dimension, got ", ctx);
  }
  if (static_cast<int64_t>(start_map.size()) != idx.shape.back()) {
    throw_error<ShapeError>("[gather] start_index_map ", tuple_str(start_map), " has ", start_map.size(),
                            " entries but the index vectors have ", idx.shape.back(), ", for ", ctx);
  }
  check_dim_list("gather", "start_index_map", start_map, x.ndim(), false, ctx);
  check_dim_list("gather", "collapsed_slice_dims", collapsed, x.ndim(), true, ctx);
  if (static_cast<int64_t>(sizes.size()) != x.ndim()) {
    throw_error<ShapeError>("[gather] slice sizes ", shape_str(sizes), " need one entry per dimension of ", ctx);
  }
  for (int64_t d = 0; d < x.ndim(); ++d) {
    if (sizes[d] < 0 || sizes[d] > x.shape[d]) {
      throw_error<ShapeError>("[gather] slice sizes ", shape_str(sizes), " do not fit operand ", x.str());
    }
  }
  for (auto d : collapsed) {
    if (sizes[d] != 1) {
      throw_error<ShapeError>("[gather] collapsed dimension ", d, " must have slice size 1, got slice sizes ",
                              shape_str(sizes), " for ", ctx);
    }
  }
  const int64_t batch_rank = idx.ndim() - 1;
  const int64_t window_rank = x.ndim() - static_cast<int64_t>(collapsed.size());
  if (static_cast<int64_t>(offset_dims.size()) != window_rank) {
    throw_error<ShapeError>("[gather] offset_dims ", tuple_str(offset_dims), " must have one entry per "
                            "uncollapsed operand dimension (", window_rank, "), for ", ctx);
  }
  const int64_t out_rank = batch_rank + window_rank;
  check_dim_list("gather", "offset_dims", offset_dims, out_rank, true, ctx);
  Shape out(out_rank);
  int64_t w = 0, b = 0;
  for (int64_t d = 0; d < x.ndim(); ++d) {
    if (!contains(collapsed, d)) out[offset_dims[w++]] = sizes[d];
  }
  for (int64_t o = 0; o < out_rank; ++o) {
    if (!contains(offset_dims, o)) out[o] = idx.shape[b++];
  }
  return {AbstractValue{x.dtype, out, x.weak_type}};
}

std::vector<AbstractValue> scatter_rule(const char* op, std::span<const AbstractValue> in, const Params& p) {
  JX_CHECK(in.size() == 3, op, " takes an operand, indices and updates");
  const auto& x = in[0];
  const auto& idx = in[1];
  const auto& u = in[2];
  const auto& window_dims = p.get_ints("update_window_dims");
  const auto& inserted = p.get_ints("inserted_window_dims");
  const auto& to_operand = p.get_ints("scatter_dims_to_operand_dims");
  check_index_dtype(op, idx);
  if (u.dtype != x.dtype) {
    throw_error<DTypeError>("[", op, "] updates ", u.str(), " must have the dtype of operand ", x.str());
  }
  std::string ctx = detail::cat("operand ", x.str(), ", indices ", idx.str(), " and updates ", u.str());
  if (idx.ndim() < 1) {
    throw_error<ShapeError>("[", op, "] indices need a trailing index-vector dimension, got ", ctx);
  }
  if (static_cast<int64_t>(to_operand.size()) != idx.shape.back()) {
    throw_error<ShapeError>("[", op, "] scatter_dims_to_operand_dims ", tuple_str(to_operand), " has ",
                            to_operand.size(), " entries but the index vectors have ", idx.shape.back(), ", for ",
                            ctx);
  }
  check_dim_list(op, "scatter_dims_to_operand_dims", to_operand, x.ndim(), false, ctx);
  check_dim_list(op, "inserted_window_dims", inserted, x.ndim(), true, ctx);
  check_dim_list(op, "update_window_dims", window_dims, u.ndim(), true, ctx);
  const int64_t batch_rank = idx.ndim() - 1;
  if (static_cast<int64_t>(window_dims.size() + inserted.size()) != x.ndim()) {
    throw_error<ShapeError>("[", op, "] update_window_dims ", tuple_str(window_dims), " and inserted_window_dims ",
                            tuple_str(inserted), " must together cover the operand's ", x.ndim(),
                            " dimensions, for ", ctx);
  }
  if (u.ndim() != batch_rank + static_cast<int64_t>(window_dims.size())) {
    throw_error<ShapeError>("[", op, "] updates must have rank ", batch_rank + window_dims.size(),
                            " (index batch dims + update_window_dims), for ", ctx);
  }
  int64_t b = 0;
  for (int64_t d = 0; d < u.ndim(); ++d) {
    if (contains(window_dims, d)) continue;
    if (u.shape[d] != idx.shape[b]) {
      throw_error<ShapeError>("[", op, "] updates scatter dimension ", d, " has size ", u.shape[d],
                              " but the indices' batch dimension ", b, " has size ", idx.shape[b], ", for ", ctx);
    }
    ++b;
  }
  int64_t w = 0;
  for (int64_t d = 0; d < x.ndim(); ++d) {
    if (contains(inserted, d)) continue;
    int64_t ud = window_dims[w++];
    if (u.shape[ud] > x.shape[d]) {
      throw_error<ShapeError>("[", op, "] update window dimension ", ud, " (size ", u.shape[ud],
                              ") does not fit operand dimension ", d, " (size ", x.shape[d], "), for ", ctx);
    }
  }
  return {x};
}

// ---- autodiff ---------------------------------------------------------------------------------
// Rules are written with ops and binds only, so they are differentiable and traceable again.
// A linear input reaches a transpose rule as an undefined Array; its shape is read from
// transpose_input_aval (core/rules.h). Index operands never carry tangents.
// Out-of-range semantics stay consistent: reads clamp (dynamic_slice, gather), scatters drop a
// window that does not fit, so a dropped update gets a zero cotangent.

/// The shape of input `i` of the equation being transposed (a linear input has no value).
Shape transpose_input_shape(std::span<const Array> args, size_t i) {
  return args[i].defined() ? args[i].shape() : transpose_input_aval(i).shape;
}

/// Index operands [first, last) (last = -1: to the end) are integers and never linear.
void check_nonlinear(const char* op, std::span<const bool> linear, size_t first, size_t last = size_t(-1)) {
  for (size_t i = first; i < std::min(last, linear.size()); ++i) {
    JX_CHECK(!linear[i], "transpose of ", op, ": index operand ", i, " cannot be linear");
  }
}

Array bind_dynamic_slice(const Array& x, std::span<const Array> starts, const Shape& sizes) {
  std::vector<Array> args{x};
  args.insert(args.end(), starts.begin(), starts.end());
  return bind1(dynamic_slice_p, args, Params{{"slice_sizes", sizes}});
}

Array bind_dynamic_update_slice(const Array& x, const Array& u, std::span<const Array> starts) {
  std::vector<Array> args{x, u};
  args.insert(args.end(), starts.begin(), starts.end());
  return bind1(dynamic_update_slice_p, args);
}

struct GatherDims {
  std::vector<int64_t> offset_dims, collapsed, start_map, slice_sizes;
};

Array bind_gather(const Array& x, const Array& idx, const GatherDims& g) {
  return bind1(gather_p, {x, idx},
               Params{{"offset_dims", g.offset_dims},
                      {"collapsed_slice_dims", g.collapsed},
                      {"start_index_map", g.start_map},
                      {"slice_sizes", g.slice_sizes}});
}

struct ScatterDims {
  std::vector<int64_t> window, inserted, to_operand;
  explicit ScatterDims(const Params& p)
      : window(p.get_ints("update_window_dims")),
        inserted(p.get_ints("inserted_window_dims")),
        to_operand(p.get_ints("scatter_dims_to_operand_dims")) {}
  ScatterDims(std::vector<int64_t> w, std::vector<int64_t> i, std::vector<int64_t> t)
      : window(std::move(w)), inserted(std::move(i)), to_operand(std::move(t)) {}

  /// Window extent of every operand dimension (1 for inserted ones) for updates of `ushape`.
  std::vector<int64_t> window_sizes(int64_t operand_rank, const Shape& ushape) const {
    std::vector<int64_t> sizes;
    for (int64_t d = 0, pos = 0; d < operand_rank; ++d) {
      sizes.push_back(contains(inserted, d) ? 1 : ushape[window[pos++]]);
    }
    return sizes;
  }
  /// The gather that reads back, for every update element, the operand element it lands on.
  GatherDims inverse(int64_t operand_rank, const Shape& ushape) const {
    return GatherDims{window, inserted, to_operand, window_sizes(operand_rank, ushape)};
  }
  /// The updates' dims that are not window dims (they follow the indices' batch dims).
  std::vector<int64_t> batch_dims(int64_t updates_rank) const {
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < updates_rank; ++d)
      if (!contains(window, d)) dims.push_back(d);
    return dims;
  }
};

Array bind_scatter(const Primitive& prim, const Array& x, const Array& idx, const Array& u, const ScatterDims& s) {
  return bind1(prim, {x, idx, u},
               Params{{"update_window_dims", s.window},
                      {"inserted_window_dims", s.inserted},
                      {"scatter_dims_to_operand_dims", s.to_operand}});
}

/// A constant vector of `dtype` (bounds for index arithmetic).
Array index_vector(const std::vector<int64_t>& values, DType dtype) {
  Array v = detail::array_from_host(values.data(), DType::int64, Shape{static_cast<int64_t>(values.size())});
  return v.dtype() == dtype ? v : lax::convert_element_type(v, dtype);
}

/// gather's indices clamped as gather clamps them, so a scatter_add of the cotangent writes
/// exactly where gather read (our scatters drop, rather than clamp, a window that does not fit).
Array clamp_gather_indices(const Array& idx, const Shape& operand_shape, const GatherDims& g) {
  std::vector<int64_t> hi;
  for (auto m : g.start_map) hi.push_back(std::max<int64_t>(operand_shape[m] - g.slice_sizes[m], 0));
  return minimum(maximum(idx, Array(0)), index_vector(hi, idx.dtype()));
}

/// For every element of updates of `ushape`: whether its window fits the operand (else the
/// scatter drops it).
Array scatter_in_bounds(const Array& idx, const Shape& operand_shape, const Shape& ushape, const ScatterDims& s) {
  auto sizes = s.window_sizes(static_cast<int64_t>(operand_shape.size()), ushape);
  std::vector<int64_t> hi;
  for (auto m : s.to_operand) hi.push_back(operand_shape[m] - sizes[m]);
  Array ok = logical_and(idx >= Array(0), idx <= index_vector(hi, idx.dtype()));
  ok = all(ok, Axes{static_cast<int>(idx.ndim()) - 1});
  return lax::broadcast_in_dim(ok, ushape, s.batch_dims(static_cast<int64_t>(ushape.size())));
}

/// For every element of updates of `ushape`: whether it is the one scatter (last wins) leaves in
/// the output. Each update window is tagged with a distinct id, the ids are scattered and read
/// back; a dropped window reads another id (or 0).
Array scatter_winners(const Array& idx, const Shape& operand_shape, const Shape& ushape, const ScatterDims& s) {
  Shape batch(idx.shape().begin(), idx.shape().end() - 1);
  Array ids = reshape(lax::iota(DType::int32, Shape{shape_size(batch)}) + Array(1), batch);
  ids = lax::broadcast_in_dim(ids, ushape, s.batch_dims(static_cast<int64_t>(ushape.size())));
  Array owner = bind_scatter(scatter_p, zeros(operand_shape, DType::int32), idx, ids, s);
  Array seen = bind_gather(owner, idx, s.inverse(static_cast<int64_t>(operand_shape.size()), ushape));
  return seen == ids;
}

Array masked(const Array& mask, const Array& x) { return where(mask, x, zeros_like(x)); }

std::vector<Array> dynamic_slice_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                     std::span<const Array>, const Params& p) {
  // d dynamic_slice(x, s) = dynamic_slice(dx, s)
  if (!tangents[0].defined()) return {Array()};
  return {bind_dynamic_slice(tangents[0], primals.subspan(1), p.get_ints("slice_sizes"))};
}

std::vector<Array> dynamic_slice_transpose(std::span<const Array> cts, std::span<const Array> args,
                                           std::span<const bool> linear, const Params& p) {
  // ct_x = dynamic_update_slice(0, ct, s): both clamp the start the same way.
  check_nonlinear("dynamic_slice", linear, 1);
  std::vector<Array> out(args.size());
  if (!linear[0] || !cts[0].defined()) return out;
  Shape xs = transpose_input_shape(args, 0);
  out[0] = bind_dynamic_update_slice(zeros(xs, cts[0].dtype()), cts[0], args.subspan(1));
  return out;
}

std::vector<Array> dynamic_update_slice_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                            std::span<const Array>, const Params&) {
  // Linear in (operand, update).
  return {bind_dynamic_update_slice(instantiate(tangents[0], primals[0].aval()),
                                    instantiate(tangents[1], primals[1].aval()), primals.subspan(2))};
}

std::vector<Array> dynamic_update_slice_transpose(std::span<const Array> cts, std::span<const Array> args,
                                                  std::span<const bool> linear, const Params& p) {
  // ct_x = dynamic_update_slice(ct, 0, s); ct_u = dynamic_slice(ct, s).
  check_nonlinear("dynamic_update_slice", linear, 2);
  std::vector<Array> out(args.size());
  const Array& ct = cts[0];
  if (!ct.defined()) return out;
  Shape us = transpose_input_shape(args, 1);
  auto starts = args.subspan(2);
  if (linear[0]) out[0] = bind_dynamic_update_slice(ct, zeros(us, ct.dtype()), starts);
  if (linear[1]) out[1] = bind_dynamic_slice(ct, starts, us);
  return out;
}

GatherDims gather_dims(const Params& p) {
  return GatherDims{p.get_ints("offset_dims"), p.get_ints("collapsed_slice_dims"), p.get_ints("start_index_map"),
                    p.get_ints("slice_sizes")};
}

std::vector<Array> gather_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                              std::span<const Array>, const Params& p) {
  // d gather(x, i) = gather(dx, i)
  if (!tangents[0].defined()) return {Array()};
  return {bind_gather(tangents[0], primals[1], gather_dims(p))};
}

std::vector<Array> gather_transpose(std::span<const Array> cts, std::span<const Array> args,
                                    std::span<const bool> linear, const Params& p) {
  // ct_x = scatter_add(0, clamp(i), ct) with the dimension numbers that undo the gather.
  check_nonlinear("gather", linear, 1);
  std::vector<Array> out(args.size());
  if (!linear[0] || !cts[0].defined()) return out;
  Shape xs = transpose_input_shape(args, 0);
  GatherDims g = gather_dims(p);
  ScatterDims s(g.offset_dims, g.collapsed, g.start_map);
  out[0] = bind_scatter(scatter_add_p, zeros(xs, cts[0].dtype()), clamp_gather_indices(args[1], xs, g), cts[0], s);
  return out;
}

std::vector<Array> scatter_add_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                   std::span<const Array>, const Params& p) {
  // Linear in (operand, updates).
  return {bind_scatter(scatter_add_p, instantiate(tangents[0], primals[0].aval()), primals[1],
                       instantiate(tangents[2], primals[2].aval()), ScatterDims(p))};
}

std::vector<Array> scatter_add_transpose(std::span<const Array> cts, std::span<const Array> args,
                                         std::span<const bool> linear, const Params& p) {
  // ct_x = ct; ct_u = gather(ct, i), zero where the window was dropped.
  check_nonlinear("scatter_add", linear, 1, 2);
  JX_CHECK(linear.size() == 3, "scatter_add takes three operands");
  std::vector<Array> out(args.size());
  const Array& ct = cts[0];
  if (!ct.defined()) return out;
  if (linear[0]) out[0] = ct;
  if (linear[2]) {
    Shape us = transpose_input_shape(args, 2);
    ScatterDims s(p);
    Array g = bind_gather(ct, args[1], s.inverse(ct.ndim(), us));
    out[2] = masked(scatter_in_bounds(args[1], ct.shape(), us, s), g);
  }
  return out;
}

std::vector<Array> scatter_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                               std::span<const Array>, const Params& p) {
  // scatter(x, i, u) is jointly linear in (x, u) for fixed i: each output element is either an
  // element of x or of u (the last update written there, as the kernel applies them in order).
  // So d scatter(x, i, u) = scatter(dx, i, du); the transpose finds which update won.
  return {bind_scatter(scatter_p, instantiate(tangents[0], primals[0].aval()), primals[1],
                       instantiate(tangents[2], primals[2].aval()), ScatterDims(p))};
}

std::vector<Array> scatter_transpose(std::span<const Array> cts, std::span<const Array> args,
                                     std::span<const bool> linear, const Params& p) {
  // ct_x = ct with the overwritten elements zeroed = scatter(ct, i, 0);
  // ct_u = gather(ct, i) where the update is the one left in the output (last wins, in bounds).
  check_nonlinear("scatter", linear, 1, 2);
  std::vector<Array> out(args.size());
  const Array& ct = cts[0];
  if (!ct.defined()) return out;
  Shape us = transpose_input_shape(args, 2);
  ScatterDims s(p);
  if (linear[0]) out[0] = bind_scatter(scatter_p, ct, args[1], zeros(us, ct.dtype()), s);
  if (linear[2]) {
    Array g = bind_gather(ct, args[1], s.inverse(ct.ndim(), us));
    out[2] = masked(scatter_winners(args[1], ct.shape(), us, s), g);
  }
  return out;
}

std::vector<Array> scatter_mul_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                   std::span<const Array>, const Params& p) {
  // y = x * M with M[p] = prod of the updates landing on p (1 where none does):
  // dy = scatter_mul(dx, i, u) + x * scatter_add(0, i, du * E), where E[k] is the product of the
  // other updates landing where update k lands. E is computed without dividing by zero: the
  // product of the nonzero updates divided by u[k] (when nonzero), or 0 when another update is 0.
  // (Unlike JAX's rule, duplicate indices are handled.)
  const Array& x = primals[0];
  const Array& idx = primals[1];
  const Array& u = primals[2];
  ScatterDims s(p);
  Array t;
  if (tangents[0].defined()) t = bind_scatter(scatter_mul_p, tangents[0], idx, u, s);
  if (tangents[2].defined()) {
    const DType dt = x.dtype();
    GatherDims g = s.inverse(x.ndim(), u.shape());
    Array is_zero = u == Array(0.0);
    Array zero_f = lax::convert_element_type(is_zero, dt);
    Array nonzero_u = where(is_zero, ones_like(u), u);
    Array zeros_at = bind_scatter(scatter_add_p, zeros(x.shape(), dt), idx, zero_f, s);
    Array nonzero_prod = bind_scatter(scatter_mul_p, ones(x.shape(), dt), idx, nonzero_u, s);
    Array other_zeros = bind_gather(zeros_at, idx, g) - zero_f;
    Array others = bind_gather(nonzero_prod, idx, g) / nonzero_u;
    others = where(other_zeros > Array(0.5), zeros_like(others), others);
    t = add_tangents(t, x * bind_scatter(scatter_add_p, zeros(x.shape(), dt), idx, tangents[2] * others, s));
  }
  return {t};
}

std::vector<Array> scatter_mul_transpose(std::span<const Array> cts, std::span<const Array> args,
                                         std::span<const bool> linear, const Params& p) {
  // Linear in the operand only: y = x * M elementwise, so ct_x = ct * M = scatter_mul(ct, i, u).
  check_nonlinear("scatter_mul", linear, 1, 2);
  JX_CHECK(!linear[2], "transpose of scatter_mul: it is not linear in its updates");
  std::vector<Array> out(args.size());
  if (!linear[0] || !cts[0].defined()) return out;
  out[0] = bind_scatter(scatter_mul_p, cts[0], args[1], args[2], ScatterDims(p));
  return out;
}

std::vector<Array> scatter_extremal_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                        std::span<const Array> outputs, const Params& p) {
  // As JAX's _scatter_extremal_jvp: where several values (the operand's and the updates') tie
  // for the min/max at a position, its tangent is the average of their tangents.
  //   succ[k] = u[k] == y[i[k]]   N = scatter_add(0, i, succ)   R = x == y   D = N + R
  //   dy = dx * R / D + scatter_add(0, i, du * succ / D[i[k]])
  const Array& x = primals[0];
  const Array& idx = primals[1];
  const Array& u = primals[2];
  const Array& y = outputs[0];
  const DType dt = x.dtype();
  ScatterDims s(p);
  GatherDims g = s.inverse(x.ndim(), u.shape());
  Array succ = lax::convert_element_type(u == bind_gather(y, idx, g), dt);
  Array count = bind_scatter(scatter_add_p, zeros(x.shape(), dt), idx, succ, s);
  Array retained = lax::convert_element_type(x == y, dt);
  Array denom = count + retained;
  denom = where(denom == Array(0.0), ones_like(denom), denom);  // only where y is NaN
  Array t;
  if (tangents[0].defined()) t = tangents[0] * (retained / denom);
  if (tangents[2].defined()) {
    Array coef = succ / bind_gather(denom, idx, g);
    t = add_tangents(t, bind_scatter(scatter_add_p, zeros(x.shape(), dt), idx, tangents[2] * coef, s));
  }
  return {t};
}

// ---- batching (vmap) ---------------------------------------------------------------------------
// As JAX's rules (jax/_src/lax/slicing.py). Mapped operands get their batch axis at the front:
//   operand mapped only  -> the batch axis becomes one more window (offset / update window) dim,
//                           starting at 0 and spanning the batch; the indices are unchanged;
//   indices mapped only  -> the batch axis becomes a leading index batch dim;
//   both mapped          -> each index vector gets its example number (an iota over the batch)
//                           prepended, addressing a collapsed / inserted operand dim 0.
// The example number is always in range and the added window always fits, so a gather still
// clamps and a scatter still drops exactly the windows the unbatched primitive does.

using BatchResult = std::pair<std::vector<Array>, std::vector<BatchDim>>;

std::vector<int64_t> iota_dims(int64_t begin, int64_t end) {
  std::vector<int64_t> v;
  for (int64_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}

/// Every dimension number shifted past a new leading dim; `front` (when given) prepended.
std::vector<int64_t> shifted(const std::vector<int64_t>& dims, std::optional<int64_t> front = std::nullopt) {
  std::vector<int64_t> out;
  if (front) out.push_back(*front);
  for (auto d : dims) out.push_back(d + 1);
  return out;
}

/// Index vectors (last dim) of `idx`, whose batch axis is at the front, with the example number
/// prepended (every index dtype, 32 bits or wider, holds it).
Array prepend_example_number(const Array& idx) {
  Shape counts_shape = idx.shape();
  counts_shape.back() = 1;
  return concatenate({lax::iota(idx.dtype(), counts_shape, 0), idx}, -1);
}

/// gather of a batched operand and/or batched indices; the result's batch axis is 0.
Array batch_gather(const Array& x, BatchDim x_dim, const Array& idx, BatchDim idx_dim, const GatherDims& g,
                   int64_t size) {
  if (!idx_dim) {
    Array xb = move_batch_axis(x, x_dim, 0, size);
    std::vector<int64_t> sizes = g.slice_sizes;
    sizes.insert(sizes.begin(), size);
    return bind_gather(xb, idx, GatherDims{shifted(g.offset_dims, 0), shifted(g.collapsed), shifted(g.start_map), sizes});
  }
  Array ib = move_batch_axis(idx, idx_dim, 0, size);
  if (!x_dim) {
    return bind_gather(x, ib, GatherDims{shifted(g.offset_dims), g.collapsed, g.start_map, g.slice_sizes});
  }
  Array xb = move_batch_axis(x, x_dim, 0, size);
  std::vector<int64_t> sizes = g.slice_sizes;
  sizes.insert(sizes.begin(), 1);
  return bind_gather(xb, prepend_example_number(ib),
                     GatherDims{shifted(g.offset_dims), shifted(g.collapsed, 0), shifted(g.start_map, 0), sizes});
}

/// A scatter of batched operand / indices / updates; the result's batch axis is 0.
Array batch_scatter(const Primitive& prim, const Array& x, BatchDim x_dim, const Array& idx, BatchDim idx_dim,
                    const Array& u, BatchDim u_dim, const ScatterDims& s, int64_t size) {
  // The operand is scattered into per example, so an unmapped one is broadcast.
  Array xb = move_batch_axis(x, x_dim, 0, size);
  Array ub = move_batch_axis(u, u_dim, 0, size);
  if (!idx_dim) {
    return bind_scatter(prim, xb, idx, ub, ScatterDims(shifted(s.window, 0), shifted(s.inserted), shifted(s.to_operand)));
  }
  Array ib = prepend_example_number(move_batch_axis(idx, idx_dim, 0, size));
  return bind_scatter(prim, xb, ib, ub, ScatterDims(shifted(s.window), shifted(s.inserted, 0), shifted(s.to_operand, 0)));
}

BatchResult gather_batch(std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
  return {{batch_gather(args[0], dims[0], args[1], dims[1], gather_dims(p), batch_size(args, dims))}, {0}};
}

BatchRule scatter_batch(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) -> BatchResult {
    return {{batch_scatter(*prim, args[0], dims[0], args[1], dims[1], args[2], dims[2], ScatterDims(p),
                           batch_size(args, dims))},
            {0}};
  };
}

bool any_mapped(std::span<const BatchDim> dims) {
  return std::any_of(dims.begin(), dims.end(), [](const BatchDim& d) { return d.has_value(); });
}

/// The 0-d start indices of dynamic_(update_)slice, some mapped, as one index vector per
/// example: [size, k], batch axis 0.
Array batched_start_indices(std::span<const Array> starts, std::span<const BatchDim> dims, int64_t size) {
  const int64_t k = static_cast<int64_t>(starts.size());
  std::vector<Array> columns;
  for (int64_t d = 0; d < k; ++d) {
    columns.push_back(lax::broadcast_in_dim(starts[d], Shape{size, 1}, dims[d] ? std::vector<int64_t>{0}
                                                                               : std::vector<int64_t>{}));
  }
  return columns.size() == 1 ? columns[0] : concatenate(columns, 1);
}

/// `starts` with a 0 start (of their dtype) inserted for the batch axis at `axis`.
std::vector<Array> starts_with_batch_axis(std::span<const Array> starts, int64_t axis) {
  DType dt = starts.empty() ? DType::int32 : starts[0].dtype();
  std::vector<Array> out(starts.begin(), starts.end());
  out.insert(out.begin() + axis, detail::scalar_array(0.0, dt, false));
  return out;
}

BatchResult dynamic_slice_batch(std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
  const int64_t size = batch_size(args, dims);
  std::vector<int64_t> sizes = p.get_ints("slice_sizes");
  if (!any_mapped(dims.subspan(1))) {
    // Same starts for every example: slice the whole batch axis, where it is.
    const int64_t axis = *dims[0];
    sizes.insert(sizes.begin() + axis, size);
    return {{bind_dynamic_slice(args[0], starts_with_batch_axis(args.subspan(1), axis), sizes)}, {axis}};
  }
  // Per-example starts: a gather of one full-rank window per example (it clamps the same way).
  Array idx = batched_start_indices(args.subspan(1), dims.subspan(1), size);
  const int64_t n = static_cast<int64_t>(sizes.size());
  GatherDims g{iota_dims(0, n), {}, iota_dims(0, n), sizes};
  return {{batch_gather(args[0], dims[0], idx, 0, g, size)}, {0}};
}

BatchResult dynamic_update_slice_batch(std::span<const Array> args, std::span<const BatchDim> dims, const Params&) {
  const int64_t size = batch_size(args, dims);
  if (!any_mapped(dims.subspan(2))) {
    // Same starts for every example: update the whole batch axis (the operand's, else the
    // update's), the unmapped one broadcast to it.
    const int64_t axis = dims[0] ? *dims[0] : *dims[1];
    Array x = move_batch_axis(args[0], dims[0], axis, size);
    Array u = move_batch_axis(args[1], dims[1], axis, size);
    return {{bind_dynamic_update_slice(x, u, starts_with_batch_axis(args.subspan(2), axis))}, {axis}};
  }
  // Per-example starts: a scatter of one full-rank window per example. dynamic_update_slice
  // clamps its starts where scatter drops a window that does not fit, so clamp first.
  auto example_shape = [](const Array& a, BatchDim d) {
    Shape s = a.shape();
    if (d) s.erase(s.begin() + *d);
    return s;
  };
  Shape xs = example_shape(args[0], dims[0]), us = example_shape(args[1], dims[1]);
  std::vector<int64_t> hi;
  for (size_t d = 0; d < xs.size(); ++d) hi.push_back(xs[d] - us[d]);
  Array idx = batched_start_indices(args.subspan(2), dims.subspan(2), size);
  idx = minimum(maximum(idx, Array(0)), index_vector(hi, idx.dtype()));
  const int64_t n = static_cast<int64_t>(xs.size());
  ScatterDims s(iota_dims(0, n), {}, iota_dims(0, n));
  return {{batch_scatter(scatter_p, args[0], dims[0], idx, 0, args[1], dims[1], s, size)}, {0}};
}

PrimitiveBuilder make_scatter(const char* name, const Primitive* self) {
  PrimitiveBuilder builder(name);
  builder.batch(scatter_batch(self))
      .shape_rule([name](std::span<const AbstractValue> in, const Params& p) { return scatter_rule(name, in, p); })
      .sample({AbstractValue{DType::float32, {5, 3}}, AbstractValue{DType::int32, {2, 1}},
               AbstractValue{DType::float32, {2, 3}}},
              Params{{"update_window_dims", std::vector<int64_t>{1}},
                     {"inserted_window_dims", std::vector<int64_t>{0}},
                     {"scatter_dims_to_operand_dims", std::vector<int64_t>{0}}});
  return builder;
}

}  // namespace

const Primitive dynamic_slice_p =
    PrimitiveBuilder("dynamic_slice")
        .shape_rule(dynamic_slice_rule)
        .jvp(dynamic_slice_jvp)
        .transpose(dynamic_slice_transpose)
        .batch(dynamic_slice_batch)
        .sample({AbstractValue{DType::float32, {4, 3}}, AbstractValue{DType::int32, {}},
                 AbstractValue{DType::int32, {}}},
                Params{{"slice_sizes", std::vector<int64_t>{2, 3}}})
        .build();

const Primitive dynamic_update_slice_p =
    PrimitiveBuilder("dynamic_update_slice")
        .shape_rule(dynamic_update_slice_rule)
        .jvp(dynamic_update_slice_jvp)
        .transpose(dynamic_update_slice_transpose)
        .batch(dynamic_update_slice_batch)
        .sample({AbstractValue{DType::float32, {4, 3}}, AbstractValue{DType::float32, {2, 3}},
                 AbstractValue{DType::int32, {}}, AbstractValue{DType::int32, {}}})
        .build();

const Primitive gather_p =
    PrimitiveBuilder("gather")
        .shape_rule(gather_rule)
        .jvp(gather_jvp)
        .transpose(gather_transpose)
        .batch(gather_batch)
        .sample({AbstractValue{DType::float32, {5, 3}}, AbstractValue{DType::int32, {4, 1}}},
                Params{{"offset_dims", std::vector<int64_t>{1}},
                       {"collapsed_slice_dims", std::vector<int64_t>{0}},
                       {"start_index_map", std::vector<int64_t>{0}},
                       {"slice_sizes", std::vector<int64_t>{1, 3}}})
        .build();

const Primitive scatter_p = make_scatter("scatter", &scatter_p).jvp(scatter_jvp).transpose(scatter_transpose).build();
const Primitive scatter_add_p =
    make_scatter("scatter_add", &scatter_add_p).jvp(scatter_add_jvp).transpose(scatter_add_transpose).build();
const Primitive scatter_mul_p =
    make_scatter("scatter_mul", &scatter_mul_p).jvp(scatter_mul_jvp).transpose(scatter_mul_transpose).build();
const Primitive scatter_min_p = make_scatter("scatter_min", &scatter_min_p).jvp(scatter_extremal_jvp).build();
const Primitive scatter_max_p = make_scatter("scatter_max", &scatter_max_p).jvp(scatter_extremal_jvp).build();

namespace detail {

/// Start indices for dynamic_slice / dynamic_update_slice as JAX's lax does: integer 0-d
/// scalars converted to one dtype, negative ones counted from the end of their dimension
/// (`select(i < 0, i + n, i)`; C++ numbers are normalized statically). Clamping is the kernel's.
std::vector<Array> normalize_start_indices(const char* op, const Array& x, const std::vector<Array>& starts) {
  if (static_cast<int64_t>(starts.size()) != x.ndim()) {
    throw_error<ShapeError>("[", op, "] operand ", x.aval().str(), " has rank ", x.ndim(), " but ", starts.size(),
                            " start indices were given");
  }
  if (starts.empty()) return {};
  for (const auto& s : starts) {
    if (!s.defined()) throw_error<ValueError>("[", op, "] a start index is an undefined Array");
    if (s.ndim() != 0) throw_error<ShapeError>("[", op, "] start indices must be 0-d, got ", s.aval().str());
    if (!is_integer(s.dtype())) {
      throw_error<DTypeError>("[", op, "] start indices must be integers, got ", s.aval().str());
    }
  }
  DType dtype = result_type(starts).dtype;
  std::vector<Array> out;
  for (size_t d = 0; d < starts.size(); ++d) {
    out.push_back(normalize_index(starts[d], x.shape()[d], dtype));
  }
  return out;
}

Array normalize_index(const Array& i, int64_t n, DType dtype) {
  if (i.ndim() == 0 && !i.is_tracer() && i.weak_type()) {
    // A C++ number (as a Python int in JAX): normalized without staging any op.
    int64_t v = i.item<int64_t>();
    if (v < 0 && is_signed_integer(dtype)) v += n;
    return scalar_array(static_cast<double>(v), dtype, false);
  }
  Array j = convert(i, TypeInfo{dtype, false});
  if (!is_signed_integer(dtype)) return j;
  return where(j < 0, j + Array(n), j);
}

}  // namespace detail

namespace lax {

Array dynamic_slice(const Array& x, const std::vector<Array>& starts, const std::vector<int64_t>& sizes,
                    const Loc& loc) {
  return at_loc(loc, [&] {
    std::vector<Array> args{x};
    for (auto& s : detail::normalize_start_indices("dynamic_slice", x, starts)) args.push_back(s);
    return bind1(dynamic_slice_p, args, Params{{"slice_sizes", sizes}});
  });
}

Array dynamic_update_slice(const Array& x, const Array& update, const std::vector<Array>& starts, const Loc& loc) {
  return at_loc(loc, [&] {
    std::vector<Array> args{x, update};
    for (auto& s : detail::normalize_start_indices("dynamic_update_slice", x, starts)) args.push_back(s);
    return bind1(dynamic_update_slice_p, args);
  });
}

Array gather(const Array& operand, const Array& start_indices, const GatherDimensionNumbers& dnums,
             const std::vector<int64_t>& slice_sizes, const Loc& loc) {
  return at_loc(loc, [&] {
    return bind1(gather_p, {operand, start_indices},
                 Params{{"offset_dims", dnums.offset_dims},
                        {"collapsed_slice_dims", dnums.collapsed_slice_dims},
                        {"start_index_map", dnums.start_index_map},
                        {"slice_sizes", slice_sizes}});
  });
}

namespace {
Array scatter_with(const Primitive& prim, const Array& operand, const Array& indices, const Array& updates,
                   const ScatterDimensionNumbers& dnums, const Loc& loc) {
  return at_loc(loc, [&] {
    return bind1(prim, {operand, indices, updates},
                 Params{{"update_window_dims", dnums.update_window_dims},
                        {"inserted_window_dims", dnums.inserted_window_dims},
                        {"scatter_dims_to_operand_dims", dnums.scatter_dims_to_operand_dims}});
  });
}
}  // namespace

Array scatter(const Array& operand, const Array& scatter_indices, const Array& updates,
              const ScatterDimensionNumbers& dnums, const Loc& loc) {
  return scatter_with(scatter_p, operand, scatter_indices, updates, dnums, loc);
}
Array scatter_add(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc) {
  return scatter_with(scatter_add_p, operand, scatter_indices, updates, dnums, loc);
}
Array scatter_mul(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc) {
  return scatter_with(scatter_mul_p, operand, scatter_indices, updates, dnums, loc);
}
Array scatter_min(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc) {
  return scatter_with(scatter_min_p, operand, scatter_indices, updates, dnums, loc);
}
Array scatter_max(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc) {
  return scatter_with(scatter_max_p, operand, scatter_indices, updates, dnums, loc);
}

}  // namespace lax
}  // namespace jx
