// Batching of the shape family (broadcast_in_dim, reshape, transpose, squeeze, slice, pad,
// concatenate, rev) and the numpy-level shape ops built on them: the rules put the batch axis
// where they say (and keep it in place where the primitive can carry it), vmap equals the loop
// over slices (check_vmap) for leading, middle, trailing and unmapped axes and out axes other
// than 0, nested vmaps, and vmap composed with grad both ways.
#include <sstream>

#include "core/prims/shape.h"
#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using jx::testing::check_vmap;
using jx::testing::VecFnV;

namespace {

Array rnd(const Shape& shape, unsigned seed, DType dtype = float32) {
  return jx::testing::uniform(shape, -2.0, 2.0, dtype, seed);
}

using Ints = std::vector<int64_t>;

// The primitive applied to one argument with fixed params.
VecFnV prim_fn(const Primitive& prim, Params params) {
  return [prim, params](const std::vector<Array>& a) { return bind1(prim, {a[0]}, params); };
}

// x has per-example shape `example`; it is batched (batch size 3) at axis 0, 1 and -1 in turn,
// and each result is checked against the loop, with the output batch axis at 0 and at -1.
void check_axes_sweep(const VecFnV& f, const Shape& example, DType dtype, unsigned seed) {
  const int64_t batch = 3;
  for (int in_axis : {0, 1, -1}) {
    Shape shape = example;
    int pos = in_axis < 0 ? static_cast<int>(shape.size()) : in_axis;
    if (pos > static_cast<int>(shape.size())) continue;
    shape.insert(shape.begin() + pos, batch);
    Array x = rnd(shape, seed, dtype);
    for (int out_axis : {0, -1}) {
      CAPTURE(in_axis);
      CAPTURE(out_axis);
      check_vmap(f, {x}, {in_axis}, out_axis);
    }
  }
}

// The printed jaxpr of vmap(f) over one argument with the given axes.
std::string batched_jaxpr(const VecFnV& f, const Array& x, int in_axis, int out_axis) {
  std::ostringstream os;
  os << make_jaxpr([&](const Array& v) {
    return vmap([&](const Array& e) { return f({e}); }, {Axis(in_axis)}, {Axis(out_axis)})(v);
  })(x);
  return os.str();
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

// Calls the primitive's batching rule directly.
std::pair<std::vector<Array>, std::vector<BatchDim>> run_rule(const Primitive& prim, std::vector<Array> args,
                                                              std::vector<BatchDim> dims, const Params& params) {
  return prim.def().batch(args, dims, params);
}

}  // namespace

// ---- the rules themselves: where the batch axis ends up ----------------------------------------

TEST_CASE("broadcast_in_dim: the batch axis stays with the operand, no transpose") {
  Params p{{"shape", Shape{2, 3}}, {"broadcast_dimensions", Ints{1}}};
  // Per-example [3] -> [2, 3]; batch (4) trailing: the output batch axis follows output dim 1.
  auto [outs, dims] = run_rule(broadcast_in_dim_p, {rnd({3, 4}, 1)}, {1}, p);
  CHECK(outs[0].shape() == Shape{2, 3, 4});
  CHECK(dims[0] == BatchDim(2));
  auto [outs2, dims2] = run_rule(broadcast_in_dim_p, {rnd({4, 3}, 1)}, {0}, p);
  CHECK(outs2[0].shape() == Shape{4, 2, 3});
  CHECK(dims2[0] == BatchDim(0));
  // A size-1 operand dim expanded, batch in the middle: [1, 4, 3] -> [2, 4, 3].
  Params q{{"shape", Shape{2, 3}}, {"broadcast_dimensions", Ints{0, 1}}};
  auto [outs3, dims3] = run_rule(broadcast_in_dim_p, {rnd({1, 4, 3}, 2)}, {1}, q);
  CHECK(outs3[0].shape() == Shape{2, 4, 3});
  CHECK(dims3[0] == BatchDim(1));
  std::string j = batched_jaxpr([](const std::vector<Array>& a) { return broadcast_to(a[0], {2, 3}); },
                                rnd({3, 4}, 3), 1, 2);
  INFO(j);
  CHECK(j.find("broadcast_in_dim[broadcast_dimensions=(1, 2) shape=(2, 3, 4)]") != std::string::npos);
  CHECK(j.find("transpose") == std::string::npos);
}

TEST_CASE("transpose: the permutation is extended so the batch axis keeps its position") {
  // Per-example [2, 3, 5] -> [5, 2, 3]; batch (4) at 1: physical [2, 4, 3, 5] -> [5, 4, 2, 3].
  Array x = rnd({2, 4, 3, 5}, 4);
  auto [outs, dims] = run_rule(transpose_p, {x}, {1}, Params{{"permutation", Ints{2, 0, 1}}});
  CHECK(outs[0].shape() == Shape{5, 4, 2, 3});
  CHECK(dims[0] == BatchDim(1));
  CHECK_ALLCLOSE(outs[0], transpose(x, {3, 1, 0, 2}));
  std::string j = batched_jaxpr([](const std::vector<Array>& a) { return transpose(a[0]); }, rnd({2, 4, 3}, 5), 1, 1);
  INFO(j);
  CHECK(count(j, "transpose[") == 1);
  CHECK(j.find("permutation=(2, 1, 0)") != std::string::npos);
}

TEST_CASE("squeeze: dims shift past the batch axis, which moves left by the squeezed dims before it") {
  // Per-example [1, 3, 1]; batch (4) at 2: physical [1, 3, 4, 1].
  auto [outs, dims] = run_rule(squeeze_p, {rnd({1, 3, 4, 1}, 6)}, {2}, Params{{"dimensions", Ints{0, 2}}});
  CHECK(outs[0].shape() == Shape{3, 4});
  CHECK(dims[0] == BatchDim(1));
}

TEST_CASE("slice: the batch axis is taken whole and stays in place") {
  Array x = rnd({5, 4}, 7);
  auto [outs, dims] = run_rule(slice_p, {x}, {1},
                               Params{{"start_indices", Ints{1}}, {"limit_indices", Ints{5}}, {"strides", Ints{2}}});
  CHECK(outs[0].shape() == Shape{2, 4});
  CHECK(dims[0] == BatchDim(1));
  CHECK_ALLCLOSE(outs[0], slice(x, {1, 0}, {5, 4}, {2, 1}));
}

TEST_CASE("rev: the dims shift past the batch axis, no transpose") {
  std::string j = batched_jaxpr([](const std::vector<Array>& a) { return flip(a[0], {0, 1}); }, rnd({2, 3, 4}, 8), 1, 1);
  INFO(j);
  CHECK(j.find("rev[dimensions=(0, 2)]") != std::string::npos);
  CHECK(j.find("transpose") == std::string::npos);
}

TEST_CASE("pad: an unmapped padding value pads in place; a mapped one selects per example") {
  Params p{{"padding_config", Ints{1, 2, 1}}};
  Array x = rnd({3, 4}, 9), v = scalar(7.0);
  auto [outs, dims] = run_rule(pad_p, {x, v}, {0, std::nullopt}, p);
  CHECK(outs[0].shape() == Shape{3, 10});
  CHECK(dims[0] == BatchDim(0));
  // Mapped value, unmapped operand: the operand is broadcast, the batch axis leads.
  Array vs = array(std::vector<float>{1, 2, 3});
  auto [outs2, dims2] = run_rule(pad_p, {rnd({4}, 10), vs}, {std::nullopt, 0}, p);
  CHECK(outs2[0].shape() == Shape{3, 10});
  CHECK(dims2[0] == BatchDim(0));
  std::string j1 = batched_jaxpr([](const std::vector<Array>& a) { return pad(a[0], {{1, 1}}, 0.5); }, rnd({4, 3}, 11), 1, 1);
  INFO(j1);
  CHECK(j1.find("pad[padding_config=(1, 1, 0, 0, 0, 0)]") != std::string::npos);
  CHECK(j1.find("select") == std::string::npos);
  CHECK(j1.find("transpose") == std::string::npos);
}

TEST_CASE("concatenate: the first mapped operand's batch axis is kept, only unmapped operands broadcast") {
  // Per-example [2, 3] ++ [2, 1] along 1: a batched at 1 ([2, 4, 3]), b unmapped.
  Array a = rnd({2, 4, 3}, 12), b = rnd({2, 1}, 13);
  Params p{{"dimension", int64_t{1}}};
  auto [outs, dims] = run_rule(concatenate_p, {a, b}, {1, std::nullopt}, p);
  CHECK(outs[0].shape() == Shape{2, 4, 4});
  CHECK(dims[0] == BatchDim(1));
  std::ostringstream os;
  os << make_jaxpr([&](const Array& x, const Array& y, const Array& z) {
    return vmap([](const Array& e, const Array& f, const Array& g) { return concatenate({e, f, g}, 0); },
                {Axis(1), Axis(none), Axis(1)}, {Axis(1)})(x, y, z);
  })(rnd({2, 4, 3}, 14), rnd({1, 3}, 15), rnd({5, 4, 3}, 16));
  std::string j = os.str();
  INFO(j);
  CHECK(count(j, "broadcast_in_dim") == 1);  // the unmapped operand only
  CHECK(j.find("concatenate[dimension=0]") != std::string::npos);
  CHECK(j.find("transpose") == std::string::npos);
}

TEST_CASE("reshape: a non-leading batch axis is moved to the front first; a leading one is not") {
  auto f = [](const std::vector<Array>& a) { return reshape(a[0], {-1}); };
  std::string j0 = batched_jaxpr(f, rnd({4, 2, 3}, 17), 0, 0);
  CHECK(j0.find("reshape[new_sizes=(4, 6)]") != std::string::npos);
  CHECK(j0.find("transpose") == std::string::npos);
  std::string j1 = batched_jaxpr(f, rnd({2, 4, 3}, 17), 1, 0);
  CHECK(count(j1, "transpose[") == 1);
  auto [outs, dims] = run_rule(reshape_p, {rnd({2, 3, 4}, 18)}, {2}, Params{{"new_sizes", Shape{6}}});
  CHECK(outs[0].shape() == Shape{4, 6});
  CHECK(dims[0] == BatchDim(0));
}

TEST_CASE("iota: has no batching rule by design (no operands), and arange inside vmap is unmapped") {
  CHECK(!iota_p.def().batch);
  CHECK(iota_p.def().gaps.count("vmap") == 1);
  check_vmap([](const std::vector<Array>& a) { return a[0] * arange(0.0, 4.0, 1.0, float32) + lax::iota(float32, {4}, 0); },
             {rnd({3, 4}, 19)}, {0}, 1);
  check_vmap([](const std::vector<Array>& a) { return broadcast_to(arange(0.0, 3.0, 1.0, float32), {2, 3}) + a[0]; },
             {rnd({3, 4}, 20)}, {1});
}

// ---- each primitive against the loop ------------------------------------------------------------

TEST_CASE("broadcast_in_dim: vmap equals the loop") {
  check_axes_sweep(prim_fn(broadcast_in_dim_p, Params{{"shape", Shape{2, 3, 4}}, {"broadcast_dimensions", Ints{1}}}),
                   {3}, float32, 21);
  check_axes_sweep(prim_fn(broadcast_in_dim_p, Params{{"shape", Shape{2, 3, 4}}, {"broadcast_dimensions", Ints{0, 2}}}),
                   {1, 4}, float64, 22);
  check_axes_sweep(prim_fn(broadcast_in_dim_p, Params{{"shape", Shape{2, 3}}, {"broadcast_dimensions", Ints{}}}),
                   {}, int32, 23);
}

TEST_CASE("reshape: vmap equals the loop") {
  check_axes_sweep(prim_fn(reshape_p, Params{{"new_sizes", Shape{3, 2}}}), {2, 3}, float32, 24);
  check_axes_sweep(prim_fn(reshape_p, Params{{"new_sizes", Shape{6}}}), {2, 1, 3}, int32, 25);
  check_axes_sweep(prim_fn(reshape_p, Params{{"new_sizes", Shape{1, 1}}}), {}, float64, 26);
}

TEST_CASE("transpose: vmap equals the loop") {
  check_axes_sweep(prim_fn(transpose_p, Params{{"permutation", Ints{1, 0}}}), {2, 3}, float32, 27);
  check_axes_sweep(prim_fn(transpose_p, Params{{"permutation", Ints{2, 0, 1}}}), {2, 3, 4}, int32, 28);
}

TEST_CASE("squeeze: vmap equals the loop") {
  check_axes_sweep(prim_fn(squeeze_p, Params{{"dimensions", Ints{0, 2}}}), {1, 3, 1}, float32, 29);
  check_axes_sweep(prim_fn(squeeze_p, Params{{"dimensions", Ints{1}}}), {2, 1}, float64, 30);
}

TEST_CASE("slice: vmap equals the loop") {
  check_axes_sweep(prim_fn(slice_p, Params{{"start_indices", Ints{1, 0}}, {"limit_indices", Ints{5, 3}},
                                           {"strides", Ints{2, 1}}}),
                   {5, 4}, float32, 31);
  // An empty result.
  check_axes_sweep(prim_fn(slice_p, Params{{"start_indices", Ints{2}}, {"limit_indices", Ints{2}}, {"strides", Ints{1}}}),
                   {4}, int32, 32);
}

TEST_CASE("rev: vmap equals the loop") {
  check_axes_sweep(prim_fn(rev_p, Params{{"dimensions", Ints{0, 1}}}), {2, 3}, float32, 33);
  check_axes_sweep(prim_fn(rev_p, Params{{"dimensions", Ints{1}}}), {2, 3, 2}, int32, 34);
}

TEST_CASE("pad: vmap equals the loop with the operand, the value or both mapped") {
  auto f = [](const std::vector<Array>& a) { return lax::pad(a[0], a[1], {{1, -1, 1}, {0, 2, 0}}); };
  Array v = array(std::vector<float>{-1, 5, 9});
  for (int out_axis : {0, 1, -1}) {
    CAPTURE(out_axis);
    check_vmap(f, {rnd({3, 2, 3}, 35), scalar(7.0)}, {0, std::nullopt}, out_axis);
    check_vmap(f, {rnd({2, 3, 3}, 36), scalar(7.0)}, {-1, std::nullopt}, out_axis);
    check_vmap(f, {rnd({2, 3}, 37), v}, {std::nullopt, 0}, out_axis);
    check_vmap(f, {rnd({2, 3, 3}, 38), v}, {1, 0}, out_axis);
    check_vmap(f, {rnd({2, 3, 3}, 39), v}, {-1, -1}, out_axis);
  }
  check_axes_sweep([](const std::vector<Array>& a) { return lax::pad(a[0], scalar(3, int32), {{2, 0, 2}}); }, {3},
                   int32, 40);
}

TEST_CASE("concatenate: vmap equals the loop with mapped and unmapped operands") {
  auto f = [](const std::vector<Array>& a) { return bind1(concatenate_p, {a[0], a[1], a[2]}, Params{{"dimension", int64_t{1}}}); };
  check_vmap(f, {rnd({4, 2, 3}, 41), rnd({2, 1}, 42), rnd({2, 4, 2}, 43)}, {0, std::nullopt, 1}, 0);
  check_vmap(f, {rnd({2, 3, 4}, 44), rnd({2, 4, 1}, 45), rnd({2, 2}, 46)}, {-1, 1, std::nullopt}, 2);
  check_vmap(f, {rnd({2, 3}, 47), rnd({2, 0}, 48), rnd({4, 2, 2}, 49)}, {std::nullopt, std::nullopt, 0}, -1);
  check_vmap(f, {rnd({2, 3, 4}, 50), rnd({2, 0, 4}, 51), rnd({2, 2, 4}, 52)}, {-1, 2, 2}, 1);
}

// ---- the numpy-level shape ops --------------------------------------------------------------------

TEST_CASE("shape ops: reshape, transpose, expand_dims, squeeze, broadcast_to under vmap equal the loop") {
  check_axes_sweep([](const std::vector<Array>& a) { return reshape(a[0], {-1, 2}); }, {2, 3}, float32, 53);
  check_axes_sweep([](const std::vector<Array>& a) { return transpose(a[0], {1, -1, 0}); }, {2, 3, 2}, float32, 54);
  check_axes_sweep([](const std::vector<Array>& a) { return expand_dims(a[0], {0, -1}); }, {2, 3}, float32, 55);
  check_axes_sweep([](const std::vector<Array>& a) { return squeeze(a[0]); }, {1, 3, 1}, float32, 56);
  check_axes_sweep([](const std::vector<Array>& a) { return broadcast_to(a[0], {2, 2, 3}); }, {1, 3}, float32, 57);
}

TEST_CASE("shape ops: concatenate, stack, split under vmap equal the loop") {
  auto cat = [](const std::vector<Array>& a) { return concatenate({a[0], a[1]}, -1); };
  check_vmap(cat, {rnd({3, 2, 2}, 58), rnd({3, 1}, 59, int32)}, {1, std::nullopt}, 0);  // dtypes promote
  check_vmap(cat, {rnd({2, 2}, 60), rnd({2, 1, 3}, 61)}, {std::nullopt, -1}, -1);
  auto stk = [](const std::vector<Array>& a) { return stack({a[0], a[1], a[0]}, 1); };
  check_vmap(stk, {rnd({2, 3}, 62), rnd({2, 3, 3}, 63)}, {std::nullopt, 2}, 1);
  check_vmap(stk, {rnd({3, 2}, 64), rnd({2, 3}, 65)}, {0, 1}, 0);
  check_axes_sweep([](const std::vector<Array>& a) {
    auto parts = split(a[0], 2, 1);
    return parts[1] - parts[0];
  }, {2, 4}, float32, 66);
  check_axes_sweep([](const std::vector<Array>& a) {
    auto parts = split(a[0], Ints{1, 3}, 0);
    return concatenate({parts[2], parts[0]}, 0);
  }, {4, 2}, float32, 67);
}

TEST_CASE("shape ops: slice, flip, roll, pad, tile, repeat under vmap equal the loop") {
  check_axes_sweep([](const std::vector<Array>& a) { return slice(a[0], {1, -3}, {4, 5}, {2, 1}); }, {4, 5}, float32, 68);
  check_axes_sweep([](const std::vector<Array>& a) { return flip(a[0], {-1}); }, {2, 3}, int32, 69);
  check_axes_sweep([](const std::vector<Array>& a) { return roll(a[0], 2, 1); }, {2, 3}, float32, 70);
  check_axes_sweep([](const std::vector<Array>& a) { return roll(a[0], -1, std::nullopt); }, {2, 3}, float32, 71);
  check_axes_sweep([](const std::vector<Array>& a) { return pad(a[0], {{1, 0}, {0, 2}}, 4.0); }, {2, 3}, float32, 72);
  check_vmap([](const std::vector<Array>& a) { return pad(a[0], {{1, 2}}, a[1]); },
             {rnd({2, 3}, 73), array(std::vector<float>{1, 2, 3})}, {std::nullopt, 0}, 1);
  check_axes_sweep([](const std::vector<Array>& a) { return tile(a[0], {2, 1, 3}); }, {2, 3}, float32, 74);
  check_axes_sweep([](const std::vector<Array>& a) { return repeat(a[0], 2, 0); }, {2, 3}, float32, 75);
  check_axes_sweep([](const std::vector<Array>& a) { return repeat(a[0], 3, std::nullopt); }, {2, 2}, int32, 76);
}

TEST_CASE("shape ops: tril and triu under vmap equal the loop") {
  check_axes_sweep([](const std::vector<Array>& a) { return tril(a[0]); }, {3, 4}, float32, 77);
  check_axes_sweep([](const std::vector<Array>& a) { return triu(a[0], 1); }, {3, 3}, float32, 78);
  check_vmap([](const std::vector<Array>& a) { return tril(a[0], -1) + triu(a[1]); }, {rnd({3, 3, 3}, 79), rnd({3, 3}, 80)},
             {1, std::nullopt}, 2);
}

// ---- composition ----------------------------------------------------------------------------------

TEST_CASE("shape ops: nested vmap(vmap(f)) equals the loop") {
  // Inner: over axis 1 of a per-example [2, 3, 4], out axis -1; outer: over the last axis.
  auto inner = [](const Array& e) { return pad(flip(transpose(e), {0}), {{1, 0}, {0, 1}}, 0.0); };
  auto f = [inner](const std::vector<Array>& a) { return vmap(inner, {Axis(1)}, {Axis(-1)})(a[0]); };
  check_vmap(f, {rnd({2, 3, 4, 5}, 81)}, {-1}, 1);
  auto g = [](const std::vector<Array>& a) {
    return vmap([](const Array& x, const Array& y) { return concatenate({reshape(x, {-1}), y}, 0); },
                {Axis(0), Axis(none)})(a[0], a[1]);
  };
  check_vmap(g, {rnd({3, 3, 2, 2}, 82), rnd({3, 2}, 83)}, {1, 0}, 0);
}

TEST_CASE("shape ops: vmap(grad(f)) equals the loop of grad(f)") {
  auto loss = [](const Array& x) {
    return sum(sin(tile(flip(reshape(x, {2, 3}), {1}), {2, 1})) * reshape(pad(x, {{3, 3}}, 0.0), {4, 3}));
  };
  // The gradients' transpose rules (pad/slice, reshape, rev, broadcast sums) are batched too.
  check_vmap([loss](const std::vector<Array>& a) { return grad(loss)(a[0]); }, {rnd({6, 4}, 84, float64)}, {1}, 1);
  auto loss2 = [](const Array& x, const Array& w) {
    return sum(roll(concatenate({x, w}, 0), 1, 0) * arange(0.0, 5.0, 1.0, float64)) + sum(broadcast_to(x, {2, 3}) * expand_dims(w, {1}));
  };
  check_vmap([loss2](const std::vector<Array>& a) { return std::get<0>(grad<0, 1>(loss2)(a[0], a[1])); },
             {rnd({3, 3}, 85, float64), rnd({2}, 86, float64)}, {0, std::nullopt}, 0);
  check_vmap([loss2](const std::vector<Array>& a) { return std::get<1>(grad<0, 1>(loss2)(a[0], a[1])); },
             {rnd({3, 3}, 87, float64), rnd({2, 3}, 88, float64)}, {-1, 1}, -1);
}

TEST_CASE("shape ops: grad of a function using vmap inside matches finite differences") {
  jx::testing::check_grads(
      [](const std::vector<Array>& a) {
        auto per = [](const Array& x, const Array& v) {
          return sum(sin(lax::pad(transpose(reshape(x, {2, 2})), v, {{1, 0, 1}, {0, 1, 0}})));
        };
        return sum(vmap(per, {Axis(1), Axis(0)})(a[0], a[1]));
      },
      {rnd({4, 3}, 89, float64), rnd({3}, 90, float64)}, 2);
  jx::testing::check_grads(
      [](const std::vector<Array>& a) {
        auto per = [](const Array& x, const Array& y) { return concatenate({squeeze(x), flip(y, {0})}, 0); };
        Array out = vmap(per, {Axis(-1), Axis(none)}, {Axis(1)})(a[0], a[1]);
        return sum(out * out);
      },
      {rnd({1, 2, 3}, 91, float64), rnd({4}, 92, float64)}, 1);
}
