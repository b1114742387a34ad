#pragma once
// check_grads, as JAX's jax.test_util.check_grads: forward mode against central finite
// differences along a random direction, reverse mode against forward mode through the
// inner-product identity <u, J v> == <J^T u, v>, recursively for higher orders.

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace jx::testing {

using VecFn = std::function<Array(const std::vector<Array>&)>;

/// A random array with x's shape and dtype, values in [-1, 1).
inline Array random_like(const Array& x, unsigned seed) { return uniform(x.shape(), -1.0, 1.0, x.dtype(), seed); }

/// <a, b> in float64 on the host.
inline double vdot(const Array& a, const Array& b) {
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  REQUIRE(va.size() == vb.size());
  double s = 0;
  for (size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}

struct GradTolerance {
  double eps, rtol, atol;
};
inline GradTolerance grad_tolerance(DType dtype) {
  return dtype == float64 ? GradTolerance{1e-5, 1e-5, 1e-6} : GradTolerance{1e-2, 5e-2, 5e-3};
}

inline std::string describe(const std::vector<double>& a, const std::vector<double>& b) {
  std::ostringstream os;
  os.precision(10);
  for (size_t i = 0; i < a.size() && i < 6; ++i) os << "[" << i << "] " << a[i] << " vs " << b[i] << "  ";
  return os.str();
}

/// Forward mode vs central differences (one random direction per call).
inline void check_jvp(const VecFn& f, const std::vector<Array>& args, unsigned seed = 7) {
  std::vector<Array> dirs;
  for (size_t i = 0; i < args.size(); ++i) dirs.push_back(random_like(args[i], seed + 31 * static_cast<unsigned>(i)));
  auto tol = grad_tolerance(args.empty() ? float64 : args[0].dtype());
  auto [y, t] = jx::jvp(f, std::tuple{args}, std::tuple{dirs});
  std::vector<Array> plus, minus;
  for (size_t i = 0; i < args.size(); ++i) {
    plus.push_back(args[i] + dirs[i] * tol.eps);
    minus.push_back(args[i] - dirs[i] * tol.eps);
  }
  auto fp = f(plus).to_vector<double>(), fm = f(minus).to_vector<double>();
  auto got = t.to_vector<double>();
  REQUIRE(got.size() == fp.size());
  std::vector<double> fd(fp.size());
  double scale = 0;
  for (size_t i = 0; i < fp.size(); ++i) {
    fd[i] = (fp[i] - fm[i]) / (2 * tol.eps);
    scale = std::max(scale, std::abs(fd[i]));
  }
  for (size_t i = 0; i < fd.size(); ++i) {
    INFO("jvp vs finite differences: ", describe(got, fd));
    CHECK(std::abs(got[i] - fd[i]) <= tol.atol + tol.rtol * std::max(std::abs(fd[i]), 0.1 * scale));
  }
  // The primal output of jvp is f itself.
  CHECK_ALLCLOSE_TOL(y, f(args).to_vector<double>(), 1e-5, 1e-6);
}

/// Reverse mode vs forward mode: <u, J v> == <J^T u, v>.
inline void check_vjp(const VecFn& f, const std::vector<Array>& args, unsigned seed = 11) {
  std::vector<Array> dirs;
  for (size_t i = 0; i < args.size(); ++i) dirs.push_back(random_like(args[i], seed + 17 * static_cast<unsigned>(i)));
  auto [y, t] = jx::jvp(f, std::tuple{args}, std::tuple{dirs});
  Array u = random_like(y, seed + 5);
  auto [y2, f_vjp] = jx::vjp(f, args);
  auto cts = std::get<0>(f_vjp(u));
  REQUIRE(cts.size() == args.size());
  double lhs = vdot(u, t), rhs = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    CHECK(cts[i].shape() == args[i].shape());
    CHECK(cts[i].dtype() == args[i].dtype());
    rhs += vdot(cts[i], dirs[i]);
  }
  auto tol = grad_tolerance(args.empty() ? float64 : args[0].dtype());
  INFO("<u, J v> = ", lhs, ", <J^T u, v> = ", rhs);
  CHECK(std::abs(lhs - rhs) <= tol.atol * 10 + tol.rtol * 0.01 * std::abs(lhs) + (args[0].dtype() == float64 ? 1e-9 : 1e-3) * std::abs(lhs));
}

/// check_jvp and check_vjp, then (order >= 2) the same for the directional derivative and the
/// vector-Jacobian product as functions of the primals.
inline void check_grads(const VecFn& f, const std::vector<Array>& args, int order = 2, unsigned seed = 3) {
  check_jvp(f, args, seed);
  check_vjp(f, args, seed + 1);
  if (order <= 1) return;
  std::vector<Array> dirs;
  for (size_t i = 0; i < args.size(); ++i) dirs.push_back(random_like(args[i], seed + 101 + static_cast<unsigned>(i)));
  VecFn df = [f, dirs](const std::vector<Array>& xs) { return jx::jvp(f, std::tuple{xs}, std::tuple{dirs}).second; };
  check_grads(df, args, order - 1, seed + 13);
  Array u = random_like(f(args), seed + 7);
  VecFn vf = [f, u](const std::vector<Array>& xs) {
    auto [y, f_vjp] = jx::vjp(f, xs);
    auto cts = std::get<0>(f_vjp(u));
    // Sum the cotangents' weighted entries into one output so the check sees all of them.
    Array acc = jx::sum(cts[0] * cts[0]);
    for (size_t i = 1; i < cts.size(); ++i) acc = acc + jx::sum(cts[i] * cts[i]);
    return acc;
  };
  check_grads(vf, args, order - 1, seed + 29);
}

}  // namespace jx::testing
