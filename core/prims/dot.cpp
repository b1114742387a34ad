// dot_general: shape rule and lax::dot_general. Kernels: backends/cpu/dot.cpp.

#include "core/prims/dot.h"

#include <algorithm>

#include "core/ops.h"
#include "core/trace.h"
#include "core/rules.h"

namespace jx {

namespace {

// Checks one operand's dimension list: in range, no dimension listed twice across lists.
void check_dims(const AbstractValue& x, const char* side, const std::vector<int64_t>& contracting,
                const std::vector<int64_t>& batch, std::vector<bool>& used) {
  used.assign(static_cast<size_t>(x.ndim()), false);
  auto check = [&](const std::vector<int64_t>& dims, const char* what) {
    for (auto d : dims) {
      if (d < 0 || d >= x.ndim()) {
        throw_error<ShapeError>("[dot_general] ", side, " ", what, " dimension ", d, " is out of range for ",
                                side, " ", x.str());
      }
      if (used[static_cast<size_t>(d)]) {
        throw_error<ShapeError>("[dot_general] ", side, " dimension ", d, " of ", x.str(),
                                " is listed more than once in the dimension numbers");
      }
      used[static_cast<size_t>(d)] = true;
    }
  };
  check(batch, "batch");
  check(contracting, "contracting");
}

bool same_kind(DType a, DType b) {
  if (is_floating(a) || is_floating(b)) return is_floating(a) && is_floating(b);
  if (a == DType::bool_ || b == DType::bool_) return a == b;
  return true;  // integer -> integer
}


// ---- autodiff (as jax/_src/lax/lax.py) -------------------------------------------------------

using Dims = std::vector<int64_t>;

// Dims of an operand of rank n that are in neither list, ascending (JAX's `remaining`).
Dims remaining(int64_t n, const Dims& a, const Dims& b) {
  Dims out;
  for (int64_t d = 0; d < n; ++d)
    if (std::find(a.begin(), a.end(), d) == a.end() && std::find(b.begin(), b.end(), d) == b.end())
      out.push_back(d);
  return out;
}

Dims iota_dims(int64_t start, size_t n) {
  Dims out(n);
  for (size_t i = 0; i < n; ++i) out[i] = start + static_cast<int64_t>(i);
  return out;
}

// JAX's _dot_general_transpose_lhs: the cotangent of x (rank x_ndim) in dot_general(x, y) (or
// dot_general(y, x) with swap_ans) from the output cotangent g. The contraction g . y over the
// output's y-free dims and y's free dims gives x's batch, free and contracting dims (the latter
// in y's order), which a transpose puts back in x's order. The shape of x follows from g and y.
Array dot_transpose_lhs(const Array& g_in, const Array& y, int64_t x_ndim, const Dims& x_contract,
                        const Dims& y_contract, const Dims& x_batch, const Dims& y_batch, bool swap_ans) {
  const Dims x_kept = remaining(x_ndim, x_contract, x_batch);
  const Dims y_kept = remaining(y.ndim(), y_contract, y_batch);
  const Dims ans_batch = iota_dims(0, x_batch.size());
  const Dims ans_y = swap_ans ? iota_dims(static_cast<int64_t>(x_batch.size()), y_kept.size())
                              : iota_dims(static_cast<int64_t>(x_batch.size() + x_kept.size()), y_kept.size());
  // Operands of dot_general share one dtype; with preferred_element_type the cotangent may be
  // wider than y, so the contraction runs in the cotangent's dtype and the result is narrowed.
  Array g = g_in, yy = y;
  if (yy.dtype() != g.dtype()) yy = lax::convert_element_type(yy, g.dtype());
  Array r = bind1(dot_general_p, {g, yy},
                  Params{{"lhs_contracting", ans_y},
                         {"rhs_contracting", y_kept},
                         {"lhs_batch", ans_batch},
                         {"rhs_batch", y_batch}});
  // r's dims: x_batch..., x_kept..., x_contract sorted by y_contract.
  std::vector<size_t> order(y_contract.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return y_contract[a] < y_contract[b]; });
  Dims src = x_batch;  // src[k] = the x dim held by r's dim k
  src.insert(src.end(), x_kept.begin(), x_kept.end());
  for (size_t i : order) src.push_back(x_contract[i]);
  std::vector<int> perm(src.size());  // perm[d] = r's dim holding x dim d (argsort of src)
  for (size_t k = 0; k < src.size(); ++k) perm[static_cast<size_t>(src[k])] = static_cast<int>(k);
  bool identity = true;
  for (size_t d = 0; d < perm.size(); ++d) identity &= perm[d] == static_cast<int>(d);
  if (!identity) r = transpose(r, perm);
  if (r.dtype() != y.dtype()) r = lax::convert_element_type(r, y.dtype());
  return r;
}

std::vector<Array> dot_general_transpose(std::span<const Array> cts, std::span<const Array> args,
                                         std::span<const bool> linear, const Params& p) {
  const Dims& lc = p.get_ints("lhs_contracting");
  const Dims& rc = p.get_ints("rhs_contracting");
  const Dims& lb = p.get_ints("lhs_batch");
  const Dims& rb = p.get_ints("rhs_batch");
  if (linear[0] && linear[1]) {
    throw_error<ValueError>("[dot_general] transpose: both operands are linear (the product of two linear "
                            "values is not linear)");
  }
  std::vector<Array> out(2);
  if (!cts[0].defined()) return out;
  if (linear[0]) {
    // x's rank: its batch + contracting dims plus the output dims not taken by y.
    const Array& y = args[1];
    const int64_t y_free = y.ndim() - static_cast<int64_t>(rc.size() + rb.size());
    const int64_t x_ndim = cts[0].ndim() - y_free + static_cast<int64_t>(lc.size());
    out[0] = dot_transpose_lhs(cts[0], y, x_ndim, lc, rc, lb, rb, false);
  } else if (linear[1]) {
    const Array& x = args[0];
    const int64_t x_free = x.ndim() - static_cast<int64_t>(lc.size() + lb.size());
    const int64_t y_ndim = cts[0].ndim() - x_free + static_cast<int64_t>(rc.size());
    out[1] = dot_transpose_lhs(cts[0], x, y_ndim, rc, lc, rb, lb, true);
  }
  return out;
}

// ---- batching (as jax/_src/lax/lax.py: _dot_general_batch_rule / _dot_general_batch_dim_nums) --

// Dims shifted past an inserted axis at `b` (JAX's bump_dims).
Dims bump_dims(const Dims& dims, int64_t b) {
  Dims out;
  for (auto d : dims) out.push_back(d + (d >= b ? 1 : 0));
  return out;
}

// Both operands mapped: the two batch axes become a new leading dot_general batch dimension
// (output batch axis 0). One mapped: its batch axis is a free dimension of that operand and
// lands among the output's dims for that operand (lhs free dims follow the batch dims, rhs free
// dims follow the lhs ones), so no operand is transposed or broadcast.
std::pair<std::vector<Array>, std::vector<BatchDim>> dot_general_batch(std::span<const Array> args,
                                                                       std::span<const BatchDim> dims,
                                                                       const Params& p) {
  Dims lc = p.get_ints("lhs_contracting"), rc = p.get_ints("rhs_contracting");
  Dims lb = p.get_ints("lhs_batch"), rb = p.get_ints("rhs_batch");
  const BatchDim lbd = dims[0], rbd = dims[1];
  int64_t out_dim = 0;
  auto count_less = [](const Dims& v, int64_t b) {
    int64_t n = 0;
    for (auto d : v) n += d < b ? 1 : 0;
    return n;
  };
  if (lbd && rbd) {
    Dims nlb{*lbd}, nrb{*rbd};
    for (auto d : bump_dims(lb, *lbd)) nlb.push_back(d);
    for (auto d : bump_dims(rb, *rbd)) nrb.push_back(d);
    lc = bump_dims(lc, *lbd);
    rc = bump_dims(rc, *rbd);
    lb = nlb;
    rb = nrb;
    out_dim = 0;
  } else if (lbd) {
    // Logical lhs free dims before the batch axis precede it in the output.
    const int64_t logical_ndim = args[0].ndim() - 1;
    out_dim = static_cast<int64_t>(lb.size()) + count_less(remaining(logical_ndim, lc, lb), *lbd);
    lb = bump_dims(lb, *lbd);
    lc = bump_dims(lc, *lbd);
  } else {
    const int64_t logical_ndim = args[1].ndim() - 1;
    out_dim = args[0].ndim() - static_cast<int64_t>(lc.size()) + count_less(remaining(logical_ndim, rc, rb), *rbd);
    rb = bump_dims(rb, *rbd);
    rc = bump_dims(rc, *rbd);
  }
  Params q = p;
  q.set("lhs_contracting", lc);
  q.set("rhs_contracting", rc);
  q.set("lhs_batch", lb);
  q.set("rhs_batch", rb);
  return {{bind1(dot_general_p, {args[0], args[1]}, q)}, {BatchDim(out_dim)}};
}

}  // namespace

const Primitive dot_general_p =
    PrimitiveBuilder("dot_general")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 2, "dot_general takes two operands");
          const auto& a = in[0];
          const auto& b = in[1];
          const auto& lc = p.get_ints("lhs_contracting");
          const auto& rc = p.get_ints("rhs_contracting");
          const auto& lb = p.get_ints("lhs_batch");
          const auto& rb = p.get_ints("rhs_batch");
          if (a.dtype != b.dtype) {
            throw_error<DTypeError>("[dot_general] operands must have the same dtype, got lhs ", a.str(), ", rhs ",
                                    b.str());
          }
          if (lc.size() != rc.size()) {
            throw_error<ShapeError>("[dot_general] lhs has ", lc.size(), " contracting dimensions but rhs has ",
                                    rc.size(), ": lhs ", a.str(), ", rhs ", b.str());
          }
          if (lb.size() != rb.size()) {
            throw_error<ShapeError>("[dot_general] lhs has ", lb.size(), " batch dimensions but rhs has ", rb.size(),
                                    ": lhs ", a.str(), ", rhs ", b.str());
          }
          std::vector<bool> lused, rused;
          check_dims(a, "lhs", lc, lb, lused);
          check_dims(b, "rhs", rc, rb, rused);
          for (size_t i = 0; i < lc.size(); ++i) {
            if (a.shape[lc[i]] != b.shape[rc[i]]) {
              throw_error<ShapeError>("[dot_general] contracting dimensions differ: lhs ", a.str(), ", rhs ",
                                      b.str(), " (", a.shape[lc[i]], " vs ", b.shape[rc[i]], ")");
            }
          }
          Shape out;
          for (size_t i = 0; i < lb.size(); ++i) {
            if (a.shape[lb[i]] != b.shape[rb[i]]) {
              throw_error<ShapeError>("[dot_general] batch dimensions differ: lhs ", a.str(), ", rhs ", b.str(),
                                      " (", a.shape[lb[i]], " vs ", b.shape[rb[i]], ")");
            }
            out.push_back(a.shape[lb[i]]);
          }
          for (int64_t d = 0; d < a.ndim(); ++d)
            if (!lused[d]) out.push_back(a.shape[d]);
          for (int64_t d = 0; d < b.ndim(); ++d)
            if (!rused[d]) out.push_back(b.shape[d]);
          DType dt = a.dtype;
          bool weak = a.weak_type && b.weak_type;
          if (p.has("preferred_element_type")) {
            DType pref = p.get<DType>("preferred_element_type");
            if (!same_kind(pref, a.dtype)) {
              throw_error<DTypeError>("[dot_general] preferred_element_type ", dtype_name(pref),
                                      " is not of the operands' kind: lhs ", a.str(), ", rhs ", b.str());
            }
            if (pref != dt) weak = false;
            dt = pref;
          }
          return std::vector<AbstractValue>{{dt, out, weak}};
        })
        // Bilinear: d(x . y) = dx . y + x . dy (symbolic zeros skipped).
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array>,
                const Params& p) {
          Array t;
          if (tangents[0].defined()) t = bind1(dot_general_p, {tangents[0], primals[1]}, p);
          if (tangents[1].defined()) t = add_tangents(t, bind1(dot_general_p, {primals[0], tangents[1]}, p));
          return std::vector<Array>{t};
        })
        .transpose(dot_general_transpose)
        .batch(dot_general_batch)
        .sample({AbstractValue{DType::float32, {3, 4}, false}, AbstractValue{DType::float32, {4, 5}, false}},
                Params{{"lhs_contracting", std::vector<int64_t>{1}},
                       {"rhs_contracting", std::vector<int64_t>{0}},
                       {"lhs_batch", std::vector<int64_t>{}},
                       {"rhs_batch", std::vector<int64_t>{}}})
        .sample({AbstractValue{DType::float64, {2, 4, 3}, false}, AbstractValue{DType::float64, {2, 4, 5}, false}},
                Params{{"lhs_contracting", std::vector<int64_t>{1}},
                       {"rhs_contracting", std::vector<int64_t>{1}},
                       {"lhs_batch", std::vector<int64_t>{0}},
                       {"rhs_batch", std::vector<int64_t>{0}}})
        .build();

namespace lax {

Array dot_general(const Array& lhs, const Array& rhs, const std::pair<Axes, Axes>& contracting,
                  const std::pair<Axes, Axes>& batch, std::optional<DType> preferred, const Loc& loc) {
  return at_loc(loc, [&] {
    auto norm = [&](const Axes& axes, const Array& x) {
      std::vector<int64_t> out;
      for (int d : axes) out.push_back(normalize_axis("dot_general", d, x.ndim()));
      return out;
    };
    Params p{{"lhs_contracting", norm(contracting.first, lhs)},
             {"rhs_contracting", norm(contracting.second, rhs)},
             {"lhs_batch", norm(batch.first, lhs)},
             {"rhs_batch", norm(batch.second, rhs)}};
    if (preferred) p.set("preferred_element_type", *preferred);
    return bind1(dot_general_p, {lhs, rhs}, p);
  });
}

}  // namespace lax
}  // namespace jx
