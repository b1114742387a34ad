#pragma once
// jx::make_jaxpr(f)(args...): traces f at the arguments' shapes and dtypes into a ClosedJaxpr.

#include <tuple>

#include "core/tree.h"
#include "trace/jaxpr.h"

namespace jx {

namespace detail {
/// Calls f with the flat leaves unflattened into the arguments' tree types, and flattens the
/// result: the bridge between user functions over trees and transforms over flat arrays.
template <class F, class... Args>
std::vector<Array> call_flat(F& f, const TreeDef& in_def, std::span<const Array> leaves,
                             TreeDef* out_def = nullptr) {
  std::vector<Array> in(leaves.begin(), leaves.end());
  auto args = tree_unflatten<std::tuple<Args...>>(in_def, in);
  auto result = std::apply(f, args);
  auto [out, def] = tree_flatten(result);
  if (out_def) *out_def = std::move(def);
  return out;
}

std::vector<AbstractValue> avals_of(const std::vector<Array>& leaves, const char* transform);
}  // namespace detail

template <class F>
class MakeJaxpr {
 public:
  MakeJaxpr(F f, Loc loc) : f_(std::move(f)), loc_(loc) {}

  template <class... Args>
  ClosedJaxpr operator()(const Args&... args) const {
    try {
      auto [leaves, in_def] = tree_flatten(std::tuple<Args...>(args...));
      auto avals = detail::avals_of(leaves, "make_jaxpr");
      F f = f_;
      return trace_to_jaxpr(
          [&](std::span<const Array> flat) { return detail::call_flat<F, Args...>(f, in_def, flat); }, avals);
    } catch (Error& e) {
      e.add_location(loc_);
      throw;
    }
  }

 private:
  F f_;
  Loc loc_;
};

/// Returns a callable that traces `f` at its arguments into a ClosedJaxpr (printable in
/// JAX's text format with <<).
template <class F>
MakeJaxpr<F> make_jaxpr(F f, const Loc& loc = Loc::current()) {
  return MakeJaxpr<F>(std::move(f), loc);
}

}  // namespace jx
