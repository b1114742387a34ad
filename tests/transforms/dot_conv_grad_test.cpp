// Derivatives of the contraction and window primitives: dot_general (and the linalg ops built
// on it), conv_general_dilated, reduce_window_{sum,max,min} (and max_pool / avg_pool). JVP and
// VJP against finite differences and each other (check_grads, second order in float64, first
// order in float32), plus hand-computed values.
#include "testing/check_grads.h"

using namespace jx;
using testing::check_grads;
using testing::uniform;
using Args = std::vector<Array>;

namespace {

Array rnd(const Shape& s, unsigned seed, DType dt = float64) { return uniform(s, -1.0, 1.0, dt, seed); }

// check_grads in float64 to second order and in float32 to first order.
void check_both(const testing::VecFn& f, const Args& args64) {
  {
    INFO("float64, order 2");
    check_grads(f, args64, 2);
  }
  Args args32;
  for (auto& a : args64) args32.push_back(a.astype(float32));
  INFO("float32, order 1");
  check_grads(f, args32, 1);
}

Array dg(const Array& a, const Array& b, lax::DotDimensionNumbers d) {
  return lax::dot_general(a, b, d.contracting, d.batch);
}

}  // namespace

// ---- dot_general ------------------------------------------------------------------------------

TEST_CASE("dot_general: grad of sum(a @ b) is ones @ b.T and a.T @ ones") {
  Array a = rnd({2, 3}, 1), b = rnd({3, 4}, 2);
  auto [ga, gb] = grad<0, 1>([](const Array& x, const Array& y) { return sum(matmul(x, y)); })(a, b);
  CHECK(ga.shape() == Shape{2, 3});
  CHECK(gb.shape() == Shape{3, 4});
  CHECK_ALLCLOSE(ga, matmul(ones({2, 4}, float64), transpose(b)));
  CHECK_ALLCLOSE(gb, matmul(transpose(a), ones({2, 4}, float64)));
  // Hand-computed: d/da_ij sum(a b) = sum_k b_jk.
  auto bv = b.to_vector<double>();
  std::vector<double> expect;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) expect.push_back(bv[j * 4] + bv[j * 4 + 1] + bv[j * 4 + 2] + bv[j * 4 + 3]);
  CHECK_ALLCLOSE(ga, expect);
}

TEST_CASE("dot_general: jvp is bilinear (dx . y + x . dy)") {
  Array a = rnd({2, 3}, 3), b = rnd({3, 2}, 4), da = rnd({2, 3}, 5), db = rnd({3, 2}, 6);
  auto f = [](const Array& x, const Array& y) { return matmul(x, y); };
  auto [y, t] = jvp(f, std::tuple{a, b}, std::tuple{da, db});
  CHECK_ALLCLOSE(y, matmul(a, b));
  CHECK_ALLCLOSE(t, matmul(da, b) + matmul(a, db));
}

TEST_CASE("dot_general: derivatives with batch and contracting dims in several layouts") {
  struct Case {
    const char* name;
    Shape a, b;
    lax::DotDimensionNumbers d;
  };
  std::vector<Case> cases = {
      {"plain matmul", {2, 3}, {3, 4}, {{{1}, {0}}, {}}},
      {"contract lhs 0 with rhs 1", {3, 2}, {4, 3}, {{{0}, {1}}, {}}},
      {"batch leading", {2, 3, 4}, {2, 4, 3}, {{{2}, {1}}, {{0}, {0}}}},
      {"batch in the middle and last", {3, 2, 4}, {4, 3, 2}, {{{2}, {0}}, {{1}, {2}}}},
      {"two contracting dims, reversed order", {2, 3, 4}, {4, 5, 3}, {{{1, 2}, {2, 0}}, {}}},
      {"two batch dims, swapped", {2, 3, 4}, {3, 4, 2}, {{{2}, {1}}, {{0, 1}, {2, 0}}}},
      {"outer product (no contraction)", {3}, {2, 2}, {{{}, {}}, {}}},
      {"full contraction to a scalar", {2, 3}, {3, 2}, {{{0, 1}, {1, 0}}, {}}},
  };
  for (const auto& c : cases) {
    std::string name = c.name;
    CAPTURE(name);
    auto d = c.d;
    Array a = rnd(c.a, 11), b = rnd(c.b, 12);
    check_both([d](const Args& x) { return sum(sin(dg(x[0], x[1], d))); }, {a, b});
  }
}

TEST_CASE("dot_general: gradient through a product with itself (x . x)") {
  // Both operands of one dot_general depend on x: the linear jaxpr has two dot_generals, each
  // linear in one operand.
  Array a = rnd({3, 3}, 13);
  check_both([](const Args& x) { return sum(sin(matmul(x[0], x[0]))); }, {a});
  auto g = grad([](const Array& x) { return sum(matmul(x, x)); })(a);
  // d/dx sum(x x) = ones x^T + x^T ones
  Array o = ones({3, 3}, float64);
  CHECK_ALLCLOSE(g, matmul(o, transpose(a)) + matmul(transpose(a), o));
}

TEST_CASE("dot_general: preferred_element_type gives cotangents in the operand dtype") {
  Array a = rnd({2, 3}, 14, float32), b = rnd({3, 2}, 15, float32);
  auto f = [](const Array& x, const Array& y) {
    return sum(lax::dot_general(x, y, {{1}, {0}}, {}, float64));
  };
  auto [ga, gb] = grad<0, 1>(f)(a, b);
  CHECK(ga.dtype() == float32);
  CHECK(gb.dtype() == float32);
  CHECK_ALLCLOSE_TOL(ga, matmul(ones({2, 2}), transpose(b)).to_vector<double>(), 1e-6, 1e-6);
  CHECK_ALLCLOSE_TOL(gb, matmul(transpose(a), ones({2, 2})).to_vector<double>(), 1e-6, 1e-6);
}

TEST_CASE("matmul: derivatives of matmul, dot, outer, tensordot, einsum and trace") {
  SUBCASE("matmul 2-d") {
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({2, 3}, 21), rnd({3, 2}, 22)});
  }
  SUBCASE("matmul batched with broadcasting") {
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({2, 2, 3}, 23), rnd({3, 2}, 24)});
  }
  SUBCASE("matmul vector-matrix and matrix-vector") {
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({3}, 25), rnd({3, 2}, 26)});
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({2, 3}, 27), rnd({3}, 28)});
  }
  SUBCASE("dot of vectors") {
    check_both([](const Args& x) { return sin(dot(x[0], x[1])); }, {rnd({4}, 29), rnd({4}, 30)});
  }
  SUBCASE("outer") {
    check_both([](const Args& x) { return sum(sin(outer(x[0], x[1]))); }, {rnd({3}, 31), rnd({2}, 32)});
  }
  SUBCASE("tensordot") {
    check_both([](const Args& x) { return sum(sin(tensordot(x[0], x[1], 2))); }, {rnd({2, 3, 2}, 33), rnd({3, 2, 2}, 34)});
    check_both([](const Args& x) { return sum(sin(tensordot(x[0], x[1], {{0}, {1}}))); },
               {rnd({3, 2}, 35), rnd({2, 3}, 36)});
  }
  SUBCASE("einsum") {
    check_both([](const Args& x) { return sum(sin(einsum("bij,bjk->bik", x[0], x[1]))); },
               {rnd({2, 2, 3}, 37), rnd({2, 3, 2}, 38)});
    check_both([](const Args& x) { return sum(sin(einsum("ij,kj->ik", x[0], x[1]))); },
               {rnd({2, 3}, 39), rnd({2, 3}, 40)});
  }
  SUBCASE("trace of a product") {
    check_both([](const Args& x) { return sin(trace(matmul(x[0], x[1]))); }, {rnd({3, 2}, 41), rnd({2, 3}, 42)});
  }
}

// ---- conv_general_dilated ---------------------------------------------------------------------

namespace {

struct ConvCase {
  const char* name;
  Shape x, w;
  std::vector<int64_t> strides;
  IntPairs pads;
  std::vector<int64_t> lhs_dilation, rhs_dilation;
  lax::ConvDimensionNumbers dn;
  int64_t groups;
};

Array conv_of(const Array& x, const Array& w, const ConvCase& c) {
  return lax::conv_general_dilated(x, w, c.strides, Padding(c.pads), c.lhs_dilation, c.rhs_dilation, c.dn, c.groups);
}

}  // namespace

TEST_CASE("conv_general_dilated: derivatives with strides, padding, dilation, groups and layouts") {
  std::vector<ConvCase> cases = {
      {"1-d NWC/WIO", {1, 5, 2}, {3, 2, 2}, {1}, {{1, 1}}, {1}, {1}, {"NWC", "WIO", "NWC"}, 1},
      {"2-d NHWC/HWIO, stride 2 with a leftover row", {1, 5, 4, 2}, {3, 2, 2, 2}, {2, 1}, {{1, 0}, {0, 1}},
       {1, 1}, {1, 1}, {"NHWC", "HWIO", "NHWC"}, 1},
      {"2-d NCHW/OIHW, rhs dilation", {2, 1, 5, 5}, {2, 1, 2, 2}, {1, 1}, {{0, 0}, {1, 1}}, {1, 1}, {2, 2},
       {"NCHW", "OIHW", "NCHW"}, 1},
      {"lhs dilation (transposed conv)", {1, 3, 3, 1}, {2, 2, 1, 2}, {1, 1}, {{1, 1}, {0, 0}}, {2, 2}, {1, 1},
       {"NHWC", "HWIO", "NHWC"}, 1},
      {"feature groups", {1, 4, 4, 4}, {2, 2, 2, 4}, {1, 1}, {{0, 0}, {0, 0}}, {1, 1}, {1, 1},
       {"NHWC", "HWIO", "NHWC"}, 2},
      {"depthwise (multiplier 2), mixed layouts, stride and dilation", {1, 3, 5, 4}, {6, 1, 2, 2}, {2, 1}, {{1, 1}, {2, 0}},
       {1, 1}, {1, 2}, {"NCHW", "OIHW", "NHWC"}, 3},
      {"negative padding", {1, 6, 1}, {2, 1, 1}, {1}, {{-1, -2}}, {1}, {1}, {"NWC", "WIO", "NWC"}, 1},
      {"padding wider than the kernel", {1, 3, 1}, {2, 1, 1}, {2}, {{3, 2}}, {1}, {1}, {"NWC", "WIO", "NWC"}, 1},
  };
  for (const auto& c : cases) {
    std::string name = c.name;
    CAPTURE(name);
    Array x = rnd(c.x, 51), w = rnd(c.w, 52);
    REQUIRE_NOTHROW(conv_of(x, w, c));
    check_both([c](const Args& a) { return sum(sin(conv_of(a[0], a[1], c))); }, {x, w});
  }
}

TEST_CASE("conv: derivatives of jx::conv (NHWC, SAME and VALID)") {
  Array x = rnd({2, 4, 4, 2}, 53), w = rnd({3, 3, 2, 2}, 54);
  check_both([](const Args& a) { return sum(sin(conv(a[0], a[1], {1, 1}, "SAME"))); }, {x, w});
  check_both([](const Args& a) { return sum(sin(conv(a[0], a[1], {2, 2}, "VALID"))); }, {x, w});
  check_both([](const Args& a) { return sum(sin(conv(a[0], a[1], {2, 1}, "SAME", {1, 2}))); }, {x, w});
}

TEST_CASE("conv_general_dilated: grad of sum(conv) by hand") {
  // 1-d, one channel, VALID: y[i] = sum_k x[i + k] w[k]. d sum(y) / dw[k] = sum_i x[i + k];
  // d sum(y) / dx[j] = sum of the w[k] with 0 <= j - k < out.
  Array x = array(std::vector<double>{1, 2, 3, 4}, Shape{1, 4, 1});
  Array w = array(std::vector<double>{1, 10}, Shape{2, 1, 1});
  auto f = [](const Array& a, const Array& b) {
    return sum(lax::conv_general_dilated(a, b, {1}, "VALID", {}, {}, {"NWC", "WIO", "NWC"}));
  };
  auto [gx, gw] = grad<0, 1>(f)(x, w);
  CHECK(gx.shape() == Shape{1, 4, 1});
  CHECK(gw.shape() == Shape{2, 1, 1});
  CHECK_ALLCLOSE(gx, std::vector<double>{1, 11, 11, 10});
  CHECK_ALLCLOSE(gw, std::vector<double>{1 + 2 + 3, 2 + 3 + 4});
  // With stride 2: windows at 0 and 2 only.
  auto f2 = [](const Array& a, const Array& b) {
    return sum(lax::conv_general_dilated(a, b, {2}, "VALID", {}, {}, {"NWC", "WIO", "NWC"}));
  };
  auto [hx, hw] = grad<0, 1>(f2)(x, w);
  CHECK_ALLCLOSE(hx, std::vector<double>{1, 10, 1, 10});
  CHECK_ALLCLOSE(hw, std::vector<double>{1 + 3, 2 + 4});
}

// ---- reduce_window ----------------------------------------------------------------------------

TEST_CASE("reduce_window_sum: derivatives with strides, padding and dilations") {
  Array x = rnd({3, 5}, 61);
  auto rw = [](const Array& a, const Params& p) { return bind1(reduce_window_sum_p, {a}, p); };
  std::vector<Params> ps = {
      Params{{"window_dimensions", std::vector<int64_t>{2, 2}},
             {"window_strides", std::vector<int64_t>{1, 2}},
             {"padding", IntPairs{{0, 0}, {1, 0}}},
             {"base_dilation", std::vector<int64_t>{1, 1}},
             {"window_dilation", std::vector<int64_t>{1, 1}}},
      Params{{"window_dimensions", std::vector<int64_t>{2, 3}},
             {"window_strides", std::vector<int64_t>{1, 2}},
             {"padding", IntPairs{{1, 0}, {0, 2}}},
             {"base_dilation", std::vector<int64_t>{2, 1}},
             {"window_dilation", std::vector<int64_t>{1, 2}}},
      Params{{"window_dimensions", std::vector<int64_t>{1, 2}},
             {"window_strides", std::vector<int64_t>{1, 3}},
             {"padding", IntPairs{{0, 0}, {3, 3}}},
             {"base_dilation", std::vector<int64_t>{1, 1}},
             {"window_dilation", std::vector<int64_t>{1, 1}}},
  };
  for (size_t i = 0; i < ps.size(); ++i) {
    CAPTURE(i);
    Params p = ps[i];
    check_both([rw, p](const Args& a) { return sum(sin(rw(a[0] * a[0], p))); }, {x});
  }
  check_both([](const Args& a) { return sum(sin(lax::reduce_window(a[0], 0.0, lax::Monoid::add, {2, 3}, {2, 1}, "SAME"))); },
             {x});
}

TEST_CASE("reduce_window_sum: grad counts the windows covering each element") {
  Array x = zeros({1, 4}, float64);
  // windows of 2, stride 1: element j is in min(j + 1, 2, 4 - j) windows -> 1 2 2 1
  auto g = grad([](const Array& a) { return sum(lax::reduce_window(a, 0.0, lax::Monoid::add, {1, 2}, {1, 1})); })(x);
  CHECK_ALLCLOSE(g, std::vector<double>{1, 2, 2, 1});
  // stride 2 on 5 elements: the last element is in no window
  Array x5 = zeros({5}, float64);
  auto g5 = grad([](const Array& a) { return sum(lax::reduce_window(a, 0.0, lax::Monoid::add, {2}, {2})); })(x5);
  CHECK_ALLCLOSE(g5, std::vector<double>{1, 1, 1, 1, 0});
}

TEST_CASE("reduce_window_max: derivatives (max and min, padding, strides, dilation)") {
  // Distinct values so no window has a tie (finite differences need a unique maximum).
  std::vector<double> v;
  for (int i = 0; i < 20; ++i) v.push_back(std::sin(1.7 * i + 0.3) * (1 + 0.05 * i));
  Array x = array(v, Shape{4, 5});
  for (auto op : {lax::Monoid::max, lax::Monoid::min}) {
    CAPTURE(op == lax::Monoid::max);
    check_both([op](const Args& a) { return sum(sin(lax::reduce_window(a[0] * a[0] * a[0], 0.0 * 0 + (op == lax::Monoid::max ? -INFINITY : INFINITY), op, {2, 2}, {1, 2}, "VALID"))); }, {x});
    check_both([op](const Args& a) { return sum(sin(lax::reduce_window(a[0] * a[0] * a[0], (op == lax::Monoid::max ? -INFINITY : INFINITY), op, {3, 2}, {2, 1}, "SAME"))); }, {x});
  }
  const Primitive* prims[] = {&reduce_window_max_p, &reduce_window_min_p};
  for (const Primitive* prim : prims) {
    Params p{{"window_dimensions", std::vector<int64_t>{2, 2}},
             {"window_strides", std::vector<int64_t>{1, 2}},
             {"padding", IntPairs{{1, 0}, {0, 2}}},
             {"base_dilation", std::vector<int64_t>{2, 1}},
             {"window_dilation", std::vector<int64_t>{1, 2}}};
    check_both([prim, p](const Args& a) { return sum(sin(bind1(*prim, {a[0] * a[0] * a[0]}, p))); }, {x});
  }
}

TEST_CASE("reduce_window_max: the tangent of each window comes from its first maximum") {
  // Windows of 2, stride 1 over [1, 3, 3, 2]: maxima 3 (at 1), 3 (tie: first = index 1), 3 (at 2).
  Array x = array(std::vector<double>{1, 3, 3, 2});
  auto f = [](const Array& a) { return lax::reduce_window(a, -INFINITY, lax::Monoid::max, {2}, {1}); };
  auto [y, t] = jvp(f, std::tuple{x}, std::tuple{array(std::vector<double>{10, 20, 30, 40})});
  CHECK_ALLCLOSE(y, std::vector<double>{3, 3, 3});
  CHECK_ALLCLOSE(t, std::vector<double>{20, 20, 30});
  auto g = grad([&](const Array& a) { return sum(f(a)); })(x);
  CHECK_ALLCLOSE(g, std::vector<double>{0, 2, 1, 0});
  // min: windows over [4, 1, 5, 1] -> minima at 1, 1, 3
  auto fmin = [](const Array& a) { return lax::reduce_window(a, INFINITY, lax::Monoid::min, {2}, {1}); };
  auto gm = grad([&](const Array& a) { return sum(fmin(a)); })(array(std::vector<double>{4, 1, 5, 1}));
  CHECK_ALLCLOSE(gm, std::vector<double>{0, 2, 0, 1});
}

TEST_CASE("max_pool: derivatives and grad routes to the maximum") {
  std::vector<double> v;
  for (int i = 0; i < 32; ++i) v.push_back(std::cos(2.3 * i + 0.1) * (1 + 0.03 * i));
  Array x = array(v, Shape{1, 4, 4, 2});
  check_both([](const Args& a) { return sum(sin(max_pool(a[0], {2, 2}))); }, {x});
  check_both([](const Args& a) { return sum(sin(max_pool(a[0], {3, 3}, {1, 1}, "SAME"))); }, {x});
  // Non-overlapping 2x2 pools: the gradient of sum(max_pool) is 1 at each window's argmax.
  Array x1 = array(std::vector<double>{1, 5, 2, 0, 3, 4, 8, 7, 6, 9, 1, 2, 0, 1, 3, 4}, Shape{1, 4, 4, 1});
  auto g = grad([](const Array& a) { return sum(max_pool(a, {2, 2})); })(x1);
  CHECK_ALLCLOSE(g, std::vector<double>{0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1});
}

TEST_CASE("avg_pool: derivatives and grad spreads evenly") {
  Array x = rnd({1, 4, 5, 2}, 71);
  check_both([](const Args& a) { return sum(sin(avg_pool(a[0], {2, 2}))); }, {x});
  check_both([](const Args& a) { return sum(sin(avg_pool(a[0], {3, 2}, {1, 2}, "SAME"))); }, {x});
  auto g = grad([](const Array& a) { return sum(avg_pool(a, {2, 2})); })(zeros({1, 4, 4, 1}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>(16, 0.25));
}

TEST_CASE("conv_general_dilated: grad(grad) of a small conv net composes with pooling") {
  Array x = rnd({1, 4, 4, 1}, 81), w = rnd({2, 2, 1, 2}, 82);
  check_grads([](const Args& a) { return sum(tanh(avg_pool(max_pool(conv(a[0], a[1]), {2, 2}, {1, 1}), {2, 2}))); },
              {x, w}, 2);
}

TEST_CASE("conv_general_dilated: zero-size operands give zero-size or zero cotangents") {
  auto f = [](const Array& a, const Array& b) { return sum(conv(a, b, {1, 1}, "SAME")); };
  auto [gx, gw] = grad<0, 1>(f)(zeros({0, 3, 3, 2}, float64), ones({2, 2, 2, 3}, float64));
  CHECK(gx.shape() == Shape{0, 3, 3, 2});
  CHECK(gw.shape() == Shape{2, 2, 2, 3});
  CHECK_ALLCLOSE(gw, std::vector<double>(24, 0.0));
  auto [ga, gb] = grad<0, 1>([](const Array& a, const Array& b) { return sum(matmul(a, b)); })(
      zeros({2, 0}, float64), zeros({0, 3}, float64));
  CHECK(ga.shape() == Shape{2, 0});
  CHECK(gb.shape() == Shape{0, 3});
}

TEST_CASE("reduce_window: zero-size operands and all-padding windows") {
  // An empty operand padded to two windows: every window is padding only.
  Params p{{"window_dimensions", std::vector<int64_t>{1}},
           {"window_strides", std::vector<int64_t>{1}},
           {"padding", IntPairs{{1, 1}}},
           {"base_dilation", std::vector<int64_t>{1}},
           {"window_dilation", std::vector<int64_t>{1}}};
  for (const Primitive* prim : {&reduce_window_sum_p, &reduce_window_max_p}) {
    CAPTURE(prim->name());
    auto [y, t] = jvp([&](const Array& a) { return bind1(*prim, {a}, p); }, std::tuple{zeros({0}, float64)},
                      std::tuple{zeros({0}, float64)});
    CHECK(y.shape() == Shape{2});
    CHECK_ALLCLOSE(t, std::vector<double>{0, 0});
    auto g = grad([&](const Array& a) { return sum(bind1(*prim, {a}, p)); })(zeros({0}, float64));
    CHECK(g.shape() == Shape{0});
  }
  auto g = grad([](const Array& a) { return sum(max_pool(a, {2, 2})); })(zeros({0, 4, 4, 3}, float64));
  CHECK(g.shape() == Shape{0, 4, 4, 3});
}
