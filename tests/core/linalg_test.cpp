// jx::linalg values: the defining identities (L Lᵀ = A, Q R = A with orthonormal Q,
// U S Vᵀ = A, A x = b, A V = V Λ, P L U = A) in float32 and float64 with batch dims, hand-computed
// small cases, LAPACK's pivoting and sign conventions, JAX's numerics (NaN for a matrix that is
// not positive definite, inf from a singular triangular solve), empty matrices, and bad input.
#include <cmath>
#include <limits>

#include "core/prims/linalg.h"
#include "testing/testing.h"

using namespace jx;
using testing::uniform;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

Array rnd(const Shape& s, unsigned seed, DType dt = float64) { return uniform(s, -1.0, 1.0, dt, seed); }

// Swaps the last two axes.
Array mT(const Array& x) {
  std::vector<int> perm;
  for (int i = 0; i < x.ndim(); ++i) perm.push_back(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(x, perm);
}

// A well-conditioned symmetric positive definite stack: M Mᵀ + n I.
Array spd(const Shape& batch, int64_t n, unsigned seed, DType dt = float64) {
  Shape s = batch;
  s.insert(s.end(), {n, n});
  Array m = rnd(s, seed, dt);
  return matmul(m, mT(m)) + eye(n, std::nullopt, 0, dt) * static_cast<double>(n);
}

double tol_for(DType dt) { return dt == float64 ? 1e-10 : 2e-4; }

#define CHECK_NEAR_ARRAY(x, y, tol) CHECK_ALLCLOSE_TOL((x), ::jx::testing::values(y), (tol), (tol))

Array eye_like(int64_t n, DType dt) { return eye(n, std::nullopt, 0, dt); }

// The primitive with batch dims that differ (the public op broadcasts them first).
Array lax_triangular_solve_mismatch() {
  return bind1(triangular_solve_p, {zeros({2, 3, 3}), zeros({3, 3, 1})},
               Params{{"left_side", true}, {"lower", true}, {"transpose_a", false}, {"unit_diagonal", false}});
}

bool all_nan(const Array& x) {
  for (double v : x.to_vector<double>())
    if (!std::isnan(v)) return false;
  return true;
}

}  // namespace

// ---- cholesky -----------------------------------------------------------------------------------

TEST_CASE("cholesky: hand-computed 2x2 factor") {
  // [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, sqrt 2]].
  Array a = array(std::vector<double>{4, 2, 2, 3}, Shape{2, 2});
  CHECK_ALLCLOSE(linalg::cholesky(a), std::vector<double>{2, 0, 1, std::sqrt(2.0)});
}

TEST_CASE("cholesky: L Lᵀ = A, L lower triangular, batched, float32 and float64") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array a = spd({2, 3}, 5, 1, dt);
    Array l = linalg::cholesky(a);
    CHECK(l.shape() == Shape{2, 3, 5, 5});
    CHECK(l.dtype() == dt);
    CHECK_NEAR_ARRAY(matmul(l, mT(l)), a, tol_for(dt) * 10);
    CHECK_ALLCLOSE(triu(l, 1), zeros(l.shape(), dt));
    // Positive diagonal.
    CHECK(all(greater(sum(l * eye_like(5, dt), {-1}), Array(0.0))).item<bool>());
  }
}

TEST_CASE("cholesky: reads the symmetric part, and a non-positive-definite matrix gives NaNs (as JAX)") {
  Array a = spd({}, 4, 2);
  Array skew = rnd({4, 4}, 3);
  skew = skew - mT(skew);
  CHECK_NEAR_ARRAY(linalg::cholesky(a + skew), linalg::cholesky(a), 1e-12);
  // Indefinite: eigenvalues 3 and -1. Only that matrix of a batch turns to NaN.
  Array bad = array(std::vector<double>{1, 2, 2, 1}, Shape{2, 2});
  Array both = stack({bad, eye_like(2, float64)});
  Array l = linalg::cholesky(both);
  CHECK(all_nan(l[0]));
  CHECK_ALLCLOSE(l[1], eye_like(2, float64));
}

TEST_CASE("cholesky: empty and 1x1 matrices") {
  CHECK(linalg::cholesky(zeros({3, 0, 0})).shape() == Shape{3, 0, 0});
  CHECK_ALLCLOSE(linalg::cholesky(array(std::vector<double>{9}, Shape{1, 1})), std::vector<double>{3});
}

TEST_CASE("cholesky: bad input is reported with the op, shape and dtype") {
  CHECK_THROWS_WITH_AS(linalg::cholesky(zeros({3, 4})), doctest::Contains("[cholesky] needs a square matrix"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(linalg::cholesky(zeros({3, 4})), doctest::Contains("f32[3,4]"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::cholesky(zeros({3})), doctest::Contains("rank >= 2"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::cholesky(zeros({2, 2}, int32)), doctest::Contains("i32[2,2]"), DTypeError);
  CHECK_THROWS_WITH_AS(linalg::cholesky(Array()), doctest::Contains("[cholesky]"), ValueError);
}

// ---- triangular_solve ---------------------------------------------------------------------------

TEST_CASE("triangular_solve: every flag combination satisfies its equation") {
  for (DType dt : {float32, float64}) {
    for (int flags = 0; flags < 16; ++flags) {
      const bool left = flags & 1, lower = flags & 2, trans = flags & 4, unit = flags & 8;
      CAPTURE(dtype_name(dt));
      CAPTURE(flags);
      // A triangle with a dominant diagonal; the other triangle holds junk the solve must ignore.
      Array a = rnd({2, 4, 4}, 10 + flags, dt) + eye_like(4, dt) * 4.0;
      Array b = left ? rnd({2, 4, 3}, 20 + flags, dt) : rnd({2, 3, 4}, 20 + flags, dt);
      Array x = linalg::triangular_solve(
          a, b, {.left_side = left, .lower = lower, .transpose_a = trans, .unit_diagonal = unit});
      CHECK(x.shape() == b.shape());
      Array t = lower ? tril(a) : triu(a);
      if (unit) t = t - t * eye_like(4, dt) + eye_like(4, dt);
      if (trans) t = mT(t);
      CHECK_NEAR_ARRAY(left ? matmul(t, x) : matmul(x, t), b, tol_for(dt) * 10);
    }
  }
}

TEST_CASE("triangular_solve: hand-computed, vector right-hand sides and batch broadcasting") {
  // [[2, 0], [1, 4]] x = [2, 9] -> x = [1, 2].
  Array l = array(std::vector<double>{2, 0, 1, 4}, Shape{2, 2});
  CHECK_ALLCLOSE(linalg::triangular_solve(l, array(std::vector<double>{2, 9}), {.lower = true}),
                 std::vector<double>{1, 2});
  // Lᵀ x = [5, 8]: [[2, 1], [0, 4]] x -> x = [1.5, 2].
  CHECK_ALLCLOSE(linalg::triangular_solve(l, array(std::vector<double>{5, 8}), {.lower = true, .transpose_a = true}),
                 std::vector<double>{1.5, 2});
  // One matrix against a batch of right-hand sides.
  Array b = rnd({5, 2, 3}, 4);
  Array x = linalg::triangular_solve(l, b, {.lower = true});
  CHECK(x.shape() == Shape{5, 2, 3});
  CHECK_NEAR_ARRAY(matmul(l, x), b, 1e-12);
  // float32 matrix with a float64 right-hand side promotes to float64.
  CHECK(linalg::triangular_solve(l.astype(float32), b, {.lower = true}).dtype() == float64);
}

TEST_CASE("triangular_solve: a zero on the diagonal gives infinities, as a BLAS solve") {
  Array l = array(std::vector<double>{0, 0, 1, 1}, Shape{2, 2});
  auto x = linalg::triangular_solve(l, array(std::vector<double>{1, 1}), {.lower = true}).to_vector<double>();
  CHECK(x[0] == kInf);
  CHECK(x[1] == -kInf);
}

TEST_CASE("triangular_solve: mismatched shapes and dtypes are reported") {
  CHECK_THROWS_WITH_AS(linalg::triangular_solve(zeros({3, 3}), zeros({4, 2})),
                       doctest::Contains("[triangular_solve] a f32[3,3] and b f32[4,2] do not match"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::triangular_solve(zeros({3, 3}), zeros({2, 4}), {.left_side = false}),
                       doctest::Contains("needs 3 columns"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::triangular_solve(zeros({3, 4}), zeros({3, 1})), doctest::Contains("square"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(linalg::triangular_solve(zeros({3, 3}), zeros({3, 1}, int32)),
                       doctest::Contains("i32[3,1]"), DTypeError);
  // The primitive itself insists on equal batch dims.
  CHECK_THROWS_WITH_AS(
      lax_triangular_solve_mismatch(), doctest::Contains("batch dims must be equal"), ShapeError);
}

// ---- solve, inv, det, slogdet --------------------------------------------------------------------

TEST_CASE("solve: A x = b for vectors, matrices and batches") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array a = rnd({3, 4, 4}, 1, dt) + eye_like(4, dt) * 2.0;
    Array b = rnd({3, 4, 2}, 2, dt);
    Array x = linalg::solve(a, b);
    CHECK(x.shape() == Shape{3, 4, 2});
    CHECK_NEAR_ARRAY(matmul(a, x), b, tol_for(dt) * 10);
    // A vector b broadcasts against the batch of matrices.
    Array v = rnd({4}, 3, dt);
    Array xv = linalg::solve(a, v);
    CHECK(xv.shape() == Shape{3, 4});
    CHECK_NEAR_ARRAY(squeeze(matmul(a, expand_dims(xv, {-1})), {-1}), broadcast_to(v, {3, 4}), tol_for(dt) * 10);
  }
  // Hand-computed, with a pivot: [[0, 1], [2, 0]] x = [3, 4] -> x = [2, 3].
  Array a = array(std::vector<double>{0, 1, 2, 0}, Shape{2, 2});
  CHECK_ALLCLOSE(linalg::solve(a, array(std::vector<double>{3, 4})), std::vector<double>{2, 3});
}

TEST_CASE("solve: bad input") {
  CHECK_THROWS_WITH_AS(linalg::solve(zeros({3, 3}), zeros({4})),
                       doctest::Contains("[solve] a f32[3,3] and b f32[4] do not match"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::solve(zeros({3, 2}), zeros({3})), doctest::Contains("square"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::solve(zeros({2, 2}, int32), zeros({2})), doctest::Contains("i32[2,2]"), DTypeError);
}

TEST_CASE("inv: A inv(A) = I, batched, float32 and float64") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array a = rnd({2, 5, 5}, 4, dt) + eye_like(5, dt) * 3.0;
    CHECK_NEAR_ARRAY(matmul(a, linalg::inv(a)), broadcast_to(eye_like(5, dt), {2, 5, 5}), tol_for(dt) * 10);
  }
  // Hand-computed: inv [[4, 7], [2, 6]] = [[0.6, -0.7], [-0.2, 0.4]].
  Array a = array(std::vector<double>{4, 7, 2, 6}, Shape{2, 2});
  CHECK_ALLCLOSE_TOL(linalg::inv(a), std::vector<double>({0.6, -0.7, -0.2, 0.4}), 1e-12, 1e-14);
}

TEST_CASE("det and slogdet: hand-computed values, pivot signs, batches, singular matrices") {
  Array a = array(std::vector<double>{4, 7, 2, 6}, Shape{2, 2});
  CHECK_ALLCLOSE_TOL(linalg::det(a), std::vector<double>{10}, 1e-12, 1e-12);
  // A row swap: det [[0, 1], [1, 0]] = -1; a 3-cycle permutation has det +1.
  CHECK_ALLCLOSE_TOL(linalg::det(array(std::vector<double>{0, 1, 1, 0}, Shape{2, 2})), std::vector<double>{-1},
                     1e-12, 1e-12);
  Array cyc = array(std::vector<double>{0, 1, 0, 0, 0, 1, 1, 0, 0}, Shape{3, 3});
  CHECK_ALLCLOSE_TOL(linalg::det(cyc), std::vector<double>{1}, 1e-12, 1e-12);
  // 3x3 by cofactors: [[2, -3, 1], [2, 0, -1], [1, 4, 5]] -> 49.
  Array b = array(std::vector<double>{2, -3, 1, 2, 0, -1, 1, 4, 5}, Shape{3, 3});
  CHECK_ALLCLOSE_TOL(linalg::det(b), std::vector<double>{49}, 1e-12, 1e-12);
  auto [sgn, logdet] = linalg::slogdet(-b);
  CHECK_ALLCLOSE(sgn, std::vector<double>{-1});
  CHECK_ALLCLOSE_TOL(logdet, std::vector<double>{std::log(49.0)}, 1e-12, 1e-12);
  // Batched float32: det(A B) = det A det B.
  Array x = rnd({4, 3, 3}, 5, float32), y = rnd({4, 3, 3}, 6, float32);
  CHECK_NEAR_ARRAY(linalg::det(matmul(x, y)), linalg::det(x) * linalg::det(y), 1e-5);
  // Singular: det 0, sign 0 and logabsdet -inf.
  Array s = array(std::vector<double>{1, 2, 2, 4}, Shape{2, 2});
  CHECK_ALLCLOSE(linalg::det(s), std::vector<double>{0});
  auto [s_sign, s_log] = linalg::slogdet(s);
  CHECK_ALLCLOSE(s_sign, std::vector<double>{0});
  CHECK_ALLCLOSE(s_log, std::vector<double>{-kInf});
  // The empty matrix has determinant 1.
  CHECK_ALLCLOSE(linalg::det(zeros({0, 0}, float64)), std::vector<double>{1});
  CHECK_THROWS_WITH_AS(linalg::det(zeros({2, 3})), doctest::Contains("[det] needs a square matrix"), ShapeError);
  CHECK_THROWS_WITH_AS(linalg::slogdet(zeros({2, 2}, bool_)), doctest::Contains("bool"), DTypeError);
}

// ---- eigh ---------------------------------------------------------------------------------------

TEST_CASE("eigh: hand-computed 2x2 eigenpairs") {
  // [[2, 1], [1, 2]]: eigenvalues 1 and 3 with eigenvectors (1, -1) / sqrt 2 and (1, 1) / sqrt 2.
  auto [w, v] = linalg::eigh(array(std::vector<double>{2, 1, 1, 2}, Shape{2, 2}));
  CHECK_ALLCLOSE_TOL(w, std::vector<double>({1, 3}), 1e-12, 1e-12);
  auto vv = v.to_vector<double>();
  const double r = 1 / std::sqrt(2.0);
  CHECK(std::abs(std::abs(vv[0]) - r) < 1e-12);
  CHECK(std::abs(vv[0] + vv[2]) < 1e-12);  // first column along (1, -1)
  CHECK(std::abs(vv[1] - vv[3]) < 1e-12);  // second column along (1, 1)
}

TEST_CASE("eigh: A V = V diag(w), Vᵀ V = I, ascending, batched") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array m = rnd({3, 6, 6}, 7, dt);
    Array a = m + mT(m);
    auto [w, v] = linalg::eigh(a);
    CHECK(w.shape() == Shape{3, 6});
    CHECK(v.shape() == Shape{3, 6, 6});
    CHECK_NEAR_ARRAY(matmul(a, v), v * expand_dims(w, {-2}), tol_for(dt) * 20);
    CHECK_NEAR_ARRAY(matmul(mT(v), v), broadcast_to(eye_like(6, dt), {3, 6, 6}), tol_for(dt) * 10);
    auto wv = w.to_vector<double>();
    for (int b = 0; b < 3; ++b)
      for (int i = 0; i + 1 < 6; ++i) CHECK(wv[b * 6 + i] <= wv[b * 6 + i + 1]);
    CHECK_NEAR_ARRAY(linalg::eigvalsh(a), w, 0);
  }
  CHECK_THROWS_WITH_AS(linalg::eigh(zeros({2, 3})), doctest::Contains("[eigh] needs a square matrix"), ShapeError);
}

// ---- svd ----------------------------------------------------------------------------------------

TEST_CASE("svd: U S Vᵀ = A with orthonormal U and V, tall, wide, square, full and reduced") {
  for (DType dt : {float32, float64}) {
    for (Shape s : {Shape{5, 3}, Shape{3, 5}, Shape{2, 4, 4}}) {
      for (bool full : {false, true}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(full);
        CAPTURE(shape_str(s));
        Array a = rnd(s, 8, dt);
        auto [u, sv, vt] = linalg::svd(a, full);
        const int64_t m = s[s.size() - 2], n = s[s.size() - 1], k = std::min(m, n);
        CHECK(u.shape().back() == (full ? m : k));
        CHECK(vt.shape()[vt.ndim() - 2] == (full ? n : k));
        Array uk = full ? slice(u, std::vector<int64_t>(u.ndim(), 0), [&] {
          auto stop = u.shape();
          stop.back() = k;
          return stop;
        }()) : u;
        Array vk = full ? slice(vt, std::vector<int64_t>(vt.ndim(), 0), [&] {
          auto stop = vt.shape();
          stop[stop.size() - 2] = k;
          return stop;
        }()) : vt;
        CHECK_NEAR_ARRAY(matmul(uk * expand_dims(sv, {-2}), vk), a, tol_for(dt) * 10);
        const int64_t uc = u.shape().back(), vr = vt.shape()[vt.ndim() - 2];
        CHECK_NEAR_ARRAY(matmul(mT(u), u), broadcast_to(eye_like(uc, dt), matmul(mT(u), u).shape()), tol_for(dt) * 10);
        CHECK_NEAR_ARRAY(matmul(vt, mT(vt)), broadcast_to(eye_like(vr, dt), matmul(vt, mT(vt)).shape()),
                         tol_for(dt) * 10);
        auto svv = sv.to_vector<double>();
        for (size_t i = 0; i + 1 < svv.size(); ++i)
          if ((i + 1) % k != 0) CHECK(svv[i] >= svv[i + 1]);
        CHECK_NEAR_ARRAY(linalg::svdvals(a), sv, tol_for(dt));
      }
    }
  }
}

TEST_CASE("svd: hand-computed singular values") {
  // [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]] has eigenvalues 45 and 5.
  Array a = array(std::vector<double>{3, 0, 4, 5}, Shape{2, 2});
  CHECK_ALLCLOSE_TOL(linalg::svdvals(a), std::vector<double>({std::sqrt(45.0), std::sqrt(5.0)}), 1e-12, 1e-12);
  // Empty: no singular values; the full vectors are identities.
  auto [u, s, vt] = linalg::svd(zeros({3, 0}, float64));
  CHECK(s.shape() == Shape{0});
  CHECK_ALLCLOSE(u, eye_like(3, float64));
  CHECK(vt.shape() == Shape{0, 0});
}

// ---- qr -----------------------------------------------------------------------------------------

TEST_CASE("qr: Q R = A with orthonormal Q and upper triangular R") {
  for (DType dt : {float32, float64}) {
    for (Shape s : {Shape{5, 3}, Shape{3, 5}, Shape{2, 4, 4}}) {
      for (std::string mode : {"reduced", "complete"}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(mode);
        CAPTURE(shape_str(s));
        Array a = rnd(s, 9, dt);
        auto [q, r] = linalg::qr(a, mode);
        const int64_t m = s[s.size() - 2], n = s[s.size() - 1], k = mode == "complete" ? m : std::min(m, n);
        CHECK(q.shape().back() == k);
        CHECK(r.shape()[r.ndim() - 2] == k);
        CHECK_NEAR_ARRAY(matmul(q, r), a, tol_for(dt) * 10);
        CHECK_NEAR_ARRAY(matmul(mT(q), q), broadcast_to(eye_like(k, dt), matmul(mT(q), q).shape()),
                         tol_for(dt) * 10);
        CHECK_ALLCLOSE(tril(r, -1), zeros(r.shape(), dt));
      }
    }
  }
  CHECK_THROWS_WITH_AS(linalg::qr(zeros({3, 3}), "r"), doctest::Contains("[qr] mode must be"), ValueError);
  CHECK_THROWS_WITH_AS(linalg::qr(zeros({3})), doctest::Contains("[qr]"), ShapeError);
}

// ---- lu -----------------------------------------------------------------------------------------

TEST_CASE("lu: P L U = A, and lu_factor's permutation satisfies A[perm] = L U") {
  for (DType dt : {float32, float64}) {
    for (Shape s : {Shape{4, 4}, Shape{5, 3}, Shape{3, 5}, Shape{2, 3, 3}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(shape_str(s));
      Array a = rnd(s, 11, dt);
      auto [p, l, u] = linalg::lu(a);
      CHECK_NEAR_ARRAY(matmul(p, matmul(l, u)), a, tol_for(dt) * 10);
      CHECK_ALLCLOSE(triu(l, 1), zeros(l.shape(), dt));
      CHECK_ALLCLOSE(tril(u, -1), zeros(u.shape(), dt));
      auto [packed, pivots, perm] = linalg::lu_factor(a);
      CHECK(pivots.dtype() == int32);
      CHECK(perm.dtype() == int32);
      CHECK_NEAR_ARRAY(take_along_axis(a, expand_dims(perm, {-1}), -2), matmul(l, u), tol_for(dt) * 10);
      // Partial pivoting: every entry of L is at most 1 in magnitude.
      CHECK(all(less_equal(abs(l), Array(1.0 + 1e-6))).item<bool>());
    }
  }
  // Hand-computed pivots: [[1, 2], [3, 4]] swaps rows 0 and 1 first.
  auto [packed, pivots, perm] = linalg::lu_factor(array(std::vector<double>{1, 2, 3, 4}, Shape{2, 2}));
  CHECK(pivots.to_vector<int>() == std::vector<int>{1, 1});
  CHECK(perm.to_vector<int>() == std::vector<int>{1, 0});
  CHECK_ALLCLOSE(packed, std::vector<double>{3, 4, 1.0 / 3, 2 - 4.0 / 3});
}

// ---- norm ---------------------------------------------------------------------------------------

TEST_CASE("norm: vector norms") {
  Array v = array(std::vector<double>{3, -4, 0, 1});
  CHECK_ALLCLOSE(linalg::norm(v), std::vector<double>{std::sqrt(26.0)});
  CHECK_ALLCLOSE(linalg::norm(v, 1), std::vector<double>{8});
  CHECK_ALLCLOSE(linalg::norm(v, linalg::inf), std::vector<double>{4});
  CHECK_ALLCLOSE(linalg::norm(v, -linalg::inf), std::vector<double>{0});
  CHECK_ALLCLOSE(linalg::norm(v, 0), std::vector<double>{3});
  CHECK_ALLCLOSE(linalg::norm(v, 3), std::vector<double>{std::cbrt(27.0 + 64 + 1)});
  // Along an axis, with keepdims; integers promote to float32.
  Array m = array(std::vector<double>{3, 4, 6, 8}, Shape{2, 2});
  CHECK_ALLCLOSE(linalg::norm(m, {}, {1}), std::vector<double>{5, 10});
  CHECK(linalg::norm(m, {}, {1}, true).shape() == Shape{2, 1});
  CHECK(linalg::norm(array(std::vector<int32_t>{3, 4})).dtype() == float32);
  CHECK_THROWS_WITH_AS(linalg::norm(v, "fro"), doctest::Contains("matrix norm"), ValueError);
}

TEST_CASE("norm: matrix norms") {
  // [[1, -2], [3, 4]]: column sums 4, 6; row sums 3, 7; singular values from AᵀA = [[10, 10], [10, 20]].
  Array a = array(std::vector<double>{1, -2, 3, 4}, Shape{2, 2});
  const double disc = std::sqrt(15.0 * 15.0 - 100.0);
  const double s1 = std::sqrt(15.0 + disc), s2 = std::sqrt(15.0 - disc);
  CHECK_ALLCLOSE(linalg::norm(a), std::vector<double>{std::sqrt(30.0)});
  CHECK_ALLCLOSE(linalg::norm(a, "fro"), std::vector<double>{std::sqrt(30.0)});
  CHECK_ALLCLOSE_TOL(linalg::norm(a, "nuc"), std::vector<double>{s1 + s2}, 1e-12, 1e-12);
  CHECK_ALLCLOSE(linalg::norm(a, 1), std::vector<double>{6});
  CHECK_ALLCLOSE(linalg::norm(a, -1), std::vector<double>{4});
  CHECK_ALLCLOSE(linalg::norm(a, linalg::inf), std::vector<double>{7});
  CHECK_ALLCLOSE(linalg::norm(a, -linalg::inf), std::vector<double>{3});
  CHECK_ALLCLOSE_TOL(linalg::norm(a, 2), std::vector<double>{s1}, 1e-12, 1e-12);
  CHECK_ALLCLOSE_TOL(linalg::norm(a, -2), std::vector<double>{s2}, 1e-12, 1e-12);
  // A stack of matrices over axes (0, 2), keepdims.
  Array x = rnd({3, 2, 4}, 12);
  Array by_axes = linalg::norm(x, 2, {0, 2}, true);
  CHECK(by_axes.shape() == Shape{1, 2, 1});
  Array moved = transpose(x, {1, 0, 2});
  CHECK_NEAR_ARRAY(reshape(by_axes, {2}), max(linalg::svdvals(moved), {-1}), 1e-12);
  CHECK_NEAR_ARRAY(linalg::norm(x, 1, {0, 2}), max(sum(abs(x), {0}), {-1}), 1e-12);
  CHECK_THROWS_WITH_AS(linalg::norm(a, 3), doctest::Contains("[norm] matrix norm ord"), ValueError);
  CHECK_THROWS_WITH_AS(linalg::norm(x, 2), doctest::Contains("needs a 1-d or 2-d array"), ShapeError);
}

// ---- pinv, lstsq --------------------------------------------------------------------------------

TEST_CASE("pinv: the Penrose conditions, and inv for an invertible matrix") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array a = rnd({5, 3}, 13, dt);
    Array p = linalg::pinv(a);
    CHECK(p.shape() == Shape{3, 5});
    CHECK_NEAR_ARRAY(matmul(a, matmul(p, a)), a, tol_for(dt) * 10);
    CHECK_NEAR_ARRAY(matmul(p, matmul(a, p)), p, tol_for(dt) * 10);
    Array sq = rnd({4, 4}, 14, dt) + eye_like(4, dt) * 2.0;
    CHECK_NEAR_ARRAY(linalg::pinv(sq), linalg::inv(sq), tol_for(dt) * 10);
  }
  // Rank one: pinv(u vᵀ) = v uᵀ / (|u|^2 |v|^2).
  Array u = array(std::vector<double>{1, 2, 2}), v = array(std::vector<double>{3, 4});
  Array r1 = outer(u, v);
  CHECK_NEAR_ARRAY(linalg::pinv(r1), outer(v, u) / (9.0 * 25.0), 1e-12);
}

TEST_CASE("lstsq: matches the normal equations, with residuals, rank and singular values") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array a = rnd({6, 3}, 15, dt), b = rnd({6, 2}, 16, dt);
    auto [x, resid, rank, s] = linalg::lstsq(a, b);
    Array ata = matmul(mT(a), a);
    CHECK_NEAR_ARRAY(x, linalg::solve(ata, matmul(mT(a), b)), tol_for(dt) * 50);
    CHECK_NEAR_ARRAY(resid, sum(square(b - matmul(a, x)), {0}), tol_for(dt) * 10);
    CHECK(rank.dtype() == int32);
    CHECK(rank.item<int>() == 3);
    CHECK_NEAR_ARRAY(s, linalg::svdvals(a), tol_for(dt));
    // A vector right-hand side gives a vector solution and a 0-d residual.
    Array bv = squeeze(slice(b, {0, 0}, {6, 1}), {1});
    auto [xv, rv, rankv, sv] = linalg::lstsq(a, bv);
    CHECK(xv.shape() == Shape{3});
    CHECK(rv.ndim() == 0);
    CHECK_NEAR_ARRAY(xv, squeeze(slice(x, {0, 0}, {3, 1}), {1}), tol_for(dt) * 10);
  }
  // Exactly determined 2x2: the solution, zero residual. Rank-deficient: rank 1.
  Array a = array(std::vector<double>{1, 1, 1, -1}, Shape{2, 2});
  auto [x, resid, rank, s] = linalg::lstsq(a, array(std::vector<double>{3, 1}));
  CHECK_ALLCLOSE_TOL(x, std::vector<double>({2, 1}), 1e-12, 1e-12);
  CHECK(x.shape() == Shape{2});
  CHECK(resid.ndim() == 0);
  auto [x1, r1, rank1, s1] = linalg::lstsq(array(std::vector<double>{1, 2, 2, 4}, Shape{2, 2}),
                                           array(std::vector<double>{1, 2}));
  CHECK(rank1.item<int>() == 1);
  // Minimum-norm solution of [[1, 2], [2, 4]] x = [1, 2]: x = [1, 2] / 5.
  CHECK_ALLCLOSE_TOL(x1, std::vector<double>({0.2, 0.4}), 1e-12, 1e-12);
  CHECK_THROWS_WITH_AS(linalg::lstsq(zeros({3, 2}), zeros({4})), doctest::Contains("[lstsq] a f32[3,2] and b f32[4]"),
                       ShapeError);
}

// ---- jit ----------------------------------------------------------------------------------------

TEST_CASE("jit: compiled linalg routines equal eager, and so do their gradients and batches") {
  // Compiled programs call the same LAPACK kernels (as library calls between fused loops).
  Array a = spd({2}, 4, 30), g = rnd({2, 5, 3}, 31), b = rnd({2, 4, 2}, 32);
  auto same = [](const Array& compiled, const Array& eager) { CHECK_NEAR_ARRAY(compiled, eager, tol_for(eager.dtype())); };
  auto chol = [](const Array& x) { return linalg::cholesky(x) * 2.0 + 1.0; };
  same(jit(chol)(a), chol(a));
  auto tri = [](const Array& l, const Array& y) { return linalg::triangular_solve(l, y, {.lower = true, .transpose_a = true}); };
  same(jit(tri)(a, b), tri(a, b));
  auto slv = [](const Array& x, const Array& y) { return linalg::solve(x, y); };
  same(jit(slv)(a, b), slv(a, b));
  same(jit(slv)(a[0], b[0]), slv(a[0], b[0]));
  auto dets = [](const Array& x) { return linalg::det(x) + linalg::slogdet(x).second; };
  same(jit(dets)(a), dets(a));
  auto inv = [](const Array& x) { return linalg::inv(x); };
  same(jit(inv)(a), inv(a));
  same(vmap(jit(inv))(a), inv(a));
  same(jit(vmap(inv))(a), inv(a));
  same(vmap(jit(slv))(a, b), slv(a, b));
  same(jit([](const Array& x) { return linalg::eigh(x).first; })(a), linalg::eigh(a).first);
  same(jit([](const Array& x) { return abs(linalg::eigh(x).second); })(a), abs(linalg::eigh(a).second));
  same(jit([](const Array& x) { return linalg::svdvals(x); })(g), linalg::svdvals(g));
  same(jit([](const Array& x) { return std::get<0>(linalg::svd(x, false)); })(g), std::get<0>(linalg::svd(g, false)));
  same(jit([](const Array& x) { return linalg::qr(x).second; })(g), linalg::qr(g).second);
  same(jit([](const Array& x) { return std::get<0>(linalg::lu_factor(x)); })(g), std::get<0>(linalg::lu_factor(g)));
  CHECK(jit([](const Array& x) { return std::get<2>(linalg::lu_factor(x)); })(g).to_vector<int>() ==
        std::get<2>(linalg::lu_factor(g)).to_vector<int>());
  same(jit([](const Array& x) { return linalg::norm(x, "nuc", {1, 2}); })(g), linalg::norm(g, "nuc", {1, 2}));
  same(jit([](const Array& x) { return linalg::pinv(x); })(g), linalg::pinv(g));
  auto lsq = [](const Array& x, const Array& y) { return std::get<0>(linalg::lstsq(x, y)); };
  same(jit(lsq)(g, rnd({2, 5}, 33)), lsq(g, rnd({2, 5}, 33)));
  // float32 too.
  Array a32 = a.astype(float32);
  same(jit(chol)(a32), chol(a32));
  // grad(jit) and jit(grad) and vmap(jit).
  auto logdet = [](const Array& x) { return linalg::slogdet(x).second; };
  same(grad(jit(logdet))(a[0]), grad(logdet)(a[0]));
  same(jit(grad(logdet))(a[0]), grad(logdet)(a[0]));
  same(vmap(jit(chol))(a), chol(a));
}
