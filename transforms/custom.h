#pragma once
// custom_jvp, custom_vjp and checkpoint (rematerialization), as call primitives that hold the
// traced function, so they survive every transform: a custom rule is used whenever the
// function is differentiated, however deeply nested.

#include <functional>
#include <memory>
#include <tuple>

#include "transforms/grad.h"

namespace jx {

namespace detail {
/// A user function held in a primitive's params. Compared by identity.
template <class Fn>
class FunctionParam : public ParamObject {
 public:
  explicit FunctionParam(Fn fn, const char* label) : fn(std::move(fn)), label_(label) {}
  void print(std::ostream& os) const override { os << "<" << label_ << ">"; }
  size_t hash() const override { return std::hash<const void*>{}(this); }
  bool equals(const ParamObject& other) const override { return this == &other; }
  Fn fn;

 private:
  const char* label_;
};

using FlatJvp = std::function<std::vector<Array>(std::span<const Array> primals, std::span<const Array> tangents)>;
/// fwd: primals -> outputs..., residuals...; bwd: residuals..., cts -> input cotangents.
struct FlatVjp {
  std::function<std::pair<std::vector<Array>, std::vector<Array>>(std::span<const Array> primals)> fwd;
  std::function<std::vector<Array>(std::span<const Array> residuals, std::span<const Array> cts)> bwd;
};

std::vector<Array> bind_custom_jvp(const ClosedJaxpr& f, std::span<const Array> args, FlatJvp jvp);
std::vector<Array> bind_custom_vjp(const ClosedJaxpr& f, std::span<const Array> args, FlatVjp vjp);
std::vector<Array> bind_checkpoint(const ClosedJaxpr& f, std::span<const Array> args, const std::string& policy);

/// f traced at the arguments' signature: the flat arguments, their structure, the jaxpr and the
/// output structure.
struct TracedCall {
  std::vector<Array> leaves;
  TreeDef in_def;
  ClosedJaxpr jaxpr;
  TreeDef out_def;
};
template <class F, class... Args>
TracedCall trace_call(const F& f, const char* name, const Args&... args) {
  auto [leaves, in_def] = tree_flatten(std::tuple<Args...>(args...));
  F fc = f;
  auto [jaxpr, out_def] = trace_flat<F, Args...>(fc, in_def, avals_of(leaves, name), name);
  return TracedCall{std::move(leaves), std::move(in_def), std::move(jaxpr), std::move(out_def)};
}
}  // namespace detail

/// f with a user-defined JVP: rule(primals, tangents) -> std::pair{f(primals...), tangent_out},
/// where primals and tangents are std::tuples of f's arguments (as JAX's @f.defjvp).
template <class F, class Rule>
auto custom_jvp(F f, Rule rule, const Loc& loc = Loc::current()) {
  return [f, rule, loc](const auto&... args) {
    using R = std::invoke_result_t<F, decltype(args)...>;
    return at_loc(loc, [&] {
      using Tup = std::tuple<std::decay_t<decltype(args)>...>;
      detail::TracedCall t = detail::trace_call(f, "custom_jvp", args...);
      detail::FlatJvp flat = [rule, in_def = t.in_def, out_def = t.out_def](std::span<const Array> p, std::span<const Array> t) {
        auto primals = tree_unflatten<Tup>(in_def, std::vector<Array>(p.begin(), p.end()));
        auto tangents = tree_unflatten<Tup>(in_def, std::vector<Array>(t.begin(), t.end()));
        auto [y, ty] = rule(primals, tangents);
        auto [tl, tdef] = tree_flatten(ty);
        if (!(tdef == out_def)) {
          throw ValueError("[custom_jvp] the rule's tangent has structure " + tdef.str() + ", the function's output " +
                           out_def.str());
        }
        return tl;
      };
      auto outs = detail::bind_custom_jvp(t.jaxpr, t.leaves, std::move(flat));
      return tree_unflatten<R>(t.out_def, outs);
    });
  };
}

/// f with a user-defined VJP (as JAX's custom_vjp): fwd(args...) -> std::pair{f(args...), res}
/// with res any tree of arrays; bwd(res, ct) -> std::tuple of one cotangent per argument.
/// Forward mode (jvp, jacfwd of it) is not supported, as in JAX.
template <class F, class Fwd, class Bwd>
auto custom_vjp(F f, Fwd fwd, Bwd bwd, const Loc& loc = Loc::current()) {
  return [f, fwd, bwd, loc](const auto&... args) {
    using R = std::invoke_result_t<F, decltype(args)...>;
    return at_loc(loc, [&] {
      using Tup = std::tuple<std::decay_t<decltype(args)>...>;
      detail::TracedCall t = detail::trace_call(f, "custom_vjp", args...);
      // The residuals' structure is known once fwd has run; bwd gets it through this slot.
      auto res_def = std::make_shared<TreeDef>();
      detail::FlatVjp flat;
      flat.fwd = [fwd, in_def = t.in_def, out_def = t.out_def, res_def](std::span<const Array> p) {
        auto primals = tree_unflatten<Tup>(in_def, std::vector<Array>(p.begin(), p.end()));
        auto [y, res] = std::apply(fwd, primals);
        auto [yl, ydef] = tree_flatten(y);
        if (!(ydef == out_def)) {
          throw ValueError("[custom_vjp] fwd's output has structure " + ydef.str() + ", the function's " + out_def.str());
        }
        auto [rl, rdef] = tree_flatten(res);
        *res_def = rdef;
        return std::pair{yl, rl};
      };
      flat.bwd = [bwd, in_def = t.in_def, out_def = t.out_def, res_def](std::span<const Array> r, std::span<const Array> c) {
        using Res = std::decay_t<decltype(std::apply(fwd, std::declval<Tup>()).second)>;
        auto res = tree_unflatten<Res>(*res_def, std::vector<Array>(r.begin(), r.end()));
        auto ct = tree_unflatten<R>(out_def, std::vector<Array>(c.begin(), c.end()));
        auto cts = bwd(res, ct);
        auto [cl, cdef] = tree_flatten(cts);
        if (!(cdef == in_def)) {
          throw ValueError("[custom_vjp] bwd returned structure " + cdef.str() + ", expected one cotangent per argument " +
                           in_def.str());
        }
        return cl;
      };
      auto outs = detail::bind_custom_vjp(t.jaxpr, t.leaves, std::move(flat));
      return tree_unflatten<R>(t.out_def, outs);
    });
  };
}

/// Rematerialization: in reverse mode, f's intermediate values are recomputed in the backward
/// pass instead of being saved. policy: "nothing_saveable" (default; save only the inputs) or
/// "dots_saveable" (also save the results of dot_general, as jax.checkpoint_policies).
template <class F>
auto checkpoint(F f, const std::string& policy = "nothing_saveable", const Loc& loc = Loc::current()) {
  if (policy != "nothing_saveable" && policy != "dots_saveable" && policy != "everything_saveable") {
    ValueError e("[checkpoint] unknown policy '" + policy +
                 "' (use \"nothing_saveable\", \"dots_saveable\" or \"everything_saveable\")");
    e.add_location(loc);
    throw e;
  }
  return [f, policy, loc](const auto&... args) {
    using R = std::invoke_result_t<F, decltype(args)...>;
    return at_loc(loc, [&] {
      detail::TracedCall t = detail::trace_call(f, "checkpoint", args...);
      return tree_unflatten<R>(t.out_def, detail::bind_checkpoint(t.jaxpr, t.leaves, policy));
    });
  };
}

}  // namespace jx
