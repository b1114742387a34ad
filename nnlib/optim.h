#pragma once
// nnlib: optimizers and learning-rate schedules (namespace jx::optim), as
// Optax: composable gradient transformations over trees, with state that is
// itself a tree of arrays (the step count is an int32 Array), all computed with
// jx ops so that grad, vmap and jit apply.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "core/tree.h"

namespace jx::optim {

// ---- schedules
// ---------------------------------------------------------------------------------

/// A schedule maps the step count (an int32 0-d Array, concrete or traced) to a
/// 0-d float32 value. Every schedule below is built from jx ops, so it can be
/// traced.
using Schedule = std::function<Array(const Array &step)>;

/// A hyperparameter given as a number or as a schedule of the step count.
class ScalarOrSchedule {
public:
  ScalarOrSchedule(double value)
      : value_(value) {} // NOLINT: implicit by design
  template <class F>
  requires(!std::is_arithmetic_v<std::decay_t<F>> &&
           std::is_invocable_r_v<Array, const F &, const Array &>)
      ScalarOrSchedule(F f)
      : schedule_(Schedule(std::move(f))) {} // NOLINT
  bool is_schedule() const { return static_cast<bool>(schedule_); }
  double value() const { return value_; }
  const Schedule &schedule() const { return schedule_; }
  /// The value at `step` as a float32 0-d array.
  Array at(const Array &step) const;

private:
  double value_ = 0.0;
  Schedule schedule_;
};

/// `value` at every step.
Schedule constant_schedule(double value);
/// (init - end) * (1 - clip(step - begin, 0, steps) / steps)^power + end; init
/// for every step when transition_steps <= 0 (as optax.polynomial_schedule).
Schedule polynomial_schedule(double init_value, double end_value, double power,
                             int64_t transition_steps,
                             int64_t transition_begin = 0);
/// polynomial_schedule with power 1: linear from init_value (step <= begin) to
/// end_value (step >= begin + transition_steps). Also the linear warm-up.
Schedule linear_schedule(double init_value, double end_value,
                         int64_t transition_steps,
                         int64_t transition_begin = 0);
/// init * ((1 - alpha) * (0.5 * (1 + cos(pi * min(step, decay_steps) /
/// decay_steps)))^exponent + alpha). decay_steps must be positive.
Schedule cosine_decay_schedule(double init_value, int64_t decay_steps,
                               double alpha = 0.0, double exponent = 1.0);
/// init * decay_rate^((step - begin) / transition_steps) (floored when
/// staircase); init for step <= begin; bounded by end_value when given (a floor
/// when decay_rate < 1, else a ceiling).
Schedule exponential_decay(double init_value, int64_t transition_steps,
                           double decay_rate, int64_t transition_begin = 0,
                           bool staircase = false,
                           std::optional<double> end_value = std::nullopt);
/// init times the product of the scales of the boundaries reached (step >=
/// boundary). Scales must be non-negative.
Schedule piecewise_constant_schedule(
    double init_value,
    const std::map<int64_t, double> &boundaries_and_scales = {});
/// schedules[0] before boundaries[0], then schedules[i + 1](step -
/// boundaries[i]) from boundaries[i] on. Needs boundaries.size() ==
/// schedules.size() - 1.
Schedule join_schedules(std::vector<Schedule> schedules,
                        std::vector<int64_t> boundaries);
/// Linear warm-up from init_value to peak_value over warmup_steps, then cosine
/// decay to end_value at decay_steps (decay_steps counts the warm-up, as
/// optax).
Schedule warmup_cosine_decay_schedule(double init_value, double peak_value,
                                      int64_t warmup_steps, int64_t decay_steps,
                                      double end_value = 0.0,
                                      double exponent = 1.0);

// ---- gradient transformations
// -----------------------------------------------------------------

using Leaves = std::vector<Array>;

/// Which parameters a transformation (weight decay) applies to: called with
/// each parameter leaf (its shape and dtype are what one usually looks at, e.g.
/// `p.ndim() > 1` to skip biases); true = apply. An empty Mask applies to every
/// leaf.
using Mask = std::function<bool(const Array &param)>;

/// An optimizer as Optax's: `init(params) -> state` and `update(updates, state,
/// params) -> (updates, new_state)`. Params, gradients and updates may be any
/// tree type (jx::Tree, std containers, JX_TREE structs); updates come back
/// with the gradients' type. The state is a jx::Tree of arrays: per-parameter
/// moments mirror the params' structure (for JX_TREE structs, whose field order
/// a string-keyed dict would not keep, they are a list of the params' leaves in
/// tree_flatten order), counts are int32 0-d arrays.
struct GradientTransformation {
  /// Used in error messages ("adam", "chain(clip_by_global_norm, adam)").
  std::string name;
  /// The flat form every transformation implements: the params' leaves and
  /// structure.
  std::function<Tree(const Leaves &params, const TreeDef &def)> init_leaves;
  /// `params` is null when the caller gave none.
  std::function<std::pair<Leaves, Tree>(const Leaves &updates,
                                        const Tree &state, const Leaves *params,
                                        const TreeDef &def)>
      update_leaves;

  template <class P> Tree init(const P &params) const;
  template <class G, class P>
  std::pair<G, Tree> update(const G &updates, const Tree &state,
                            const P &params) const;
  /// Without params (transformations that need them, such as weight decay,
  /// throw ValueError).
  template <class G>
  std::pair<G, Tree> update(const G &updates, const Tree &state) const;
};

namespace detail {
void check_update_args(const std::string &name, const Leaves &updates,
                       const TreeDef &updates_def, const Leaves *params,
                       const TreeDef *params_def);
} // namespace detail

template <class P> Tree GradientTransformation::init(const P &params) const {
  auto [leaves, def] = tree_flatten(params);
  return init_leaves(leaves, def);
}

template <class G, class P>
std::pair<G, Tree> GradientTransformation::update(const G &updates,
                                                  const Tree &state,
                                                  const P &params) const {
  if constexpr (std::is_same_v<P, NoneType>) {
    return update(updates, state);
  } else {
    auto [u, udef] = tree_flatten(updates);
    auto [p, pdef] = tree_flatten(params);
    detail::check_update_args(name, u, udef, &p, &pdef);
    auto [out, new_state] = update_leaves(u, state, &p, pdef);
    return {tree_unflatten<G>(udef, out), std::move(new_state)};
  }
}

template <class G>
std::pair<G, Tree> GradientTransformation::update(const G &updates,
                                                  const Tree &state) const {
  auto [u, udef] = tree_flatten(updates);
  detail::check_update_args(name, u, udef, nullptr, nullptr);
  auto [out, new_state] = update_leaves(u, state, nullptr, udef);
  return {tree_unflatten<G>(udef, out), std::move(new_state)};
}

/// params + updates leafwise, each result cast to its parameter's dtype (as
/// optax).
template <class P, class U> P apply_updates(const P &params, const U &updates) {
  auto [p, pdef] = tree_flatten(params);
  auto [u, udef] = tree_flatten(updates);
  detail::check_update_args("apply_updates", u, udef, &p, &pdef);
  for (size_t i = 0; i < p.size(); ++i)
    p[i] = (p[i] + u[i]).astype(p[i].dtype());
  return tree_unflatten<P>(pdef, p);
}

/// sqrt of the sum of squares of every element of every leaf (0-d; float32
/// unless a leaf is f64).
Array global_norm(const Leaves &leaves);
template <class T>
requires(!std::is_same_v<T, Leaves>) Array global_norm(const T &tree) {
  return global_norm(tree_leaves(tree));
}

/// Runs the parts in order, each on the previous one's updates; the state is a
/// list of the parts' states.
GradientTransformation chain(std::vector<GradientTransformation> parts);
template <class... Ts>
requires(std::is_convertible_v<Ts, GradientTransformation> &&...)
    GradientTransformation chain(Ts... parts) {
  return chain(std::vector<GradientTransformation>{
      GradientTransformation(std::move(parts))...});
}

/// Updates unchanged; state None.
GradientTransformation identity();
/// updates * step_size.
GradientTransformation scale(double step_size);
/// updates * schedule(count); state {"count"}; the schedule sees 0 on the first
/// update.
GradientTransformation scale_by_schedule(Schedule schedule);
/// updates * -lr (flip_sign) or * lr; a schedule becomes scale_by_schedule.
GradientTransformation scale_by_learning_rate(ScalarOrSchedule learning_rate,
                                              bool flip_sign = true);
/// Momentum: t = g + decay * t; updates = t, or g + decay * t_new when
/// nesterov. State {"trace"}.
GradientTransformation trace(double decay, bool nesterov = false);
/// Adam's scaling: mu = b1 mu + (1 - b1) g, nu = b2 nu + (1 - b2) g^2, count +=
/// 1; updates = mu_hat / (sqrt(nu_hat + eps_root) + eps) with mu_hat = mu / (1
/// - b1^count), nu_hat = nu / (1 - b2^count). State {"count", "mu", "nu"}.
GradientTransformation scale_by_adam(double b1 = 0.9, double b2 = 0.999,
                                     double eps = 1e-8, double eps_root = 0.0);
/// nu = decay nu + (1 - decay) g^2 (nu starts at initial_scale); updates = g /
/// sqrt(nu + eps). State {"nu"}.
GradientTransformation scale_by_rms(double decay = 0.9, double eps = 1e-8,
                                    double initial_scale = 0.0);
/// Centered RMS: also mu = decay mu + (1 - decay) g; updates = g / sqrt(nu -
/// mu^2 + eps). State {"mu", "nu"}.
GradientTransformation scale_by_stddev(double decay = 0.9, double eps = 1e-8,
                                       double initial_scale = 0.0);
/// Adagrad's scaling: s += g^2 (s starts at initial_accumulator_value);
/// updates = g / sqrt(s + eps) where s > 0, else 0. State {"sum_of_squares"}.
GradientTransformation scale_by_rss(double initial_accumulator_value = 0.1,
                                    double eps = 1e-7);
/// Lion's scaling: updates = sign((1 - b1) g + b1 mu), then mu = b2 mu + (1 -
/// b2) g. State {"count", "mu"}.
GradientTransformation scale_by_lion(double b1 = 0.9, double b2 = 0.99);
/// updates + weight_decay * params on the leaves the mask selects (needs
/// params). State None, or {"count"} for a scheduled weight decay.
GradientTransformation add_decayed_weights(ScalarOrSchedule weight_decay = 0.0,
                                           Mask mask = {});
/// Scales every leaf by max_norm / global_norm when global_norm >= max_norm.
/// State None.
GradientTransformation clip_by_global_norm(double max_norm);

// ---- optimizers (as optax's aliases)
// -----------------------------------------------------------

/// chain(trace(momentum, nesterov) if momentum given,
/// scale_by_learning_rate(lr)).
GradientTransformation sgd(ScalarOrSchedule learning_rate,
                           std::optional<double> momentum = std::nullopt,
                           bool nesterov = false);
/// chain(scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(lr)).
GradientTransformation adam(ScalarOrSchedule learning_rate, double b1 = 0.9,
                            double b2 = 0.999, double eps = 1e-8,
                            double eps_root = 0.0);
/// chain(scale_by_adam, add_decayed_weights(weight_decay, mask),
/// scale_by_learning_rate(lr)): decoupled weight decay, scaled by the learning
/// rate.
GradientTransformation adamw(ScalarOrSchedule learning_rate, double b1 = 0.9,
                             double b2 = 0.999, double eps = 1e-8,
                             ScalarOrSchedule weight_decay = 1e-4,
                             Mask mask = {});
/// chain(scale_by_rms or scale_by_stddev (centered),
/// scale_by_learning_rate(lr), trace(momentum, nesterov) if momentum given).
GradientTransformation
rmsprop(ScalarOrSchedule learning_rate, double decay = 0.9, double eps = 1e-8,
        double initial_scale = 0.0, bool centered = false,
        std::optional<double> momentum = std::nullopt, bool nesterov = false);
/// chain(scale_by_rss(initial_accumulator_value, eps),
/// scale_by_learning_rate(lr)).
GradientTransformation adagrad(ScalarOrSchedule learning_rate,
                               double initial_accumulator_value = 0.1,
                               double eps = 1e-7);
/// chain(scale_by_lion(b1, b2), add_decayed_weights(weight_decay, mask),
/// scale_by_learning_rate(lr)).
GradientTransformation lion(ScalarOrSchedule learning_rate, double b1 = 0.9,
                            double b2 = 0.99,
                            ScalarOrSchedule weight_decay = 1e-3,
                            Mask mask = {});

} // namespace jx::optim
