// gaussian_process: Gaussian-process regression with learned kernel hyper-parameters on the NASA
// airfoil self-noise data (samples/data/airfoil_self_noise.dat, 1503 wind-tunnel measurements,
// 5 features -> sound pressure level in dB). The kernel is an ARD squared exponential (one
// length scale per feature) plus observation noise, its 7 hyper-parameters kept in log space.
// They are fitted by minimizing the negative log marginal likelihood
//     1/2 yᵀ K⁻¹ y + 1/2 log det K + n/2 log 2π,   K = L Lᵀ,
// computed with jx::linalg::cholesky and triangular_solve, differentiated by
// jx::value_and_grad, compiled by jx::jit and stepped by jx::optim::adam. The fitted GP then
// predicts the 20% of the data held out, and the sample prints the held-out RMSE in dB next to a
// linear least-squares baseline (jx::linalg::lstsq). It exits non-zero unless the GP beats the
// baseline clearly.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numbers>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <jx/jx.h>

using jx::Array;
namespace linalg = jx::linalg;

namespace {

constexpr int64_t kFeatures = 5;
constexpr int64_t kFitPoints = 500;  // hyper-parameters are fitted on a random subset of the training set
constexpr int kSteps = 150;
constexpr double kJitter = 1e-6;

struct Data {
  std::vector<double> x;  // [n, 5], row-major
  std::vector<double> y;  // [n]
  int64_t size() const { return static_cast<int64_t>(y.size()); }
};

// 1. Read the tab-separated file (CRLF line ends): frequency, angle, chord, velocity, thickness,
//    sound level. Frequency and thickness span orders of magnitude: use their logarithms.
Data load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("gaussian_process: cannot open " + path);
  Data d;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::vector<double> v;
    double value = 0;
    while (ss >> value) v.push_back(value);
    if (v.size() != kFeatures + 1) {
      throw std::runtime_error("gaussian_process: row " + std::to_string(d.size() + 1) + " of " + path + " has " +
                               std::to_string(v.size()) + " values, expected 6");
    }
    v[0] = std::log(v[0]);
    v[4] = std::log(v[4]);
    d.x.insert(d.x.end(), v.begin(), v.begin() + kFeatures);
    d.y.push_back(v[kFeatures]);
  }
  return d;
}

// Rows `idx` of the data as arrays x [n, 5] and y [n].
std::pair<Array, Array> take(const Data& d, const std::vector<int64_t>& idx) {
  std::vector<double> x, y;
  for (int64_t i : idx) {
    x.insert(x.end(), d.x.begin() + i * kFeatures, d.x.begin() + (i + 1) * kFeatures);
    y.push_back(d.y[static_cast<size_t>(i)]);
  }
  const auto n = static_cast<int64_t>(idx.size());
  return {jx::array(x, jx::Shape{n, kFeatures}), jx::array(y, jx::Shape{n})};
}

using Params = std::map<std::string, Array>;

// 2. The ARD squared-exponential kernel between the rows of a [n, 5] and b [m, 5]:
//    sf2 exp(-1/2 |(a_i - b_j) / ell|^2).
Array kernel(const Params& p, const Array& a, const Array& b) {
  Array ell = jx::exp(p.at("log_lengthscale"));
  Array as = a / ell, bs = b / ell;
  Array d2 = jx::expand_dims(jx::sum(as * as, {1}), {1}) + jx::sum(bs * bs, {1}) - 2.0 * jx::matmul(as, jx::transpose(bs));
  return jx::exp(p.at("log_signal_var")) * jx::exp(-0.5 * jx::maximum(d2, Array(0.0)));
}

// K + (noise + jitter) I; `eye` is the identity of x's size, made once and passed in rather
// than rebuilt at every step.
Array noisy_gram(const Params& p, const Array& x, const Array& eye) {
  return kernel(p, x, x) + (jx::exp(p.at("log_noise_var")) + kJitter) * eye;
}

// 3. The negative log marginal likelihood per data point.
Array neg_log_marginal_likelihood(const Params& p, const Array& x, const Array& y, const Array& eye) {
  const auto n = static_cast<double>(x.shape()[0]);
  Array l = linalg::cholesky(noisy_gram(p, x, eye));
  Array alpha = linalg::triangular_solve(l, y, {.lower = true});  // L⁻¹ y
  Array half_log_det = jx::sum(jx::log(jx::sum(l * eye, {1})));  // sum log diag L
  return (0.5 * jx::sum(alpha * alpha) + half_log_det) / n + 0.5 * std::log(2 * std::numbers::pi);
}

// 5. The posterior mean at x_new given the training data.
Array predict(const Params& p, const Array& x, const Array& y, const Array& x_new) {
  Array l = linalg::cholesky(noisy_gram(p, x, jx::eye(x.shape()[0], std::nullopt, 0, jx::float64)));
  Array weights = linalg::cho_solve(l, y);  // K⁻¹ y
  return jx::matmul(kernel(p, x_new, x), weights);
}

double rmse(const Array& pred, const Array& target) { return jx::sqrt(jx::mean(jx::square(pred - target))).item<double>(); }

}  // namespace

int main() {
  auto start = std::chrono::steady_clock::now();
  // 0. One thread unless JX_NUM_THREADS says otherwise: the big kernels (LAPACK, one call per
  //    matrix) run on one thread anyway, and on a busy 2-core machine the 500 x 500 elementwise
  //    ops lose more to waiting for a second worker than they gain.
  if (std::getenv("JX_NUM_THREADS") == nullptr) jx::set_num_threads(1);

  // 1. Data: a seeded shuffle, 80% for training, 20% held out; features and targets standardized
  //    with the training set's statistics.
  Data data = load(std::string(JX_SAMPLES_DATA) + "/airfoil_self_noise.dat");
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(0));
  const int64_t n_test = data.size() / 5, n_train = data.size() - n_test;
  std::vector<int64_t> train_idx(order.begin(), order.begin() + n_train), test_idx(order.begin() + n_train, order.end());
  auto [x_train_raw, y_train_raw] = take(data, train_idx);
  auto [x_test_raw, y_test] = take(data, test_idx);
  Array x_mean = jx::mean(x_train_raw, {0}), x_std = jx::std(x_train_raw, {0});
  const double y_mean = jx::mean(y_train_raw).item<double>(), y_std = jx::std(y_train_raw).item<double>();
  Array x_train = (x_train_raw - x_mean) / x_std, x_test = (x_test_raw - x_mean) / x_std;
  Array y_train = (y_train_raw - y_mean) / y_std;
  std::printf("airfoil self-noise: %lld training / %lld held-out points, %lld features\n",
              static_cast<long long>(n_train), static_cast<long long>(n_test), static_cast<long long>(kFeatures));

  // Baseline: linear least squares with an intercept.
  auto with_bias = [](const Array& x) { return jx::concatenate({x, jx::ones({x.shape()[0], 1}, jx::float64)}, 1); };
  auto [coef, resid, rank, sv] = linalg::lstsq(with_bias(x_train), y_train);
  const double linear_rmse = rmse(jx::matmul(with_bias(x_test), coef) * y_std + y_mean, y_test);
  std::printf("linear least squares (lstsq, rank %d): held-out RMSE %.3f dB\n", rank.item<int>(), linear_rmse);

  // 4. Fit the hyper-parameters on a random subset of the training set with adam.
  Array x_fit = jx::slice(x_train, {0, 0}, {kFitPoints, kFeatures});
  Array y_fit = jx::slice(y_train, {0}, {kFitPoints});
  Params params{{"log_lengthscale", jx::zeros({kFeatures}, jx::float64)},
                {"log_signal_var", jx::scalar(0.0, jx::float64)},
                {"log_noise_var", jx::scalar(std::log(0.1), jx::float64)}};
  Array eye_fit = jx::eye(kFitPoints, std::nullopt, 0, jx::float64);
  // Compiled once: the fused elementwise work around the LAPACK calls (which the compiled
  // program calls as it is) runs as generated loops.
  auto loss_and_grad = jx::jit(jx::value_and_grad(neg_log_marginal_likelihood));
  auto opt = jx::optim::adam(0.05);
  jx::Tree opt_state = opt.init(params);
  auto fit_start = std::chrono::steady_clock::now();
  for (int step = 0; step <= kSteps; ++step) {
    auto [loss, grads] = loss_and_grad(params, x_fit, y_fit, eye_fit);
    if (step % 25 == 0) std::printf("step %3d  negative log marginal likelihood / n = %.4f\n", step, loss.item<double>());
    if (step == kSteps) break;
    auto [updates, next_state] = opt.update(grads, opt_state, params);
    params = jx::optim::apply_updates(params, updates);
    opt_state = next_state;
  }
  const double fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - fit_start).count();
  auto ell = jx::exp(params.at("log_lengthscale")).to_vector<double>();
  std::printf("fitted in %.2f s (%d steps on %lld points): length scales", fit_seconds, kSteps,
              static_cast<long long>(kFitPoints));
  for (double e : ell) std::printf(" %.3f", e);
  std::printf(", signal std %.3f, noise std %.3f (standardized units)\n",
              std::sqrt(std::exp(params.at("log_signal_var").item<double>())),
              std::sqrt(std::exp(params.at("log_noise_var").item<double>())));

  // 5. Predict the held-out points from the whole training set, back in dB.
  Array pred = predict(params, x_train, y_train, x_test) * y_std + y_mean;
  const double gp_rmse = rmse(pred, y_test);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Gaussian process: held-out RMSE %.3f dB (linear baseline %.3f dB, target std %.3f dB)\n", gp_rmse,
              linear_rmse, jx::std(y_test).item<double>());
  std::printf("wall time: %.2f s\n", seconds);
  if (!(gp_rmse < 0.6 * linear_rmse)) {
    std::printf("FAILED: the Gaussian process should clearly beat the linear baseline\n");
    return 1;
  }
  return 0;
}
