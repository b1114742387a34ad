// numpy-level indexing built on the indexing primitives: x[i], x.at(i).get/set/add/mul/min/max,
// take and take_along_axis. As in JAX, negative indices count from the end (normalized with
// array ops, so indices may be traced); reads clamp out-of-range indices, updates drop them.

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/prims/indexing.h"
#include "core/trace.h"

namespace jx {

namespace {

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> v;
  for (int64_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}

void check_integer_indices(const char* op, const Array& i) {
  if (!i.defined()) throw_error<ValueError>("[", op, "] an index is an undefined Array");
  if (i.dtype() == DType::bool_) {
    throw_error<DTypeError>("[", op, "] boolean (mask) indices are not supported, got ", i.aval().str());
  }
  if (!is_integer(i.dtype())) throw_error<DTypeError>("[", op, "] indices must be integers, got ", i.aval().str());
}

/// An Index resolved against an array: one normalized part per leading axis, all of one
/// integer dtype, and the broadcast shape of the parts.
struct ResolvedIndex {
  std::vector<Array> parts;
  bool scalar = true;  // every part is 0-d
  Shape batch;         // broadcast shape of the parts ([] when all are 0-d)
  DType dtype = DType::int32;
};

ResolvedIndex resolve_index(const char* op, const Array& x, const Index& index) {
  if (!x.defined()) throw_error<ValueError>("[", op, "] the indexed array is undefined");
  const auto& parts = index.parts;
  const int64_t k = static_cast<int64_t>(parts.size());
  if (k > x.ndim()) {
    throw_error<ShapeError>("[", op, "] too many indices: ", k, " indices for array ", x.aval().str());
  }
  ResolvedIndex r;
  for (const auto& p : parts) check_integer_indices(op, p);
  if (k == 0) return r;
  r.dtype = detail::result_type(parts).dtype;
  AbstractValue acc{r.dtype, {}, false};
  for (const auto& p : parts) {
    acc.shape = broadcast_shapes(op, acc, p.aval());
    r.scalar = r.scalar && p.ndim() == 0;
  }
  r.batch = acc.shape;
  for (int64_t d = 0; d < k; ++d) r.parts.push_back(detail::normalize_index(parts[d], x.shape()[d], r.dtype));
  return r;
}

/// The parts broadcast and stacked into one index array of shape batch + [k] (the index
/// vector last, as gather and scatter take it).
Array stack_indices(const ResolvedIndex& r) {
  Shape shape = r.batch;
  shape.push_back(1);
  std::vector<Array> columns;
  for (const auto& p : r.parts) {
    int64_t offset = static_cast<int64_t>(r.batch.size()) - p.ndim();
    columns.push_back(lax::broadcast_in_dim(p, shape, range(offset, offset + p.ndim())));
  }
  if (columns.size() == 1) return columns[0];
  return concatenate(columns, -1);
}

Array getitem(const Array& x, const Index& index) {
  const char* op = "getitem";
  ResolvedIndex r = resolve_index(op, x, index);
  const int64_t k = static_cast<int64_t>(r.parts.size());
  if (k == 0) return x;
  for (int64_t d = 0; d < k; ++d) {
    if (x.shape()[d] == 0) {
      throw_error<ShapeError>("[", op, "] cannot index axis ", d, " of size 0 of array ", x.aval().str());
    }
  }
  std::vector<int64_t> sizes = x.shape();
  for (int64_t d = 0; d < k; ++d) sizes[d] = 1;
  if (r.scalar) {
    // As JAX: a size-1 dynamic_slice, then the indexed axes squeezed away.
    std::vector<Array> args{x};
    for (int64_t d = 0; d < x.ndim(); ++d) {
      args.push_back(d < k ? r.parts[d] : detail::scalar_array(0.0, r.dtype, false));
    }
    Array y = bind1(dynamic_slice_p, args, Params{{"slice_sizes", sizes}});
    Axes axes;
    for (int d = 0; d < k; ++d) axes.push_back(d);
    return squeeze(y, axes);
  }
  // Integer arrays: a gather whose batch dims (the index shape) lead the result.
  const int64_t s = static_cast<int64_t>(r.batch.size());
  lax::GatherDimensionNumbers dnums{range(s, s + x.ndim() - k), range(0, k), range(0, k)};
  return lax::gather(x, stack_indices(r), dnums, sizes);
}

Array scatter_update(const Primitive& prim, const char* op, const Array& x, const Index& index, const Array& v) {
  ResolvedIndex r = resolve_index(op, x, index);
  if (!v.defined()) throw_error<ValueError>("[", op, "] the update value is an undefined Array");
  const int64_t k = static_cast<int64_t>(r.parts.size());
  const int64_t s = static_cast<int64_t>(r.batch.size());
  Shape indexed = r.batch;
  indexed.insert(indexed.end(), x.shape().begin() + k, x.shape().end());
  // The values are cast to x's dtype and broadcast to the indexed shape, as JAX's .at[].
  Array u = v.dtype() == x.dtype() ? v : detail::convert(v, TypeInfo{x.dtype(), false});
  bool fits = true;
  try {
    fits = broadcast_shapes(op, AbstractValue{x.dtype(), indexed, false}, u.aval()) == indexed;
  } catch (const ShapeError&) {
    fits = false;
  }
  if (!fits) {
    throw_error<ShapeError>("[", op, "] cannot broadcast values ", v.aval().str(), " to the indexed shape ",
                            shape_str(indexed), " of ", x.aval().str());
  }
  u = detail::broadcast_to_shape(u, indexed, false);
  Array indices = k == 0 ? detail::empty_array(AbstractValue{DType::int32, {0}, false}) : stack_indices(r);
  return bind1(prim, {x, indices, u},
               Params{{"update_window_dims", range(s, s + x.ndim() - k)},
                      {"inserted_window_dims", range(0, k)},
                      {"scatter_dims_to_operand_dims", range(0, k)}});
}

}  // namespace

Array Array::operator[](const Index& index) const {
  return at_loc(current_user_loc(), [&] { return getitem(*this, index); });
}

Array AtProxy::get(const Loc& loc) const {
  return at_loc(loc, [&] { return getitem(x_, index_); });
}
Array AtProxy::set(const Array& v, const Loc& loc) const {
  return at_loc(loc, [&] { return scatter_update(scatter_p, "at.set", x_, index_, v); });
}
Array AtProxy::add(const Array& v, const Loc& loc) const {
  return at_loc(loc, [&] { return scatter_update(scatter_add_p, "at.add", x_, index_, v); });
}
Array AtProxy::mul(const Array& v, const Loc& loc) const {
  return at_loc(loc, [&] { return scatter_update(scatter_mul_p, "at.mul", x_, index_, v); });
}
Array AtProxy::min(const Array& v, const Loc& loc) const {
  return at_loc(loc, [&] { return scatter_update(scatter_min_p, "at.min", x_, index_, v); });
}
Array AtProxy::max(const Array& v, const Loc& loc) const {
  return at_loc(loc, [&] { return scatter_update(scatter_max_p, "at.max", x_, index_, v); });
}

Array take(const Array& x, const Array& indices, std::optional<int> axis, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!x.defined()) throw_error<ValueError>("[take] the array is undefined");
    check_integer_indices("take", indices);
    Array a = x;
    int ax = 0;
    if (!axis) {
      if (x.ndim() != 1) a = reshape(x, Shape{-1});
    } else {
      ax = normalize_axis("take", *axis, x.ndim());
    }
    const Shape& ashape = a.shape();
    const int64_t ni = indices.ndim();
    Shape out(ashape.begin(), ashape.begin() + ax);
    out.insert(out.end(), indices.shape().begin(), indices.shape().end());
    out.insert(out.end(), ashape.begin() + ax + 1, ashape.end());
    const int64_t n = ashape[ax];
    if (n == 0) {
      if (indices.size() != 0) {
        throw_error<ShapeError>("[take] cannot take indices ", indices.aval().str(), " from axis ", ax,
                                " of size 0 of ", a.aval().str());
      }
      return lax::broadcast_in_dim(detail::scalar_array(0.0, a.dtype(), a.weak_type()), out, {});
    }
    Array idx = detail::normalize_index(indices, n, indices.dtype());
    Shape ishape = indices.shape();
    ishape.push_back(1);
    idx = lax::broadcast_in_dim(idx, ishape, range(0, ni));
    std::vector<int64_t> offset_dims = range(0, ax);
    for (int64_t d = ax + 1; d < a.ndim(); ++d) offset_dims.push_back(d - 1 + ni);
    std::vector<int64_t> sizes = ashape;
    sizes[ax] = 1;
    return lax::gather(a, idx, lax::GatherDimensionNumbers{offset_dims, {ax}, {ax}}, sizes);
  });
}

Array take_along_axis(const Array& x, const Array& indices, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!x.defined()) throw_error<ValueError>("[take_along_axis] the array is undefined");
    check_integer_indices("take_along_axis", indices);
    if (indices.ndim() != x.ndim()) {
      throw_error<ShapeError>("[take_along_axis] indices ", indices.aval().str(),
                              " must have the same rank as the array ", x.aval().str());
    }
    const int ax = normalize_axis("take_along_axis", axis, x.ndim());
    const int64_t nd = x.ndim();
    Shape out(nd);
    for (int64_t d = 0; d < nd; ++d) {
      int64_t a = x.shape()[d], b = indices.shape()[d];
      if (d == ax || a == b || a == 1) {
        out[d] = b;
      } else if (b == 1) {
        out[d] = a;
      } else {
        throw_error<ShapeError>("[take_along_axis] indices ", indices.aval().str(), " do not broadcast against "
                                "the array ", x.aval().str(), " in dimension ", d);
      }
    }
    const int64_t n = x.shape()[ax];
    if (n == 0) {
      if (shape_size(out) != 0) {
        throw_error<ShapeError>("[take_along_axis] cannot take indices ", indices.aval().str(), " from axis ", ax,
                                " of size 0 of ", x.aval().str());
      }
      return lax::broadcast_in_dim(detail::scalar_array(0.0, x.dtype(), x.weak_type()), out, {});
    }
    // 1. A full index vector per output element: the given index along `axis`, the output
    //    position (clamped by gather where x has extent 1) along every other dim.
    DType dt = indices.dtype();
    Shape column = out;
    column.push_back(1);
    std::vector<Array> columns;
    for (int64_t d = 0; d < nd; ++d) {
      if (d == ax) {
        columns.push_back(lax::broadcast_in_dim(detail::normalize_index(indices, n, dt), column, range(0, nd)));
      } else {
        columns.push_back(lax::iota(dt, column, d));
      }
    }
    Array all = columns.size() == 1 ? columns[0] : concatenate(columns, -1);
    // 2. One element per index vector.
    lax::GatherDimensionNumbers dnums{{}, range(0, nd), range(0, nd)};
    return lax::gather(x, all, dnums, std::vector<int64_t>(static_cast<size_t>(nd), 1));
  });
}

}  // namespace jx
