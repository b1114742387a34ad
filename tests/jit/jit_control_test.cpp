// Control flow under jit: cond, while_loop, fori_loop and scan run compiled bodies (driven by the
// runtime, no interpretation) and equal the eager interpreter; composed with grad and vmap.
#include "testing/check_grads.h"
#include "testing/testing.h"

using namespace jx;
using jx::testing::uniform;

namespace {

Array lorenz(const Array& s) {
  Array x = s[Index{0}], y = s[Index{1}], z = s[Index{2}];
  return stack({10.0 * (y - x), x * (28.0 - z) - y, x * y - (8.0 / 3.0) * z});
}

Array rk4(const Array& s0, int steps, double dt) {
  auto [s, ys] = lax::scan(
      [dt](const Array& s, const Array&) {
        Array k1 = lorenz(s);
        Array k2 = lorenz(s + 0.5 * dt * k1);
        Array k3 = lorenz(s + 0.5 * dt * k2);
        Array k4 = lorenz(s + dt * k3);
        Array n = s + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        return std::pair{n, n[Index{0}]};
      },
      s0, zeros({steps}));
  return s;
}

}  // namespace

TEST_CASE("jit: scan (RK4 on Lorenz, 1000 steps) runs a compiled body and equals eager") {
  Array s0 = array<double>({1.0, 1.0, 1.0});
  auto f = [](const Array& s) { return rk4(s, 1000, 0.01); };
  Array eager = f(s0);
  Array compiled = jit(f)(s0);
  CHECK(testing::mismatch(compiled, eager) == "");
  std::string text = jit(f).lower(s0).as_text();
  CHECK(text.find("call scan") != std::string::npos);
  // Reverse-mode through the compiled scan.
  auto g = [](const Array& s) { return rk4(s, 200, 0.01)[Index{0}]; };
  CHECK(testing::mismatch(jit(grad(g))(s0), grad(g)(s0)) == "");
  CHECK(testing::mismatch(grad(jit(g))(s0), grad(g)(s0)) == "");
}

TEST_CASE("jit: scan with xs, ys, reverse, several carries and closures") {
  Array xs = uniform({7, 3}, -1, 1, float32, 1);
  Array w = uniform({3}, -1, 1, float32, 2);
  for (bool reverse : {false, true}) {
    auto f = [&](const Array& xs, const Array& c0) {
      auto [carry, ys] = lax::scan(
          [&](const std::pair<Array, Array>& c, const Array& x) {
            Array a = c.first * 0.9 + x * w;
            Array b = c.second + sum(a);
            return std::pair{std::pair{a, b}, tanh(a) * b};
          },
          std::pair{c0, Array(0.0f)}, xs, std::nullopt, reverse);
      return std::tuple{carry.first, carry.second, ys};
    };
    Array c0 = ones({3});
    auto e = tree_leaves(f(xs, c0));
    auto c = tree_leaves(jit(f)(xs, c0));
    REQUIRE(e.size() == c.size());
    for (size_t i = 0; i < e.size(); ++i) CHECK(testing::mismatch(c[i], e[i]) == "");
  }
}

TEST_CASE("jit: while_loop and fori_loop equal eager, including a batched predicate") {
  // Newton's method for sqrt(a): iterate until converged.
  auto newton = [](const Array& a) {
    auto [x, it] = lax::while_loop(
        [&](const std::pair<Array, Array>& c) { return logical_and(abs(c.first * c.first - a) > 1e-10, c.second < 100); },
        [&](const std::pair<Array, Array>& c) { return std::pair{0.5 * (c.first + a / c.first), c.second + 1}; },
        std::pair{a, Array(0)});
    return std::pair{x, it};
  };
  Array a = Array(2.0).astype(float64);
  auto [xe, ie] = newton(a);
  auto [xc, ic] = jit(newton)(a);
  CHECK(testing::mismatch(xc, xe) == "");
  CHECK(ic.item<int>() == ie.item<int>());
  CHECK(xc.item<double>() == doctest::Approx(std::sqrt(2.0)));
  // vmap over a: lanes converge after different numbers of iterations.
  Array as = array<double>({2.0, 9.0, 1e6, 0.25});
  auto [xv, iv] = jit(vmap(newton))(as);
  auto [xl, il] = vmap(newton)(as);
  CHECK(testing::mismatch(xv, xl) == "");
  CHECK(testing::mismatch(iv, il) == "");
  // fori_loop with a static trip count.
  auto pw = [](const Array& x) { return lax::fori_loop(Array(0), Array(10), [&](const Array& i, const Array& acc) { return acc * x + i.astype(x.dtype()); }, Array(1.0).astype(float64)); };
  Array x = Array(1.1).astype(float64);
  CHECK(testing::mismatch(jit(pw)(x), pw(x)) == "");
  CHECK(testing::mismatch(jit(grad([&](const Array& x) { return sum(pw(x)); }))(x), grad([&](const Array& x) { return sum(pw(x)); })(x)) == "");
}

TEST_CASE("jit: cond and switch_ pick the compiled branch; nested control flow") {
  auto f = [](const Array& p, const Array& x) {
    return lax::cond(
        p, [](const Array& x) { return sin(x) * 2.0; }, [](const Array& x) { return cos(x) + 1.0; }, x);
  };
  Array x = uniform({5}, -1, 1, float32, 3);
  for (bool p : {true, false}) CHECK(testing::mismatch(jit(f)(Array(p), x), f(Array(p), x)) == "");
  auto sw = [](const Array& i, const Array& x) {
    std::vector<std::function<Array(const Array&)>> branches = {[](const Array& x) { return x; }, [](const Array& x) { return x * x; },
                                                                [](const Array& x) { return -x; }};
    return lax::switch_(i, branches, x);
  };
  for (int i : {-1, 0, 1, 2, 7}) CHECK(testing::mismatch(jit(sw)(Array(i), x), sw(Array(i), x)) == "");
  // A scan whose body holds a cond and a fori_loop.
  auto nested = [](const Array& xs) {
    auto [c, ys] = lax::scan(
        [](const Array& c, const Array& x) {
          Array y = lax::cond(x > 0.0, [](const Array& v) { return v * 2.0; }, [](const Array& v) { return v - 1.0; }, c + x);
          Array z = lax::fori_loop(Array(0), Array(3), [](const Array&, const Array& a) { return a * 0.5 + 1.0; }, y);
          return std::pair{z, y};
        },
        Array(0.0f), xs);
    return std::pair{c, ys};
  };
  Array xs = uniform({9}, -1, 1, float32, 4);
  auto [c1, y1] = jit(nested)(xs);
  auto [c2, y2] = nested(xs);
  CHECK(testing::mismatch(c1, c2) == "");
  CHECK(testing::mismatch(y1, y2) == "");
}

TEST_CASE("jit: loop-invariant computations of a scan or while body are hoisted out of the loop") {
  Array w = uniform({8, 8}, -0.3, 0.3, float32, 5);
  Array xs = uniform({20, 8}, -1, 1, float32, 6);
  auto f = [](const Array& w, const Array& xs) {
    auto [h, ys] = lax::scan(
        [&](const Array& h, const Array& x) {
          Array m = matmul(transpose(w), w) * 0.5 + exp(w);  // depends only on w: computed once
          Array n = tanh(matmul(m, h) + x);
          return std::pair{n, sum(n)};
        },
        zeros({8}), xs);
    return std::pair{h, ys};
  };
  std::string text = jit(f).lower(w, xs).as_text();
  CHECK(text.find("loop invariants hoisted") != std::string::npos);
  auto [h1, y1] = jit(f)(w, xs);
  auto [h2, y2] = f(w, xs);
  CHECK(testing::mismatch(h1, h2) == "");
  CHECK(testing::mismatch(y1, y2) == "");
  auto g = [](const Array& w, const Array& v) {
    auto [v2, i] = lax::while_loop([](const std::pair<Array, Array>& c) { return c.second < 5; },
                                   [&](const std::pair<Array, Array>& c) { return std::pair{matmul(w * 2.0, c.first), c.second + 1}; },
                                   std::pair{v, Array(0)});
    return v2;
  };
  Array v = uniform({8}, -1, 1, float32, 7);
  CHECK(jit(g).lower(w, v).as_text().find("loop invariants hoisted") != std::string::npos);
  CHECK(testing::mismatch(jit(g)(w, v), g(w, v)) == "");
  CHECK(testing::mismatch(jit(grad([&](const Array& w) { return sum(f(w, xs).first); }))(w),
                          grad([&](const Array& w) { return sum(f(w, xs).first); })(w)) == "");
}
