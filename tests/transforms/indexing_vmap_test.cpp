// vmap of the indexing primitives (dynamic_slice, dynamic_update_slice, gather and the scatter
// family) and of the numpy-level indexing built on them: vmap equals the loop over examples for
// every combination of mapped operand / indices / updates, with out-of-range (clamped or
// dropped) and duplicate indices, mapped axes other than 0, nesting, and grad composed both ways.
#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using testing::check_grads;
using testing::check_vmap;

namespace {

using InAxes = std::vector<std::optional<int>>;
constexpr std::optional<int> kNone = std::nullopt;

Array f64(const Shape& s, unsigned seed) { return testing::uniform(s, -2.0, 2.0, float64, seed); }
Array ints(std::vector<int32_t> v, const Shape& shape) { return array(v, shape); }

/// Every in_axes combination over `n` arguments with at least one mapped: argument j is mapped at
/// axes[j] when bit j of the mask is set.
std::vector<InAxes> mapped_combinations(const std::vector<int>& axes) {
  std::vector<InAxes> out;
  const size_t n = axes.size();
  for (unsigned mask = 1; mask < (1u << n); ++mask) {
    InAxes a;
    for (size_t j = 0; j < n; ++j) a.push_back((mask >> j) & 1 ? std::optional<int>(axes[j]) : kNone);
    out.push_back(a);
  }
  return out;
}

/// The argument for a combination: the batched form when mapped, else one example.
std::vector<Array> pick(const std::vector<Array>& batched, const std::vector<Array>& single, const InAxes& axes) {
  std::vector<Array> out;
  for (size_t j = 0; j < axes.size(); ++j) out.push_back(axes[j] ? batched[j] : single[j]);
  return out;
}

std::string axes_str(const InAxes& axes) {
  std::string s;
  for (auto& a : axes) s += a ? std::to_string(*a) + " " : "none ";
  return s;
}

}  // namespace

// ---- numpy-level indexing ----------------------------------------------------------------------

TEST_CASE("getitem: x[i] with a mapped traced index equals the loop, out-of-range indices clamp") {
  Array x = f64({5, 3}, 1);
  Array xs = f64({4, 5, 3}, 2);
  Array i = ints({0, -1, 7, -9}, {4});  // 7 and -9 (-> -4) clamp into [0, 4]
  auto f = [](const std::vector<Array>& a) { return a[0][a[1]]; };
  check_vmap(f, {x, i}, {kNone, 0});
  check_vmap(f, {xs, i}, {0, 0});
  check_vmap(f, {transpose(xs, {1, 2, 0}), i}, {-1, 0}, 1);
  // Two indexed axes, one index mapped and one a traced scalar.
  auto g = [](const std::vector<Array>& a) { return a[0][{a[1], a[2]}]; };
  check_vmap(g, {xs, i, scalar(5, int32)}, {0, 0, kNone});
  check_vmap(g, {x, scalar(-1, int32), ints({2, 0, -1, 3}, {4})}, {kNone, kNone, 0});
  // Only the array mapped: the scalar index stays a dynamic_slice start.
  check_vmap(f, {xs, scalar(9, int32)}, {0, kNone});
}

TEST_CASE("getitem: x[idx] with integer-array indices (a gather) under every mapping") {
  Array x = f64({5, 3}, 3), xs = f64({5, 4, 3}, 4);  // xs: batch on axis 1
  Array idx = ints({1, 1, 6}, {3}), idxs = ints({0, 4, -1, 2, 2, 9, -6, 3, 1, 0, 0, 0}, {4, 3});
  auto f = [](const std::vector<Array>& a) { return a[0][a[1]] * 2.0; };
  for (auto& axes : mapped_combinations({1, 0})) {
    CAPTURE(axes_str(axes));
    check_vmap(f, pick({xs, idxs}, {x, idx}, axes), axes);
    check_vmap(f, pick({xs, idxs}, {x, idx}, axes), axes, -1);
  }
}

TEST_CASE("at: set/add/mul/min/max equal the loop for every combination of mapped x, i, v") {
  // x: [5] per example (batch on its last axis), i: [3] with duplicates and an out-of-range
  // index (dropped), v: [3] (batch on axis 1).
  Array x = f64({5}, 5), xs = f64({5, 4}, 6);
  Array i = ints({1, 1, 7}, {3}), is = ints({2, 2, 2, 0, 4, -1, 8, -1, 3, 1, 1, -7}, {4, 3});
  Array v = f64({3}, 7), vs = f64({3, 4}, 8);
  using Op = Array (*)(const Array&, const Array&, const Array&);
  const std::vector<std::pair<const char*, Op>> ops = {
      {"set", [](const Array& a, const Array& j, const Array& u) { return a.at(j).set(u); }},
      {"add", [](const Array& a, const Array& j, const Array& u) { return a.at(j).add(u); }},
      {"mul", [](const Array& a, const Array& j, const Array& u) { return a.at(j).mul(u); }},
      {"min", [](const Array& a, const Array& j, const Array& u) { return a.at(j).min(u); }},
      {"max", [](const Array& a, const Array& j, const Array& u) { return a.at(j).max(u); }},
  };
  for (auto& [name, op] : ops) {
    for (auto& axes : mapped_combinations({-1, 0, 1})) {
      CAPTURE(name);
      CAPTURE(axes_str(axes));
      Op o = op;
      check_vmap([o](const std::vector<Array>& a) { return o(a[0], a[1], a[2]); },
                 pick({xs, is, vs}, {x, i, v}, axes), axes, axes[0] ? 1 : 0);
    }
  }
}

TEST_CASE("at: a scalar update broadcast over a 2-d array row, with a mapped row index") {
  Array x = f64({4, 3}, 9), xs = f64({4, 4, 3}, 10);
  Array rows = ints({3, -1, 5, 0}, {4});  // 5 is dropped
  auto f = [](const std::vector<Array>& a) { return a[0].at(a[1]).set(a[2]); };
  check_vmap(f, {x, rows, f64({4}, 11)}, {kNone, 0, 0});
  check_vmap(f, {xs, rows, scalar(2.5, float64)}, {0, 0, kNone});
  check_vmap(f, {xs, scalar(1, int32), f64({4}, 12)}, {0, kNone, 0}, 2);
}

TEST_CASE("take: vmap equals the loop along an axis and flattened, indices clamp") {
  Array x = f64({4, 3}, 13), xs = f64({4, 4, 3}, 14);
  Array idx = ints({2, 0, 0, 5, -1}, {5}), idxs = testing::uniform({4, 5}, -6, 6, float64, 15).astype(int32);
  auto along1 = [](const std::vector<Array>& a) { return take(a[0], a[1], 1); };
  auto flat = [](const std::vector<Array>& a) { return take(a[0], a[1]); };
  for (auto& axes : mapped_combinations({0, 0})) {
    CAPTURE(axes_str(axes));
    check_vmap(along1, pick({xs, idxs}, {x, idx}, axes), axes);
    check_vmap(flat, pick({xs, idxs}, {x, idx}, axes), axes, 1);
  }
}

TEST_CASE("take_along_axis: vmap equals the loop for every mapping") {
  Array x = f64({3, 4}, 16), xs = f64({3, 4, 5}, 17);  // xs: batch last
  Array idx = ints({0, 3, 1, 1, -1, 9}, {3, 2});
  Array idxs = testing::uniform({5, 3, 2}, -5, 5, float64, 18).astype(int32);
  Array rows = ints({2, -1}, {2, 1}), rowss = ints({0, 5, 1, 1, 2, -2, -9, 0, 2, 2}, {5, 2, 1});  // broadcast
  auto f = [](const std::vector<Array>& a) { return take_along_axis(a[0], a[1], 1); };
  auto g = [](const std::vector<Array>& a) { return take_along_axis(a[0], a[1], 0); };
  for (auto& axes : mapped_combinations({-1, 0})) {
    CAPTURE(axes_str(axes));
    check_vmap(f, pick({xs, idxs}, {x, idx}, axes), axes);
    check_vmap(g, pick({xs, rowss}, {x, rows}, axes), axes, 2);
  }
}

// ---- lax primitives ----------------------------------------------------------------------------

TEST_CASE("dynamic_slice: mapped starts (clamped when out of range) equal the loop") {
  Array x = f64({5, 4}, 19), xs = f64({5, 6, 4}, 20);     // xs: batch on axis 1
  Array s0 = scalar(1, int32), s0s = ints({0, 4, -2, 9, 2, -50}, {6});  // 4, 9 clamp to 3; -2 -> 3
  Array s1 = scalar(3, int32), s1s = ints({1, 2, 3, -1, 0, 7}, {6});
  auto f = [](const std::vector<Array>& a) { return lax::dynamic_slice(a[0], {a[1], a[2]}, {2, 2}); };
  for (auto& axes : mapped_combinations({1, 0, 0})) {
    CAPTURE(axes_str(axes));
    check_vmap(f, pick({xs, s0s, s1s}, {x, s0, s1}, axes), axes);
    check_vmap(f, pick({xs, s0s, s1s}, {x, s0, s1}, axes), axes, 2);
  }
  // int64 starts, full-extent and zero-size slices.
  Array l = array(std::vector<int64_t>{0, 1, 5, -1, 3, 2}, Shape{6});
  check_vmap([](const std::vector<Array>& a) { return lax::dynamic_slice(a[0], {a[1], Array(0)}, {5, 4}); },
             {xs, l}, {1, 0});
  check_vmap([](const std::vector<Array>& a) { return lax::dynamic_slice(a[0], {a[1], Array(2)}, {0, 2}); },
             {xs, l}, {1, 0});
}

TEST_CASE("dynamic_slice: unmapped starts stay a dynamic_slice, mapped starts become a gather") {
  auto f = [](const Array& x, const Array& s) { return lax::dynamic_slice(x, {s}, {2}); };
  Array xs = f64({3, 5}, 43);
  std::string same = make_jaxpr(vmap(f, {0, none}))(xs, scalar(1, int32)).str();
  CHECK(same.find("dynamic_slice[slice_sizes=(3, 2)]") != std::string::npos);
  CHECK(same.find("gather") == std::string::npos);
  std::string per = make_jaxpr(vmap(f, {0, 0}))(xs, ints({1, 2, 3}, {3})).str();
  CHECK(per.find("gather") != std::string::npos);
  CHECK(per.find("dynamic_slice") == std::string::npos);
}

TEST_CASE("dynamic_update_slice: every mapping of operand, update and starts equals the loop") {
  Array x = f64({5, 4}, 21), xs = f64({6, 5, 4}, 22);
  Array u = f64({2, 3}, 23), us = f64({2, 3, 6}, 24);  // us: batch last
  Array s0 = scalar(4, int32), s0s = ints({0, 4, -1, 9, 2, -50}, {6});  // clamp to [0, 3]
  Array s1 = scalar(1, int32), s1s = ints({1, 2, 3, -1, 0, 7}, {6});     // clamp to [0, 1]
  auto f = [](const std::vector<Array>& a) { return lax::dynamic_update_slice(a[0], a[1], {a[2], a[3]}); };
  for (auto& axes : mapped_combinations({0, -1, 0, 0})) {
    CAPTURE(axes_str(axes));
    check_vmap(f, pick({xs, us, s0s, s1s}, {x, u, s0, s1}, axes), axes, axes[0] ? 0 : 1);
  }
}

TEST_CASE("gather: general dimension numbers under every mapping equal the loop") {
  // Per example: operand [4,5,3], indices [2,2] over operand dims (2, 0), windows [1, 3, 1]
  // with dim 2 collapsed -> output [2, 1, 3] (offset dims 1, 2).
  Array x = f64({4, 5, 3}, 25), xs = f64({4, 3, 5, 3}, 26);  // xs: batch on axis 1
  Array i = ints({2, 3, -1, 1}, {2, 2});
  Array is = ints({0, 0, 2, 3, 1, 1, 9, 9, -3, 2, 0, 4}, {3, 2, 2});
  lax::GatherDimensionNumbers dn{{1, 2}, {2}, {2, 0}};
  auto f = [dn](const std::vector<Array>& a) { return lax::gather(a[0], a[1], dn, {1, 3, 1}); };
  for (auto& axes : mapped_combinations({1, 0})) {
    CAPTURE(axes_str(axes));
    check_vmap(f, pick({xs, is}, {x, i}, axes), axes);
    check_vmap(f, pick({xs, is}, {x, i}, axes), axes, -1);
  }
}

TEST_CASE("scatter_add: duplicate and dropped indices under every mapping equal the loop") {
  // Per example: operand [5,3], indices [4,1] into dim 0, updates [4,3] (rows).
  Array x = f64({5, 3}, 27), xs = f64({3, 5, 3}, 28);
  Array i = ints({1, 1, 5, -1}, {4, 1});  // 5 and -1 are dropped (no normalization at lax level)
  Array is = ints({0, 0, 0, 4, 2, 3, 2, 6, 4, 4, 1, 0}, {3, 4, 1});
  Array u = f64({4, 3}, 29), us = f64({4, 3, 3}, 30);  // us: batch last
  lax::ScatterDimensionNumbers dn{{1}, {0}, {0}};
  auto f = [dn](const std::vector<Array>& a) { return lax::scatter_add(a[0], a[1], a[2], dn); };
  auto g = [dn](const std::vector<Array>& a) { return lax::scatter(a[0], a[1], a[2], dn); };
  for (auto& axes : mapped_combinations({0, 0, -1})) {
    CAPTURE(axes_str(axes));
    check_vmap(f, pick({xs, is, us}, {x, i, u}, axes), axes);
    check_vmap(g, pick({xs, is, us}, {x, i, u}, axes), axes, 1);
  }
}

TEST_CASE("scatter_add: integer operands and unsigned indices, many examples") {
  const int64_t n = 200;
  std::vector<int32_t> iv;
  for (int64_t b = 0; b < n; ++b) iv.push_back(static_cast<int32_t>(b % 4));  // 3 is dropped
  Array is = array(iv, Shape{n, 1, 1}).astype(uint32);
  Array xs = lax::iota(int32, Shape{n, 3}, 0);
  lax::ScatterDimensionNumbers sdn{{}, {0}, {0}};
  check_vmap([sdn](const std::vector<Array>& a) { return lax::scatter_add(a[0], a[1], ones({1}, int32), sdn); },
             {xs, is}, {0, 0});
  lax::GatherDimensionNumbers gdn{{}, {0}, {0}};
  check_vmap([gdn](const std::vector<Array>& a) { return lax::gather(a[0], a[1], gdn, {1}); }, {xs, is}, {0, 0});
}

// ---- composition -------------------------------------------------------------------------------

TEST_CASE("gather: nested vmap(vmap(f)) equals the loop over both axes") {
  // Inner: per (i, j) take row idx[i, j] of x[i]; the inner vmap maps idx only.
  Array x = f64({3, 5, 2}, 31);
  Array idx = ints({0, 4, 7, -1, 2, 2, 1, 3, 0, 0, -8, 4}, {3, 4});
  auto inner = [](const std::vector<Array>& a) {
    return vmap([](const Array& xi, const Array& j) { return xi[j] * 3.0; }, {none, 0})(a[0], a[1]);
  };
  check_vmap(inner, {x, idx}, {0, 0});
  check_vmap(inner, {x, transpose(idx)}, {0, 1}, 2);
  // vmap(vmap(.at[].add)) with both levels mapping everything.
  Array u = f64({3, 4, 2}, 32);
  auto upd = [](const std::vector<Array>& a) {
    return vmap([](const Array& xi, const Array& j, const Array& v) { return xi.at(j).add(v); })(a[0], a[1], a[2]);
  };
  check_vmap(upd, {broadcast_to(expand_dims(x, {1}), {3, 4, 5, 2}), idx, u}, {0, 0, 0});
}

TEST_CASE("take: vmap(grad(f)) gives per-example gradients equal to a loop of grad(f)") {
  // Per example: d/dx sum(take(x, idx_b) * w_b), x shared (duplicates accumulate, clamped
  // indices land on the clamped position).
  Array x = f64({6}, 33);
  Array idx = ints({0, 0, 5, 9, -1, 2, 3, 3, 3, -7, 1, 4}, {3, 4});
  Array w = f64({3, 4}, 34);
  auto g = [](const std::vector<Array>& a) {
    return grad([](const Array& x0, const Array& i, const Array& w0) { return sum(take(x0, i) * w0); })(a[0], a[1],
                                                                                                      a[2]);
  };
  check_vmap(g, {x, idx, w}, {kNone, 0, 0});
  check_vmap(g, {broadcast_to(x, {3, 6}), idx, w}, {0, 0, 0}, 1);
  // Per-example gradient of a dynamic_update_slice / dynamic_slice chain with mapped starts
  // (clamped at both ends), with respect to the operand and to the update.
  auto chain = [](const Array& x0, const Array& s, const Array& u) {
    Array y = lax::dynamic_update_slice(x0 * x0, u * u, {s});
    return sum(sin(lax::dynamic_slice(y, {s - 1}, {3})));
  };
  Array xs = f64({4, 6}, 35), s = ints({0, 5, 2, -1}, {4}), us = f64({4, 2}, 36);
  auto dx = [chain](const std::vector<Array>& a) { return grad<0>(chain)(a[0], a[1], a[2]); };
  auto du = [chain](const std::vector<Array>& a) { return grad<2>(chain)(a[0], a[1], a[2]); };
  for (auto& axes : mapped_combinations({0, 0, 1})) {
    CAPTURE(axes_str(axes));
    check_vmap(dx, pick({xs, s, transpose(us)}, {xs[0], s[0], us[0]}, axes), axes);
    check_vmap(du, pick({xs, s, transpose(us)}, {xs[0], s[0], us[0]}, axes), axes);
  }
}

TEST_CASE("scatter_add: grad of a function using vmap inside matches finite differences") {
  Array idx = ints({0, 0, 3, 2, 5, 1}, {3, 2});  // 5 is dropped
  check_grads([idx](const std::vector<Array>& a) {
    auto per_example = [](const Array& x, const Array& i, const Array& u) {
      return sin(x.at(i).add(u * u)[i]) * x[{Array(1)}];
    };
    return vmap(per_example, {0, 0, 0})(a[0], idx, a[1]);
  }, {f64({3, 4}, 37), f64({3, 2}, 38)}, 2);
  check_grads([idx](const std::vector<Array>& a) {
    auto per_example = [](const Array& x, const Array& i, const Array& u) {
      return take(x, i) * x.at(i).mul(u)[{Array(0)}];
    };
    return vmap(per_example, {none, 0, 0})(a[0], idx, a[1]);
  }, {f64({4}, 39), f64({3, 2}, 40)}, 1);
  // Mapped starts (clamped): the batched dynamic_update_slice is a scatter and the batched
  // dynamic_slice a gather, differentiated here.
  Array starts = ints({3, -1, 9}, {3});
  check_grads([starts](const std::vector<Array>& a) {
    auto per_example = [](const Array& x, const Array& s, const Array& u) {
      Array y = lax::dynamic_update_slice(x, sin(u), {s});
      return lax::dynamic_slice(y * y, {s + 1}, {2});
    };
    return vmap(per_example, {none, 0, 0})(a[0], starts, a[1]);
  }, {f64({5}, 41), f64({3, 2}, 42)}, 2);
}
