// reduce_window_{sum,max,min}, lax::reduce_window, max_pool and avg_pool: values against naive
// loops (padding, strides, base/window dilation), dtypes, 0-size dims, errors, jaxpr.
#include <cmath>
#include <functional>
#include <limits>

#include "core/trace.h"
#include "testing/testing.h"

using namespace jx;

namespace {

using Dims = std::vector<int64_t>;
using Pads = std::vector<std::pair<int64_t, int64_t>>;

using testing::for_each_index;

// Naive windowed reduction: explicitly builds the dilated, padded operand (identity in holes).
std::vector<double> ref_window(const std::vector<double>& x, const Shape& xs, char op, const Dims& win,
                               const Dims& strides, const Pads& pads, Shape* out_shape, const Dims& bd_in = {},
                               const Dims& wd_in = {}) {
  const size_t nd = xs.size();
  Dims bd = bd_in.empty() ? Dims(nd, 1) : bd_in, wd = wd_in.empty() ? Dims(nd, 1) : wd_in;
  const double init = op == '+' ? 0.0 : op == 'M' ? -INFINITY : INFINITY;
  Shape ps(nd);
  for (size_t d = 0; d < nd; ++d) ps[d] = (xs[d] == 0 ? 0 : (xs[d] - 1) * bd[d] + 1) + pads[d].first + pads[d].second;
  std::vector<double> padded(static_cast<size_t>(shape_size(ps)), init);
  auto off = [](const Shape& s, const Dims& i) {
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) o = o * s[d] + i[d];
    return o;
  };
  for_each_index(xs, [&](const Dims& i) {
    Dims p(nd);
    for (size_t d = 0; d < nd; ++d) p[d] = i[d] * bd[d] + pads[d].first;
    padded[off(ps, p)] = x[off(xs, i)];
  });
  Shape os(nd);
  for (size_t d = 0; d < nd; ++d) {
    int64_t weff = (win[d] - 1) * wd[d] + 1;
    os[d] = ps[d] < weff ? 0 : (ps[d] - weff) / strides[d] + 1;
  }
  *out_shape = os;
  std::vector<double> out;
  for_each_index(os, [&](const Dims& o) {
    double acc = init;
    for_each_index(Shape(win.begin(), win.end()), [&](const Dims& k) {
      Dims p(nd);
      for (size_t d = 0; d < nd; ++d) p[d] = o[d] * strides[d] + k[d] * wd[d];
      double v = padded[off(ps, p)];
      acc = op == '+' ? acc + v : op == 'M' ? std::max(acc, v) : std::min(acc, v);
    });
    out.push_back(acc);
  });
  return out;
}

Array rand(const Shape& s, DType dt, unsigned seed) {
  if (dt == bool_) return testing::uniform(s, 0, 1, float64, seed) > 0.5;
  if (!is_floating(dt)) return testing::uniform(s, -50, 50, float64, seed).astype(dt);
  return testing::uniform(s, -1, 1, dt, seed);
}

struct WinCfg {
  Shape x;
  Dims win, strides;
  Pads pads;
};

}  // namespace

TEST_CASE("reduce_window: sum, max and min match naive loops") {
  std::vector<WinCfg> cfgs = {
      {{2, 6, 5, 3}, {1, 2, 2, 1}, {1, 2, 2, 1}, {{0, 0}, {0, 0}, {0, 0}, {0, 0}}},  // pooling-like
      {{2, 6, 5, 3}, {1, 3, 3, 1}, {1, 1, 2, 1}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}},  // padded
      {{7, 5}, {3, 2}, {2, 1}, {{1, 0}, {0, 1}}},                                     // rank 2
      {{4, 5, 3}, {2, 2, 2}, {1, 2, 1}, {{0, 1}, {2, 0}, {0, 0}}},                    // window over every dim
      {{1, 3, 3, 1}, {1, 2, 2, 1}, {1, 1, 1, 1}, {{0, 0}, {2, 2}, {0, 0}, {0, 0}}},   // all-padding windows
      {{1, 5, 5, 2}, {1, 4, 4, 1}, {1, 4, 4, 1}, {{0, 0}, {0, 0}, {0, 0}, {0, 0}}},   // window larger than stride
  };
  struct OpCase {
    lax::Monoid m;
    char c;
  };
  for (OpCase oc : {OpCase{lax::Monoid::add, '+'}, OpCase{lax::Monoid::max, 'M'}, OpCase{lax::Monoid::min, 'm'}}) {
    for (DType dt : {float32, float64, int32, bool_}) {
      if (dt == bool_ && oc.c == '+') continue;
      for (size_t i = 0; i < cfgs.size(); ++i) {
        CAPTURE(oc.c);
        CAPTURE(dtype_name(dt));
        CAPTURE(i);
        const auto& c = cfgs[i];
        Array x = rand(c.x, dt, 3 + i);
        Shape os;
        auto ref = ref_window(testing::values(x), c.x, oc.c, c.win, c.strides, c.pads, &os);
        if (!is_floating(dt)) {  // identities of integer/bool monoids are the type's extremes
          double lo = dt == bool_ ? 0 : std::numeric_limits<int32_t>::lowest();
          double hi = dt == bool_ ? 1 : std::numeric_limits<int32_t>::max();
          for (auto& v : ref) v = std::isinf(v) ? (v < 0 ? lo : hi) : v;
        }
        Array init = oc.c == '+' ? Array(0) : oc.c == 'M' ? Array(-INFINITY) : Array(INFINITY);
        if (!is_floating(dt)) {
          double id = oc.c == '+' ? 0.0 : oc.c == 'M' ? (dt == bool_ ? 0.0 : -2147483648.0) : (dt == bool_ ? 1.0 : 2147483647.0);
          init = scalar(id, dt);
        }
        Array y = lax::reduce_window(x, init, oc.m, c.win, c.strides, Padding(c.pads));
        CHECK(y.shape() == os);
        CHECK(y.dtype() == dt);
        CHECK_ALLCLOSE_TOL(y, ref, 1e-5, 1e-5);
      }
    }
  }
}

TEST_CASE("reduce_window: base and window dilation") {
  Array x = rand({5, 6}, float64, 9);
  Params p{{"window_dimensions", Dims{2, 3}},
           {"window_strides", Dims{1, 2}},
           {"padding", IntPairs{{1, 0}, {0, 2}}},
           {"base_dilation", Dims{2, 1}},
           {"window_dilation", Dims{1, 2}}};
  for (auto [prim, c] : {std::pair{reduce_window_sum_p, '+'}, {reduce_window_max_p, 'M'}, {reduce_window_min_p, 'm'}}) {
    CAPTURE(c);
    Array y = bind1(prim, {x}, p);
    Shape os;
    auto ref = ref_window(testing::values(x), {5, 6}, c, {2, 3}, {1, 2}, {{1, 0}, {0, 2}}, &os, {2, 1}, {1, 2});
    CHECK(y.shape() == os);
    CHECK_ALLCLOSE(y, ref);
  }
}

TEST_CASE("reduce_window: SAME padding and zero-size dims") {
  Array x = rand({1, 5, 4, 2}, float32, 11);
  Array y = lax::reduce_window(x, 0.0, lax::Monoid::add, {1, 3, 3, 1}, {1, 2, 2, 1}, "SAME");
  // H: out 3, pad 2*2+3-5 = 2 -> (1, 1); W: out 2, pad 1*2+3-4 = 1 -> (0, 1)
  Shape os;
  auto ref = ref_window(testing::values(x), {1, 5, 4, 2}, '+', {1, 3, 3, 1}, {1, 2, 2, 1},
                        {{0, 0}, {1, 1}, {0, 1}, {0, 0}}, &os);
  CHECK(y.shape() == Shape{1, 3, 2, 2});
  CHECK_ALLCLOSE_TOL(y, ref, 1e-5, 1e-5);
  CHECK(lax::reduce_window(zeros({0, 4}), 0.0, lax::Monoid::add, {1, 2}, {1, 1}).shape() == Shape{0, 3});
  CHECK(lax::reduce_window(zeros({2, 1}), 0.0, lax::Monoid::add, {1, 2}, {1, 1}).shape() == Shape{2, 0});
  CHECK(max_pool(zeros({0, 4, 4, 3}), {2, 2}).shape() == Shape{0, 2, 2, 3});
}

TEST_CASE("max_pool: windows over the spatial dims of NHWC input") {
  // x[0, h, w, 0] = 3h + w + 1 on 3x3
  Array x = array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f}, Shape{1, 3, 3, 1});
  CHECK_ALLCLOSE(max_pool(x, {2, 2}, {1, 1}), std::vector<double>{5, 6, 8, 9});
  CHECK_ALLCLOSE(max_pool(x, {2, 2}), std::vector<double>{5});  // strides default to the window
  CHECK_ALLCLOSE(max_pool(x, {2, 2}, {1, 1}, "SAME"), std::vector<double>{5, 6, 6, 8, 9, 9, 8, 9, 9});
  CHECK_ALLCLOSE(max_pool(-x, {2, 2}, {2, 2}, {{1, 0}, {1, 0}}), std::vector<double>{-1, -2, -4, -5});
  Array xi = x.astype(int32);
  CHECK(max_pool(xi, {2, 2}, {1, 1}).dtype() == int32);
  CHECK_ALLCLOSE(max_pool(xi, {3, 1}, {1, 1}), std::vector<double>{7, 8, 9});
  Array big = rand({2, 8, 7, 5}, float32, 12);
  Shape os;
  auto ref = ref_window(testing::values(big), {2, 8, 7, 5}, 'M', {1, 3, 3, 1}, {1, 2, 2, 1},
                        {{0, 0}, {0, 1}, {1, 1}, {0, 0}}, &os);
  CHECK_ALLCLOSE(max_pool(big, {3, 3}, {2, 2}, "SAME"), ref);
}

TEST_CASE("avg_pool: divides by the full window, padding included") {
  Array x = array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f}, Shape{1, 3, 3, 1});
  CHECK_ALLCLOSE(avg_pool(x, {2, 2}, {1, 1}), std::vector<double>{3, 4, 6, 7});
  // SAME pads (0, 1): edge windows count the padding (count_include_pad)
  CHECK_ALLCLOSE(avg_pool(x, {2, 2}, {1, 1}, "SAME"),
                 std::vector<double>{3, 4, 9.0 / 4, 6, 7, 15.0 / 4, 15.0 / 4, 17.0 / 4, 9.0 / 4});
  CHECK(avg_pool(x.astype(int32), {2, 2}, {1, 1}).dtype() == float32);
  CHECK_ALLCLOSE(avg_pool(x.astype(float64), {3, 3}, {1, 1}), std::vector<double>{5});
  Array big = rand({2, 6, 9, 4}, float32, 13);
  Shape os;
  auto ref = ref_window(testing::values(big), {2, 6, 9, 4}, '+', {1, 2, 3, 1}, {1, 2, 2, 1},
                        {{0, 0}, {0, 0}, {1, 1}, {0, 0}}, &os);
  for (auto& v : ref) v /= 6;
  CHECK_ALLCLOSE_TOL(avg_pool(big, {2, 3}, {2, 2}, {{0, 0}, {1, 1}}), ref, 1e-5, 1e-6);
}

TEST_CASE("reduce_window: unsupported monoids, inits and bad windows are rejected") {
  Array x = zeros({4, 4});
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, 1.0, lax::Monoid::mul, {2, 2}, {1, 1}),
                       doctest::Contains("Monoid::mul is not supported"), ValueError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, 1.0, lax::Monoid::add, {2, 2}, {1, 1}),
                       doctest::Contains("init must be the identity of add"), ValueError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, 0.0, lax::Monoid::max, {2, 2}, {1, 1}),
                       doctest::Contains("identity of max"), ValueError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, scalar(0, float64), lax::Monoid::add, {2, 2}, {1, 1}),
                       doctest::Contains("must have the operand's dtype"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, 0.0, lax::Monoid::add, {2}, {1}),
                       doctest::Contains("one entry per dimension"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, 0.0, lax::Monoid::add, {2, 2}, {1, 1}, {{0, 0}}),
                       doctest::Contains("[reduce_window_sum]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x, 0.0, lax::Monoid::add, {2, 0}, {1, 1}),
                       doctest::Contains("must be positive"), ValueError);
  CHECK_THROWS_WITH_AS(lax::reduce_window(x > 0, false, lax::Monoid::add, {2, 2}, {1, 1}),
                       doctest::Contains("numeric operand"), DTypeError);
  CHECK_THROWS_WITH_AS(max_pool(zeros({4, 4, 3}), {2, 2}), doctest::Contains("[max_pool]"), ShapeError);
  CHECK_THROWS_WITH_AS(avg_pool(zeros({1, 4, 4, 3}), {2, 2}, {1}), doctest::Contains("different lengths"), ShapeError);
  auto traced_init = [](const Array& a, const Array& i) {
    return lax::reduce_window(a, i, lax::Monoid::add, {2, 2}, {1, 1});
  };
  CHECK_THROWS_WITH_AS(make_jaxpr(traced_init)(x, scalar(0)), doctest::Contains("concrete value"), ValueError);
}

TEST_CASE("reduce_window: make_jaxpr records the window") {
  auto jp = make_jaxpr([](const Array& a) { return max_pool(a, {2, 2}); })(zeros({1, 4, 4, 3}));
  std::string s = jp.str();
  CAPTURE(s);
  CHECK(s.find("b:f32[1,2,2,3] = reduce_window_max[") != std::string::npos);
  CHECK(s.find("window_dimensions=(1, 2, 2, 1)") != std::string::npos);
  auto ja = make_jaxpr([](const Array& a) { return avg_pool(a, {2, 2}); })(zeros({1, 4, 4, 3}));
  CHECK(ja.str().find("reduce_window_sum[") != std::string::npos);
  CHECK(ja.str().find("div") != std::string::npos);
}
