// Reductions, arg-reductions and cumulative scans: values against plain-loop references over
// shapes, axes, dtypes, keepdims, 0-d and empty arrays; numerics (pairwise float32 sums, NaN);
// errors; and the jaxprs the composite ops stage.
#include <functional>
#include <limits>
#include <numeric>

#include "backends/cpu/thread_pool.h"
#include "testing/testing.h"

using namespace jx;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

std::vector<int64_t> norm_axes(const Shape& shape, const Axes& axes) {
  std::vector<int64_t> out;
  int64_t nd = static_cast<int64_t>(shape.size());
  if (axes.empty()) {
    for (int64_t d = 0; d < nd; ++d) out.push_back(d);
  } else {
    for (int a : axes) out.push_back(a < 0 ? a + nd : a);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool contains(const std::vector<int64_t>& v, int64_t d) { return std::find(v.begin(), v.end(), d) != v.end(); }

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& axes, bool keepdims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (!contains(axes, d)) out.push_back(shape[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

// Reference reduction: every input element is folded into its output slot with `op`, in
// row-major order, in double precision.
std::vector<double> ref_reduce(const Shape& shape, const std::vector<double>& x, const std::vector<int64_t>& axes,
                               double init, const std::function<double(double, double)>& op) {
  Shape out_shape = reduced_shape(shape, axes, false);
  std::vector<double> out(static_cast<size_t>(shape_size(out_shape)), init);
  int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> idx(nd, 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t rem = static_cast<int64_t>(i);
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    int64_t o = 0;
    for (int64_t d = 0; d < nd; ++d) {
      if (!contains(axes, d)) o = o * shape[d] + idx[d];
    }
    out[o] = op(out[o], x[i]);
  }
  return out;
}

double ref_max(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? kNaN : std::max(a, b); }
double ref_min(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? kNaN : std::min(a, b); }

// Deterministic test data: small integers (exact in every dtype), or uniform floats.
Array int_data(const Shape& shape, DType dtype, int mod = 7, int offset = 3) {
  std::vector<double> v(static_cast<size_t>(shape_size(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(static_cast<int>((i * 5 + 2) % mod) - offset);
  return array(v, shape).astype(dtype);
}

const std::vector<Shape> kShapes = {{}, {5}, {2, 3, 4}, {3, 1, 5}, {0, 3}, {2, 0, 3}, {4, 50, 6}, {3, 300, 200}};

// Axes lists to try on a shape: all, each single axis (positive and negative), pairs.
std::vector<Axes> axes_for(const Shape& shape) {
  std::vector<Axes> out{{}};
  int nd = static_cast<int>(shape.size());
  for (int d = 0; d < nd; ++d) {
    out.push_back({d});
    out.push_back({d - nd});
  }
  for (int a = 0; a < nd; ++a)
    for (int b = a + 1; b < nd; ++b) out.push_back({b, a});
  return out;
}

}  // namespace

TEST_CASE("sum: matches a loop reference over shapes, axes, dtypes and keepdims") {
  for (DType dtype : {float32, float64, int32, int64, uint32}) {
    for (const Shape& shape : kShapes) {
      Array x = is_floating(dtype) ? testing::uniform(shape, -1, 1, dtype, 7) : int_data(shape, dtype, 7, 0);
      auto xv = testing::values(x);
      for (const Axes& axes : axes_for(shape)) {
        for (bool keepdims : {false, true}) {
          CAPTURE(dtype_name(dtype));
          CAPTURE(shape_str(shape));
          CAPTURE(keepdims);
          auto ax = norm_axes(shape, axes);
          Array y = sum(x, axes, keepdims);
          CHECK(y.dtype() == dtype);
          CHECK(y.shape() == reduced_shape(shape, ax, keepdims));
          auto ref = ref_reduce(shape, xv, ax, 0.0, std::plus<double>());
          // float32 sums of up to 180000 terms in [-1, 1]: allow a few ulps of the magnitude.
          CHECK_ALLCLOSE_TOL(y, ref, dtype == float32 ? 1e-5 : 1e-12, dtype == float32 ? 1e-3 : 1e-9);
        }
      }
    }
  }
}

TEST_CASE("sum: bool counts as int32; 0-d and empty arrays") {
  Array b = array(std::vector<bool>{true, false, true, true, false, true}, Shape{2, 3});
  Array s = sum(b);
  CHECK(s.dtype() == int32);
  CHECK(s.item<int>() == 4);
  CHECK_ALLCLOSE(sum(b, {0}), std::vector<double>{2, 0, 2});
  CHECK(sum(scalar(2.5)).item<float>() == 2.5f);
  CHECK(sum(scalar(2.5)).shape() == Shape{});
  CHECK(sum(zeros({0})).item<float>() == 0.0f);
  CHECK(sum(zeros({0, 3}), {0}).shape() == Shape{3});
  CHECK_ALLCLOSE(sum(zeros({0, 3}), {0}), std::vector<double>{0, 0, 0});
  CHECK(sum(zeros({0, 3}), {1}).shape() == Shape{0});
  CHECK(sum(zeros({2, 0}), {}, true).shape() == Shape{1, 1});
}

TEST_CASE("sum: float32 sums are accurate (pairwise, not sequential)") {
  // A sequential float32 loop gives about 100958 here (1% off).
  std::vector<float> tenth(1000000, 0.1f);
  Array x = array(tenth);
  CHECK(std::abs(sum(x).item<double>() - 1e5) <= 1e-3 * 1e5);
  // The same along a leading axis (strided rows) and a middle axis.
  Array cols = array(std::vector<float>(2000000, 0.1f), Shape{1000000, 2});
  CHECK_ALLCLOSE_TOL(sum(cols, {0}), (std::vector<double>{1e5, 1e5}), 1e-3, 0.0);
  Array mid = array(std::vector<float>(1000000, 0.1f), Shape{2, 250000, 2});
  CHECK_ALLCLOSE_TOL(sum(mid, {1}), (std::vector<double>{25000, 25000, 25000, 25000}), 1e-4, 0.0);
}

TEST_CASE("sum: results do not depend on the number of threads") {
  Array x = testing::uniform({7, 40000}, -1, 1, float64, 3);
  Array lead = testing::uniform({40000, 3}, -1, 1, float64, 4);
  auto xv = testing::values(x), lv = testing::values(lead);
  int saved = jx::cpu::num_threads();
  for (int threads : {1, 3, 8}) {
    CAPTURE(threads);
    jx::set_num_threads(threads);
    CHECK_ALLCLOSE(sum(x, {1}), ref_reduce({7, 40000}, xv, {1}, 0.0, std::plus<double>()));
    CHECK_ALLCLOSE(sum(x), ref_reduce({7, 40000}, xv, {0, 1}, 0.0, std::plus<double>()));
    CHECK_ALLCLOSE(sum(lead, {0}), ref_reduce({40000, 3}, lv, {0}, 0.0, std::plus<double>()));
    CHECK_ALLCLOSE(max(lead, {0}), ref_reduce({40000, 3}, lv, {0}, -kInf, ref_max));
  }
  jx::set_num_threads(saved);
}

TEST_CASE("prod: matches a loop reference; bool counts as int32; empty gives 1") {
  for (DType dtype : {float32, float64, int32, int64}) {
    for (const Shape& shape : {Shape{}, Shape{2, 3, 4}, Shape{0, 2}, Shape{3, 200, 3}}) {
      // Values near 1 keep long products finite.
      Array x = is_floating(dtype) ? testing::uniform(shape, 0.9, 1.1, dtype, 5) : int_data(shape, dtype, 3, 1);
      auto xv = testing::values(x);
      for (const Axes& axes : axes_for(shape)) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(shape_str(shape));
        auto ax = norm_axes(shape, axes);
        Array y = prod(x, axes, true);
        CHECK(y.dtype() == dtype);
        CHECK(y.shape() == reduced_shape(shape, ax, true));
        CHECK_ALLCLOSE_TOL(y, ref_reduce(shape, xv, ax, 1.0, std::multiplies<double>()),
                           dtype == float32 ? 1e-4 : 1e-12, 0.0);
      }
    }
  }
  Array b = array(std::vector<bool>{true, true, false, true}, Shape{2, 2});
  CHECK(prod(b).dtype() == int32);
  CHECK_ALLCLOSE(prod(b, {1}), std::vector<double>{1, 0});
  CHECK(prod(zeros({0})).item<float>() == 1.0f);
  CHECK(prod(array({2, 3, 4})).item<int>() == 24);
}

TEST_CASE("max/min: match a loop reference over shapes, axes and dtypes") {
  for (DType dtype : {float32, float64, int32, int64, uint32}) {
    for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3, 4}, Shape{4, 50, 6}, Shape{3, 300, 200}}) {
      Array x = is_floating(dtype) ? testing::uniform(shape, -5, 5, dtype, 9) : int_data(shape, dtype, 11, 0);
      auto xv = testing::values(x);
      for (const Axes& axes : axes_for(shape)) {
        for (bool keepdims : {false, true}) {
          CAPTURE(dtype_name(dtype));
          CAPTURE(shape_str(shape));
          auto ax = norm_axes(shape, axes);
          Array hi = max(x, axes, keepdims), lo = min(x, axes, keepdims);
          CHECK(hi.dtype() == dtype);
          CHECK(hi.shape() == reduced_shape(shape, ax, keepdims));
          CHECK(lo.shape() == reduced_shape(shape, ax, keepdims));
          CHECK_ALLCLOSE(hi, ref_reduce(shape, xv, ax, -kInf, ref_max));
          CHECK_ALLCLOSE(lo, ref_reduce(shape, xv, ax, kInf, ref_min));
        }
      }
    }
  }
  // Negative int32 and bool.
  CHECK(max(array({-7, -3, -9})).item<int>() == -3);
  CHECK(min(array(std::vector<uint32_t>{7, 4294967295u, 9})).item<uint32_t>() == 7u);
  Array b = array(std::vector<bool>{false, true, false, false}, Shape{2, 2});
  CHECK(max(b).dtype() == bool_);
  CHECK(max(b, {1}).to_vector<int>() == std::vector<int>{1, 0});
  CHECK(min(b, {0}).to_vector<int>() == std::vector<int>{0, 0});
}

TEST_CASE("max/min: NaN propagates, infinities are ordinary values") {
  Array x = array(std::vector<double>{1, kNaN, 3, -kInf, 2, 5}, Shape{2, 3});
  CHECK_ALLCLOSE(max(x, {1}), std::vector<double>{kNaN, 5});
  CHECK_ALLCLOSE(min(x, {1}), std::vector<double>{kNaN, -kInf});
  CHECK_ALLCLOSE(max(x, {0}), std::vector<double>{1, kNaN, 5});
  CHECK(std::isnan(max(x).item<double>()));
  // NaN in the last position of a long contiguous row and of a strided column.
  std::vector<float> v(1000, 1.0f);
  v.back() = std::nanf("");
  CHECK(std::isnan(max(array(v)).item<float>()));
  CHECK(std::isnan(min(array(v, Shape{500, 2}), {0}).to_vector<float>()[1]));
  CHECK(min(array(v, Shape{500, 2}), {0}).to_vector<float>()[0] == 1.0f);
  // NaN in the unrolled body and in the tail of a short row; rows without NaN are unaffected.
  std::vector<double> w(26, 2.0);
  w[3] = kNaN;
  w[13 + 12] = kNaN;
  w[13 + 5] = 7.0;
  CHECK_ALLCLOSE(max(array(w, Shape{2, 13}), {1}), std::vector<double>{kNaN, kNaN});
  CHECK_ALLCLOSE(min(array(w, Shape{2, 13}), {1}), std::vector<double>{kNaN, kNaN});
  w[3] = 2.0;
  w[13 + 12] = 2.0;
  w[7] = -kInf;
  CHECK_ALLCLOSE(max(array(w, Shape{2, 13}), {1}), std::vector<double>{2.0, 7.0});
  CHECK_ALLCLOSE(min(array(w, Shape{2, 13}), {1}), std::vector<double>{-kInf, 2.0});
  CHECK(max(array(std::vector<float>(20, -INFINITY))).item<float>() == -INFINITY);
}

TEST_CASE("max/min: empty reductions are errors; empty outputs are not") {
  CHECK_THROWS_WITH_AS(max(zeros({0})), doctest::Contains("zero-size array to reduction operation max"), ValueError);
  CHECK_THROWS_WITH_AS(min(zeros({2, 0}), {1}), doctest::Contains("zero-size array to reduction operation min"),
                       ValueError);
  CHECK(max(zeros({0, 3}), {1}).shape() == Shape{0});
  // The lax primitive has an identity instead.
  CHECK(lax::reduce_max(zeros({0}), {0}).item<float>() == -std::numeric_limits<float>::infinity());
  CHECK(lax::reduce_min(zeros({0}, int32), {0}).item<int>() == std::numeric_limits<int>::max());
}

TEST_CASE("mean: sum over count; integers give float32") {
  Array x = array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, Shape{2, 3});
  CHECK_ALLCLOSE(mean(x), std::vector<double>{3.5});
  CHECK_ALLCLOSE(mean(x, {0}), std::vector<double>{2.5, 3.5, 4.5});
  CHECK_ALLCLOSE(mean(x, {-1}, true), std::vector<double>{2, 5});
  CHECK(mean(x, {-1}, true).shape() == Shape{2, 1});
  Array i = array({1, 2, 3, 4}, Shape{2, 2});
  CHECK(mean(i).dtype() == float32);
  CHECK_ALLCLOSE(mean(i, {1}), std::vector<double>{1.5, 3.5});
  CHECK(mean(array(std::vector<bool>{true, false, true, true})).item<float>() == 0.75f);
  Array d = testing::uniform({3, 4, 5}, -2, 2, float64, 11);
  auto dv = testing::values(d);
  auto s = ref_reduce({3, 4, 5}, dv, {0, 2}, 0.0, std::plus<double>());
  for (auto& e : s) e /= 15.0;
  CHECK(mean(d, {0, 2}).dtype() == float64);
  CHECK_ALLCLOSE(mean(d, {2, 0}), s);
  CHECK(std::isnan(mean(zeros({0})).item<float>()));
  CHECK(mean(scalar(4.0, float64)).item<double>() == 4.0);
}

TEST_CASE("var: matches the two-pass formula; ddof; integers give float32") {
  Array d = testing::uniform({4, 6}, -3, 3, float64, 13);
  auto dv = testing::values(d);
  for (int ddof : {0, 1}) {
    for (int axis : {0, 1}) {
      std::vector<double> ref;
      int n = axis == 0 ? 4 : 6, m = axis == 0 ? 6 : 4;
      for (int j = 0; j < m; ++j) {
        auto at = [&](int k) { return axis == 0 ? dv[k * 6 + j] : dv[j * 6 + k]; };
        double mu = 0;
        for (int k = 0; k < n; ++k) mu += at(k);
        mu /= n;
        double ss = 0;
        for (int k = 0; k < n; ++k) ss += (at(k) - mu) * (at(k) - mu);
        ref.push_back(ss / (n - ddof));
      }
      CAPTURE(ddof);
      CAPTURE(axis);
      CHECK_ALLCLOSE(var(d, {axis}, false, ddof), ref);
      CHECK(var(d, {axis}, true, ddof).shape() == (axis == 0 ? Shape{1, 6} : Shape{4, 1}));
    }
  }
  Array i = array({1, 2, 3, 4});
  CHECK(var(i).dtype() == float32);
  CHECK_ALLCLOSE(var(i), std::vector<double>{1.25});
  CHECK_ALLCLOSE(var(i, {}, false, 1), std::vector<double>{5.0 / 3.0});
  CHECK(std::isinf(var(array({1.f}), {}, false, 1).item<float>()) == false);  // 0/0 is nan
  CHECK(std::isnan(var(array({1.f}), {}, false, 1).item<float>()));
  CHECK(var(scalar(3.0)).item<float>() == 0.0f);
}

TEST_CASE("all/any: logical reductions; numbers are truthy when nonzero; empty identities") {
  Array b = array(std::vector<bool>{true, false, true, true, true, true}, Shape{2, 3});
  CHECK(all(b).dtype() == bool_);
  CHECK_FALSE(all(b).item<bool>());
  CHECK(any(b).item<bool>());
  CHECK(all(b, {0}).to_vector<int>() == std::vector<int>{1, 0, 1});
  CHECK(all(b, {1}).to_vector<int>() == std::vector<int>{0, 1});
  CHECK(any(b, {1}, true).shape() == Shape{2, 1});
  Array f = array(std::vector<double>{0.0, 0.5, kNaN, 0.0}, Shape{2, 2});
  CHECK(any(f, {1}).to_vector<int>() == std::vector<int>{1, 1});
  CHECK(all(f, {0}).to_vector<int>() == std::vector<int>{0, 0});
  CHECK(all(f, {1}).to_vector<int>() == std::vector<int>{0, 0});
  CHECK(all(array({1, 2, 3})).item<bool>());
  CHECK(all(zeros({0})).item<bool>());
  CHECK_FALSE(any(zeros({0})).item<bool>());
  // A long bool axis (parallel path) with one false at the end.
  std::vector<bool> many(100000, true);
  many.back() = false;
  CHECK_FALSE(all(array(many)).item<bool>());
  CHECK(any(array(many)).item<bool>());
}

TEST_CASE("argmax/argmin: first occurrence along an axis, int32, keepdims") {
  Array x = array({3.f, 7.f, 7.f, 1.f, 1.f, 9.f}, Shape{2, 3});
  CHECK(argmax(x, 1).dtype() == int32);
  CHECK(argmax(x, 1).to_vector<int>() == std::vector<int>{1, 2});
  CHECK(argmin(x, 1).to_vector<int>() == std::vector<int>{0, 0});
  CHECK(argmax(x, 0).to_vector<int>() == std::vector<int>{0, 0, 1});
  CHECK(argmin(x, -2).to_vector<int>() == std::vector<int>{1, 1, 0});
  CHECK(argmax(x, -1, true).shape() == Shape{2, 1});
  CHECK(argmax(array({5}), 0).item<int>() == 0);
  CHECK(argmax(zeros({0, 3}), 1).shape() == Shape{0});
  // Against a loop reference, for every axis of a larger array and several dtypes (the middle
  // extent > 128 exercises column tiles).
  for (DType dtype : {float32, float64, int32, uint32, bool_}) {
    Shape shape{3, 5, 150};
    Array a = dtype == bool_ ? int_data(shape, int32, 2, 0).astype(bool_) : int_data(shape, dtype, 13, 0);
    auto av = testing::values(a);
    for (int axis = 0; axis < 3; ++axis) {
      std::vector<double> ref_hi, ref_lo;
      Shape out_shape = reduced_shape(shape, {axis}, false);
      std::vector<int64_t> strides{750, 150, 1};
      for (int64_t o = 0; o < shape_size(out_shape); ++o) {
        // Unflatten o over the kept dims.
        int64_t base = 0, rem = o;
        for (int d = 2; d >= 0; --d) {
          if (d == axis) continue;
          base += (rem % shape[d]) * strides[d];
          rem /= shape[d];
        }
        int hi = 0, lo = 0;
        for (int k = 1; k < shape[axis]; ++k) {
          double v = av[base + k * strides[axis]];
          if (v > av[base + hi * strides[axis]]) hi = k;
          if (v < av[base + lo * strides[axis]]) lo = k;
        }
        ref_hi.push_back(hi);
        ref_lo.push_back(lo);
      }
      CAPTURE(dtype_name(dtype));
      CAPTURE(axis);
      CHECK_ALLCLOSE(argmax(a, axis), ref_hi);
      CHECK_ALLCLOSE(argmin(a, axis), ref_lo);
    }
  }
}

TEST_CASE("argmax/argmin: the first NaN wins, as in JAX") {
  Array x = array(std::vector<double>{1, kNaN, 5, kNaN, 0, 2}, Shape{2, 3});
  CHECK(argmax(x, 1).to_vector<int>() == std::vector<int>{1, 0});
  CHECK(argmin(x, 1).to_vector<int>() == std::vector<int>{1, 0});
  CHECK(argmax(x, 0).to_vector<int>() == std::vector<int>{1, 0, 0});
  CHECK(argmin(x, 0).to_vector<int>() == std::vector<int>{1, 0, 1});
  Array inf = array(std::vector<float>{-INFINITY, -INFINITY, 1.0f});
  CHECK(argmax(inf, 0).item<int>() == 2);
  CHECK(argmin(inf, 0).item<int>() == 0);
}

TEST_CASE("cumsum/cumprod: running totals along an axis") {
  Array x = array({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CHECK(cumsum(x, 1).dtype() == int32);
  CHECK_ALLCLOSE(cumsum(x, 1), std::vector<double>{1, 3, 6, 4, 9, 15});
  CHECK_ALLCLOSE(cumsum(x, 0), std::vector<double>{1, 2, 3, 5, 7, 9});
  CHECK_ALLCLOSE(cumsum(x, -2), std::vector<double>{1, 2, 3, 5, 7, 9});
  CHECK_ALLCLOSE(cumprod(x, 1), std::vector<double>{1, 2, 6, 4, 20, 120});
  CHECK_ALLCLOSE(cumprod(x, 0), std::vector<double>{1, 2, 3, 4, 10, 18});
  Array b = array(std::vector<bool>{true, false, true});
  CHECK(cumsum(b, 0).dtype() == int32);
  CHECK_ALLCLOSE(cumsum(b, 0), std::vector<double>{1, 1, 2});
  CHECK(cumsum(zeros({0, 2}), 0).shape() == Shape{0, 2});
  // A middle axis with > 128 columns against a loop reference, float64 and float32.
  for (DType dtype : {float64, float32, int64}) {
    Shape shape{2, 4, 130};
    Array a = dtype == int64 ? int_data(shape, dtype) : testing::uniform(shape, -1, 1, dtype, 17);
    auto av = testing::values(a);
    std::vector<double> ref(av.size());
    for (int o = 0; o < 2; ++o)
      for (int j = 0; j < 130; ++j) {
        double acc = 0;
        for (int r = 0; r < 4; ++r) {
          acc += av[(o * 4 + r) * 130 + j];
          ref[(o * 4 + r) * 130 + j] = acc;
        }
      }
    CAPTURE(dtype_name(dtype));
    CHECK(cumsum(a, 1).dtype() == dtype);
    CHECK_ALLCLOSE(cumsum(a, 1), ref);
  }
}

TEST_CASE("cumsum/cumprod: the reverse parameter of the primitives scans from the end") {
  Array x = array({1.f, 2.f, 3.f, 4.f});
  Params p{{"axis", int64_t{0}}, {"reverse", true}};
  CHECK_ALLCLOSE(bind1(cumsum_p, {x}, p), std::vector<double>{10, 9, 7, 4});
  CHECK_ALLCLOSE(bind1(cumprod_p, {x}, p), std::vector<double>{24, 24, 12, 4});
}

TEST_CASE("lax::reduce_*: explicit axes, identities, validated by the shape rule") {
  Array x = array({1.f, 5.f, 3.f, 4.f, 2.f, 6.f}, Shape{2, 3});
  CHECK_ALLCLOSE(lax::reduce_sum(x, {0}), std::vector<double>{5, 7, 9});
  CHECK_ALLCLOSE(lax::reduce_max(x, {1}), std::vector<double>{5, 6});
  CHECK_ALLCLOSE(lax::reduce_min(x, {1, 0}), std::vector<double>{1});
  CHECK_ALLCLOSE(lax::reduce_prod(x, {1}), std::vector<double>{15, 48});
  CHECK_ALLCLOSE(lax::reduce_sum(x, {}), std::vector<double>{1, 5, 3, 4, 2, 6});
  CHECK_THROWS_WITH_AS(lax::reduce_sum(x, {2}), doctest::Contains("[reduce_sum] axis 2 is out of range for f32[2,3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::reduce_max(x, {-1}), doctest::Contains("axis -1 is out of range"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::reduce_prod(x, {1, 1}), doctest::Contains("sorted and distinct"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::reduce_sum(array(std::vector<bool>{true}), {0}), doctest::Contains("bool[1]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(bind1(reduce_and_p, {x}, Params{{"axes", std::vector<int64_t>{0}}}),
                       doctest::Contains("[reduce_and] needs a bool or integer operand, got f32[2,3]"), DTypeError);
  CHECK_THROWS_WITH_AS(bind1(argmax_p, {zeros({2, 0})},
                             Params{{"axes", std::vector<int64_t>{1}}, {"index_dtype", int32}}),
                       doctest::Contains("empty"), ShapeError);
}

TEST_CASE("reductions: bad axes are reported with the operand and the caller's line") {
  Array x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(sum(x, {3}), doctest::Contains("[sum] axis 3 is out of range for f32[2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(sum(x, {-3}), doctest::Contains("[sum] axis -3 is out of range for f32[2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(sum(x, {0, -2}), doctest::Contains("[sum] repeated axis"), ShapeError);
  CHECK_THROWS_WITH_AS(mean(x, {2}), doctest::Contains("[mean] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(prod(x, {2}), doctest::Contains("[prod] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(max(x, {2}), doctest::Contains("[max] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(min(x, {2}), doctest::Contains("[min] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(var(x, {2}), doctest::Contains("[var] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(all(x, {2}), doctest::Contains("[all] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(any(x, {2}), doctest::Contains("[any] axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(argmax(x, 2), doctest::Contains("[argmax] axis 2 is out of range for f32[2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(argmin(x, -3), doctest::Contains("[argmin] axis -3"), ShapeError);
  CHECK_THROWS_WITH_AS(cumsum(x, 2), doctest::Contains("[cumsum] axis 2 is out of range for f32[2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(cumprod(scalar(1.0), 0), doctest::Contains("[cumprod] axis 0 is out of range for f32[]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(sum(scalar(1.0), {0}), doctest::Contains("for f32[]"), ShapeError);
  CHECK_THROWS_WITH_AS(argmax(zeros({0}), 0), doctest::Contains("argmax of an empty sequence"), ValueError);
  CHECK_THROWS_WITH_AS(argmin(zeros({3, 0}), 1), doctest::Contains("argmin of an empty sequence"), ValueError);
  try {
    sum(x, {5});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("reduce_test.cpp:") != std::string::npos);
  }
}

TEST_CASE("reductions: jaxprs as JAX stages them") {
  Array x = zeros({3, 4});
  CHECK(make_jaxpr([](const Array& a) { return sum(a, {0}); })(x).str() ==
        "{ lambda ; a:f32[3,4]. let\n"
        "    b:f32[4] = reduce_sum[axes=(0,)] a\n"
        "  in (b,) }");
  CHECK(make_jaxpr([](const Array& a) { return mean(a, {-1}); })(x).str() ==
        "{ lambda ; a:f32[3,4]. let\n"
        "    b:f32[3] = reduce_sum[axes=(1,)] a\n"
        "    c:f32[3] = div b 4.0:f32[]\n"
        "  in (c,) }");
  CHECK(make_jaxpr([](const Array& a) { return max(a, {}, true); })(x).str() ==
        "{ lambda ; a:f32[3,4]. let\n"
        "    b:f32[] = reduce_max[axes=(0, 1)] a\n"
        "    c:f32[1,1] = broadcast_in_dim[broadcast_dimensions=() shape=(1, 1)] b\n"
        "  in (c,) }");
  CHECK(make_jaxpr([](const Array& a) { return argmax(a, 1); })(x).str() ==
        "{ lambda ; a:f32[3,4]. let\n"
        "    b:i32[3] = argmax[axes=(1,) index_dtype=int32] a\n"
        "  in (b,) }");
  CHECK(make_jaxpr([](const Array& a) { return cumsum(a, 0); })(x).str() ==
        "{ lambda ; a:f32[3,4]. let\n"
        "    b:f32[3,4] = cumsum[axis=0 reverse=False] a\n"
        "  in (b,) }");
  auto all_jp = make_jaxpr([](const Array& a) { return all(a); })(x).str();
  CHECK(all_jp.find("convert_element_type[new_dtype=bool weak_type=False] a") != std::string::npos);
  CHECK(all_jp.find("reduce_and[axes=(0, 1)]") != std::string::npos);
  auto prod_jp = make_jaxpr([](const Array& a) { return prod(a, {1}); })(x).str();
  CHECK(prod_jp.find("reduce_prod[axes=(1,)]") != std::string::npos);
  auto min_jp = make_jaxpr([](const Array& a) { return min(a, {0}); })(x).str();
  CHECK(min_jp.find("reduce_min[axes=(0,)]") != std::string::npos);
  auto var_jp = make_jaxpr([](const Array& a) { return var(a, {0}); })(x).str();
  CHECK(var_jp.find("reduce_sum[axes=(0,)]") != std::string::npos);
  CHECK(var_jp.find("sub") != std::string::npos);
  // Traced reductions evaluate like eager ones.
  Array v = array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, Shape{2, 3});
  auto jp = make_jaxpr([](const Array& a) { return sum(a, {1}); })(v);
  auto outs = eval_jaxpr(*jp.jaxpr, jp.consts, std::vector<Array>{v});
  CHECK_ALLCLOSE(outs[0], std::vector<double>{6, 15});
}

TEST_CASE("std: the square root of var, with ddof; integers give float32") {
  Array d = testing::uniform({5, 3}, -2, 2, float64, 19);
  auto dv = testing::values(d);
  for (int ddof : {0, 1}) {
    std::vector<double> ref;
    for (int j = 0; j < 3; ++j) {
      double mu = 0, ss = 0;
      for (int k = 0; k < 5; ++k) mu += dv[k * 3 + j];
      mu /= 5;
      for (int k = 0; k < 5; ++k) ss += (dv[k * 3 + j] - mu) * (dv[k * 3 + j] - mu);
      ref.push_back(std::sqrt(ss / (5 - ddof)));
    }
    CAPTURE(ddof);
    CHECK_ALLCLOSE(jx::std(d, {0}, false, ddof), ref);
    CHECK(jx::std(d, {0}, true, ddof).shape() == Shape{1, 3});
  }
  CHECK(jx::std(array({1, 3})).dtype() == float32);
  CHECK_ALLCLOSE(jx::std(array({1, 3})), std::vector<double>{1.0});
  CHECK_THROWS_WITH_AS(jx::std(d, {2}), doctest::Contains("[std] axis 2 is out of range for f64[5,3]"), ShapeError);
}

TEST_CASE("logsumexp: matches log(sum(exp)) and stays finite for huge inputs") {
  for (DType dtype : {float32, float64}) {
    Shape shape{3, 4, 5};
    Array x = testing::uniform(shape, -3, 3, dtype, 23);
    auto xv = testing::values(x);
    for (const Axes& axes : axes_for(shape)) {
      for (bool keepdims : {false, true}) {
        auto ax = norm_axes(shape, axes);
        auto ref = ref_reduce(shape, xv, ax, 0.0, [](double acc, double v) { return acc + std::exp(v); });
        for (auto& e : ref) e = std::log(e);
        CAPTURE(dtype_name(dtype));
        CAPTURE(keepdims);
        Array y = logsumexp(x, axes, keepdims);
        CHECK(y.dtype() == dtype);
        CHECK(y.shape() == reduced_shape(shape, ax, keepdims));
        CHECK_ALLCLOSE(y, ref);
      }
    }
  }
  Array big = array(std::vector<double>{1000, 1000, -1000, -1000}, Shape{2, 2});
  CHECK_ALLCLOSE(logsumexp(big, {1}), std::vector<double>{1000 + std::log(2.0), -1000 + std::log(2.0)});
  CHECK_ALLCLOSE(logsumexp(array({89.f, 89.f})), std::vector<double>{89 + std::log(2.0)});
}

TEST_CASE("logsumexp: infinities, NaN, integers and empty reductions") {
  Array x = array(std::vector<double>{-kInf, -kInf, 0.0, -kInf, kInf, 1.0, kNaN, 1.0}, Shape{4, 2});
  auto y = logsumexp(x, {1}).to_vector<double>();
  CHECK(y[0] == -kInf);
  CHECK(y[1] == doctest::Approx(0.0));
  CHECK(y[2] == kInf);
  CHECK(std::isnan(y[3]));
  CHECK(logsumexp(array({0, 0})).dtype() == float32);
  CHECK_ALLCLOSE(logsumexp(array({0, 0})), std::vector<double>{std::log(2.0)});
  CHECK(logsumexp(zeros({0})).item<float>() == -std::numeric_limits<float>::infinity());
  CHECK(logsumexp(zeros({2, 0}), {1}, true).shape() == Shape{2, 1});
  CHECK(logsumexp(scalar(1.5, float64)).item<double>() == doctest::Approx(1.5));
  CHECK_THROWS_WITH_AS(logsumexp(zeros({2}), {1}), doctest::Contains("[logsumexp] axis 1 is out of range for f32[2]"),
                       ShapeError);
  auto jp = make_jaxpr([](const Array& a) { return logsumexp(a, {1}); })(zeros({3, 4})).str();
  for (const char* piece : {"reduce_max[axes=(1,)] a", "is_finite", "stop_gradient", "exp", "reduce_sum[axes=(1,)]",
                            "log", "add"}) {
    CAPTURE(piece);
    CHECK(jp.find(piece) != std::string::npos);
  }
}
