// The training loop helper and DataLoader: a linear-regression run with a hand-written SGD step,
// early stopping and best checkpoints on scripted metrics, the CSV log, progress output.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "testing/testing.h"

namespace fs = std::filesystem;
using namespace jx;

namespace {

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("jx_fit_test") {}
};

template <class F>
std::string value_error(F&& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<other exception> ") + e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

/// A scripted run: one batch per epoch; the step counts epochs in the state ("epoch") and sets
/// "w" to 10 * epoch; eval reports script[epoch - 1] as "loss" (-> "val_loss").
struct Scripted {
  std::vector<double> script;
  std::vector<int> batches{0};
  nn::History run(Tree& state, nn::FitOptions options) {
    options.progress = nn::Progress::silent;
    auto step = [](const Tree& s, int) {
      Array e = s["epoch"].array() + 1;
      return std::make_pair(Tree{{"epoch", e}, {"w", full({2}, e * 10.0)}}, nn::Metrics{{"loss", 0.0}});
    };
    auto eval = [this](const Tree& s) {
      int e = s["epoch"].array().item<int>();
      return nn::Metrics{{"loss", script.at(static_cast<size_t>(e - 1))}};
    };
    return nn::fit(state, step, batches, eval, options);
  }
};

Tree scripted_state() { return Tree{{"epoch", scalar(0, int32)}, {"w", zeros({2})}}; }

}  // namespace

TEST_CASE("fit: linear regression with a hand-written SGD step reaches a small loss") {
  // y = x @ [2, -1, 0.5] + 0.3, fitted by minibatch SGD over a shuffled DataLoader.
  Array x = testing::uniform({64, 3}, -1.0, 1.0, float32, 7);
  auto xv = x.to_vector<double>();
  const double w_true[3] = {2.0, -1.0, 0.5}, b_true = 0.3;
  std::vector<float> yv(64);
  for (int i = 0; i < 64; ++i) {
    yv[i] = static_cast<float>(xv[i * 3] * w_true[0] + xv[i * 3 + 1] * w_true[1] + xv[i * 3 + 2] * w_true[2] + b_true);
  }
  Array y = array(yv);
  nn::DataLoader loader(Tree{{"x", x}, {"y", y}}, 16, {.shuffle = true, .seed = 3});
  CHECK(loader.size() == 4);

  auto loss_fn = [](const Tree& p, const Tree& batch) {
    Array pred = matmul(batch["x"].array(), p["w"].array()) + p["b"].array();
    return mean(square(pred - batch["y"].array()));
  };
  auto step = [&](const Tree& p, const Tree& batch) {
    auto [loss, g] = value_and_grad(loss_fn)(p, batch);
    Tree next = tree_map([](const Array& w, const Array& dw) { return w - 0.2 * dw; }, p, g);
    return std::make_pair(next, nn::Metrics{{"loss", loss.item<double>()}});
  };
  // Validation loss computed on the host, independently of jx's ops.
  auto eval = [&](const Tree& p) {
    auto w = p["w"].array().to_vector<double>();
    double b = p["b"].array().item<double>(), total = 0;
    for (int i = 0; i < 64; ++i) {
      double pred = xv[i * 3] * w[0] + xv[i * 3 + 1] * w[1] + xv[i * 3 + 2] * w[2] + b;
      total += (pred - yv[i]) * (pred - yv[i]);
    }
    return std::map<std::string, double>{{"loss", total / 64}};
  };
  Tree params{{"w", zeros({3})}, {"b", scalar(0.0)}};
  auto history = nn::fit(params, step, loader, eval, {.epochs = 40, .progress = nn::Progress::silent});
  REQUIRE(history.size() == 40);
  auto train = history.metric("loss"), val = history.metric("val_loss");
  CHECK(train.front() > 0.5);
  CHECK(val.back() < 1e-4);
  CHECK(train.back() < 1e-3);
  CHECK(val.back() < val.front() / 1000);
  const std::vector<double> w_expected{2.0, -1.0, 0.5}, b_expected{0.3};
  CHECK_ALLCLOSE_TOL(params["w"].array(), w_expected, 0, 0.02);
  CHECK_ALLCLOSE_TOL(params["b"].array(), b_expected, 0, 0.02);
  CHECK(!history.stopped_early);
  CHECK(history.best_epoch == 0);
}

TEST_CASE("fit: epoch metrics are the means of the step metrics; Array metrics are accepted") {
  std::vector<double> batches{1.0, 2.0, 6.0};
  int state = 0;
  auto step = [](int s, double b) {
    return std::make_tuple(s + 1, std::map<std::string, Array>{{"a", scalar(b)}, {"b", scalar(b * b, float64)}});
  };
  auto history = nn::fit(state, step, batches, {.epochs = 2, .progress = nn::Progress::silent});
  CHECK(state == 6);
  REQUIRE(history.size() == 2);
  CHECK(history[1].at("a") == doctest::Approx(3.0));
  CHECK(history[1].at("b") == doctest::Approx(41.0 / 3));
  CHECK(history[0].size() == 2);
  CHECK(contains(value_error([&] { history.metric("c"); }), "no metric 'c' (it has: a, b)"));
  // A non-scalar metric is rejected clearly.
  auto bad = [](int s, double) { return std::make_pair(s, std::map<std::string, Array>{{"v", zeros({2})}}); };
  CHECK(contains(value_error([&] { nn::fit(state, bad, batches, {.progress = nn::Progress::silent}); }),
                 "a metric must be a number or a concrete array of size 1, got f32[2]"));
}

TEST_CASE("fit: early stopping stops at the right epoch") {
  struct Case {
    std::vector<double> script;
    nn::EarlyStopping es;
    int stop_epoch;  // number of epochs run
    int best_epoch;
    bool stopped;
  };
  std::vector<Case> cases = {
      // improve to epoch 3, then 2 epochs without improvement -> stop at 5
      {{5, 4, 3, 3.5, 3.2, 3.1, 2.0, 1.0}, {.patience = 2}, 5, 3, true},
      // patience 0: the first epoch without improvement stops
      {{3, 2, 2.5, 1}, {.patience = 0}, 3, 2, true},
      // min_delta: 0.95 is not better than 1.0 by more than 0.1
      {{1.0, 0.95, 0.5, 0.1}, {.patience = 1, .min_delta = 0.1}, 2, 1, true},
      // an equal value is no improvement
      {{2, 2, 2}, {.patience = 1}, 2, 1, true},
      // mode max
      {{0.1, 0.5, 0.4, 0.45, 0.9}, {.patience = 2, .mode = nn::Mode::max}, 4, 2, true},
      // the counter resets on improvement: 4 (w1) 3.9(best, reset) 4 (w1) 4 (w2) -> stop at 6
      {{5, 4, 4.5, 3.9, 4, 4, 1}, {.patience = 2}, 6, 4, true},
      // always improving: runs every epoch
      {{5, 4, 3, 2}, {.patience = 0}, 4, 4, false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    auto& c = cases[i];
    Scripted run{c.script};
    Tree state = scripted_state();
    auto history = run.run(state, {.epochs = static_cast<int>(c.script.size()), .early_stopping = c.es});
    CHECK(history.size() == static_cast<size_t>(c.stop_epoch));
    CHECK(history.best_epoch == c.best_epoch);
    CHECK(history.stopped_early == c.stopped);
    REQUIRE(history.best_value.has_value());
    CHECK(*history.best_value == c.script[static_cast<size_t>(c.best_epoch - 1)]);
    CHECK(state["epoch"].array().item<int>() == c.stop_epoch);
  }
}

TEST_CASE("fit: restore_best puts back the state of the best epoch") {
  Scripted run{{5, 4, 3, 3.5, 3.2, 3.1}};
  Tree state = scripted_state();
  auto history = run.run(state, {.epochs = 6, .early_stopping = nn::EarlyStopping{.patience = 2, .restore_best = true}});
  CHECK(history.size() == 5);
  CHECK(state["epoch"].array().item<int>() == 3);
  CHECK_ALLCLOSE(state["w"].array(), (std::vector<double>{30, 30}));
}

TEST_CASE("fit: the best checkpoint holds the params of the best epoch") {
  TempDir tmp;
  fs::path ck = tmp / "best.safetensors";
  Scripted run{{5, 4, 2, 3, 2.5, 6}};  // best at epoch 3 (w = 30)
  Tree state = scripted_state();
  auto history = run.run(state, {.epochs = 6, .checkpoint = nn::BestCheckpoint{.path = ck}});
  CHECK(history.size() == 6);
  CHECK(history.best_epoch == 3);
  CHECK_ALLCLOSE(state["w"].array(), (std::vector<double>{60, 60}));  // training went on
  REQUIRE(fs::exists(ck));
  Tree best = nn::load_into(ck, scripted_state());
  CHECK(best["epoch"].array().item<int>() == 3);
  CHECK_ALLCLOSE(best["w"].array(), (std::vector<double>{30, 30}));
  auto meta = nn::load_metadata(ck);
  CHECK(meta.at("epoch") == "3");
  CHECK(std::stod(meta.at("val_loss")) == 2.0);

  // Mode max picks the largest; a missing monitor is reported with the metrics present.
  Scripted run2{{1, 7, 3}};
  Tree s2 = scripted_state();
  run2.run(s2, {.epochs = 3, .checkpoint = nn::BestCheckpoint{.path = ck, .mode = nn::Mode::max}});
  CHECK(nn::load_into(ck, scripted_state())["epoch"].array().item<int>() == 2);
  Tree s3 = scripted_state();
  std::string msg = value_error([&] {
    run2.run(s3, {.epochs = 1, .checkpoint = nn::BestCheckpoint{.path = ck, .monitor = "val_acc"}});
  });
  CHECK_MESSAGE(contains(msg, "monitors 'val_acc', which epoch 1 did not produce (its metrics: loss, val_loss"), msg);
}

TEST_CASE("fit: the CSV log has a header and one row per epoch") {
  TempDir tmp;
  fs::path csv = tmp / "log.csv";
  std::vector<int> batches{1, 2};
  int state = 0;
  auto step = [](int s, int b) { return std::make_pair(s + 1, nn::Metrics{{"loss", 1.0 / (s + 1)}, {"acc", b * 0.25}}); };
  auto eval = [](int s) { return nn::Metrics{{"loss", s * 0.5}}; };
  auto history = nn::fit(state, step, batches, eval, {.epochs = 3, .csv_log = csv, .progress = nn::Progress::silent});
  auto lines = read_lines(csv);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "epoch,acc,loss,val_loss");
  for (int e = 1; e <= 3; ++e) {
    CAPTURE(e);
    auto cells = split_csv(lines[static_cast<size_t>(e)]);
    REQUIRE(cells.size() == 4);
    CHECK(cells[0] == std::to_string(e));
    CHECK(std::stod(cells[1]) == doctest::Approx(0.375));
    // steps s = 2e-2 and 2e-1 give losses 1/(2e-1) and 1/(2e)
    CHECK(std::stod(cells[2]) == doctest::Approx((1.0 / (2 * e - 1) + 1.0 / (2 * e)) / 2));
    CHECK(std::stod(cells[3]) == doctest::Approx(e * 1.0));
    CHECK(std::stod(cells[2]) == history[static_cast<size_t>(e - 1)].at("loss"));
  }
}

TEST_CASE("fit: progress is plain lines, a bar, or nothing") {
  std::vector<int> batches{1, 2, 3};
  auto step = [](int s, int b) { return std::make_pair(s, nn::Metrics{{"loss", b * 1.0}}); };
  int state = 0;
  std::ostringstream lines, bar, silent;
  nn::fit(state, step, batches, {.epochs = 2, .progress = nn::Progress::lines, .out = &lines});
  CHECK(lines.str().find('\r') == std::string::npos);
  CHECK(contains(lines.str(), "epoch 1/2 - 3 batches - "));
  CHECK(contains(lines.str(), "epoch 2/2 - 3 batches - "));
  CHECK(contains(lines.str(), " - loss 2\n"));
  const std::string text = lines.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  nn::fit(state, step, batches, {.epochs = 1, .progress = nn::Progress::bar, .out = &bar});
  CHECK(contains(bar.str(), "\r"));
  CHECK(contains(bar.str(), "[==============================] 3/3"));
  CHECK(contains(bar.str(), "epoch 1/1 - 3 batches - "));
  nn::fit(state, step, batches, {.epochs = 2, .progress = nn::Progress::silent, .out = &silent});
  CHECK(silent.str().empty());
  // Automatic mode on a stream other than stderr never draws a bar.
  std::ostringstream automatic;
  nn::fit(state, step, batches, {.epochs = 1, .out = &automatic});
  CHECK(automatic.str().find('\r') == std::string::npos);
  CHECK(contains(automatic.str(), "epoch 1/1"));
}

TEST_CASE("fit: a callable data provider gets the epoch number") {
  std::vector<int> seen;
  auto data = [&](int epoch) {
    seen.push_back(epoch);
    return std::vector<int>(static_cast<size_t>(epoch + 1), epoch);
  };
  int state = 0;
  auto step = [](int s, int b) { return std::make_pair(s + 1, nn::Metrics{{"b", b * 1.0}}); };
  auto history = nn::fit(state, step, data, {.epochs = 3, .progress = nn::Progress::silent});
  CHECK(seen == std::vector<int>{0, 1, 2});
  CHECK(state == 1 + 2 + 3);
  CHECK(history[2].at("b") == 2.0);
}

TEST_CASE("DataLoader: batches cover every example once, shuffled per epoch by the seed") {
  Array x = arange(10).astype(float32);
  Array y = arange(10) * 2;
  using Data = std::pair<Array, Array>;
  nn::DataLoader<Data> plain({x, y}, 4);
  CHECK(plain.num_examples() == 10);
  CHECK(plain.size() == 3);
  std::vector<int64_t> sizes;
  std::vector<double> order;
  for (auto [bx, by] : plain.epoch(0)) {
    sizes.push_back(bx.shape()[0]);
    for (double v : bx.to_vector<double>()) order.push_back(v);
  }
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK(order == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  nn::DataLoader<Data> dropping({x, y}, 4, {.drop_last = true});
  CHECK(dropping.size() == 2);

  auto epoch_order = [](const nn::DataLoader<Data>& loader, int epoch) {
    std::vector<double> out;
    for (auto [bx, by] : loader.epoch(epoch)) {
      auto xs = bx.to_vector<double>();
      auto ys = by.to_vector<double>();
      for (size_t i = 0; i < xs.size(); ++i) {
        CHECK(ys[i] == 2 * xs[i]);  // rows stay paired
        out.push_back(xs[i]);
      }
    }
    return out;
  };
  nn::DataLoader<Data> a({x, y}, 3, {.shuffle = true, .seed = 42}), b({x, y}, 3, {.shuffle = true, .seed = 42}),
      c({x, y}, 3, {.shuffle = true, .seed = 43});
  auto a0 = epoch_order(a, 0), a1 = epoch_order(a, 1);
  CHECK(a0 == epoch_order(b, 0));
  CHECK(a0 != a1);
  CHECK(a0 != epoch_order(c, 0));
  CHECK(a0 != order);
  for (auto* v : {&a0, &a1}) {
    auto sorted = *v;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == order);
  }
  // Zero examples give zero batches.
  nn::DataLoader<Tree> empty(Tree{{"x", zeros({0, 3})}}, 2);
  CHECK(empty.size() == 0);
  CHECK(empty.epoch(0).begin() == empty.epoch(0).end());
}

TEST_CASE("DataLoader: bad data is rejected with the shapes") {
  CHECK(contains(value_error([] { nn::DataLoader<Tree>(Tree{{"x", zeros({4, 2})}, {"y", zeros({3})}}, 2); }),
                 "same leading (example) dimension, got f32[4,2], f32[3]"));
  CHECK(contains(value_error([] { nn::DataLoader<Tree>(Tree{{"x", scalar(1.0)}}, 2); }), "got f32[]"));
  CHECK(contains(value_error([] { nn::DataLoader<Array>(zeros({4}), 0); }), "batch_size must be positive, got 0"));
}

TEST_CASE("evaluate: averages an eval step over the batches") {
  Array x = arange(6).astype(float32);
  nn::DataLoader<Array> loader(x, 4);  // batches [0..3], [4, 5]
  auto eval_step = [](const Array& scale, const Array& batch) {
    return std::map<std::string, Array>{{"sum", sum(batch * scale)}, {"n", scalar(batch.shape()[0] * 1.0)}};
  };
  nn::Metrics m = nn::evaluate(eval_step, scalar(2.0), loader);
  CHECK(m.at("sum") == doctest::Approx((12.0 + 18.0) / 2));
  CHECK(m.at("n") == doctest::Approx(3.0));
  std::vector<Array> plain{ones({2}), zeros({2})};
  CHECK(nn::evaluate(eval_step, scalar(1.0), plain).at("sum") == doctest::Approx(1.0));
}

TEST_CASE("fit: bad options are rejected before training") {
  std::vector<int> batches{1};
  int state = 0;
  int calls = 0;
  auto step = [&](int s, int) {
    ++calls;
    return std::make_pair(s, nn::Metrics{{"loss", 1.0}});
  };
  CHECK(contains(value_error([&] {
                   nn::fit(state, step, batches, {.checkpoint = nn::BestCheckpoint{.path = "x.safetensors"}});
                 }),
                 "best-checkpoint saving needs a tree state"));
  CHECK(contains(value_error([&] { nn::fit(state, step, batches, {.epochs = -1}); }), "epochs must be >= 0, got -1"));
  CHECK(contains(value_error([&] {
                   nn::fit(state, step, batches, {.early_stopping = nn::EarlyStopping{.patience = -2}});
                 }),
                 "patience must be >= 0, got -2"));
  CHECK(calls == 0);
}
