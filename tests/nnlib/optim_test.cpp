// Optimizers and schedules: two-step updates against the formulas written out
// in plain C++ and against optax literals, schedules by formula and optax
// literals, chain ordering, tree types, tracing (the step count and state are
// traced, not baked in), training runs, errors.
#include <cmath>
#include <map>

#include "testing/testing.h"

using namespace jx;
using V = std::vector<double>;

namespace {

// Params {"b": [2], "w": [2, 3]} and two gradients; flat vectors are in the
// dict's leaf order (b, then w), the same inputs as the optax script that
// produced the literals below.
const V kP = {0.3, -0.2, 0.5, -1.0, 2.0, 0.1, 0.2, -0.3};
const V kG1 = {1.0, -2.0, 0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
const V kG2 = {0.5, 0.25, -0.3, 0.1, 0.2, 0.0, 0.5, -0.1};

Tree dict_of(const V &flat, DType dtype = float64) {
  return Tree{
      {"b", array(V(flat.begin(), flat.begin() + 2)).astype(dtype)},
      {"w", array(V(flat.begin() + 2, flat.end()), Shape{2, 3}).astype(dtype)}};
}

template <class T> V flat_values(const T &tree) {
  V out;
  for (auto &leaf : tree_leaves(tree)) {
    auto v = leaf.template to_vector<double>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Two eager steps from kP with kG1, kG2; returns the final params flattened.
V run2(const optim::GradientTransformation &opt, DType dtype = float64) {
  Tree params = dict_of(kP, dtype);
  Tree state = opt.init(params);
  for (const V *g : {&kG1, &kG2}) {
    auto [updates, new_state] = opt.update(dict_of(*g, dtype), state, params);
    params = optim::apply_updates(params, updates);
    state = new_state;
  }
  return flat_values(params);
}

Array vec(const V &v) { return array(v).astype(float64); }

double sgn(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

} // namespace

TEST_CASE(
    "sgd: plain, momentum and nesterov match the formulas for two steps") {
  SUBCASE("plain") {
    V p = kP;
    for (const V *g : {&kG1, &kG2})
      for (size_t i = 0; i < p.size(); ++i)
        p[i] -= 0.1 * (*g)[i];
    CHECK_ALLCLOSE(vec(run2(optim::sgd(0.1))), p);
  }
  for (bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    V p = kP, t(kP.size(), 0.0);
    for (const V *g : {&kG1, &kG2}) {
      for (size_t i = 0; i < p.size(); ++i) {
        t[i] = (*g)[i] + 0.9 * t[i];
        double u = nesterov ? (*g)[i] + 0.9 * t[i] : t[i];
        p[i] -= 0.1 * u;
      }
    }
    CHECK_ALLCLOSE(vec(run2(optim::sgd(0.1, 0.9, nesterov))), p);
  }
}

TEST_CASE("adam: two steps match the formula and optax") {
  V p = kP, m(8, 0.0), v(8, 0.0);
  int k = 0;
  for (const V *g : {&kG1, &kG2}) {
    ++k;
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = 0.9 * m[i] + 0.1 * (*g)[i];
      v[i] = 0.999 * v[i] + 0.001 * (*g)[i] * (*g)[i];
      double mh = m[i] / (1 - std::pow(0.9, k)),
             vh = v[i] / (1 - std::pow(0.999, k));
      p[i] -= 0.1 * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  V got = run2(optim::adam(0.1));
  CHECK_ALLCLOSE(vec(got), p);
  // optax.adam(0.1), jax_enable_x64, same inputs.
  CHECK_ALLCLOSE(vec(got), V{0.10678203829816109, -0.04274654332895553,
                             0.4494189911200654, -0.8733663027186758,
                             1.8029647943301033, -0.06700582054404755,
                             0.2947368402105264, -0.45385375227382896});
  SUBCASE("float32 params stay float32 and agree to float32 precision") {
    Tree params = dict_of(kP, float32);
    auto opt = optim::adam(0.1);
    auto [u, s] = opt.update(dict_of(kG1, float32), opt.init(params), params);
    CHECK(u["w"].array().dtype() == float32);
    CHECK(s[0]["mu"]["w"].array().dtype() == float32);
    CHECK_ALLCLOSE_TOL(vec(run2(opt, float32)), p, 1e-5, 1e-6);
  }
}

TEST_CASE("adamw: decoupled weight decay (optionally masked) matches the "
          "formula and optax") {
  V p = kP, m(8, 0.0), v(8, 0.0);
  int k = 0;
  for (const V *g : {&kG1, &kG2}) {
    ++k;
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = 0.9 * m[i] + 0.1 * (*g)[i];
      v[i] = 0.999 * v[i] + 0.001 * (*g)[i] * (*g)[i];
      double u = (m[i] / (1 - std::pow(0.9, k))) /
                 (std::sqrt(v[i] / (1 - std::pow(0.999, k))) + 1e-8);
      p[i] -= 0.1 * (u + 0.01 * p[i]);
    }
  }
  V got = run2(optim::adamw(0.1, 0.9, 0.999, 1e-8, 0.01));
  CHECK_ALLCLOSE(vec(got), p);
  // optax.adamw(0.1, weight_decay=0.01)
  CHECK_ALLCLOSE(vec(got), V{0.10628233829716106, -0.042446743328455515,
                             0.44851949111006545, -0.8714673027136758,
                             1.7990667943267697, -0.06710572054654754,
                             0.29423704021252645, -0.45315405227549566});
  // optax.adamw(0.1, weight_decay=0.01, mask={"w": True, "b": False}): b
  // evolves as plain adam.
  V masked = run2(optim::adamw(0.1, 0.9, 0.999, 1e-8, 0.01,
                               [](const Array &q) { return q.ndim() > 1; }));
  CHECK_ALLCLOSE(vec(masked), V{0.10678203829816109, -0.04274654332895553,
                                0.44851949111006545, -0.8714673027136758,
                                1.7990667943267697, -0.06710572054654754,
                                0.29423704021252645, -0.45315405227549566});
}

TEST_CASE("rmsprop: plain and centered match the formulas; momentum+nesterov "
          "matches optax") {
  for (bool centered : {false, true}) {
    CAPTURE(centered);
    V p = kP, mu(8, 0.0), nu(8, 0.0);
    for (const V *g : {&kG1, &kG2}) {
      for (size_t i = 0; i < p.size(); ++i) {
        double gi = (*g)[i];
        nu[i] = 0.9 * nu[i] + 0.1 * gi * gi;
        mu[i] = 0.9 * mu[i] + 0.1 * gi;
        double denom = centered ? nu[i] - mu[i] * mu[i] : nu[i];
        p[i] -= 0.1 * gi / std::sqrt(denom + 1e-8);
      }
    }
    CHECK_ALLCLOSE(vec(run2(optim::rmsprop(0.1, 0.9, 1e-8, 0.0, centered))), p);
  }
  // optax.rmsprop(0.1, momentum=0.9, nesterov=True)
  CHECK_ALLCLOSE(
      vec(run2(optim::rmsprop(0.1, 0.9, 1e-8, 0.0, false, 0.9, true))),
      V{-0.8371169075710896, 0.5784889597115853, 0.21589830431736445,
        -0.423163237509027, 0.7975688274876205, -0.756976978100367,
        0.6210872260393052, -1.0530137679631435});
}

TEST_CASE("adagrad: two steps match the formula") {
  V p = kP, s(8, 0.1);
  for (const V *g : {&kG1, &kG2}) {
    for (size_t i = 0; i < p.size(); ++i) {
      s[i] += (*g)[i] * (*g)[i];
      p[i] -= 0.1 * (*g)[i] / std::sqrt(s[i] + 1e-7);
    }
  }
  CHECK_ALLCLOSE(vec(run2(optim::adagrad(0.1))), p);
}

TEST_CASE("lion: two steps match the formula and optax") {
  V p = kP, m(8, 0.0);
  for (const V *g : {&kG1, &kG2}) {
    for (size_t i = 0; i < p.size(); ++i) {
      double u = sgn(0.1 * (*g)[i] + 0.9 * m[i]);
      m[i] = 0.99 * m[i] + 0.01 * (*g)[i];
      p[i] -= 0.1 * (u + 0.01 * p[i]);
    }
  }
  V got = run2(optim::lion(0.1, 0.9, 0.99, 0.01));
  CHECK_ALLCLOSE(vec(got), p);
  // optax.lion(0.1, weight_decay=0.01)
  CHECK_ALLCLOSE(vec(got),
                 V{0.09950029999999999, -0.1997002, 0.49910050000000006,
                   -0.998101, 1.7961019999999999, -0.10009989999999999,
                   0.19950020000000002, -0.29930029999999996});
}

TEST_CASE("chain: clip_by_global_norm then adam clips before the moments "
          "(formula and optax)") {
  V p = kP, m(8, 0.0), v(8, 0.0);
  int k = 0;
  for (const V *graw : {&kG1, &kG2}) {
    ++k;
    double norm = 0;
    for (double x : *graw)
      norm += x * x;
    norm = std::sqrt(norm);
    V g = *graw;
    if (norm >= 1.0)
      for (auto &x : g)
        x = x / norm * 1.0;
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      p[i] -= 0.1 * (m[i] / (1 - std::pow(0.9, k))) /
              (std::sqrt(v[i] / (1 - std::pow(0.999, k))) + 1e-8);
    }
  }
  auto opt = optim::chain(optim::clip_by_global_norm(1.0), optim::adam(0.1));
  V got = run2(opt);
  CHECK_ALLCLOSE(vec(got), p);
  // optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.1))
  CHECK_ALLCLOSE(vec(got),
                 V{0.09996506708568224, -0.0575375691468418, 0.464626716788709,
                   -0.9149199418693719, 1.801490103718755, -0.06700581357540208,
                   0.2566554626642243, -0.43414157125922637});
  // The other order differs (adam's output is clipped instead), so the order is
  // really applied.
  V swapped =
      run2(optim::chain(optim::adam(0.1), optim::clip_by_global_norm(1.0)));
  CHECK(!testing::mismatch(vec(swapped), got).empty());
  // The state is a list of the parts' states.
  Tree s = opt.init(dict_of(kP));
  REQUIRE(s.is_list());
  CHECK(s.size() == 2);
  CHECK(s[0].is_none());
  CHECK(s[1][0]["count"].array().dtype() == int32);
  CHECK(optim::chain(optim::identity(), optim::scale(2.0), optim::trace(0.5),
                     optim::adam(0.1))
            .init(dict_of(kP))
            .size() == 4);
}

TEST_CASE("optimizers: a learning-rate schedule is evaluated at the step count "
          "(adam + linear, optax)") {
  // optax.adam(optax.linear_schedule(0.1, 0.0, 4)): lr 0.1 on the first update,
  // 0.075 on the second.
  V got = run2(optim::adam(optim::linear_schedule(0.1, 0.0, 4)));
  CHECK_ALLCLOSE(vec(got), V{0.13008652470539295, -0.05705990442531455,
                             0.4370642458227333, -0.8800247260051446,
                             1.82722359219892, -0.0502543682700809,
                             0.2960526309911566, -0.44039031688378805});
  // sgd with a hand-written schedule lambda: lr(step) = 0.1 / (1 + step).
  V p = kP;
  int step = 0;
  for (const V *g : {&kG1, &kG2}) {
    for (size_t i = 0; i < p.size(); ++i)
      p[i] -= 0.1 / (1 + step) * (*g)[i];
    ++step;
  }
  auto lr = [](const Array &s) { return 0.1 / (1.0 + s.astype(float32)); };
  CHECK_ALLCLOSE_TOL(vec(run2(optim::sgd(lr))), p, 1e-7, 1e-8);
}

TEST_CASE(
    "optimizer state: int32 count, moments mirror the params, counts advance") {
  auto opt = optim::adam(0.1);
  Tree params = dict_of(kP);
  Tree s = opt.init(params);
  const Tree &adam_state = s[0];
  CHECK(adam_state["count"].array().dtype() == int32);
  CHECK(adam_state["count"].array().item<int>() == 0);
  CHECK(adam_state["mu"]["w"].array().shape() == Shape{2, 3});
  CHECK(adam_state["nu"]["b"].array().shape() == Shape{2});
  auto [u, s1] = opt.update(dict_of(kG1), s, params);
  CHECK(s1[0]["count"].array().item<int>() == 1);
  // mu after one step is (1 - b1) g.
  CHECK_ALLCLOSE(s1[0]["mu"]["b"].array(), V{0.1, -0.2});
  auto [u2, s2] = opt.update(dict_of(kG2), s1, params);
  CHECK(s2[0]["count"].array().item<int>() == 2);
}

namespace {
struct LinParams {
  Array w;
  Array b;
};
JX_TREE(LinParams, w, b)
} // namespace

TEST_CASE("optimizers: JX_TREE structs, std::map and std::vector params give "
          "the jx::Tree result") {
  V expected = run2(optim::adam(0.1)); // leaf order b, w
  auto opt = optim::adam(0.1);
  auto b_of = [](const V &f) {
    return array(V(f.begin(), f.begin() + 2)).astype(float64);
  };
  auto w_of = [](const V &f) {
    return array(V(f.begin() + 2, f.end()), Shape{2, 3}).astype(float64);
  };
  SUBCASE("JX_TREE struct (fields w, b)") {
    LinParams p{w_of(kP), b_of(kP)};
    Tree s = opt.init(p);
    CHECK(
        s[0]["mu"].is_list()); // a struct's field order is kept as a leaf list
    for (const V *g : {&kG1, &kG2}) {
      auto [u, s2] = opt.update(LinParams{w_of(*g), b_of(*g)}, s, p);
      static_assert(std::is_same_v<decltype(u), LinParams>);
      p = optim::apply_updates(p, u);
      s = s2;
    }
    CHECK_ALLCLOSE(p.b, V(expected.begin(), expected.begin() + 2));
    CHECK_ALLCLOSE(p.w, V(expected.begin() + 2, expected.end()));
  }
  SUBCASE("std::map<string, Array>") {
    std::map<std::string, Array> p{{"w", w_of(kP)}, {"b", b_of(kP)}};
    Tree s = opt.init(p);
    CHECK(s[0]["mu"].is_dict());
    for (const V *g : {&kG1, &kG2}) {
      auto [u, s2] = opt.update(
          std::map<std::string, Array>{{"w", w_of(*g)}, {"b", b_of(*g)}}, s, p);
      p = optim::apply_updates(p, u);
      s = s2;
    }
    CHECK_ALLCLOSE(vec(flat_values(p)), expected);
  }
  SUBCASE("std::vector<Array> and a bare Array") {
    std::vector<Array> p{b_of(kP), w_of(kP)};
    Tree s = opt.init(p);
    for (const V *g : {&kG1, &kG2}) {
      auto [u, s2] = opt.update(std::vector<Array>{b_of(*g), w_of(*g)}, s, p);
      p = optim::apply_updates(p, u);
      s = s2;
    }
    CHECK_ALLCLOSE(vec(flat_values(p)), expected);
    Array a = b_of(kP);
    Tree sa = opt.init(a);
    for (const V *g : {&kG1, &kG2}) {
      auto [u, s2] = opt.update(b_of(*g), sa, a);
      a = optim::apply_updates(a, u);
      sa = s2;
    }
    CHECK_ALLCLOSE(a, V(expected.begin(), expected.begin() + 2));
  }
}

TEST_CASE("schedules: values at several steps match the formulas") {
  auto at = [](const optim::Schedule &s, int step) {
    return s(Array(step).astype(int32)).item<double>();
  };
  auto constant = optim::constant_schedule(0.3);
  CHECK(at(constant, 0) == doctest::Approx(0.3));
  CHECK(at(constant, 1000) == doctest::Approx(0.3));
  auto lin = optim::linear_schedule(1.0, 0.1, 10, 5);
  for (int k : {0, 5, 6, 10, 15, 100}) {
    double c = std::clamp(k - 5, 0, 10);
    CHECK(at(lin, k) == doctest::Approx((1.0 - 0.1) * (1 - c / 10.0) + 0.1));
  }
  auto poly = optim::polynomial_schedule(1.0, 0.0, 2.0, 10);
  CHECK(at(poly, 3) == doctest::Approx(0.49));
  auto cosine = optim::cosine_decay_schedule(2.0, 100, 0.1);
  for (int k : {0, 25, 50, 100, 200}) {
    double c = std::min(k, 100);
    double d = 0.5 * (1 + std::cos(M_PI * c / 100));
    CHECK(at(cosine, k) ==
          doctest::Approx(2.0 * (0.9 * d + 0.1)).epsilon(1e-6));
  }
  auto exp_decay = optim::exponential_decay(1.0, 10, 0.5);
  for (int k : {0, 1, 10, 25})
    CHECK(at(exp_decay, k) ==
          doctest::Approx(std::pow(0.5, k / 10.0)).epsilon(1e-6));
  // optax.exponential_decay(1.0, 10, 0.5, transition_begin=5, staircase=True,
  // end_value=0.2)
  auto stair = optim::exponential_decay(1.0, 10, 0.5, 5, true, 0.2);
  std::vector<int> steps = {0, 5, 14, 15, 25, 40, 100};
  V stair_ref = {1.0, 1.0, 1.0, 0.5, 0.25, 0.2, 0.2};
  for (size_t i = 0; i < steps.size(); ++i)
    CHECK(at(stair, steps[i]) == doctest::Approx(stair_ref[i]));
  // optax.piecewise_constant_schedule(1.0, {10: 0.5, 20: 0.1})
  auto piecewise =
      optim::piecewise_constant_schedule(1.0, {{10, 0.5}, {20, 0.1}});
  steps = {0, 9, 10, 19, 20, 30};
  V pw_ref = {1.0, 1.0, 0.5, 0.5, 0.05, 0.05};
  for (size_t i = 0; i < steps.size(); ++i)
    CHECK(at(piecewise, steps[i]) == doctest::Approx(pw_ref[i]));
  // optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, end_value=0.1)
  auto wcd = optim::warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, 0.1);
  steps = {0, 5, 10, 11, 50, 100, 150};
  V wcd_ref = {0.0, 0.5, 1.0, 0.9997258721585931, 0.6281416799501187, 0.1, 0.1};
  for (size_t i = 0; i < steps.size(); ++i)
    CHECK(at(wcd, steps[i]) == doctest::Approx(wcd_ref[i]).epsilon(1e-6));
}

TEST_CASE("schedules: traced steps (make_jaxpr, vmap) give the eager values") {
  auto wcd = optim::warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, 0.1);
  auto jaxpr = make_jaxpr([&](const Array &step) { return wcd(step); })(
      Array(0).astype(int32));
  for (int k : {0, 5, 50, 150}) {
    std::vector<Array> args{Array(k).astype(int32)};
    auto out = jaxpr(args);
    REQUIRE(out.size() == 1);
    CHECK(out[0].item<double>() ==
          doctest::Approx(wcd(Array(k).astype(int32)).item<double>()));
  }
  Array steps = array({0, 5, 10, 11, 50, 100, 150}, Shape{7});
  Array mapped = vmap([&](const Array &s) { return wcd(s); })(steps);
  const V wcd_ref = {0.0, 0.5, 1.0, 0.9997258721585931, 0.6281416799501187,
                     0.1, 0.1};
  CHECK_ALLCLOSE_TOL(mapped, wcd_ref, 1e-6, 1e-7);
}

TEST_CASE("optimizers: the update traces (count and moments are inputs, not "
          "constants)") {
  auto opt = optim::chain(optim::clip_by_global_norm(1.0),
                          optim::adamw(optim::linear_schedule(0.1, 0.0, 4), 0.9,
                                       0.999, 1e-8, 0.01));
  Tree params = dict_of(kP);
  Tree s0 = opt.init(params);
  auto [u1, s1] = opt.update(dict_of(kG1), s0, params);
  Tree p1 = optim::apply_updates(params, u1);
  auto [u2, s2] = opt.update(dict_of(kG2), s1, p1);
  // Trace at step 0, then evaluate the jaxpr at step 1's state: must give the
  // eager step 2.
  auto step = [&](const Tree &g, const Tree &s, const Tree &p) {
    return opt.update(g, s, p);
  };
  auto jaxpr = make_jaxpr(step)(dict_of(kG1), s0, params);
  std::vector<Array> args =
      tree_leaves(std::tuple<Tree, Tree, Tree>(dict_of(kG2), s1, p1));
  auto out = jaxpr(args);
  std::vector<Array> expected = tree_leaves(std::pair<Tree, Tree>(u2, s2));
  REQUIRE(out.size() == expected.size());
  for (size_t i = 0; i < out.size(); ++i)
    CHECK_ALLCLOSE(out[i], expected[i]);
}

TEST_CASE("optimizers: grad through a loss then one step reduces a "
          "least-squares loss") {
  Array x = testing::uniform({16, 3}, -1.0, 1.0, float32, 21);
  Array y = matmul(x, array({1.5f, -2.0f, 0.5f}));
  auto loss = [&](const Tree &p) {
    return nn::mse(matmul(x, p["w"].array()) + p["b"].array(), y);
  };
  for (auto opt : {optim::sgd(0.1), optim::sgd(0.1, 0.9), optim::adam(0.05),
                   optim::adamw(0.05), optim::rmsprop(0.01),
                   optim::adagrad(0.1), optim::lion(0.01)}) {
    CAPTURE(opt.name);
    Tree params{{"w", zeros({3})}, {"b", zeros({})}};
    Tree state = opt.init(params);
    double before = loss(params).item<double>();
    Tree g = grad(loss)(params);
    auto [updates, new_state] = opt.update(g, state, params);
    Tree after_params = optim::apply_updates(params, updates);
    CHECK(loss(after_params).item<double>() < before);
  }
}

constexpr int kMlpSteps = 120;
constexpr double kMlpLossThreshold = 0.05;

TEST_CASE("optimizers: training runs reach a loss threshold") {
  SUBCASE("linear regression with chain(clip, adam)") {
    Array x = testing::uniform({64, 4}, -1.0, 1.0, float32, 31);
    Array y = matmul(x, array({0.5f, -1.0f, 2.0f, 0.25f})) + 0.3f;
    LinParams p{zeros({4}), zeros({})};
    auto loss = [&](const LinParams &q) {
      return nn::mse(matmul(x, q.w) + q.b, y);
    };
    auto opt = optim::chain(optim::clip_by_global_norm(1.0), optim::adam(0.1));
    Tree s = opt.init(p);
    for (int i = 0; i < 150; ++i) {
      auto g = grad(loss)(p);
      auto [u, s2] = opt.update(g, s, p);
      p = optim::apply_updates(p, u);
      s = s2;
    }
    MESSAGE("linear regression loss " << loss(p).item<double>());
    CHECK(loss(p).item<double>() < 1e-4);
  }
  SUBCASE("2-layer MLP classifier with adamw and a warm-up cosine schedule") {
    // Two classes by the sign of x0 * x1 (XOR-like, not linearly separable).
    Array x = testing::uniform({64, 2}, -1.0, 1.0, float32, 41);
    Array labels =
        reshape(slice(x, {0, 0}, {64, 1}) * slice(x, {0, 1}, {64, 2}) > 0.0f,
                {64})
            .astype(int32);
    Tree params{{"w1", testing::uniform({2, 16}, -1.0, 1.0, float32, 42)},
                {"b1", zeros({16})},
                {"w2", testing::uniform({16, 2}, -0.5, 0.5, float32, 43)},
                {"b2", zeros({2})}};
    auto logits_of = [&](const Tree &p) {
      Array h = tanh(matmul(x, p["w1"].array()) + p["b1"].array());
      return matmul(h, p["w2"].array()) + p["b2"].array();
    };
    auto loss = [&](const Tree &p) {
      return mean(
          nn::softmax_cross_entropy_with_integer_labels(logits_of(p), labels));
    };
    auto opt = optim::adamw(
        optim::warmup_cosine_decay_schedule(0.0, 0.1, 10, kMlpSteps), 0.9,
        0.999, 1e-8, 1e-4, [](const Array &q) { return q.ndim() > 1; });
    Tree s = opt.init(params);
    double initial = loss(params).item<double>();
    for (int i = 0; i < kMlpSteps; ++i) {
      Tree g = grad(loss)(params);
      auto [u, s2] = opt.update(g, s, params);
      params = optim::apply_updates(params, u);
      s = s2;
    }
    double final_loss = loss(params).item<double>();
    MESSAGE("MLP loss " << initial << " -> " << final_loss);
    CHECK(final_loss < kMlpLossThreshold);
    CHECK(nn::accuracy(logits_of(params), labels).item<double>() >= 0.95);
  }
}

TEST_CASE(
    "add_decayed_weights: constant and scheduled decay, params required") {
  Array p = array({1.0, -2.0}).astype(float64),
        g = array({0.5, 0.5}).astype(float64);
  auto constant = optim::add_decayed_weights(0.1);
  auto [u, s] = constant.update(g, constant.init(p), p);
  CHECK_ALLCLOSE(u, V{0.5 + 0.1 * 1.0, 0.5 + 0.1 * -2.0});
  // Decay 0.1 * (1 + step): 0.1 on the first update, 0.2 on the second.
  auto scheduled = optim::add_decayed_weights(
      [](const Array &step) { return 0.1 * (1.0 + step.astype(float32)); });
  Tree st = scheduled.init(p);
  auto [u1, st1] = scheduled.update(g, st, p);
  auto [u2, st2] = scheduled.update(g, st1, p);
  CHECK_ALLCLOSE_TOL(u1, (V{0.6, 0.3}), 1e-7, 1e-8);
  CHECK_ALLCLOSE_TOL(u2, (V{0.7, 0.1}), 1e-7, 1e-8);
  CHECK(st2["count"].array().item<int>() == 2);
  CHECK_THROWS_WITH_AS(constant.update(g, Tree()),
                       doctest::Contains("needs the params"), ValueError);
  auto w = optim::adamw(0.1);
  CHECK_THROWS_WITH_AS(
      w.update(g, w.init(p)),
      doctest::Contains("[add_decayed_weights] needs the params"), ValueError);
}

TEST_CASE(
    "optimizers: bad trees, states and hyperparameters are reported clearly") {
  auto opt = optim::adam(0.1);
  Tree params = dict_of(kP);
  Tree state = opt.init(params);
  SUBCASE("grads with another structure") {
    Tree g{{"w", zeros({2, 3}, float64)}};
    CHECK_THROWS_WITH_AS(opt.update(g, state, params),
                         doctest::Contains("[adam] updates and params differ"),
                         ShapeError);
  }
  SUBCASE("a leaf with another shape") {
    Tree g{{"b", zeros({3}, float64)}, {"w", zeros({2, 3}, float64)}};
    CHECK_THROWS_WITH_AS(opt.update(g, state, params),
                         doctest::Contains("f64[3]"), ShapeError);
    CHECK_THROWS_WITH_AS(opt.update(g, state),
                         doctest::Contains("[scale_by_adam]"), ShapeError);
  }
  SUBCASE("integer gradients") {
    Tree g{{"b", zeros({2}, int32)}, {"w", zeros({2, 3}, float64)}};
    CHECK_THROWS_WITH_AS(opt.update(g, state, params),
                         doctest::Contains("i32[2]"), DTypeError);
  }
  SUBCASE("the state of another optimizer") {
    Tree other = optim::sgd(0.1, 0.9).init(params);
    CHECK_THROWS_WITH_AS(opt.update(dict_of(kG1), other, params),
                         doctest::Contains("no 'mu' entry"), ValueError);
    CHECK_THROWS_WITH_AS(
        opt.update(dict_of(kG1), Tree(), params),
        doctest::Contains("[adam] the state must be a list of 2"), ValueError);
  }
  SUBCASE("apply_updates with mismatched trees") {
    CHECK_THROWS_WITH_AS(
        optim::apply_updates(params, Tree{{"b", zeros({2}, float64)}}),
        doctest::Contains("[apply_updates]"), ShapeError);
  }
  SUBCASE("hyperparameters") {
    CHECK_THROWS_WITH_AS(optim::cosine_decay_schedule(1.0, 0),
                         doctest::Contains("decay_steps must be positive"),
                         ValueError);
    CHECK_THROWS_WITH_AS(optim::clip_by_global_norm(0.0),
                         doctest::Contains("[clip_by_global_norm]"),
                         ValueError);
    CHECK_THROWS_WITH_AS(optim::piecewise_constant_schedule(1.0, {{10, -0.5}}),
                         doctest::Contains("non-negative"), ValueError);
    CHECK_THROWS_WITH_AS(
        optim::join_schedules({optim::constant_schedule(1.0)}, {5}),
        doctest::Contains("[join_schedules]"), ValueError);
  }
}

TEST_CASE("global_norm and clip_by_global_norm: values by formula") {
  Tree t{{"a", array({3.0, 0.0}).astype(float64)},
         {"b", array({4.0}).astype(float64)}};
  CHECK(optim::global_norm(t).item<double>() == doctest::Approx(5.0));
  auto clip = optim::clip_by_global_norm(2.5);
  auto [u, s] = clip.update(t, clip.init(t));
  CHECK_ALLCLOSE(u["a"].array(), V{1.5, 0.0});
  CHECK_ALLCLOSE(u["b"].array(), V{2.0});
  auto loose = optim::clip_by_global_norm(10.0);
  auto [u2, s2] = loose.update(t, loose.init(t));
  CHECK_ALLCLOSE(u2["b"].array(), V{4.0});
}

TEST_CASE("optimizers: updates work under vmap and grad") {
  auto opt = optim::adam(0.1);
  // vmap over a batch of independent parameter vectors equals the loop.
  Array ps = testing::uniform({3, 4}, -1.0, 1.0, float64, 51);
  Array gs = testing::uniform({3, 4}, -1.0, 1.0, float64, 52);
  auto one = [&](const Array &p, const Array &g) {
    auto [u, s] = opt.update(g, opt.init(p), p);
    return optim::apply_updates(p, u);
  };
  Array mapped = vmap(one)(ps, gs);
  for (int i = 0; i < 3; ++i)
    CHECK_ALLCLOSE(mapped[i], one(ps[i], gs[i]));
  // grad through one sgd step: h(p) = sum((p - 0.1 * 2p)^2) = 0.64 sum(p^2),
  // dh/dp = 1.28 p.
  auto sgd = optim::sgd(0.1);
  auto h = [&](const Array &p) {
    auto [u, s] = sgd.update(2.0 * p, sgd.init(p), p);
    return sum(square(optim::apply_updates(p, u)));
  };
  Array p = array({1.0, -2.0, 0.5}).astype(float64);
  CHECK_ALLCLOSE(grad(h)(p), V{1.28, -2.56, 0.64});
}
