// nnlib modules: shapes, parameter paths and counts, values against plain C++ loops and hand
// formulas, state and randomness, gradients, vmap, user-defined composites, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <jx/jx.h>

#include "testing/check_grads.h"
#include "testing/check_vmap.h"
#include "testing/testing.h"

using namespace jx;

namespace {

Array f64(const Shape& shape, unsigned seed, double lo = -1, double hi = 1) {
  return testing::uniform(shape, lo, hi, float64, seed);
}

std::vector<std::string> paths(const Tree& t) {
  std::vector<std::string> out;
  for (auto& [p, a] : nn::named_leaves(t)) out.push_back(p + ":" + a.aval().str());
  return out;
}

/// Flattens a params tree so check_grads / check_vmap (vector<Array> functions) can take it.
struct Flat {
  std::vector<Array> leaves;
  TreeDef def;
  explicit Flat(const Tree& t) { std::tie(leaves, def) = tree_flatten(t); }
  Tree rebuild(const std::vector<Array>& args, size_t first = 0) const {
    return tree_unflatten(def, std::vector<Array>(args.begin() + first, args.begin() + first + leaves.size()));
  }
};

}  // namespace

TEST_CASE("Sequential: the API.md example builds, runs, and has the documented paths and counts") {
  auto model = nn::Sequential{nn::Linear(512), nn::relu, nn::Linear(10)};
  Array x = testing::uniform({4, 20}, -1, 1);
  Tree params = model.init(random::key(0), x);
  CHECK(paths(params) == std::vector<std::string>{"0.b:f32[512]", "0.w:f32[20,512]", "2.b:f32[10]", "2.w:f32[512,10]"});
  CHECK(nn::param_count(params) == 20 * 512 + 512 + 512 * 10 + 10);
  Array logits = model.apply(params, x);
  CHECK(logits.shape() == Shape{4, 10});
  CHECK(logits.dtype() == float32);
  std::string s = nn::summary(params);
  CHECK(s.find("0.w") != std::string::npos);
  CHECK(s.find("f32[20,512]") != std::string::npos);
  CHECK(s.find("total: 15882 parameters") != std::string::npos);
  // The stateful form on a stateless model returns the empty state.
  auto [y, state] = model.apply(params, Tree::dict(), x, {.train = true, .rng = random::key(1)});
  CHECK_ALLCLOSE(y, logits);
  CHECK(tree_leaves(state).empty());
}

TEST_CASE("Sequential: the model equals composing its layers by hand; named layers; natural order") {
  Array x = f64({3, 5}, 1);
  auto model = nn::Sequential{{"embed", nn::Linear(6)}, {"act", nn::tanh}, {"head", nn::Linear(2, false)}};
  Tree p = model.init(random::key(2), x);
  CHECK(paths(p) == std::vector<std::string>{"embed.b:f64[6]", "embed.w:f64[5,6]", "head.w:f64[6,2]"});
  Array expected = matmul(jx::tanh(matmul(x, p["embed"]["w"].array()) + p["embed"]["b"].array()), p["head"]["w"].array());
  CHECK_ALLCLOSE(model.apply(p, x), expected);

  std::vector<nn::Module> many;
  for (int i = 0; i < 12; ++i) many.push_back(nn::Linear(2));
  Tree pm = nn::Sequential(many).init(random::key(0), f64({1, 2}, 0));
  auto leaves = nn::named_leaves(pm);
  REQUIRE(leaves.size() == 24);
  CHECK(leaves[4].first == "2.b");  // "2" before "10"
  CHECK(leaves[22].first == "11.b");
  CHECK_THROWS_WITH_AS(nn::Sequential({{"a", nn::Linear(2)}, {"a", nn::Linear(2)}}), doctest::Contains("'a' is used twice"),
                       ValueError);
}

TEST_CASE("Linear: values match a plain loop, with leading batch dims, with and without bias") {
  Array x = f64({2, 3, 4}, 3), w = f64({4, 5}, 4), b = f64({5}, 5);
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  for (bool bias : {true, false}) {
    CAPTURE(bias);
    Tree p = bias ? Tree{{"w", w}, {"b", b}} : Tree{{"w", w}};
    Array y = nn::Linear(5, bias).apply(p, x);
    REQUIRE(y.shape() == Shape{2, 3, 5});
    std::vector<double> ref(30);
    for (int r = 0; r < 6; ++r)
      for (int o = 0; o < 5; ++o) {
        double s = bias ? bv[o] : 0;
        for (int i = 0; i < 4; ++i) s += xv[r * 4 + i] * wv[i * 5 + o];
        ref[r * 5 + o] = s;
      }
    CHECK_ALLCLOSE(y, ref);
  }
  Tree p = nn::Linear(7).init(random::key(0), x);
  CHECK(p["w"].array().shape() == Shape{4, 7});
  CHECK(p["w"].array().dtype() == float64);
  CHECK_ALLCLOSE(p["b"].array(), std::vector<double>(7, 0.0));
}

namespace {
/// Plain NHWC/HWIO convolution with TensorFlow's SAME/VALID padding rule.
std::vector<double> conv_loop(const std::vector<double>& x, const std::vector<double>& w, int n, int h, int wd, int c,
                              int kh, int kw, int o, int s, bool same, int& ho, int& wo) {
  int plh = 0, plw = 0;
  if (same) {
    ho = (h + s - 1) / s;
    wo = (wd + s - 1) / s;
    plh = std::max((ho - 1) * s + kh - h, 0) / 2;
    plw = std::max((wo - 1) * s + kw - wd, 0) / 2;
  } else {
    ho = (h - kh) / s + 1;
    wo = (wd - kw) / s + 1;
  }
  std::vector<double> y(static_cast<size_t>(n * ho * wo * o), 0.0);
  for (int b = 0; b < n; ++b)
    for (int i = 0; i < ho; ++i)
      for (int j = 0; j < wo; ++j)
        for (int f = 0; f < o; ++f) {
          double acc = 0;
          for (int di = 0; di < kh; ++di)
            for (int dj = 0; dj < kw; ++dj)
              for (int ch = 0; ch < c; ++ch) {
                int yi = i * s + di - plh, xj = j * s + dj - plw;
                if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
                acc += x[((b * h + yi) * wd + xj) * c + ch] * w[((di * kw + dj) * c + ch) * o + f];
              }
          y[((b * ho + i) * wo + j) * o + f] = acc;
        }
  return y;
}
}  // namespace

TEST_CASE("Conv2D: values match a plain loop (SAME/VALID, strides), bias, one example without batch") {
  Array x = f64({2, 5, 6, 3}, 6), w = f64({3, 2, 3, 4}, 7), b = f64({4}, 8);
  auto bv = b.to_vector<double>();
  for (int stride : {1, 2}) {
    for (const char* pad : {"SAME", "VALID"}) {
      CAPTURE(stride);
      CAPTURE(pad);
      nn::Conv2D layer(4, {3, 2}, {stride, stride}, pad);
      Array y = layer.apply(Tree{{"w", w}, {"b", b}}, x);
      int ho = 0, wo = 0;
      auto ref = conv_loop(x.to_vector<double>(), w.to_vector<double>(), 2, 5, 6, 3, 3, 2, 4, stride,
                           std::string(pad) == "SAME", ho, wo);
      for (size_t i = 0; i < ref.size(); ++i) ref[i] += bv[i % 4];
      REQUIRE(y.shape() == Shape{2, ho, wo, 4});
      CHECK_ALLCLOSE(y, ref);
      Array one = layer.apply(Tree{{"w", w}, {"b", b}}, x[1]);
      CHECK(one.shape() == Shape{ho, wo, 4});
      CHECK_ALLCLOSE(one, y[1]);
    }
  }
  Tree p = nn::Conv2D(8, {3, 3}).init(random::key(0), x);
  CHECK(paths(p) == std::vector<std::string>{"b:f64[8]", "w:f64[3,3,3,8]"});
}

TEST_CASE("MaxPool / AvgPool: values match a plain loop; strides default to the window") {
  Array x = f64({1, 4, 4, 2}, 9);
  auto xv = x.to_vector<double>();
  std::vector<double> mx, av;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int c = 0; c < 2; ++c) {
        double m = -1e300, s = 0;
        for (int di = 0; di < 2; ++di)
          for (int dj = 0; dj < 2; ++dj) {
            double v = xv[((2 * i + di) * 4 + 2 * j + dj) * 2 + c];
            m = std::max(m, v);
            s += v;
          }
        mx.push_back(m);
        av.push_back(s / 4);
      }
  Array ym = nn::MaxPool({2, 2}).apply(Tree::dict(), x);
  REQUIRE(ym.shape() == Shape{1, 2, 2, 2});
  CHECK_ALLCLOSE(ym, mx);
  CHECK_ALLCLOSE(nn::AvgPool({2, 2}).apply(Tree::dict(), x), av);
  CHECK(nn::MaxPool({3, 3}, {1, 1}, "SAME").apply(Tree::dict(), x).shape() == Shape{1, 4, 4, 2});
  CHECK(nn::AvgPool({2, 2}).apply(Tree::dict(), x[0]).shape() == Shape{2, 2, 2});
}

TEST_CASE("BatchNorm: train uses batch statistics and updates the running state; eval uses the running state") {
  Array x = f64({6, 3}, 10, -2, 3);
  nn::BatchNorm bn(0.9, 1e-5);
  auto [params, state] = bn.init_with_state(random::key(0), x);
  CHECK(paths(params) == std::vector<std::string>{"bias:f64[3]", "scale:f64[3]"});
  CHECK(paths(state) == std::vector<std::string>{"mean:f64[3]", "var:f64[3]"});
  Array scale = f64({3}, 11, 0.5, 2), bias = f64({3}, 12);
  params = Tree{{"scale", scale}, {"bias", bias}};
  Array rm = f64({3}, 13), rv = f64({3}, 14, 0.5, 2);
  state = Tree{{"mean", rm}, {"var", rv}};
  auto xv = x.to_vector<double>(), sv = scale.to_vector<double>(), bv = bias.to_vector<double>();
  auto rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
  std::vector<double> m(3, 0), v(3, 0);
  for (int c = 0; c < 3; ++c) {
    for (int n = 0; n < 6; ++n) m[c] += xv[n * 3 + c] / 6;
    for (int n = 0; n < 6; ++n) v[c] += (xv[n * 3 + c] - m[c]) * (xv[n * 3 + c] - m[c]) / 6;
  }
  auto normalize = [&](const std::vector<double>& mu, const std::vector<double>& var) {
    std::vector<double> y(18);
    for (int n = 0; n < 6; ++n)
      for (int c = 0; c < 3; ++c) y[n * 3 + c] = (xv[n * 3 + c] - mu[c]) / std::sqrt(var[c] + 1e-5) * sv[c] + bv[c];
    return y;
  };
  auto [yt, st] = bn.apply(params, state, x, {.train = true});
  CHECK_ALLCLOSE(yt, normalize(m, v));
  std::vector<double> new_m(3), new_v(3);
  for (int c = 0; c < 3; ++c) {
    new_m[c] = 0.9 * rmv[c] + 0.1 * m[c];
    new_v[c] = 0.9 * rvv[c] + 0.1 * v[c];
  }
  CHECK_ALLCLOSE(st["mean"].array(), new_m);
  CHECK_ALLCLOSE(st["var"].array(), new_v);
  auto [ye, se] = bn.apply(params, state, x, {.train = false});
  CHECK_ALLCLOSE(ye, normalize(rmv, rvv));
  CHECK_ALLCLOSE(se["mean"].array(), rm);
  // NHWC input: statistics over N, H, W.
  Array img = f64({2, 3, 3, 4}, 15);
  auto [yi, si] = bn.apply(bn.init(random::key(0), img), bn.init_state(random::key(0), img), img, {.train = true});
  CHECK_ALLCLOSE_TOL(mean(yi, {0, 1, 2}), std::vector<double>(4, 0.0), 1e-9, 1e-9);
  CHECK_ALLCLOSE_TOL(var(yi, {0, 1, 2}), std::vector<double>(4, 1.0), 1e-3, 1e-3);
  CHECK_ALLCLOSE(si["mean"].array(), mean(img, {0, 1, 2}) * scalar(0.1, float64));
}

TEST_CASE("BatchNorm in Sequential: state paths, train changes the state, eval leaves it") {
  auto model = nn::Sequential{nn::Linear(4), nn::BatchNorm(), nn::relu, nn::Dropout(0.5), nn::Linear(2)};
  Array x = f64({8, 3}, 16);
  auto [params, state] = model.init_with_state(random::key(0), x);
  CHECK(paths(state) == std::vector<std::string>{"1.mean:f64[4]", "1.var:f64[4]"});
  CHECK(paths(params).size() == 6);
  auto [y1, s1] = model.apply(params, state, x, {.train = true, .rng = random::key(3)});
  CHECK(y1.shape() == Shape{8, 2});
  CHECK(testing::mismatch(s1["1"]["mean"].array(), state["1"]["mean"].array()) != "");
  auto [y2, s2] = model.apply(params, state, x);
  CHECK_ALLCLOSE(s2["1"]["var"].array(), state["1"]["var"].array());
  CHECK_THROWS_WITH_AS(model.apply(params, x), doctest::Contains("[BatchNorm] needs its running statistics"), ValueError);
  CHECK_THROWS_WITH_AS(model.apply(params, state, x, {.train = true}), doctest::Contains("[Dropout] train mode needs a key"),
                       ValueError);
}

TEST_CASE("LayerNorm / RMSNorm: match the formulas by hand") {
  Array x = f64({4, 5}, 17, -3, 3), s = f64({5}, 18, 0.5, 2), b = f64({5}, 19);
  auto xv = x.to_vector<double>(), sv = s.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> ln(20), rms(20);
  for (int r = 0; r < 4; ++r) {
    double m = 0, v = 0, ms = 0;
    for (int c = 0; c < 5; ++c) m += xv[r * 5 + c] / 5;
    for (int c = 0; c < 5; ++c) v += (xv[r * 5 + c] - m) * (xv[r * 5 + c] - m) / 5;
    for (int c = 0; c < 5; ++c) ms += xv[r * 5 + c] * xv[r * 5 + c] / 5;
    for (int c = 0; c < 5; ++c) {
      ln[r * 5 + c] = (xv[r * 5 + c] - m) / std::sqrt(v + 1e-6) * sv[c] + bv[c];
      rms[r * 5 + c] = xv[r * 5 + c] / std::sqrt(ms + 1e-6) * sv[c];
    }
  }
  CHECK_ALLCLOSE(nn::LayerNorm().apply(Tree{{"scale", s}, {"bias", b}}, x), ln);
  CHECK_ALLCLOSE(nn::RMSNorm().apply(Tree{{"scale", s}}, x), rms);
  CHECK(paths(nn::LayerNorm().init(random::key(0), x)) == std::vector<std::string>{"bias:f64[5]", "scale:f64[5]"});
  CHECK(paths(nn::LayerNorm(1e-6, true, false).init(random::key(0), x)) == std::vector<std::string>{"scale:f64[5]"});
  CHECK(paths(nn::RMSNorm().init(random::key(0), x)) == std::vector<std::string>{"scale:f64[5]"});
}

TEST_CASE("Dropout: rate 0 and eval are the identity; train keeps ~(1 - rate) scaled by 1 / (1 - rate)") {
  Array x = ones({100, 100});
  nn::Dropout d(0.3);
  CHECK_ALLCLOSE(nn::Dropout(0).apply(Tree::dict(), Tree::dict(), x, {.train = true, .rng = random::key(0)}).first, x);
  CHECK_ALLCLOSE(d.apply(Tree::dict(), Tree::dict(), x, {.train = false, .rng = random::key(0)}).first, x);
  CHECK_ALLCLOSE(d.apply(Tree::dict(), x), x);
  auto y = d.apply(Tree::dict(), Tree::dict(), x, {.train = true, .rng = random::key(1)}).first.to_vector<double>();
  int kept = 0;
  bool values_ok = true;
  for (double e : y) {
    if (e != 0) {
      ++kept;
      values_ok = values_ok && std::abs(e - 1 / 0.7) < 1e-6;
    }
  }
  CHECK(values_ok);
  CHECK(std::abs(kept / 10000.0 - 0.7) < 0.02);  // binomial sd ~0.0046
  auto y2 = d.apply(Tree::dict(), Tree::dict(), x, {.train = true, .rng = random::key(2)}).first.to_vector<double>();
  CHECK(y != y2);
  auto y1 = d.apply(Tree::dict(), Tree::dict(), x, {.train = true, .rng = random::key(1)}).first.to_vector<double>();
  CHECK(y == y1);
  CHECK_ALLCLOSE(nn::Dropout(1).apply(Tree::dict(), Tree::dict(), x, {.train = true, .rng = random::key(0)}).first,
                 zeros({100, 100}));
  CHECK_THROWS_WITH_AS(nn::Dropout(1.5), doctest::Contains("[Dropout] rate must be in [0, 1]"), ValueError);
}

TEST_CASE("Embedding: looks up rows; integer indices of any shape") {
  nn::Embedding emb(10, 4);
  Array ids = array(std::vector<int32_t>{3, 0, 9, 3, 1, 2}, Shape{2, 3});
  Tree p = emb.init(random::key(0), ids);
  CHECK(paths(p) == std::vector<std::string>{"embedding:f32[10,4]"});
  Array y = emb.apply(p, ids);
  REQUIRE(y.shape() == Shape{2, 3, 4});
  auto table = p["embedding"].array().to_vector<double>();
  auto yv = y.to_vector<double>();
  std::vector<int> idv{3, 0, 9, 3, 1, 2};
  std::vector<double> ref;
  for (int i : idv)
    for (int f = 0; f < 4; ++f) ref.push_back(table[i * 4 + f]);
  CHECK_ALLCLOSE(y, ref);
  CHECK_THROWS_WITH_AS(emb.apply(p, ones({2})), doctest::Contains("[Embedding] indices must be integers, got f32[2]"),
                       DTypeError);
}

namespace {
/// softmax(Q Kᵀ / sqrt(d) + mask) V per head, then the output projection, in plain loops.
std::vector<double> attention_loop(const Array& x, const Tree& p, int heads, int hd, bool causal) {
  auto xv = x.to_vector<double>();
  int b = static_cast<int>(x.shape()[0]), t = static_cast<int>(x.shape()[1]), d = static_cast<int>(x.shape()[2]);
  auto wq = p["wq"].array().to_vector<double>(), wk = p["wk"].array().to_vector<double>();
  auto wv = p["wv"].array().to_vector<double>(), wo = p["wo"].array().to_vector<double>();
  int hh = heads * hd, out = static_cast<int>(p["wo"].array().shape()[1]);
  auto proj = [&](const std::vector<double>& w, int bi, int ti, int col) {
    double s = 0;
    for (int k = 0; k < d; ++k) s += xv[(bi * t + ti) * d + k] * w[k * hh + col];
    return s;
  };
  std::vector<double> y(static_cast<size_t>(b * t * out), 0.0);
  for (int bi = 0; bi < b; ++bi)
    for (int ti = 0; ti < t; ++ti) {
      std::vector<double> concat(hh, 0.0);
      for (int h = 0; h < heads; ++h) {
        std::vector<double> logits(t);
        double mx = -1e300;
        for (int si = 0; si < t; ++si) {
          double s = 0;
          for (int e = 0; e < hd; ++e) s += proj(wq, bi, ti, h * hd + e) * proj(wk, bi, si, h * hd + e);
          logits[si] = s / std::sqrt(static_cast<double>(hd));
          if (!(causal && si > ti)) mx = std::max(mx, logits[si]);
        }
        double z = 0;
        for (int si = 0; si < t; ++si) {
          logits[si] = (causal && si > ti) ? 0.0 : std::exp(logits[si] - mx);
          z += logits[si];
        }
        for (int e = 0; e < hd; ++e)
          for (int si = 0; si < t; ++si) concat[h * hd + e] += logits[si] / z * proj(wv, bi, si, h * hd + e);
      }
      for (int o = 0; o < out; ++o) {
        double s = 0;
        for (int k = 0; k < hh; ++k) s += concat[k] * wo[k * out + o];
        y[(bi * t + ti) * out + o] = s;
      }
    }
  return y;
}
}  // namespace

TEST_CASE("MultiHeadAttention: matches softmax(QKᵀ/√d)V in plain loops, with and without the causal mask") {
  Array x = f64({2, 5, 6}, 20);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    nn::MultiHeadAttention mha(2, 3, causal);
    Tree p = mha.init(random::key(4), x);
    CHECK(paths(p) == std::vector<std::string>{"wk:f64[6,6]", "wo:f64[6,6]", "wq:f64[6,6]", "wv:f64[6,6]"});
    Array y = mha.apply(p, x);
    REQUIRE(y.shape() == Shape{2, 5, 6});
    CHECK_ALLCLOSE(y, attention_loop(x, p, 2, 3, causal));
    CHECK_ALLCLOSE(mha.apply(p, x[1]), y[1]);  // one example without the batch axis
  }
  // Causal: position 0 sees only itself, so changing later positions leaves it unchanged.
  nn::MultiHeadAttention causal(1, 4, true, 3);
  Tree p = causal.init(random::key(5), x);
  CHECK(p["wo"].array().shape() == Shape{4, 3});
  Array x2 = x.at(0).set(x[0].at(4).set(f64({6}, 21)));
  Array a = causal.apply(p, x), b = causal.apply(p, x2);
  CHECK_ALLCLOSE(slice(a, {0, 0}, {1, 4}), slice(b, {0, 0}, {1, 4}));
  CHECK(testing::mismatch(slice(a, {0, 4}, {1, 5}), slice(b, {0, 4}, {1, 5})) != "");
}

TEST_CASE("check_grads: through a small Sequential and through attention (float64)") {
  SUBCASE("Sequential: Linear, tanh, LayerNorm, Linear — params and input") {
    auto model = nn::Sequential{nn::Linear(4), nn::tanh, nn::LayerNorm(), nn::Linear(3)};
    Array x = f64({2, 3}, 22);
    Flat flat(model.init(random::key(6), x));
    // LayerNorm's scale/bias start at 1/0; perturb so their gradients are generic.
    std::vector<Array> args;
    for (size_t i = 0; i < flat.leaves.size(); ++i) args.push_back(flat.leaves[i] + f64(flat.leaves[i].shape(), 30 + i, -0.3, 0.3));
    args.push_back(x);
    size_t n = flat.leaves.size();
    testing::check_grads([&](const std::vector<Array>& a) { return model.apply(flat.rebuild(a), a[n]); }, args, 2);
  }
  SUBCASE("MultiHeadAttention, causal") {
    nn::MultiHeadAttention mha(2, 2, true);
    Array x = f64({1, 3, 4}, 23);
    Flat flat(mha.init(random::key(7), x));
    std::vector<Array> args = flat.leaves;
    args.push_back(x);
    size_t n = flat.leaves.size();
    testing::check_grads([&](const std::vector<Array>& a) { return mha.apply(flat.rebuild(a), a[n]); }, args, 1);
  }
}

TEST_CASE("grad: the gradient of a loss over params has the params' tree structure") {
  auto model = nn::Sequential{nn::Linear(3), nn::relu, nn::Linear(1)};
  Array x = f64({5, 2}, 24), target = f64({5, 1}, 25);
  Tree params = model.init(random::key(8), x);
  auto loss = [&](const Tree& p) { return mean(square(model.apply(p, x) - target)); };
  Tree g = grad(loss)(params);
  CHECK(paths(g) == paths(params));
  // The last layer's bias gradient by hand: mean of 2 (y - t).
  Array y = model.apply(params, x);
  CHECK_ALLCLOSE(g["2"]["b"].array(), reshape(mean((y - target) * 2.0, {0}), {1}));
}

TEST_CASE("vmap: per-example module apply equals the loop over the batch") {
  SUBCASE("MLP") {
    nn::MLP mlp({6, 6, 2}, nn::gelu);
    Array x = f64({5, 3}, 26);
    Tree p = mlp.init(random::key(9), x);
    CHECK(paths(p) == std::vector<std::string>{"0.b:f64[6]", "0.w:f64[3,6]", "1.b:f64[6]", "1.w:f64[6,6]",
                                              "2.b:f64[2]", "2.w:f64[6,2]"});
    testing::check_vmap([&](const std::vector<Array>& a) { return mlp.apply(p, a[0]); }, {x}, {0});
  }
  SUBCASE("Conv2D + MaxPool + Flatten(0) per example, params mapped too") {
    auto model = nn::Sequential{nn::Conv2D(3, {3, 3}), nn::relu, nn::MaxPool({2, 2}), nn::Flatten(0)};
    Array x = f64({4, 4, 4, 2}, 27);
    Flat flat(model.init(random::key(10), x));
    // Per-example weights: stack 4 perturbed copies of each leaf.
    std::vector<Array> args{x};
    for (size_t i = 0; i < flat.leaves.size(); ++i) {
      std::vector<Array> copies;
      for (unsigned k = 0; k < 4; ++k) copies.push_back(flat.leaves[i] + f64(flat.leaves[i].shape(), 40 + 4 * i + k, -0.1, 0.1));
      args.push_back(stack(copies, 0));
    }
    std::vector<std::optional<int>> axes(args.size(), 0);
    testing::check_vmap([&](const std::vector<Array>& a) { return model.apply(flat.rebuild(a, 1), a[0]); }, args, axes);
  }
  SUBCASE("MultiHeadAttention over the sequence batch") {
    nn::MultiHeadAttention mha(2, 2, true);
    Array x = f64({3, 4, 4}, 28);
    Tree p = mha.init(random::key(11), x);
    testing::check_vmap([&](const std::vector<Array>& a) { return mha.apply(p, a[0]); }, {x}, {0});
  }
}

namespace {
/// A pre-norm transformer block, written by a user from the library's modules.
struct Block {
  nn::LayerNorm ln1, ln2;
  nn::MultiHeadAttention attn{2, 4, true};
  nn::MLP mlp{{16, 8}, nn::gelu};
  Tree init(const Array& key, const Array& x) const {
    auto k = random::split(key, 2);
    return Tree{{"ln1", ln1.init(key, x)}, {"attn", attn.init(k[0], x)}, {"ln2", ln2.init(key, x)}, {"mlp", mlp.init(k[1], x)}};
  }
  Array apply(const Tree& p, const Array& x) const {
    Array h = x + attn.apply(p["attn"], ln1.apply(p["ln1"], x));
    return h + mlp.apply(p["mlp"], ln2.apply(p["ln2"], h));
  }
};
struct Transformer {
  int depth = 2;
  Tree init(const Array& key, const Array& x) const {
    auto k = random::split(key, depth);
    Tree::Dict p;
    for (int i = 0; i < depth; ++i) p["block" + std::to_string(i)] = Block{}.init(k[i], x);
    return Tree(std::move(p));
  }
  Array apply(const Tree& p, const Array& x) const {
    Array h = x;
    for (int i = 0; i < depth; ++i) h = Block{}.apply(p["block" + std::to_string(i)], h);
    return h;
  }
};
}  // namespace

TEST_CASE("user modules: a residual block composes library modules with readable paths and goes in Sequential") {
  Array x = testing::uniform({2, 5, 8}, -1, 1);
  auto model = nn::Sequential{{"body", Transformer{}}, {"head", nn::Linear(3)}};
  Tree p = model.init(random::key(12), x);
  auto leaves = nn::named_leaves(p);
  std::vector<std::string> names;
  for (auto& [n, a] : leaves) names.push_back(n);
  auto has = [&](const std::string& s) { return std::find(names.begin(), names.end(), s) != names.end(); };
  CHECK(has("body.block0.attn.wq"));
  CHECK(has("body.block1.mlp.1.w"));
  CHECK(has("body.block1.ln2.scale"));
  CHECK(has("head.w"));
  // Per block: 4 * 8 * 8 (attn) + 8*16 + 16 + 16*8 + 8 (mlp) + 2 * 16 (norms) = 568.
  CHECK(nn::param_count(p) == 2 * 568 + 8 * 3 + 3);
  Array y = model.apply(p, x);
  CHECK(y.shape() == Shape{2, 5, 3});
  nn::Module m = Transformer{};
  CHECK(m.name() == "Module");
  CHECK(nn::Module(nn::Linear(2)).name() == "Linear");
  CHECK(nn::Module(nn::relu).name() == "relu");
}

TEST_CASE("activations: as modules and as functions") {
  Array x = array(std::vector<double>{-2, -0.5, 0, 0.5, 2});
  auto xv = x.to_vector<double>();
  auto each = [&](auto f) {
    std::vector<double> r;
    for (double v : xv) r.push_back(f(v));
    return r;
  };
  CHECK_ALLCLOSE(nn::relu(x), each([](double v) { return std::max(v, 0.0); }));
  CHECK_ALLCLOSE(nn::Module(nn::tanh).apply(Tree::dict(), x), each([](double v) { return std::tanh(v); }));
  CHECK_ALLCLOSE(nn::sigmoid(x), each([](double v) { return 1 / (1 + std::exp(-v)); }));
  CHECK_ALLCLOSE(nn::silu(x), each([](double v) { return v / (1 + std::exp(-v)); }));
  CHECK_ALLCLOSE(nn::elu(x), each([](double v) { return v > 0 ? v : std::expm1(v); }));
  CHECK_ALLCLOSE(nn::leaky_relu(x), each([](double v) { return v >= 0 ? v : 0.01 * v; }));
  CHECK_ALLCLOSE(nn::gelu_exact(x), each([](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }));
  CHECK_ALLCLOSE(nn::gelu(x), each([](double v) {
                   return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                 }));
  double z = 0;
  for (double v : xv) z += std::exp(v);
  CHECK_ALLCLOSE(nn::softmax(x), each([&](double v) { return std::exp(v) / z; }));
  CHECK_ALLCLOSE(nn::log_softmax(x, 0), each([&](double v) { return v - std::log(z); }));
  CHECK_THROWS_WITH_AS(nn::relu(x, 0), doctest::Contains("[nn::relu] takes no axis"), ValueError);
  auto model = nn::Sequential{nn::Lambda("double", [](const Array& a) { return a * 2.0; }), nn::Flatten()};
  CHECK(model.apply(Tree::dict(), ones({2, 3, 4})).shape() == Shape{2, 12});
}

TEST_CASE("errors: bad shapes and dtypes name the module and what it received") {
  Tree lin{{"w", zeros({5, 2})}, {"b", zeros({2})}};
  CHECK_THROWS_WITH_AS(nn::Linear(2).apply(lin, zeros({8, 3})),
                       doctest::Contains("[Linear] input f32[8,3] has 3 features but the parameters expect 5"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::Linear(2).apply(Tree{{"weights", zeros({5, 2})}}, zeros({8, 5})),
                       doctest::Contains("[Linear] parameters have no array 'w'; got {'weights'}"), ValueError);
  CHECK_THROWS_WITH_AS(nn::Linear(2).init(random::key(0), array(std::vector<int32_t>{1, 2})),
                       doctest::Contains("[Linear] input i32[2] must be floating point"), DTypeError);
  Tree conv{{"w", zeros({3, 3, 4, 8})}, {"b", zeros({8})}};
  CHECK_THROWS_WITH_AS(nn::Conv2D(8).apply(conv, zeros({2, 6, 6, 3})),
                       doctest::Contains("[Conv2D] input f32[2,6,6,3] has 3 channels but the kernel expects 4"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::Conv2D(8).apply(conv, zeros({6, 4})), doctest::Contains("[Conv2D] input f32[6,4] has rank 2"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::MaxPool({2, 2}).apply(Tree::dict(), zeros({4, 4})), doctest::Contains("[MaxPool] input f32[4,4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::LayerNorm().apply(Tree{{"scale", ones({4})}, {"bias", zeros({4})}}, zeros({2, 3})),
                       doctest::Contains("[LayerNorm] input f32[2,3] has 3 features but 'scale' is f32[4]"), ShapeError);
  nn::MultiHeadAttention mha(2, 2);
  Tree mp = mha.init(random::key(0), zeros({1, 3, 4}));
  CHECK_THROWS_WITH_AS(mha.apply(mp, zeros({1, 3, 5})),
                       doctest::Contains("[MultiHeadAttention] input f32[1,3,5] has 5 features but the parameters expect 4"),
                       ShapeError);
  auto model = nn::Sequential{nn::Linear(4), nn::relu, nn::Linear(2)};
  Tree p = model.init(random::key(0), zeros({1, 3}));
  CHECK_THROWS_WITH_AS(model.apply(p, zeros({1, 7})), doctest::Contains("[Linear] input f32[1,7] has 7 features"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::Linear(0), doctest::Contains("[Linear] features must be positive"), ValueError);
}
