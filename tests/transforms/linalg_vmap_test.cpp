// vmap of jx::linalg: every routine against the loop over examples, with the mapped axis first,
// last or in the middle, mixed with unmapped operands; a batch stays one primitive call (the
// jaxpr of vmap(cholesky) has one cholesky equation; an unmapped triangular matrix solves the
// whole batch of right-hand sides at once); vmap composes with grad both ways.
#include <algorithm>

#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using testing::check_vmap;
using testing::mT;
using testing::rnd;
using testing::uniform;
using testing::values;
using Args = std::vector<Array>;

namespace {


// A batch of B SPD n x n matrices [B, n, n].
Array spd_batch(int64_t b, int64_t n, unsigned seed, DType dt = float64) {
  Array m = rnd({b, n, n}, seed, dt);
  return matmul(m, mT(m)) + eye(n, std::nullopt, 0, dt) * static_cast<double>(n);
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// Moves axis 0 of x to `to`.
Array move0(const Array& x, int to) {
  std::vector<int> perm;
  for (int i = 1; i < x.ndim(); ++i) perm.push_back(i);
  perm.insert(perm.begin() + to, 0);
  return transpose(x, perm);
}

}  // namespace

TEST_CASE("vmap: decompositions equal the loop, with the batch axis at the front, in the middle and last") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dtype_name(dt));
    Array sym = spd_batch(3, 4, 1, dt);  // [3, 4, 4]
    Array gen = rnd({3, 5, 4}, 2, dt);
    for (int axis : {0, 1, 2}) {
      CAPTURE(axis);
      Array s_ax = move0(sym, axis), g_ax = move0(gen, axis);
      check_vmap([](const Args& x) { return linalg::cholesky(x[0]); }, {s_ax}, {axis});
      check_vmap([](const Args& x) { return linalg::eigh(x[0]).first; }, {s_ax}, {axis});
      check_vmap([](const Args& x) { return abs(linalg::eigh(x[0]).second); }, {s_ax}, {axis});
      check_vmap([](const Args& x) { return linalg::svdvals(x[0]); }, {g_ax}, {axis});
      check_vmap([](const Args& x) { return std::get<0>(linalg::svd(x[0], false)); }, {g_ax}, {axis});
      check_vmap([](const Args& x) { return linalg::qr(x[0]).second; }, {g_ax}, {axis});
      check_vmap([](const Args& x) { return std::get<0>(linalg::lu_factor(x[0])); }, {g_ax}, {axis});
      check_vmap([](const Args& x) { return std::get<2>(linalg::lu_factor(x[0])).astype(float32); }, {g_ax}, {axis});
      check_vmap([](const Args& x) { return linalg::det(x[0]); }, {s_ax}, {axis});
      check_vmap([](const Args& x) { return linalg::inv(x[0]); }, {s_ax}, {axis}, 2);
      check_vmap([](const Args& x) { return linalg::pinv(x[0]); }, {g_ax}, {axis}, 1);
      check_vmap([](const Args& x) { return linalg::norm(x[0], 2); }, {g_ax}, {axis});
    }
  }
}

TEST_CASE("vmap: solves with mapped and unmapped operands") {
  Array a = spd_batch(3, 4, 3);  // [3, 4, 4]
  Array a1 = a[0];                 // [4, 4]
  Array b = rnd({3, 4, 2}, 4), bv = rnd({3, 4}, 5), b1 = rnd({4, 2}, 6);
  for (int flags = 0; flags < 16; ++flags) {
    const bool left = flags & 1, lower = flags & 2, trans = flags & 4, unit = flags & 8;
    CAPTURE(flags);
    linalg::TriangularSolveOptions o{.left_side = left, .lower = lower, .transpose_a = trans, .unit_diagonal = unit};
    auto f = [o](const Args& x) { return linalg::triangular_solve(x[0], x[1], o); };
    Array rhs = left ? b : mT(b);  // [3, 4, 2] or [3, 2, 4]
    check_vmap(f, {a, rhs}, {0, 0});
    check_vmap(f, {a1, move0(rhs, 2)}, {std::nullopt, 2});  // unmapped a: one solve for the batch
    check_vmap(f, {a, left ? b1 : mT(b1)}, {0, std::nullopt});
  }
  auto s = [](const Args& x) { return linalg::solve(x[0], x[1]); };
  check_vmap(s, {a, bv}, {0, 0});
  check_vmap(s, {a1, bv}, {std::nullopt, 0});
  check_vmap(s, {a, bv[0]}, {0, std::nullopt});
  check_vmap(s, {move0(a, 2), b}, {2, 0});
  auto ls = [](const Args& x) { return std::get<0>(linalg::lstsq(x[0], x[1])); };
  check_vmap(ls, {rnd({3, 5, 3}, 7), rnd({3, 5}, 8)}, {0, 0});
  auto cs = [](const Args& x) { return linalg::cho_solve(linalg::cholesky(x[0]), x[1]); };
  check_vmap(cs, {a, bv}, {0, 0});
}

TEST_CASE("vmap: a batch is one primitive call, and an unmapped matrix solves all right-hand sides at once") {
  Array a = spd_batch(5, 3, 9);
  auto chol = [](const Array& x) { return linalg::cholesky(x); };
  std::string jp = make_jaxpr(vmap(chol))(a).str();
  CHECK(count(jp, "cholesky") == 1);
  CHECK(jp.find("f64[5,3,3] = cholesky") != std::string::npos);
  // Unmapped a, mapped b: the batch joins b's columns; a is not broadcast to [5, 3, 3].
  Array l = linalg::cholesky(a[0]);
  auto solve_b = [l](const Array& y) { return linalg::triangular_solve(l, y, {.lower = true}); };
  std::string js = make_jaxpr(vmap(solve_b))(rnd({5, 3}, 10)).str();
  CHECK(count(js, "triangular_solve") == 1);
  CHECK(js.find("f64[3,5] = triangular_solve") != std::string::npos);
  CHECK(js.find("f64[5,3,3]") == std::string::npos);
}

TEST_CASE("vmap: composes with grad both ways, and nests") {
  Array a = spd_batch(3, 3, 11);
  auto logdet = [](const Array& x) { return linalg::slogdet(x).second; };
  // Per-example gradients equal the loop, and A^-T each.
  Array g = vmap(grad(logdet))(a);
  for (int i = 0; i < 3; ++i) CHECK_ALLCLOSE_TOL(g[i], values(mT(linalg::inv(a[i]))), 1e-10, 1e-12);
  // grad of a sum over a vmapped batch equals the per-example gradients.
  Array g2 = grad([&](const Array& x) { return sum(vmap(logdet)(x)); })(a);
  CHECK_ALLCLOSE_TOL(g2, values(g), 1e-12, 1e-12);
  // Nested: a [2, 3, n, n] batch mapped twice.
  Array aa = reshape(spd_batch(6, 3, 12), {2, 3, 3, 3});
  Array nested = vmap(vmap([](const Array& x) { return linalg::cholesky(x); }))(aa);
  CHECK_ALLCLOSE(nested, values(linalg::cholesky(aa)));
  // vmap of a jvp through eigh (distinct eigenvalues).
  Array m = rnd({4, 3, 3}, 13);
  Array sym = m + mT(m), dirs = rnd({4, 3, 3}, 14);
  auto eig_jvp = [](const Array& x, const Array& t) {
    return jvp([](const Array& y) { return linalg::eigvalsh(y); }, std::tuple{x}, std::tuple{t}).second;
  };
  Array batched = vmap(eig_jvp)(sym, dirs);
  for (int i = 0; i < 4; ++i) CHECK_ALLCLOSE_TOL(batched[i], values(eig_jvp(sym[i], dirs[i])), 1e-12, 1e-12);
}
