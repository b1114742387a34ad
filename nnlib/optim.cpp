// nnlib: optimizers and schedules, as optax's transform/alias/schedule modules,
// written with jx's public ops on the leaves of the params tree.
#include "nnlib/optim.h"

#include <cmath>
#include <limits>
#include <numbers>

namespace jx::optim {
namespace {

template <class E, class... Ts> [[noreturn]] void fail(const Ts &...parts) {
  throw E(jx::detail::cat(parts...));
}

bool has_structure(const TreeDef &def) {
  if (def.kind == TreeDef::Kind::structure)
    return true;
  for (auto &c : def.children) {
    if (has_structure(c))
      return true;
  }
  return false;
}

// Per-parameter state in the params' structure, or a list of leaves where a
// jx::Tree would reorder them (JX_TREE structs: fields become sorted dict
// keys). Either way tree_leaves gives the leaves back in the params' flatten
// order.
Tree mirror(const TreeDef &def, const Leaves &leaves) {
  if (has_structure(def))
    return Tree(Tree::List(leaves.begin(), leaves.end()));
  return tree_unflatten<Tree>(def, leaves);
}

const Tree &field(const Tree &state, const char *key, const std::string &name) {
  if (!state.is_dict() || !state.as_dict().contains(key)) {
    std::ostringstream os;
    os << state;
    fail<ValueError>("[", name, "] the optimizer state has no '", key,
                     "' entry (got ", os.str(),
                     "); pass the state made by this optimizer's init");
  }
  return state[key];
}

// The per-parameter leaves stored under `key`, checked against the updates.
Leaves moment(const Tree &state, const char *key, const Leaves &updates,
              const std::string &name) {
  Leaves m = tree_leaves(field(state, key, name));
  if (m.size() != updates.size()) {
    fail<ValueError>("[", name, "] the state's '", key, "' has ", m.size(),
                     " leaves but the updates have ", updates.size(),
                     "; pass the state made by init for these params");
  }
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].shape() != updates[i].shape()) {
      fail<ShapeError>("[", name, "] the state's '", key, "' leaf ", i, " is ",
                       m[i].aval().str(), " but the update is ",
                       updates[i].aval().str());
    }
  }
  return m;
}

Array count_of(const Tree &state, const std::string &name) {
  const Tree &c = field(state, "count", name);
  if (!c.is_leaf() || c.array().dtype() != int32) {
    fail<DTypeError>("[", name, "] the state's 'count' must be an int32 array");
  }
  return c.array();
}

Array zero_count() { return zeros({}, int32); }

// count + 1, saturating at the int32 maximum (optax's numerics.safe_increment).
Array safe_increment(const Array &count) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  return where(count < kMax, count + 1, Array(kMax)).astype(int32);
}

Array like(double v, const Array &x) { return scalar(v, x.dtype()); }

// 1 - decay^count in x's dtype (optax's bias_correction denominator). For float16/bfloat16 it is
// computed in float32 and converted, as optax (a weak decay and an int32 count give float32):
// 0.999 is 1.0 in bfloat16.
Array bias_correction(double decay, const Array &count, const Array &x) {
  const DType dt = is_half_float(x.dtype()) ? float32 : x.dtype();
  return (1.0 - power(scalar(decay, dt), count.astype(dt))).astype(x.dtype());
}

Leaves zeros_like_all(const Leaves &params) {
  Leaves out;
  out.reserve(params.size());
  for (auto &p : params)
    out.push_back(zeros_like(p));
  return out;
}

Leaves full_like_all(const Leaves &params, double v) {
  Leaves out;
  out.reserve(params.size());
  for (auto &p : params)
    out.push_back(full_like(p, like(v, p)));
  return out;
}

Array step_float(const Array &step, const char *fn) {
  if (!step.defined())
    fail<ValueError>("[", fn, "] the step is an undefined array");
  if (!is_integer(step.dtype()) && !is_floating(step.dtype())) {
    fail<DTypeError>("[", fn, "] the step must be an integer array, got ",
                     step.aval().str());
  }
  return step.astype(float32);
}

} // namespace

// ---- schedules
// ---------------------------------------------------------------------------------

Array ScalarOrSchedule::at(const Array &step) const {
  if (schedule_)
    return schedule_(step).astype(float32);
  return scalar(value_, float32);
}

Schedule constant_schedule(double value) {
  return [value](const Array &step) {
    return full_like(step_float(step, "constant_schedule"),
                     scalar(value, float32));
  };
}

Schedule polynomial_schedule(double init_value, double end_value, double power_,
                             int64_t transition_steps,
                             int64_t transition_begin) {
  if (transition_steps <= 0)
    return constant_schedule(init_value);
  if (transition_begin < 0)
    transition_begin = 0;
  return [=](const Array &step) {
    Array s = step_float(step, "polynomial_schedule");
    Array count = clip(s - static_cast<double>(transition_begin), 0.0,
                       static_cast<double>(transition_steps));
    Array frac = 1.0 - count / static_cast<double>(transition_steps);
    return (init_value - end_value) * power(frac, scalar(power_, float32)) +
           end_value;
  };
}

Schedule linear_schedule(double init_value, double end_value,
                         int64_t transition_steps, int64_t transition_begin) {
  return polynomial_schedule(init_value, end_value, 1.0, transition_steps,
                             transition_begin);
}

Schedule cosine_decay_schedule(double init_value, int64_t decay_steps,
                               double alpha, double exponent) {
  if (decay_steps <= 0) {
    fail<ValueError>(
        "[cosine_decay_schedule] decay_steps must be positive, got ",
        decay_steps);
  }
  return [=](const Array &step) {
    Array s = step_float(step, "cosine_decay_schedule");
    Array count = minimum(s, static_cast<double>(decay_steps));
    Array cosine = 0.5 * (1.0 + cos(std::numbers::pi * count /
                                    static_cast<double>(decay_steps)));
    Array decayed =
        (1.0 - alpha) * power(cosine, scalar(exponent, float32)) + alpha;
    return init_value * decayed;
  };
}

Schedule exponential_decay(double init_value, int64_t transition_steps,
                           double decay_rate, int64_t transition_begin,
                           bool staircase, std::optional<double> end_value) {
  if (transition_steps <= 0 || decay_rate == 0.0)
    return constant_schedule(init_value);
  if (transition_begin < 0)
    transition_begin = 0;
  return [=](const Array &step) {
    Array s = step_float(step, "exponential_decay");
    Array decreased = s - static_cast<double>(transition_begin);
    Array p = decreased / static_cast<double>(transition_steps);
    if (staircase)
      p = floor(p);
    Array init = full_like(s, scalar(init_value, float32));
    Array decayed = where(decreased <= 0.0, init,
                          init_value * power(scalar(decay_rate, float32), p));
    if (end_value) {
      decayed = decay_rate < 1.0 ? maximum(decayed, *end_value)
                                 : minimum(decayed, *end_value);
    }
    return decayed;
  };
}

Schedule piecewise_constant_schedule(
    double init_value, const std::map<int64_t, double> &boundaries_and_scales) {
  for (auto &[boundary, scale] : boundaries_and_scales) {
    if (scale < 0.0) {
      fail<ValueError>(
          "[piecewise_constant_schedule] scales must be non-negative, got ",
          scale, " at boundary ", boundary);
    }
  }
  return [=](const Array &step) {
    Array s = step_float(step, "piecewise_constant_schedule");
    Array v = full_like(s, scalar(init_value, float32));
    for (auto &[boundary, scale] :
         boundaries_and_scales) { // std::map: ascending boundaries
      v = where(s < static_cast<double>(boundary), v, v * scale);
    }
    return v;
  };
}

Schedule join_schedules(std::vector<Schedule> schedules,
                        std::vector<int64_t> boundaries) {
  if (schedules.empty() || boundaries.size() + 1 != schedules.size()) {
    fail<ValueError>(
        "[join_schedules] needs one boundary fewer than schedules, got ",
        schedules.size(), " schedules and ", boundaries.size(), " boundaries");
  }
  return [schedules = std::move(schedules),
          boundaries = std::move(boundaries)](const Array &step) {
    Array out = schedules[0](step).astype(float32);
    for (size_t i = 0; i < boundaries.size(); ++i) {
      Array b = scalar(static_cast<double>(boundaries[i]), step.dtype());
      out = where(step < b, out, schedules[i + 1](step - b).astype(float32));
    }
    return out;
  };
}

Schedule warmup_cosine_decay_schedule(double init_value, double peak_value,
                                      int64_t warmup_steps, int64_t decay_steps,
                                      double end_value, double exponent) {
  double alpha = peak_value == 0.0 ? 0.0 : end_value / peak_value;
  return join_schedules(
      {linear_schedule(init_value, peak_value, warmup_steps),
       cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha,
                             exponent)},
      {warmup_steps});
}

// ---- gradient transformations
// -----------------------------------------------------------------

namespace detail {
void check_update_args(const std::string &name, const Leaves &updates,
                       const TreeDef &updates_def, const Leaves *params,
                       const TreeDef *params_def) {
  for (size_t i = 0; i < updates.size(); ++i) {
    if (!updates[i].defined())
      fail<ValueError>("[", name, "] update leaf ", i,
                       " is an undefined array");
    if (!is_floating(updates[i].dtype())) {
      fail<DTypeError>("[", name, "] updates must be floating, leaf ", i,
                       " of ", updates_def.str(), " is ",
                       updates[i].aval().str());
    }
  }
  if (!params)
    return;
  if (params->size() != updates.size()) {
    fail<ShapeError>("[", name, "] updates and params differ: ", updates.size(),
                     " leaves ", updates_def.str(), " vs ", params->size(),
                     " leaves ", params_def->str());
  }
  for (size_t i = 0; i < updates.size(); ++i) {
    if ((*params)[i].shape() != updates[i].shape()) {
      fail<ShapeError>("[", name, "] leaf ", i, " of ", updates_def.str(),
                       ": the update is ", updates[i].aval().str(),
                       " but the param is ", (*params)[i].aval().str());
    }
  }
}
} // namespace detail

Array global_norm(const Leaves &leaves) {
  Array total = scalar(0.0, float32);
  for (auto &x : leaves)
    total = total + sum(square(x));
  return sqrt(total);
}

namespace {
// A chain reported under `name` (the optimizer aliases are chains named "adam",
// ...).
GradientTransformation named_chain(std::vector<GradientTransformation> parts,
                                   std::string name) {
  GradientTransformation t;
  t.name = name;
  t.init_leaves = [parts](const Leaves &params, const TreeDef &def) {
    Tree::List states;
    for (auto &p : parts)
      states.push_back(p.init_leaves(params, def));
    return Tree(std::move(states));
  };
  t.update_leaves = [parts, name](const Leaves &updates, const Tree &state,
                                  const Leaves *params, const TreeDef &def) {
    if (!state.is_list() || state.size() != parts.size()) {
      std::ostringstream os;
      os << state;
      fail<ValueError>("[", name, "] the state must be a list of ",
                       parts.size(), " part states, got ", os.str());
    }
    Leaves u = updates;
    Tree::List states;
    for (size_t i = 0; i < parts.size(); ++i) {
      auto [next, s] = parts[i].update_leaves(u, state[i], params, def);
      u = std::move(next);
      states.push_back(std::move(s));
    }
    return std::pair{std::move(u), Tree(std::move(states))};
  };
  return t;
}
} // namespace

GradientTransformation chain(std::vector<GradientTransformation> parts) {
  std::string name = "chain(";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i)
      name += ", ";
    name += parts[i].name;
  }
  name += ")";
  return named_chain(std::move(parts), std::move(name));
}

GradientTransformation identity() {
  GradientTransformation t;
  t.name = "identity";
  t.init_leaves = [](const Leaves &, const TreeDef &) { return Tree(); };
  t.update_leaves = [](const Leaves &updates, const Tree &state, const Leaves *,
                       const TreeDef &) {
    return std::pair{updates, state};
  };
  return t;
}

GradientTransformation scale(double step_size) {
  GradientTransformation t;
  t.name = "scale";
  t.init_leaves = [](const Leaves &, const TreeDef &) { return Tree(); };
  t.update_leaves = [step_size](const Leaves &updates, const Tree &state,
                                const Leaves *, const TreeDef &) {
    Leaves out;
    for (auto &g : updates)
      out.push_back(g * like(step_size, g));
    return std::pair{std::move(out), state};
  };
  return t;
}

GradientTransformation scale_by_schedule(Schedule schedule) {
  if (!schedule)
    fail<ValueError>("[scale_by_schedule] the schedule is empty");
  GradientTransformation t;
  t.name = "scale_by_schedule";
  t.init_leaves = [](const Leaves &, const TreeDef &) {
    return Tree{{"count", zero_count()}};
  };
  t.update_leaves = [schedule](const Leaves &updates, const Tree &state,
                               const Leaves *, const TreeDef &) {
    Array count = count_of(state, "scale_by_schedule");
    Array step_size = schedule(count);
    Leaves out;
    for (auto &g : updates)
      out.push_back(step_size.astype(g.dtype()) * g);
    return std::pair{std::move(out), Tree{{"count", safe_increment(count)}}};
  };
  return t;
}

GradientTransformation scale_by_learning_rate(ScalarOrSchedule learning_rate,
                                              bool flip_sign) {
  double m = flip_sign ? -1.0 : 1.0;
  if (learning_rate.is_schedule()) {
    Schedule s = learning_rate.schedule();
    return scale_by_schedule(
        [s, m](const Array &count) { return m * s(count); });
  }
  return scale(m * learning_rate.value());
}

GradientTransformation trace(double decay, bool nesterov) {
  GradientTransformation t;
  t.name = nesterov ? "trace(nesterov)" : "trace";
  t.init_leaves = [](const Leaves &params, const TreeDef &def) {
    return Tree{{"trace", mirror(def, zeros_like_all(params))}};
  };
  t.update_leaves = [decay, nesterov,
                     name = t.name](const Leaves &updates, const Tree &state,
                                    const Leaves *, const TreeDef &def) {
    Leaves tr = moment(state, "trace", updates, name);
    Leaves out(updates.size()), new_trace(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      new_trace[i] = g + like(decay, g) * tr[i];
      out[i] = nesterov ? g + like(decay, g) * new_trace[i] : new_trace[i];
    }
    return std::pair{std::move(out), Tree{{"trace", mirror(def, new_trace)}}};
  };
  return t;
}

GradientTransformation scale_by_adam(double b1, double b2, double eps,
                                     double eps_root) {
  GradientTransformation t;
  t.name = "scale_by_adam";
  t.init_leaves = [](const Leaves &params, const TreeDef &def) {
    return Tree{{"count", zero_count()},
                {"mu", mirror(def, zeros_like_all(params))},
                {"nu", mirror(def, zeros_like_all(params))}};
  };
  t.update_leaves = [=](const Leaves &updates, const Tree &state,
                        const Leaves *, const TreeDef &def) {
    const std::string name = "scale_by_adam";
    Leaves mu = moment(state, "mu", updates, name),
           nu = moment(state, "nu", updates, name);
    Array count = safe_increment(count_of(state, name));
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      mu[i] = like(1.0 - b1, g) * g + like(b1, g) * mu[i];
      nu[i] = like(1.0 - b2, g) * square(g) + like(b2, g) * nu[i];
      Array mu_hat = mu[i] / bias_correction(b1, count, g);
      Array nu_hat = nu[i] / bias_correction(b2, count, g);
      out[i] = mu_hat / (sqrt(nu_hat + like(eps_root, g)) + like(eps, g));
    }
    return std::pair{std::move(out), Tree{{"count", count},
                                          {"mu", mirror(def, mu)},
                                          {"nu", mirror(def, nu)}}};
  };
  return t;
}

GradientTransformation scale_by_rms(double decay, double eps,
                                    double initial_scale) {
  GradientTransformation t;
  t.name = "scale_by_rms";
  t.init_leaves = [initial_scale](const Leaves &params, const TreeDef &def) {
    return Tree{{"nu", mirror(def, full_like_all(params, initial_scale))}};
  };
  t.update_leaves = [=](const Leaves &updates, const Tree &state,
                        const Leaves *, const TreeDef &def) {
    Leaves nu = moment(state, "nu", updates, "scale_by_rms");
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      nu[i] = like(1.0 - decay, g) * square(g) + like(decay, g) * nu[i];
      out[i] = rsqrt(nu[i] + like(eps, g)) * g;
    }
    return std::pair{std::move(out), Tree{{"nu", mirror(def, nu)}}};
  };
  return t;
}

GradientTransformation scale_by_stddev(double decay, double eps,
                                       double initial_scale) {
  GradientTransformation t;
  t.name = "scale_by_stddev";
  t.init_leaves = [initial_scale](const Leaves &params, const TreeDef &def) {
    return Tree{{"mu", mirror(def, zeros_like_all(params))},
                {"nu", mirror(def, full_like_all(params, initial_scale))}};
  };
  t.update_leaves = [=](const Leaves &updates, const Tree &state,
                        const Leaves *, const TreeDef &def) {
    Leaves mu = moment(state, "mu", updates, "scale_by_stddev"),
           nu = moment(state, "nu", updates, "scale_by_stddev");
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      mu[i] = like(1.0 - decay, g) * g + like(decay, g) * mu[i];
      nu[i] = like(1.0 - decay, g) * square(g) + like(decay, g) * nu[i];
      out[i] = rsqrt(nu[i] - square(mu[i]) + like(eps, g)) * g;
    }
    return std::pair{std::move(out),
                     Tree{{"mu", mirror(def, mu)}, {"nu", mirror(def, nu)}}};
  };
  return t;
}

GradientTransformation scale_by_rss(double initial_accumulator_value,
                                    double eps) {
  GradientTransformation t;
  t.name = "scale_by_rss";
  t.init_leaves = [initial_accumulator_value](const Leaves &params,
                                              const TreeDef &def) {
    return Tree{
        {"sum_of_squares",
         mirror(def, full_like_all(params, initial_accumulator_value))}};
  };
  t.update_leaves = [=](const Leaves &updates, const Tree &state,
                        const Leaves *, const TreeDef &def) {
    Leaves s = moment(state, "sum_of_squares", updates, "scale_by_rss");
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      s[i] = square(g) + s[i];
      Array inv_sqrt =
          where(s[i] > 0.0, rsqrt(s[i] + like(eps, g)), like(0.0, g));
      out[i] = inv_sqrt * g;
    }
    return std::pair{std::move(out), Tree{{"sum_of_squares", mirror(def, s)}}};
  };
  return t;
}

GradientTransformation scale_by_lion(double b1, double b2) {
  GradientTransformation t;
  t.name = "scale_by_lion";
  t.init_leaves = [](const Leaves &params, const TreeDef &def) {
    return Tree{{"count", zero_count()},
                {"mu", mirror(def, zeros_like_all(params))}};
  };
  t.update_leaves = [=](const Leaves &updates, const Tree &state,
                        const Leaves *, const TreeDef &def) {
    Leaves mu = moment(state, "mu", updates, "scale_by_lion");
    Array count = safe_increment(count_of(state, "scale_by_lion"));
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      out[i] = sign(like(1.0 - b1, g) * g + like(b1, g) * mu[i]);
      mu[i] = like(1.0 - b2, g) * g + like(b2, g) * mu[i];
    }
    return std::pair{std::move(out),
                     Tree{{"count", count}, {"mu", mirror(def, mu)}}};
  };
  return t;
}

GradientTransformation add_decayed_weights(ScalarOrSchedule weight_decay,
                                           Mask mask) {
  GradientTransformation t;
  t.name = "add_decayed_weights";
  bool scheduled = weight_decay.is_schedule();
  t.init_leaves = [scheduled](const Leaves &, const TreeDef &) {
    return scheduled ? Tree{{"count", zero_count()}} : Tree();
  };
  t.update_leaves = [weight_decay, mask,
                     scheduled](const Leaves &updates, const Tree &state,
                                const Leaves *params, const TreeDef &) {
    const std::string name = "add_decayed_weights";
    if (!params) {
      fail<ValueError>(
          "[", name, "] needs the params: call update(updates, state, params)");
    }
    Array s;
    Tree new_state = state;
    if (scheduled) {
      Array count = count_of(state, name);
      s = weight_decay.at(count);
      new_state = Tree{{"count", safe_increment(count)}};
    } else if (weight_decay.value() == 0.0) {
      return std::pair{updates, new_state};
    }
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      const Array &p = (*params)[i];
      if (mask && !mask(p)) {
        out[i] = g;
        continue;
      }
      Array wd =
          scheduled ? s.astype(g.dtype()) : like(weight_decay.value(), g);
      out[i] = g + wd * p.astype(g.dtype());
    }
    return std::pair{std::move(out), new_state};
  };
  return t;
}

GradientTransformation clip_by_global_norm(double max_norm) {
  if (!(max_norm > 0.0))
    fail<ValueError>("[clip_by_global_norm] max_norm must be positive, got ",
                     max_norm);
  GradientTransformation t;
  t.name = "clip_by_global_norm";
  t.init_leaves = [](const Leaves &, const TreeDef &) { return Tree(); };
  t.update_leaves = [max_norm](const Leaves &updates, const Tree &state,
                               const Leaves *, const TreeDef &) {
    Array g_norm = global_norm(updates);
    Array trigger = g_norm < max_norm;
    Leaves out(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const Array &g = updates[i];
      out[i] =
          where(trigger, g, (g / g_norm.astype(g.dtype())) * like(max_norm, g));
    }
    return std::pair{std::move(out), state};
  };
  return t;
}

// ---- optimizers
// --------------------------------------------------------------------------------

GradientTransformation sgd(ScalarOrSchedule learning_rate,
                           std::optional<double> momentum, bool nesterov) {
  return named_chain({momentum ? trace(*momentum, nesterov) : identity(),
                      scale_by_learning_rate(learning_rate)},
                     "sgd");
}

GradientTransformation adam(ScalarOrSchedule learning_rate, double b1,
                            double b2, double eps, double eps_root) {
  return named_chain({scale_by_adam(b1, b2, eps, eps_root),
                      scale_by_learning_rate(learning_rate)},
                     "adam");
}

GradientTransformation adamw(ScalarOrSchedule learning_rate, double b1,
                             double b2, double eps,
                             ScalarOrSchedule weight_decay, Mask mask) {
  return named_chain(
      {scale_by_adam(b1, b2, eps),
       add_decayed_weights(std::move(weight_decay), std::move(mask)),
       scale_by_learning_rate(learning_rate)},
      "adamw");
}

GradientTransformation rmsprop(ScalarOrSchedule learning_rate, double decay,
                               double eps, double initial_scale, bool centered,
                               std::optional<double> momentum, bool nesterov) {
  return named_chain({centered ? scale_by_stddev(decay, eps, initial_scale)
                               : scale_by_rms(decay, eps, initial_scale),
                      scale_by_learning_rate(learning_rate),
                      momentum ? trace(*momentum, nesterov) : identity()},
                     "rmsprop");
}

GradientTransformation adagrad(ScalarOrSchedule learning_rate,
                               double initial_accumulator_value, double eps) {
  return named_chain({scale_by_rss(initial_accumulator_value, eps),
                      scale_by_learning_rate(learning_rate)},
                     "adagrad");
}

GradientTransformation lion(ScalarOrSchedule learning_rate, double b1,
                            double b2, ScalarOrSchedule weight_decay,
                            Mask mask) {
  return named_chain(
      {scale_by_lion(b1, b2),
       add_decayed_weights(std::move(weight_decay), std::move(mask)),
       scale_by_learning_rate(learning_rate)},
      "lion");
}

} // namespace jx::optim
