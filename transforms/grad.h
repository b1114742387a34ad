#pragma once
// The autodiff API of API.md: jvp, vjp, linearize, grad, value_and_grad (has_aux), jacfwd,
// jacrev, hessian. Each wrapper traces the user's function once per argument signature (shapes,
// dtypes and tree structure), transforms the jaxpr, caches the result, and evaluates it: eagerly
// on concrete arrays, or into the current trace when called under another transform, so
// grad(grad(f)), jacfwd(jacrev(f)) and friends compose.
//
// Like jax.jit, the cache keeps the values a function captures from its surroundings at the
// first call of a signature: pass values that change between calls as arguments. Functions that
// capture tracers of an enclosing transform are traced afresh on every call.

#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "core/ops.h"
#include "core/tree.h"
#include "trace/make_jaxpr.h"
#include "transforms/ad.h"

namespace jx {

struct HasAux {};
/// value_and_grad(f, has_aux): f returns std::pair<Array, Aux>.
inline constexpr HasAux has_aux{};

namespace detail {

/// Key of a per-signature cache: the avals of the flattened arguments and their structure.
struct SignatureKey {
  std::vector<AbstractValue> avals;
  std::string structure;
  bool operator==(const SignatureKey&) const = default;
};
struct SignatureKeyHash {
  size_t operator()(const SignatureKey& k) const;
};
SignatureKey signature_key(const std::vector<Array>& leaves, const TreeDef& def);

/// A thread-safe map from signatures to transformed jaxprs, shared by copies of a wrapper.
template <class V>
class SignatureCache {
 public:
  std::shared_ptr<const V> find(const SignatureKey& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : it->second;
  }
  void insert(const SignatureKey& key, std::shared_ptr<const V> value) {
    std::lock_guard lock(mu_);
    map_[key] = std::move(value);
  }

 private:
  std::mutex mu_;
  std::unordered_map<SignatureKey, std::shared_ptr<const V>, SignatureKeyHash> map_;
};

/// True when some constant of the jaxpr is a tracer of an enclosing trace (not cacheable).
bool captures_tracers(const ClosedJaxpr& jaxpr);

/// Traces f(args...) on flat leaves; also returns the output structure.
template <class F, class... Args>
std::pair<ClosedJaxpr, TreeDef> trace_flat(F& f, const TreeDef& in_def, const std::vector<AbstractValue>& avals,
                                           const char* name) {
  TreeDef out_def;
  ClosedJaxpr jaxpr = trace_to_jaxpr(
      [&](std::span<const Array> flat) { return call_flat<F, Args...>(f, in_def, flat, &out_def); }, avals, name);
  return {std::move(jaxpr), std::move(out_def)};
}

/// Leaf ranges of each top-level argument: [offset, offset + count).
template <class... Args>
std::vector<std::pair<size_t, TreeDef>> arg_defs(const Args&... args) {
  std::vector<std::pair<size_t, TreeDef>> out;
  size_t offset = 0;
  (
      [&] {
        auto [leaves, def] = tree_flatten(args);
        out.emplace_back(offset, def);
        offset += leaves.size();
      }(),
      ...);
  return out;
}

/// Marks the leaves of the differentiated arguments and checks they are floating point.
std::vector<bool> diff_mask(const char* transform, const std::vector<Array>& leaves,
                            const std::vector<std::pair<size_t, TreeDef>>& defs, const std::vector<int>& argnums);

/// The value-and-gradient jaxpr: inputs -> value, aux leaves..., gradient leaves...
ClosedJaxpr value_and_grad_jaxpr(const ClosedJaxpr& f, const std::vector<bool>& diff, const char* transform);

/// Checks the output leaves of a function passed to grad: a float scalar first.
void check_scalar_output(const char* transform, const ClosedJaxpr& f, const TreeDef& out_def, bool has_aux);

template <size_t I, class... Args>
using nth_t = std::tuple_element_t<I, std::tuple<Args...>>;

/// Rebuilds the gradient of argument `I` from the flat gradient leaves starting at `pos`.
template <size_t I, class... Args>
nth_t<I, Args...> unflatten_arg(const std::vector<std::pair<size_t, TreeDef>>& defs, const std::vector<Array>& flat,
                                size_t& pos) {
  const TreeDef& def = defs[I].second;
  std::vector<Array> leaves(flat.begin() + pos, flat.begin() + pos + def.num_leaves);
  pos += def.num_leaves;
  return tree_unflatten<std::decay_t<nth_t<I, Args...>>>(def, leaves);
}

}  // namespace detail

// ---- grad / value_and_grad ---------------------------------------------------------------------

template <class F, bool HasAuxV, bool ReturnValue, int... Argnums>
class GradFn {
 public:
  GradFn(F f, Loc loc) : f_(std::move(f)), loc_(loc), cache_(std::make_shared<Cache>()) {}

  template <class... Args>
  auto operator()(const Args&... args) const {
    constexpr size_t nargs = sizeof...(Args);
    static_assert(((Argnums >= 0 && static_cast<size_t>(Argnums) < nargs) && ...),
                  "jx::grad: an argnum is out of range for the number of arguments the function is called with");
    return at_loc(loc_, [&] {
      auto [leaves, in_def] = tree_flatten(std::tuple<Args...>(args...));
      auto defs = detail::arg_defs(args...);
      auto diff = detail::diff_mask(name(), leaves, defs, {Argnums...});
      auto key = detail::signature_key(leaves, in_def);
      auto entry = cache_->find(key);
      if (!entry) {
        F f = f_;
        auto [jaxpr, out_def] = detail::trace_flat<F, Args...>(f, in_def, detail::avals_of(leaves, name()), name());
        detail::check_scalar_output(name(), jaxpr, out_def, HasAuxV);
        auto e = std::make_shared<Entry>(Entry{detail::value_and_grad_jaxpr(jaxpr, diff, name()), out_def});
        if (!detail::captures_tracers(jaxpr) && !detail::captures_tracers(e->vg)) cache_->insert(key, e);
        entry = e;
      }
      std::vector<Array> outs = entry->vg(leaves);
      size_t n_out = entry->out_def.num_leaves;
      std::vector<Array> grads(outs.begin() + n_out, outs.end());
      size_t pos = 0;
      auto grad_value = [&] {
        if constexpr (sizeof...(Argnums) == 1) {
          // A single argnum returns the argument's own type.
          return detail::unflatten_arg<static_cast<size_t>(Argnums)..., Args...>(defs, grads, pos);
        } else {
          return std::tuple<std::decay_t<detail::nth_t<static_cast<size_t>(Argnums), Args...>>...>{
              detail::unflatten_arg<static_cast<size_t>(Argnums), Args...>(defs, grads, pos)...};
        }
      };
      if constexpr (!ReturnValue) {
        return grad_value();
      } else {
        std::vector<Array> out_leaves(outs.begin(), outs.begin() + n_out);
        auto value = tree_unflatten<std::invoke_result_t<F, const Args&...>>(entry->out_def, out_leaves);
        auto g = grad_value();
        return std::pair<decltype(value), decltype(g)>{std::move(value), std::move(g)};
      }
    });
  }

 private:
  static const char* name() { return ReturnValue ? "value_and_grad" : "grad"; }
  struct Entry {
    ClosedJaxpr vg;
    TreeDef out_def;
  };
  using Cache = detail::SignatureCache<Entry>;
  F f_;
  Loc loc_;
  std::shared_ptr<Cache> cache_;
};

/// d f / d (arguments Argnums...), default argument 0; f returns a float scalar. The gradient has
/// the argument's type (a std::tuple of them for several argnums).
template <int... Argnums, class F>
auto grad(F f, const Loc& loc = Loc::current()) {
  if constexpr (sizeof...(Argnums) == 0) return GradFn<F, false, false, 0>(std::move(f), loc);
  else return GradFn<F, false, false, Argnums...>(std::move(f), loc);
}

/// (f(args...), grad f(args...)); with has_aux, f returns std::pair<Array, Aux> and the result is
/// std::pair<std::pair<Array, Aux>, G>.
template <int... Argnums, class F>
auto value_and_grad(F f, const Loc& loc = Loc::current()) {
  if constexpr (sizeof...(Argnums) == 0) return GradFn<F, false, true, 0>(std::move(f), loc);
  else return GradFn<F, false, true, Argnums...>(std::move(f), loc);
}
template <int... Argnums, class F>
auto value_and_grad(F f, HasAux, const Loc& loc = Loc::current()) {
  if constexpr (sizeof...(Argnums) == 0) return GradFn<F, true, true, 0>(std::move(f), loc);
  else return GradFn<F, true, true, Argnums...>(std::move(f), loc);
}
template <int... Argnums, class F>
auto grad(F f, HasAux, const Loc& loc = Loc::current()) {
  // grad with has_aux returns (gradient, aux) as JAX does.
  auto vg = value_and_grad<Argnums...>(std::move(f), has_aux, loc);
  return [vg](const auto&... args) {
    auto [value_aux, g] = vg(args...);
    return std::pair{g, value_aux.second};
  };
}

// ---- jvp ----------------------------------------------------------------------------------------

namespace detail {
/// Evaluates the JVP of f at flat primals/tangents; returns outputs then output tangents.
std::vector<Array> jvp_flat(const ClosedJaxpr& f, const std::vector<Array>& primals,
                            const std::vector<Array>& tangents);
void check_tangents(const char* transform, const std::vector<Array>& primals, const TreeDef& pdef,
                    const std::vector<Array>& tangents, const TreeDef& tdef);
}  // namespace detail

/// (f(primals...), J f(primals...) . tangents): forward mode. Tangents have the primals' types.
template <class F, class... Ps, class... Ts>
auto jvp(F f, const std::tuple<Ps...>& primals, const std::tuple<Ts...>& tangents, const Loc& loc = Loc::current()) {
  return at_loc(loc, [&] {
    auto [pl, pdef] = tree_flatten(primals);
    auto [tl, tdef] = tree_flatten(tangents);
    detail::check_tangents("jvp", pl, pdef, tl, tdef);
    auto [jaxpr, out_def] = detail::trace_flat<F, Ps...>(f, pdef, detail::avals_of(pl, "jvp"), "jvp");
    auto outs = detail::jvp_flat(jaxpr, pl, tl);
    size_t n = out_def.num_leaves;
    using R = std::invoke_result_t<F, const Ps&...>;
    auto y = tree_unflatten<R>(out_def, std::vector<Array>(outs.begin(), outs.begin() + n));
    auto t = tree_unflatten<R>(out_def, std::vector<Array>(outs.begin() + n, outs.end()));
    return std::pair<R, R>{std::move(y), std::move(t)};
  });
}

// ---- vjp and linearize ----------------------------------------------------------------------------

namespace detail {
/// The residuals and backward jaxpr of a vjp, evaluated at concrete (or traced) primals.
struct VjpState {
  ClosedJaxpr bwd;
  std::vector<Array> residuals;
  TreeDef out_def;
  std::vector<AbstractValue> out_avals;
};
std::shared_ptr<VjpState> vjp_state(const ClosedJaxpr& f, const std::vector<Array>& leaves, const TreeDef& out_def,
                                    std::vector<Array>& outs);
std::vector<Array> vjp_apply(const VjpState& s, const std::vector<Array>& ct_leaves, const TreeDef& ct_def);
struct LinearizeState {
  ClosedJaxpr linear;
  std::vector<Array> residuals;
  std::vector<AbstractValue> in_avals;
};
std::shared_ptr<LinearizeState> linearize_state(const ClosedJaxpr& f, const std::vector<Array>& leaves,
                                                std::vector<Array>& outs);
std::vector<Array> linearize_apply(const LinearizeState& s, const std::vector<Array>& tangents);
}  // namespace detail

/// (f(args...), f_vjp) where f_vjp(cotangent) returns a std::tuple of the arguments' cotangents.
template <class F, class... Args>
auto vjp(F f, const Args&... args) {
  auto [leaves, in_def] = tree_flatten(std::tuple<Args...>(args...));
  auto defs = detail::arg_defs(args...);
  detail::diff_mask("vjp", leaves, defs, {});
  auto [jaxpr, out_def] = detail::trace_flat<F, Args...>(f, in_def, detail::avals_of(leaves, "vjp"), "vjp");
  std::vector<Array> outs;
  auto state = detail::vjp_state(jaxpr, leaves, out_def, outs);
  using R = std::invoke_result_t<F, const Args&...>;
  R y = tree_unflatten<R>(out_def, outs);
  auto f_vjp = [state, defs](const R& ct) {
    auto [ct_leaves, ct_def] = tree_flatten(ct);
    std::vector<Array> cts = detail::vjp_apply(*state, ct_leaves, ct_def);
    size_t pos = 0;
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return std::tuple<std::decay_t<Args>...>{detail::unflatten_arg<I, Args...>(defs, cts, pos)...};
    }(std::index_sequence_for<Args...>{});
  };
  return std::pair<R, decltype(f_vjp)>{std::move(y), std::move(f_vjp)};
}

/// (f(args...), f_jvp) where f_jvp(tangents...) is the linear map J f(args...) (evaluated from
/// saved residuals, without re-running f).
template <class F, class... Args>
auto linearize(F f, const Args&... args) {
  auto [leaves, in_def] = tree_flatten(std::tuple<Args...>(args...));
  auto defs = detail::arg_defs(args...);
  detail::diff_mask("linearize", leaves, defs, {});
  auto [jaxpr, out_def] = detail::trace_flat<F, Args...>(f, in_def, detail::avals_of(leaves, "linearize"), "linearize");
  std::vector<Array> outs;
  auto state = detail::linearize_state(jaxpr, leaves, outs);
  using R = std::invoke_result_t<F, const Args&...>;
  R y = tree_unflatten<R>(out_def, outs);
  auto f_jvp = [state, in_def, out_def](const Args&... tangents) {
    auto [tl, tdef] = tree_flatten(std::tuple<Args...>(tangents...));
    if (!(tdef == in_def)) {
      throw ValueError("[linearize] tangent structure " + tdef.str() + " does not match the primals' " + in_def.str());
    }
    return tree_unflatten<R>(out_def, detail::linearize_apply(*state, tl));
  };
  return std::pair<R, decltype(f_jvp)>{std::move(y), std::move(f_jvp)};
}

// ---- Jacobians and Hessians -------------------------------------------------------------------------
// jacfwd is vmap of jvp over the input basis; jacrev is vmap of vjp over the output basis
// (transforms/vmap.h), so one batched evaluation replaces a loop over basis vectors.

namespace detail {
/// The standard basis for a value of type `aval`: shape [n] + aval.shape, row i = e_i.
Array basis_stack(const AbstractValue& aval);
/// Rearranges per-direction results [k] + other into other + in_shape (forward: columns) or
/// keeps [rows] as out_shape + in_shape (reverse).
Array jacobian_from_columns(const Array& columns, const Shape& out_shape, const Shape& in_shape);
Array jacobian_from_rows(const Array& rows, const Shape& out_shape, const Shape& in_shape);
/// vmap over a unary Array function, defined in transforms/vmap.cpp.
Array vmap_unary(const std::function<Array(const Array&)>& f, const Array& xs);

/// f as a function of its argument Argnum alone, the other arguments fixed at `args`.
template <int Argnum, class F, class Tuple>
auto partial_in(const F& f, const Tuple& args) {
  return [&f, &args](const Array& xi) {
    auto t = args;
    std::get<Argnum>(t) = xi;
    return Array(std::apply(f, t));
  };
}
}  // namespace detail

/// Forward-mode Jacobian of an Array -> Array function w.r.t. argument Argnum: shape
/// out.shape + x.shape.
template <int Argnum = 0, class F>
auto jacfwd(F f, const Loc& loc = Loc::current()) {
  return [f, loc](const auto&... args) -> Array {
    return at_loc(loc, [&] {
      auto tup = std::tuple<std::decay_t<decltype(args)>...>(args...);
      const Array x = std::get<Argnum>(tup);
      auto [y, f_jvp] = linearize(detail::partial_in<Argnum>(f, tup), x);
      if (x.size() == 0 || y.size() == 0) return detail::jacobian_from_columns(Array(), y.shape(), x.shape());
      Array cols = detail::vmap_unary([&](const Array& t) { return Array(f_jvp(t)); }, detail::basis_stack(x.aval()));
      return detail::jacobian_from_columns(cols, y.shape(), x.shape());
    });
  };
}

/// Reverse-mode Jacobian of an Array -> Array function w.r.t. argument Argnum.
template <int Argnum = 0, class F>
auto jacrev(F f, const Loc& loc = Loc::current()) {
  return [f, loc](const auto&... args) -> Array {
    return at_loc(loc, [&] {
      auto tup = std::tuple<std::decay_t<decltype(args)>...>(args...);
      const Array x = std::get<Argnum>(tup);
      auto [y, f_vjp] = vjp(detail::partial_in<Argnum>(f, tup), x);
      if (x.size() == 0 || y.size() == 0) return detail::jacobian_from_rows(Array(), y.shape(), x.shape());
      Array rows = detail::vmap_unary([&](const Array& ct) { return std::get<0>(f_vjp(ct)); }, detail::basis_stack(y.aval()));
      return detail::jacobian_from_rows(rows, y.shape(), x.shape());
    });
  };
}

/// Hessian of a scalar function: jacfwd(jacrev(f)) (forward over reverse).
template <int Argnum = 0, class F>
auto hessian(F f, const Loc& loc = Loc::current()) {
  return jacfwd<Argnum>(jacrev<Argnum>(std::move(f), loc), loc);
}

}  // namespace jx
