// nnlib + jit: training steps compiled with jx::jit, params and optimizer state donated (as
// `jax.jit(step, donate_argnums=0)`). The compiled step equals the eager one for an MLP and a
// small CNN under every optimizer (schedules read the step count from the optimizer state, so
// jit does not bake it in) and with BatchNorm statistics and a dropout key in the state;
// donation reuses the old buffers and deletes the old state; nn::fit compiles its step once per
// batch signature; a compiled run learns.
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nnlib/nn.h"
#include "testing/testing.h"

using namespace jx;

namespace {

// Everything that changes between steps.
struct TrainState {
  Tree params;
  Tree opt_state;
};
JX_TREE(TrainState, params, opt_state)

struct Case {
  std::string name;
  optim::GradientTransformation opt;
};

// Every optimizer, several with schedules whose value changes at every step (a baked-in step
// count would freeze them at their first value).
std::vector<Case> optimizers() {
  auto matrices = [](const Array& p) { return p.ndim() > 1; };
  return {
      {"sgd", optim::sgd(0.1)},
      {"sgd momentum nesterov", optim::sgd(0.05, 0.9, /*nesterov=*/true)},
      {"adam", optim::adam(1e-2)},
      {"adamw warm-up + cosine", optim::adamw(optim::warmup_cosine_decay_schedule(0.0, 1e-2, 2, 8, 1e-4), 0.9, 0.999,
                                              1e-8, 1e-2, matrices)},
      {"adamw scheduled weight decay",
       optim::adamw(1e-2, 0.9, 0.999, 1e-8, optim::exponential_decay(0.1, 1, 0.5))},
      {"sgd linear schedule", optim::sgd(optim::linear_schedule(0.2, 0.0, 4))},
      {"rmsprop centered momentum", optim::rmsprop(1e-2, 0.9, 1e-8, 0.0, /*centered=*/true, 0.9)},
      {"adagrad", optim::adagrad(0.1)},
      {"lion", optim::lion(1e-3)},
      {"clip + adam piecewise",
       optim::chain(optim::clip_by_global_norm(0.5),
                    optim::adam(optim::piecewise_constant_schedule(1e-2, {{1, 0.5}, {3, 0.1}})))},
  };
}

// One optax-style training step: loss and gradient, optimizer update, new params.
template <class Model>
auto make_step(Model model, optim::GradientTransformation opt) {
  return [model, opt](const TrainState& s, const Array& x, const Array& y) {
    auto loss_fn = [&model](const Tree& p, const Array& xb, const Array& yb) {
      return mean(nn::softmax_cross_entropy_with_integer_labels(model.apply(p, xb), yb));
    };
    auto [loss, grads] = value_and_grad(loss_fn)(s.params, x, y);
    auto [updates, opt_state] = opt.update(grads, s.opt_state, s.params);
    return std::pair{TrainState{optim::apply_updates(s.params, updates), opt_state}, loss};
  };
}

Array labels(int64_t n, int classes, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& e : v) e = static_cast<int32_t>(gen() % static_cast<unsigned>(classes));
  return array(v);
}

// Host copies of every leaf (the compiled run deletes the arrays it donates).
std::vector<std::vector<double>> snapshot(const TrainState& s) {
  std::vector<std::vector<double>> out;
  for (auto& leaf : tree_leaves(s)) out.push_back(leaf.to_vector<double>());
  return out;
}

// Runs `steps` steps eagerly and compiled with donation from the same initial state and checks
// that losses and every leaf of the state agree after each step.
template <class Model>
void check_jit_equals_eager(const Model& model, const Array& x, const Array& y, int steps, double rtol,
                            double atol) {
  for (auto& c : optimizers()) {
    CAPTURE(c.name);
    Tree params = model.init(random::key(1), x);
    TrainState eager{params, c.opt.init(params)};
    // The compiled run gets its own buffers: donation would delete `params`, which `eager` shares.
    TrainState compiled = tree_map(nn::detail::copy_array, eager);
    auto step = make_step(model, c.opt);
    auto jstep = jit(step, {.donate_argnums = {0}});
    for (int i = 0; i < steps; ++i) {
      CAPTURE(i);
      auto [e_next, e_loss] = step(eager, x, y);
      auto [c_next, c_loss] = jstep(compiled, x, y);
      CHECK(compiled.params["0"]["w"].array().impl().deleted());  // donated
      eager = e_next;
      compiled = c_next;
      CHECK(testing::mismatch(c_loss, testing::values(e_loss), rtol, atol) == "");
      auto e_leaves = tree_leaves(eager), c_leaves = tree_leaves(compiled);
      REQUIRE(e_leaves.size() == c_leaves.size());
      for (size_t k = 0; k < e_leaves.size(); ++k) {
        CAPTURE(k);
        REQUIRE(e_leaves[k].aval() == c_leaves[k].aval());
        CHECK(testing::mismatch(c_leaves[k], testing::values(e_leaves[k]), rtol, atol) == "");
      }
    }
  }
}

}  // namespace

TEST_CASE("jit train step: an MLP's compiled, donated step equals the eager step for every optimizer") {
  nn::MLP model({16, 16, 3}, nn::relu);
  Array x = testing::uniform({12, 5}, -1, 1, float32, 1);
  Array y = labels(12, 3, 2);
  check_jit_equals_eager(model, x, y, /*steps=*/5, 1e-4, 1e-6);
}

TEST_CASE("jit train step: a CNN's compiled, donated step equals the eager step for every optimizer") {
  nn::Sequential model{nn::Conv2D(4, {3, 3}), nn::relu, nn::MaxPool({2, 2}), nn::Flatten(), nn::Linear(3)};
  Array x = testing::uniform({6, 6, 6, 2}, -1, 1, float32, 3);
  Array y = labels(6, 3, 4);
  check_jit_equals_eager(model, x, y, /*steps=*/4, 1e-4, 1e-6);
}

TEST_CASE("jit train step: float64 agrees to float64 tolerance") {
  nn::MLP model({8, 3}, nn::tanh);
  Array x = testing::uniform({10, 4}, -1, 1, float64, 5);
  Array y = labels(10, 3, 6);
  check_jit_equals_eager(model, x, y, /*steps=*/3, 1e-10, 1e-12);
}

TEST_CASE("jit train step: schedules read the step count from the optimizer state") {
  // lr = 0.1 * (step + 1) as a schedule of the count: a count baked in at the first trace would
  // repeat the first step's learning rate.
  auto opt = optim::sgd(optim::Schedule([](const Array& count) { return 0.1 * (count.astype(float32) + 1.0); }));
  Tree params{{"w", array({1.0f, -2.0f})}};
  TrainState s{params, opt.init(params)};
  auto step = jit(
      [&](const TrainState& st, const Array& g) {
        auto [updates, opt_state] = opt.update(Tree{{"w", g}}, st.opt_state, st.params);
        return TrainState{optim::apply_updates(st.params, updates), opt_state};
      },
      {.donate_argnums = {0}});
  Array g = array({1.0f, 1.0f});
  for (int i = 0; i < 3; ++i) s = step(s, g);
  // w - 0.1 * (1 + 2 + 3) * g
  CHECK_ALLCLOSE(s.params["w"].array(), std::vector<double>{0.4, -2.6});
  CHECK(tree_leaves(s.opt_state).back().item<int32_t>() == 3);
}

TEST_CASE("jit train step: donation reuses the old buffers and deletes the old state") {
  nn::MLP model({32, 32, 4}, nn::relu);
  Array x = testing::uniform({16, 8}, -1, 1, float32, 7);
  Array y = labels(16, 4, 8);
  auto opt = optim::adam(1e-2);
  Tree params = model.init(random::key(2), x);
  TrainState s{params, opt.init(params)};
  auto jstep = jit(make_step(model, opt), {.donate_argnums = {0}});
  jstep(tree_map(nn::detail::copy_array, s), x, y);  // compile on a scratch copy first
  std::set<const void*> old_params, old_state;
  for (auto& leaf : tree_leaves(s.params)) old_params.insert(leaf.raw_data());
  for (auto& leaf : tree_leaves(s.opt_state)) old_state.insert(leaf.raw_data());
  const std::vector<Array> old_leaves = tree_leaves(s);

  auto [next, loss] = jstep(s, x, y);

  // 1. Every donated leaf is deleted, here and through other handles to it (`params`).
  for (auto& leaf : old_leaves) CHECK(leaf.impl().deleted());
  CHECK_THROWS_WITH_AS(params["0"]["w"].array().to_vector<float>(), doctest::Contains("donated"), ValueError);
  // 2. The new state lives in the old buffers (the elementwise updates write in place).
  int params_reused = 0, state_reused = 0;
  for (auto& leaf : tree_leaves(next.params)) params_reused += old_params.count(leaf.raw_data()) ? 1 : 0;
  for (auto& leaf : tree_leaves(next.opt_state)) state_reused += old_state.count(leaf.raw_data()) ? 1 : 0;
  CHECK(params_reused >= 1);
  CHECK(state_reused >= 1);
  INFO("reused buffers: params ", params_reused, "/", old_params.size(), ", optimizer state ", state_reused, "/",
       old_state.size());
  CHECK(params_reused == static_cast<int>(old_params.size()));
  // 3. The batch was not donated.
  CHECK(x.to_vector<float>().size() == 128);
  CHECK(std::isfinite(loss.item<float>()));
}

TEST_CASE("fit: the train step is compiled once per batch shape, and the state is donated") {
  Array x = testing::uniform({10, 3}, -1, 1, float32, 9);
  Array y = labels(10, 2, 10);
  nn::Linear model(2);
  auto opt = optim::adam(1e-2);
  int traces = 0;
  auto loss_fn = [&](const Tree& p, const Tree& batch) {
    ++traces;  // runs once per trace (eagerly: once per step, value_and_grad is made per step)
    return mean(nn::softmax_cross_entropy_with_integer_labels(model.apply(p, batch["x"].array()), batch["y"].array()));
  };
  auto step = [&](const TrainState& s, const Tree& batch) {
    auto [loss, grads] = value_and_grad(loss_fn)(s.params, batch);
    auto [updates, opt_state] = opt.update(grads, s.opt_state, s.params);
    return std::pair{TrainState{optim::apply_updates(s.params, updates), opt_state},
                     std::map<std::string, Array>{{"loss", loss}}};
  };
  auto init = [&] {
    Tree p = model.init(random::key(3), x);
    return TrainState{p, opt.init(p)};
  };

  SUBCASE("a last partial batch compiles a second executable, once") {
    nn::DataLoader<Tree> loader(Tree{{"x", x}, {"y", y}}, 4, {.shuffle = true, .seed = 1});  // 4, 4, 2
    TrainState s = init();
    Array w0 = s.params["w"].array();
    auto history = nn::fit(s, step, loader, {.epochs = 3, .progress = nn::Progress::silent});
    CHECK(history.jitted);
    CHECK(traces == 2);
    CHECK(w0.impl().deleted());  // the first step donated the initial state
    CHECK(s.params["w"].array().to_vector<float>().size() == 6);
  }
  SUBCASE("drop_last: one batch shape, one trace") {
    nn::DataLoader<Tree> loader(Tree{{"x", x}, {"y", y}}, 4, {.shuffle = true, .seed = 1, .drop_last = true});
    TrainState s = init();
    auto history = nn::fit(s, step, loader, {.epochs = 3, .progress = nn::Progress::silent});
    CHECK(history.jitted);
    CHECK(traces == 1);
  }
  SUBCASE("jit = false runs the step eagerly: one trace per step, nothing donated") {
    nn::DataLoader<Tree> loader(Tree{{"x", x}, {"y", y}}, 4, {.shuffle = true, .seed = 1});
    TrainState s = init();
    Array w0 = s.params["w"].array();
    auto history = nn::fit(s, step, loader, {.epochs = 3, .progress = nn::Progress::silent, .jit = false});
    CHECK(!history.jitted);
    CHECK(traces == 9);
    CHECK(!w0.impl().deleted());
  }
  SUBCASE("compiled and eager fits give the same history and parameters") {
    nn::DataLoader<Tree> loader(Tree{{"x", x}, {"y", y}}, 4, {.shuffle = true, .seed = 1});
    TrainState a = init(), b = init();
    auto ha = nn::fit(a, step, loader, {.epochs = 3, .progress = nn::Progress::silent});
    auto hb = nn::fit(b, step, loader, {.epochs = 3, .progress = nn::Progress::silent, .jit = false});
    auto la = ha.metric("loss"), lb = hb.metric("loss");
    for (size_t i = 0; i < la.size(); ++i) CHECK(la[i] == doctest::Approx(lb[i]).epsilon(1e-5));
    CHECK(testing::mismatch(a.params["w"].array(), testing::values(b.params["w"].array()), 1e-4, 1e-6) == "");
  }
}

TEST_CASE("fit: a compiled MLP run learns (the loss falls) and restores the best state") {
  // Two Gaussian blobs in 4-d, labels by blob.
  Array x0 = testing::uniform({32, 4}, -1, 1, float32, 11) + 1.5;
  Array x1 = testing::uniform({32, 4}, -1, 1, float32, 12) - 1.5;
  Array x = concatenate({x0, x1}, 0);
  Array y = concatenate({zeros({32}, int32), full({32}, 1, int32)}, 0);
  nn::MLP model({16, 2}, nn::relu);
  auto opt = optim::sgd(0.1, 0.9);
  auto step = jit(
      [&](const TrainState& s, const std::pair<Array, Array>& batch) {
        auto loss_fn = [&](const Tree& p) {
          return mean(nn::softmax_cross_entropy_with_integer_labels(model.apply(p, batch.first), batch.second));
        };
        auto [loss, grads] = value_and_grad(loss_fn)(s.params);
        auto [updates, opt_state] = opt.update(grads, s.opt_state, s.params);
        return std::pair{TrainState{optim::apply_updates(s.params, updates), opt_state},
                         std::map<std::string, Array>{{"loss", loss}}};
      },
      {.donate_argnums = {0}});
  nn::DataLoader<std::pair<Array, Array>> loader({x, y}, 16, {.shuffle = true, .seed = 2});
  Tree params = model.init(random::key(4), x);
  TrainState s{params, opt.init(params)};
  // An already-jitted step works too: fit's jit inlines it (one pjit inside another).
  // The eval script makes epoch 2 the best, then two worse epochs stop training.
  std::vector<double> script{3.0, 1.0, 2.0, 2.0, 2.0};
  std::vector<std::vector<double>> seen;
  int epoch = 0;
  auto eval = [&](const TrainState& st) {
    seen.push_back(st.params["0"]["w"].array().to_vector<double>());
    return nn::Metrics{{"loss", script.at(static_cast<size_t>(epoch++))}};
  };
  auto history = nn::fit(s, step, loader, eval,
                         {.epochs = 5,
                          .early_stopping = nn::EarlyStopping{.patience = 2, .restore_best = true},
                          .progress = nn::Progress::silent});
  CHECK(history.jitted);
  CHECK(history.stopped_early);
  CHECK(history.best_epoch == 2);
  REQUIRE(history.size() == 4);
  auto loss = history.metric("loss");
  CHECK(loss.back() < 0.5 * loss.front());
  // The restored state is the copy made at epoch 2 (the live state's buffers were donated since).
  CHECK(s.params["0"]["w"].array().to_vector<double>() == seen[1]);
  CHECK(s.opt_state.is_list());
}

TEST_CASE("fit: a step that cannot be traced runs eagerly or says how to fix it") {
  Array x = testing::uniform({8, 3}, -1, 1, float32, 13);
  Tree params{{"w", zeros({3})}};
  std::vector<Tree> batches{Tree{{"x", x}}};
  auto loss_fn = [](const Tree& p, const Tree& b) {
    return mean(square(matmul(b["x"].array(), p["w"].array()) - 1.0));
  };
  SUBCASE("metrics as C++ numbers: the step runs eagerly") {
    auto step = [&](const Tree& p, const Tree& b) {
      auto [loss, g] = value_and_grad(loss_fn)(p, b);
      return std::pair{tree_map([](const Array& w, const Array& dw) { return w - 0.1 * dw; }, p, g),
                       nn::Metrics{{"loss", loss.item<double>()}}};
    };
    Tree p = params;
    auto history = nn::fit(p, step, batches, {.epochs = 2, .progress = nn::Progress::silent});
    CHECK(!history.jitted);
    CHECK(history.metric("loss")[1] < history.metric("loss")[0]);
  }
  SUBCASE("an item() inside a compiled step: a ConcretizationError naming FitOptions::jit") {
    auto step = [&](const Tree& p, const Tree& b) {
      auto [loss, g] = value_and_grad(loss_fn)(p, b);
      return std::pair{p, std::map<std::string, Array>{{"loss", Array(loss.item<float>())}}};
    };
    Tree p = params;
    CHECK_THROWS_WITH_AS(nn::fit(p, step, batches, {.progress = nn::Progress::silent}),
                         doctest::Contains("FitOptions::jit = false"), ConcretizationError);
    // Tracing failed before anything ran: nothing was donated.
    CHECK(p["w"].array().to_vector<float>().size() == 3);
    auto history = nn::fit(p, step, batches, {.progress = nn::Progress::silent, .jit = false});
    CHECK(!history.jitted);
  }
}

TEST_CASE("jit train step: BatchNorm statistics and a dropout key in the donated state") {
  // As samples/digits_cnn: the step splits the key, draws the dropout mask, returns the new
  // BatchNorm statistics and key. The same key gives the same mask compiled and eager.
  // (BatchNorm after relu: right after the convolution it would cancel the bias, whose gradient
  // would then be rounding noise that adam scales up to +-lr, differently compiled and eager.)
  nn::Sequential model{nn::Conv2D(4, {3, 3}), nn::relu,         nn::BatchNorm(0.9), nn::MaxPool({2, 2}),
                       nn::Flatten(),         nn::Dropout(0.3), nn::Linear(3)};
  Array x = testing::uniform({8, 6, 6, 1}, -1, 1, float32, 21);
  Array y = labels(8, 3, 22);
  auto opt = optim::adam(1e-2);
  auto step = [&](const Tree& p, const Tree& bs, const Tree& os, const Array& key) {
    Array keys = random::split(key, 2);
    auto loss_fn = [&](const Tree& q) {
      auto [logits, stats] = model.apply(q, bs, x, {.train = true, .rng = keys[1]});
      return std::pair{mean(nn::softmax_cross_entropy_with_integer_labels(logits, y)), stats};
    };
    auto [loss_stats, grads] = value_and_grad(loss_fn, has_aux)(p);
    auto [updates, new_os] = opt.update(grads, os, p);
    return std::tuple{optim::apply_updates(p, updates), loss_stats.second, new_os, keys[0], loss_stats.first};
  };
  auto [params, stats] = model.init_with_state(random::key(5), x);
  Tree eager_p = params, eager_bs = stats, eager_os = opt.init(params);
  Array eager_key = random::key(6);
  auto copy = [](const auto& t) { return tree_map(nn::detail::copy_array, t); };
  Tree p = copy(params), bs = copy(stats), os = copy(eager_os);
  Array key = random::key(6);
  auto jstep = jit(step, {.donate_argnums = {0, 1, 2, 3}});
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    auto [ep, ebs, eos, ekey, eloss] = step(eager_p, eager_bs, eager_os, eager_key);
    auto [cp, cbs, cos_, ckey, closs] = jstep(p, bs, os, key);
    CHECK(key.impl().deleted());
    eager_p = ep, eager_bs = ebs, eager_os = eos, eager_key = ekey;
    p = cp, bs = cbs, os = cos_, key = ckey;
    CHECK(key.to_vector<uint32_t>() == eager_key.to_vector<uint32_t>());
    CHECK(testing::mismatch(closs, testing::values(eloss), 1e-4, 1e-6) == "");
    auto el = tree_leaves(std::tuple{eager_p, eager_bs, eager_os}), cl = tree_leaves(std::tuple{p, bs, os});
    REQUIRE(el.size() == cl.size());
    for (size_t k = 0; k < el.size(); ++k) {
      CAPTURE(k);
      CHECK(testing::mismatch(cl[k], testing::values(el[k]), 1e-4, 1e-6) == "");
    }
  }
}
