#pragma once
// nnlib modules (namespace jx::nn): layer descriptions with pure init/apply functions over
// jx::Tree parameters and state, the type-erased Module value, and Sequential.

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "core/tree.h"
#include "nnlib/init.h"

namespace jx::nn {

/// The module protocol.
///
/// A module is a description: its fields are fixed configuration, never arrays. Its parameters
/// and state are string-keyed `jx::Tree` dicts, created by `init` and passed back to `apply`:
///
///   Tree  init(key, x_example) const                  -> params
///   Array apply(params, x) const                      -> y          (stateless, inference)
/// and, for modules with state (BatchNorm) or randomness (Dropout):
///   std::pair<Tree, Tree> init_with_state(key, x_example) const -> {params, state}
///   std::pair<Array, Tree> apply(params, state, x, opts) const  -> {y, new_state}
///
/// A type needs `init` or `init_with_state`, and `apply` in either form; the `Module` wrapper
/// fills in the rest (a stateless module has the empty state `{}` and returns the state it is
/// given; a module without the stateless `apply` is called with empty state in eval mode).
/// `init` takes an explicit key and splits it; `apply` never keeps anything between calls, so
/// `apply` is a pure function that grad, vmap (and jit) take as it is.
///
/// Shapes: layers take a leading batch dimension ([N, ...]) and also accept one example
/// without it, so they work under vmap (per-example shapes). Exceptions, documented at the
/// layer: Flatten (keeps `start_axis` leading axes) and BatchNorm in train mode (under vmap
/// its batch statistics are per example, as JAX's without an axis_name).
/// Parameters take the example's float dtype (float64 examples give float64 parameters);
/// integer examples (Embedding) give float32.
struct ApplyOptions {
  bool train = false;  ///< BatchNorm uses batch statistics and updates its state; Dropout drops.
  Array rng = Array();  ///< The key for random modules in train mode (Sequential splits it per layer).
};

/// Everything the Module wrapper understands.
template <class M>
concept ModuleLike =
    (requires(const M& m, const Array& a) {
      { m.init(a, a) } -> std::convertible_to<Tree>;
    } || requires(const M& m, const Array& a) {
      { m.init_with_state(a, a) } -> std::convertible_to<std::pair<Tree, Tree>>;
    }) &&
    (requires(const M& m, const Tree& t, const Array& a) {
      { m.apply(t, a) } -> std::convertible_to<Array>;
    } || requires(const M& m, const Tree& t, const Array& a, const ApplyOptions& o) {
      { m.apply(t, t, a, o) } -> std::convertible_to<std::pair<Array, Tree>>;
    });

/// A module of any type, held by value (type-erased, cheap to copy, immutable).
class Module {
 public:
  template <class M>
    requires(!std::same_as<std::decay_t<M>, Module> && ModuleLike<std::decay_t<M>>)
  Module(M m) : impl_(std::make_shared<Model<std::decay_t<M>>>(std::move(m))) {}  // NOLINT: implicit by design

  /// "Linear", "relu", ... (a type's `name()` if it has one, else "Module").
  std::string name() const { return impl_->name(); }
  Tree init(const Array& key, const Array& x) const { return impl_->init_with_state(key, x).first; }
  Tree init_state(const Array& key, const Array& x) const { return impl_->init_with_state(key, x).second; }
  std::pair<Tree, Tree> init_with_state(const Array& key, const Array& x) const {
    return impl_->init_with_state(key, x);
  }
  Array apply(const Tree& params, const Array& x) const { return impl_->apply(params, x); }
  std::pair<Array, Tree> apply(const Tree& params, const Tree& state, const Array& x,
                               const ApplyOptions& opts = {}) const {
    return impl_->apply(params, state, x, opts);
  }
  /// The wrapped module, or nullptr if it is not an M.
  template <class M>
  const M* target() const {
    auto* m = dynamic_cast<const Model<M>*>(impl_.get());
    return m ? &m->m : nullptr;
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual std::string name() const = 0;
    virtual std::pair<Tree, Tree> init_with_state(const Array& key, const Array& x) const = 0;
    virtual Array apply(const Tree& params, const Array& x) const = 0;
    virtual std::pair<Array, Tree> apply(const Tree& params, const Tree& state, const Array& x,
                                         const ApplyOptions& opts) const = 0;
  };
  template <class M>
  struct Model final : Concept {
    M m;
    explicit Model(M mod) : m(std::move(mod)) {}
    std::string name() const override {
      if constexpr (requires { m.name(); }) {
        return std::string(m.name());
      } else {
        return "Module";
      }
    }
    std::pair<Tree, Tree> init_with_state(const Array& key, const Array& x) const override {
      if constexpr (requires { m.init_with_state(key, x); }) {
        return m.init_with_state(key, x);
      } else {
        return {m.init(key, x), Tree::dict()};
      }
    }
    Array apply(const Tree& params, const Array& x) const override {
      if constexpr (requires { m.apply(params, x); }) {
        return m.apply(params, x);
      } else {
        return m.apply(params, Tree::dict(), x, ApplyOptions{}).first;
      }
    }
    std::pair<Array, Tree> apply(const Tree& params, const Tree& state, const Array& x,
                                 const ApplyOptions& opts) const override {
      if constexpr (requires { m.apply(params, state, x, opts); }) {
        return m.apply(params, state, x, opts);
      } else {
        return {m.apply(params, x), state};
      }
    }
  };
  std::shared_ptr<const Concept> impl_;
};

// ---- activations ---------------------------------------------------------------------------------

/// An elementwise (or last-axis) function as a parameterless module; also callable: `nn::relu(x)`.
/// softmax / log_softmax also take an axis when called (`nn::softmax(x, 0)`), so code inside
/// namespace jx::nn that calls them unqualified with an axis still means jx::softmax.
struct Activation {
  const char* label;
  Array (*fn)(const Array&);
  Array (*fn_axis)(const Array&, int) = nullptr;
  std::string name() const { return label; }
  Tree init(const Array&, const Array&) const { return Tree::dict(); }
  Array apply(const Tree&, const Array& x) const { return fn(x); }
  Array operator()(const Array& x) const { return fn(x); }
  Array operator()(const Array& x, int axis) const;
};

namespace act {
Array relu_fn(const Array& x);
Array relu6_fn(const Array& x);
Array gelu_fn(const Array& x);
Array gelu_exact_fn(const Array& x);
Array tanh_fn(const Array& x);
Array sigmoid_fn(const Array& x);
Array softplus_fn(const Array& x);
Array silu_fn(const Array& x);
Array elu_fn(const Array& x);
Array leaky_relu_fn(const Array& x);
Array log_sigmoid_fn(const Array& x);
Array softmax_fn(const Array& x);
Array log_softmax_fn(const Array& x);
Array softmax_axis_fn(const Array& x, int axis);
Array log_softmax_axis_fn(const Array& x, int axis);
Array identity_fn(const Array& x);
}  // namespace act

inline constexpr Activation relu{"relu", &act::relu_fn};
inline constexpr Activation relu6{"relu6", &act::relu6_fn};              ///< min(max(x, 0), 6)
inline constexpr Activation gelu{"gelu", &act::gelu_fn};                 ///< tanh approximation (JAX's default)
inline constexpr Activation gelu_exact{"gelu_exact", &act::gelu_exact_fn};  ///< x Φ(x) with erf
inline constexpr Activation tanh{"tanh", &act::tanh_fn};
inline constexpr Activation sigmoid{"sigmoid", &act::sigmoid_fn};
inline constexpr Activation softplus{"softplus", &act::softplus_fn};
inline constexpr Activation silu{"silu", &act::silu_fn};                 ///< x sigmoid(x)
inline constexpr Activation swish{"swish", &act::silu_fn};
inline constexpr Activation elu{"elu", &act::elu_fn};                    ///< alpha = 1
inline constexpr Activation leaky_relu{"leaky_relu", &act::leaky_relu_fn};  ///< slope 0.01
inline constexpr Activation log_sigmoid{"log_sigmoid", &act::log_sigmoid_fn};
inline constexpr Activation softmax{"softmax", &act::softmax_fn, &act::softmax_axis_fn};        ///< over the last axis
inline constexpr Activation log_softmax{"log_softmax", &act::log_softmax_fn,
                                              &act::log_softmax_axis_fn};
inline constexpr Activation identity{"identity", &act::identity_fn};

/// Any Array -> Array function as a parameterless module (it must be pure).
struct Lambda {
  std::string label;
  std::function<Array(const Array&)> fn;
  Lambda(std::string name, std::function<Array(const Array&)> f) : label(std::move(name)), fn(std::move(f)) {}
  std::string name() const { return label; }
  Tree init(const Array&, const Array&) const { return Tree::dict(); }
  Array apply(const Tree&, const Array& x) const { return fn(x); }
};

// ---- layers ----------------------------------------------------------------------------------------

/// y = x w + b. x: [..., in] -> [..., features]. Params {"w": [in, features], "b": [features]}
/// (w: lecun_normal, b: zeros, as Flax's Dense).
struct Linear {
  int64_t features;
  bool use_bias = true;
  nn::init::Initializer w_init, b_init;
  explicit Linear(int64_t features, bool use_bias = true);
  std::string name() const { return "Linear"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// 2-d convolution. x: NHWC [N, H, W, C] (or one example [H, W, C]); params
/// {"w": HWIO [kh, kw, C, features] (lecun_normal), "b": [features]}.
struct Conv2D {
  int64_t features;
  std::vector<int64_t> kernel, strides;
  Padding padding;
  bool use_bias = true;
  nn::init::Initializer w_init, b_init;
  Conv2D(int64_t features, std::vector<int64_t> kernel = {3, 3}, std::vector<int64_t> strides = {1, 1},
         Padding padding = "SAME", bool use_bias = true);
  std::string name() const { return "Conv2D"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// Max / average pooling over H, W of NHWC input (or [H, W, C]); strides default to the window.
/// AvgPool is jx::avg_pool (padding elements count in the average, as Flax's default).
struct MaxPool {
  std::vector<int64_t> window, strides;
  Padding padding;
  explicit MaxPool(std::vector<int64_t> window, std::vector<int64_t> strides = {}, Padding padding = "VALID");
  std::string name() const { return "MaxPool"; }
  Tree init(const Array&, const Array&) const { return Tree::dict(); }
  Array apply(const Tree& params, const Array& x) const;
};
struct AvgPool {
  std::vector<int64_t> window, strides;
  Padding padding;
  explicit AvgPool(std::vector<int64_t> window, std::vector<int64_t> strides = {}, Padding padding = "VALID");
  std::string name() const { return "AvgPool"; }
  Tree init(const Array&, const Array&) const { return Tree::dict(); }
  Array apply(const Tree& params, const Array& x) const;
};

/// Batch normalization over every axis but the last (features). Params {"scale": ones [C],
/// "bias": zeros [C]}; state {"mean": zeros [C], "var": ones [C]}.
/// train: y = (x - m) / sqrt(v + eps) * scale + bias with the batch mean m and biased variance v,
///        and new state mean' = momentum * mean + (1 - momentum) * m (var likewise, biased v),
///        as Flax's BatchNorm;
/// eval:  the same formula with the running mean/var; the state is returned unchanged.
/// The stateless apply(params, x) throws (BatchNorm needs its state). Under vmap the train-mode
/// statistics are per example.
struct BatchNorm {
  double momentum = 0.99, eps = 1e-5;
  BatchNorm(double momentum = 0.99, double eps = 1e-5);  // NOLINT: default-constructible as a field
  std::string name() const { return "BatchNorm"; }
  std::pair<Tree, Tree> init_with_state(const Array& key, const Array& x) const;
  Tree init(const Array& key, const Array& x) const { return init_with_state(key, x).first; }
  Tree init_state(const Array& key, const Array& x) const { return init_with_state(key, x).second; }
  Array apply(const Tree& params, const Array& x) const;
  std::pair<Array, Tree> apply(const Tree& params, const Tree& state, const Array& x,
                               const ApplyOptions& opts = {}) const;
};

/// y = (x - mean) / sqrt(var + eps) * scale + bias over the last axis (biased var).
/// Params {"scale": ones [C], "bias": zeros [C]} (each only when enabled).
struct LayerNorm {
  double eps = 1e-6;
  bool use_scale = true, use_bias = true;
  LayerNorm(double eps = 1e-6, bool use_scale = true, bool use_bias = true);  // NOLINT
  std::string name() const { return "LayerNorm"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// y = x / sqrt(mean(x², last axis) + eps) * scale. Params {"scale": ones [C]}.
struct RMSNorm {
  double eps = 1e-6;
  RMSNorm(double eps = 1e-6);  // NOLINT
  std::string name() const { return "RMSNorm"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// Inverted dropout: in train mode (opts.train, key opts.rng required) each element is kept with
/// probability 1 - rate and scaled by 1 / (1 - rate); identity in eval mode, with rate 0, and in
/// the stateless apply. rate must be in [0, 1] (rate 1 gives zeros).
struct Dropout {
  double rate;
  explicit Dropout(double rate);
  std::string name() const { return "Dropout"; }
  Tree init(const Array&, const Array&) const { return Tree::dict(); }
  Array apply(const Tree& params, const Array& x) const;
  std::pair<Array, Tree> apply(const Tree& params, const Tree& state, const Array& x,
                               const ApplyOptions& opts = {}) const;
};

/// Table lookup: integer x [...] -> [..., features]. Params {"embedding": [num, features]}
/// (N(0, 1), as Haiku/Flax; float32 unless `dtype` says otherwise). Out-of-range indices are
/// clamped (jx::take).
struct Embedding {
  int64_t num, features;
  DType dtype = float32;
  nn::init::Initializer e_init;
  Embedding(int64_t num, int64_t features, DType dtype = float32);
  std::string name() const { return "Embedding"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// Multi-head self-attention. x: [B, T, D] (or one example [T, D]).
/// Params {"wq", "wk", "wv": [D, heads * head_dim], "wo": [heads * head_dim, out]} (no biases;
/// lecun_normal), out = out_features or D when 0.
/// y = concat_h(softmax(Q_h K_hᵀ / sqrt(head_dim) + mask) V_h) wo with Q = x wq (etc.), and with
/// `causal` position t attending only to positions s <= t.
struct MultiHeadAttention {
  int64_t num_heads, head_dim;
  bool causal = false;
  int64_t out_features = 0;
  nn::init::Initializer w_init;
  MultiHeadAttention(int64_t num_heads, int64_t head_dim, bool causal = false, int64_t out_features = 0);
  std::string name() const { return "MultiHeadAttention"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// Linear layers of the given sizes with `activation` between them (and after the last one when
/// activate_final). Params {"0": Linear params, "1": ..., } one per size.
struct MLP {
  std::vector<int64_t> sizes;
  Activation activation = relu;
  bool activate_final = false;
  explicit MLP(std::vector<int64_t> sizes, Activation activation = relu, bool activate_final = false);
  std::string name() const { return "MLP"; }
  Tree init(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
};

/// Reshapes [d0, ..., d(s-1), ds, ...] to [d0, ..., d(s-1), ds * ...], keeping the first
/// `start_axis` axes (default 1: the batch axis). Under vmap (per-example shapes) use
/// Flatten(0).
struct Flatten {
  int start_axis = 1;
  Flatten(int start_axis = 1)  // NOLINT
      : start_axis(start_axis) {}
  std::string name() const { return "Flatten"; }
  Tree init(const Array&, const Array&) const { return Tree::dict(); }
  Array apply(const Tree& params, const Array& x) const;
};

// ---- Sequential ------------------------------------------------------------------------------------

/// Layers applied in order. Params (and state) are dicts keyed by the layer names — "0", "1", ...
/// by position, or the names given — holding only layers that have parameters (state):
///   Sequential{Linear(512), relu, Linear(10)}             -> {"0": {w, b}, "2": {w, b}}
///   Sequential{{"conv", Conv2D(8)}, {"fc", Linear(10)}}   -> {"conv": ..., "fc": ...}
/// init splits the key once per layer and propagates the example through the layers (eval mode)
/// to find each layer's input shape. The stateful apply splits opts.rng once per layer (when
/// given); the stateless apply runs every layer in eval mode.
class Sequential {
 public:
  Sequential(std::initializer_list<Module> layers);
  Sequential(std::initializer_list<std::pair<std::string, Module>> named_layers);
  explicit Sequential(std::vector<Module> layers);
  explicit Sequential(std::vector<std::pair<std::string, Module>> named_layers);

  std::string name() const { return "Sequential"; }
  size_t size() const { return layers_.size(); }
  const std::vector<std::pair<std::string, Module>>& layers() const { return layers_; }

  Tree init(const Array& key, const Array& x) const { return init_with_state(key, x).first; }
  Tree init_state(const Array& key, const Array& x) const { return init_with_state(key, x).second; }
  std::pair<Tree, Tree> init_with_state(const Array& key, const Array& x) const;
  Array apply(const Tree& params, const Array& x) const;
  std::pair<Array, Tree> apply(const Tree& params, const Tree& state, const Array& x,
                               const ApplyOptions& opts = {}) const;

 private:
  std::vector<std::pair<std::string, Module>> layers_;
};

// ---- parameter trees ---------------------------------------------------------------------------------

/// Every leaf with its dotted path ("block0.attn.wq"; list entries by index), in natural order
/// (numeric path segments compare as numbers: "2" before "10").
std::vector<std::pair<std::string, Array>> named_leaves(const Tree& tree);
/// The total number of elements over the leaves.
int64_t param_count(const Tree& params);
/// One line per leaf, "path  f32[3,4]  12", then "total: N parameters".
std::string summary(const Tree& params);

/// `tree[key]` when present, else the empty dict — for composite modules whose parts may have
/// no parameters.
const Tree& subtree(const Tree& tree, const std::string& key);

}  // namespace jx::nn
