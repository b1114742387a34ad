// nnlib modules: activations, layers, Sequential and parameter-tree helpers, written against the
// public ops only (so every apply works under grad and vmap).
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "nnlib/module.h"
#include "nnlib/random.h"

namespace jx::nn {
namespace {

using jx::detail::cat;

/// A constant in x's float dtype: a plain C++ double is a weak float32 scalar in jx, which would
/// round constants like eps or 0.01 in float64 computations.
Array lit(double v, const Array& like) { return is_floating(like.dtype()) ? scalar(v, like.dtype()) : Array(v); }

DType param_dtype(const Array& x) { return is_floating(x.dtype()) ? x.dtype() : float32; }

std::string keys_of(const Tree& t) {
  if (!t.is_dict()) return t.is_leaf() ? "an array" : t.is_list() ? "a list" : "nothing";
  std::string s = "{";
  bool first = true;
  for (auto& [k, v] : t.as_dict()) {
    s += (first ? "'" : ", '") + k + "'";
    first = false;
  }
  return s + "}";
}

/// params[key] as an array, or a ValueError naming the module and what the params hold.
const Array& param(const char* who, const Tree& params, const std::string& key) {
  if (!params.is_dict() || !params.as_dict().count(key) || !params.as_dict().at(key).is_leaf()) {
    throw ValueError(cat("[", who, "] parameters have no array '", key, "'; got ", keys_of(params),
                         " (pass the tree init returned for this module)"));
  }
  return params.as_dict().at(key).array();
}

void require_float_input(const char* who, const Array& x) {
  if (!is_floating(x.dtype())) {
    throw DTypeError(cat("[", who, "] input ", x.aval().str(), " must be floating point"));
  }
}

void require_rank(const char* who, const Array& x, int64_t lo, int64_t hi, const char* layout) {
  if (x.ndim() < lo || x.ndim() > hi) {
    throw ShapeError(cat("[", who, "] input ", x.aval().str(), " has rank ", x.ndim(), "; expected ", layout));
  }
}

bool empty_tree(const Tree& t) { return t.is_none() || (t.is_dict() && t.size() == 0) || (t.is_list() && t.size() == 0); }

Tree empty_dict() { return Tree::dict(); }

}  // namespace

const Tree& subtree(const Tree& tree, const std::string& key) {
  static const Tree kEmpty = Tree::dict();
  if (tree.is_dict()) {
    auto it = tree.as_dict().find(key);
    if (it != tree.as_dict().end()) return it->second;
  }
  return kEmpty;
}

// ---- activations ---------------------------------------------------------------------------------

namespace act {
Array relu_fn(const Array& x) { return jx::relu(x); }
Array relu6_fn(const Array& x) { return jx::minimum(jx::relu(x), 6.0); }
Array gelu_fn(const Array& x) { return jx::gelu(x, true); }
Array gelu_exact_fn(const Array& x) { return jx::gelu(x, false); }
Array tanh_fn(const Array& x) { return jx::tanh(x); }
Array sigmoid_fn(const Array& x) { return jx::sigmoid(x); }
Array softplus_fn(const Array& x) { return jx::softplus(x); }
Array silu_fn(const Array& x) { return x * jx::sigmoid(x); }
Array elu_fn(const Array& x) { return jx::where(x > 0.0, x, jx::expm1(jx::minimum(x, 0.0))); }
Array leaky_relu_fn(const Array& x) { return jx::where(x >= 0.0, x, x * lit(0.01, x)); }
Array log_sigmoid_fn(const Array& x) { return -jx::softplus(-x); }
Array softmax_fn(const Array& x) { return jx::softmax(x, -1); }
Array log_softmax_fn(const Array& x) { return jx::log_softmax(x, -1); }
Array identity_fn(const Array& x) { return x; }
Array softmax_axis_fn(const Array& x, int axis) { return jx::softmax(x, axis); }
Array log_softmax_axis_fn(const Array& x, int axis) { return jx::log_softmax(x, axis); }
}  // namespace act

Array Activation::operator()(const Array& x, int axis) const {
  if (!fn_axis) throw ValueError(cat("[nn::", label, "] takes no axis (it is elementwise); got input ", x.aval().str()));
  return fn_axis(x, axis);
}

// ---- Linear ----------------------------------------------------------------------------------------

Linear::Linear(int64_t features, bool use_bias)
    : features(features), use_bias(use_bias), w_init(init::lecun_normal()), b_init(init::zeros) {
  if (features <= 0) throw ValueError(cat("[Linear] features must be positive, got ", features));
}

Tree Linear::init(const Array& key, const Array& x) const {
  require_float_input("Linear", x);
  if (x.ndim() < 1) throw ShapeError(cat("[Linear] input ", x.aval().str(), " needs a feature axis"));
  auto keys = random::split(key, 2);
  DType dt = param_dtype(x);
  Tree::Dict p;
  p["w"] = w_init(keys[0], {x.shape().back(), features}, dt);
  if (use_bias) p["b"] = b_init(keys[1], {features}, dt);
  return Tree(std::move(p));
}

Array Linear::apply(const Tree& params, const Array& x) const {
  const Array& w = param("Linear", params, "w");
  if (x.ndim() < 1 || x.shape().back() != w.shape()[0]) {
    throw ShapeError(cat("[Linear] input ", x.aval().str(), " has ", x.ndim() ? x.shape().back() : 0,
                         " features but the parameters expect ", w.shape()[0], " (w ", w.aval().str(), ")"));
  }
  int last = static_cast<int>(x.ndim()) - 1;
  Array y = lax::dot_general(x, w, {{last}, {0}});
  if (use_bias) y = y + param("Linear", params, "b");
  return y;
}

// ---- Conv2D and pools ------------------------------------------------------------------------------

Conv2D::Conv2D(int64_t features, std::vector<int64_t> kernel, std::vector<int64_t> strides, Padding padding,
               bool use_bias)
    : features(features),
      kernel(std::move(kernel)),
      strides(std::move(strides)),
      padding(std::move(padding)),
      use_bias(use_bias),
      w_init(init::lecun_normal()),
      b_init(init::zeros) {
  if (features <= 0) throw ValueError(cat("[Conv2D] features must be positive, got ", features));
  if (this->kernel.size() != 2 || this->strides.size() != 2) {
    throw ValueError(cat("[Conv2D] kernel and strides need 2 entries (h, w), got ", this->kernel.size(), " and ",
                         this->strides.size()));
  }
}

Tree Conv2D::init(const Array& key, const Array& x) const {
  require_float_input("Conv2D", x);
  require_rank("Conv2D", x, 3, 4, "NHWC [N, H, W, C] or [H, W, C]");
  auto keys = random::split(key, 2);
  DType dt = param_dtype(x);
  Tree::Dict p;
  p["w"] = w_init(keys[0], {kernel[0], kernel[1], x.shape().back(), features}, dt);
  if (use_bias) p["b"] = b_init(keys[1], {features}, dt);
  return Tree(std::move(p));
}

Array Conv2D::apply(const Tree& params, const Array& x) const {
  const Array& w = param("Conv2D", params, "w");
  require_rank("Conv2D", x, 3, 4, "NHWC [N, H, W, C] or [H, W, C]");
  if (x.shape().back() != w.shape()[2]) {
    throw ShapeError(cat("[Conv2D] input ", x.aval().str(), " has ", x.shape().back(),
                         " channels but the kernel expects ", w.shape()[2], " (w ", w.aval().str(), ")"));
  }
  bool single = x.ndim() == 3;
  Array y = jx::conv(single ? expand_dims(x, {0}) : x, w, strides, padding);
  if (use_bias) y = y + param("Conv2D", params, "b");
  return single ? squeeze(y, {0}) : y;
}

namespace {
template <class F>
Array pool(const char* who, const Array& x, F&& f) {
  require_rank(who, x, 3, 4, "NHWC [N, H, W, C] or [H, W, C]");
  bool single = x.ndim() == 3;
  Array y = f(single ? expand_dims(x, {0}) : x);
  return single ? squeeze(y, {0}) : y;
}
void check_window(const char* who, const std::vector<int64_t>& window, const std::vector<int64_t>& strides) {
  if (window.size() != 2 || (!strides.empty() && strides.size() != 2)) {
    throw ValueError(cat("[", who, "] window and strides need 2 entries (h, w), got ", window.size(), " and ",
                         strides.size()));
  }
}
}  // namespace

MaxPool::MaxPool(std::vector<int64_t> window, std::vector<int64_t> strides, Padding padding)
    : window(std::move(window)), strides(std::move(strides)), padding(std::move(padding)) {
  check_window("MaxPool", this->window, this->strides);
}
Array MaxPool::apply(const Tree&, const Array& x) const {
  return pool("MaxPool", x, [&](const Array& v) { return jx::max_pool(v, window, strides, padding); });
}
AvgPool::AvgPool(std::vector<int64_t> window, std::vector<int64_t> strides, Padding padding)
    : window(std::move(window)), strides(std::move(strides)), padding(std::move(padding)) {
  check_window("AvgPool", this->window, this->strides);
}
Array AvgPool::apply(const Tree&, const Array& x) const {
  return pool("AvgPool", x, [&](const Array& v) { return jx::avg_pool(v, window, strides, padding); });
}

// ---- normalization ---------------------------------------------------------------------------------

namespace {
void check_features(const char* who, const Array& x, const Array& p, const char* pname) {
  if (x.ndim() < 1 || p.ndim() != 1 || x.shape().back() != p.shape()[0]) {
    throw ShapeError(cat("[", who, "] input ", x.aval().str(), " has ", x.ndim() ? x.shape().back() : 0,
                         " features but '", pname, "' is ", p.aval().str()));
  }
}
Axes all_but_last(const Array& x) {
  Axes axes;
  for (int i = 0; i + 1 < static_cast<int>(x.ndim()); ++i) axes.push_back(i);
  return axes;
}
}  // namespace

BatchNorm::BatchNorm(double momentum, double eps) : momentum(momentum), eps(eps) {
  if (!(momentum >= 0 && momentum <= 1)) throw ValueError(cat("[BatchNorm] momentum must be in [0, 1], got ", momentum));
  if (!(eps >= 0)) throw ValueError(cat("[BatchNorm] eps must be >= 0, got ", eps));
}

std::pair<Tree, Tree> BatchNorm::init_with_state(const Array&, const Array& x) const {
  require_float_input("BatchNorm", x);
  if (x.ndim() < 1) throw ShapeError(cat("[BatchNorm] input ", x.aval().str(), " needs a feature axis"));
  int64_t c = x.shape().back();
  DType dt = param_dtype(x);
  Tree params{{"scale", jx::ones({c}, dt)}, {"bias", jx::zeros({c}, dt)}};
  Tree state{{"mean", jx::zeros({c}, dt)}, {"var", jx::ones({c}, dt)}};
  return {params, state};
}

Array BatchNorm::apply(const Tree&, const Array&) const {
  throw ValueError(
      "[BatchNorm] needs its running statistics: call apply(params, state, x, opts) with the state from "
      "init_with_state / init_state");
}

std::pair<Array, Tree> BatchNorm::apply(const Tree& params, const Tree& state, const Array& x,
                                        const ApplyOptions& opts) const {
  const Array& scale = param("BatchNorm", params, "scale");
  const Array& bias = param("BatchNorm", params, "bias");
  check_features("BatchNorm", x, scale, "scale");
  check_features("BatchNorm", x, bias, "bias");
  if (!state.is_dict() || !state.as_dict().count("mean") || !state.as_dict().count("var")) {
    throw ValueError(cat("[BatchNorm] state needs 'mean' and 'var'; got ", keys_of(state),
                         " (pass the state init_with_state returned)"));
  }
  const Array& rmean = state["mean"].array();
  const Array& rvar = state["var"].array();
  check_features("BatchNorm", x, rmean, "mean");
  check_features("BatchNorm", x, rvar, "var");
  Array m, v;
  Tree new_state = state;
  if (opts.train) {
    Axes axes = all_but_last(x);
    m = mean(x, axes);
    v = mean(square(x - m), axes);
    Array mom = lit(momentum, rmean), rest = lit(1.0 - momentum, rmean);
    new_state = Tree{{"mean", rmean * mom + m * rest}, {"var", rvar * mom + v * rest}};
  } else {
    m = rmean;
    v = rvar;
  }
  Array y = (x - m) * rsqrt(v + lit(eps, v)) * scale + bias;
  return {y, new_state};
}

LayerNorm::LayerNorm(double eps, bool use_scale, bool use_bias) : eps(eps), use_scale(use_scale), use_bias(use_bias) {
  if (!(eps >= 0)) throw ValueError(cat("[LayerNorm] eps must be >= 0, got ", eps));
}

Tree LayerNorm::init(const Array&, const Array& x) const {
  require_float_input("LayerNorm", x);
  if (x.ndim() < 1) throw ShapeError(cat("[LayerNorm] input ", x.aval().str(), " needs a feature axis"));
  int64_t c = x.shape().back();
  Tree::Dict p;
  if (use_scale) p["scale"] = jx::ones({c}, param_dtype(x));
  if (use_bias) p["bias"] = jx::zeros({c}, param_dtype(x));
  return Tree(std::move(p));
}

Array LayerNorm::apply(const Tree& params, const Array& x) const {
  require_float_input("LayerNorm", x);
  if (x.ndim() < 1) throw ShapeError(cat("[LayerNorm] input ", x.aval().str(), " needs a feature axis"));
  Array m = mean(x, {-1}, true);
  Array v = mean(square(x - m), {-1}, true);
  Array y = (x - m) * rsqrt(v + lit(eps, v));
  if (use_scale) {
    const Array& s = param("LayerNorm", params, "scale");
    check_features("LayerNorm", x, s, "scale");
    y = y * s;
  }
  if (use_bias) {
    const Array& b = param("LayerNorm", params, "bias");
    check_features("LayerNorm", x, b, "bias");
    y = y + b;
  }
  return y;
}

RMSNorm::RMSNorm(double eps) : eps(eps) {
  if (!(eps >= 0)) throw ValueError(cat("[RMSNorm] eps must be >= 0, got ", eps));
}

Tree RMSNorm::init(const Array&, const Array& x) const {
  require_float_input("RMSNorm", x);
  if (x.ndim() < 1) throw ShapeError(cat("[RMSNorm] input ", x.aval().str(), " needs a feature axis"));
  return Tree{{"scale", jx::ones({x.shape().back()}, param_dtype(x))}};
}

Array RMSNorm::apply(const Tree& params, const Array& x) const {
  const Array& s = param("RMSNorm", params, "scale");
  require_float_input("RMSNorm", x);
  check_features("RMSNorm", x, s, "scale");
  return x * rsqrt(mean(square(x), {-1}, true) + lit(eps, x)) * s;
}

// ---- Dropout ---------------------------------------------------------------------------------------

Dropout::Dropout(double rate) : rate(rate) {
  if (!(rate >= 0 && rate <= 1)) throw ValueError(cat("[Dropout] rate must be in [0, 1], got ", rate));
}

Array Dropout::apply(const Tree&, const Array& x) const { return x; }

std::pair<Array, Tree> Dropout::apply(const Tree&, const Tree& state, const Array& x, const ApplyOptions& opts) const {
  if (!opts.train || rate == 0) return {x, state};
  if (!opts.rng.defined()) {
    throw ValueError(cat("[Dropout] train mode needs a key: pass ApplyOptions{.train = true, .rng = key} (input ",
                         x.aval().str(), ")"));
  }
  if (rate == 1) return {zeros_like(x), state};
  Array keep = random::bernoulli(opts.rng, 1.0 - rate, x.shape());
  return {where(keep, x * lit(1.0 / (1.0 - rate), x), zeros_like(x)), state};
}

// ---- Embedding -------------------------------------------------------------------------------------

Embedding::Embedding(int64_t num, int64_t features, DType dtype)
    : num(num), features(features), dtype(dtype), e_init(init::normal(1.0)) {
  if (num <= 0 || features <= 0) {
    throw ValueError(cat("[Embedding] num and features must be positive, got ", num, " and ", features));
  }
  if (!is_floating(dtype)) throw DTypeError(cat("[Embedding] dtype must be floating, got ", dtype_name(dtype)));
}

Tree Embedding::init(const Array& key, const Array& x) const {
  if (!is_integer(x.dtype())) {
    throw DTypeError(cat("[Embedding] indices must be integers, got ", x.aval().str()));
  }
  return Tree{{"embedding", e_init(key, {num, features}, dtype)}};
}

Array Embedding::apply(const Tree& params, const Array& x) const {
  const Array& table = param("Embedding", params, "embedding");
  if (!is_integer(x.dtype())) {
    throw DTypeError(cat("[Embedding] indices must be integers, got ", x.aval().str()));
  }
  if (table.ndim() != 2) throw ShapeError(cat("[Embedding] 'embedding' must be 2-d, got ", table.aval().str()));
  return take(table, x, 0);
}

// ---- MultiHeadAttention ----------------------------------------------------------------------------

MultiHeadAttention::MultiHeadAttention(int64_t num_heads, int64_t head_dim, bool causal, int64_t out_features)
    : num_heads(num_heads), head_dim(head_dim), causal(causal), out_features(out_features), w_init(init::lecun_normal()) {
  if (num_heads <= 0 || head_dim <= 0 || out_features < 0) {
    throw ValueError(cat("[MultiHeadAttention] num_heads and head_dim must be positive (got ", num_heads, ", ",
                         head_dim, ") and out_features >= 0 (got ", out_features, ")"));
  }
}

Tree MultiHeadAttention::init(const Array& key, const Array& x) const {
  require_float_input("MultiHeadAttention", x);
  require_rank("MultiHeadAttention", x, 2, 3, "[B, T, D] or [T, D]");
  int64_t d = x.shape().back(), hd = num_heads * head_dim, out = out_features ? out_features : d;
  DType dt = param_dtype(x);
  auto keys = random::split(key, 4);
  return Tree{{"wq", w_init(keys[0], {d, hd}, dt)},
              {"wk", w_init(keys[1], {d, hd}, dt)},
              {"wv", w_init(keys[2], {d, hd}, dt)},
              {"wo", w_init(keys[3], {hd, out}, dt)}};
}

Array MultiHeadAttention::apply(const Tree& params, const Array& x_in) const {
  const char* who = "MultiHeadAttention";
  const Array& wq = param(who, params, "wq");
  const Array& wk = param(who, params, "wk");
  const Array& wv = param(who, params, "wv");
  const Array& wo = param(who, params, "wo");
  require_rank(who, x_in, 2, 3, "[B, T, D] or [T, D]");
  int64_t hd = num_heads * head_dim;
  if (x_in.shape().back() != wq.shape()[0]) {
    throw ShapeError(cat("[MultiHeadAttention] input ", x_in.aval().str(), " has ", x_in.shape().back(),
                         " features but the parameters expect ", wq.shape()[0], " (wq ", wq.aval().str(), ")"));
  }
  for (const Array* w : {&wq, &wk, &wv}) {
    if (w->ndim() != 2 || w->shape()[1] != hd || w->shape()[0] != wq.shape()[0]) {
      throw ShapeError(cat("[MultiHeadAttention] projection ", w->aval().str(), " does not fit ", num_heads,
                           " heads of size ", head_dim, " over ", wq.shape()[0], " features"));
    }
  }
  if (wo.ndim() != 2 || wo.shape()[0] != hd) {
    throw ShapeError(cat("[MultiHeadAttention] 'wo' ", wo.aval().str(), " must have ", hd, " rows"));
  }
  bool single = x_in.ndim() == 2;
  Array x = single ? expand_dims(x_in, {0}) : x_in;
  int64_t b = x.shape()[0], t = x.shape()[1];
  // 1. Project and split heads: [B, T, D] -> [B, H, T, hd].
  auto heads = [&](const Array& w) {
    Array p = lax::dot_general(x, w, {{2}, {0}});
    return transpose(reshape(p, {b, t, num_heads, head_dim}), {0, 2, 1, 3});
  };
  Array q = heads(wq), k = heads(wk), v = heads(wv);
  // 2. Scaled scores [B, H, T, S], masked where s > t when causal.
  Array logits = lax::dot_general(q, k, {{3}, {3}}, {{0, 1}, {0, 1}}) * lit(1.0 / std::sqrt(static_cast<double>(head_dim)), q);
  if (causal) {
    Array mask = lax::iota(int32, {t, t}, 0) >= lax::iota(int32, {t, t}, 1);
    logits = where(mask, logits, full_like(logits, std::numeric_limits<float>::lowest()));
  }
  Array probs = jx::softmax(logits, -1);
  // 3. Weighted values [B, H, T, hd] -> [B, T, H * hd] -> output projection.
  Array o = lax::dot_general(probs, v, {{3}, {2}}, {{0, 1}, {0, 1}});
  o = reshape(transpose(o, {0, 2, 1, 3}), {b, t, hd});
  Array y = lax::dot_general(o, wo, {{2}, {0}});
  return single ? squeeze(y, {0}) : y;
}

// ---- MLP and Flatten -------------------------------------------------------------------------------

MLP::MLP(std::vector<int64_t> sizes, Activation activation, bool activate_final)
    : sizes(std::move(sizes)), activation(activation), activate_final(activate_final) {
  if (this->sizes.empty()) throw ValueError("[MLP] needs at least one layer size");
}

Tree MLP::init(const Array& key, const Array& x) const {
  auto keys = random::split(key, static_cast<int64_t>(sizes.size()));
  Tree::Dict p;
  Array h = x;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Linear layer(sizes[i]);
    Tree lp = layer.init(keys[static_cast<int64_t>(i)], h);
    if (i + 1 < sizes.size()) h = activation(layer.apply(lp, h));
    p[std::to_string(i)] = std::move(lp);
  }
  return Tree(std::move(p));
}

Array MLP::apply(const Tree& params, const Array& x) const {
  Array h = x;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::string k = std::to_string(i);
    if (!params.is_dict() || !params.as_dict().count(k)) {
      throw ValueError(cat("[MLP] parameters have no layer '", k, "'; got ", keys_of(params)));
    }
    h = Linear(sizes[i]).apply(params[k], h);
    if (i + 1 < sizes.size() || activate_final) h = activation(h);
  }
  return h;
}

Array Flatten::apply(const Tree&, const Array& x) const {
  if (start_axis < 0 || start_axis > x.ndim()) {
    throw ShapeError(cat("[Flatten] start_axis ", start_axis, " is out of range for input ", x.aval().str()));
  }
  Shape s(x.shape().begin(), x.shape().begin() + start_axis);
  int64_t rest = 1;
  for (int64_t i = start_axis; i < x.ndim(); ++i) rest *= x.shape()[i];
  s.push_back(rest);
  return reshape(x, s);
}

// ---- Sequential ------------------------------------------------------------------------------------

Sequential::Sequential(std::initializer_list<Module> layers) : Sequential(std::vector<Module>(layers)) {}
Sequential::Sequential(std::initializer_list<std::pair<std::string, Module>> named_layers)
    : Sequential(std::vector<std::pair<std::string, Module>>(named_layers)) {}
Sequential::Sequential(std::vector<Module> layers) {
  for (size_t i = 0; i < layers.size(); ++i) layers_.emplace_back(std::to_string(i), std::move(layers[i]));
}
Sequential::Sequential(std::vector<std::pair<std::string, Module>> named_layers) : layers_(std::move(named_layers)) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].first.empty() || layers_[i].first.find('.') != std::string::npos) {
      throw ValueError(cat("[Sequential] layer ", i, " name '", layers_[i].first,
                           "' must be non-empty and contain no '.' (it is a parameter path segment)"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (layers_[j].first == layers_[i].first) {
        throw ValueError(cat("[Sequential] layer name '", layers_[i].first, "' is used twice"));
      }
    }
  }
}

std::pair<Tree, Tree> Sequential::init_with_state(const Array& key, const Array& x) const {
  Tree::Dict params, state;
  if (layers_.empty()) return {empty_dict(), empty_dict()};
  Array keys = random::split(key, static_cast<int64_t>(layers_.size()));
  Array h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& [name, layer] = layers_[i];
    auto [p, s] = layer.init_with_state(keys[static_cast<int64_t>(i)], h);
    if (i + 1 < layers_.size()) h = layer.apply(p, s, h, ApplyOptions{}).first;
    if (!empty_tree(p)) params[name] = std::move(p);
    if (!empty_tree(s)) state[name] = std::move(s);
  }
  return {Tree(std::move(params)), Tree(std::move(state))};
}

Array Sequential::apply(const Tree& params, const Array& x) const {
  Array h = x;
  for (auto& [name, layer] : layers_) h = layer.apply(subtree(params, name), h);
  return h;
}

std::pair<Array, Tree> Sequential::apply(const Tree& params, const Tree& state, const Array& x,
                                         const ApplyOptions& opts) const {
  Array keys;
  if (opts.rng.defined() && !layers_.empty()) keys = random::split(opts.rng, static_cast<int64_t>(layers_.size()));
  Tree::Dict new_state;
  Array h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& [name, layer] = layers_[i];
    ApplyOptions o{opts.train, keys.defined() ? keys[static_cast<int64_t>(i)] : Array()};
    auto [y, s] = layer.apply(subtree(params, name), subtree(state, name), h, o);
    h = y;
    if (!empty_tree(s)) new_state[name] = std::move(s);
  }
  return {h, Tree(std::move(new_state))};
}

// ---- parameter trees ---------------------------------------------------------------------------------

namespace {
void collect(const Tree& t, const std::string& prefix, std::vector<std::pair<std::string, Array>>& out) {
  if (t.is_leaf()) {
    out.emplace_back(prefix, t.array());
  } else if (t.is_dict()) {
    for (auto& [k, v] : t.as_dict()) collect(v, prefix.empty() ? k : prefix + "." + k, out);
  } else if (t.is_list()) {
    for (size_t i = 0; i < t.size(); ++i) collect(t[i], prefix.empty() ? std::to_string(i) : prefix + "." + std::to_string(i), out);
  }
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Dotted paths compared segment by segment, numeric segments as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i <= a.size() && j <= b.size()) {
    if (i == a.size() || j == b.size()) return i == a.size() && j != b.size();
    size_t ie = a.find('.', i), je = b.find('.', j);
    if (ie == std::string::npos) ie = a.size();
    if (je == std::string::npos) je = b.size();
    std::string sa = a.substr(i, ie - i), sb = b.substr(j, je - j);
    if (sa != sb) {
      if (all_digits(sa) && all_digits(sb) && sa.size() != sb.size()) return sa.size() < sb.size();
      return sa < sb;
    }
    i = ie + 1;
    j = je + 1;
    if (ie == a.size() || je == b.size()) return ie == a.size() && je != b.size();
  }
  return false;
}
}  // namespace

std::vector<std::pair<std::string, Array>> named_leaves(const Tree& tree) {
  std::vector<std::pair<std::string, Array>> out;
  collect(tree, "", out);
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return natural_less(x.first, y.first); });
  return out;
}

int64_t param_count(const Tree& params) {
  int64_t n = 0;
  for (auto& leaf : tree_leaves(params)) n += leaf.size();
  return n;
}

std::string summary(const Tree& params) {
  auto leaves = named_leaves(params);
  size_t width = 4;
  for (auto& [p, a] : leaves) width = std::max(width, p.size());
  std::ostringstream os;
  int64_t total = 0;
  for (auto& [p, a] : leaves) {
    std::string aval = a.aval().str();
    os << p << std::string(width - p.size() + 2, ' ') << aval << std::string(aval.size() < 16 ? 16 - aval.size() : 1, ' ')
       << a.size() << "\n";
    total += a.size();
  }
  os << "total: " << total << " parameters\n";
  return os.str();
}

}  // namespace jx::nn
