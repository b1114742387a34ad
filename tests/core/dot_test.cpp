// dot_general and the linear-algebra ops on it (matmul, dot, outer, tensordot, trace, einsum):
// values against naive loops, every dtype, 0-size dims, errors, and the staged jaxpr.
#include <functional>
#include <numeric>

#include "testing/testing.h"

using namespace jx;

namespace {

using Dims = std::vector<int64_t>;

using testing::for_each_index;

int64_t offset(const Shape& shape, const Dims& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
  return off;
}

// Reference dot_general over doubles: out = batch, lhs free, rhs free.
std::vector<double> ref_dot_general(const std::vector<double>& a, const Shape& as, const std::vector<double>& b,
                                    const Shape& bs, const Dims& lc, const Dims& rc, const Dims& lb, const Dims& rb,
                                    Shape* out_shape) {
  Dims lfree, rfree;
  auto has = [](const Dims& v, int64_t d) { return std::find(v.begin(), v.end(), d) != v.end(); };
  for (int64_t d = 0; d < static_cast<int64_t>(as.size()); ++d)
    if (!has(lc, d) && !has(lb, d)) lfree.push_back(d);
  for (int64_t d = 0; d < static_cast<int64_t>(bs.size()); ++d)
    if (!has(rc, d) && !has(rb, d)) rfree.push_back(d);
  Shape os, cs;
  for (auto d : lb) os.push_back(as[d]);
  for (auto d : lfree) os.push_back(as[d]);
  for (auto d : rfree) os.push_back(bs[d]);
  for (auto d : lc) cs.push_back(as[d]);
  *out_shape = os;
  std::vector<double> out(static_cast<size_t>(shape_size(os)), 0.0);
  for_each_index(os, [&](const Dims& o) {
    double acc = 0;
    for_each_index(cs, [&](const Dims& c) {
      Dims ai(as.size()), bi(bs.size());
      size_t k = 0;
      for (size_t i = 0; i < lb.size(); ++i, ++k) ai[lb[i]] = bi[rb[i]] = o[k];
      for (auto d : lfree) ai[d] = o[k++];
      for (auto d : rfree) bi[d] = o[k++];
      for (size_t i = 0; i < lc.size(); ++i) ai[lc[i]] = bi[rc[i]] = c[i];
      acc += a[offset(as, ai)] * b[offset(bs, bi)];
    });
    out[offset(os, o)] = acc;
  });
  return out;
}

Array rand(const Shape& s, DType dt, unsigned seed) {
  if (dt == uint32) return testing::uniform(s, 0, 6, float64, seed).astype(uint32);
  if (!is_floating(dt)) return testing::uniform(s, -6, 6, float64, seed).astype(dt);
  return testing::uniform(s, -1, 1, dt, seed);
}

double rtol_for(DType dt) { return dt == float32 ? 1e-4 : dt == float64 ? 1e-12 : 0.0; }

struct DotCase {
  Shape as, bs;
  Axes lc, rc, lb, rb;
};

}  // namespace

TEST_CASE("dot_general: matches naive loops for every dtype and layout") {
  std::vector<DotCase> cases = {
      {{3, 4}, {4, 5}, {1}, {0}, {}, {}},                    // plain
      {{4, 3}, {4, 5}, {0}, {0}, {}, {}},                    // lhs transposed
      {{3, 4}, {5, 4}, {1}, {1}, {}, {}},                    // rhs transposed
      {{2, 3, 4}, {2, 4, 5}, {2}, {1}, {0}, {0}},            // batched
      {{3, 2, 4}, {4, 2, 5}, {2}, {0}, {1}, {1}},            // batch dim not leading
      {{2, 3, 4}, {3, 4, 5}, {1, 2}, {0, 1}, {}, {}},        // two contracting dims
      {{2, 3, 4}, {4, 3, 5}, {1, 2}, {1, 0}, {}, {}},        // contracting pairs in swapped order
      {{3}, {3}, {0}, {0}, {}, {}},                          // inner product
      {{3}, {4}, {}, {}, {}, {}},                            // outer product
      {{2, 3, 5}, {2, 5, 3}, {1}, {2}, {0}, {0}},            // batched, both transposed
      {{2, 17, 140}, {140, 530}, {2}, {0}, {}, {}},          // exercises the blocking
  };
  for (DType dt : {float32, float64, int32, int64, uint32}) {
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const auto& c = cases[ci];
      if (dt != float32 && dt != float64 && shape_size(c.as) > 10000) continue;
      CAPTURE(dtype_name(dt));
      CAPTURE(ci);
      Array a = rand(c.as, dt, 1 + ci), b = rand(c.bs, dt, 100 + ci);
      Array z = lax::dot_general(a, b, {c.lc, c.rc}, {c.lb, c.rb});
      auto to64 = [](const Axes& v) { return Dims(v.begin(), v.end()); };
      Shape os;
      auto ref = ref_dot_general(testing::values(a), c.as, testing::values(b), c.bs, to64(c.lc), to64(c.rc),
                                 to64(c.lb), to64(c.rb), &os);
      CHECK(z.dtype() == dt);
      CHECK(z.shape() == os);
      CHECK_ALLCLOSE_TOL(z, ref, rtol_for(dt), rtol_for(dt));
    }
  }
}

TEST_CASE("dot_general: zero-size dimensions") {
  for (DType dt : {float32, float64, int32}) {
    Array z = lax::dot_general(zeros({3, 0}, dt), zeros({0, 4}, dt), {{1}, {0}});
    CHECK(z.shape() == Shape{3, 4});
    CHECK_ALLCLOSE(z, std::vector<double>(12, 0.0));  // empty sum is 0
    Array e = lax::dot_general(zeros({0, 5}, dt), ones({5, 4}, dt), {{1}, {0}});
    CHECK(e.shape() == Shape{0, 4});
    Array b = lax::dot_general(zeros({0, 2, 3}, dt), ones({0, 3, 4}, dt), {{2}, {1}}, {{0}, {0}});
    CHECK(b.shape() == Shape{0, 2, 4});
  }
}

TEST_CASE("dot_general: preferred_element_type widens the output") {
  Array a = array({1.f, 2.f, 3.f, 4.f}, Shape{2, 2}), b = array({5.f, 6.f, 7.f, 8.f}, Shape{2, 2});
  Array z = lax::dot_general(a, b, {{1}, {0}}, {}, float64);
  CHECK(z.dtype() == float64);
  CHECK_ALLCLOSE(z, std::vector<double>{19, 22, 43, 50});
  Array i = lax::dot_general(array({100000, 3}), array({100000, 2}), {{0}, {0}}, {}, int64);
  CHECK(i.dtype() == int64);
  CHECK(i.item<int64_t>() == 10000000006LL);  // would overflow int32
  CHECK_THROWS_WITH_AS(lax::dot_general(a, b, {{1}, {0}}, {}, int32), doctest::Contains("preferred_element_type"),
                       DTypeError);
}

TEST_CASE("dot_general: bool operands give the or of ands") {
  Array a = array(std::vector<bool>{true, false, false, false}, Shape{2, 2});
  Array b = array(std::vector<bool>{false, true, true, false}, Shape{2, 2});
  Array z = lax::dot_general(a, b, {{1}, {0}});
  CHECK(z.dtype() == bool_);
  CHECK(z.to_vector<int>() == std::vector<int>{0, 1, 0, 0});
}

TEST_CASE("dot_general: bad dimension numbers are reported with both shapes") {
  Array a = zeros({8, 3}), b = zeros({4, 5});
  CHECK_THROWS_WITH_AS(lax::dot_general(a, b, {{1}, {0}}),
                       doctest::Contains("[dot_general] contracting dimensions differ: lhs f32[8,3], rhs f32[4,5] (3 vs 4)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::dot_general(zeros({2, 3, 4}), zeros({3, 4, 5}), {{2}, {1}}, {{0}, {0}}),
                       doctest::Contains("batch dimensions differ"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::dot_general(a, b, {{1, 0}, {0}}), doctest::Contains("contracting dimensions but rhs"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::dot_general(a, b, {{2}, {0}}), doctest::Contains("out of range"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::dot_general(zeros({3, 3}), zeros({3, 3}), {{1}, {0}}, {{1}, {1}}),
                       doctest::Contains("more than once"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::dot_general(zeros({2, 3}), zeros({3, 2}, float64), {{1}, {0}}),
                       doctest::Contains("same dtype"), DTypeError);
}

TEST_CASE("dot_general: make_jaxpr records the dimension numbers") {
  auto jp = make_jaxpr([](const Array& a, const Array& b) { return matmul(a, b); })(zeros({2, 3, 4}), zeros({2, 4, 5}));
  std::string s = jp.str();
  CAPTURE(s);
  CHECK(s.find("c:f32[2,3,5] = dot_general[lhs_batch=(0,) lhs_contracting=(2,) rhs_batch=(0,) "
               "rhs_contracting=(1,)] a b") != std::string::npos);
}

// ---- matmul ----------------------------------------------------------------------------------

namespace {
// numpy matmul reference for >= 2-d operands with broadcast batch dims.
std::vector<double> ref_matmul(const Array& a, const Array& b, Shape* out_shape) {
  auto av = testing::values(a), bv = testing::values(b);
  Shape as = a.shape(), bs = b.shape();
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  size_t nb = std::max(ab.size(), bb.size());
  while (ab.size() < nb) ab.insert(ab.begin(), 1);
  while (bb.size() < nb) bb.insert(bb.begin(), 1);
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) batch[i] = ab[i] == 1 ? bb[i] : ab[i];
  *out_shape = batch;
  out_shape->push_back(M);
  out_shape->push_back(N);
  std::vector<double> out;
  for_each_index(batch, [&](const Dims& bi) {
    Dims ai(nb), bj(nb);
    for (size_t i = 0; i < nb; ++i) {
      ai[i] = ab[i] == 1 ? 0 : bi[i];
      bj[i] = bb[i] == 1 ? 0 : bi[i];
    }
    int64_t ao = offset(ab, ai) * M * K, bo = offset(bb, bj) * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += av[ao + m * K + k] * bv[bo + k * N + n];
        out.push_back(acc);
      }
  });
  return out;
}
}  // namespace

TEST_CASE("matmul: numpy semantics with broadcast batch dims") {
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {4, 5}},       {{2, 3, 4}, {4, 5}},    {{3, 4}, {2, 4, 5}}, {{2, 1, 3, 4}, {5, 4, 6}},
      {{2, 3, 4}, {2, 4, 5}}, {{1, 3, 4}, {2, 4, 5}}, {{0, 3, 4}, {4, 5}}, {{3, 0}, {0, 2}},
      {{64, 70}, {70, 33}},
  };
  for (DType dt : {float32, float64, int32}) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      CAPTURE(dtype_name(dt));
      CAPTURE(i);
      Array a = rand(shapes[i].first, dt, 7 + i), b = rand(shapes[i].second, dt, 70 + i);
      Shape os;
      auto ref = ref_matmul(a, b, &os);
      Array z = matmul(a, b);
      CHECK(z.shape() == os);
      CHECK(z.dtype() == dt);
      CHECK_ALLCLOSE_TOL(z, ref, rtol_for(dt), rtol_for(dt));
    }
  }
}

TEST_CASE("matmul: 1-d operands are promoted and their dim removed") {
  Array m = array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, Shape{2, 3});
  Array v3 = array({1.f, 0.f, -1.f}), v2 = array({2.f, -1.f});
  CHECK(matmul(m, v3).shape() == Shape{2});
  CHECK_ALLCLOSE(matmul(m, v3), std::vector<double>{-2, -2});
  CHECK(matmul(v2, m).shape() == Shape{3});
  CHECK_ALLCLOSE(matmul(v2, m), std::vector<double>{-2, -1, 0});
  CHECK(matmul(v3, v3).shape() == Shape{});
  CHECK(matmul(v3, v3).item<float>() == 2.f);
  Array batched = reshape(arange(12).astype(float32), {2, 3, 2});  // [2,3,2] . [2] -> [2,3]
  CHECK_ALLCLOSE(matmul(batched, v2), std::vector<double>{-1, 1, 3, 5, 7, 9});
  CHECK_ALLCLOSE(matmul(v3, batched), std::vector<double>{-4, -4, -4, -4});  // [3] . [2,3,2] -> [2,2]
}

TEST_CASE("matmul: mixed dtypes promote as numpy") {
  Array z = matmul(array({1, 2}, Shape{1, 2}), array({0.5f, 0.25f}, Shape{2, 1}));
  CHECK(z.dtype() == float32);
  CHECK_ALLCLOSE(z, std::vector<double>{1.0});
}

TEST_CASE("matmul: mismatched inner dimensions are reported with both shapes") {
  CHECK_THROWS_WITH_AS(matmul(zeros({8, 3}), zeros({4, 5})),
                       doctest::Contains("[matmul] inner dimensions differ: lhs f32[8,3], rhs f32[4,5] (3 vs 4)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({3}), zeros({4})), doctest::Contains("(3 vs 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({}), zeros({4})), doctest::Contains("at least 1-d"), ShapeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})), doctest::Contains("[matmul]"), ShapeError);
}

// ---- dot, outer, tensordot, trace ---------------------------------------------------------------

TEST_CASE("dot: numpy's contraction of the last and second-to-last axes") {
  Array a = rand({2, 3, 4}, float64, 3), b = rand({5, 4, 6}, float64, 4);
  Shape os;
  auto ref = ref_dot_general(testing::values(a), a.shape(), testing::values(b), b.shape(), {2}, {1}, {}, {}, &os);
  Array z = dot(a, b);
  CHECK(z.shape() == Shape{2, 3, 5, 6});
  CHECK_ALLCLOSE(z, ref);
  CHECK_ALLCLOSE(dot(array({1, 2, 3}), array({4, 5, 6})), std::vector<double>{32});
  CHECK_ALLCLOSE(dot(array({1.f, 2.f}), Array(3.0)), std::vector<double>{3, 6});
  CHECK_ALLCLOSE(dot(array({1.f, 2.f, 3.f, 4.f}, Shape{2, 2}), array({1.f, 1.f})), std::vector<double>{3, 7});
  CHECK_THROWS_WITH_AS(dot(zeros({2, 3}), zeros({2, 3})), doctest::Contains("[dot]"), ShapeError);
}

TEST_CASE("outer: flattens both operands") {
  Array z = outer(array({1, 2, 3}), array({1.f, 10.f, 100.f, 1000.f}, Shape{2, 2}));
  CHECK(z.shape() == Shape{3, 4});
  CHECK(z.dtype() == float32);
  CHECK_ALLCLOSE(z, std::vector<double>{1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000});
  CHECK(outer(zeros({0}), zeros({3})).shape() == Shape{0, 3});
}

TEST_CASE("tensordot: integer and axis-pair forms") {
  Array a = rand({2, 3, 4}, float64, 5), b = rand({3, 4, 5}, float64, 6);
  Shape os;
  auto ref = ref_dot_general(testing::values(a), a.shape(), testing::values(b), b.shape(), {1, 2}, {0, 1}, {}, {}, &os);
  CHECK_ALLCLOSE(tensordot(a, b, 2), ref);
  CHECK(tensordot(a, b, 2).shape() == Shape{2, 5});
  Array c = rand({4, 3, 5}, float64, 7);
  auto ref2 = ref_dot_general(testing::values(a), a.shape(), testing::values(c), c.shape(), {2, 1}, {0, 1}, {}, {}, &os);
  CHECK_ALLCLOSE(tensordot(a, c, std::pair<Axes, Axes>{{-1, 1}, {0, 1}}), ref2);
  CHECK(tensordot(a, b, 0).shape() == Shape{2, 3, 4, 3, 4, 5});
  CHECK_THROWS_WITH_AS(tensordot(a, c, 2), doctest::Contains("[tensordot]"), ShapeError);
  CHECK_THROWS_WITH_AS(tensordot(a, b, 4), doctest::Contains("cannot contract 4 axes"), ShapeError);
}

TEST_CASE("trace: offsets and axes") {
  // x[i, j] = 10 i + j on a 3x4 matrix
  std::vector<float> v;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) v.push_back(static_cast<float>(10 * i + j));
  Array x = array(v, Shape{3, 4});
  CHECK(trace(x).item<float>() == 0 + 11 + 22);
  CHECK(trace(x, 1).item<float>() == 1 + 12 + 23);
  CHECK(trace(x, -1).item<float>() == 10 + 21);
  CHECK(trace(x, 5).item<float>() == 0);
  CHECK(trace(x, 0, 1, 0).item<float>() == 0 + 11 + 22);
  CHECK(trace(x, 1, 1, 0).item<float>() == 10 + 21);  // offset counts along axis1
  Array y = rand({2, 3, 3}, float64, 9);
  auto yv = testing::values(y);
  CHECK_ALLCLOSE(trace(y, 0, 1, 2), std::vector<double>{yv[0] + yv[4] + yv[8], yv[9] + yv[13] + yv[17]});
  CHECK(trace(array({1, 2, 3, 4}, Shape{2, 2})).dtype() == int32);
  CHECK_THROWS_WITH_AS(trace(zeros({3})), doctest::Contains("[trace]"), ShapeError);
  CHECK_THROWS_WITH_AS(trace(zeros({3, 3}), 0, 1, 1), doctest::Contains("same axis"), ShapeError);
}

// ---- einsum ------------------------------------------------------------------------------------

TEST_CASE("einsum: the common specs match naive loops") {
  Array a = rand({3, 4}, float64, 11), b = rand({4, 5}, float64, 12), sq = rand({4, 4}, float64, 13);
  Array v = rand({4}, float64, 14), w = rand({4}, float64, 15);
  Array ba = rand({2, 3, 4}, float64, 16), bb = rand({2, 4, 5}, float64, 17);
  auto A = testing::values(a), B = testing::values(b), S = testing::values(sq), V = testing::values(v),
       W = testing::values(w);
  Shape os;
  SUBCASE("ij,jk->ik and implicit ij,jk") {
    auto ref = ref_dot_general(A, {3, 4}, B, {4, 5}, {1}, {0}, {}, {}, &os);
    CHECK_ALLCLOSE(einsum("ij,jk->ik", a, b), ref);
    CHECK_ALLCLOSE(einsum("ij,jk", a, b), ref);
    CHECK(einsum("ij, jk -> ik", a, b).shape() == Shape{3, 5});
  }
  SUBCASE("bij,bjk->bik") {
    auto ref = ref_dot_general(testing::values(ba), {2, 3, 4}, testing::values(bb), {2, 4, 5}, {2}, {1}, {0}, {0}, &os);
    CHECK_ALLCLOSE(einsum("bij,bjk->bik", ba, bb), ref);
  }
  SUBCASE("i,i-> and i,j->ij") {
    double dotv = 0;
    for (int i = 0; i < 4; ++i) dotv += V[i] * W[i];
    CHECK_ALLCLOSE(einsum("i,i->", v, w), std::vector<double>{dotv});
    std::vector<double> o;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) o.push_back(V[i] * W[j]);
    CHECK_ALLCLOSE(einsum("i,j->ij", v, w), o);
  }
  SUBCASE("ij->ji, ij->, ij->j") {
    std::vector<double> t, colsum(4, 0.0);
    double total = 0;
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 3; ++i) t.push_back(A[i * 4 + j]);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) total += A[i * 4 + j], colsum[j] += A[i * 4 + j];
    CHECK_ALLCLOSE(einsum("ij->ji", a), t);
    CHECK(einsum("ij->ji", a).shape() == Shape{4, 3});
    CHECK_ALLCLOSE(einsum("ij->", a), std::vector<double>{total});
    CHECK_ALLCLOSE(einsum("ij->j", a), colsum);
    CHECK_ALLCLOSE(einsum("ji", a), t);  // implicit mode sorts the output labels
  }
  SUBCASE("ii->i, ii and ij,jj->i (diagonals)") {
    CHECK_ALLCLOSE(einsum("ii->i", sq), std::vector<double>{S[0], S[5], S[10], S[15]});
    CHECK_ALLCLOSE(einsum("ii", sq), std::vector<double>{S[0] + S[5] + S[10] + S[15]});
    std::vector<double> ref;
    for (int i = 0; i < 3; ++i) {
      double acc = 0;
      for (int j = 0; j < 4; ++j) acc += A[i * 4 + j] * S[j * 5];
      ref.push_back(acc);
    }
    CHECK_ALLCLOSE(einsum("ij,jj->i", a, sq), ref);
  }
  SUBCASE("...ij,...jk->...ik with broadcasting") {
    auto ref = ref_dot_general(testing::values(ba), {2, 3, 4}, testing::values(bb), {2, 4, 5}, {2}, {1}, {0}, {0}, &os);
    CHECK_ALLCLOSE(einsum("...ij,...jk->...ik", ba, bb), ref);
    auto ref2 = ref_dot_general(testing::values(ba), {2, 3, 4}, B, {4, 5}, {2}, {0}, {}, {}, &os);
    CHECK_ALLCLOSE(einsum("...ij,jk->...ik", ba, b), ref2);
    CHECK(einsum("...ij,jk", ba, b).shape() == Shape{2, 3, 5});
    // size-1 ellipsis dims broadcast
    Array one = rand({1, 3, 4}, float64, 18);
    Shape ms;
    CHECK_ALLCLOSE(einsum("...ij,...jk->...ik", one, bb), ref_matmul(one, bb, &ms));
  }
  SUBCASE("three operands") {
    Array c = rand({5, 2}, float64, 19);
    auto ab = ref_dot_general(A, {3, 4}, B, {4, 5}, {1}, {0}, {}, {}, &os);
    auto ref = ref_dot_general(ab, {3, 5}, testing::values(c), {5, 2}, {1}, {0}, {}, {}, &os);
    CHECK_ALLCLOSE(einsum("ij,jk,kl->il", {a, b, c}), ref);
  }
  SUBCASE("float32 and int32") {
    Array ai = array({1, 2, 3, 4, 5, 6}, Shape{2, 3}), bi = array({1, 0, 2, 1, 0, 3}, Shape{3, 2});
    CHECK(einsum("ij,jk->ik", ai, bi).dtype() == int32);
    CHECK_ALLCLOSE(einsum("ij,jk->ik", ai, bi), std::vector<double>{5, 11, 14, 23});
    CHECK_ALLCLOSE(einsum("ij,jk->ik", ai.astype(float32), bi.astype(float32)), std::vector<double>{5, 11, 14, 23});
  }
}

TEST_CASE("einsum: bad specs are rejected") {
  Array a = zeros({3, 4}), b = zeros({5, 6});
  CHECK_THROWS_WITH_AS(einsum("ij,jk->ik", a, b), doctest::Contains("subscript 'j' has sizes 4 and 5"), ShapeError);
  CHECK_THROWS_WITH_AS(einsum("ijk->i", a), doctest::Contains("rank 2"), ShapeError);
  CHECK_THROWS_WITH_AS(einsum("ij->iz", a), doctest::Contains("'z' does not appear"), ValueError);
  CHECK_THROWS_WITH_AS(einsum("ij,jk->ik", a), doctest::Contains("names 2 operands but 1"), ValueError);
  CHECK_THROWS_WITH_AS(einsum("ii->i", a), doctest::Contains("subscript 'i' has sizes 3 and 4"), ShapeError);
  CHECK_THROWS_WITH_AS(einsum("i1->i", a), doctest::Contains("invalid character"), ValueError);
}

TEST_CASE("einsum: works under make_jaxpr as dot_general equations") {
  auto jp = make_jaxpr([](const Array& a, const Array& b) { return einsum("bij,bjk->bik", a, b); })(
      zeros({2, 3, 4}), zeros({2, 4, 5}));
  CHECK(jp.str().find("dot_general[lhs_batch=(0,) lhs_contracting=(2,) rhs_batch=(0,) rhs_contracting=(1,)]") !=
        std::string::npos);
}
