// char_transformer: a small decoder-only (GPT-style) transformer trained on tinyshakespeare, one
// character at a time, with nnlib. A user-defined module composes nnlib's Embedding, LayerNorm,
// causal MultiHeadAttention and MLP into pre-LayerNorm residual blocks, with readable parameter
// paths ("block0.attn.wq"); jx::value_and_grad gives the loss and gradient of each step, and
// jx::optim chains global-norm clipping with adamw under a warm-up + cosine learning-rate schedule.
// It prints the unigram baseline (what character frequencies alone achieve), the train and
// validation losses as they fall below it, and then text sampled from the trained model with
// jx::random::categorical. Everything runs eagerly, so the model is kept small enough to learn in
// a couple of minutes on a laptop CPU.
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
  Tree params = model.init(init_key, make_batch(train, random_offsets(train, 1), context).first);
  std::printf("\n%s\n", nn::summary(params).c_str());
  std::printf("model: context %lld, d_model %lld, %lld heads, %lld blocks; batch %lld\n",
              static_cast<long long>(model.context), static_cast<long long>(model.d_model),
              static_cast<long long>(model.heads), static_cast<long long>(model.layers),
              static_cast<long long>(batch));

  // 4. The training step: loss and gradient with jx::value_and_grad (traced once for this
  //    signature, then evaluated), then the optimizer update. Data are arguments, not captures.
  auto loss_and_grad = jx::value_and_grad(
      [model](const Tree& p, const Array& x, const Array& y) { return loss_fn(model, p, x, y); });
  auto make_optimizer = [](int64_t total_steps) {
    const int64_t warmup = std::max<int64_t>(1, std::min<int64_t>(100, total_steps / 10));
    auto lr = jx::optim::warmup_cosine_decay_schedule(0.0, 3e-3, warmup, std::max(total_steps, warmup + 1),
                                                      3e-4);
    // Weight decay on matrices only (not on LayerNorm scales, biases).
    return jx::optim::chain(jx::optim::clip_by_global_norm(1.0),
                            jx::optim::adamw(lr, 0.9, 0.99, 1e-8, 0.01,
                                             [](const Array& p) { return p.ndim() > 1; }));
  };
  auto train_step = [&](const jx::optim::GradientTransformation& optimizer, Tree& p, Tree& state) {
    auto [x, y] = make_batch(train, random_offsets(train, batch), context);
    auto [loss, grads] = loss_and_grad(p, x, y);
    auto [updates, new_state] = optimizer.update(grads, state, p);
    p = jx::optim::apply_updates(p, updates);
    state = std::move(new_state);
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
  auto val_loss = [&](const Tree& p) {
    double s = 0;
    for (const auto& [x, y] : val_batches) s += loss_fn(model, p, x, y).item<float>();
    return s / static_cast<double>(val_batches.size());
  };

  // 5. Profile: time a few steps on a scratch copy of the state (the first one also traces the
  //    loss), and one validation pass; from them, the number of steps that fits the budget.
  const int eval_every = 100;
  double step_s = 0, eval_s = 0;
  {
    auto optimizer = make_optimizer(1000);
    Tree p = params, state = optimizer.init(params);
    auto t0 = Clock::now();
    train_step(optimizer, p, state);
    const double first_s = seconds_since(t0);
    const int reps = 3;
    t0 = Clock::now();
    for (int i = 0; i < reps; ++i) train_step(optimizer, p, state);
    step_s = seconds_since(t0) / reps;
    t0 = Clock::now();
    val_loss(p);
    eval_s = seconds_since(t0);
    std::printf("profile: first step %.2f s (traces value_and_grad), then %.0f ms/step (%.0f characters/s); "
                "validation pass %.0f ms (%lld characters)\n",
                first_s, 1e3 * step_s, static_cast<double>(batch * context) / step_s, 1e3 * eval_s,
                static_cast<long long>(eval_batches * batch * context));
  }
  int64_t total_steps =
      opt.steps > 0 ? opt.steps
                    : std::max<int64_t>(10, static_cast<int64_t>(opt.seconds / (step_s + eval_s / eval_every)));
  std::printf("training %lld steps (%s)\n\n", static_cast<long long>(total_steps),
              opt.steps > 0 ? "--steps" : "fitted to --seconds");

  // 6. Train: log the running train loss, and every `eval_every` steps the validation loss. With a
  //    time budget, each evaluation re-fits the step count to the pace measured so far (other
  //    programs may share the cores) and rebuilds the optimizer with the stretched schedule; its
  //    state carries over unchanged (same transformations, same tree). Stops at total_steps, or
  //    early if the budget runs out anyway.
  auto optimizer = make_optimizer(total_steps);
  Tree opt_state = optimizer.init(params);
  const auto start = Clock::now();
  double running = 0;
  int64_t in_running = 0, step = 0;
  const int log_every = 25;
  double final_val = 0;
  for (step = 1; step <= total_steps; ++step) {
    running += train_step(optimizer, params, opt_state);
    ++in_running;
    const bool out_of_time = opt.steps == 0 && seconds_since(start) > opt.seconds * 1.1;
    const bool last = step == total_steps || out_of_time;
    if (step % eval_every == 0 || last) {
      final_val = val_loss(params);
      const double elapsed = seconds_since(start);
      std::printf("step %5lld  train %.3f  val %.3f  %6.1f s", static_cast<long long>(step),
                  running / static_cast<double>(in_running), final_val, elapsed);
      if (opt.steps == 0 && !last) {
        const double pace = elapsed / static_cast<double>(step);
        const int64_t refit = step + std::max<int64_t>(1, static_cast<int64_t>((opt.seconds - elapsed) / pace));
        if (refit != total_steps) {
          total_steps = refit;
          optimizer = make_optimizer(total_steps);
          std::printf("  (%.0f ms/step: now %lld steps)", 1e3 * pace, static_cast<long long>(total_steps));
        }
      }
      std::printf("\n");
      running = 0;
      in_running = 0;
    } else if (step % log_every == 0) {
      std::printf("step %5lld  train %.3f             %6.1f s\n", static_cast<long long>(step),
                  running / static_cast<double>(in_running), seconds_since(start));
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
  //    with jx::random::categorical, append, repeat.
  std::vector<int32_t> tokens;
  for (char c : opt.prompt) {
    int32_t id = index_of[static_cast<unsigned char>(c)];
    if (id >= 0) tokens.push_back(id);
  }
  if (tokens.empty()) tokens.push_back(index_of['\n']);
  const Array sample_key = jx::random::fold_in(key, 1);
  const auto t_sample = Clock::now();
  const int n_sample = 300;
  for (int i = 0; i < n_sample; ++i) {
    const size_t from = tokens.size() > static_cast<size_t>(context) ? tokens.size() - context : 0;
    std::vector<int32_t> window(tokens.begin() + from, tokens.end());
    const auto t = static_cast<int64_t>(window.size());
    Array logits = model.apply(params, jx::array(window, jx::Shape{1, t}));  // [1, t, vocab]
    Array last = jx::reshape(jx::slice(logits, {0, t - 1, 0}, {1, t, vocab}), {vocab});
    Array next = jx::random::categorical(jx::random::fold_in(sample_key, i), last / opt.temperature);
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
