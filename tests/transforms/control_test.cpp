// Control flow: lax::cond, switch_, while_loop, fori_loop and scan evaluated eagerly and staged,
// against plain C++ loops; trees as carries and operands; closures; one equation per construct;
// errors naming the shapes, dtypes and the user's line.
#include <functional>

#include "testing/testing.h"

using namespace jx;

namespace {
Array f64(std::vector<double> v) { return array(v); }
Array f32(std::vector<float> v) { return array(v); }

size_t count_substr(const std::string& s, const std::string& sub) {
  size_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + 1)) ++n;
  return n;
}
}  // namespace

// ---- cond / switch_ ----------------------------------------------------------------------------

TEST_CASE("cond: picks the branch by a bool or integer predicate, eager and traced") {
  auto f = [](const Array& p, const Array& x) {
    return lax::cond(p, [](const Array& a) { return sin(a) * 2.0; }, [](const Array& a) { return a - 1.0; }, x);
  };
  Array x = f64({0.5, -1.0, 2.0});
  CHECK_ALLCLOSE(f(Array(true), x), std::vector<double>{2 * std::sin(0.5), 2 * std::sin(-1.0), 2 * std::sin(2.0)});
  CHECK_ALLCLOSE(f(Array(false), x), std::vector<double>{-0.5, -2.0, 1.0});
  CHECK_ALLCLOSE(f(Array(3), x), f(Array(true), x));  // nonzero integer = true
  CHECK_ALLCLOSE(f(Array(0), x), f(Array(false), x));
  // Staged: one cond equation holding both branches; evaluating it picks at run time.
  ClosedJaxpr jp = make_jaxpr(f)(Array(true), x);
  CHECK(count_substr(jp.str(), "cond[") == 1);
  CHECK(jp.str().find("sin") != std::string::npos);
  CHECK_ALLCLOSE(jp(std::vector<Array>{Array(false), x})[0], std::vector<double>{-0.5, -2.0, 1.0});
  CHECK_ALLCLOSE(jp(std::vector<Array>{Array(true), x})[0], f(Array(true), x));
}

TEST_CASE("cond: trees of operands and results, several operands, and closures") {
  Array w = f64({10.0, 20.0});  // captured concrete value
  auto f = [&](const Array& p, const std::pair<Array, Array>& ab, const Array& c) {
    return lax::cond(
        p,
        [&](const std::pair<Array, Array>& t, const Array& k) {
          return std::map<std::string, Array>{{"s", t.first + t.second * k}, {"w", w * k}};
        },
        [&](const std::pair<Array, Array>& t, const Array& k) {
          return std::map<std::string, Array>{{"s", t.first - k}, {"w", w}};
        },
        ab, c);
  };
  std::pair<Array, Array> ab{f64({1.0, 2.0}), f64({3.0, 4.0})};
  Array c = scalar(2.0, float64);
  auto t = f(Array(true), ab, c);
  CHECK_ALLCLOSE(t.at("s"), std::vector<double>{7.0, 10.0});
  CHECK_ALLCLOSE(t.at("w"), std::vector<double>{20.0, 40.0});
  auto e = f(Array(false), ab, c);
  CHECK_ALLCLOSE(e.at("s"), std::vector<double>{-1.0, 0.0});
  CHECK_ALLCLOSE(e.at("w"), std::vector<double>{10.0, 20.0});
  // No operands at all.
  Array z = lax::cond(Array(false), [] { return scalar(1.0); }, [] { return scalar(2.0); });
  CHECK(z.item<float>() == 2.0f);
}

TEST_CASE("switch_: picks branches[index], index clamped; vectors and tuples of branches") {
  std::vector<std::function<Array(const Array&)>> fs{
      [](const Array& x) { return x + 1.0; }, [](const Array& x) { return x * x; }, [](const Array& x) { return -x; }};
  Array x = f64({3.0, -2.0});
  CHECK_ALLCLOSE(lax::switch_(Array(0), fs, x), std::vector<double>{4.0, -1.0});
  CHECK_ALLCLOSE(lax::switch_(Array(1), fs, x), std::vector<double>{9.0, 4.0});
  CHECK_ALLCLOSE(lax::switch_(Array(2), fs, x), std::vector<double>{-3.0, 2.0});
  CHECK_ALLCLOSE(lax::switch_(Array(7), fs, x), std::vector<double>{-3.0, 2.0});  // clamped, as JAX
  CHECK_ALLCLOSE(lax::switch_(Array(-4), fs, x), std::vector<double>{4.0, -1.0});
  CHECK_ALLCLOSE(lax::switch_(array(std::vector<int64_t>{1}, Shape{}), fs, x), std::vector<double>{9.0, 4.0});
  // A tuple of lambdas of different types.
  auto branches = std::tuple{[](const Array& a) { return exp(a); }, [](const Array& a) { return log(a * a); }};
  CHECK_ALLCLOSE(lax::switch_(Array(0), branches, x), std::vector<double>{std::exp(3.0), std::exp(-2.0)});
  CHECK_ALLCLOSE(lax::switch_(Array(1), branches, x), std::vector<double>{std::log(9.0), std::log(4.0)});
  // Traced index: one equation with three branches.
  auto g = [&](const Array& i, const Array& v) { return lax::switch_(i, fs, v); };
  ClosedJaxpr jp = make_jaxpr(g)(Array(0), x);
  CHECK(count_substr(jp.str(), "cond[") == 1);
  for (int i = 0; i < 3; ++i) CHECK_ALLCLOSE(jp(std::vector<Array>{Array(i), x})[0], lax::switch_(Array(i), fs, x));
}

TEST_CASE("cond: errors name both branches' types, the predicate's type and the user's line") {
  Array x = f64({1.0, 2.0});
  auto same = [](const Array& a) { return a; };
  CHECK_THROWS_WITH_AS(lax::cond(Array(true), same, [](const Array& a) { return a.astype(float32); }, x),
                       doctest::Contains("true_fn returns (f64[2],) but false_fn returns (f32[2],)"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::cond(Array(true), same, [](const Array& a) { return sum(a); }, x),
                       doctest::Contains("(f64[2],) but false_fn returns (f64[],)"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::cond(Array(true), same, [](const Array& a) { return std::pair{a, a}; }, x),
                       doctest::Contains("different tree structures"), ValueError);
  CHECK_THROWS_WITH_AS(lax::cond(array({true, false}), same, same, x),
                       doctest::Contains("[cond] the predicate must be a scalar, got bool[2]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::cond(scalar(1.0), same, same, x),
                       doctest::Contains("must be a bool or integer scalar, got f32[]"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::cond(scalar(1.0), same, same, x), doctest::Contains("control_test.cpp"), DTypeError);
  std::vector<std::function<Array(const Array&)>> none_at_all;
  CHECK_THROWS_WITH_AS(lax::switch_(Array(0), none_at_all, x), doctest::Contains("at least one branch"), ValueError);
  CHECK_THROWS_WITH_AS(lax::switch_(scalar(0.0), std::vector{same}, x),
                       doctest::Contains("[switch_] the index must be an integer scalar, got f32[]"), DTypeError);
  // The trace stack is clean after the errors.
  CHECK_ALLCLOSE(lax::cond(Array(true), same, same, x), x);
}

// ---- while_loop / fori_loop ---------------------------------------------------------------------

TEST_CASE("while_loop: Collatz step counts and Newton's square root agree with C++ loops") {
  for (int start : {1, 6, 7, 27}) {
    auto [n, steps] = lax::while_loop([](const std::pair<Array, Array>& s) { return s.first != 1; },
                                      [](const std::pair<Array, Array>& s) {
                                        Array n = s.first;
                                        Array next = where(mod(n, Array(2)) == 0, floor_divide(n, Array(2)), 3 * n + 1);
                                        return std::pair<Array, Array>{next, s.second + 1};
                                      },
                                      std::pair<Array, Array>{Array(start), Array(0)});
    int c = start, expected = 0;
    while (c != 1) c = c % 2 == 0 ? c / 2 : 3 * c + 1, ++expected;
    CHECK(n.item<int>() == 1);
    CHECK(steps.item<int>() == expected);
    CHECK(steps.dtype() == int32);
  }
  // Newton for sqrt(a) with a tolerance on the update, the tree a std::tuple.
  double a = 10.0;
  using S = std::tuple<Array, Array>;
  auto [x, dx] = lax::while_loop([](const S& s) { return abs(std::get<1>(s)) > 1e-12; },
                                 [a](const S& s) {
                                   Array x = std::get<0>(s);
                                   Array next = 0.5 * (x + a / x);
                                   return S{next, next - x};
                                 },
                                 S{scalar(1.0, float64), scalar(1.0, float64)});
  CHECK(x.item<double>() == doctest::Approx(std::sqrt(10.0)).epsilon(1e-14));
  // A predicate that is false at once: zero iterations.
  Array y = lax::while_loop([](const Array& v) { return v > 100.0; }, [](const Array& v) { return v * 2.0; }, f64({1.0})[0]);
  CHECK(y.item<double>() == 1.0);
}

TEST_CASE("while_loop: staged as one equation; the body closes over outer values and tracers") {
  Array scale = scalar(3.0, float64);
  auto f = [&](const Array& x, const Array& limit) {
    return lax::while_loop([&](const Array& v) { return sum(v) < limit; }, [&](const Array& v) { return v * scale + x; }, x);
  };
  Array x = f64({0.5, 1.0});
  std::vector<double> ref{0.5, 1.0};
  while (ref[0] + ref[1] < 1000) ref = {ref[0] * 3 + 0.5, ref[1] * 3 + 1.0};
  CHECK_ALLCLOSE(f(x, scalar(1000.0, float64)), ref);
  ClosedJaxpr jp = make_jaxpr(f)(x, scalar(1000.0, float64));
  CHECK(count_substr(jp.str(), "while[") == 1);
  CHECK(jp.str().find("body_jaxpr=") != std::string::npos);
  CHECK_ALLCLOSE(jp(std::vector<Array>{x, scalar(1000.0, float64)})[0], ref);
}

TEST_CASE("while_loop: errors for a carry whose type changes and a bad predicate") {
  auto always = [](const Array&) { return Array(false); };
  CHECK_THROWS_WITH_AS(lax::while_loop(always, [](const Array& v) { return v.astype(float64); }, scalar(1.0, float32)),
                       doctest::Contains("body_fn changes the carry's type: leaf 0 enters as f32[] but leaves as f64[]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::while_loop(always, [](const Array& v) { return stack({v, v}); }, f32({1.f, 2.f})),
                       doctest::Contains("enters as f32[2] but leaves as f32[2,2]"), ShapeError);
  auto same = [](const Array& v) { return v; };
  CHECK_THROWS_WITH_AS(lax::while_loop([](const Array& v) { return v; }, same, scalar(1.0)),
                       doctest::Contains("[while_loop] cond_fn must return a scalar bool, got f32[]"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::while_loop([](const Array& v) { return v > 0.0; }, same, f32({1.f, 2.f})),
                       doctest::Contains("cond_fn must return a scalar bool, got bool[2]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::while_loop([](const Array& v) { return v > 0.0; }, same, f32({1.f, 2.f})),
                       doctest::Contains("control_test.cpp"), ShapeError);
  CHECK_THROWS_WITH_AS(
      lax::while_loop([](const std::pair<Array, Array>& s) { return s.first > 0.0; },
                      [](const std::pair<Array, Array>& s) { return std::tuple<Array, Array, Array>{s.first, s.second, s.second}; },
                      std::pair<Array, Array>{scalar(1.0), scalar(2.0)}),
      doctest::Contains("body_fn returns a carry of structure (*, *, *) but the initial carry has structure (*, *)"),
      ValueError);
}

TEST_CASE("fori_loop: sums against a C++ loop; concrete bounds become a scan, traced bounds a while") {
  auto body = [](const Array& i, const Array& acc) { return acc + (i * i).astype(float64); };
  Array r = lax::fori_loop(2, 10, body, scalar(0.0, float64));
  double ref = 0;
  for (int i = 2; i < 10; ++i) ref += i * i;
  CHECK(r.item<double>() == ref);
  CHECK(lax::fori_loop(5, 3, body, scalar(1.5, float64)).item<double>() == 1.5);  // empty range
  // i is an int32 scalar.
  lax::fori_loop(0, 1, [](const Array& i, const Array& c) {
    CHECK(i.dtype() == int32);
    CHECK(i.ndim() == 0);
    return c;
  }, scalar(0.0));
  auto concrete = [&](const Array& x) { return lax::fori_loop(0, 4, body, x); };
  std::string s = make_jaxpr(concrete)(scalar(0.0, float64)).str();
  CHECK(count_substr(s, "scan[") == 1);
  CHECK(s.find("while[") == std::string::npos);
  auto traced = [&](const Array& x, const Array& hi) { return lax::fori_loop(0, hi, body, x); };
  ClosedJaxpr jp = make_jaxpr(traced)(scalar(0.0, float64), Array(4));
  CHECK(count_substr(jp.str(), "while[") == 1);
  CHECK(jp(std::vector<Array>{scalar(0.0, float64), Array(10)})[0].item<double>() == 285.0);
  CHECK(traced(scalar(0.0, float64), Array(10)).item<double>() == 285.0);
  CHECK_THROWS_WITH_AS(lax::fori_loop(scalar(0.0), 3, body, scalar(0.0, float64)),
                       doctest::Contains("[fori_loop] lo and hi must be integer scalars, got lo f32[]"), DTypeError);
}

// ---- scan ------------------------------------------------------------------------------------------

TEST_CASE("scan: cumulative sums and products against C++, forwards and in reverse") {
  std::vector<double> v{1.0, -2.0, 0.5, 3.0, 4.0};
  Array xs = f64(v);
  auto f = [](const Array& c, const Array& x) { return std::pair{c + x, c * x}; };
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    auto [c, ys] = lax::scan(f, scalar(0.0, float64), xs, std::nullopt, reverse);
    std::vector<double> ref(v.size());
    double acc = 0;
    for (size_t k = 0; k < v.size(); ++k) {
      size_t i = reverse ? v.size() - 1 - k : k;
      ref[i] = acc * v[i];
      acc += v[i];
    }
    CHECK(c.item<double>() == acc);
    CHECK_ALLCLOSE(ys, ref);
  }
  // Matrix rows as xs, a vector carry.
  Array m = array(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{3, 2});
  auto [c2, ys2] = lax::scan([](const Array& c, const Array& row) { return std::pair{c * row, sum(c)}; },
                             f32({1.f, 1.f}), m);
  CHECK_ALLCLOSE(c2, std::vector<double>{15, 48});
  CHECK_ALLCLOSE(ys2, std::vector<double>{2, 3, 11});
  CHECK(ys2.shape() == Shape{3});
}

TEST_CASE("scan: trees of carries, xs and ys; no xs with a length; an empty y") {
  std::map<std::string, Array> xs{{"a", f64({1, 2, 3})}, {"b", array(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{3, 2})}};
  using Carry = std::pair<Array, Array>;
  auto f = [](const Carry& c, const std::map<std::string, Array>& x) {
    Carry next{c.first + x.at("a"), c.second + x.at("b")};
    return std::pair{next, std::tuple<Array, Array>{next.first * 2.0, sum(next.second)}};
  };
  auto [c, ys] = lax::scan(f, Carry{scalar(0.0, float64), f64({0, 0})}, xs);
  CHECK(c.first.item<double>() == 6.0);
  CHECK_ALLCLOSE(c.second, std::vector<double>{9, 12});
  CHECK_ALLCLOSE(std::get<0>(ys), std::vector<double>{2, 6, 12});
  CHECK_ALLCLOSE(std::get<1>(ys), std::vector<double>{3, 10, 21});
  // xs = none with a length; y = none.
  auto [fib, nothing] = lax::scan(
      [](const Carry& s, const NoneType&) { return std::pair{Carry{s.second, s.first + s.second}, none}; },
      Carry{Array(0), Array(1)}, none, 10);
  (void)nothing;
  CHECK(fib.first.item<int>() == 55);
  // Zero-length scans return the initial carry and empty ys.
  auto [c0, ys0] = lax::scan([](const Array& c, const Array& x) { return std::pair{c + sum(x), x}; },
                             scalar(1.0, float64), zeros({0, 2}, float64));
  CHECK(c0.shape() == Shape{});
  CHECK(c0.item<double>() == 1.0);
  CHECK(ys0.shape() == Shape{0, 2});
}

TEST_CASE("scan: a weakly typed initial carry takes the body's dtype, as JAX") {
  auto [c, ys] = lax::scan([](const Array& c, const Array& x) { return std::pair{c + x, c}; }, Array(0.0), f64({1, 2, 3}));
  CHECK(c.dtype() == float64);
  CHECK(c.item<double>() == 6.0);
  CHECK(ys.dtype() == float64);
}

TEST_CASE("scan: the body is traced once, staged as one equation, and closes over tracers") {
  int traces = 0;
  auto f = [&](const Array& c, const Array& x) {
    ++traces;
    return std::pair{c * 0.5 + x, c};
  };
  auto [c, ys] = lax::scan(f, scalar(0.0, float64), zeros({200}, float64) + 1.0);
  CHECK(traces == 1);
  CHECK(c.item<double>() == doctest::Approx(2.0));
  // Closing over a traced argument: it becomes an input of the equation.
  auto g = [](const Array& w, const Array& xs) {
    return lax::scan([&](const Array& c, const Array& x) { return std::pair{tanh(w * c + x), c}; }, zeros_like(w), xs).first;
  };
  Array w = f64({0.5, -0.3}), xs = array(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{3, 2});
  ClosedJaxpr jp = make_jaxpr(g)(w, xs);
  CHECK(count_substr(jp.str(), "scan[") == 1);
  CHECK(jp.str().find("num_consts=1") != std::string::npos);
  std::vector<double> h{0, 0}, wv{0.5, -0.3}, xv{1, 2, 3, 4, 5, 6};
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 2; ++j) h[j] = std::tanh(wv[j] * h[j] + xv[t * 2 + j]);
  CHECK_ALLCLOSE(g(w, xs), h);
  CHECK_ALLCLOSE(jp(std::vector<Array>{w, xs})[0], h);
}

TEST_CASE("scan, cond and while nest inside each other") {
  // For each x: if x > 0 count the halvings of x until < 1 (while), else 0; sum over a scan.
  auto f = [](const Array& xs) {
    return lax::scan(
               [](const Array& total, const Array& x) {
                 Array n = lax::cond(
                     x > 0.0,
                     [](const Array& v) {
                       return lax::while_loop([](const std::pair<Array, Array>& s) { return s.first >= 1.0; },
                                              [](const std::pair<Array, Array>& s) {
                                                return std::pair<Array, Array>{s.first / 2.0, s.second + 1};
                                              },
                                              std::pair<Array, Array>{v, Array(0)})
                           .second;
                     },
                     [](const Array&) { return Array(0); }, x);
                 return std::pair{total + n, n};
               },
               Array(0), xs);
  };
  Array xs = f64({5.0, -3.0, 0.5, 100.0});
  auto [total, ns] = f(xs);
  CHECK_ALLCLOSE(ns, std::vector<double>{3, 0, 0, 7});
  CHECK(total.item<int>() == 10);
  auto staged = make_jaxpr([&](const Array& v) { return f(v); })(xs)(std::vector<Array>{xs});
  CHECK(staged[0].item<int>() == 10);
  CHECK_ALLCLOSE(staged[1], std::vector<double>{3, 0, 0, 7});
}

TEST_CASE("scan: errors for mismatched xs lengths, a carry whose type changes, and missing length") {
  auto f = [](const Array& c, const std::pair<Array, Array>& x) { return std::pair{c + x.first, x.second}; };
  CHECK_THROWS_WITH_AS(lax::scan(f, scalar(0.0, float64), std::pair{f64({1, 2, 3}), f64({1, 2})}),
                       doctest::Contains("leaf 0 (f64[3]) has leading length 3, but leaf 1 (f64[2]) has leading length 2"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::scan(f, scalar(0.0, float64), std::pair{f64({1, 2, 3}), f64({1, 2, 3})}, 4),
                       doctest::Contains("length is 4, but leaf 0 (f64[3]) has leading length 3"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::scan(f, scalar(0.0, float64), std::pair{f64({1, 2, 3}), f64({1, 2})}),
                       doctest::Contains("control_test.cpp"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::scan([](const Array& c, const Array& x) { return std::pair{c * x, x}; }, scalar(1.0, float32),
                                 f64({1, 2})),
                       doctest::Contains("[scan] f changes the carry's type: leaf 0 enters as f32[] but leaves as f64[]"), ShapeError);
  CHECK_THROWS_WITH_AS(
      lax::scan([](const Array& c, const Array& x) { return std::pair{std::pair{c, c}, x}; }, scalar(1.0, float64), f64({1, 2})),
      doctest::Contains("f returns a carry of structure (*, *) but the initial carry has structure *"), ValueError);
  CHECK_THROWS_WITH_AS(lax::scan([](const Array& c, const NoneType&) { return std::pair{c, none}; }, scalar(1.0), none),
                       doctest::Contains("pass length"), ValueError);
  CHECK_THROWS_WITH_AS(lax::scan(f, scalar(0.0, float64), std::pair{scalar(1.0), f64({1, 2})}),
                       doctest::Contains("xs leaf 0 is a scalar f32[]"), ShapeError);
}

// ---- jit ---------------------------------------------------------------------------------------------

TEST_CASE("jit: jit(f) equals f for cond, switch_, while_loop, fori_loop and scan, and composes with grad and vmap") {
  Array x = f64({0.5, -1.25, 2.0});
  auto f_cond = [](const Array& p, const Array& v) {
    return lax::cond(p, [](const Array& a) { return sin(a) * 2.0 + 1.0; }, [](const Array& a) { return exp(a) - a; }, v);
  };
  for (bool p : {true, false}) CHECK_ALLCLOSE(jit(f_cond)(Array(p), x), f_cond(Array(p), x));
  std::vector<std::function<Array(const Array&)>> fs{[](const Array& a) { return a * a; }, [](const Array& a) { return tanh(a); },
                                                     [](const Array& a) { return -a + 3.0; }};
  auto f_switch = [&](const Array& i, const Array& v) { return lax::switch_(i, fs, v); };
  for (int i : {-1, 0, 1, 2, 5}) CHECK_ALLCLOSE(jit(f_switch)(Array(i), x), f_switch(Array(i), x));
  auto f_while = [](const Array& v, const Array& limit) {
    return lax::while_loop([&](const Array& c) { return sum(c * c) < limit; }, [](const Array& c) { return c * 1.5 + 0.1; }, v);
  };
  CHECK_ALLCLOSE(jit(f_while)(x, scalar(1000.0, float64)), f_while(x, scalar(1000.0, float64)));
  auto f_fori = [](const Array& v, const Array& hi) {
    Array a = lax::fori_loop(0, hi, [](const Array& i, const Array& c) { return c * 0.9 + i.astype(float64); }, v);
    Array b = lax::fori_loop(2, 9, [](const Array& i, const Array& c) { return sin(c) + i.astype(float64); }, v);
    return a + b;
  };
  CHECK_ALLCLOSE(jit(f_fori)(x, Array(7)), f_fori(x, Array(7)));
  auto f_scan = [](const Array& w, const Array& xs) {
    auto [c, ys] = lax::scan([&](const Array& c, const Array& row) {
      Array n = tanh(c * w + row);
      return std::pair{n, sum(n)};
    }, zeros_like(w), xs, std::nullopt, true);
    return std::pair{c, ys};
  };
  Array w = f64({0.3, -0.6, 0.9}), xs = array(std::vector<double>{1, 2, 3, 4, 5, 6, -1, -2, -3, 0.5, 0.25, 0}, Shape{4, 3});
  auto [jc, jys] = jit(f_scan)(w, xs);
  auto [ec, eys] = f_scan(w, xs);
  CHECK_ALLCLOSE(jc, ec);
  CHECK_ALLCLOSE(jys, eys);
  // grad(jit(f)), jit(grad(f)) and vmap(jit(f)) through scan and cond.
  auto loss = [&](const Array& v) { return sum(f_scan(v, xs).second) + sum(f_cond(sum(v) > 0.0, v)); };
  Array g = grad(loss)(w);
  CHECK_ALLCLOSE(grad(jit(loss))(w), g);
  CHECK_ALLCLOSE(jit(grad(loss))(w), g);
  Array ws = stack({w, w * 2.0, -w});
  CHECK_ALLCLOSE(vmap(jit(loss))(ws), vmap(loss)(ws));
  CHECK_ALLCLOSE(jit(vmap(f_while, {0, none}))(stack({x, x * 0.1}), scalar(50.0, float64)),
                 vmap(f_while, {0, none})(stack({x, x * 0.1}), scalar(50.0, float64)));
}
