// autodiff: reverse and forward mode on two small scientific problems.
//  1. Newton's method (with a backtracking line search) on the Rosenbrock function, with the gradient from jx::grad and the
//     Hessian from jx::hessian (forward over reverse).
//  2. Forces of a Lennard-Jones cluster as -grad(energy), checked against the hand-derived
//     pair forces F_i = sum_j 24 eps (2 (s/r)^12 - (s/r)^6) / r^2 (x_i - x_j).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

#include <jx/jx.h>

using jx::Array;

// Rosenbrock in n dimensions: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2.
Array rosenbrock(const Array& x) {
  int64_t n = x.shape()[0];
  Array head = jx::slice(x, {0}, {n - 1}), tail = jx::slice(x, {1}, {n});
  return jx::sum(100.0 * jx::square(tail - jx::square(head)) + jx::square(1.0 - head));
}

// Solves H d = g on the host by Gaussian elimination with partial pivoting (a small dense
// system; jx::linalg::solve arrives with the linear-algebra issue).
std::vector<double> solve_host(std::vector<double> h, std::vector<double> g, int n) {
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(h[r * n + c]) > std::abs(h[p * n + c])) p = r;
    for (int k = 0; k < n; ++k) std::swap(h[c * n + k], h[p * n + k]);
    std::swap(g[c], g[p]);
    for (int r = c + 1; r < n; ++r) {
      double f = h[r * n + c] / h[c * n + c];
      for (int k = c; k < n; ++k) h[r * n + k] -= f * h[c * n + k];
      g[r] -= f * g[c];
    }
  }
  std::vector<double> d(n);
  for (int r = n - 1; r >= 0; --r) {
    double s = g[r];
    for (int k = r + 1; k < n; ++k) s -= h[r * n + k] * d[k];
    d[r] = s / h[r * n + r];
  }
  return d;
}

// Lennard-Jones energy (eps = sigma = 1) of positions [N, 3].
Array lj_energy(const Array& pos) {
  int64_t n = pos.shape()[0];
  Array diff = jx::expand_dims(pos, {1}) - jx::expand_dims(pos, {0});     // [N, N, 3]
  Array r2 = jx::sum(jx::square(diff), {-1}) + jx::eye(n, std::nullopt, 0, jx::float64);  // 1 on the diagonal
  Array inv6 = jx::lax::integer_pow(r2, -3);                               // (1/r^2)^3 = (s/r)^6
  Array pair = 4.0 * (jx::square(inv6) - inv6);
  return jx::sum(jx::triu(pair, 1));                                       // each pair once
}

int main() {
  // 1. Newton's method with a backtracking line search, from the classic start (-1.2, 1).
  std::cout << "1. Newton's method on the Rosenbrock function\n";
  auto g = jx::grad(rosenbrock);
  auto h = jx::hessian(rosenbrock);
  Array x = jx::array(std::vector<double>{-1.2, 1.0});
  std::cout << "  Hessian at the start (forward over reverse):\n  " << h(x) << "\n";
  for (int it = 0; it < 50; ++it) {
    Array gx = g(x);
    double gnorm = std::sqrt(jx::sum(jx::square(gx)).item<double>());
    if (gnorm < 1e-10) break;
    auto d = jx::array(solve_host(h(x).to_vector<double>(), gx.to_vector<double>(), 2));
    double f0 = rosenbrock(x).item<double>(), step = 1.0;
    while (rosenbrock(x - step * d).item<double>() > f0 && step > 1e-4) step *= 0.5;
    x = x - step * d;
    std::printf("  step %2d  f = %.3e  |g| = %.3e  (step length %g)\n", it + 1, rosenbrock(x).item<double>(),
                std::sqrt(jx::sum(jx::square(g(x))).item<double>()), step);
  }
  std::cout << "  minimum at " << x << " (exact: [1, 1])\n\n";
  bool newton_ok = std::abs(x.to_vector<double>()[0] - 1) < 1e-8 && std::abs(x.to_vector<double>()[1] - 1) < 1e-8;

  // 2. Lennard-Jones forces.
  std::cout << "2. Lennard-Jones forces on a 5-atom cluster\n";
  Array pos = jx::array(std::vector<double>{0.0, 0.0, 0.0, 1.1, 0.1, 0.0, 0.2, 1.05, -0.1, -0.3, 0.4, 0.95,
                                            0.9, 0.8, 0.7},
                        jx::Shape{5, 3});
  Array forces = -jx::grad(lj_energy)(pos);
  auto p = pos.to_vector<double>();
  std::vector<double> ref(15, 0.0);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      if (i == j) continue;
      double d[3], r2 = 0;
      for (int k = 0; k < 3; ++k) d[k] = p[i * 3 + k] - p[j * 3 + k], r2 += d[k] * d[k];
      double s6 = 1 / (r2 * r2 * r2), coef = 24 * (2 * s6 * s6 - s6) / r2;
      for (int k = 0; k < 3; ++k) ref[i * 3 + k] += coef * d[k];
    }
  double max_err = 0;
  auto fv = forces.to_vector<double>();
  for (int i = 0; i < 15; ++i) max_err = std::max(max_err, std::abs(fv[i] - ref[i]));
  std::cout << "  energy  = " << lj_energy(pos) << "\n  forces  = " << forces << "\n";
  std::printf("  max |F_jx - F_hand| = %.2e  %s\n", max_err, max_err < 1e-9 ? "(match)" : "(MISMATCH)");
  return max_err < 1e-9 && newton_ok ? 0 : 1;
}
