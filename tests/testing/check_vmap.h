#pragma once
// check_vmap: vmap(f, in_axes, {out_axis})(args) must equal running f on every slice of the
// mapped arguments and stacking the results along out_axis.

#include <optional>
#include <vector>

#include "testing/testing.h"

namespace jx::testing {

using VecFnV = std::function<Array(const std::vector<Array>&)>;

/// The i-th slice of x along `axis`.
inline Array slice_along(const Array& x, int axis, int64_t i) {
  if (axis < 0) axis += static_cast<int>(x.ndim());
  std::vector<int64_t> start(x.ndim(), 0), stop(x.shape().begin(), x.shape().end());
  start[axis] = i;
  stop[axis] = i + 1;
  return squeeze(slice(x, start, stop), {axis});
}

/// Compares vmap against the loop. in_axes: one entry per argument (nullopt = unmapped).
inline void check_vmap(const VecFnV& f, const std::vector<Array>& args, const std::vector<std::optional<int>>& in_axes,
                       int out_axis = 0) {
  REQUIRE(args.size() == in_axes.size());
  int64_t n = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!in_axes[i]) continue;
    int ax = *in_axes[i] < 0 ? *in_axes[i] + static_cast<int>(args[i].ndim()) : *in_axes[i];
    n = args[i].shape()[ax];
  }
  REQUIRE(n >= 0);
  std::vector<Array> rows;
  for (int64_t b = 0; b < n; ++b) {
    std::vector<Array> slice_args;
    for (size_t i = 0; i < args.size(); ++i) slice_args.push_back(in_axes[i] ? slice_along(args[i], *in_axes[i], b) : args[i]);
    rows.push_back(f(slice_args));
  }
  Array expected = stack(rows, out_axis);
  // vmap over a function of a vector of arguments: one axis entry per vector element.
  std::vector<Axis> axes;
  for (auto& a : in_axes) axes.push_back(a ? Axis(*a) : Axis(none));
  Array got = vmap(f, {Axis::list(axes)}, {Axis(out_axis)})(args);
  INFO("vmap result ", got.aval().str(), " vs loop ", expected.aval().str());
  REQUIRE(got.shape() == expected.shape());
  CHECK(got.dtype() == expected.dtype());
  auto [rtol, atol] = tolerance(expected.dtype());
  CHECK_ALLCLOSE_TOL(got, values(expected), rtol * 10, atol * 10);
}

}  // namespace jx::testing
