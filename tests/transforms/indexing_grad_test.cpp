// Derivatives of the indexing primitives (dynamic_slice, dynamic_update_slice, gather and the
// scatter family): JVP against finite differences, VJP against JVP, second order, and
// hand-computed gradients for duplicates and out-of-range indices.
#include "testing/check_grads.h"

using namespace jx;
using testing::check_grads;
using testing::uniform;

namespace {

Array ints(std::vector<int32_t> v, std::optional<Shape> shape = std::nullopt) { return array(v, shape); }
Array f64(std::vector<double> v, std::optional<Shape> shape = std::nullopt) { return array(v, shape); }
Array i32(int v) { return scalar(v, int32); }

// x.at[idx] with a 1-d integer index (duplicates allowed).
Index at(const Array& idx) { return Index(idx); }

}  // namespace

// ---- dynamic_slice ---------------------------------------------------------------------------

TEST_CASE("dynamic_slice: derivatives match finite differences (order 2, clamped start)") {
  Array x = uniform({4, 5}, -2.0, 2.0, float64, 1);
  for (int start : {1, 4}) {  // 4 is clamped to 2 for a slice of 2 rows
    CAPTURE(start);
    check_grads([start](const std::vector<Array>& a) {
      return sin(lax::dynamic_slice(a[0], {i32(start), i32(-2)}, {2, 3})) * 2.0;
    }, {x}, 2);
  }
  check_grads([](const std::vector<Array>& a) { return sin(lax::dynamic_slice(a[0], {i32(1), i32(1)}, {3, 2})); },
              {uniform({4, 5}, -2.0, 2.0, float32, 2)}, 1);
}

TEST_CASE("dynamic_slice: grad scatters the cotangent into the clamped window") {
  Array x = f64({1, 2, 3, 4, 5});
  Array w = f64({10, 20});
  auto g = grad([&](const Array& a) { return sum(lax::dynamic_slice(a, {i32(7)}, {2}) * w); })(x);
  CHECK_ALLCLOSE(g, std::vector<double>{0, 0, 0, 10, 20});
}

// ---- dynamic_update_slice ----------------------------------------------------------------------

TEST_CASE("dynamic_update_slice: derivatives match finite differences (order 2)") {
  Array x = uniform({4, 3}, -2.0, 2.0, float64, 3);
  Array u = uniform({2, 2}, -2.0, 2.0, float64, 4);
  for (int start : {1, 3}) {  // 3 is clamped to 2
    CAPTURE(start);
    check_grads([start](const std::vector<Array>& a) {
      return sin(lax::dynamic_update_slice(a[0] * a[0], sin(a[1]), {i32(start), i32(1)}));
    }, {x, u}, 2);
  }
  check_grads([](const std::vector<Array>& a) {
    return sin(lax::dynamic_update_slice(a[0], a[1] * a[1], {i32(2), i32(0)}));
  }, {uniform({4, 3}, -2.0, 2.0, float32, 5), uniform({2, 2}, -2.0, 2.0, float32, 6)}, 1);
}

TEST_CASE("dynamic_update_slice: grad is zero for the overwritten operand and routes to the update") {
  Array x = f64({1, 2, 3, 4, 5});
  Array u = f64({7, 8});
  Array w = f64({1, 2, 3, 4, 5});
  auto f = [&](const Array& a, const Array& b) { return sum(lax::dynamic_update_slice(a, b, {i32(9)}) * w); };
  auto [gx, gu] = grad<0, 1>(f)(x, u);
  CHECK_ALLCLOSE(gx, std::vector<double>{1, 2, 3, 0, 0});  // start clamped to 3
  CHECK_ALLCLOSE(gu, std::vector<double>{4, 5});
}

// ---- gather ------------------------------------------------------------------------------------

TEST_CASE("gather: derivatives match finite differences through x[idx], take and take_along_axis") {
  Array x = uniform({5, 3}, -2.0, 2.0, float64, 7);
  Array idx = ints({3, 0, 3, -1, 1});  // duplicates and a negative index
  SUBCASE("x[idx]") {
    check_grads([idx](const std::vector<Array>& a) { return sin(a[0][idx] * a[0][idx]); }, {x}, 2);
  }
  SUBCASE("take along axis 1") {
    Array cols = ints({2, 2, 0, 1}, Shape{2, 2});
    check_grads([cols](const std::vector<Array>& a) { Array t = take(a[0], cols, 1);
      return sin(t * t); }, {x}, 2);
  }
  SUBCASE("take_along_axis") {
    Array ia = ints({0, 2, 1, 1, 0, 0, 2, 2, 1, 0}, Shape{5, 2});
    check_grads([ia](const std::vector<Array>& a) { return cos(take_along_axis(sin(a[0]), ia, 1)); }, {x}, 2);
  }
  SUBCASE("float32") {
    check_grads([idx](const std::vector<Array>& a) { return sin(a[0][idx]); },
                {uniform({5, 3}, -2.0, 2.0, float32, 8)}, 1);
  }
}

TEST_CASE("gather: lax::gather with windows and out-of-range starts (clamped) matches finite differences") {
  Array x = uniform({4, 5}, -2.0, 2.0, float64, 9);
  // Windows of 2x3 at (row, col) starts; (3, 4) and (-1, 9) are clamped into range.
  Array starts = ints({0, 1, 3, 4, -1, 9, 2, 2}, Shape{4, 2});
  lax::GatherDimensionNumbers dn{{1, 2}, {}, {0, 1}};
  check_grads([&](const std::vector<Array>& a) { return sin(lax::gather(a[0], starts, dn, {2, 3})) * 3.0; }, {x},
              2);
}

TEST_CASE("gather: grad of sum(take(x, idx) * w) accumulates w at duplicate indices") {
  Array x = f64({1, 2, 3, 4});
  Array idx = ints({2, 0, 2, 2, -1, 7});  // -1 -> 3; 7 is clamped to 3
  Array w = f64({1, 10, 100, 1000, 5, 50});
  auto g = grad([&](const Array& a) { return sum(take(a, idx) * w); })(x);
  CHECK_ALLCLOSE(g, std::vector<double>{10, 0, 1101, 55});
}

// ---- scatter_add -------------------------------------------------------------------------------

TEST_CASE("scatter_add: derivatives match finite differences with duplicate indices") {
  Array x = uniform({5, 3}, -2.0, 2.0, float64, 10);
  Array v = uniform({4, 3}, -2.0, 2.0, float64, 11);
  Array idx = ints({1, 3, 1, 1});
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).add(a[1] * a[0][idx])); }, {x, v}, 2);
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).add(a[1])); },
              {uniform({5, 3}, -2.0, 2.0, float32, 12), uniform({4, 3}, -2.0, 2.0, float32, 13)}, 1);
}

TEST_CASE("scatter_add: lax::scatter_add with partial windows and a dropped window") {
  Array x = uniform({4, 5}, -2.0, 2.0, float64, 14);
  Array u = uniform({3, 2, 2}, -2.0, 2.0, float64, 15);
  Array starts = ints({0, 1, 2, 3, 3, 4}, Shape{3, 2});  // (3, 4): a 2x2 window does not fit -> dropped
  lax::ScatterDimensionNumbers dn{{1, 2}, {}, {0, 1}};
  check_grads([&](const std::vector<Array>& a) { return sin(lax::scatter_add(a[0], starts, sin(a[1]), dn)); },
              {x, u}, 2);
}

TEST_CASE("scatter_add: grad is zero for an update that is dropped out of range") {
  Array x = f64({1, 2, 3});
  Array v = f64({5, 6, 7});
  Array idx = ints({0, 3, 0});  // 3 is out of range: dropped
  Array w = f64({1, 2, 3});
  auto f = [&](const Array& a, const Array& b) { return sum(a.at(at(idx)).add(b) * w); };
  auto [gx, gv] = grad<0, 1>(f)(x, v);
  CHECK_ALLCLOSE(gx, std::vector<double>{1, 2, 3});
  CHECK_ALLCLOSE(gv, std::vector<double>{1, 0, 1});
}

// ---- scatter (overwrite) -----------------------------------------------------------------------

TEST_CASE("scatter: derivatives match finite differences with duplicate indices (last update wins)") {
  Array x = uniform({5, 3}, -2.0, 2.0, float64, 16);
  Array v = uniform({4, 3}, -2.0, 2.0, float64, 17);
  Array idx = ints({1, 3, 1, 6});  // a duplicate and a dropped index
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).set(a[1] * a[1]) * a[0]); }, {x, v},
              2);
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).set(a[1])); },
              {uniform({5, 3}, -2.0, 2.0, float32, 18), uniform({4, 3}, -2.0, 2.0, float32, 19)}, 1);
}

TEST_CASE("scatter: lax::scatter with overlapping partial windows") {
  Array x = uniform({4, 5}, -2.0, 2.0, float64, 20);
  Array u = uniform({3, 2, 2}, -2.0, 2.0, float64, 21);
  Array starts = ints({0, 1, 1, 2, 1, 1}, Shape{3, 2});  // windows overlap partially
  lax::ScatterDimensionNumbers dn{{1, 2}, {}, {0, 1}};
  check_grads([&](const std::vector<Array>& a) { return sin(lax::scatter(a[0], starts, sin(a[1]), dn)); }, {x, u},
              2);
}

TEST_CASE("scatter: grad through x.at(i).set(v) is zero at i for x and one for the winning v") {
  Array x = f64({1, 2, 3, 4});
  SUBCASE("one index") {
    auto f = [](const Array& a, const Array& b) { return sum(a.at(2).set(b)); };
    auto [gx, gv] = grad<0, 1>(f)(x, scalar(9.0, float64));
    CHECK_ALLCLOSE(gx, std::vector<double>{1, 1, 0, 1});
    CHECK_ALLCLOSE(gv, std::vector<double>{1});
  }
  SUBCASE("duplicates: only the last update reaches the output") {
    Array idx = ints({1, 3, 1, 9});  // 9 is dropped
    auto f = [&](const Array& a, const Array& b) { return sum(a.at(at(idx)).set(b) * f64({1, 2, 3, 4})); };
    auto [gx, gv] = grad<0, 1>(f)(x, f64({5, 6, 7, 8}));
    CHECK_ALLCLOSE(gx, std::vector<double>{1, 0, 3, 0});
    CHECK_ALLCLOSE(gv, std::vector<double>{0, 4, 2, 0});
  }
}

// ---- scatter_mul -------------------------------------------------------------------------------

TEST_CASE("scatter_mul: derivatives match finite differences with duplicate indices") {
  Array x = uniform({5, 3}, -2.0, 2.0, float64, 22);
  Array v = uniform({4, 3}, -2.0, 2.0, float64, 23);
  Array idx = ints({1, 3, 1, 1});
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).mul(a[1])); }, {x, v}, 2);
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).mul(a[1])); },
              {uniform({5, 3}, -2.0, 2.0, float32, 24), uniform({4, 3}, -2.0, 2.0, float32, 25)}, 1);
}

TEST_CASE("scatter_mul: first derivatives are exact when an update is zero at a duplicate index") {
  Array x = f64({1, 2, 3});
  Array idx = ints({1, 1, 1, 2});
  Array v = f64({2, 0, 5, 4});
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).mul(a[1])); }, {x, v}, 1);
  auto f = [&](const Array& a, const Array& b) { return sum(a.at(at(idx)).mul(b) * f64({1, 10, 100})); };
  auto [gx, gv] = grad<0, 1>(f)(x, v);
  // out = [x0, x1 * 2 * 0 * 5, x2 * 4]
  CHECK_ALLCLOSE(gx, std::vector<double>{1, 0, 400});
  CHECK_ALLCLOSE(gv, std::vector<double>{0, 2 * 2 * 5 * 10, 0, 300});
}

// ---- scatter_min / scatter_max -----------------------------------------------------------------

TEST_CASE("scatter_min: derivatives match finite differences with duplicate indices") {
  Array x = uniform({5, 3}, -2.0, 2.0, float64, 26);
  Array v = uniform({4, 3}, -2.0, 2.0, float64, 27);
  Array idx = ints({1, 3, 1, 1});
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).min(a[1] * a[1])); }, {x, v}, 2);
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).min(a[1])); },
              {uniform({5, 3}, -2.0, 2.0, float32, 28), uniform({4, 3}, -2.0, 2.0, float32, 29)}, 1);
}

TEST_CASE("scatter_max: derivatives match finite differences with duplicate indices") {
  Array x = uniform({5, 3}, -2.0, 2.0, float64, 30);
  Array v = uniform({4, 3}, -2.0, 2.0, float64, 31);
  Array idx = ints({4, 0, 4, 7});  // 7 is dropped
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).max(sin(a[1])) * a[0]); }, {x, v}, 2);
  check_grads([idx](const std::vector<Array>& a) { return sin(a[0].at(at(idx)).max(a[1])); },
              {uniform({5, 3}, -2.0, 2.0, float32, 32), uniform({4, 3}, -2.0, 2.0, float32, 33)}, 1);
}

TEST_CASE("scatter_max: tied values share the tangent equally, as JAX") {
  Array x = f64({1, 5, 3});
  Array idx = ints({1, 1, 2, 0});
  Array v = f64({5, 2, 7, -1});  // position 1: x and v[0] tie at 5; position 2: v[2] wins; position 0: x wins
  auto f = [&](const Array& a, const Array& b) { return sum(a.at(at(idx)).max(b) * f64({1, 10, 100})); };
  auto [gx, gv] = grad<0, 1>(f)(x, v);
  CHECK_ALLCLOSE(gx, std::vector<double>{1, 5, 0});
  CHECK_ALLCLOSE(gv, std::vector<double>{5, 0, 100, 0});
}

// ---- composition -------------------------------------------------------------------------------

TEST_CASE("gather: hessian of sum(sin(take(x, idx))) counts duplicate indices on the diagonal") {
  Array x = f64({0.5, -1.0, 2.0});
  Array idx = ints({0, 2, 0, 0});
  Array h = hessian([&](const Array& a) { return sum(sin(take(a, idx))); })(x);
  const double s0 = std::sin(0.5), s2 = std::sin(2.0);
  CHECK_ALLCLOSE(h, std::vector<double>{-3 * s0, 0, 0, 0, 0, 0, 0, 0, -s2});
}

TEST_CASE("gather: grad with traced indices stages a scatter_add and evaluates like eager") {
  auto f = [](const Array& a, const Array& i) { return sum(sin(a[i]) * a[i]); };
  Array x = f64({0.5, -1.0, 2.0, 0.25});
  Array idx = ints({3, 1, 3});
  auto g = grad(f);
  auto jaxpr = make_jaxpr(g)(x, idx);
  CHECK(jaxpr.str().find("scatter_add[") != std::string::npos);
  auto staged = eval_jaxpr(*jaxpr.jaxpr, jaxpr.consts, std::vector<Array>{x, idx});
  REQUIRE(staged.size() == 1);
  Array eager = g(x, idx);
  CHECK_ALLCLOSE(staged[0], eager.to_vector<double>());
  // d/dx_k of sum over uses of (sin(x_k) x_k) = count_k * (cos(x_k) x_k + sin(x_k))
  auto d = [](double v) { return std::cos(v) * v + std::sin(v); };
  CHECK_ALLCLOSE(eager, std::vector<double>{0, d(-1.0), 0, 2 * d(0.25)});
}
