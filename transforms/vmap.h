#pragma once
// vmap: vectorizing map. The function is traced once per example signature, the jaxpr is
// batched by each primitive's batching rule (tracking the batch axis of every value, or "not
// mapped"), and the batched jaxpr is cached and evaluated: eagerly, or into the current trace,
// so vmap(grad(f)), grad(vmap(f)) and nested vmaps compose.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/rules.h"
#include "transforms/grad.h"

namespace jx {

/// The mapped axis of an argument (or output): an int (negative counts from the end),
/// jx::none (not mapped), or a tree of them matching the argument's structure (a list for
/// vector/tuple/array nodes, a dict for maps, jx::Tree dicts and JX_TREE structs). A single
/// int or none applies to every leaf below it.
class Axis {
 public:
  Axis(int axis) : axis_(axis) {}  // NOLINT
  Axis(NoneType) {}                // NOLINT
  Axis(std::initializer_list<Axis> items) : list_(items), is_list_(true) {}
  Axis(std::map<std::string, Axis> items) : dict_(std::move(items)), is_dict_(true) {}  // NOLINT
  static Axis list(std::vector<Axis> items) {
    Axis a(jx::none);
    a.list_ = std::move(items);
    a.is_list_ = true;
    return a;
  }

  bool is_leaf() const { return !is_list_ && !is_dict_; }
  std::optional<int> axis() const { return axis_; }
  const std::vector<Axis>& items() const { return list_; }
  const std::map<std::string, Axis>& dict() const { return dict_; }
  std::string str() const;

 private:
  std::optional<int> axis_;
  std::vector<Axis> list_;
  std::map<std::string, Axis> dict_;
  bool is_list_ = false, is_dict_ = false;
};

namespace detail {
/// Expands per-argument axes to one optional axis per leaf, checking the structure.
std::vector<std::optional<int>> leaf_axes(const std::vector<Axis>& axes, const std::vector<std::pair<size_t, TreeDef>>& defs,
                                          size_t num_leaves, const char* what);
/// Expands an output axes spec (one entry, or one per top-level output) to one per output leaf.
std::vector<std::optional<int>> output_leaf_axes(const std::vector<Axis>& axes, const TreeDef& out_def);

/// Batches `jaxpr` (per-example) given each input's batch dim in the batched arguments; the
/// result takes the batched arguments and returns outputs with their batch axis at out_axes
/// (nullopt out_axes: the output must be unmapped... it is returned as is).
ClosedJaxpr batch_jaxpr(const ClosedJaxpr& jaxpr, int64_t axis_size, const std::vector<BatchDim>& in_dims,
                        const std::vector<std::optional<int>>& out_axes, const std::vector<AbstractValue>& batched_avals);

struct VmapPlan {
  std::vector<AbstractValue> example_avals;  // per-example avals of the leaves
  std::vector<BatchDim> in_dims;             // normalized batch dims of the leaves
  int64_t axis_size = 0;
};
/// Checks the mapped axes and sizes; errors name the argument and the sizes seen.
VmapPlan plan_vmap(const std::vector<Array>& leaves, const std::vector<std::pair<size_t, TreeDef>>& defs,
                   const std::vector<std::optional<int>>& axes, std::optional<int64_t> axis_size);
}  // namespace detail

template <class F>
class VmapFn {
 public:
  VmapFn(F f, std::vector<Axis> in_axes, std::vector<Axis> out_axes, std::optional<int64_t> axis_size, Loc loc)
      : f_(std::move(f)),
        in_axes_(std::move(in_axes)),
        out_axes_(std::move(out_axes)),
        axis_size_(axis_size),
        loc_(loc),
        cache_(std::make_shared<Cache>()) {}

  template <class... Args>
  auto operator()(const Args&... args) const {
    using R = std::invoke_result_t<F, const Args&...>;
    return at_loc(loc_, [&] {
      auto [leaves, in_def] = tree_flatten(std::tuple<Args...>(args...));
      auto defs = detail::arg_defs(args...);
      auto axes = detail::leaf_axes(in_axes_.empty() ? std::vector<Axis>(sizeof...(Args), Axis(0)) : in_axes_, defs,
                                    leaves.size(), "in_axes");
      detail::VmapPlan plan = detail::plan_vmap(leaves, defs, axes, axis_size_);
      auto key = detail::signature_key(leaves, in_def);
      for (auto& d : plan.in_dims) key.structure += d ? "," + std::to_string(*d) : ",n";
      key.structure += "|" + std::to_string(plan.axis_size);
      auto entry = cache_->find(key);
      if (!entry) {
        F f = f_;
        auto [jaxpr, out_def] = detail::trace_flat<F, Args...>(f, in_def, plan.example_avals, "vmap");
        auto out_axes = detail::output_leaf_axes(out_axes_.empty() ? std::vector<Axis>{Axis(0)} : out_axes_, out_def);
        std::vector<AbstractValue> batched;
        for (auto& l : leaves) batched.push_back(l.aval());
        auto e = std::make_shared<Entry>(
            Entry{detail::batch_jaxpr(jaxpr, plan.axis_size, plan.in_dims, out_axes, batched), out_def});
        if (!detail::captures_tracers(jaxpr)) cache_->insert(key, e);
        entry = e;
      }
      return tree_unflatten<R>(entry->out_def, entry->batched(leaves));
    });
  }

 private:
  struct Entry {
    ClosedJaxpr batched;
    TreeDef out_def;
  };
  using Cache = detail::SignatureCache<Entry>;
  F f_;
  std::vector<Axis> in_axes_, out_axes_;
  std::optional<int64_t> axis_size_;
  Loc loc_;
  std::shared_ptr<Cache> cache_;
};

/// Vectorizes f over a mapped axis of its arguments: in_axes per argument (default 0 for
/// all), out_axes per output (default 0), and axis_size for when no argument is mapped.
template <class F>
VmapFn<F> vmap(F f, std::vector<Axis> in_axes = {}, std::vector<Axis> out_axes = {},
               std::optional<int64_t> axis_size = std::nullopt, const Loc& loc = Loc::current()) {
  return VmapFn<F>(std::move(f), std::move(in_axes), std::move(out_axes), axis_size, loc);
}

}  // namespace jx
