// Shape primitives and numpy shape ops: values against index arithmetic in plain C++, dtypes,
// 0-d and empty arrays, negative axes, staging under make_jaxpr, and bad-input errors.
#include <numeric>

#include "testing/testing.h"

using namespace jx;

namespace {

// 0, 1, 2, ... as doubles (the reference values of `seq`).
std::vector<double> iota_d(int64_t n, double start = 0) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i);
  return v;
}

// An array holding 0, 1, 2, ... of the given shape and dtype (built from host data, not jx ops).
Array seq(const Shape& shape, DType dtype = float32) {
  auto v = iota_d(shape_size(shape));
  if (dtype == bool_) {
    std::vector<bool> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) b[i] = static_cast<int64_t>(v[i]) % 3 == 1;
    return array(b, shape);
  }
  return array(v, shape).astype(dtype);
}

std::vector<double> seq_values(const Shape& shape, DType dtype) {
  auto v = iota_d(shape_size(shape));
  if (dtype == bool_)
    for (auto& e : v) e = static_cast<int64_t>(e) % 3 == 1 ? 1.0 : 0.0;
  return v;
}

using testing::unravel;
using testing::ravel;

std::vector<double> ref_transpose(const std::vector<double>& x, const Shape& shape, const std::vector<int>& perm) {
  Shape out_shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_shape[i] = shape[perm[i]];
  std::vector<double> out(x.size());
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    auto oi = unravel(i, out_shape);
    std::vector<int64_t> ii(shape.size());
    for (size_t d = 0; d < perm.size(); ++d) ii[perm[d]] = oi[d];
    out[i] = x[ravel(ii, shape)];
  }
  return out;
}

const DType kDTypes[] = {float32, float64, int32, int64, uint32, bool_};

}  // namespace

// ---- reshape -----------------------------------------------------------------------------------

TEST_CASE("reshape: keeps row-major values across shapes and dtypes") {
  for (DType dt : kDTypes) {
    CAPTURE(dtype_name(dt));
    Array x = seq({2, 3, 4}, dt);
    Array y = reshape(x, {4, 6});
    CHECK(y.shape() == Shape{4, 6});
    CHECK(y.dtype() == dt);
    CHECK_ALLCLOSE(y, seq_values({2, 3, 4}, dt));
    CHECK(reshape(x, {-1}).shape() == Shape{24});
    CHECK(reshape(x, {2, -1, 3}).shape() == Shape{2, 4, 3});
  }
}

TEST_CASE("reshape: 0-d, size-1 and empty shapes") {
  Array s = scalar(5.0);
  CHECK(reshape(s, {1, 1}).shape() == Shape{1, 1});
  CHECK_ALLCLOSE(reshape(s, {1, 1}), std::vector<double>{5});
  CHECK(reshape(reshape(s, {1}), {}).shape() == Shape{});
  CHECK(reshape(s, {-1}).shape() == Shape{1});
  Array e = zeros({0, 3});
  CHECK(reshape(e, {3, 0}).shape() == Shape{3, 0});
  CHECK(reshape(e, {-1}).shape() == Shape{0});
  // numpy: -1 is ambiguous when the other dimensions hold no elements.
  CHECK_THROWS_WITH_AS(reshape(e, {0, -1, 3}), doctest::Contains("do not divide"), ShapeError);
}

TEST_CASE("reshape: same shape is a no-op and a contiguous reshape shares the buffer") {
  Array x = seq({3, 4});
  CHECK(reshape(x, {3, 4}).impl_ptr() == x.impl_ptr());
  Array y = reshape(x, {2, 6});
  CHECK(y.raw_data() == x.raw_data());
  CHECK_ALLCLOSE(y, iota_d(12));
}

TEST_CASE("reshape: weak type is kept") {
  Array w = broadcast_to(Array(2.0), {2, 2});
  REQUIRE(w.weak_type());
  CHECK(reshape(w, {4}).weak_type());
}

TEST_CASE("reshape: bad sizes are rejected") {
  Array x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(reshape(x, {4, 2}), doctest::Contains("f32[2,3] to [4,2] (6 vs 8 elements)"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}), doctest::Contains("only one dimension may be -1"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, 4}), doctest::Contains("cannot reshape f32[2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-2, -3}), doctest::Contains("negative dimension"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(zeros({0}), {0, -1}), doctest::Contains("cannot reshape"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {4, 2}), doctest::Contains("shape_test.cpp:"), ShapeError);
}

// ---- transpose ---------------------------------------------------------------------------------

TEST_CASE("transpose: every permutation of small 3-d and 4-d arrays matches index arithmetic") {
  for (Shape shape : {Shape{2, 3, 4}, Shape{3, 1, 5}, Shape{2, 3, 2, 5}}) {
    std::vector<int> perm(shape.size());
    std::iota(perm.begin(), perm.end(), 0);
    do {
      CAPTURE(shape_str(shape));
      CAPTURE(shape_str(std::vector<int64_t>(perm.begin(), perm.end())));
      Array y = transpose(seq(shape, float64), perm);
      CHECK_ALLCLOSE(y, ref_transpose(iota_d(shape_size(shape)), shape, perm));
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
}

TEST_CASE("transpose: large arrays cross tile boundaries, all dtypes") {
  for (DType dt : kDTypes) {
    CAPTURE(dtype_name(dt));
    Shape shape{67, 45};
    Array y = transpose(seq(shape, dt));
    CHECK(y.shape() == Shape{45, 67});
    CHECK(y.dtype() == dt);
    CHECK_ALLCLOSE(y, ref_transpose(seq_values(shape, dt), shape, {1, 0}));
  }
  Shape s3{5, 70, 33};
  CHECK_ALLCLOSE(transpose(seq(s3, int32), {2, 0, 1}), ref_transpose(iota_d(shape_size(s3)), s3, {2, 0, 1}));
  CHECK_ALLCLOSE(transpose(seq(s3, int32), {1, 0, 2}), ref_transpose(iota_d(shape_size(s3)), s3, {1, 0, 2}));
}

TEST_CASE("transpose: default reverses, negative axes, 0-d and empty") {
  Array x = seq({2, 3, 4});
  CHECK(transpose(x).shape() == Shape{4, 3, 2});
  CHECK_ALLCLOSE(transpose(x), ref_transpose(iota_d(24), {2, 3, 4}, {2, 1, 0}));
  CHECK_ALLCLOSE(transpose(x, {-1, 0, 1}), ref_transpose(iota_d(24), {2, 3, 4}, {2, 0, 1}));
  CHECK(transpose(x, {0, 1, 2}).impl_ptr() == x.impl_ptr());
  CHECK(transpose(scalar(3.0)).shape() == Shape{});
  CHECK(transpose(zeros({0, 3})).shape() == Shape{3, 0});
}

TEST_CASE("transpose: bad permutations are rejected") {
  Array x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(transpose(x, {0}), doctest::Contains("has 1 entries but the operand f32[2,3] has rank 2"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(transpose(x, {0, 0}), doctest::Contains("not a permutation"), ShapeError);
  CHECK_THROWS_WITH_AS(transpose(x, {0, 2}), doctest::Contains("out of range"), ShapeError);
}

// ---- squeeze / expand_dims / broadcast_to ------------------------------------------------------

TEST_CASE("squeeze: all unit axes or the given ones") {
  Array x = seq({1, 3, 1, 2});
  CHECK(squeeze(x).shape() == Shape{3, 2});
  CHECK_ALLCLOSE(squeeze(x), iota_d(6));
  CHECK(squeeze(x, {0}).shape() == Shape{3, 1, 2});
  CHECK(squeeze(x, {-2}).shape() == Shape{1, 3, 2});
  CHECK(squeeze(scalar(1.0)).shape() == Shape{});
  CHECK(squeeze(zeros({1, 0})).shape() == Shape{0});
  Array y = seq({2, 3});
  CHECK(squeeze(y).impl_ptr() == y.impl_ptr());
  CHECK_THROWS_WITH_AS(squeeze(x, {1}), doctest::Contains("extent is 3, not 1"), ShapeError);
  CHECK_THROWS_WITH_AS(squeeze(x, {4}), doctest::Contains("squeeze"), ShapeError);
}

TEST_CASE("expand_dims: inserts unit axes at output positions") {
  Array x = seq({2, 3}, int32);
  CHECK(expand_dims(x, {0}).shape() == Shape{1, 2, 3});
  CHECK(expand_dims(x, {-1}).shape() == Shape{2, 3, 1});
  CHECK(expand_dims(x, {0, 3}).shape() == Shape{1, 2, 3, 1});
  CHECK(expand_dims(x, {1, -1}).shape() == Shape{2, 1, 3, 1});
  CHECK_ALLCLOSE(expand_dims(x, {1}), iota_d(6));
  CHECK(expand_dims(x, {1}).dtype() == int32);
  CHECK(expand_dims(scalar(1.0), {0}).shape() == Shape{1});
  CHECK_THROWS_WITH_AS(expand_dims(x, {3}), doctest::Contains("expand_dims"), ShapeError);
  CHECK_THROWS_WITH_AS(expand_dims(x, {0, 0}), doctest::Contains("repeated axis"), ShapeError);
}

TEST_CASE("broadcast_to: numpy broadcasting of trailing axes") {
  Array x = seq({3, 1}, int64);
  Array y = broadcast_to(x, {2, 3, 4});
  CHECK(y.shape() == Shape{2, 3, 4});
  std::vector<double> ref;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c) ref.push_back(b);
  CHECK_ALLCLOSE(y, ref);
  CHECK_ALLCLOSE(broadcast_to(scalar(7.0, int32), {2, 2}), std::vector<double>{7, 7, 7, 7});
  CHECK(broadcast_to(x, {3, 0}).shape() == Shape{3, 0});
  CHECK(broadcast_to(Array(1.5), {2}).weak_type());
  CHECK_THROWS_WITH_AS(broadcast_to(x, {3, 4, 2}), doctest::Contains("cannot broadcast i64[3,1] to [3,4,2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(broadcast_to(x, {3}), doctest::Contains("lower-rank"), ShapeError);
  CHECK_THROWS_WITH_AS(broadcast_to(x, {-1, 3, 1}), doctest::Contains("negative dimension"), ShapeError);
}

TEST_CASE("broadcast_in_dim: explicit dimension mapping") {
  Array x = seq({3});
  Array y = lax::broadcast_in_dim(x, {3, 2}, {0});
  CHECK_ALLCLOSE(y, std::vector<double>{0, 0, 1, 1, 2, 2});
  CHECK_THROWS_WITH_AS(lax::broadcast_in_dim(x, {2, 2}, {0}), doctest::Contains("cannot broadcast f32[3]"),
                       ShapeError);
}

// ---- concatenate / stack / split ---------------------------------------------------------------

TEST_CASE("concatenate: along each axis, with numpy promotion") {
  Array a = seq({2, 3}, int32), b = seq({2, 2}, int32);
  Array c = concatenate({a, b}, 1);
  CHECK(c.shape() == Shape{2, 5});
  CHECK(c.dtype() == int32);
  CHECK_ALLCLOSE(c, std::vector<double>{0, 1, 2, 0, 1, 3, 4, 5, 2, 3});
  Array d = concatenate({a, seq({1, 3}, float32)}, -2);
  CHECK(d.shape() == Shape{3, 3});
  CHECK(d.dtype() == float32);
  CHECK_ALLCLOSE(d, std::vector<double>{0, 1, 2, 3, 4, 5, 0, 1, 2});
  CHECK(concatenate({seq({2}, int32), seq({3}, int64)}).dtype() == int64);
  CHECK_ALLCLOSE(concatenate({seq({2}, bool_), zeros({0}, bool_), seq({1}, bool_)}), std::vector<double>{0, 1, 0});
  CHECK(concatenate({zeros({0, 2}), zeros({0, 2})}).shape() == Shape{0, 2});
  CHECK_ALLCLOSE(concatenate({seq({2})}), std::vector<double>{0, 1});
}

TEST_CASE("concatenate: bad inputs are rejected") {
  CHECK_THROWS_WITH_AS(concatenate({zeros({2, 3}), zeros({3, 3})}, 1), doctest::Contains("f32[3,3] does not match"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(concatenate({zeros({2, 3}), zeros({3})}), doctest::Contains("does not match"), ShapeError);
  CHECK_THROWS_WITH_AS(concatenate({scalar(1), scalar(2)}), doctest::Contains("0-d"), ShapeError);
  CHECK_THROWS_WITH_AS(concatenate({zeros({2})}, 1), doctest::Contains("concatenate"), ShapeError);
  CHECK_THROWS_AS(concatenate({}), ValueError);
  // The primitive itself is strict about dtypes.
  Array a = zeros({2}), b = zeros({2}, int32);
  CHECK_THROWS_WITH_AS(bind1(concatenate_p, {a, b}, Params{{"dimension", int64_t{0}}}),
                       doctest::Contains("same dtype"), DTypeError);
}

TEST_CASE("stack: new axis at any position") {
  Array a = seq({2, 2}), b = seq({2, 2}, float64);
  Array s0 = stack({a, b});
  CHECK(s0.shape() == Shape{2, 2, 2});
  CHECK(s0.dtype() == float64);
  CHECK_ALLCLOSE(s0, std::vector<double>{0, 1, 2, 3, 0, 1, 2, 3});
  Array s2 = stack({a, b}, -1);
  CHECK(s2.shape() == Shape{2, 2, 2});
  CHECK_ALLCLOSE(s2, std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3});
  Array s1 = stack({scalar(1.0), scalar(2.0)});
  CHECK(s1.shape() == Shape{2});
  CHECK(stack({zeros({0}), zeros({0})}, 1).shape() == Shape{0, 2});
  CHECK_THROWS_WITH_AS(stack({a, zeros({2, 3})}), doctest::Contains("same shape"), ShapeError);
  CHECK_THROWS_WITH_AS(stack({a, b}, 3), doctest::Contains("stack"), ShapeError);
}

TEST_CASE("split: equal sections and explicit indices") {
  Array x = seq({6, 2}, int32);
  auto parts = split(x, 3);
  REQUIRE(parts.size() == 3);
  CHECK(parts[1].shape() == Shape{2, 2});
  CHECK_ALLCLOSE(parts[1], std::vector<double>{4, 5, 6, 7});
  auto cols = split(x, 2, -1);
  REQUIRE(cols.size() == 2);
  CHECK_ALLCLOSE(cols[1], std::vector<double>{1, 3, 5, 7, 9, 11});
  auto at = split(x, std::vector<int64_t>{1, 4}, 0);
  REQUIRE(at.size() == 3);
  CHECK(at[0].shape() == Shape{1, 2});
  CHECK(at[1].shape() == Shape{3, 2});
  CHECK_ALLCLOSE(at[2], std::vector<double>{8, 9, 10, 11});
  // numpy: out-of-range and decreasing indices give empty pieces; negatives count from the end.
  auto odd = split(seq({5}), std::vector<int64_t>{3, 2, 9, -1});
  REQUIRE(odd.size() == 5);
  CHECK_ALLCLOSE(odd[0], std::vector<double>{0, 1, 2});
  CHECK(odd[1].shape() == Shape{0});
  CHECK_ALLCLOSE(odd[2], std::vector<double>{2, 3, 4});
  CHECK(odd[3].shape() == Shape{0});
  CHECK_ALLCLOSE(odd[4], std::vector<double>{4});
  CHECK(split(zeros({0, 3}), 3, 0).size() == 3);
  CHECK_THROWS_WITH_AS(split(x, 4), doctest::Contains("does not divide into 4 equal sections"), ShapeError);
  CHECK_THROWS_WITH_AS(split(scalar(1.0), 1), doctest::Contains("0-d"), ShapeError);
  CHECK_THROWS_WITH_AS(split(x, 2, 2), doctest::Contains("split"), ShapeError);
  CHECK_THROWS_AS(split(x, 0), ValueError);
}

// ---- slice -------------------------------------------------------------------------------------

TEST_CASE("slice: numpy-style bounds, strides and missing axes") {
  Array x = seq({4, 5}, int32);
  Array a = slice(x, {1, 1}, {3, 4});
  CHECK(a.shape() == Shape{2, 3});
  CHECK_ALLCLOSE(a, std::vector<double>{6, 7, 8, 11, 12, 13});
  Array b = slice(x, {0, 0}, {4, 5}, {2, 3});
  CHECK(b.shape() == Shape{2, 2});
  CHECK_ALLCLOSE(b, std::vector<double>{0, 3, 10, 13});
  Array c = slice(x, {2}, {4});
  CHECK(c.shape() == Shape{2, 5});
  CHECK_ALLCLOSE(c, iota_d(10, 10));
  Array d = slice(x, {-1}, {100});
  CHECK_ALLCLOSE(d, iota_d(5, 15));
  CHECK(slice(x, {3}, {1}).shape() == Shape{0, 5});
  CHECK(slice(x, {0, 0}, {4, 5}).impl_ptr() == x.impl_ptr());
  CHECK(slice(zeros({0, 2}), {0}, {0}).shape() == Shape{0, 2});
  CHECK_THROWS_WITH_AS(slice(x, {0, 0, 0}, {1, 1, 1}), doctest::Contains("at most the rank of i32[4,5]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(slice(x, {0}, {1, 2}), doctest::Contains("same length"), ShapeError);
  CHECK_THROWS_AS(slice(x, {0}, {4}, {0}), ValueError);
}

TEST_CASE("lax::slice: explicit start/limit/strides for every axis") {
  Array x = seq({3, 4, 5}, float64);
  Array y = lax::slice(x, {1, 0, 1}, {3, 4, 5}, {1, 2, 2});
  CHECK(y.shape() == Shape{2, 2, 2});
  std::vector<double> ref;
  for (int i = 1; i < 3; ++i)
    for (int j = 0; j < 4; j += 2)
      for (int k = 1; k < 5; k += 2) ref.push_back(i * 20 + j * 5 + k);
  CHECK_ALLCLOSE(y, ref);
  CHECK(lax::slice(x, {0, 0, 0}, {3, 4, 5}, {2, 3, 5}).shape() == Shape{2, 2, 1});
  CHECK(lax::slice(scalar(2.0), {}, {}).shape() == Shape{});
  CHECK_THROWS_WITH_AS(lax::slice(x, {0, 0}, {1, 1}), doctest::Contains("has rank 3"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::slice(x, {0, 0, 0}, {4, 4, 5}), doctest::Contains("do not fit f64[3,4,5]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::slice(x, {2, 0, 0}, {1, 4, 5}), doctest::Contains("do not fit"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::slice(x, {0, 0, 0}, {1, 1, 1}, {1, 0, 1}), doctest::Contains("positive"), ShapeError);
}

// ---- flip / rev / roll -------------------------------------------------------------------------

TEST_CASE("flip: all axes or the given ones") {
  Array x = seq({2, 3}, uint32);
  CHECK_ALLCLOSE(flip(x), std::vector<double>{5, 4, 3, 2, 1, 0});
  CHECK_ALLCLOSE(flip(x, {1}), std::vector<double>{2, 1, 0, 5, 4, 3});
  CHECK_ALLCLOSE(flip(x, {-2}), std::vector<double>{3, 4, 5, 0, 1, 2});
  CHECK(flip(x).dtype() == uint32);
  CHECK_ALLCLOSE(flip(scalar(4.0)), std::vector<double>{4});
  CHECK(flip(zeros({0, 2})).shape() == Shape{0, 2});
  CHECK_THROWS_WITH_AS(flip(x, {2}), doctest::Contains("flip"), ShapeError);
  CHECK_ALLCLOSE(lax::rev(seq({3}), {0}), std::vector<double>{2, 1, 0});
  CHECK_THROWS_WITH_AS(lax::rev(x, {1, 0}), doctest::Contains("sorted, distinct"), ShapeError);
}

TEST_CASE("roll: shifts with wrap-around, flattened when no axis is given") {
  Array x = seq({2, 3}, int32);
  CHECK_ALLCLOSE(roll(x, 1), std::vector<double>{5, 0, 1, 2, 3, 4});
  CHECK(roll(x, 1).shape() == Shape{2, 3});
  CHECK_ALLCLOSE(roll(x, 1, 1), std::vector<double>{2, 0, 1, 5, 3, 4});
  CHECK_ALLCLOSE(roll(x, -4, -1), std::vector<double>{1, 2, 0, 4, 5, 3});
  CHECK_ALLCLOSE(roll(x, 2, 0), iota_d(6));
  CHECK_ALLCLOSE(roll(scalar(3.0), 5), std::vector<double>{3});
  CHECK(roll(zeros({0, 3}), 2, 0).shape() == Shape{0, 3});
  CHECK_THROWS_WITH_AS(roll(x, 1, 2), doctest::Contains("roll"), ShapeError);
}

// ---- pad ---------------------------------------------------------------------------------------

TEST_CASE("pad: numpy constant mode") {
  Array x = seq({2, 2}, int32);
  Array y = pad(x, {{1, 0}, {0, 2}}, 9);
  CHECK(y.shape() == Shape{3, 4});
  CHECK(y.dtype() == int32);
  CHECK_ALLCLOSE(y, std::vector<double>{9, 9, 9, 9, 0, 1, 9, 9, 2, 3, 9, 9});
  Array z = pad(seq({2}), {{2, 1}});
  CHECK_ALLCLOSE(z, std::vector<double>{0, 0, 0, 1, 0});
  CHECK(pad(zeros({0}), {{1, 1}}, 3.0).shape() == Shape{2});
  CHECK_ALLCLOSE(pad(zeros({0}), {{1, 1}}, 3.0), std::vector<double>{3, 3});
  CHECK(pad(x, {{0, 0}, {0, 0}}).impl_ptr() == x.impl_ptr());
  CHECK_THROWS_WITH_AS(pad(x, {{1, 1}, {1, 1}, {1, 1}}), doctest::Contains("has rank 2"), ShapeError);
  CHECK_THROWS_WITH_AS(pad(x, {{1, 1}, {1, 1}}, zeros({2})), doctest::Contains("0-d"), ShapeError);
  CHECK_THROWS_AS(pad(x, {{-1, 1}, {1, 1}}), ValueError);
}

TEST_CASE("lax::pad: interior padding and negative (cropping) edges") {
  Array x = seq({3}, float64);
  Array y = lax::pad(x, scalar(-1.0, float64), {{{1, 2, 1}}});
  CHECK_ALLCLOSE(y, std::vector<double>{-1, 0, -1, 1, -1, 2, -1, -1});
  Array z = lax::pad(x, scalar(-1.0, float64), {{{-1, -1, 1}}});
  CHECK_ALLCLOSE(z, std::vector<double>{-1, 1, -1});
  Array m = seq({2, 3}, int32);
  Array w = lax::pad(m, scalar(7, int32), {{{0, 1, 0}, {-1, 0, 0}}});
  CHECK(w.shape() == Shape{3, 2});
  CHECK_ALLCLOSE(w, std::vector<double>{1, 2, 4, 5, 7, 7});
  CHECK(lax::pad(zeros({0}), scalar(1.0), {{{0, 0, 3}}}).shape() == Shape{0});
  CHECK_ALLCLOSE(lax::pad(scalar(2.0), scalar(1.0), {}), std::vector<double>{2});
  CHECK_THROWS_WITH_AS(lax::pad(x, scalar(0.0), {{{0, 0, 0}}}), doctest::Contains("must have the operand's dtype"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(lax::pad(x, scalar(0.0, float64), {{{-3, -1, 0}}}), doctest::Contains("negative extent"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::pad(x, scalar(0.0, float64), {{{0, 0, -1}}}), doctest::Contains("interior"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::pad(x, scalar(0.0, float64), {}), doctest::Contains("has rank 1"), ShapeError);
}

// ---- tile / repeat -----------------------------------------------------------------------------

TEST_CASE("tile: numpy repetition rules") {
  Array x = seq({2}, int32);
  CHECK_ALLCLOSE(tile(x, {3}), std::vector<double>{0, 1, 0, 1, 0, 1});
  Array y = tile(x, {2, 2});
  CHECK(y.shape() == Shape{2, 4});
  CHECK_ALLCLOSE(y, std::vector<double>{0, 1, 0, 1, 0, 1, 0, 1});
  Array m = seq({2, 2});
  Array t = tile(m, {2});
  CHECK(t.shape() == Shape{2, 4});
  CHECK_ALLCLOSE(t, std::vector<double>{0, 1, 0, 1, 2, 3, 2, 3});
  CHECK(tile(m, {0, 1}).shape() == Shape{0, 2});
  CHECK(tile(scalar(1.0), {}).shape() == Shape{});
  CHECK_THROWS_AS(tile(m, {-1}), ValueError);
}

TEST_CASE("repeat: each element repeated along an axis or the flattened array") {
  Array x = seq({2, 2}, int64);
  CHECK_ALLCLOSE(repeat(x, 2), std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3});
  CHECK(repeat(x, 2).shape() == Shape{8});
  Array r0 = repeat(x, 2, 0);
  CHECK(r0.shape() == Shape{4, 2});
  CHECK_ALLCLOSE(r0, std::vector<double>{0, 1, 0, 1, 2, 3, 2, 3});
  Array r1 = repeat(x, 3, -1);
  CHECK(r1.shape() == Shape{2, 6});
  CHECK_ALLCLOSE(r1, std::vector<double>{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3});
  CHECK(repeat(x, 0, 1).shape() == Shape{2, 0});
  CHECK_ALLCLOSE(repeat(scalar(5.0), 3), std::vector<double>{5, 5, 5});
  CHECK_THROWS_AS(repeat(x, -1), ValueError);
  CHECK_THROWS_WITH_AS(repeat(x, 2, 2), doctest::Contains("repeat"), ShapeError);
}

// ---- iota and staging --------------------------------------------------------------------------

TEST_CASE("iota: counts along one dimension") {
  Array a = lax::iota(int32, {2, 3}, 1);
  CHECK(a.dtype() == int32);
  CHECK_ALLCLOSE(a, std::vector<double>{0, 1, 2, 0, 1, 2});
  CHECK_ALLCLOSE(lax::iota(float64, {3, 2}, 0), std::vector<double>{0, 0, 1, 1, 2, 2});
  CHECK(lax::iota(uint32, {0}, 0).shape() == Shape{0});
  CHECK_THROWS_WITH_AS(lax::iota(int32, {2, 3}, 2), doctest::Contains("out of range"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::iota(int32, {}, 0), doctest::Contains("out of range"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::iota(int32, {-1}, 0), doctest::Contains("negative"), ShapeError);
  CHECK_THROWS_AS(lax::iota(bool_, {2}, 0), DTypeError);
}

TEST_CASE("reshape: stages under make_jaxpr as in JAX") {
  auto jp = make_jaxpr([](const Array& a) { return transpose(reshape(a, {3, -1})); })(zeros({2, 3}));
  CHECK(jp.str() ==
        "{ lambda ; a:f32[2,3]. let\n"
        "    b:f32[3,2] = reshape[new_sizes=(3, 2)] a\n"
        "    c:f32[2,3] = transpose[permutation=(1, 0)] b\n"
        "  in (c,) }");
}

TEST_CASE("concatenate: roll stages slices and a concatenate") {
  auto jp = make_jaxpr([](const Array& a) { return roll(a, 1, 0); })(zeros({4}));
  CHECK(jp.str() ==
        "{ lambda ; a:f32[4]. let\n"
        "    b:f32[1] = slice[limit_indices=(4,) start_indices=(3,) strides=(1,)] a\n"
        "    c:f32[3] = slice[limit_indices=(3,) start_indices=(0,) strides=(1,)] a\n"
        "    d:f32[4] = concatenate[dimension=0] b c\n"
        "  in (d,) }");
  // Traced shape ops evaluate like eager ones.
  auto f = [](const Array& a) { return pad(flip(expand_dims(a, {0}), {1}), {{0, 1}, {1, 0}}, 5); };
  Array x = seq({3}, int32);
  auto traced = make_jaxpr(f)(x);
  CHECK(traced.str().find("pad[padding_config=(0, 1, 0, 1, 0, 0)]") != std::string::npos);
  CHECK_ALLCLOSE(f(x), std::vector<double>{5, 2, 1, 0, 5, 5, 5, 5});
}

// ---- tril / triu -------------------------------------------------------------------------------

TEST_CASE("tril: keeps elements on and below the k-th diagonal, batched over leading axes") {
  auto ref = [](int64_t b, int64_t n, int64_t m, int64_t k, bool lower) {
    std::vector<double> v;
    for (int64_t q = 0; q < b; ++q)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
          double x = static_cast<double>((q * n + i) * m + j);
          bool keep = lower ? j - i <= k : j - i >= k;
          v.push_back(keep ? x : 0.0);
        }
    return v;
  };
  for (int64_t k : {-2, -1, 0, 1, 3}) {
    CAPTURE(k);
    CHECK_ALLCLOSE(tril(seq({3, 4}), k), ref(1, 3, 4, k, true));
    CHECK_ALLCLOSE(triu(seq({3, 4}), k), ref(1, 3, 4, k, false));
    CHECK_ALLCLOSE(tril(seq({2, 3, 2}, int32), k), ref(2, 3, 2, k, true));
    CHECK_ALLCLOSE(triu(seq({2, 3, 2}, int64), k), ref(2, 3, 2, k, false));
  }
  CHECK(tril(seq({2, 2}, uint32)).dtype() == uint32);
  CHECK(triu(zeros({0, 3})).shape() == Shape{0, 3});
  CHECK_THROWS_WITH_AS(tril(seq({3})), doctest::Contains("[tril] needs an array of rank >= 2, got f32[3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(triu(scalar(1.0)), doctest::Contains("[triu] needs an array of rank >= 2"), ShapeError);
}
