// vmap's API: in_axes/out_axes (ints, negative, none, trees), axis_size, nesting, caching,
// composition with grad and the custom rules, and errors.
#include <atomic>

#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;

namespace {
Array f64(const Shape& s, unsigned seed) { return testing::uniform(s, -1, 1, float64, seed); }
}  // namespace

TEST_CASE("vmap: elementwise over mapped and unmapped arguments equals the loop") {
  Array x = f64({4, 3}, 1), y = f64({4, 3}, 2), w = f64({3}, 3);
  testing::check_vmap([](const std::vector<Array>& a) { return sin(a[0]) * a[1]; }, {x, y}, {0, 0});
  testing::check_vmap([](const std::vector<Array>& a) { return sin(a[0]) * a[1]; }, {x, transpose(y)}, {0, 1});
  testing::check_vmap([](const std::vector<Array>& a) { return a[0] * a[1] + 1.0; }, {x, w}, {0, std::nullopt});
  testing::check_vmap([](const std::vector<Array>& a) { return exp(a[0]) - a[1]; }, {x, y}, {-1, -1}, 1);
}

TEST_CASE("vmap: per-argument in_axes, negative axes, none, out_axes") {
  Array x = f64({3, 5}, 1), b = f64({3}, 2);
  auto f = [](const Array& row, const Array& bias) { return row * 2.0 + bias; };
  // Map x along axis 1 (5 examples of [3]), bias unmapped.
  Array r = vmap(f, {1, none})(x, b);
  CHECK(r.shape() == Shape{5, 3});
  auto xv = x.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> expected;
  for (int j = 0; j < 5; ++j)
    for (int i = 0; i < 3; ++i) expected.push_back(xv[i * 5 + j] * 2.0 + bv[i]);
  CHECK_ALLCLOSE(r, expected);
  Array r2 = vmap(f, {-1, none}, {1})(x, b);  // output batch axis last
  CHECK(r2.shape() == Shape{3, 5});
  CHECK_ALLCLOSE(transpose(r2), expected);
}

TEST_CASE("vmap: tree arguments with tree-shaped in_axes, and tree outputs") {
  std::map<std::string, Array> p{{"w", f64({4, 2}, 1)}, {"s", f64({}, 2)}};
  auto f = [](const std::map<std::string, Array>& q) { return std::pair{q.at("w") * q.at("s"), sum(q.at("w"))}; };
  auto [a, s] = vmap(f, {Axis(std::map<std::string, Axis>{{"w", 0}, {"s", none}})})(p);
  CHECK(a.shape() == Shape{4, 2});
  CHECK(s.shape() == Shape{4});
  auto wv = p["w"].to_vector<double>();
  double sv = p["s"].item<double>();
  CHECK_ALLCLOSE(s, std::vector<double>{wv[0] + wv[1], wv[2] + wv[3], wv[4] + wv[5], wv[6] + wv[7]});
  std::vector<double> scaled;
  for (double v : wv) scaled.push_back(v * sv);
  CHECK_ALLCLOSE(a, scaled);
}

TEST_CASE("vmap: nested vmap over two axes equals a double loop") {
  Array x = f64({3, 4}, 1), y = f64({4}, 2);
  auto inner = [](const Array& a, const Array& b) { return sum(sin(a) * b); };  // scalars
  Array r = vmap(vmap(inner, {0, 0}), {0, none})(x, y);
  CHECK(r.shape() == Shape{3, 4});
  auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  std::vector<double> expected;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) expected.push_back(std::sin(xv[i * 4 + j]) * yv[j]);
  CHECK_ALLCLOSE(r, expected);
}

TEST_CASE("vmap: axis_size when nothing is mapped, and unmapped outputs are broadcast") {
  Array c = f64({2}, 1);
  Array r = vmap([](const Array& a) { return a * 3.0; }, {none}, {0}, 4)(c);
  CHECK(r.shape() == Shape{4, 2});
  auto cv = c.to_vector<double>();
  CHECK_ALLCLOSE(r, std::vector<double>{cv[0] * 3, cv[1] * 3, cv[0] * 3, cv[1] * 3, cv[0] * 3, cv[1] * 3, cv[0] * 3, cv[1] * 3});
  CHECK_THROWS_WITH_AS(vmap([](const Array& a) { return a; }, {none})(c), doctest::Contains("pass axis_size"), ValueError);
}

TEST_CASE("vmap(grad(f)) equals a loop of grad(f): per-example gradients") {
  Array w = f64({3}, 1), xs = f64({5, 3}, 2), ys = f64({5}, 3);
  auto loss = [](const Array& wt, const Array& x, const Array& y) { return square(sum(tanh(x * wt)) - y); };
  Array g = vmap(grad(loss), {none, 0, 0})(w, xs, ys);
  CHECK(g.shape() == Shape{5, 3});
  std::vector<Array> rows;
  for (int i = 0; i < 5; ++i) rows.push_back(grad(loss)(w, xs[i], ys[i]));
  CHECK_ALLCLOSE(g, stack(rows));
}

TEST_CASE("grad of a function that uses vmap inside matches finite differences") {
  testing::VecFn f = [](const std::vector<Array>& a) {
    auto per_row = [](const Array& row, const Array& w) { return sum(sin(row * w)); };
    return sum(vmap(per_row, {0, none})(a[0], a[1]));
  };
  testing::check_grads(f, {f64({4, 3}, 1), f64({3}, 2)}, 2);
}

TEST_CASE("vmap: custom_jvp and checkpoint keep working under vmap and grad") {
  auto cube = custom_jvp([](const Array& x) { return x * x * x; },
                         [](const std::tuple<Array>& p, const std::tuple<Array>& t) {
                           auto [x] = p;
                           auto [tx] = t;
                           return std::pair{x * x * x, tx * 10.0 * x};  // deliberately not 3x^2
                         });
  Array xs = array(std::vector<double>{1.0, 2.0, 3.0});
  CHECK_ALLCLOSE(vmap(grad(cube))(xs), std::vector<double>{10.0, 20.0, 30.0});
  CHECK_ALLCLOSE(grad([&](const Array& v) { return sum(vmap(cube)(v)); })(xs), std::vector<double>{10.0, 20.0, 30.0});
  auto block = [](const Array& x) { return sin(sin(x)) * x; };
  CHECK_ALLCLOSE(grad([&](const Array& v) { return sum(vmap(checkpoint(block))(v)); })(xs),
                 grad([&](const Array& v) { return sum(block(v)); })(xs));
  auto clipg = custom_vjp([](const Array& x) { return x; }, [](const Array& x) { return std::pair{x, x}; },
                          [](const Array&, const Array& ct) { return std::tuple{clip(ct, -1.0, 1.0)}; });
  CHECK_ALLCLOSE(grad([&](const Array& v) { return sum(vmap(clipg)(v) * 4.0); })(xs), std::vector<double>{1.0, 1.0, 1.0});
}

TEST_CASE("vmap: the batched jaxpr is cached per signature") {
  auto traces = std::make_shared<std::atomic<int>>(0);
  auto f = vmap([traces](const Array& a) {
    ++*traces;
    return a * 2.0;
  });
  f(f64({3, 2}, 1));
  f(f64({3, 2}, 2));
  CHECK(*traces == 1);
  f(f64({4, 2}, 2));
  CHECK(*traces == 2);
}

TEST_CASE("vmap: clear errors for inconsistent sizes, bad axes and mismatched in_axes") {
  auto f = [](const Array& a, const Array& b) { return a + b; };
  CHECK_THROWS_WITH_AS(vmap(f)(f64({3, 2}, 1), f64({4, 2}, 2)),
                       doctest::Contains("argument 0 (f64[3,2]) has size 3 along axis 0, but argument 1 (f64[4,2]) has size 4"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(vmap(f, {2, 0})(f64({3, 2}, 1), f64({3, 2}, 2)),
                       doctest::Contains("in_axes 2 is out of range for argument 0 of type f64[3,2]"), ShapeError);
  CHECK_THROWS_WITH_AS(vmap(f, {0, 0, 0})(f64({3, 2}, 1), f64({3, 2}, 2)),
                       doctest::Contains("in_axes has 3 entries but the function is called with 2 arguments"), ValueError);
  auto g = [](const std::vector<Array>& v) { return v[0]; };
  CHECK_THROWS_WITH_AS(vmap(g, {Axis{0, 0, 0}})(std::vector<Array>{f64({3}, 1), f64({3}, 2)}),
                       doctest::Contains("is the list [0, 0, 0] but the value has structure [*, *]"), ValueError);
  CHECK(trace_depth() == 0);
}
