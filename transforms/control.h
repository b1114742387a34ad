#pragma once
// Structured control flow, as JAX's lax: cond, switch_, while_loop, fori_loop and scan. Each
// traces its functions once (per call) into sub-jaxprs and binds one equation (cond, while or scan;
// core/prims/control.h), so control flow survives every transform:
//
//   grad    JVP for all; cond and scan also under reverse mode (scan stores each iteration's
//           residuals, stacked, as JAX does). while_loop is forward-mode only: reverse mode raises
//           an error naming scan / fori_loop with concrete bounds instead, as JAX.
//   vmap    a batched predicate turns cond into a select over every branch's outputs; a batched
//           while_loop predicate runs until every lane is done, finished lanes keeping their carry.
//   jit     the equations are kept whole (the rules: transforms/control.cpp).
//
// Carries, operands, xs and ys are trees (Array, jx::Tree, std containers, JX_TREE structs). The
// functions may close over outer values, including tracers of enclosing transforms: those become
// leading inputs of the equation. The carry of a loop must keep its structure, shapes and dtypes;
// a weakly typed initial value (a C++ number) takes the dtype the body gives it, as in JAX.

#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/prims/control.h"
#include "transforms/grad.h"

namespace jx {

namespace detail {

/// Traces a user function at the given input avals: (jaxpr with its captured constants, output
/// structure).
using TraceFn = std::function<std::pair<ClosedJaxpr, TreeDef>(const std::vector<AbstractValue>&)>;

template <class F, class... Args>
TraceFn make_trace_fn(const F& f, const TreeDef& in_def, const char* name) {
  return [f, in_def, name](const std::vector<AbstractValue>& avals) {
    F fc = f;
    return trace_flat<F, Args...>(fc, in_def, avals, name);
  };
}

/// The branch index of cond from a scalar bool or integer predicate (int32(pred != 0)).
Array cond_index(const Array& pred);
/// switch_'s index (an integer scalar) as int32, clamped into [0, num_branches - 1].
Array switch_index(const Array& index, size_t num_branches);
/// Binds cond: `branches` traced at the operands' avals, named `names` in errors.
std::vector<Array> cond_flat(const char* op, const Array& index, const std::vector<TraceFn>& branches,
                             const std::vector<std::string>& names, const std::vector<Array>& ops, TreeDef& out_def);
/// Binds while: cond and body traced at the carry's avals.
std::vector<Array> while_flat(const TraceFn& cond, const TraceFn& body, const TreeDef& carry_def, std::vector<Array> init);
/// Binds scan: body traced at (carry, x slice) avals; returns carries then stacked ys.
std::vector<Array> scan_flat(const TraceFn& body, const TreeDef& carry_def, std::vector<Array> init,
                             const std::vector<Array>& xs, std::optional<int64_t> length, bool reverse, TreeDef& y_def);
/// Checks fori_loop's bounds (integer scalars).
void check_fori_bounds(const Array& lo, const Array& hi);

template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

template <class... Ops, class Branches>
std::vector<TraceFn> branch_trace_fns(const Branches& branches, const TreeDef& in_def, std::vector<std::string>& names) {
  std::vector<TraceFn> fns;
  auto add = [&](const auto& b) {
    using B = std::decay_t<decltype(b)>;
    names.push_back("branch " + std::to_string(fns.size()));
    fns.push_back(make_trace_fn<B, Ops...>(b, in_def, "switch_"));
  };
  if constexpr (is_tuple<Branches>::value) {
    std::apply([&](const auto&... b) { (add(b), ...); }, branches);
  } else {
    for (const auto& b : branches) add(b);
  }
  return fns;
}

template <class Branches>
struct first_branch {
  using type = std::decay_t<decltype(*std::begin(std::declval<const Branches&>()))>;
};
template <class B0, class... Bs>
struct first_branch<std::tuple<B0, Bs...>> {
  using type = B0;
};

}  // namespace detail

namespace lax {

/// true_fn(operands...) if pred else false_fn(operands...), as one `cond` equation. pred is a
/// scalar bool or integer (nonzero = true), traced or not; both functions must return the same
/// tree of the same shapes and dtypes. Under vmap with a batched pred, both branches run and
/// the results are selected per example.
template <class TrueFn, class FalseFn, class... Ops>
auto cond(const ArrayArg& pred, TrueFn true_fn, FalseFn false_fn, const Ops&... operands) {
  using R = std::decay_t<std::invoke_result_t<TrueFn&, const Ops&...>>;
  return at_loc(pred.loc, [&]() -> R {
    Array index = detail::cond_index(pred.value);
    auto [leaves, in_def] = tree_flatten(std::tuple<Ops...>(operands...));
    std::vector<detail::TraceFn> fns{detail::make_trace_fn<FalseFn, Ops...>(false_fn, in_def, "cond"),
                                     detail::make_trace_fn<TrueFn, Ops...>(true_fn, in_def, "cond")};
    TreeDef out_def;
    auto outs = detail::cond_flat("cond", index, fns, {"false_fn", "true_fn"}, leaves, out_def);
    return tree_unflatten<R>(out_def, outs);
  });
}

/// branches[clamp(index, 0, n - 1)](operands...), as one `cond` equation. `branches` is a
/// std::vector / std::array of callables (e.g. std::function), or a std::tuple of callables of
/// different types; every branch returns the same tree of the same shapes and dtypes.
template <class Branches, class... Ops>
auto switch_(const ArrayArg& index, const Branches& branches, const Ops&... operands) {
  using B0 = typename detail::first_branch<Branches>::type;
  using R = std::decay_t<std::invoke_result_t<B0&, const Ops&...>>;
  return at_loc(index.loc, [&]() -> R {
    auto [leaves, in_def] = tree_flatten(std::tuple<Ops...>(operands...));
    std::vector<std::string> names;
    auto fns = detail::branch_trace_fns<Ops...>(branches, in_def, names);
    Array i = detail::switch_index(index.value, fns.size());
    TreeDef out_def;
    auto outs = detail::cond_flat("switch_", i, fns, names, leaves, out_def);
    return tree_unflatten<R>(out_def, outs);
  });
}
template <class F, class... Ops>
auto switch_(const ArrayArg& index, std::initializer_list<F> branches, const Ops&... operands) {
  return switch_(index, std::vector<F>(branches), operands...);
}

/// while cond_fn(carry): carry = body_fn(carry); returns the final carry. cond_fn returns a
/// scalar bool; body_fn keeps the carry's structure, shapes and dtypes. Differentiable in forward
/// mode (jvp, jacfwd); reverse mode raises an error (use scan or fori_loop with concrete bounds).
template <class CondFn, class BodyFn, class C>
C while_loop(CondFn cond_fn, BodyFn body_fn, const C& init, const Loc& loc = Loc::current()) {
  return at_loc(loc, [&] {
    auto [leaves, carry_def] = tree_flatten(init);
    TreeDef in_def = tree_flatten(std::tuple<C>(init)).second;
    auto outs = detail::while_flat(detail::make_trace_fn<CondFn, C>(cond_fn, in_def, "while_loop"),
                                   detail::make_trace_fn<BodyFn, C>(body_fn, in_def, "while_loop"), carry_def, leaves);
    return tree_unflatten<C>(carry_def, outs);
  });
}

/// JAX's scan: for each x in xs (along the leading axis; reversed when `reverse`),
/// (carry, y) = f(carry, x); returns (final carry, ys stacked along a new leading axis).
/// f(carry, x) returns a std::pair (or 2-tuple) {new carry, y}; y may be jx::none. xs may be
/// jx::none when `length` is given. Every leaf of xs needs the same leading length.
template <class F, class C, class X>
auto scan(F f, const C& init, const X& xs, std::optional<int64_t> length = std::nullopt, bool reverse = false,
          const Loc& loc = Loc::current()) {
  using Ret = std::decay_t<std::invoke_result_t<F&, const C&, const X&>>;
  static_assert(std::tuple_size_v<Ret> == 2, "jx::lax::scan: f(carry, x) must return a pair {new carry, y}");
  using Y = std::decay_t<std::tuple_element_t<1, Ret>>;
  return at_loc(loc, [&] {
    auto [carry_leaves, carry_def] = tree_flatten(init);
    auto [x_leaves, x_def] = tree_flatten(xs);
    TreeDef in_def = tree_flatten(std::tuple<C, X>(init, xs)).second;
    TreeDef y_def;
    auto outs = detail::scan_flat(detail::make_trace_fn<F, C, X>(f, in_def, "scan"), carry_def, carry_leaves, x_leaves,
                                  length, reverse, y_def);
    const auto ncar = static_cast<std::ptrdiff_t>(carry_leaves.size());
    C carry = tree_unflatten<C>(carry_def, std::vector<Array>(outs.begin(), outs.begin() + ncar));
    Y ys = tree_unflatten<Y>(y_def, std::vector<Array>(outs.begin() + ncar, outs.end()));
    return std::pair<C, Y>{std::move(carry), std::move(ys)};
  });
}

/// for i in [lo, hi): carry = body_fn(i, carry), with i an int32 scalar Array. With concrete
/// (non-traced) bounds this is a scan of hi - lo steps, so reverse mode works; with traced
/// bounds it is a while_loop (forward mode only), as JAX.
template <class BodyFn, class C>
C fori_loop(const Array& lo, const Array& hi, BodyFn body_fn, const C& init, const Loc& loc = Loc::current()) {
  return at_loc(loc, [&]() -> C {
    detail::check_fori_bounds(lo, hi);
    if (!lo.is_tracer() && !hi.is_tracer()) {
      const int64_t n = std::max<int64_t>(0, hi.item<int64_t>() - lo.item<int64_t>());
      using Carry = std::pair<Array, C>;
      auto step = [&body_fn](const Carry& c, const NoneType&) {
        return std::pair<Carry, NoneType>{Carry{c.first + 1, C(body_fn(c.first, c.second))}, none};
      };
      return scan(step, Carry{lax::convert_element_type(lo, int32), init}, none, n, false, loc).first.second;
    }
    using State = std::tuple<Array, Array, C>;
    auto cond_fn = [](const State& s) { return std::get<0>(s) < std::get<1>(s); };
    auto step = [&body_fn](const State& s) {
      return State{std::get<0>(s) + 1, std::get<1>(s), C(body_fn(std::get<0>(s), std::get<2>(s)))};
    };
    State init_state{lax::convert_element_type(lo, int32), lax::convert_element_type(hi, int32), init};
    return std::get<2>(while_loop(cond_fn, step, init_state, loc));
  });
}

}  // namespace lax
}  // namespace jx
