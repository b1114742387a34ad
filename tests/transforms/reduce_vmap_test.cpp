// Batching of the reduce family (reduce_sum/prod/max/min/and/or, argmax/argmin, cumsum/cumprod)
// and the ops built on them (sum, mean, prod, max, min, var, std, logsumexp, all, any, argmax,
// argmin, cumsum, cumprod, softmax, log_softmax, relu, gelu): vmap equals the loop over slices
// (check_vmap) for leading, middle, trailing and unmapped axes; the rules keep the batch axis in
// place (no transpose is staged); vmap composes with grad both ways.
#include <sstream>

#include "core/prims/reduce.h"
#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using jx::testing::check_vmap;
using jx::testing::VecFnV;

namespace {

Array rnd(const Shape& shape, unsigned seed, DType dtype = float32, double lo = -2.0, double hi = 2.0) {
  return jx::testing::uniform(shape, lo, hi, dtype, seed);
}

// Bools with both values present (uniform integers 0/1 converted).
Array bools(const Shape& shape, unsigned seed) { return rnd(shape, seed, int32, 0.0, 2.0).astype(DType::bool_); }

Params axes_params(std::vector<int64_t> axes) { return Params{{"axes", std::move(axes)}}; }

// The primitive applied to one argument with fixed params.
VecFnV prim_fn(const Primitive& prim, Params params) {
  return [prim, params](const std::vector<Array>& a) { return bind1(prim, {a[0]}, params); };
}

// x has per-example shape `example`; it is batched (batch size 3) at axis 0, 1 and -1 in turn,
// and each result is checked against the loop, with the output batch axis at 0 and at -1.
void check_axes_sweep(const VecFnV& f, const Shape& example, DType dtype, unsigned seed,
                      double lo = -2.0, double hi = 2.0) {
  const int64_t batch = 3;
  for (int in_axis : {0, 1, -1}) {
    Shape shape = example;
    int pos = in_axis < 0 ? static_cast<int>(shape.size()) : in_axis;
    if (pos > static_cast<int>(shape.size())) continue;
    shape.insert(shape.begin() + pos, batch);
    Array x = dtype == DType::bool_ ? bools(shape, seed) : rnd(shape, seed, dtype, lo, hi);
    for (int out_axis : {0, -1}) {
      CAPTURE(in_axis);
      CAPTURE(out_axis);
      check_vmap(f, {x}, {in_axis}, out_axis);
    }
  }
}

// The printed jaxpr of vmap(f) with the given axes.
std::string batched_jaxpr(const VecFnV& f, const Array& x, int in_axis, int out_axis) {
  std::ostringstream os;
  os << make_jaxpr([&](const Array& v) { return vmap([&](const Array& e) { return f({e}); }, {Axis(in_axis)},
                                                     {Axis(out_axis)})(v); })(x);
  return os.str();
}

// Calls the primitive's batching rule directly.
std::pair<std::vector<Array>, std::vector<BatchDim>> run_rule(const Primitive& prim, const Array& x, int64_t dim,
                                                              const Params& params) {
  std::vector<Array> args{x};
  std::vector<BatchDim> dims{dim};
  return prim.def().batch(args, dims, params);
}

}  // namespace

// ---- the rules themselves --------------------------------------------------------------------

TEST_CASE("reduce_sum: the rule shifts the axes past the batch axis and reports where it lands") {
  // Per-example [3, 5, 2] with the batch (4) at physical axis 2: physical [3, 5, 4, 2].
  Array x = rnd({3, 5, 4, 2}, 1);
  auto [outs, dims] = run_rule(reduce_sum_p, x, 2, axes_params({0, 2}));  // per-example axes 0, 2
  REQUIRE(outs.size() == 1);
  CHECK(outs[0].shape() == Shape{5, 4});  // physical axes 0 and 3 reduced
  CHECK(dims[0] == BatchDim(1));          // one reduced axis before the batch axis
  auto [outs2, dims2] = run_rule(reduce_sum_p, x, 2, axes_params({2}));  // per-example axis 2 -> physical 3
  CHECK(outs2[0].shape() == Shape{3, 5, 4});
  CHECK(dims2[0] == BatchDim(2));
  auto [outs3, dims3] = run_rule(reduce_sum_p, x, 0, axes_params({0, 1, 2}));  // everything but the batch
  CHECK(outs3[0].shape() == Shape{3});
  CHECK(dims3[0] == BatchDim(0));
}

TEST_CASE("argmax: the rule shifts the axis and keeps index_dtype") {
  Array x = rnd({3, 4, 5}, 2);
  auto [outs, dims] = run_rule(argmax_p, x, 1, Params{{"axes", std::vector<int64_t>{1}}, {"index_dtype", DType::int64}});
  CHECK(outs[0].shape() == Shape{3, 4});  // per-example axis 1 is physical axis 2
  CHECK(outs[0].dtype() == DType::int64);
  CHECK(dims[0] == BatchDim(1));
  auto [outs2, dims2] = run_rule(argmin_p, x, 1, Params{{"axes", std::vector<int64_t>{0}}, {"index_dtype", DType::int32}});
  CHECK(outs2[0].shape() == Shape{4, 5});
  CHECK(dims2[0] == BatchDim(0));
}

TEST_CASE("cumsum: the rule shifts the axis and keeps the batch axis") {
  Array x = rnd({3, 4, 5}, 3);
  auto [outs, dims] = run_rule(cumsum_p, x, 1, Params{{"axis", int64_t{1}}, {"reverse", true}});
  CHECK(outs[0].shape() == Shape{3, 4, 5});
  CHECK(dims[0] == BatchDim(1));
  // Per-example axis 1 is physical axis 2: the result equals cumsum along 2 of the whole array.
  CHECK_ALLCLOSE(outs[0], bind1(cumsum_p, {x}, Params{{"axis", int64_t{2}}, {"reverse", true}}));
}

TEST_CASE("reduce_max: batching stages no transpose") {
  Array x = rnd({4, 3, 5}, 4);
  // Batch at 1, per-example axis 0 reduced: the batch axis lands at 0, where out_axes wants it.
  std::string jaxpr = batched_jaxpr([](const std::vector<Array>& a) { return lax::reduce_max(a[0], {0}); }, x, 1, 0);
  INFO(jaxpr);
  CHECK(jaxpr.find("reduce_max[axes=(0,)]") != std::string::npos);
  CHECK(jaxpr.find("transpose") == std::string::npos);
  jaxpr = batched_jaxpr([](const std::vector<Array>& a) { return bind1(cumprod_p, {a[0]}, Params{{"axis", int64_t{1}}, {"reverse", false}}); }, x, 1, 1);
  CHECK(jaxpr.find("cumprod[axis=2") != std::string::npos);
  CHECK(jaxpr.find("transpose") == std::string::npos);
  jaxpr = batched_jaxpr([](const std::vector<Array>& a) { return bind1(argmin_p, {a[0]}, Params{{"axes", std::vector<int64_t>{1}}, {"index_dtype", DType::int32}}); }, x, -1, -1);
  CHECK(jaxpr.find("argmin[axes=(1,)") != std::string::npos);
  CHECK(jaxpr.find("transpose") == std::string::npos);
}

// ---- each primitive against the loop -----------------------------------------------------------

TEST_CASE("reduce_sum: vmap equals the loop (axes, in/out axes, dtypes)") {
  for (DType dt : {float32, float64, int32}) {
    CAPTURE(dtype_name(dt));
    for (auto axes : std::vector<std::vector<int64_t>>{{0}, {1}, {0, 1}, {}}) {
      check_axes_sweep(prim_fn(reduce_sum_p, axes_params(axes)), {2, 5}, dt, 10);
    }
  }
  // A reduction over three axes of a rank-3 example, and an empty reduced axis.
  check_axes_sweep(prim_fn(reduce_sum_p, axes_params({0, 2})), {2, 3, 4}, float64, 11);
  check_axes_sweep(prim_fn(reduce_sum_p, axes_params({1})), {2, 0}, float32, 12);
  // A 0-d example (physical [3]) reduced over no axes.
  check_axes_sweep(prim_fn(reduce_sum_p, axes_params({})), {}, float64, 9);
}

TEST_CASE("reduce_prod: vmap equals the loop") {
  for (DType dt : {float64, int32}) {
    check_axes_sweep(prim_fn(reduce_prod_p, axes_params({1})), {2, 4}, dt, 13, -3.0, 3.0);
    check_axes_sweep(prim_fn(reduce_prod_p, axes_params({0, 1})), {2, 3}, dt, 14, -3.0, 3.0);
  }
}

TEST_CASE("reduce_max: vmap equals the loop") {
  for (DType dt : {float32, int32}) {
    check_axes_sweep(prim_fn(reduce_max_p, axes_params({0})), {4, 3}, dt, 15, -9.0, 9.0);
    check_axes_sweep(prim_fn(reduce_max_p, axes_params({1, 2})), {2, 3, 2}, dt, 16, -9.0, 9.0);
  }
}

TEST_CASE("reduce_min: vmap equals the loop") {
  for (DType dt : {float64, int32}) {
    check_axes_sweep(prim_fn(reduce_min_p, axes_params({1})), {4, 3}, dt, 17, -9.0, 9.0);
    check_axes_sweep(prim_fn(reduce_min_p, axes_params({0, 2})), {2, 3, 2}, dt, 18, -9.0, 9.0);
  }
}

TEST_CASE("reduce_and: vmap equals the loop (bool and bitwise int)") {
  check_axes_sweep(prim_fn(reduce_and_p, axes_params({1})), {3, 2}, DType::bool_, 19);
  check_axes_sweep(prim_fn(reduce_and_p, axes_params({0, 1})), {2, 2}, DType::bool_, 20);
  check_axes_sweep(prim_fn(reduce_and_p, axes_params({0})), {3, 4}, int32, 21, 0.0, 16.0);
}

TEST_CASE("reduce_or: vmap equals the loop (bool and bitwise int)") {
  check_axes_sweep(prim_fn(reduce_or_p, axes_params({0})), {3, 2}, DType::bool_, 22);
  check_axes_sweep(prim_fn(reduce_or_p, axes_params({1})), {3, 4}, int32, 23, 0.0, 16.0);
}

TEST_CASE("argmax: vmap equals the loop (ties, index dtypes)") {
  for (DType index : {DType::int32, DType::int64}) {
    for (int64_t axis : {0, 1}) {
      Params p{{"axes", std::vector<int64_t>{axis}}, {"index_dtype", index}};
      check_axes_sweep(prim_fn(argmax_p, p), {4, 3}, float32, 24);
      check_axes_sweep(prim_fn(argmax_p, p), {4, 3}, int32, 25, 0.0, 3.0);  // many ties: first index wins
    }
  }
}

TEST_CASE("argmax: a NaN counts as the maximum in each example") {
  Array x = rnd({3, 4}, 32);
  Array nan_row = array(std::vector<double>{0.0, NAN, 1.0, NAN}, Shape{1, 4}).astype(float32);
  Array with_nan = concatenate({x, nan_row}, 0);  // examples along axis 1: example 1 and 3 hold a NaN
  Params p{{"axes", std::vector<int64_t>{0}}, {"index_dtype", DType::int32}};
  check_vmap(prim_fn(argmax_p, p), {with_nan}, {1});
  check_vmap(prim_fn(argmin_p, p), {with_nan}, {-1});
}

TEST_CASE("argmin: vmap equals the loop (ties)") {
  for (int64_t axis : {0, 2}) {
    Params p{{"axes", std::vector<int64_t>{axis}}, {"index_dtype", DType::int32}};
    check_axes_sweep(prim_fn(argmin_p, p), {3, 2, 4}, float64, 26);
    check_axes_sweep(prim_fn(argmin_p, p), {3, 2, 4}, int32, 27, 0.0, 3.0);
  }
}

TEST_CASE("cumsum: vmap equals the loop (both directions)") {
  for (bool reverse : {false, true}) {
    for (int64_t axis : {0, 1}) {
      Params p{{"axis", axis}, {"reverse", reverse}};
      check_axes_sweep(prim_fn(cumsum_p, p), {4, 3}, float32, 28);
      check_axes_sweep(prim_fn(cumsum_p, p), {4, 3}, int32, 29, -5.0, 5.0);
    }
  }
}

TEST_CASE("cumprod: vmap equals the loop (both directions)") {
  for (bool reverse : {false, true}) {
    for (int64_t axis : {0, 1}) {
      Params p{{"axis", axis}, {"reverse", reverse}};
      check_axes_sweep(prim_fn(cumprod_p, p), {4, 3}, float64, 30, -1.5, 1.5);
      check_axes_sweep(prim_fn(cumprod_p, p), {4, 3}, int32, 31, -3.0, 3.0);
    }
  }
}

// ---- the numpy-level ops -----------------------------------------------------------------------

TEST_CASE("sum: keepdims, negative axes, mixed mapped and unmapped arguments") {
  Array x = rnd({3, 4, 5}, 40), w = rnd({4, 5}, 41), x2 = rnd({4, 3, 5}, 39);
  check_vmap([](const std::vector<Array>& a) { return sum(a[0], {-1}, true); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return sum(a[0], {-2}); }, {x}, {-1}, 1);
  check_vmap([](const std::vector<Array>& a) { return sum(a[0]); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return sum(a[0].astype(DType::bool_), {0}); }, {x}, {2});  // bool -> int
  check_vmap([](const std::vector<Array>& a) { return sum(a[0] * a[1], {0}, true); }, {x, w}, {0, std::nullopt}, -1);
  check_vmap([](const std::vector<Array>& a) { return sum(a[0] * a[1], {-1}); }, {w, x2}, {std::nullopt, 1});
}

TEST_CASE("mean: keepdims, negative axes, integer input") {
  Array x = rnd({3, 4, 5}, 42), xi = rnd({4, 3, 5}, 43, int32, -9.0, 9.0);
  check_vmap([](const std::vector<Array>& a) { return mean(a[0], {-1}, true); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return mean(a[0], {0, 1}); }, {x}, {-1}, -1);
  check_vmap([](const std::vector<Array>& a) { return mean(a[0]); }, {xi}, {1});  // int -> float
}

TEST_CASE("prod: keepdims and negative axes") {
  Array x = rnd({3, 4, 2}, 44, float64, -1.5, 1.5);
  check_vmap([](const std::vector<Array>& a) { return prod(a[0], {-1}, true); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return prod(a[0], {0}); }, {x}, {-1}, 1);
}

TEST_CASE("max: keepdims, negative axes, mixed arguments") {
  Array x = rnd({3, 4, 5}, 45), y = rnd({5}, 46);
  check_vmap([](const std::vector<Array>& a) { return max(a[0], {-1}, true); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return max(a[0] + a[1], {0}); }, {x, y}, {0, std::nullopt}, -1);
}

TEST_CASE("min: keepdims, negative axes") {
  Array x = rnd({3, 4, 5}, 47, int32, -20.0, 20.0);
  check_vmap([](const std::vector<Array>& a) { return min(a[0], {-2}, true); }, {x}, {-1});
  check_vmap([](const std::vector<Array>& a) { return min(a[0]); }, {x}, {0});
}

TEST_CASE("var: ddof, keepdims, negative axes") {
  Array x = rnd({3, 4, 5}, 48, float64);
  check_vmap([](const std::vector<Array>& a) { return var(a[0], {-1}, true, 1); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return var(a[0], {0}); }, {x}, {-1}, 1);
}

TEST_CASE("std: keepdims, negative axes, float32") {
  Array x = rnd({3, 4, 5}, 49);
  check_vmap([](const std::vector<Array>& a) { return jx::std(a[0], {-1}); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return jx::std(a[0], {0, 1}, true); }, {x}, {2}, -1);
}

TEST_CASE("logsumexp: keepdims, -inf rows, mixed arguments") {
  Array x = rnd({3, 4, 5}, 50, float64), b = rnd({3, 5}, 51, float64);
  check_vmap([](const std::vector<Array>& a) { return logsumexp(a[0], {-1}, true); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return logsumexp(a[0] * a[1], {0}); }, {x, b}, {1, std::nullopt}, 1);
  // A row of -inf in one example: the finite-max shift must be per example.
  Array with_inf = concatenate({x, full({1, 4, 5}, Array(-INFINITY), float64)}, 0);  // example 3 is all -inf
  REQUIRE(with_inf.shape() == Shape{4, 4, 5});
  check_vmap([](const std::vector<Array>& a) { return logsumexp(a[0], {-1}); }, {with_inf}, {0});
}

TEST_CASE("all: keepdims, negative axes, non-bool input") {
  Array x = bools({3, 4, 2}, 52), xi = rnd({3, 4, 2}, 53, int32, 0.0, 2.0);
  check_vmap([](const std::vector<Array>& a) { return all(a[0], {-1}); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return all(a[0], {0}, true); }, {xi}, {-1});
}

TEST_CASE("any: keepdims, negative axes, non-bool input") {
  Array x = bools({3, 4, 2}, 54), xf = rnd({3, 4, 2}, 55, int32, 0.0, 2.0).astype(float32);
  check_vmap([](const std::vector<Array>& a) { return any(a[0], {-2}, true); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return any(a[0]); }, {xf}, {2});
}

TEST_CASE("argmax: op with keepdims and negative axes") {
  Array x = rnd({3, 4, 5}, 56);
  check_vmap([](const std::vector<Array>& a) { return argmax(a[0], -1); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return argmax(a[0], 0, true); }, {x}, {-1}, 1);
}

TEST_CASE("argmin: op with keepdims and negative axes") {
  Array x = rnd({3, 4, 5}, 57, int32, 0.0, 4.0);
  check_vmap([](const std::vector<Array>& a) { return argmin(a[0], -2, true); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return argmin(a[0], 1); }, {x}, {1});
}

TEST_CASE("cumsum: op with negative axes and bool input") {
  Array x = rnd({3, 4, 5}, 58), b = bools({3, 4, 5}, 59);
  check_vmap([](const std::vector<Array>& a) { return cumsum(a[0], -1); }, {x}, {1}, -1);
  check_vmap([](const std::vector<Array>& a) { return cumsum(a[0], 0); }, {b}, {-1});  // bool -> int
}

TEST_CASE("cumprod: op with negative axes") {
  Array x = rnd({3, 4, 5}, 60, float64, -1.5, 1.5);
  check_vmap([](const std::vector<Array>& a) { return cumprod(a[0], -2); }, {x}, {0});
}

TEST_CASE("softmax: axes, mixed arguments, integer input") {
  Array x = rnd({3, 4, 5}, 61), b = rnd({5}, 62), xi = rnd({3, 4}, 63, int32, -3.0, 3.0);
  check_vmap([](const std::vector<Array>& a) { return softmax(a[0]); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return softmax(a[0], 0); }, {x}, {-1}, 1);
  check_vmap([](const std::vector<Array>& a) { return softmax(a[0] + a[1], -1); }, {x, b}, {0, std::nullopt});
  check_vmap([](const std::vector<Array>& a) { return softmax(a[0]); }, {xi}, {0});
}

TEST_CASE("log_softmax: axes, mixed arguments") {
  Array x = rnd({3, 4, 5}, 64, float64), b = rnd({3, 4}, 65, float64);
  check_vmap([](const std::vector<Array>& a) { return log_softmax(a[0], -2); }, {x}, {-1});
  check_vmap([](const std::vector<Array>& a) { return log_softmax(a[0] * a[1]); }, {b, x}, {std::nullopt, 2}, 2);
}

TEST_CASE("relu: dtypes and axes") {
  Array x = rnd({3, 4}, 66), xi = rnd({4, 3}, 67, int32, -5.0, 5.0);
  check_vmap([](const std::vector<Array>& a) { return relu(a[0]); }, {x}, {1});
  check_vmap([](const std::vector<Array>& a) { return relu(a[0]); }, {xi}, {-1}, 1);
}

TEST_CASE("gelu: approximate and exact") {
  Array x = rnd({3, 4}, 68, float64);
  check_vmap([](const std::vector<Array>& a) { return gelu(a[0]); }, {x}, {0});
  check_vmap([](const std::vector<Array>& a) { return gelu(a[0], false); }, {x}, {1}, 1);
}

// ---- composition -----------------------------------------------------------------------------

TEST_CASE("reduce_sum: nested vmap equals the double loop") {
  // Outer batch at axis 2 of x [4, 5, 3]; inner batch at axis 0 of the [4, 5] example.
  Array x = rnd({4, 5, 3}, 70);
  VecFnV inner = [](const std::vector<Array>& a) {
    return vmap([](const Array& e) { return cumsum(e, -1) * sum(e); }, {Axis(0)}, {Axis(-1)})(a[0]);
  };
  check_vmap(inner, {x}, {2}, 1);
  Array y = rnd({3, 4, 2}, 71);
  VecFnV inner2 = [](const std::vector<Array>& a) {
    return vmap([](const Array& e) { return argmax(e, 0) + argmin(e, -1).astype(int32); }, {Axis(-1)})(a[0]);
  };
  check_vmap(inner2, {y}, {0});
}

TEST_CASE("log_softmax: vmap(grad) gives per-example gradients of a softmax cross-entropy") {
  // loss(w, x, y) = -sum(y * log_softmax(x @ w)); per-example gradients wrt the shared w.
  auto loss = [](const Array& w, const Array& x, const Array& y) { return -sum(y * log_softmax(matmul(x, w))); };
  Array w = rnd({4, 3}, 72, float64), xs = rnd({5, 4}, 73, float64);
  Array ys = softmax(rnd({5, 3}, 74, float64) * 3.0);  // soft labels
  VecFnV per_example = [loss](const std::vector<Array>& a) { return grad(loss)(a[0], a[1], a[2]); };
  check_vmap(per_example, {w, xs, ys}, {std::nullopt, 0, 0});
  // Examples along axis 1 of transposed inputs, gradients stacked last.
  check_vmap(per_example, {w, transpose(xs), transpose(ys)}, {std::nullopt, 1, 1}, -1);
  // Hand check for one example: d loss / d logits = softmax(logits) * sum(y) - y.
  Array g = vmap([loss](const Array& w2, const Array& x, const Array& y) { return grad(loss)(w2, x, y); },
                 {Axis(none), Axis(0), Axis(0)})(w, xs, ys);
  Array x0 = slice(xs, {0, 0}, {1, 4}), y0 = slice(ys, {0, 0}, {1, 3});
  Array expected = matmul(transpose(x0), softmax(matmul(x0, w)) * sum(y0) - y0);
  CHECK_ALLCLOSE_TOL(squeeze(slice(g, {0, 0, 0}, {1, 4, 3}), {0}), jx::testing::values(expected), 1e-10, 1e-12);
}

TEST_CASE("logsumexp: grad of a function that uses vmap inside matches finite differences") {
  Array x = rnd({3, 4}, 75, float64), v = rnd({4}, 76, float64);
  jx::testing::check_grads(
      [](const std::vector<Array>& a) {
        Array per_row = vmap([](const Array& r, const Array& c) { return logsumexp(r * c) + max(cumsum(r, 0)); },
                             {Axis(0), Axis(none)})(a[0], a[1]);
        return sum(per_row * per_row);
      },
      {x, v}, 2);
  jx::testing::check_grads(
      [](const std::vector<Array>& a) {
        Array s = vmap([](const Array& r) { return softmax(r) * cumprod(r, -1); })(a[0]);
        return sum(s * var(a[0], {1}, true));
      },
      {x}, 1);
}
