// Derivatives of jx::linalg: JVP against central differences and VJP against JVP (check_grads,
// second order in float64 and first order in float32) for every routine, closed-form gradients
// (d log det A = A^-T, d sum(s) = U Vᵀ, d tr f(A) through eigh, ...), the transpose of
// triangular_solve in its right-hand side, and the cases whose derivative is refused.
#include <cmath>

#include "testing/check_grads.h"

using namespace jx;
using testing::check_grads;
using testing::check_vjp;
using testing::mT;
using testing::rnd;
using testing::uniform;
using testing::values;
using Args = std::vector<Array>;

namespace {


Array eye64(int64_t n) { return eye(n, std::nullopt, 0, float64); }

// A well-conditioned square matrix (random plus a dominant diagonal) and an SPD one.
Array well(const Shape& s, unsigned seed) { return rnd(s, seed) + eye64(s.back()) * 3.0; }
Array spd(const Shape& batch, int64_t n, unsigned seed) {
  Shape s = batch;
  s.insert(s.end(), {n, n});
  Array m = rnd(s, seed);
  return matmul(m, mT(m)) + eye64(n) * static_cast<double>(n);
}

// check_grads in float64 to second order and in float32 to first order.
void check_both(const testing::VecFn& f, const Args& args64, int order64 = 2) {
  {
    INFO("float64, order ", order64);
    check_grads(f, args64, order64);
  }
  Args args32;
  for (auto& a : args64) args32.push_back(a.astype(float32));
  INFO("float32, order 1");
  check_grads(f, args32, 1);
}

// Weights that make a sum of eigen/singular vector outer products sign-invariant yet
// sensitive to every vector: sum_j c_j v_j v_jᵀ.
Array weighted_projector(const Array& v, int64_t k) {
  Array c = arange(1.0, static_cast<double>(k) + 1.0, 1.0, v.dtype());
  return matmul(v * c, mT(v));
}

}  // namespace

// ---- cholesky -----------------------------------------------------------------------------------

TEST_CASE("cholesky: check_grads, and the derivative of log det through the factor") {
  check_both([](const Args& x) { return linalg::cholesky(x[0]); }, {spd({}, 4, 1)});
  check_both([](const Args& x) { return linalg::cholesky(x[0]); }, {spd({2}, 3, 2)});
  // log det A = 2 sum log diag L, whose gradient is A^-1 (A symmetric).
  Array a = spd({}, 4, 3);
  Array g = grad([](const Array& x) {
    Array l = linalg::cholesky(x);
    return 2.0 * sum(log(sum(l * eye64(4), {-1})));
  })(a);
  CHECK_ALLCLOSE_TOL(g, values(linalg::inv(a)), 1e-10, 1e-12);
}

// ---- triangular_solve ---------------------------------------------------------------------------

TEST_CASE("triangular_solve: check_grads in a and b for every side, triangle and transpose") {
  for (int flags = 0; flags < 16; ++flags) {
    const bool left = flags & 1, lower = flags & 2, trans = flags & 4, unit = flags & 8;
    CAPTURE(flags);
    linalg::TriangularSolveOptions o{.left_side = left, .lower = lower, .transpose_a = trans, .unit_diagonal = unit};
    Array a = rnd({3, 3}, 30 + flags) + eye64(3) * 3.0;
    Array b = left ? rnd({3, 2}, 40 + flags) : rnd({4, 3}, 40 + flags);
    check_both([o](const Args& x) { return linalg::triangular_solve(x[0], x[1], o); }, {a, b}, flags < 4 ? 2 : 1);
  }
}

TEST_CASE("triangular_solve: linear in b, with the solve by op(a)ᵀ as its transpose") {
  Array a = rnd({2, 3, 3}, 50) + eye64(3) * 3.0;
  Array b = rnd({2, 3, 4}, 51), ct = rnd({2, 3, 4}, 52);
  // vjp w.r.t. b of a left lower solve is the transposed solve of the cotangent.
  auto f = [&](const Array& y) { return linalg::triangular_solve(a, y, {.lower = true}); };
  auto [out, f_vjp] = vjp(f, b);
  auto [cb] = f_vjp(ct);
  CHECK_ALLCLOSE_TOL(cb, values(linalg::triangular_solve(a, ct, {.lower = true, .transpose_a = true})), 1e-12, 1e-13);
  // <ct, A^-1 b> == <A^-T ct, b>.
  CHECK(std::abs(testing::vdot(ct, out) - testing::vdot(cb, b)) < 1e-10);
}

// ---- solve, inv, det, slogdet --------------------------------------------------------------------

TEST_CASE("solve, inv: check_grads") {
  check_both([](const Args& x) { return linalg::solve(x[0], x[1]); }, {well({3, 3}, 1), rnd({3, 2}, 2)});
  check_both([](const Args& x) { return linalg::solve(x[0], x[1]); }, {well({2, 3, 3}, 3), rnd({3}, 4)});
  check_both([](const Args& x) { return linalg::inv(x[0]); }, {well({3, 3}, 5)});
  // d inv(A) = -inv(A) dA inv(A).
  Array a = well({3, 3}, 6), da = rnd({3, 3}, 7);
  auto [y, t] = jvp([](const Array& x) { return linalg::inv(x); }, std::tuple{a}, std::tuple{da});
  CHECK_ALLCLOSE_TOL(t, values(-matmul(matmul(y, da), y)), 1e-12, 1e-13);
}

TEST_CASE("det, slogdet: check_grads and the closed form d log|det A| = A^-T") {
  check_both([](const Args& x) { return linalg::det(x[0]); }, {well({3, 3}, 8)});
  check_both([](const Args& x) { return linalg::slogdet(x[0]).second; }, {well({2, 4, 4}, 9)});
  Array a = rnd({4, 4}, 10);
  Array g = grad([](const Array& x) { return linalg::slogdet(x).second; })(a);
  CHECK_ALLCLOSE_TOL(g, values(mT(linalg::inv(a))), 1e-10, 1e-12);
  // d det A = det(A) A^-T.
  Array gd = grad([](const Array& x) { return linalg::det(x); })(a);
  CHECK_ALLCLOSE_TOL(gd, values(linalg::det(a) * mT(linalg::inv(a))), 1e-10, 1e-12);
}

// ---- lu -----------------------------------------------------------------------------------------

TEST_CASE("lu: check_grads of the packed factors, square, tall and wide") {
  for (Shape s : {Shape{4, 4}, Shape{5, 3}, Shape{3, 5}, Shape{2, 3, 3}}) {
    CAPTURE(shape_str(s));
    check_both([](const Args& x) { return std::get<0>(linalg::lu_factor(x[0])); }, {rnd(s, 11)});
    check_both([](const Args& x) { return std::get<2>(linalg::lu(x[0])); }, {rnd(s, 12)}, 1);
  }
}

// ---- qr -----------------------------------------------------------------------------------------

TEST_CASE("qr: check_grads of q and r, square, tall and wide (beyond JAX)") {
  for (Shape s : {Shape{3, 3}, Shape{5, 3}, Shape{3, 5}, Shape{2, 4, 3}}) {
    CAPTURE(shape_str(s));
    check_both([](const Args& x) { return linalg::qr(x[0]).first; }, {rnd(s, 13)});
    check_both([](const Args& x) { return linalg::qr(x[0]).second; }, {rnd(s, 14)});
  }
  // The complete decomposition of a square matrix equals the reduced one.
  check_both([](const Args& x) { return linalg::qr(x[0], "complete").first; }, {rnd({3, 3}, 15)}, 1);
  CHECK_THROWS_WITH_AS(grad([](const Array& x) { return sum(linalg::qr(x, "complete").first); })(rnd({4, 2}, 16)),
                       doctest::Contains("[qr] the derivative of a complete QR decomposition"), ValueError);
}

// ---- eigh ---------------------------------------------------------------------------------------

TEST_CASE("eigh: check_grads of eigenvalues and of sign-invariant eigenvector functions") {
  Array m = rnd({4, 4}, 17);
  Array a = m + mT(m);
  check_both([](const Args& x) { return linalg::eigh(x[0]).first; }, {a});
  check_both([](const Args& x) { return weighted_projector(linalg::eigh(x[0]).second, 4); }, {a});
  Array mb = rnd({2, 3, 3}, 18);
  check_both([](const Args& x) { return linalg::eigh(x[0]).first; }, {mb + mT(mb)});
  // d sum(w) = I (on the symmetric part); d sum(exp(w)) = expm-like: V diag(exp w) Vᵀ.
  Array g = grad([](const Array& x) { return sum(linalg::eigvalsh(x)); })(a);
  CHECK_ALLCLOSE_TOL(g, values(eye64(4)), 1e-12, 1e-12);
  auto [w, v] = linalg::eigh(a);
  Array ge = grad([](const Array& x) { return sum(exp(linalg::eigvalsh(x))); })(a);
  CHECK_ALLCLOSE_TOL(ge, values(matmul(v * exp(w), mT(v))), 1e-10, 1e-12);
}

// ---- svd ----------------------------------------------------------------------------------------

TEST_CASE("svd: check_grads of singular values and sign-invariant vector functions") {
  for (Shape s : {Shape{3, 3}, Shape{5, 3}, Shape{3, 5}, Shape{2, 4, 3}}) {
    CAPTURE(shape_str(s));
    const int64_t k = std::min(s[s.size() - 2], s.back());
    check_both([](const Args& x) { return linalg::svdvals(x[0]); }, {rnd(s, 19)});
    // u diag(c) vᵀ: sign flips of a (u_j, v_j) pair cancel.
    check_both(
        [k](const Args& x) {
          auto [u, sv, vt] = linalg::svd(x[0], false);
          Array c = arange(1.0, static_cast<double>(k) + 1.0, 1.0, x[0].dtype());
          return matmul(u * c, vt);
        },
        {rnd(s, 20)});
  }
  // d sum(s) = U Vᵀ (the nuclear norm's gradient).
  Array a = rnd({4, 3}, 21);
  auto [u, sv, vt] = linalg::svd(a, false);
  Array g = grad([](const Array& x) { return linalg::norm(x, "nuc"); })(a);
  CHECK_ALLCLOSE_TOL(g, values(matmul(u, vt)), 1e-10, 1e-12);
  // Full singular vectors of a non-square matrix have no derivative.
  CHECK_THROWS_WITH_AS(grad([](const Array& x) { return sum(std::get<0>(linalg::svd(x, true))); })(a),
                       doctest::Contains("[svd] the derivative of the full singular vectors"), ValueError);
}

// ---- norm, pinv, lstsq, cho_solve ---------------------------------------------------------------

TEST_CASE("norm, pinv, lstsq, cho_solve: check_grads") {
  Array x = rnd({3, 4}, 22);
  for (linalg::NormOrd ord : {linalg::NormOrd(), linalg::NormOrd("fro"), linalg::NormOrd("nuc"), linalg::NormOrd(2),
                              linalg::NormOrd(-2), linalg::NormOrd(1), linalg::NormOrd(linalg::inf)}) {
    CAPTURE(ord.name);
    CAPTURE(ord.p.value_or(0));
    check_both([ord](const Args& a) { return linalg::norm(a[0], ord); }, {x}, 1);
  }
  check_both([](const Args& a) { return linalg::norm(a[0], 3, {1}); }, {x});
  check_both([](const Args& a) { return linalg::pinv(a[0]); }, {rnd({4, 3}, 23)});
  check_both([](const Args& a) { return std::get<0>(linalg::lstsq(a[0], a[1])); }, {rnd({5, 3}, 24), rnd({5, 2}, 25)});
  check_both([](const Args& a) { return linalg::cho_solve(linalg::cholesky(a[0]), a[1]); }, {spd({}, 3, 26), rnd({3}, 27)});
}

TEST_CASE("linalg gradients: a Gaussian log-likelihood through cholesky and triangular_solve matches the closed form") {
  // -1/2 yᵀ K^-1 y - 1/2 log det K; d/dK = 1/2 (K^-1 y yᵀ K^-1 - K^-1).
  Array k = spd({}, 5, 28), y = rnd({5}, 29);
  auto nll = [&](const Array& kk) {
    Array l = linalg::cholesky(kk);
    Array alpha = linalg::triangular_solve(l, y, {.lower = true});
    return -0.5 * sum(alpha * alpha) - sum(log(sum(l * eye64(5), {-1})));
  };
  Array g = grad(nll)(k);
  Array kinv = linalg::inv(k);
  Array kiy = matmul(kinv, y);
  CHECK_ALLCLOSE_TOL(g, values(0.5 * (outer(kiy, kiy) - kinv)), 1e-10, 1e-12);
}
