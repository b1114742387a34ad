// Derivatives of the shape primitives (broadcast_in_dim, reshape, transpose, squeeze, slice, pad,
// concatenate, rev, iota) and of the numpy-level shape ops built on them: JVP and transpose rules
// through check_grads (float64 to second order, float32 to first), and hand-computed gradients.
#include "testing/check_grads.h"

using namespace jx;
using jx::testing::check_grads;
using jx::testing::VecFn;

namespace {

Array scalar64(double v) { return array(std::vector<double>{v}, Shape{}); }

Array rand64(const Shape& shape, unsigned seed) { return jx::testing::uniform(shape, -1.0, 1.0, float64, seed); }

/// check_grads to second order in float64 and first order in float32. `f` ends in sin(...) so
/// the second order is not trivially zero.
void check_both(const VecFn& f, const std::vector<Array>& args64) {
  {
    INFO("float64, order 2");
    check_grads(f, args64, 2);
  }
  std::vector<Array> args32;
  for (const auto& a : args64) args32.push_back(a.astype(float32));
  INFO("float32, order 1");
  check_grads(f, args32, 1);
}

/// A fixed weight of the given shape in x's dtype (so results are not symmetric in positions).
Array weight(const Array& x, const Shape& shape, unsigned seed = 99) {
  return jx::testing::uniform(shape, 0.5, 1.5, x.dtype(), seed);
}

}  // namespace

// ---- broadcast_in_dim ------------------------------------------------------------------------

TEST_CASE("broadcast_in_dim: check_grads over shapes (rank-raising, 0-d, size-1 expansion)") {
  SUBCASE("[3] -> [2,3]") {
    check_both([](const std::vector<Array>& a) { return sin(broadcast_to(a[0], {2, 3})); }, {rand64({3}, 1)});
  }
  SUBCASE("0-d -> [2,2]") {
    check_both([](const std::vector<Array>& a) { return sin(broadcast_to(a[0], {2, 2})); }, {rand64({}, 2)});
  }
  SUBCASE("[1,3] -> [4,3] (size-1 dim expanded)") {
    check_both([](const std::vector<Array>& a) { return sin(broadcast_to(a[0], {4, 3}) * weight(a[0], {4, 3})); },
               {rand64({1, 3}, 3)});
  }
  SUBCASE("[2,1,3] -> [5,2,4,3]") {
    check_both(
        [](const std::vector<Array>& a) { return sin(broadcast_to(a[0], {5, 2, 4, 3}) * weight(a[0], {5, 2, 4, 3})); },
        {rand64({2, 1, 3}, 4)});
  }
  SUBCASE("explicit dims: [3] -> [3,2] along dim 0") {
    check_both([](const std::vector<Array>& a) { return sin(lax::broadcast_in_dim(a[0], {3, 2}, {0})); },
               {rand64({3}, 5)});
  }
  SUBCASE("[1] -> [1] kept, [1,1] -> [1,1] size-1 to size-1") {
    check_both([](const std::vector<Array>& a) { return sin(lax::broadcast_in_dim(a[0], {2, 1, 1}, {1, 2})); },
               {rand64({1, 1}, 6)});
  }
}

TEST_CASE("broadcast_in_dim: grad of sum(broadcast_to(x, {3, n}) * w) is the column sums of w") {
  Array w = array(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Shape{3, 4});
  Array x = array(std::vector<double>{0.5, -1, 2, 3});
  auto g = grad([&](const Array& a) { return sum(broadcast_to(a, {3, 4}) * w); })(x);
  CHECK(g.shape() == Shape{4});
  CHECK_ALLCLOSE(g, std::vector<double>{15, 18, 21, 24});
  // A size-1 operand dim expanded to 3: the cotangent keeps the operand's [1, 4] shape.
  auto g1 = grad([&](const Array& a) { return sum(broadcast_to(a, {3, 4}) * w); })(reshape(x, {1, 4}));
  CHECK(g1.shape() == Shape{1, 4});
  CHECK_ALLCLOSE(g1, std::vector<double>{15, 18, 21, 24});
  // 0-d operand: the total.
  auto g0 = grad([&](const Array& a) { return sum(broadcast_to(a, {3, 4}) * w); })(scalar64(2.0));
  CHECK(g0.ndim() == 0);
  CHECK_ALLCLOSE(g0, std::vector<double>{78});
}

TEST_CASE("broadcast_in_dim: the backward jaxpr sums the cotangent with reduce_sum") {
  auto [y, f_vjp] = vjp([](const Array& a) { return broadcast_to(a, {3, 4}); }, array(std::vector<double>{1, 2, 3, 4}));
  auto ct = std::get<0>(f_vjp(ones({3, 4}, float64)));
  CHECK_ALLCLOSE(ct, std::vector<double>{3, 3, 3, 3});
  auto jp = make_jaxpr([](const Array& a) { return grad([](const Array& b) { return sum(broadcast_to(b, {3, 4})); })(a); })(
                array(std::vector<double>{1, 2, 3, 4}))
                .str();
  INFO(jp);
  CHECK(jp.find("reduce_sum") != std::string::npos);
}

TEST_CASE("broadcast_in_dim: second derivative through grad(grad(f))") {
  // f(x) = sum(sin(broadcast(x, [3]))) = 3 sin(x); f'' = -3 sin(x).
  auto f = [](const Array& a) { return sum(sin(broadcast_to(a, {3}))); };
  auto g2 = grad(grad(f))(scalar64(0.7));
  CHECK_ALLCLOSE(g2, std::vector<double>{-3 * std::sin(0.7)});
}

// ---- reshape ---------------------------------------------------------------------------------

TEST_CASE("reshape: check_grads over shapes") {
  SUBCASE("[2,3] -> [3,2]") {
    check_both([](const std::vector<Array>& a) { return sin(reshape(a[0], {3, 2}) * weight(a[0], {3, 2})); },
               {rand64({2, 3}, 11)});
  }
  SUBCASE("[6] -> [2,1,3]") {
    check_both([](const std::vector<Array>& a) { return sin(reshape(a[0], {2, 1, 3})); }, {rand64({6}, 12)});
  }
  SUBCASE("0-d -> [1,1] and [1] -> 0-d") {
    check_both([](const std::vector<Array>& a) { return sin(reshape(a[0], {1, 1})); }, {rand64({}, 13)});
    check_both([](const std::vector<Array>& a) { return sin(reshape(a[0], {})); }, {rand64({1}, 14)});
  }
}

TEST_CASE("reshape: grad is the weight reshaped back") {
  Array w = array(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{3, 2});
  auto g = grad([&](const Array& a) { return sum(reshape(a, {3, 2}) * w); })(zeros({2, 3}, float64));
  CHECK(g.shape() == Shape{2, 3});
  CHECK_ALLCLOSE(g, std::vector<double>{1, 2, 3, 4, 5, 6});
}

// ---- transpose -------------------------------------------------------------------------------

TEST_CASE("transpose: check_grads over shapes") {
  SUBCASE("[2,3,4] perm (2,0,1)") {
    check_both([](const std::vector<Array>& a) { return sin(transpose(a[0], {2, 0, 1}) * weight(a[0], {4, 2, 3})); },
               {rand64({2, 3, 4}, 21)});
  }
  SUBCASE("[2,3] reversed, [1,3] reversed") {
    check_both([](const std::vector<Array>& a) { return sin(transpose(a[0]) * weight(a[0], {3, 2})); },
               {rand64({2, 3}, 22)});
    check_both([](const std::vector<Array>& a) { return sin(transpose(a[0])); }, {rand64({1, 3}, 23)});
  }
}

TEST_CASE("transpose: grad of sum(transpose(x) * w) is w transposed") {
  Array w = array(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{3, 2});
  auto g = grad([&](const Array& a) { return sum(transpose(a) * w); })(zeros({2, 3}, float64));
  CHECK(g.shape() == Shape{2, 3});
  CHECK_ALLCLOSE(g, std::vector<double>{1, 3, 5, 2, 4, 6});
}

TEST_CASE("transpose: the inverse permutation is used for a non-involutive permutation") {
  Array w = jx::testing::uniform({4, 2, 3}, 0, 1, float64, 5);
  auto g = grad([&](const Array& a) { return sum(transpose(a, {2, 0, 1}) * w); })(zeros({2, 3, 4}, float64));
  CHECK_ALLCLOSE(g, transpose(w, {1, 2, 0}));
}

// ---- squeeze ---------------------------------------------------------------------------------

TEST_CASE("squeeze: check_grads over shapes") {
  SUBCASE("[2,1,3] axis 1") {
    check_both([](const std::vector<Array>& a) { return sin(squeeze(a[0], {1}) * weight(a[0], {2, 3})); },
               {rand64({2, 1, 3}, 31)});
  }
  SUBCASE("[1,1] -> 0-d, [1,4,1] -> [4]") {
    check_both([](const std::vector<Array>& a) { return sin(squeeze(a[0])); }, {rand64({1, 1}, 32)});
    check_both([](const std::vector<Array>& a) { return sin(squeeze(a[0])); }, {rand64({1, 4, 1}, 33)});
  }
}

TEST_CASE("squeeze: grad keeps the squeezed dims as 1s") {
  Array w = array(std::vector<double>{1, 2, 3});
  auto g = grad([&](const Array& a) { return sum(squeeze(a) * w); })(zeros({1, 3, 1}, float64));
  CHECK(g.shape() == Shape{1, 3, 1});
  CHECK_ALLCLOSE(g, std::vector<double>{1, 2, 3});
}

// ---- slice -----------------------------------------------------------------------------------

TEST_CASE("slice: check_grads over shapes and strides") {
  SUBCASE("[5,4] start (1,0) limit (5,3) strides (2,1)") {
    check_both([](const std::vector<Array>& a) { return sin(lax::slice(a[0], {1, 0}, {5, 3}, {2, 1})); },
               {rand64({5, 4}, 41)});
  }
  SUBCASE("[7] [1:6:3] (stride not dividing the extent)") {
    check_both([](const std::vector<Array>& a) { return sin(lax::slice(a[0], {1}, {6}, {3})); }, {rand64({7}, 42)});
  }
  SUBCASE("numpy slice, negative start, [1,4]") {
    check_both([](const std::vector<Array>& a) { return sin(slice(a[0], {0, -3}, {1, 4})); }, {rand64({1, 4}, 43)});
  }
  SUBCASE("empty slice has a zero gradient") {
    auto g = grad([](const Array& a) { return sum(lax::slice(a, {2}, {2})) + sum(a * 0.0); })(rand64({4}, 44));
    CHECK_ALLCLOSE(g, std::vector<double>{0, 0, 0, 0});
  }
}

TEST_CASE("slice: grad scatters the weight into the taken positions") {
  Array w = array(std::vector<double>{10, 20});
  auto g = grad([&](const Array& a) { return sum(lax::slice(a, {1}, {6}, {3}) * w); })(zeros({7}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>{0, 10, 0, 0, 20, 0, 0});
}

// ---- pad -------------------------------------------------------------------------------------

TEST_CASE("pad: check_grads in the operand and the padding value") {
  SUBCASE("low/high/interior") {
    check_both(
        [](const std::vector<Array>& a) {
          return sin(lax::pad(a[0], a[1], {{{1, 2, 1}}, {{0, 1, 0}}}) * weight(a[0], {8, 4}));
        },
        {rand64({3, 3}, 51), rand64({}, 52)});
  }
  SUBCASE("negative low/high (cropping)") {
    check_both([](const std::vector<Array>& a) { return sin(lax::pad(a[0], a[1], {{{-1, 2, 0}}, {{1, -2, 1}}})); },
               {rand64({3, 4}, 53), rand64({}, 54)});
  }
  SUBCASE("size-1 dim with interior padding") {
    check_both([](const std::vector<Array>& a) { return sin(lax::pad(a[0], a[1], {{{2, 0, 3}}})); },
               {rand64({1}, 55), rand64({}, 56)});
  }
  SUBCASE("numpy pad with a traced constant") {
    check_both([](const std::vector<Array>& a) { return sin(pad(a[0], {{1, 0}, {0, 2}}, a[1])); },
               {rand64({2, 2}, 57), rand64({}, 58)});
  }
}

TEST_CASE("pad: grads of the operand and padding value are the weight's parts") {
  // x = [a, b], pad (1, 1, 1): [v, a, v, b, v].
  Array w = array(std::vector<double>{1, 2, 3, 4, 5});
  auto f = [&](const Array& x, const Array& v) { return sum(lax::pad(x, v, {{{1, 1, 1}}}) * w); };
  auto [gx, gv] = grad<0, 1>(f)(array(std::vector<double>{7, 8}), scalar64(0.5));
  CHECK_ALLCLOSE(gx, std::vector<double>{2, 4});
  CHECK(gv.ndim() == 0);
  CHECK_ALLCLOSE(gv, std::vector<double>{1 + 3 + 5});
  // Cropping: x = [a, b, c, d], pad (-1, 1, 0): [b, c, d, v].
  Array w2 = array(std::vector<double>{1, 2, 3, 4});
  auto f2 = [&](const Array& x, const Array& v) { return sum(lax::pad(x, v, {{{-1, 1, 0}}}) * w2); };
  auto [gx2, gv2] = grad<0, 1>(f2)(zeros({4}, float64), scalar64(0.0));
  CHECK_ALLCLOSE(gx2, std::vector<double>{0, 1, 2, 3});
  CHECK_ALLCLOSE(gv2, std::vector<double>{4});
}

// ---- concatenate -----------------------------------------------------------------------------

TEST_CASE("concatenate: check_grads with several operands") {
  SUBCASE("three operands along axis 1") {
    check_both(
        [](const std::vector<Array>& a) { return sin(concatenate({a[0], a[1], a[2]}, 1) * weight(a[0], {2, 6})); },
        {rand64({2, 3}, 61), rand64({2, 1}, 62), rand64({2, 2}, 63)});
  }
  SUBCASE("one operand differentiated, one constant") {
    check_both([](const std::vector<Array>& a) { return sin(concatenate({a[0], weight(a[0], {2})}, 0)); },
               {rand64({3}, 64)});
  }
  SUBCASE("the same operand twice") {
    check_both([](const std::vector<Array>& a) { return sin(concatenate({a[0], a[0]}, 0)); }, {rand64({1, 2}, 65)});
  }
}

TEST_CASE("concatenate: grads are the weight's pieces") {
  Array w = array(std::vector<double>{1, 2, 3, 4, 5});
  auto f = [&](const Array& a, const Array& b) { return sum(concatenate({a, b}) * w); };
  auto [ga, gb] = grad<0, 1>(f)(zeros({2}, float64), zeros({3}, float64));
  CHECK_ALLCLOSE(ga, std::vector<double>{1, 2});
  CHECK_ALLCLOSE(gb, std::vector<double>{3, 4, 5});
}

// ---- rev -------------------------------------------------------------------------------------

TEST_CASE("rev: check_grads and grad") {
  check_both([](const std::vector<Array>& a) { return sin(lax::rev(a[0], {0, 2}) * weight(a[0], {2, 3, 2})); },
             {rand64({2, 3, 2}, 71)});
  check_both([](const std::vector<Array>& a) { return sin(flip(a[0]) * weight(a[0], {4})); }, {rand64({4}, 72)});
  Array w = array(std::vector<double>{1, 2, 3});
  auto g = grad([&](const Array& a) { return sum(lax::rev(a, {0}) * w); })(zeros({3}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>{3, 2, 1});
}

// ---- iota ------------------------------------------------------------------------------------

TEST_CASE("iota: a zero tangent; products with iota differentiate") {
  check_both([](const std::vector<Array>& a) { return sin(a[0] * lax::iota(a[0].dtype(), {2, 3}, 1)); },
             {rand64({2, 3}, 81)});
  auto g = grad([](const Array& a) { return sum(a * lax::iota(float64, {4})); })(zeros({4}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>{0, 1, 2, 3});
  // Under jvp, iota's output has a zero tangent.
  auto [y, t] = jvp([](const Array& a) { return lax::iota(float64, {3}) + a * 0.0; }, std::tuple{scalar64(1.0)},
                    std::tuple{scalar64(1.0)});
  CHECK_ALLCLOSE(t, std::vector<double>{0, 0, 0});
  CHECK(iota_p.def().jvp);
}

// ---- numpy-level shape ops -------------------------------------------------------------------

TEST_CASE("expand_dims: check_grads") {
  check_both([](const std::vector<Array>& a) { return sin(expand_dims(a[0], {0, 2})); }, {rand64({3}, 91)});
  check_both([](const std::vector<Array>& a) { return sin(expand_dims(a[0], {0})); }, {rand64({}, 92)});
}

TEST_CASE("stack: check_grads") {
  check_both([](const std::vector<Array>& a) { return sin(stack({a[0], a[1]}, 1) * weight(a[0], {3, 2})); },
             {rand64({3}, 93), rand64({3}, 94)});
  check_both([](const std::vector<Array>& a) { return sin(stack({a[0], a[1], a[0]})); }, {rand64({}, 95), rand64({}, 96)});
}

TEST_CASE("split: check_grads and grad") {
  check_both(
      [](const std::vector<Array>& a) {
        auto parts = split(a[0], 2, 1);
        return sin(parts[0]) * parts[1];
      },
      {rand64({2, 4}, 97)});
  check_both(
      [](const std::vector<Array>& a) {
        auto parts = split(a[0], std::vector<int64_t>{1, 3});
        return sum(sin(parts[0])) + sum(parts[1] * parts[1]) + sum(sin(parts[2]));
      },
      {rand64({5}, 98)});
  auto g = grad([](const Array& a) {
    auto parts = split(a, std::vector<int64_t>{2});
    return sum(parts[0]) * 2.0 + sum(parts[1]) * 3.0;
  })(zeros({5}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>{2, 2, 3, 3, 3});
}

TEST_CASE("flip: check_grads") {
  check_both([](const std::vector<Array>& a) { return sin(flip(a[0], {1}) * weight(a[0], {2, 3})); },
             {rand64({2, 3}, 101)});
}

TEST_CASE("roll: check_grads and grad") {
  check_both([](const std::vector<Array>& a) { return sin(roll(a[0], 2, 1) * weight(a[0], {2, 5})); },
             {rand64({2, 5}, 102)});
  check_both([](const std::vector<Array>& a) { return sin(roll(a[0], -1) * weight(a[0], {2, 3})); },
             {rand64({2, 3}, 103)});
  Array w = array(std::vector<double>{1, 2, 3, 4});
  // roll by 1: y[i] = x[i - 1], so dL/dx[j] = w[j + 1].
  auto g = grad([&](const Array& a) { return sum(roll(a, 1, 0) * w); })(zeros({4}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>{2, 3, 4, 1});
}

TEST_CASE("tile: check_grads and grad") {
  check_both([](const std::vector<Array>& a) { return sin(tile(a[0], {2, 3}) * weight(a[0], {2, 6})); },
             {rand64({2}, 104)});
  check_both([](const std::vector<Array>& a) { return sin(tile(a[0], {3})); }, {rand64({1, 2}, 105)});
  auto g = grad([](const Array& a) { return sum(tile(a, {3}) * lax::iota(float64, {6})); })(zeros({2}, float64));
  // tile([a, b], 3) = [a, b, a, b, a, b]; weights 0..5.
  CHECK_ALLCLOSE(g, std::vector<double>{0 + 2 + 4, 1 + 3 + 5});
}

TEST_CASE("repeat: check_grads and grad") {
  check_both([](const std::vector<Array>& a) { return sin(repeat(a[0], 2, 1) * weight(a[0], {2, 6})); },
             {rand64({2, 3}, 106)});
  check_both([](const std::vector<Array>& a) { return sin(repeat(a[0], 3)); }, {rand64({2, 1}, 107)});
  auto g = grad([](const Array& a) { return sum(repeat(a, 2) * lax::iota(float64, {6})); })(zeros({3}, float64));
  // repeat([a, b, c], 2) = [a, a, b, b, c, c].
  CHECK_ALLCLOSE(g, std::vector<double>{0 + 1, 2 + 3, 4 + 5});
}

TEST_CASE("tril/triu: check_grads and grad") {
  check_both([](const std::vector<Array>& a) { return sin(tril(a[0]) * weight(a[0], {3, 3})); },
             {rand64({3, 3}, 108)});
  check_both([](const std::vector<Array>& a) { return sin(triu(a[0], 1) * weight(a[0], {2, 3, 4})); },
             {rand64({2, 3, 4}, 109)});
  auto g = grad([](const Array& a) { return sum(tril(a)); })(zeros({2, 2}, float64));
  CHECK_ALLCLOSE(g, std::vector<double>{1, 0, 1, 1});
}

TEST_CASE("shape ops: a chain of shape ops under grad(grad(f)) and jit-free composition") {
  // f(x) = sum(sin(tile(flip(reshape(x, [2, 2])), [1, 2]))) = 2 * sum(sin(x)); f'' = -2 sin(x).
  auto f = [](const Array& a) { return sum(sin(tile(flip(reshape(a, {2, 2})), {1, 2}))); };
  Array x = array(std::vector<double>{0.1, 0.2, 0.3, 0.4});
  auto h = grad([&](const Array& a) { return sum(grad(f)(a) * 1.0); })(x);
  std::vector<double> expected{-2 * std::sin(0.1), -2 * std::sin(0.2), -2 * std::sin(0.3), -2 * std::sin(0.4)};
  CHECK_ALLCLOSE_TOL(h, expected, 1e-12, 1e-12);
}

TEST_CASE("reshape/slice/concatenate: equations carry JAX's params only") {
  // A linear input reaches a transpose rule without a value; the rules read its shape from the
  // equation being transposed (transpose_input_aval), so nothing extra is recorded.
  auto jp = make_jaxpr([](const Array& a) { return roll(reshape(a, {4}), 1, 0); })(zeros({2, 2})).str();
  CHECK(jp ==
        "{ lambda ; a:f32[2,2]. let\n"
        "    b:f32[4] = reshape[new_sizes=(4,)] a\n"
        "    c:f32[1] = slice[limit_indices=(4,) start_indices=(3,) strides=(1,)] b\n"
        "    d:f32[3] = slice[limit_indices=(3,) start_indices=(0,) strides=(1,)] b\n"
        "    e:f32[4] = concatenate[dimension=0] c d\n"
        "  in (e,) }");
  auto jb = make_jaxpr([](const Array& a) { return broadcast_to(a, {2, 3}); })(zeros({1, 3})).str();
  CHECK(jb.find("broadcast_in_dim[broadcast_dimensions=(0, 1) shape=(2, 3)]") != std::string::npos);
  auto jc = make_jaxpr([](const Array& a) { return broadcast_to(a, {2, 3}); })(zeros({3})).str();
  CHECK(jc.find("broadcast_in_dim[broadcast_dimensions=(1,) shape=(2, 3)]") != std::string::npos);
  // The transposes still get the operand shapes right (a size-1 dim expanded by broadcast_in_dim,
  // several linear operands of concatenate).
  Array g = grad([](const Array& a) { return sum(broadcast_to(a, {2, 3}) * 2.0); })(zeros({1, 3}, float64));
  CHECK(g.shape() == Shape{1, 3});
  CHECK_ALLCLOSE(g, std::vector<double>{4, 4, 4});
  auto [g0, g1] = grad<0, 1>([](const Array& a, const Array& b) { return sum(reshape(concatenate({a, b}, 0), {-1})); })(
      zeros({1, 2}, float64), zeros({3, 2}, float64));
  CHECK(g0.shape() == Shape{1, 2});
  CHECK(g1.shape() == Shape{3, 2});
}

TEST_CASE("reshape: the transpose reads the operand shape from the equation being transposed") {
  auto rule = reshape_p.def().transpose;
  REQUIRE(rule);
  std::vector<Array> cts{zeros({6})}, args{Array()};
  bool lin[1] = {true};
  std::vector<AbstractValue> in_avals{AbstractValue{DType::float32, {2, 3}}};
  detail::TransposeInputAvalsScope scope(&in_avals);
  auto out = rule(cts, args, std::span<const bool>(lin, 1), Params{{"new_sizes", Shape{6}}});
  REQUIRE(out.size() == 1);
  CHECK(out[0].shape() == Shape{2, 3});
}

TEST_CASE("shape ops: zero-size operands get zero-size cotangents") {
  SUBCASE("concatenate with an empty operand") {
    check_both([](const std::vector<Array>& a) { return sin(concatenate({a[0], a[1]}, 1)); },
               {rand64({2, 0}, 111), rand64({2, 3}, 112)});
    auto [g0, g1] = grad<0, 1>([](const Array& a, const Array& b) { return sum(concatenate({a, b}, 1)); })(
        zeros({2, 0}, float64), zeros({2, 1}, float64));
    CHECK(g0.shape() == Shape{2, 0});
    CHECK_ALLCLOSE(g1, std::vector<double>{1, 1});
  }
  SUBCASE("pad of an empty operand: all of the cotangent goes to the padding value") {
    Array w = array(std::vector<double>{1, 2, 3});
    auto [gx, gv] = grad<0, 1>([&](const Array& x, const Array& v) { return sum(lax::pad(x, v, {{{1, 2, 4}}}) * w); })(
        zeros({0}, float64), scalar64(1.0));
    CHECK(gx.shape() == Shape{0});
    CHECK_ALLCLOSE(gv, std::vector<double>{6});
  }
  SUBCASE("broadcast to a zero-size shape, reshape and slice of empty arrays") {
    auto g = grad([](const Array& a) { return sum(broadcast_to(a, {0, 3})) + sum(sin(a)); })(zeros({3}, float64));
    CHECK_ALLCLOSE(g, std::vector<double>{1, 1, 1});
    check_both([](const std::vector<Array>& a) { return sin(lax::slice(reshape(a[0], {3, 0}), {1, 0}, {3, 0}, {2, 1})); },
               {rand64({0, 3}, 113)});
  }
}
