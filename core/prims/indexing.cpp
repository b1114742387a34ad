// The indexing primitives' shape rules and the lax wrappers (dynamic_slice,
// dynamic_update_slice, gather, the scatter family). numpy-level indexing: core/indexing_ops.cpp.

#include "core/prims/indexing.h"

#include <algorithm>
#include <sstream>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"

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

std::vector<AbstractValue> dynamic_update_slice_rule(std::span<const AbstractValue> in, const Params&) {
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

Primitive make_scatter(const char* name) {
  return PrimitiveBuilder(name)
      .shape_rule([name](std::span<const AbstractValue> in, const Params& p) { return scatter_rule(name, in, p); })
      .sample({AbstractValue{DType::float32, {5, 3}}, AbstractValue{DType::int32, {2, 1}},
               AbstractValue{DType::float32, {2, 3}}},
              Params{{"update_window_dims", std::vector<int64_t>{1}},
                     {"inserted_window_dims", std::vector<int64_t>{0}},
                     {"scatter_dims_to_operand_dims", std::vector<int64_t>{0}}})
      .build();
}

}  // namespace

const Primitive dynamic_slice_p =
    PrimitiveBuilder("dynamic_slice")
        .shape_rule(dynamic_slice_rule)
        .sample({AbstractValue{DType::float32, {4, 3}}, AbstractValue{DType::int32, {}},
                 AbstractValue{DType::int32, {}}},
                Params{{"slice_sizes", std::vector<int64_t>{2, 3}}})
        .build();

const Primitive dynamic_update_slice_p =
    PrimitiveBuilder("dynamic_update_slice")
        .shape_rule(dynamic_update_slice_rule)
        .sample({AbstractValue{DType::float32, {4, 3}}, AbstractValue{DType::float32, {2, 3}},
                 AbstractValue{DType::int32, {}}, AbstractValue{DType::int32, {}}})
        .build();

const Primitive gather_p =
    PrimitiveBuilder("gather")
        .shape_rule(gather_rule)
        .sample({AbstractValue{DType::float32, {5, 3}}, AbstractValue{DType::int32, {4, 1}}},
                Params{{"offset_dims", std::vector<int64_t>{1}},
                       {"collapsed_slice_dims", std::vector<int64_t>{0}},
                       {"start_index_map", std::vector<int64_t>{0}},
                       {"slice_sizes", std::vector<int64_t>{1, 3}}})
        .build();

const Primitive scatter_p = make_scatter("scatter");
const Primitive scatter_add_p = make_scatter("scatter_add");
const Primitive scatter_mul_p = make_scatter("scatter_mul");
const Primitive scatter_min_p = make_scatter("scatter_min");
const Primitive scatter_max_p = make_scatter("scatter_max");

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
