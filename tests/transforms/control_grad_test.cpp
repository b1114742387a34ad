// Differentiating control flow: cond, switch_ and scan to second order in float64 and first order
// in float32 (check_grads: forward mode against finite differences, reverse mode against forward
// mode), while_loop in forward mode (reverse mode is refused, as in JAX), fori_loop with concrete
// bounds in reverse mode, and the gradient of a 1000-step RK4 integration of the Lorenz system
// against finite differences of a plain C++ integrator.
#include <array>

#include "testing/check_grads.h"

using namespace jx;
using testing::count_substr;

namespace {
Array f64(std::vector<double> v) { return array(v); }


std::vector<Array> as(const std::vector<Array>& xs, DType dtype) {
  std::vector<Array> out;
  for (auto& x : xs) out.push_back(x.astype(dtype));
  return out;
}

// ---- Lorenz by RK4: jx and a plain C++ reference ---------------------------------------------------

constexpr double kSigma = 10.0, kRho = 28.0, kBeta = 8.0 / 3.0;

Array lorenz(const Array& s) {
  Array x = s[0], y = s[1], z = s[2];
  return stack({kSigma * (y - x), x * (kRho - z) - y, x * y - kBeta * z});
}

Array rk4_step(const Array& s, double dt) {
  Array k1 = lorenz(s);
  Array k2 = lorenz(s + (dt / 2) * k1);
  Array k3 = lorenz(s + (dt / 2) * k2);
  Array k4 = lorenz(s + dt * k3);
  return s + (dt / 6) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
}

using Vec3 = std::array<double, 3>;
Vec3 lorenz_ref(const Vec3& s) {
  return {kSigma * (s[1] - s[0]), s[0] * (kRho - s[2]) - s[1], s[0] * s[1] - kBeta * s[2]};
}
Vec3 rk4_ref(Vec3 s, double dt, int steps) {
  auto axpy = [](const Vec3& a, double h, const Vec3& b) { return Vec3{a[0] + h * b[0], a[1] + h * b[1], a[2] + h * b[2]}; };
  for (int n = 0; n < steps; ++n) {
    Vec3 k1 = lorenz_ref(s), k2 = lorenz_ref(axpy(s, dt / 2, k1)), k3 = lorenz_ref(axpy(s, dt / 2, k2)),
         k4 = lorenz_ref(axpy(s, dt, k3));
    for (int i = 0; i < 3; ++i) s[i] += dt / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  }
  return s;
}

}  // namespace

// ---- cond / switch_ ----------------------------------------------------------------------------

TEST_CASE("cond: derivatives of both branches match finite differences (order 2 f64, order 1 f32)") {
  // The predicate depends on the input; the true branch closes over a differentiated value.
  testing::VecFn f = [](const std::vector<Array>& a) {
    const Array& y = a[1];
    return lax::cond(
        sum(a[0]) > 0.0, [&](const Array& x) { return sin(x) * y + x * x; },
        [&](const Array& x) { return exp(x) * sum(y); }, a[0]);
  };
  std::vector<Array> pos{f64({0.4, 0.7, -0.2}), f64({1.5, -0.5, 0.3})};
  std::vector<Array> neg{f64({-0.4, 0.2, -0.9}), f64({1.5, -0.5, 0.3})};
  SUBCASE("true branch") {
    testing::check_grads(f, pos, 2);
    testing::check_grads(f, as(pos, float32), 1);
    // d/dx sum(sin(x) y + x^2) = cos(x) y + 2x.
    Array g = grad([&](const Array& x) { return sum(f({x, pos[1]})); })(pos[0]);
    CHECK_ALLCLOSE(g, std::vector<double>{std::cos(0.4) * 1.5 + 0.8, std::cos(0.7) * -0.5 + 1.4, std::cos(-0.2) * 0.3 - 0.4});
  }
  SUBCASE("false branch") {
    testing::check_grads(f, neg, 2);
    testing::check_grads(f, as(neg, float32), 1);
    Array g = grad([&](const Array& y) { return sum(f({neg[0], y})); })(neg[1]);
    double e = std::exp(-0.4) + std::exp(0.2) + std::exp(-0.9);
    CHECK_ALLCLOSE(g, std::vector<double>{e, e, e});
  }
}

TEST_CASE("cond: trees of operands and results under grad; an integer operand passes through") {
  auto f = [](const Array& p, const std::map<std::string, Array>& t) {
    auto out = lax::cond(
        p,
        [](const std::map<std::string, Array>& m, const Array& k) {
          return std::pair<Array, Array>{m.at("a") * m.at("b"), k + 1};
        },
        [](const std::map<std::string, Array>& m, const Array& k) {
          return std::pair<Array, Array>{m.at("a") - m.at("b"), k};
        },
        t, Array(3));
    return sum(out.first) * out.second.astype(float64);
  };
  std::map<std::string, Array> t{{"a", f64({1.0, 2.0})}, {"b", f64({3.0, -1.0})}};
  auto g = grad<1>(f)(Array(true), t);
  CHECK_ALLCLOSE(g.at("a"), std::vector<double>{12.0, -4.0});
  CHECK_ALLCLOSE(g.at("b"), std::vector<double>{4.0, 8.0});
  auto h = grad<1>(f)(Array(false), t);
  CHECK_ALLCLOSE(h.at("a"), std::vector<double>{3.0, 3.0});
  CHECK_ALLCLOSE(h.at("b"), std::vector<double>{-3.0, -3.0});
}

TEST_CASE("switch_: derivatives through every branch (order 2 f64, order 1 f32)") {
  auto branches = std::tuple{[](const Array& x, const Array& y) { return tanh(x) * y; },
                             [](const Array& x, const Array& y) { return x * y * y; },
                             [](const Array& x, const Array&) { return log1p(x * x); }};
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    testing::VecFn f = [&, i](const std::vector<Array>& a) { return lax::switch_(Array(i), branches, a[0], a[1]); };
    std::vector<Array> args{f64({0.3, -1.2}), f64({0.8, 2.0})};
    testing::check_grads(f, args, 2);
    testing::check_grads(f, as(args, float32), 1);
  }
}

// ---- scan --------------------------------------------------------------------------------------

TEST_CASE("scan: an RNN's derivatives match finite differences (order 2 f64, order 1 f32), forwards and reversed") {
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    // a = (W [3,3], xs [4,3], h0 [3]); W is captured by the body (a tracer of the outer transforms).
    testing::VecFn rnn = [reverse](const std::vector<Array>& a) {
      auto [h, ys] = lax::scan(
          [&](const Array& h, const Array& x) {
            Array hn = tanh(matmul(a[0], h) + x);
            return std::pair{hn, sum(hn * hn) + sum(x * h)};
          },
          a[2], a[1], std::nullopt, reverse);
      return concatenate({h, ys});
    };
    std::vector<Array> args{testing::uniform({3, 3}, -0.8, 0.8, float64, 1), testing::uniform({4, 3}, -1, 1, float64, 2),
                            testing::uniform({3}, -1, 1, float64, 3)};
    testing::check_grads(rnn, args, 2);
    testing::check_grads(rnn, as(args, float32), 1);
  }
}

TEST_CASE("scan: gradient of a cumulative product against the closed form") {
  // f(xs) = sum(ys) where ys[i] = prod(xs[0..i]); df/dxs[k] = sum_{i >= k} prod_{j <= i, j != k} xs[j].
  std::vector<double> v{0.5, 2.0, -1.5, 0.8};
  auto f = [](const Array& xs) {
    return sum(lax::scan([](const Array& c, const Array& x) { Array p = c * x; return std::pair{p, p}; },
                         scalar(1.0, float64), xs)
                   .second);
  };
  Array g = grad(f)(f64(v));
  std::vector<double> ref(v.size(), 0.0);
  for (size_t k = 0; k < v.size(); ++k)
    for (size_t i = k; i < v.size(); ++i) {
      double p = 1;
      for (size_t j = 0; j <= i; ++j)
        if (j != k) p *= v[j];
      ref[k] += p;
    }
  CHECK_ALLCLOSE(g, ref);
}

TEST_CASE("scan: a carry whose tangent starts at zero, integer xs, zero length, and Hessians") {
  // The carry starts as a constant; it depends on w only after the first step (the JVP's fixpoint).
  auto f = [](const Array& w, const Array& xs) {
    return lax::scan([&](const Array& c, const Array& x) { return std::pair{c * cos(w) + w * x, c}; }, zeros({3}, float64), xs);
  };
  Array w = f64({0.3, -0.8, 1.1}), xs = testing::uniform({6, 3}, -1, 1, float64, 21);
  testing::check_grads([&](const std::vector<Array>& a) { return concatenate({f(a[0], a[1]).first, reshape(f(a[0], a[1]).second, {-1})}); },
                       {w, xs}, 2);
  // Integer xs index a captured float table; the gradient reaches the table.
  Array table = f64({1.0, 2.0, 3.0, 4.0});
  Array idx = array(std::vector<int32_t>{3, 0, 0, 2});
  auto g = [&](const Array& t) {
    return lax::scan([&](const Array& c, const Array& i) { return std::pair{c * 0.5 + t[i] * t[i], i}; }, scalar(0.0, float64), idx).first;
  };
  // c = sum_k 0.5^(3-k) t[idx_k]^2 -> d/dt[j] = sum over k with idx_k = j of 2 t[j] 0.5^(3-k).
  CHECK_ALLCLOSE(grad(g)(table), std::vector<double>{2 * 1.0 * (0.25 + 0.5), 0.0, 2 * 3.0 * 1.0, 2 * 4.0 * 0.125});
  // Zero iterations: the carry passes through (identity Jacobian), ys are empty.
  auto z = [](const Array& c) {
    return sum(lax::scan([](const Array& c, const Array& x) { return std::pair{sin(c) * x, c}; }, c, zeros({0, 2}, float64)).first);
  };
  CHECK_ALLCLOSE(grad(z)(f64({0.5, 2.0})), std::vector<double>{1.0, 1.0});
  // Hessians: forward over reverse equals reverse over forward, and the symmetric finite-difference one.
  auto h = [&](const Array& v) { return sum(f(v, xs).first * f(v, xs).first); };
  Array H = hessian(h)(w), H2 = jacrev(jacfwd(h))(w);
  CHECK_ALLCLOSE_TOL(H, testing::values(H2), 1e-10, 1e-10);
  CHECK_ALLCLOSE_TOL(H, testing::values(transpose(H)), 1e-10, 1e-10);
  std::vector<double> hfd;
  for (int i = 0; i < 3; ++i) {
    std::vector<double> e(3, 0.0);
    e[i] = 1e-5;
    Array gp = grad(h)(w + f64(e)), gm = grad(h)(w - f64(e));
    for (double d : testing::values((gp - gm) / 2e-5)) hfd.push_back(d);
  }
  CHECK_ALLCLOSE_TOL(H, hfd, 1e-6, 1e-6);
}

TEST_CASE("scan: linearize and vjp with cotangents on the carry and on the ys") {
  auto f = [](const Array& c0, const Array& xs) {
    return lax::scan([](const Array& c, const Array& x) { return std::pair{sin(c) * x, c * c}; }, c0, xs);
  };
  Array c0 = f64({0.3, -0.7}), xs = testing::uniform({5, 2}, -1, 1, float64, 4);
  auto [y, f_lin] = linearize([&](const Array& c) { return f(c, xs).second; }, c0);
  Array t = f64({1.0, -2.0});
  auto [y2, t2] = jvp([&](const Array& c) { return f(c, xs).second; }, std::tuple{c0}, std::tuple{t});
  CHECK_ALLCLOSE(f_lin(t), t2);
  CHECK_ALLCLOSE(y, y2);
  auto [out, f_vjp] = vjp(f, c0, xs);
  auto [ct_c0, ct_xs] = f_vjp(std::pair{f64({1.0, 0.5}), testing::uniform({5, 2}, -1, 1, float64, 5)});
  CHECK(ct_c0.shape() == Shape{2});
  CHECK(ct_xs.shape() == Shape{5, 2});
  testing::check_vjp([&](const std::vector<Array>& a) { return concatenate({f(a[0], a[1]).first, reshape(f(a[0], a[1]).second, {10})}); },
                     {c0, xs});
}

TEST_CASE("scan: reverse mode stores residuals per iteration, not an unrolled loop") {
  auto f = [](const Array& x, int64_t n) {
    return sum(lax::scan([](const Array& c, const NoneType&) { return std::pair{sin(c) * 1.01 + 0.1, none}; }, x, none, n)
                   .first);
  };
  Array x = f64({0.2, 0.4});
  std::string s10 = make_jaxpr(grad([&](const Array& v) { return f(v, 10); }))(x).str();
  std::string s1000 = make_jaxpr(grad([&](const Array& v) { return f(v, 1000); }))(x).str();
  CHECK(count_substr(s1000, "scan[") == count_substr(s10, "scan["));
  CHECK(count_substr(s1000, "\n") == count_substr(s10, "\n"));
  CHECK(count_substr(s1000, "length=1000") >= 2);  // the forward scan and the transposed one
  CHECK(s1000.find("reverse=True") != std::string::npos);
}

TEST_CASE("fori_loop: concrete bounds are reverse-differentiable; the index is an integer carry") {
  // x_{i+1} = x_i * cos(0.1 i) + sin(x_i) for i in [1, 7).
  testing::VecFn f = [](const std::vector<Array>& a) {
    return lax::fori_loop(1, 7, [](const Array& i, const Array& x) { return x * cos(0.1 * i.astype(x.dtype())) + sin(x); }, a[0]);
  };
  std::vector<Array> args{f64({0.3, -0.6})};
  testing::check_grads(f, args, 2);
  testing::check_grads(f, as(args, float32), 1);
  // Against a C++ loop of the derivative.
  Array g = grad([&](const Array& x) { return sum(f({x})); })(args[0]);
  std::vector<double> ref;
  for (double x0 : {0.3, -0.6}) {
    double x = x0, d = 1;
    for (int i = 1; i < 7; ++i) {
      d = d * (std::cos(0.1 * i) + std::cos(x));
      x = x * std::cos(0.1 * i) + std::sin(x);
    }
    ref.push_back(d);
  }
  CHECK_ALLCLOSE(g, ref);
}

// ---- while_loop ------------------------------------------------------------------------------------

TEST_CASE("while_loop: forward mode works (jvp, jacfwd, linearize), reverse mode is refused as in JAX") {
  // Iterate x <- x * a + sin(x) while the counter is below 5; a is captured from the outside.
  auto f = [](const Array& x, const Array& a) {
    return lax::while_loop([](const std::pair<Array, Array>& s) { return s.second < 5; },
                           [&](const std::pair<Array, Array>& s) {
                             return std::pair<Array, Array>{s.first * a + sin(s.first), s.second + 1};
                           },
                           std::pair<Array, Array>{x, Array(0)})
        .first;
  };
  testing::VecFn fv = [&](const std::vector<Array>& v) { return f(v[0], v[1]); };
  std::vector<Array> args{f64({0.3, -0.5}), f64({0.9, 0.7})};
  testing::check_jvp(fv, args);
  testing::check_jvp(fv, as(args, float32));
  // Second-order forward mode.
  Array dir = f64({1.0, 0.5});
  testing::check_jvp([&](const std::vector<Array>& v) { return jvp([&](const Array& x) { return f(x, args[1]); }, std::tuple{v[0]}, std::tuple{dir}).second; },
                     {args[0]});
  Array J = jacfwd([&](const Array& x) { return f(x, args[1]); })(args[0]);
  CHECK(J.shape() == Shape{2, 2});
  std::vector<double> jref;
  for (int k = 0; k < 2; ++k) {
    double x = args[0].to_vector<double>()[k], a = args[1].to_vector<double>()[k], d = 1;
    for (int i = 0; i < 5; ++i) {
      d *= a + std::cos(x);
      x = x * a + std::sin(x);
    }
    jref.push_back(d);
  }
  CHECK_ALLCLOSE(J, std::vector<double>{jref[0], 0, 0, jref[1]});
  auto [y, f_lin] = linearize([&](const Array& x) { return f(x, args[1]); }, args[0]);
  CHECK_ALLCLOSE(f_lin(dir), jvp([&](const Array& x) { return f(x, args[1]); }, std::tuple{args[0]}, std::tuple{dir}).second);
  CHECK_THROWS_WITH_AS(grad([&](const Array& x) { return sum(f(x, args[1])); })(args[0]),
                       doctest::Contains("reverse-mode differentiation does not work for lax.while_loop"), ValueError);
  CHECK_THROWS_WITH_AS(grad([&](const Array& x) { return sum(f(x, args[1])); })(args[0]),
                       doctest::Contains("control_grad_test.cpp"), ValueError);
  // fori_loop with a traced bound is a while_loop: the same error.
  auto g = [](const Array& x, const Array& n) {
    return sum(lax::fori_loop(0, n, [](const Array&, const Array& v) { return sin(v); }, x));
  };
  CHECK_THROWS_WITH_AS(grad(g)(args[0], Array(3)), doctest::Contains("lax.fori_loop with concrete"), ValueError);
  // Forward mode of the traced-bound fori_loop works.
  auto [y3, t3] = jvp([&](const Array& x) { return g(x, Array(3)); }, std::tuple{args[0]}, std::tuple{dir});
  double ref = 0;
  for (int k = 0; k < 2; ++k) {
    double x = args[0].to_vector<double>()[k], d = dir.to_vector<double>()[k];
    for (int i = 0; i < 3; ++i) {
      d *= std::cos(x);
      x = std::sin(x);
    }
    ref += d;
  }
  CHECK(t3.item<double>() == doctest::Approx(ref).epsilon(1e-12));
}

// ---- RK4 over 1000 steps -------------------------------------------------------------------------

TEST_CASE("scan: the gradient of a 1000-step RK4 integration of the Lorenz system matches finite differences") {
  const double dt = 0.005;
  const int steps = 1000;
  const Vec3 s0{1.0, 1.0, 1.05}, w{0.3, -0.2, 0.5};
  auto final_state = [&](const Array& s) {
    return lax::scan([&](const Array& c, const NoneType&) { return std::pair{rk4_step(c, dt), none}; }, s, none, steps).first;
  };
  auto loss = [&](const Array& s) { return sum(final_state(s) * f64({w[0], w[1], w[2]})); };
  Array x0 = f64({s0[0], s0[1], s0[2]});
  // 1. The trajectory itself against the C++ integrator.
  Vec3 ref_final = rk4_ref(s0, dt, steps);
  CHECK_ALLCLOSE_TOL(final_state(x0), std::vector<double>(ref_final.begin(), ref_final.end()), 1e-10, 1e-10);
  // 2. Reverse mode against central differences of the C++ integrator.
  Array g = grad(loss)(x0);
  std::vector<double> fd;
  const double h = 1e-6;
  for (int i = 0; i < 3; ++i) {
    Vec3 p = s0, m = s0;
    p[i] += h;
    m[i] -= h;
    Vec3 fp = rk4_ref(p, dt, steps), fm = rk4_ref(m, dt, steps);
    double d = 0;
    for (int k = 0; k < 3; ++k) d += w[k] * (fp[k] - fm[k]) / (2 * h);
    fd.push_back(d);
  }
  INFO("grad ", g, " vs finite differences ", fd[0], " ", fd[1], " ", fd[2]);
  CHECK_ALLCLOSE_TOL(g, fd, 1e-5, 1e-6);
  // 3. The full sensitivity matrix: reverse mode (jacrev) and forward mode (jacfwd) agree.
  Array Jr = jacrev(final_state)(x0), Jf = jacfwd(final_state)(x0);
  CHECK_ALLCLOSE_TOL(Jr, testing::values(Jf), 1e-9, 1e-9);
  // 4. The same integration written with fori_loop (concrete bounds: a scan) has the same gradient.
  Array g2 = grad([&](const Array& s) {
    return sum(lax::fori_loop(0, steps, [&](const Array&, const Array& c) { return rk4_step(c, dt); }, s) *
               f64({w[0], w[1], w[2]}));
  })(x0);
  CHECK_ALLCLOSE_TOL(g2, testing::values(g), 1e-12, 1e-12);
}
