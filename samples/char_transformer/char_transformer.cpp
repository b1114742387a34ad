// char_transformer: a small decoder-only (GPT-style) transformer trained on tinyshakespeare, one
// character at a time, with nnlib. A user-defined module composes nnlib's Embedding, LayerNorm,
// causal MultiHeadAttention and MLP into pre-LayerNorm residual blocks, with readable parameter
// paths ("block0.attn.wq"); jx::value_and_grad gives the loss and gradient of each step, and
// jx::optim chains global-norm clipping with adamw under a warm-up + cosine learning-rate schedule.
// The training step is compiled with jx::jit, the params and optimizer state donated to it
// (`jax.jit(train_step, donate_argnums=0)`), and so is the validation loss. It prints the
// unigram baseline (what character frequencies alone achieve), the train and validation losses
// as they fall below it, and then text sampled from the trained model with
// jx::random::categorical. The model is kept small enough to learn in a couple of minutes on a
// laptop CPU.
//
//   char_transformer [--seconds N] [--steps N] [--temperature T] [--seed S] [--prompt TEXT]
//
// --seconds is the training budget (default 150); --steps fixes the step count instead. It exits
// non-zero when the final validation loss is not at least 0.5 nats below the unigram baseline.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>


#include <jx/jx.h>

#ifndef JX_SAMPLES_DATA
#error "JX_SAMPLES_DATA must name the samples/data directory"
#endif

using jx::Array;
using jx::Tree;
namespace nn = jx::nn;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The model: tokens [B, T] int32 -> logits [B, T, vocab].
//   tok_emb + pos_emb -> block0 .. block(L-1) -> ln_f -> head
//   block: x = x + attn(ln1(x)); x = x + mlp(ln2(x))   (pre-LayerNorm, causal attention)
// Parameters are a dict per part: {"tok_emb", "pos_emb", "block0": {"ln1", "attn", "ln2", "mlp"},
// ..., "ln_f", "head"}.
struct CharTransformer {
  int64_t vocab, context, d_model, heads, layers;

  nn::Embedding tok_emb() const { return with_init(nn::Embedding(vocab, d_model)); }
  nn::Embedding pos_emb() const { return with_init(nn::Embedding(context, d_model)); }
  nn::MultiHeadAttention attn() const { return nn::MultiHeadAttention(heads, d_model / heads, /*causal=*/true); }
  nn::MLP mlp() const { return nn::MLP({4 * d_model, d_model}, nn::gelu); }
  nn::Linear head() const { return nn::Linear(vocab); }
  static nn::Embedding with_init(nn::Embedding e) {
    e.e_init = nn::init::normal(0.02);  // GPT-2's scale rather than N(0, 1)
    return e;
  }

  std::string name() const { return "CharTransformer"; }

  Tree init(const Array& key, const Array& tokens) const {
    Array keys = jx::random::split(key, 3 + 2 * layers);
    Tree::Dict p;
    p["tok_emb"] = tok_emb().init(keys[0], tokens);
    p["pos_emb"] = pos_emb().init(keys[1], tokens);
    Array h = embed(p, tokens);  // the example input of each layer
    for (int64_t i = 0; i < layers; ++i) {
      Tree::Dict b;
      b["ln1"] = nn::LayerNorm().init(keys[2 + 2 * i], h);
      b["attn"] = attn().init(keys[2 + 2 * i], h);
      b["ln2"] = nn::LayerNorm().init(keys[3 + 2 * i], h);
      b["mlp"] = mlp().init(keys[3 + 2 * i], h);
      p["block" + std::to_string(i)] = Tree(std::move(b));
    }
    p["ln_f"] = nn::LayerNorm().init(keys[2 + 2 * layers], h);
    p["head"] = head().init(keys[2 + 2 * layers], h);
    return Tree(std::move(p));
  }

  Array embed(const Tree::Dict& p, const Array& tokens) const {
    int64_t t = tokens.shape().back();
    Array positions = jx::lax::iota(jx::int32, {t});
    return tok_emb().apply(p.at("tok_emb"), tokens) + pos_emb().apply(p.at("pos_emb"), positions);
  }

  Array apply(const Tree& params, const Array& tokens) const {
    const Tree::Dict& p = params.as_dict();
    Array x = embed(p, tokens);  // [B, T, D]
    for (int64_t i = 0; i < layers; ++i) {
      const Tree& b = params["block" + std::to_string(i)];
      x = x + attn().apply(b["attn"], nn::LayerNorm().apply(b["ln1"], x));
      x = x + mlp().apply(b["mlp"], nn::LayerNorm().apply(b["ln2"], x));
    }
    return head().apply(params["head"], nn::LayerNorm().apply(params["ln_f"], x));
  }
};

// Everything a training step changes. JX_TREE makes it a tree: jit takes it, returns it and
// donates its buffers. `step` (int32, 0-d) drives the learning-rate schedule.
struct TrainState {
  Tree params;
  Tree opt_state;
  Array step;
};
JX_TREE(TrainState, params, opt_state, step)

// Linear warm-up from 0 to `peak` over `warmup` steps, then cosine decay to `end` at `total`
// (as optax.warmup_cosine_decay_schedule), from arrays: the step count comes from the state and
// the schedule's length is an argument, so stretching it does not recompile the step.
constexpr double kPeakLr = 3e-3, kEndLr = 3e-4;
Array learning_rate(const Array& step, const Array& warmup, const Array& total) {
  Array s = step.astype(jx::float32);
  Array warm = kPeakLr * s / warmup;
  Array decay_steps = total - warmup;
  Array frac = jx::minimum(s - warmup, decay_steps) / decay_steps;
  const double alpha = kEndLr / kPeakLr;
  Array cosine = kPeakLr * ((1.0 - alpha) * 0.5 * (1.0 + jx::cos(3.14159265358979 * frac)) + alpha);
  return jx::where(s < warmup, warm, cosine);
}

// Mean cross-entropy (nats per character) of predicting y [B, T] from x [B, T].
Array loss_fn(const CharTransformer& model, const Tree& params, const Array& x, const Array& y) {
  return jx::mean(nn::softmax_cross_entropy_with_integer_labels(model.apply(params, x), y));
}

// Windows of the encoded text as a batch: x = text[o : o + T], y = text[o + 1 : o + T + 1].
std::pair<Array, Array> make_batch(const std::vector<int32_t>& data, const std::vector<size_t>& offsets,
                                   int64_t t) {
  std::vector<int32_t> x, y;
  x.reserve(offsets.size() * t);
  y.reserve(offsets.size() * t);
  for (size_t o : offsets) {
    x.insert(x.end(), data.begin() + o, data.begin() + o + t);
    y.insert(y.end(), data.begin() + o + 1, data.begin() + o + t + 1);
  }
  jx::Shape shape{static_cast<int64_t>(offsets.size()), t};
  return {jx::array(x, shape), jx::array(y, shape)};
}

struct Options {
  double seconds = 150;
  int64_t steps = 0;  // 0: as many as fit in `seconds`
  double temperature = 0.8;
  int64_t seed = 0;
  std::string prompt = "ROMEO:\n";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--steps") o.steps = std::stoll(next());
    else if (a == "--temperature") o.temperature = std::stod(next());
    else if (a == "--seed") o.seed = std::stoll(next());
    else if (a == "--prompt") o.prompt = next();
    else {
      std::fprintf(stderr,
                   "usage: char_transformer [--seconds N] [--steps N] [--temperature T] [--seed S] "
                   "[--prompt TEXT]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  // 0. One thread unless JX_NUM_THREADS says otherwise: at a batch of 32 x 64 characters the
  //    kernels are small, and on a busy 2-core machine a second worker mostly waits for a core
  //    (measured here under load: 258 ms/step on one thread, 2.8 s on two).
  if (std::getenv("JX_NUM_THREADS") == nullptr) jx::set_num_threads(1);

  // 1. Read the text, build the character vocabulary, encode, split 90/10 into train/validation.
  const std::string path = std::string(JX_SAMPLES_DATA) + "/tinyshakespeare.txt";
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::string chars = text;
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  std::vector<int32_t> index_of(256, -1);
  for (size_t i = 0; i < chars.size(); ++i) index_of[static_cast<unsigned char>(chars[i])] = static_cast<int32_t>(i);
  std::vector<int32_t> data(text.size());
  for (size_t i = 0; i < text.size(); ++i) data[i] = index_of[static_cast<unsigned char>(text[i])];
  const size_t n_train = data.size() * 9 / 10;
  const std::vector<int32_t> train(data.begin(), data.begin() + n_train), val(data.begin() + n_train, data.end());
  const auto vocab = static_cast<int64_t>(chars.size());
  std::printf("tinyshakespeare: %zu characters, vocabulary %lld, train %zu / validation %zu\n", data.size(),
              static_cast<long long>(vocab), train.size(), val.size());

  // 2. The baseline: a unigram model (train character frequencies), cross-entropy on validation.
  std::vector<double> freq(vocab, 0.0);
  for (int32_t c : train) freq[c] += 1.0;
  double baseline = 0.0;
  for (int32_t c : val) baseline -= std::log(std::max(freq[c], 1.0) / static_cast<double>(train.size()));
  baseline /= static_cast<double>(val.size());
  std::printf("unigram baseline (validation cross-entropy): %.3f nats/char  (uniform: %.3f)\n", baseline,
              std::log(static_cast<double>(vocab)));

  // 3. The model and its parameters.
  const int64_t context = 64, batch = 32;
  const CharTransformer model{.vocab = vocab, .context = context, .d_model = 128, .heads = 4, .layers = 2};
  std::mt19937_64 gen(static_cast<uint64_t>(opt.seed));
  auto random_offsets = [&](const std::vector<int32_t>& d, int64_t n) {
    std::uniform_int_distribution<size_t> pick(0, d.size() - context - 1);
    std::vector<size_t> o(n);
    for (auto& e : o) e = pick(gen);
    return o;
  };
  const Array key = jx::random::key(opt.seed);
  const Array init_key = jx::random::fold_in(key, 0);
  const Array example = make_batch(train, random_offsets(train, 1), context).first;
  Tree params = model.init(init_key, example);
  std::printf("\n%s\n", nn::summary(params).c_str());
  std::printf("model: context %lld, d_model %lld, %lld heads, %lld blocks; batch %lld\n",
              static_cast<long long>(model.context), static_cast<long long>(model.d_model),
              static_cast<long long>(model.heads), static_cast<long long>(model.layers),
              static_cast<long long>(batch));

  // 4. The training step: loss and gradient with jx::value_and_grad, the optimizer update, the
  //    learning rate, compiled with jx::jit and with the state donated: the new params and
  //    moments are written into the old ones' buffers. Everything that changes between steps
  //    is an argument (jit bakes captured values in at the first trace): the batch, the state
  //    with its step count, and the schedule's length (the budget below re-fits it as it goes).
  //    adamw runs with learning rate 1 and the schedule scales its updates, which is adamw at
  //    that rate (its weight decay is scaled by the learning rate too).
  auto loss_and_grad = jx::value_and_grad(
      [model](const Tree& p, const Array& x, const Array& y) { return loss_fn(model, p, x, y); });
  // Weight decay on matrices only (not on LayerNorm scales, biases).
  const auto optimizer = jx::optim::chain(
      jx::optim::clip_by_global_norm(1.0),
      jx::optim::adamw(1.0, 0.9, 0.99, 1e-8, 0.01, [](const Array& p) { return p.ndim() > 1; }));
  auto compiled_step = jx::jit(
      [&](const TrainState& s, const Array& x, const Array& y, const Array& warmup, const Array& total) {
        auto [loss, grads] = loss_and_grad(s.params, x, y);
        auto [updates, opt_state] = optimizer.update(grads, s.opt_state, s.params);
        Array lr = learning_rate(s.step, warmup, total);
        updates = jx::tree_map([&](const Array& u) { return u * lr; }, updates);
        return std::pair{TrainState{jx::optim::apply_updates(s.params, updates), opt_state, s.step + 1}, loss};
      },
      {.donate_argnums = {0}});
  // The schedule's warm-up and length for a run of total_steps, as 0-d float32 arrays.
  auto schedule_args = [](int64_t total_steps) {
    const int64_t warmup = std::max<int64_t>(1, std::min<int64_t>(100, total_steps / 10));
    return std::pair{jx::scalar(static_cast<double>(warmup), jx::float32),
                     jx::scalar(static_cast<double>(std::max(total_steps, warmup + 1)), jx::float32)};
  };
  auto train_step = [&](TrainState& s, int64_t total_steps) {
    auto [x, y] = make_batch(train, random_offsets(train, batch), context);
    auto [warmup, total] = schedule_args(total_steps);
    auto [next, loss] = compiled_step(s, x, y, warmup, total);
    s = std::move(next);
    return loss.item<float>();
  };

  // Validation loss on fixed windows spread evenly over the validation text.
  const int64_t eval_batches = 8;
  std::vector<std::pair<Array, Array>> val_batches;
  for (int64_t b = 0; b < eval_batches; ++b) {
    std::vector<size_t> o(batch);
    for (int64_t i = 0; i < batch; ++i) {
      o[i] = static_cast<size_t>((b * batch + i) * (val.size() - context - 1) / (eval_batches * batch));
    }
    val_batches.push_back(make_batch(val, o, context));
  }
  auto compiled_loss =
      jx::jit([model](const Tree& p, const Array& x, const Array& y) { return loss_fn(model, p, x, y); });
  auto val_loss = [&](const Tree& p) {
    double s = 0;
    for (const auto& [x, y] : val_batches) s += compiled_loss(p, x, y).item<float>();
    return s / static_cast<double>(val_batches.size());
  };

  // 5. Profile: time a few steps on a scratch state (its own buffers, made by init again: the
  //    steps donate them; the first step also traces and compiles), and one validation pass
  //    (the first also compiles); from them, the number of steps that fits the budget.
  const int eval_every = 100;
  double step_s = 0, eval_s = 0;
  {
    Tree p = model.init(init_key, example);
    TrainState scratch{p, optimizer.init(p), jx::zeros({}, jx::int32)};
    auto t0 = Clock::now();
    train_step(scratch, 1000);
    const double first_s = seconds_since(t0);
    t0 = Clock::now();
    val_loss(scratch.params);
    const double first_eval_s = seconds_since(t0);
    const int reps = 3;
    t0 = Clock::now();
    for (int i = 0; i < reps; ++i) train_step(scratch, 1000);
    step_s = seconds_since(t0) / reps;
    t0 = Clock::now();
    val_loss(scratch.params);
    eval_s = seconds_since(t0);
    std::printf("profile: first step %.2f s (traces and compiles the step), then %.0f ms/step (%.0f characters/s); "
                "validation pass %.0f ms (%lld characters; the first, compiling, %.2f s)\n",
                first_s, 1e3 * step_s, static_cast<double>(batch * context) / step_s, 1e3 * eval_s,
                static_cast<long long>(eval_batches * batch * context), first_eval_s);
  }
  int64_t total_steps =
      opt.steps > 0 ? opt.steps
                    : std::max<int64_t>(10, static_cast<int64_t>(opt.seconds / (step_s + eval_s / eval_every)));
  std::printf("training %lld steps (%s)\n\n", static_cast<long long>(total_steps),
              opt.steps > 0 ? "--steps" : "fitted to --seconds");

  // 6. Train: log the running train loss, and every `eval_every` steps the validation loss. With a
  //    time budget, each log line re-fits the step count to the pace measured so far (other
  //    programs may share the cores), which stretches the schedule: a new value of the `total`
  //    argument, not a new trace. Stops at total_steps, or early if the budget runs out anyway.
  //    `params` is donated by the first step; state.params is the model from then on.
  TrainState state{params, optimizer.init(params), jx::zeros({}, jx::int32)};
  const auto start = Clock::now();
  double running = 0;
  int64_t in_running = 0, step = 0;
  const int log_every = 25;
  double final_val = 0;
  for (step = 1; step <= total_steps; ++step) {
    running += train_step(state, total_steps);
    ++in_running;
    const bool out_of_time = opt.steps == 0 && seconds_since(start) > opt.seconds * 1.1;
    const bool last = step == total_steps || out_of_time;
    // With a time budget, every log line re-fits the step count to the pace so far (shown at
    // the validation lines).
    auto refit = [&](double elapsed, bool show) {
      if (opt.steps != 0 || last) return;
      const double pace = elapsed / static_cast<double>(step);
      const int64_t steps = step + std::max<int64_t>(1, static_cast<int64_t>((opt.seconds - elapsed) / pace));
      if (show) std::printf("  (%.0f ms/step: %lld steps)", 1e3 * pace, static_cast<long long>(steps));
      total_steps = steps;
    };
    if (step % eval_every == 0 || last) {
      final_val = val_loss(state.params);
      const double elapsed = seconds_since(start);
      std::printf("step %5lld  train %.3f  val %.3f  %6.1f s", static_cast<long long>(step),
                  running / static_cast<double>(in_running), final_val, elapsed);
      refit(elapsed, true);
      std::printf("\n");
      running = 0;
      in_running = 0;
    } else if (step % log_every == 0) {
      const double elapsed = seconds_since(start);
      std::printf("step %5lld  train %.3f             %6.1f s", static_cast<long long>(step),
                  running / static_cast<double>(in_running), elapsed);
      refit(elapsed, false);
      std::printf("\n");
      running = 0;
      in_running = 0;
    }
    std::fflush(stdout);
    if (out_of_time) {
      std::printf("(stopped at the time budget)\n");
      break;
    }
  }
  const double train_s = seconds_since(start);
  const int64_t steps_done = std::min(step, total_steps);
  std::printf("\ntrained %lld steps in %.1f s (%.0f ms/step)\n", static_cast<long long>(steps_done), train_s,
              1e3 * train_s / static_cast<double>(steps_done));
  std::printf("final validation loss %.3f nats/char vs unigram baseline %.3f: %.3f nats lower\n", final_val,
              baseline, baseline - final_val);

  // 7. Sample: feed the last `context` characters, draw the next one from softmax(logits / T)
  //    with jx::random::categorical, append, repeat. Compiled too, at one shape: the window is
  //    always `context` long, padded on the right, and the position to read is an argument --
  //    causal attention keeps the padding from reaching the positions before it.
  auto draw = jx::jit([model](const Tree& p, const Array& window, const Array& position, const Array& draw_key,
                              const Array& temperature) {
    Array logits = model.apply(p, window)[0];  // [context, vocab]
    return jx::random::categorical(draw_key, logits[position] / temperature);
  });
  std::vector<int32_t> tokens;
  for (char c : opt.prompt) {
    int32_t id = index_of[static_cast<unsigned char>(c)];
    if (id >= 0) tokens.push_back(id);
  }
  if (tokens.empty()) tokens.push_back(index_of['\n']);
  const Array sample_key = jx::random::fold_in(key, 1);
  const Array temperature = jx::scalar(opt.temperature, jx::float32);
  const auto t_sample = Clock::now();
  const int n_sample = 300;
  for (int i = 0; i < n_sample; ++i) {
    const size_t from = tokens.size() > static_cast<size_t>(context) ? tokens.size() - context : 0;
    std::vector<int32_t> window(tokens.begin() + from, tokens.end());
    const auto t = static_cast<int32_t>(window.size());
    window.resize(static_cast<size_t>(context), 0);
    Array next = draw(state.params, jx::array(window, jx::Shape{1, context}), jx::scalar(t - 1, jx::int32),
                      jx::random::fold_in(sample_key, i), temperature);
    tokens.push_back(next.item<int32_t>());
  }
  std::string sample;
  for (int32_t id : tokens) sample += chars[static_cast<size_t>(id)];
  std::printf("\nsample (temperature %.2f, %d characters in %.1f s), prompt \"%s\":\n----\n%s\n----\n",
              opt.temperature, n_sample, seconds_since(t_sample), opt.prompt.c_str(), sample.c_str());

  // 8. The check: the model must beat the unigram baseline clearly.
  if (!(final_val < baseline - 0.5)) {
    std::printf("FAIL: validation loss %.3f is not 0.5 nats below the baseline %.3f\n", final_val, baseline);
    return 1;
  }
  std::printf("OK: the model beats the unigram baseline by %.2f nats/char\n", baseline - final_val);
  return 0;
}
