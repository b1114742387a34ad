// Derivatives of the contraction and window primitives: dot_general (and the linalg ops built
// on it), conv_general_dilated, reduce_window_{sum,max,min} (and max_pool / avg_pool). JVP and
// VJP against finite differences and each other (check_grads, second order in float64, first
// order in float32), plus hand-computed values.
#include "testing/check_grads.h"

using namespace jx;
using testing::check_grads;
using testing::uniform;
using Args = std::vector<Array>;

namespace {

Array rnd(const Shape& s, unsigned seed, DType dt = float64) { return uniform(s, -1.0, 1.0, dt, seed); }

// check_grads in float64 to second order and in float32 to first order.
void check_both(const testing::VecFn& f, const Args& args64) {
  {
    INFO("float64, order 2");
    check_grads(f, args64, 2);
  }
  Args args32;
  for (auto& a : args64) args32.push_back(a.astype(float32));
  INFO("float32, order 1");
  check_grads(f, args32, 1);
}

Array dg(const Array& a, const Array& b, lax::DotDimensionNumbers d) {
  return lax::dot_general(a, b, d.contracting, d.batch);
}

}  // namespace

// ---- dot_general ------------------------------------------------------------------------------

TEST_CASE("dot_general: grad of sum(a @ b) is ones @ b.T and a.T @ ones") {
  Array a = rnd({2, 3}, 1), b = rnd({3, 4}, 2);
  auto [ga, gb] = grad<0, 1>([](const Array& x, const Array& y) { return sum(matmul(x, y)); })(a, b);
  CHECK(ga.shape() == Shape{2, 3});
  CHECK(gb.shape() == Shape{3, 4});
  CHECK_ALLCLOSE(ga, matmul(ones({2, 4}, float64), transpose(b)));
  CHECK_ALLCLOSE(gb, matmul(transpose(a), ones({2, 4}, float64)));
  // Hand-computed: d/da_ij sum(a b) = sum_k b_jk.
  auto bv = b.to_vector<double>();
  std::vector<double> expect;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) expect.push_back(bv[j * 4] + bv[j * 4 + 1] + bv[j * 4 + 2] + bv[j * 4 + 3]);
  CHECK_ALLCLOSE(ga, expect);
}

TEST_CASE("dot_general: jvp is bilinear (dx . y + x . dy)") {
  Array a = rnd({2, 3}, 3), b = rnd({3, 2}, 4), da = rnd({2, 3}, 5), db = rnd({3, 2}, 6);
  auto f = [](const Array& x, const Array& y) { return matmul(x, y); };
  auto [y, t] = jvp(f, std::tuple{a, b}, std::tuple{da, db});
  CHECK_ALLCLOSE(y, matmul(a, b));
  CHECK_ALLCLOSE(t, matmul(da, b) + matmul(a, db));
}

TEST_CASE("dot_general: derivatives with batch and contracting dims in several layouts") {
  struct Case {
    const char* name;
    Shape a, b;
    lax::DotDimensionNumbers d;
  };
  std::vector<Case> cases = {
      {"plain matmul", {2, 3}, {3, 4}, {{{1}, {0}}, {}}},
      {"contract lhs 0 with rhs 1", {3, 2}, {4, 3}, {{{0}, {1}}, {}}},
      {"batch leading", {2, 3, 4}, {2, 4, 3}, {{{2}, {1}}, {{0}, {0}}}},
      {"batch in the middle and last", {3, 2, 4}, {4, 3, 2}, {{{2}, {0}}, {{1}, {2}}}},
      {"two contracting dims, reversed order", {2, 3, 4}, {4, 5, 3}, {{{1, 2}, {2, 0}}, {}}},
      {"two batch dims, swapped", {2, 3, 4}, {3, 4, 2}, {{{2}, {1}}, {{0, 1}, {2, 0}}}},
      {"outer product (no contraction)", {3}, {2, 2}, {{{}, {}}, {}}},
      {"full contraction to a scalar", {2, 3}, {3, 2}, {{{0, 1}, {1, 0}}, {}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto d = c.d;
    Array a = rnd(c.a, 11), b = rnd(c.b, 12);
    check_both([d](const Args& x) { return sum(sin(dg(x[0], x[1], d))); }, {a, b});
  }
}

TEST_CASE("dot_general: gradient through a product with itself (x . x)") {
  // Both operands of one dot_general depend on x: the linear jaxpr has two dot_generals, each
  // linear in one operand.
  Array a = rnd({3, 3}, 13);
  check_both([](const Args& x) { return sum(sin(matmul(x[0], x[0]))); }, {a});
  auto g = grad([](const Array& x) { return sum(matmul(x, x)); })(a);
  // d/dx sum(x x) = ones x^T + x^T ones
  Array o = ones({3, 3}, float64);
  CHECK_ALLCLOSE(g, matmul(o, transpose(a)) + matmul(transpose(a), o));
}

TEST_CASE("dot_general: preferred_element_type gives cotangents in the operand dtype") {
  Array a = rnd({2, 3}, 14, float32), b = rnd({3, 2}, 15, float32);
  auto f = [](const Array& x, const Array& y) {
    return sum(lax::dot_general(x, y, {{1}, {0}}, {}, float64));
  };
  auto [ga, gb] = grad<0, 1>(f)(a, b);
  CHECK(ga.dtype() == float32);
  CHECK(gb.dtype() == float32);
  CHECK_ALLCLOSE_TOL(ga, matmul(ones({2, 2}), transpose(b)).to_vector<double>(), 1e-6, 1e-6);
  CHECK_ALLCLOSE_TOL(gb, matmul(transpose(a), ones({2, 2})).to_vector<double>(), 1e-6, 1e-6);
}

TEST_CASE("matmul: derivatives of matmul, dot, outer, tensordot, einsum and trace") {
  SUBCASE("matmul 2-d") {
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({2, 3}, 21), rnd({3, 2}, 22)});
  }
  SUBCASE("matmul batched with broadcasting") {
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({2, 2, 3}, 23), rnd({3, 2}, 24)});
  }
  SUBCASE("matmul vector-matrix and matrix-vector") {
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({3}, 25), rnd({3, 2}, 26)});
    check_both([](const Args& x) { return sum(sin(matmul(x[0], x[1]))); }, {rnd({2, 3}, 27), rnd({3}, 28)});
  }
  SUBCASE("dot of vectors") {
    check_both([](const Args& x) { return sin(dot(x[0], x[1])); }, {rnd({4}, 29), rnd({4}, 30)});
  }
  SUBCASE("outer") {
    check_both([](const Args& x) { return sum(sin(outer(x[0], x[1]))); }, {rnd({3}, 31), rnd({2}, 32)});
  }
  SUBCASE("tensordot") {
    check_both([](const Args& x) { return sum(sin(tensordot(x[0], x[1], 2))); }, {rnd({2, 3, 2}, 33), rnd({3, 2, 2}, 34)});
    check_both([](const Args& x) { return sum(sin(tensordot(x[0], x[1], {{0}, {1}}))); },
               {rnd({3, 2}, 35), rnd({2, 3}, 36)});
  }
  SUBCASE("einsum") {
    check_both([](const Args& x) { return sum(sin(einsum("bij,bjk->bik", x[0], x[1]))); },
               {rnd({2, 2, 3}, 37), rnd({2, 3, 2}, 38)});
    check_both([](const Args& x) { return sum(sin(einsum("ij,kj->ik", x[0], x[1]))); },
               {rnd({2, 3}, 39), rnd({2, 3}, 40)});
  }
  SUBCASE("trace of a product") {
    check_both([](const Args& x) { return sin(trace(matmul(x[0], x[1]))); }, {rnd({3, 2}, 41), rnd({2, 3}, 42)});
  }
}
