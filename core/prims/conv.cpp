// conv_general_dilated: layout parsing, shape rule, lax::conv_general_dilated and jx::conv.
// Kernels: backends/cpu/conv.cpp.

#include "core/prims/conv.h"

#include <algorithm>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"
#include "core/rules.h"

namespace jx {
namespace detail {

ConvLayout conv_layout(const std::string& lhs_spec, const std::string& rhs_spec, const std::string& out_spec,
                       int64_t rank) {
  auto check = [&](const std::string& spec, const char* which, char a, char b) {
    if (static_cast<int64_t>(spec.size()) != rank) {
      throw_error<ValueError>("[conv_general_dilated] ", which, " spec \"", spec, "\" has ", spec.size(),
                              " letters but the operands have rank ", rank);
    }
    for (size_t i = 0; i < spec.size(); ++i)
      if (spec.find(spec[i], i + 1) != std::string::npos) {
        throw_error<ValueError>("[conv_general_dilated] ", which, " spec \"", spec, "\" repeats '", spec[i], "'");
      }
    if (spec.find(a) == std::string::npos || spec.find(b) == std::string::npos) {
      throw_error<ValueError>("[conv_general_dilated] ", which, " spec \"", spec, "\" must contain '", a, "' and '", b,
                              "'");
    }
  };
  check(lhs_spec, "lhs", 'N', 'C');
  check(rhs_spec, "rhs", 'O', 'I');
  check(out_spec, "out", 'N', 'C');
  ConvLayout l;
  l.lhs_n = static_cast<int64_t>(lhs_spec.find('N'));
  l.lhs_c = static_cast<int64_t>(lhs_spec.find('C'));
  l.rhs_o = static_cast<int64_t>(rhs_spec.find('O'));
  l.rhs_i = static_cast<int64_t>(rhs_spec.find('I'));
  l.out_n = static_cast<int64_t>(out_spec.find('N'));
  l.out_c = static_cast<int64_t>(out_spec.find('C'));
  for (size_t i = 0; i < rhs_spec.size(); ++i) {
    char c = rhs_spec[i];
    if (c == 'O' || c == 'I') continue;
    size_t li = lhs_spec.find(c), oi = out_spec.find(c);
    if (li == std::string::npos || oi == std::string::npos || c == 'N' || c == 'C') {
      throw_error<ValueError>("[conv_general_dilated] spatial dimension '", c, "' of rhs spec \"", rhs_spec,
                              "\" is not a spatial dimension of lhs spec \"", lhs_spec, "\" and out spec \"",
                              out_spec, "\"");
    }
    l.rhs_spatial.push_back(static_cast<int64_t>(i));
    l.lhs_spatial.push_back(static_cast<int64_t>(li));
    l.out_spatial.push_back(static_cast<int64_t>(oi));
  }
  return l;
}

std::vector<std::pair<int64_t, int64_t>> padtype_to_pads(const char* op, const std::vector<int64_t>& in_shape,
                                                         const std::vector<int64_t>& window,
                                                         const std::vector<int64_t>& strides,
                                                         const std::string& mode) {
  std::vector<std::pair<int64_t, int64_t>> pads;
  if (mode == "VALID") {
    pads.assign(in_shape.size(), {0, 0});
  } else if (mode == "SAME") {
    for (size_t i = 0; i < in_shape.size(); ++i) {
      if (strides[i] <= 0) throw_error<ValueError>("[", op, "] strides must be positive, got ", strides[i]);
      int64_t out = (in_shape[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>((out - 1) * strides[i] + window[i] - in_shape[i], 0);
      pads.emplace_back(total / 2, total - total / 2);
    }
  } else {
    throw_error<ValueError>("[", op, "] padding must be \"SAME\", \"VALID\" or explicit (low, high) pairs, got \"",
                            mode, "\"");
  }
  return pads;
}

}  // namespace detail

namespace {

std::string ints_str(const std::vector<int64_t>& v) { return shape_str(Shape(v.begin(), v.end())); }

// ---- autodiff (as jax/_src/lax/convolution.py) -----------------------------------------------

using Dims = std::vector<int64_t>;

int64_t dilate_dim(int64_t d, int64_t dilation) { return d == 0 ? 0 : 1 + dilation * (d - 1); }

// A spec string with letters renamed: every `from[i]` becomes `to[i]` (simultaneously).
std::string rename_letters(std::string spec, const std::string& from, const std::string& to) {
  for (auto& c : spec) {
    auto k = from.find(c);
    if (k != std::string::npos) c = to[k];
  }
  return spec;
}

Array bind_conv(const Array& lhs, const Array& rhs, Dims strides, IntPairs pads, Dims ld, Dims rd, std::string ls,
                std::string rs, std::string os, int64_t groups) {
  return bind1(conv_general_dilated_p, {lhs, rhs},
               Params{{"window_strides", std::move(strides)},
                      {"padding", std::move(pads)},
                      {"lhs_dilation", std::move(ld)},
                      {"rhs_dilation", std::move(rd)},
                      {"lhs_spec", std::move(ls)},
                      {"rhs_spec", std::move(rs)},
                      {"out_spec", std::move(os)},
                      {"feature_group_count", groups}});
}

// JAX's _reshape_axis_out_of: splits axis `src` into (size1, size / size1).
Array reshape_axis_out_of(int64_t src, int64_t size1, const Array& x) {
  Shape s = x.shape();
  const int64_t size2 = s[src] / size1;
  s[src] = size2;
  s.insert(s.begin() + src, size1);
  return reshape(x, s);
}

// JAX's _reshape_axis_into: merges axis `src` into axis `dst` (numbered after `src` is
// removed) as its major part.
Array reshape_axis_into(int64_t src, int64_t dst, const Array& x) {
  std::vector<int> perm;
  for (int64_t i = 0; i < x.ndim(); ++i)
    if (i != src) perm.push_back(static_cast<int>(i));
  perm.insert(perm.begin() + dst, static_cast<int>(src));
  Shape s;
  for (int64_t i = 0; i < x.ndim(); ++i)
    if (i != src) s.push_back(x.shape()[i]);
  s[dst] *= x.shape()[src];
  return reshape(transpose(x, perm), s);
}

// The parameters of a conv_general_dilated equation, by name.
struct ConvParamsView {
  explicit ConvParamsView(const Params& p)
      : ls(p.get<std::string>("lhs_spec")),
        rs(p.get<std::string>("rhs_spec")),
        os(p.get<std::string>("out_spec")),
        strides(p.get_ints("window_strides")),
        pads(p.get<IntPairs>("padding")),
        ld(p.get_ints("lhs_dilation")),
        rd(p.get_ints("rhs_dilation")),
        G(p.get_int("feature_group_count")) {}
  const std::string &ls, &rs, &os;
  const std::vector<int64_t>& strides;
  const IntPairs& pads;
  const std::vector<int64_t>&ld, &rd;
  const int64_t G;
};

// Cotangent of the lhs (JAX's _conv_general_dilated_transpose_lhs): a convolution of the output
// cotangent with the spatially reversed kernel, its O and I roles swapped, where the forward
// strides become lhs dilation and the forward lhs dilation becomes the strides.
Array conv_transpose_lhs(const Array& g, const Array& rhs, const AbstractValue& lhs_aval, const Params& p) {
  const ConvParamsView v(p);
  const auto &ls = v.ls, &rs = v.rs, &os = v.os;
  const auto &strides = v.strides, &ld = v.ld, &rd = v.rd;
  const auto& pads = v.pads;
  const int64_t G = v.G;
  if (g.size() == 0 || rhs.size() == 0 || lhs_aval.size() == 0) return zeros_for(lhs_aval);
  auto l = detail::conv_layout(ls, rs, os, rhs.ndim());
  Array w = rhs;
  if (G > 1) {
    // Move the feature-group axis out of O into I, so the transposed kernel's output features
    // are the lhs features, group-major.
    w = reshape_axis_out_of(l.rhs_o, G, w);
    w = reshape_axis_into(l.rhs_o, l.rhs_i, w);
  }
  IntPairs t_pads;
  Dims rev_dims;
  for (size_t i = 0; i < l.lhs_spatial.size(); ++i) {
    const int64_t lhs_d = dilate_dim(lhs_aval.shape[l.lhs_spatial[i]], ld[i]);
    const int64_t rhs_d = dilate_dim(rhs.shape()[l.rhs_spatial[i]], rd[i]);
    const int64_t out_d = dilate_dim(g.shape()[l.out_spatial[i]], strides[i]);
    const int64_t before = rhs_d - pads[i].first - 1;
    const int64_t after = lhs_d + rhs_d - 1 - out_d - before;
    t_pads.emplace_back(before, after);
    rev_dims.push_back(l.rhs_spatial[i]);
  }
  return bind_conv(g, lax::rev(w, rev_dims), ld, t_pads, strides, rd, os, rename_letters(rs, "OI", "IO"), ls, G);
}

// Cotangent of the rhs (JAX's _conv_general_dilated_transpose_rhs): a convolution of the lhs
// (batch and feature roles swapped) with the output cotangent as the kernel, where the forward
// rhs dilation becomes the strides and the forward strides the rhs dilation. JAX expresses
// feature groups here with batch_group_count; jx folds the group axis of the lhs features into
// its batch axis instead and uses feature_group_count, which computes the same thing.
Array conv_transpose_rhs(const Array& g, const Array& lhs, const AbstractValue& rhs_aval, const Params& p) {
  const ConvParamsView v(p);
  const auto &ls = v.ls, &rs = v.rs, &os = v.os;
  const auto &strides = v.strides, &ld = v.ld, &rd = v.rd;
  const auto& pads = v.pads;
  const int64_t G = v.G;
  if (g.size() == 0 || lhs.size() == 0 || rhs_aval.size() == 0) return zeros_for(rhs_aval);
  auto l = detail::conv_layout(ls, rs, os, lhs.ndim());
  Array x = lhs;
  if (G > 1) {
    x = reshape_axis_out_of(l.lhs_c, G, x);
    x = reshape_axis_into(l.lhs_c, l.lhs_n, x);
  }
  IntPairs t_pads;
  for (size_t i = 0; i < l.lhs_spatial.size(); ++i) {
    const int64_t lhs_d = dilate_dim(lhs.shape()[l.lhs_spatial[i]], ld[i]);
    const int64_t rhs_d = dilate_dim(rhs_aval.shape[l.rhs_spatial[i]], rd[i]);
    const int64_t out_d = dilate_dim(g.shape()[l.out_spatial[i]], strides[i]);
    const int64_t lo = pads[i].first;
    t_pads.emplace_back(lo, (out_d - lhs_d) + (rhs_d - lo - 1));
  }
  return bind_conv(x, g, rd, t_pads, ld, strides, rename_letters(ls, "NC", "CN"), rename_letters(os, "NC", "IO"),
                   rename_letters(rs, "IO", "NC"), G);
}

std::vector<Array> conv_transpose(std::span<const Array> cts, std::span<const Array> args,
                                  std::span<const bool> linear, const Params& p) {
  if (linear[0] && linear[1]) {
    throw_error<ValueError>("[conv_general_dilated] transpose: both operands are linear (the convolution of two "
                            "linear values is not linear)");
  }
  std::vector<Array> out(2);
  if (!cts[0].defined()) return out;
  if (linear[0]) out[0] = conv_transpose_lhs(cts[0], args[1], transpose_input_aval(0), p);
  if (linear[1]) out[1] = conv_transpose_rhs(cts[0], args[0], transpose_input_aval(1), p);
  return out;
}

// ---- batching (as jax/_src/lax/convolution.py: _conv_general_dilated_batch_rule) -------------

// Folds the vmapped axis into an existing one, runs one convolution, and splits it back out:
//  - lhs only: the batch axis joins the lhs N dim (major); the output's N dim is split.
//  - rhs only, feature_group_count 1: the batch axis joins the rhs O dim; the output's C is split.
//  - rhs only, G > 1: the output features must stay group-major, so O is split into (G, O/G),
//    the batch axis joins O/G, and (G, B*O/G) are merged back; the output's C is split the same
//    way and regrouped as (B, G*O/G).
//  - both: the batch axis joins the lhs C and the rhs O dims (major) and feature_group_count is
//    multiplied by B, so example b's features only meet example b's kernel.
// The spec letters index the per-example layout (JAX's _reshape_axis_into numbers `dst` after
// `src` is removed), so the specs are passed through unchanged.
std::pair<std::vector<Array>, std::vector<BatchDim>> conv_batch(std::span<const Array> args,
                                                                std::span<const BatchDim> dims, const Params& p) {
  const Array& lhs = args[0];
  const Array& rhs = args[1];
  const BatchDim lbd = dims[0], rbd = dims[1];
  const int64_t rank = (lbd ? lhs.ndim() - 1 : lhs.ndim());
  auto l = detail::conv_layout(p.get<std::string>("lhs_spec"), p.get<std::string>("rhs_spec"),
                               p.get<std::string>("out_spec"), rank);
  const int64_t G = p.get_int("feature_group_count");
  const int64_t B = lbd ? lhs.shape()[*lbd] : rhs.shape()[*rbd];
  if (B == 0) {
    // No examples: the empty result, batch axis at the output's N dim (the reshapes below would
    // divide by B).
    std::vector<AbstractValue> ex{lhs.aval(), rhs.aval()};
    if (lbd) ex[0].shape.erase(ex[0].shape.begin() + *lbd);
    if (rbd) ex[1].shape.erase(ex[1].shape.begin() + *rbd);
    AbstractValue out = conv_general_dilated_p.def().shape_rule(ex, p)[0];
    out.shape.insert(out.shape.begin() + l.out_n, 0);
    return {{zeros_for(out)}, {BatchDim(l.out_n)}};
  }
  auto conv_with = [&](const Array& x, const Array& w, int64_t groups) {
    Params q = p;
    q.set("feature_group_count", groups);
    return bind1(conv_general_dilated_p, {x, w}, q);
  };
  if (lbd && rbd) {
    Array x = reshape_axis_into(*lbd, l.lhs_c, lhs);
    Array w = reshape_axis_into(*rbd, l.rhs_o, rhs);
    Array out = conv_with(x, w, G * B);
    return {{reshape_axis_out_of(l.out_c, B, out)}, {BatchDim(l.out_c)}};
  }
  if (lbd) {
    Array x = reshape_axis_into(*lbd, l.lhs_n, lhs);
    Array out = conv_with(x, rhs, G);
    return {{reshape_axis_out_of(l.out_n, B, out)}, {BatchDim(l.out_n)}};
  }
  if (G == 1) {
    Array w = reshape_axis_into(*rbd, l.rhs_o, rhs);
    Array out = conv_with(lhs, w, G);
    return {{reshape_axis_out_of(l.out_c, B, out)}, {BatchDim(l.out_c)}};
  }
  // Physical rhs: O at l.rhs_o + (rbd <= rhs_o). Split O into (G, O/G), then fold the batch
  // axis into O/G (now at rhs_o + 1 in the layout without the batch axis), then merge G back.
  Array w = reshape_axis_out_of(l.rhs_o + (*rbd <= l.rhs_o ? 1 : 0), G, rhs);
  w = reshape_axis_into(*rbd + (l.rhs_o < *rbd ? 1 : 0), l.rhs_o + 1, w);
  w = reshape_axis_into(l.rhs_o, l.rhs_o, w);
  Array out = conv_with(lhs, w, G);
  out = reshape_axis_out_of(l.out_c, G, out);          // (G, B*O/G)
  out = reshape_axis_out_of(l.out_c + 1, B, out);      // (G, B, O/G)
  out = reshape_axis_into(l.out_c, l.out_c + 1, out);  // (B, G*O/G)
  return {{out}, {BatchDim(l.out_c)}};
}

}  // namespace

const Primitive conv_general_dilated_p =
    PrimitiveBuilder("conv_general_dilated")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 2, "conv_general_dilated takes two operands");
          const auto& x = in[0];
          const auto& w = in[1];
          if (x.dtype != w.dtype) {
            throw_error<DTypeError>("[conv_general_dilated] operands must have the same dtype, got lhs ", x.str(),
                                    ", rhs ", w.str());
          }
          if (x.dtype == DType::bool_) {
            throw_error<DTypeError>("[conv_general_dilated] needs numeric operands, got lhs ", x.str(), ", rhs ",
                                    w.str());
          }
          if (x.ndim() != w.ndim() || x.ndim() < 2) {
            throw_error<ShapeError>("[conv_general_dilated] lhs and rhs must have the same rank (>= 2), got lhs ",
                                    x.str(), ", rhs ", w.str());
          }
          auto l = detail::conv_layout(p.get<std::string>("lhs_spec"), p.get<std::string>("rhs_spec"),
                                       p.get<std::string>("out_spec"), x.ndim());
          const size_t ns = l.lhs_spatial.size();
          const auto& strides = p.get_ints("window_strides");
          const auto& pads = p.get<IntPairs>("padding");
          const auto& ld = p.get_ints("lhs_dilation");
          const auto& rd = p.get_ints("rhs_dilation");
          auto check_len = [&](size_t n, const char* what) {
            if (n != ns) {
              throw_error<ShapeError>("[conv_general_dilated] ", what, " has ", n, " entries but there are ", ns,
                                      " spatial dimensions: lhs ", x.str(), ", rhs ", w.str());
            }
          };
          check_len(strides.size(), "window_strides");
          check_len(pads.size(), "padding");
          check_len(ld.size(), "lhs_dilation");
          check_len(rd.size(), "rhs_dilation");
          for (size_t i = 0; i < ns; ++i) {
            if (strides[i] <= 0 || ld[i] <= 0 || rd[i] <= 0) {
              throw_error<ValueError>("[conv_general_dilated] strides and dilations must be positive, got strides ",
                                      ints_str(strides), ", lhs_dilation ", ints_str(ld), ", rhs_dilation ",
                                      ints_str(rd));
            }
          }
          const int64_t G = p.get_int("feature_group_count");
          const int64_t C = x.shape[l.lhs_c], I = w.shape[l.rhs_i], O = w.shape[l.rhs_o];
          if (G <= 0) throw_error<ValueError>("[conv_general_dilated] feature_group_count must be positive, got ", G);
          if (C != I * G) {
            throw_error<ShapeError>("[conv_general_dilated] lhs feature dimension (", C,
                                    ") must equal rhs input feature dimension (", I, ") times feature_group_count (",
                                    G, "): lhs ", x.str(), ", rhs ", w.str());
          }
          if (O % G != 0) {
            throw_error<ShapeError>("[conv_general_dilated] rhs output feature dimension (", O,
                                    ") must be a multiple of feature_group_count (", G, "): rhs ", w.str());
          }
          Shape out(static_cast<size_t>(x.ndim()));
          out[l.out_n] = x.shape[l.lhs_n];
          out[l.out_c] = O;
          for (size_t i = 0; i < ns; ++i) {
            int64_t in_d = x.shape[l.lhs_spatial[i]], k = w.shape[l.rhs_spatial[i]];
            int64_t dilated = in_d == 0 ? 0 : (in_d - 1) * ld[i] + 1;
            int64_t padded = dilated + pads[i].first + pads[i].second;
            int64_t keff = k == 0 ? 0 : (k - 1) * rd[i] + 1;
            if (padded < 0) {
              throw_error<ShapeError>("[conv_general_dilated] negative padding ", pads[i].first, ", ", pads[i].second,
                                      " removes more than the whole spatial dimension ", i, " of lhs ", x.str());
            }
            out[l.out_spatial[i]] = padded < keff ? 0 : (padded - keff) / strides[i] + 1;
          }
          return std::vector<AbstractValue>{{x.dtype, out, x.weak_type && w.weak_type}};
        })
        // Bilinear: d conv(x, w) = conv(dx, w) + conv(x, dw) (symbolic zeros skipped).
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array>,
                const Params& p) {
          Array t;
          if (tangents[0].defined()) t = bind1(conv_general_dilated_p, {tangents[0], primals[1]}, p);
          if (tangents[1].defined()) t = add_tangents(t, bind1(conv_general_dilated_p, {primals[0], tangents[1]}, p));
          return std::vector<Array>{t};
        })
        .transpose(conv_transpose)
        .batch(conv_batch)
        .sample({AbstractValue{DType::float32, {1, 5, 5, 2}, false}, AbstractValue{DType::float32, {3, 3, 2, 3}, false}},
                Params{{"window_strides", std::vector<int64_t>{1, 2}},
                       {"padding", IntPairs{{1, 1}, {0, 1}}},
                       {"lhs_dilation", std::vector<int64_t>{1, 1}},
                       {"rhs_dilation", std::vector<int64_t>{1, 1}},
                       {"lhs_spec", std::string("NHWC")},
                       {"rhs_spec", std::string("HWIO")},
                       {"out_spec", std::string("NHWC")},
                       {"feature_group_count", int64_t{1}}})
        .build();

namespace lax {

Array conv_general_dilated(const Array& lhs, const Array& rhs, const std::vector<int64_t>& window_strides,
                           const Padding& padding, const std::vector<int64_t>& lhs_dilation,
                           const std::vector<int64_t>& rhs_dilation, const ConvDimensionNumbers& dn,
                           int64_t feature_group_count, const Loc& loc) {
  return at_loc(loc, [&] {
    const char* op = "conv_general_dilated";
    if (lhs.ndim() != rhs.ndim() || lhs.ndim() < 2) {
      throw_error<ShapeError>("[", op, "] lhs and rhs must have the same rank (>= 2), got lhs ", lhs.aval().str(),
                              ", rhs ", rhs.aval().str());
    }
    auto l = detail::conv_layout(dn.lhs, dn.rhs, dn.out, lhs.ndim());
    const size_t ns = l.lhs_spatial.size();
    auto ones_if_empty = [&](const std::vector<int64_t>& v) {
      return v.empty() ? std::vector<int64_t>(ns, 1) : v;
    };
    auto strides = ones_if_empty(window_strides), ld = ones_if_empty(lhs_dilation), rd = ones_if_empty(rhs_dilation);
    IntPairs pads = padding.pairs;
    if (padding.pairs.empty() && !(padding.mode.empty() && ns == 0)) {
      if (strides.size() != ns || rd.size() != ns) {
        throw_error<ShapeError>("[", op, "] window_strides and rhs_dilation need one entry per spatial dimension (",
                                ns, ") of lhs ", lhs.aval().str());
      }
      std::vector<int64_t> in_shape, window;
      for (size_t i = 0; i < ns; ++i) {
        in_shape.push_back(lhs.shape()[l.lhs_spatial[i]]);
        int64_t k = rhs.shape()[l.rhs_spatial[i]];
        window.push_back(k == 0 ? 0 : (k - 1) * rd[i] + 1);
      }
      pads = detail::padtype_to_pads(op, in_shape, window, strides, padding.mode);
    }
    return bind1(conv_general_dilated_p, {lhs, rhs},
                 Params{{"window_strides", strides},
                        {"padding", pads},
                        {"lhs_dilation", ld},
                        {"rhs_dilation", rd},
                        {"lhs_spec", dn.lhs},
                        {"rhs_spec", dn.rhs},
                        {"out_spec", dn.out},
                        {"feature_group_count", feature_group_count}});
  });
}

}  // namespace lax

Array conv(const Array& x, const Array& w, const std::vector<int64_t>& strides, const Padding& padding,
           const std::vector<int64_t>& dilation, const Loc& loc) {
  return at_loc(loc, [&] {
    if (x.ndim() != 4 || w.ndim() != 4) {
      throw_error<ShapeError>("[conv] needs NHWC input and HWIO kernel of rank 4, got x ", x.aval().str(), ", w ",
                              w.aval().str());
    }
    if (x.shape()[3] != w.shape()[2]) {
      throw_error<ShapeError>("[conv] input channels of x ", x.aval().str(), " (", x.shape()[3],
                              ") differ from the kernel's input channels, w ", w.aval().str(), " (", w.shape()[2],
                              ")");
    }
    std::vector<Array> args{x, w};
    auto t = detail::result_type(args);
    return lax::conv_general_dilated(detail::convert(x, t), detail::convert(w, t), strides, padding, {}, dilation,
                                     {"NHWC", "HWIO", "NHWC"}, 1);
  });
}

}  // namespace jx
