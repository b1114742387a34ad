// Windowed reductions: shape rules, lax::reduce_window, max_pool and avg_pool.
// Kernels: backends/cpu/window.cpp.

#include "core/prims/window.h"

#include <array>
#include <cmath>
#include <limits>

#include "core/ops.h"
#include "core/prims/conv.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"
#include "core/rules.h"

namespace jx {

namespace {

std::string ints_str(const std::vector<int64_t>& v) { return shape_str(Shape(v.begin(), v.end())); }

// Batching (as JAX's reduce_window batch rule): the window config gains an entry for the batch
// axis, in place: window and stride 1, no padding, no dilation. The batch axis stays where it is.
// `prim` points at the primitive's own (global) handle, read when the rule runs.
BatchRule window_batch_rule(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
    const int64_t b = *dims[0];
    auto with_one = [b](std::vector<int64_t> v) {
      v.insert(v.begin() + b, 1);
      return v;
    };
    IntPairs pads = p.get<IntPairs>("padding");
    pads.insert(pads.begin() + b, {0, 0});
    Params q = p;
    q.set("window_dimensions", with_one(p.get_ints("window_dimensions")));
    q.set("window_strides", with_one(p.get_ints("window_strides")));
    q.set("padding", pads);
    q.set("base_dilation", with_one(p.get_ints("base_dilation")));
    q.set("window_dilation", with_one(p.get_ints("window_dilation")));
    return std::pair{std::vector<Array>{bind1(*prim, {args[0]}, q)}, std::vector<BatchDim>{BatchDim(b)}};
  };
}

PrimitiveBuilder reduce_window_builder(const std::string& name, bool allow_bool) {
  PrimitiveBuilder b(name);
  b.shape_rule([name, allow_bool](std::span<const AbstractValue> in, const Params& p) {
    JX_CHECK(in.size() == 1, name, " takes one operand");
    const auto& x = in[0];
    if (!allow_bool && x.dtype == DType::bool_) {
      throw_error<DTypeError>("[", name, "] needs a numeric operand, got ", x.str());
    }
    const auto& win = p.get_ints("window_dimensions");
    const auto& strides = p.get_ints("window_strides");
    const auto& pads = p.get<IntPairs>("padding");
    const auto& bd = p.get_ints("base_dilation");
    const auto& wd = p.get_ints("window_dilation");
    const size_t n = static_cast<size_t>(x.ndim());
    if (win.size() != n || strides.size() != n || pads.size() != n || bd.size() != n || wd.size() != n) {
      throw_error<ShapeError>("[", name, "] window_dimensions ", ints_str(win), ", window_strides ", ints_str(strides),
                              ", padding (", pads.size(), " pairs), base_dilation and window_dilation need one entry "
                              "per dimension of operand ", x.str());
    }
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
      if (win[i] <= 0 || strides[i] <= 0 || bd[i] <= 0 || wd[i] <= 0) {
        throw_error<ValueError>("[", name, "] window dimensions, strides and dilations must be positive, got window ",
                                ints_str(win), ", strides ", ints_str(strides), " for operand ", x.str());
      }
      if (pads[i].first < 0 || pads[i].second < 0) {
        throw_error<ValueError>("[", name, "] padding must be non-negative, got (", pads[i].first, ", ",
                                pads[i].second, ") for dimension ", i, " of ", x.str());
      }
      int64_t dilated = x.shape[i] == 0 ? 0 : (x.shape[i] - 1) * bd[i] + 1;
      int64_t padded = dilated + pads[i].first + pads[i].second;
      int64_t weff = (win[i] - 1) * wd[i] + 1;
      out[i] = padded < weff ? 0 : (padded - weff) / strides[i] + 1;
    }
    return std::vector<AbstractValue>{{x.dtype, out, x.weak_type}};
  });
  b.sample({AbstractValue{DType::float32, {1, 4, 5, 2}, false}},
           Params{{"window_dimensions", std::vector<int64_t>{1, 2, 2, 1}},
                  {"window_strides", std::vector<int64_t>{1, 2, 1, 1}},
                  {"padding", IntPairs{{0, 0}, {0, 1}, {1, 0}, {0, 0}}},
                  {"base_dilation", std::vector<int64_t>{1, 1, 1, 1}},
                  {"window_dilation", std::vector<int64_t>{1, 1, 1, 1}}});
  return b;
}

// The identity of each monoid for `dtype` (what padding holds).
double monoid_identity(lax::Monoid op, DType dtype) {
  switch (op) {
    case lax::Monoid::add: return 0.0;
    case lax::Monoid::mul: return 1.0;
    case lax::Monoid::max:
      if (is_floating(dtype)) return -std::numeric_limits<double>::infinity();
      if (dtype == DType::bool_) return 0.0;
      return dispatch_dtype(dtype, [](auto t) { return static_cast<double>(std::numeric_limits<decltype(t)>::lowest()); });
    case lax::Monoid::min:
      if (is_floating(dtype)) return std::numeric_limits<double>::infinity();
      if (dtype == DType::bool_) return 1.0;
      return dispatch_dtype(dtype, [](auto t) { return static_cast<double>(std::numeric_limits<decltype(t)>::max()); });
  }
  return 0.0;
}

const char* monoid_name(lax::Monoid op) {
  switch (op) {
    case lax::Monoid::add: return "add";
    case lax::Monoid::mul: return "mul";
    case lax::Monoid::max: return "max";
    case lax::Monoid::min: return "min";
  }
  return "?";
}

Array bind_window(const Primitive& prim, const Array& x, const std::vector<int64_t>& window,
                  const std::vector<int64_t>& strides, const IntPairs& pads) {
  const size_t n = static_cast<size_t>(x.ndim());
  return bind1(prim, {x},
               Params{{"window_dimensions", window},
                      {"window_strides", strides},
                      {"padding", pads},
                      {"base_dilation", std::vector<int64_t>(n, 1)},
                      {"window_dilation", std::vector<int64_t>(n, 1)}});
}

// Resolves "SAME"/"VALID"/explicit padding for a window over every dim of x.
IntPairs resolve_pads(const char* op, const Array& x, const std::vector<int64_t>& window,
                      const std::vector<int64_t>& strides, const Padding& padding) {
  if (!padding.pairs.empty() || (padding.mode.empty() && x.ndim() == 0)) return padding.pairs;
  if (window.size() != static_cast<size_t>(x.ndim()) || strides.size() != window.size()) {
    throw_error<ShapeError>("[", op, "] window ", ints_str(window), " and strides ", ints_str(strides),
                            " need one entry per dimension of operand ", x.aval().str());
  }
  return detail::padtype_to_pads(op, x.shape(), window, strides, padding.mode);
}

// max_pool / avg_pool: a window over the spatial dims of [N, spatial..., C] input.
Array pool(const char* op, const Primitive& prim, const Array& x, const std::vector<int64_t>& window,
           std::vector<int64_t> strides, const Padding& padding) {
  if (window.empty() || x.ndim() != static_cast<int64_t>(window.size()) + 2) {
    throw_error<ShapeError>("[", op, "] needs input [N, spatial..., C] with one window entry per spatial dimension, "
                            "got input ", x.aval().str(), " and window ", ints_str(window));
  }
  if (strides.empty()) strides = window;
  if (strides.size() != window.size()) {
    throw_error<ShapeError>("[", op, "] strides ", ints_str(strides), " and window ", ints_str(window),
                            " have different lengths");
  }
  std::vector<int64_t> w{1}, s{1};
  w.insert(w.end(), window.begin(), window.end());
  s.insert(s.end(), strides.begin(), strides.end());
  w.push_back(1);
  s.push_back(1);
  IntPairs pads;
  if (!padding.pairs.empty()) {
    if (padding.pairs.size() != window.size()) {
      throw_error<ShapeError>("[", op, "] explicit padding has ", padding.pairs.size(),
                              " pairs but the window has ", window.size(), " spatial dimensions");
    }
    pads.emplace_back(0, 0);
    pads.insert(pads.end(), padding.pairs.begin(), padding.pairs.end());
    pads.emplace_back(0, 0);
  } else {
    pads = resolve_pads(op, x, w, s, padding);
  }
  return bind_window(prim, x, w, s, pads);
}


// ---- autodiff (as jax/_src/lax/windowed_reductions.py) ----------------------------------------

using Dims = std::vector<int64_t>;

int64_t dilate_dim(int64_t d, int64_t dilation) { return d == 0 ? 0 : 1 + dilation * (d - 1); }

struct WindowParams {
  const Dims& win;
  const Dims& strides;
  const IntPairs& pads;
  const Dims& bd;
  const Dims& wd;
  explicit WindowParams(const Params& p)
      : win(p.get_ints("window_dimensions")),
        strides(p.get_ints("window_strides")),
        pads(p.get<IntPairs>("padding")),
        bd(p.get_ints("base_dilation")),
        wd(p.get_ints("window_dilation")) {}
};

// reduce_window_sum is linear: its JVP is itself applied to the tangent.
std::vector<Array> window_sum_jvp(std::span<const Array>, std::span<const Array> tangents, std::span<const Array>,
                                  const Params& p) {
  return {bind1(reduce_window_sum_p, {tangents[0]}, p)};
}

// JAX's _reduce_window_sum_transpose_rule: every operand element receives the sum of the output
// cotangents of the windows that cover it. Pad the cotangent (interior stride - 1, edges from
// conv's lhs-VJP padding), then sum windows of the same shape with strides = base dilation.
std::vector<Array> window_sum_transpose(std::span<const Array> cts, std::span<const Array>,
                                        std::span<const bool>, const Params& p) {
  if (!cts[0].defined()) return {Array()};
  const AbstractValue& in = transpose_input_aval(0);
  const Array& ct = cts[0];
  if (ct.size() == 0 || in.size() == 0) return {zeros_for(in)};
  WindowParams w(p);
  const size_t n = static_cast<size_t>(in.ndim());
  std::vector<std::array<int64_t, 3>> config;
  for (size_t i = 0; i < n; ++i) {
    const int64_t lhs_d = dilate_dim(in.shape[i], w.bd[i]);
    const int64_t rhs_d = dilate_dim(w.win[i], w.wd[i]);
    const int64_t out_d = dilate_dim(ct.shape()[i], w.strides[i]);
    const int64_t before = rhs_d - w.pads[i].first - 1;
    const int64_t after = lhs_d + rhs_d - 1 - out_d - before;
    config.push_back({before, after, w.strides[i] - 1});
  }
  Array padded = lax::pad(ct, scalar(0.0, ct.dtype()), config);
  Array r = bind1(reduce_window_sum_p, {padded},
                  Params{{"window_dimensions", w.win},
                         {"window_strides", w.bd},
                         {"padding", IntPairs(n, {0, 0})},
                         {"base_dilation", Dims(n, 1)},
                         {"window_dilation", w.wd}});
  return {r};
}

// JVP of reduce_window_max/min: each output takes the tangent at the position of its window's
// chosen element. JAX gathers it with _select_and_gather_add; jx instead slices the padded
// (and base-dilated) operand and tangent once per window offset (a strided slice gives that
// offset's element for every window at once) and selects, per window, the tangent at the first
// offset, in row-major window order, whose operand value equals the output. That is the first
// maximum (minimum) of the window, as JAX picks. Cost: one slice/compare/select per window
// element. A window whose maximum is NaN gets a zero tangent (no element compares equal).
// Integer operands have zero tangents.
std::vector<Array> window_chooser_jvp(bool is_max, std::span<const Array> primals, std::span<const Array> tangents,
                                      std::span<const Array> outputs, const Params& p) {
  const Array& x = primals[0];
  const Array& y = outputs[0];
  if (!is_floating(x.dtype())) return {Array()};
  const Array t = instantiate(tangents[0], x.aval());
  if (y.size() == 0) return {zeros(y.shape(), t.dtype())};
  WindowParams w(p);
  const size_t n = static_cast<size_t>(x.ndim());
  std::vector<std::array<int64_t, 3>> config;
  for (size_t i = 0; i < n; ++i) config.push_back({w.pads[i].first, w.pads[i].second, w.bd[i] - 1});
  const double identity = monoid_identity(is_max ? lax::Monoid::max : lax::Monoid::min, x.dtype());
  Array xp = lax::pad(x, scalar(identity, x.dtype()), config);
  Array tp = lax::pad(t, scalar(0.0, t.dtype()), config);
  // Window offsets in row-major order; walk them backwards so the first match is applied last.
  int64_t count = 1;
  for (auto d : w.win) count *= d;
  Array result = zeros(y.shape(), t.dtype());
  for (int64_t k = count; k-- > 0;) {
    Dims start(n), limit(n);
    int64_t rem = k;
    for (size_t i = n; i-- > 0;) {
      const int64_t off = rem % w.win[i];
      rem /= w.win[i];
      start[i] = off * w.wd[i];
      limit[i] = start[i] + (y.shape()[i] - 1) * w.strides[i] + 1;
    }
    Array xk = lax::slice(xp, start, limit, w.strides);
    Array tk = lax::slice(tp, start, limit, w.strides);
    result = lax::select(equal(xk, y), tk, result);
  }
  return {result};
}
}  // namespace

const Primitive reduce_window_sum_p = reduce_window_builder("reduce_window_sum", false)
                                          .jvp(window_sum_jvp)
                                          .transpose(window_sum_transpose)
                                          .batch(window_batch_rule(&reduce_window_sum_p))
                                          .build();
const Primitive reduce_window_max_p =
    reduce_window_builder("reduce_window_max", true)
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params& p) { return window_chooser_jvp(true, primals, tangents, outputs, p); })
        .batch(window_batch_rule(&reduce_window_max_p))
        .build();
const Primitive reduce_window_min_p =
    reduce_window_builder("reduce_window_min", true)
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params& p) { return window_chooser_jvp(false, primals, tangents, outputs, p); })
        .batch(window_batch_rule(&reduce_window_min_p))
        .build();

namespace lax {

Array reduce_window(const Array& x, const Array& init, Monoid op, const std::vector<int64_t>& window,
                    const std::vector<int64_t>& strides, const Padding& padding, const Loc& loc) {
  return at_loc(loc, [&] {
    if (op == Monoid::mul) {
      throw_error<ValueError>("[reduce_window] Monoid::mul is not supported yet (only add, max and min have "
                              "primitives); operand ", x.aval().str());
    }
    if (init.ndim() != 0) {
      throw_error<ShapeError>("[reduce_window] init must be a scalar, got ", init.aval().str());
    }
    if (init.dtype() != x.dtype() && !init.weak_type()) {
      throw_error<DTypeError>("[reduce_window] init ", init.aval().str(), " must have the operand's dtype, operand ",
                              x.aval().str());
    }
    const double identity = monoid_identity(op, x.dtype());
    if (init.is_tracer()) {
      throw_error<ValueError>("[reduce_window] init must be a concrete value (the identity of ", monoid_name(op),
                              ", ", identity, "), got a traced ", init.aval().str());
    }
    // Only the monoid's identity is supported: it is what the kernels pad with.
    const double v = init.astype(x.dtype()).item<double>();
    if (!(v == identity)) {
      throw_error<ValueError>("[reduce_window] init must be the identity of ", monoid_name(op), " for ",
                              dtype_name(x.dtype()), " (", identity, "), got ", v);
    }
    const Primitive& prim = op == Monoid::add ? reduce_window_sum_p
                            : op == Monoid::max ? reduce_window_max_p
                                                : reduce_window_min_p;
    return bind_window(prim, x, window, strides, resolve_pads("reduce_window", x, window, strides, padding));
  });
}

}  // namespace lax

Array max_pool(const Array& x, const std::vector<int64_t>& window, std::vector<int64_t> strides,
               const Padding& padding, const Loc& loc) {
  return at_loc(loc, [&] { return pool("max_pool", reduce_window_max_p, x, window, std::move(strides), padding); });
}

Array avg_pool(const Array& x, const std::vector<int64_t>& window, std::vector<int64_t> strides,
               const Padding& padding, const Loc& loc) {
  return at_loc(loc, [&] {
    if (x.dtype() == DType::bool_) {
      throw_error<DTypeError>("[avg_pool] needs a numeric input, got ", x.aval().str());
    }
    Array s = pool("avg_pool", reduce_window_sum_p, x, window, std::move(strides), padding);
    int64_t count = 1;
    for (auto w : window) count *= w;
    // count_include_pad: every window divides by its full size, as flax's avg_pool default.
    return divide(s, Array(static_cast<double>(count)));
  });
}

}  // namespace jx
