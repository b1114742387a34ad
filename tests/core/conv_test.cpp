// conv_general_dilated and jx::conv: values against a naive NHWC/HWIO loop (strides, padding,
// lhs/rhs dilation, feature groups), SAME/VALID padding, other layouts, 0-size dims, errors.
#include "testing/testing.h"

using namespace jx;

namespace {

struct ConvCfg {
  Shape x, w;  // NHWC, HWIO (w's I = C / groups)
  std::vector<int64_t> strides{1, 1};
  std::vector<std::pair<int64_t, int64_t>> pads{{0, 0}, {0, 0}};
  std::vector<int64_t> ld{1, 1}, rd{1, 1};
  int64_t groups = 1;
};

// Naive reference: the lhs-dilated, padded input is indexed explicitly.
std::vector<double> ref_conv(const std::vector<double>& x, const std::vector<double>& w, const ConvCfg& c,
                             Shape* out_shape) {
  const int64_t N = c.x[0], H = c.x[1], W = c.x[2], C = c.x[3];
  const int64_t KH = c.w[0], KW = c.w[1], I = c.w[2], O = c.w[3];
  const int64_t og = O / c.groups;
  auto out_dim = [](int64_t in, int64_t k, int64_t s, std::pair<int64_t, int64_t> p, int64_t ld, int64_t rd) {
    int64_t padded = (in - 1) * ld + 1 + p.first + p.second, keff = (k - 1) * rd + 1;
    return padded < keff ? int64_t{0} : (padded - keff) / s + 1;
  };
  const int64_t OH = out_dim(H, KH, c.strides[0], c.pads[0], c.ld[0], c.rd[0]);
  const int64_t OW = out_dim(W, KW, c.strides[1], c.pads[1], c.ld[1], c.rd[1]);
  *out_shape = {N, OH, OW, O};
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t o = 0; o < O; ++o) {
          double acc = 0;
          int64_t g = o / og;
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              // position in the dilated+padded input
              int64_t ph = oh * c.strides[0] + kh * c.rd[0] - c.pads[0].first;
              int64_t pw = ow * c.strides[1] + kw * c.rd[1] - c.pads[1].first;
              if (ph < 0 || pw < 0 || ph % c.ld[0] || pw % c.ld[1]) continue;
              int64_t ih = ph / c.ld[0], iw = pw / c.ld[1];
              if (ih >= H || iw >= W) continue;
              for (int64_t i = 0; i < I; ++i)
                acc += x[((n * H + ih) * W + iw) * C + g * I + i] * w[((kh * KW + kw) * I + i) * O + o];
            }
          y.push_back(acc);
        }
  return y;
}

Array rand(const Shape& s, DType dt, unsigned seed) {
  if (!is_floating(dt)) return testing::uniform(s, -4, 4, float64, seed).astype(dt);
  return testing::uniform(s, -1, 1, dt, seed);
}

Array run(const Array& x, const Array& w, const ConvCfg& c) {
  return lax::conv_general_dilated(x, w, c.strides, Padding(c.pads), c.ld, c.rd, {}, c.groups);
}

}  // namespace

TEST_CASE("conv_general_dilated: matches naive loops") {
  std::vector<ConvCfg> cfgs;
  cfgs.push_back({{2, 5, 6, 3}, {3, 3, 3, 4}});
  cfgs.push_back({{1, 7, 6, 2}, {3, 2, 2, 3}, {2, 1}, {{1, 1}, {0, 2}}});
  cfgs.push_back({{2, 8, 7, 3}, {3, 3, 3, 2}, {1, 2}, {{2, 2}, {1, 1}}, {1, 1}, {2, 2}});   // rhs dilation
  cfgs.push_back({{1, 4, 5, 2}, {3, 3, 2, 3}, {1, 1}, {{2, 2}, {2, 2}}, {2, 2}, {1, 1}});   // lhs dilation
  cfgs.push_back({{2, 5, 5, 4}, {2, 2, 2, 6}, {1, 1}, {{0, 1}, {1, 0}}, {1, 1}, {1, 1}, 2}); // 2 groups
  cfgs.push_back({{1, 5, 5, 3}, {3, 3, 1, 3}, {2, 2}, {{1, 1}, {1, 1}}, {1, 1}, {1, 1}, 3}); // depthwise
  cfgs.push_back({{1, 6, 6, 2}, {2, 2, 2, 2}, {1, 1}, {{-1, 0}, {0, -1}}});                  // negative pads crop
  for (DType dt : {float32, float64, int32}) {
    for (size_t i = 0; i < cfgs.size(); ++i) {
      CAPTURE(dtype_name(dt));
      CAPTURE(i);
      const auto& c = cfgs[i];
      Array x = rand(c.x, dt, 1 + i), w = rand(c.w, dt, 50 + i);
      Shape os;
      auto ref = ref_conv(testing::values(x), testing::values(w), c, &os);
      Array y = run(x, w, c);
      CHECK(y.shape() == os);
      CHECK(y.dtype() == dt);
      CHECK_ALLCLOSE_TOL(y, ref, 1e-4, 1e-5);
    }
  }
}

TEST_CASE("conv_general_dilated: SAME and VALID padding as JAX's padtype_to_pads") {
  Array x = rand({1, 6, 5, 2}, float64, 3), w = rand({3, 3, 2, 2}, float64, 4);
  // SAME with stride 2: H: out 3, total pad 2*2+3-6 = 1 -> (0, 1); W: out 3, total 2*2+3-5 = 2 -> (1, 1)
  Array y = lax::conv_general_dilated(x, w, {2, 2}, "SAME");
  ConvCfg c{{1, 6, 5, 2}, {3, 3, 2, 2}, {2, 2}, {{0, 1}, {1, 1}}};
  Shape os;
  auto ref = ref_conv(testing::values(x), testing::values(w), c, &os);
  CHECK(y.shape() == Shape{1, 3, 3, 2});
  CHECK_ALLCLOSE(y, ref);
  Array v = lax::conv_general_dilated(x, w, {1, 1}, "VALID");
  CHECK(v.shape() == Shape{1, 4, 3, 2});
  // SAME with rhs dilation 2: the effective window is 5
  Array d = lax::conv_general_dilated(x, w, {1, 1}, "SAME", {}, {2, 2});
  ConvCfg cd{{1, 6, 5, 2}, {3, 3, 2, 2}, {1, 1}, {{2, 2}, {2, 2}}, {1, 1}, {2, 2}};
  CHECK(d.shape() == Shape{1, 6, 5, 2});
  CHECK_ALLCLOSE(d, ref_conv(testing::values(x), testing::values(w), cd, &os));
}

TEST_CASE("conv: NHWC input and HWIO kernel, SAME by default") {
  Array x = rand({2, 5, 5, 3}, float32, 5), w = rand({3, 3, 3, 4}, float32, 6);
  ConvCfg c{{2, 5, 5, 3}, {3, 3, 3, 4}, {1, 1}, {{1, 1}, {1, 1}}};
  Shape os;
  auto ref = ref_conv(testing::values(x), testing::values(w), c, &os);
  Array y = conv(x, w);
  CHECK(y.shape() == Shape{2, 5, 5, 4});
  CHECK_ALLCLOSE_TOL(y, ref, 1e-4, 1e-5);
  Array s = conv(x, w, {2, 2}, "VALID", {1, 1});
  CHECK(s.shape() == Shape{2, 2, 2, 4});
  CHECK(conv(x.astype(int32), w.astype(int32)).dtype() == int32);
  CHECK(conv(x.astype(int32), w).dtype() == float32);  // promoted
  CHECK_THROWS_WITH_AS(conv(x, zeros({3, 3, 2, 4})), doctest::Contains("input channels"), ShapeError);
  CHECK_THROWS_WITH_AS(conv(zeros({5, 5, 3}), w), doctest::Contains("[conv]"), ShapeError);
}

TEST_CASE("conv_general_dilated: other layouts agree with NHWC") {
  Array x = rand({2, 6, 5, 3}, float32, 7), w = rand({3, 2, 3, 4}, float32, 8);
  Array ref = lax::conv_general_dilated(x, w, {1, 2}, {{1, 0}, {1, 1}}, {}, {2, 1});
  Array xn = transpose(x, {0, 3, 1, 2}), wn = transpose(w, {3, 2, 0, 1});
  Array y = lax::conv_general_dilated(xn, wn, {1, 2}, {{1, 0}, {1, 1}}, {}, {2, 1}, {"NCHW", "OIHW", "NCHW"});
  CHECK_ALLCLOSE_TOL(transpose(y, {0, 2, 3, 1}), testing::values(ref), 1e-5, 1e-5);
  Array y64 = lax::conv_general_dilated(xn.astype(float64), wn.astype(float64), {1, 2}, {{1, 0}, {1, 1}}, {}, {2, 1},
                                        {"NCHW", "OIHW", "NHWC"});
  CHECK_ALLCLOSE_TOL(y64, testing::values(ref), 1e-5, 1e-5);
  // 1-d convolution, hand-computed: [1,2,3,4] * [1,-1] (valid) = [-1,-1,-1]
  Array x1 = array({1.f, 2.f, 3.f, 4.f}, Shape{1, 4, 1}), w1 = array({1.f, -1.f}, Shape{2, 1, 1});
  Array y1 = lax::conv_general_dilated(x1, w1, {1}, "VALID", {}, {}, {"NWC", "WIO", "NWC"});
  CHECK_ALLCLOSE(y1, std::vector<double>{-1, -1, -1});
  Array y1d = lax::conv_general_dilated(x1, w1, {1}, "VALID", {2}, {}, {"NWC", "WIO", "NWC"});  // [1,0,2,0,3,0,4]
  CHECK_ALLCLOSE(y1d, std::vector<double>{1, -2, 2, -3, 3, -4});
}

TEST_CASE("conv_general_dilated: zero-size dimensions") {
  CHECK(conv(zeros({0, 4, 4, 2}), zeros({3, 3, 2, 5})).shape() == Shape{0, 4, 4, 5});
  CHECK(conv(zeros({1, 2, 2, 2}), zeros({3, 3, 2, 5}), {1, 1}, "VALID").shape() == Shape{1, 0, 0, 5});
  Array z = conv(ones({1, 3, 3, 0}), zeros({3, 3, 0, 2}));
  CHECK(z.shape() == Shape{1, 3, 3, 2});
  CHECK_ALLCLOSE(z, std::vector<double>(18, 0.0));
}

TEST_CASE("conv_general_dilated: bad arguments are reported") {
  Array x = zeros({1, 5, 5, 4}), w = zeros({3, 3, 4, 6});
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, zeros({3, 3, 3, 6}), {1, 1}, "SAME"),
                       doctest::Contains("lhs feature dimension (4) must equal rhs input feature dimension (3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, zeros({3, 3, 2, 5}), {1, 1}, "SAME", {}, {}, {}, 2),
                       doctest::Contains("multiple of feature_group_count"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, zeros({3, 4, 6}), {1, 1}, "SAME"),
                       doctest::Contains("same rank"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, w, {1, 1, 1}, {{0, 0}, {0, 0}}),
                       doctest::Contains("window_strides has 3 entries"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, w, {1, 1}, {{0, 0}}), doctest::Contains("padding has 1 entries"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, w, {1, 1}, "FULL"), doctest::Contains("\"SAME\", \"VALID\""),
                       ValueError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, w, {1, 1}, "SAME", {}, {}, {"NHWC", "HWIX", "NHWC"}),
                       doctest::Contains("must contain 'O' and 'I'"), ValueError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, w, {0, 1}, "VALID"), doctest::Contains("must be positive"),
                       ValueError);
  CHECK_THROWS_WITH_AS(lax::conv_general_dilated(x, zeros({3, 3, 4, 6}, float64), {1, 1}, "SAME"),
                       doctest::Contains("same dtype"), DTypeError);
}

TEST_CASE("conv_general_dilated: make_jaxpr records the parameters") {
  auto jp = make_jaxpr([](const Array& a, const Array& b) { return conv(a, b, {2, 2}); })(zeros({1, 5, 5, 2}),
                                                                                          zeros({3, 3, 2, 4}));
  std::string s = jp.str();
  CAPTURE(s);
  CHECK(s.find("c:f32[1,3,3,4] = conv_general_dilated[") != std::string::npos);
  CHECK(s.find("padding=((1, 1), (1, 1))") != std::string::npos);
  CHECK(s.find("window_strides=(2, 2)") != std::string::npos);
  CHECK(s.find("rhs_spec=HWIO") != std::string::npos);
}
