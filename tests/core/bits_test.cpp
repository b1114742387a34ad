// Bit primitives: xor, shift_left, shift_right_logical, shift_right_arithmetic,
// bitcast_convert_type; their numpy-level ops (bitwise_xor, left_shift, right_shift). Values are
// hand-computed (two's complement, IEEE 754 bit patterns).
#include <cmath>
#include <limits>

#include "core/prims/elementwise.h"
#include "testing/check_vmap.h"
#include "testing/testing.h"

using namespace jx;

namespace {
Array u32(std::vector<uint32_t> v) { return array(v); }
Array i32(std::vector<int32_t> v) { return array(v); }
Array i64(std::vector<int64_t> v) { return array(v); }
constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
}  // namespace

TEST_CASE("bitwise_xor: values on integers and bools") {
  CHECK(bitwise_xor(u32({0xF0F0F0F0, 0xFFFFFFFF, 0}), u32({0x0FF00FF0, 0x12345678, 0}))
            .to_vector<uint32_t>() == std::vector<uint32_t>{0xFF00FF00, 0xEDCBA987, 0});
  CHECK(bitwise_xor(i32({5, -1, kMin32}), i32({3, 5, -1})).to_vector<int32_t>() ==
        std::vector<int32_t>{6, -6, 0x7FFFFFFF});
  CHECK(bitwise_xor(i64({int64_t{1} << 40}), i64({(int64_t{1} << 40) | 1})).to_vector<int64_t>() ==
        std::vector<int64_t>{1});
  Array t = greater(i32({1, 1, 0, 0}), 0);
  Array f = greater(i32({1, 0, 1, 0}), 0);
  Array x = bitwise_xor(t, f);
  CHECK(x.dtype() == bool_);
  CHECK(x.to_vector<int>() == std::vector<int>{0, 1, 1, 0});
  // A C++ int is weak: the uint32 operand's type wins; 0-d operands broadcast.
  Array w = bitwise_xor(u32({1, 2}), 3);
  CHECK(w.dtype() == uint32);
  CHECK(w.to_vector<uint32_t>() == std::vector<uint32_t>{2, 1});
  CHECK(bitwise_xor(reshape(i32({1, 2, 4, 8}), {2, 2}), i32({1, 1})).to_vector<int32_t>() ==
        std::vector<int32_t>{0, 3, 5, 9});
}

TEST_CASE("left_shift: values, out-of-range amounts give 0") {
  CHECK(left_shift(i32({1, 1, 1, 1, 3, -1}), i32({4, 31, 32, -1, 30, 1})).to_vector<int32_t>() ==
        std::vector<int32_t>{16, kMin32, 0, 0, int32_t{-1073741824}, -2});
  CHECK(left_shift(u32({0x80000001, 1}), u32({1, 100})).to_vector<uint32_t>() == std::vector<uint32_t>{2, 0});
  CHECK(left_shift(i64({1, 1, 1}), i64({40, 63, 64})).to_vector<int64_t>() ==
        std::vector<int64_t>{int64_t{1} << 40, std::numeric_limits<int64_t>::min(), 0});
  // bools count as int32 (numpy).
  Array b = left_shift(Array(true), 2);
  CHECK(b.dtype() == int32);
  CHECK(b.item<int>() == 4);
  CHECK(lax::shift_left(u32({7}), 4).to_vector<uint32_t>() == std::vector<uint32_t>{0x70});
}

TEST_CASE("right_shift: arithmetic on signed, logical on unsigned") {
  // -16 >> 2 = -4 (sign fill); amounts >= 32 give the sign: -1 or 0.
  CHECK(right_shift(i32({-16, 16, -1, 16, kMin32}), i32({2, 2, 40, 40, 31})).to_vector<int32_t>() ==
        std::vector<int32_t>{-4, 4, -1, 0, -1});
  CHECK(right_shift(u32({0x80000000, 0x80000000, 0xFFFFFFFF}), u32({31, 32, 4})).to_vector<uint32_t>() ==
        std::vector<uint32_t>{1, 0, 0x0FFFFFFF});
  CHECK(right_shift(i64({-256}), i64({4})).to_vector<int64_t>() == std::vector<int64_t>{-16});
}

TEST_CASE("lax shifts: logical and arithmetic on either signedness") {
  // 0xFFFFFFF0 >> 28 = 0xF logically; -1 >> 32 = 0.
  CHECK(lax::shift_right_logical(i32({-16, -1, -1}), i32({28, 32, -3})).to_vector<int32_t>() ==
        std::vector<int32_t>{15, 0, 0});
  CHECK(lax::shift_right_logical(i64({-1}), i64({60})).to_vector<int64_t>() == std::vector<int64_t>{15});
  CHECK(lax::shift_right_logical(u32({0xDEADBEEF}), u32({16})).to_vector<uint32_t>() ==
        std::vector<uint32_t>{0xDEAD});
  // On uint32 the arithmetic shift fills with the top bit (as XLA).
  CHECK(lax::shift_right_arithmetic(u32({0x80000000, 0x80000000, 0x40000000}), u32({4, 32, 32}))
            .to_vector<uint32_t>() == std::vector<uint32_t>{0xF8000000, 0xFFFFFFFF, 0});
  CHECK(lax::shift_right_arithmetic(i32({-7}), i32({1})).to_vector<int32_t>() == std::vector<int32_t>{-4});
}

TEST_CASE("bitcast_convert_type: IEEE bit patterns both ways") {
  Array f = array(std::vector<float>{1.0f, -2.0f, 0.0f, -0.0f, 0.15625f});
  Array u = lax::bitcast_convert_type(f, uint32);
  CHECK(u.dtype() == uint32);
  CHECK(u.to_vector<uint32_t>() == std::vector<uint32_t>{0x3F800000, 0xC0000000, 0, 0x80000000, 0x3E200000});
  CHECK(lax::bitcast_convert_type(f, int32).to_vector<int32_t>()[3] == kMin32);
  auto back = lax::bitcast_convert_type(u32({0x7F800000, 0xFF800000, 0x3F000000, 0x00000001}), float32)
                  .to_vector<float>();
  CHECK(back[0] == INFINITY);
  CHECK(back[1] == -INFINITY);
  CHECK(back[2] == 0.5f);
  CHECK(back[3] == std::numeric_limits<float>::denorm_min());
  CHECK(std::isnan(lax::bitcast_convert_type(u32({0x7FC00000}), float32).item<float>()));
  // 64-bit: 1.0 = 0x3FF0000000000000, -0.5 = 0xBFE0000000000000.
  Array d = array(std::vector<double>{1.0, -0.5});
  CHECK(lax::bitcast_convert_type(d, int64).to_vector<int64_t>() ==
        std::vector<int64_t>{0x3FF0000000000000LL, static_cast<int64_t>(0xBFE0000000000000ULL)});
  CHECK_ALLCLOSE(lax::bitcast_convert_type(lax::bitcast_convert_type(d, int64), float64), d);
  // uint32 <-> int32 is the two's complement reading; shape is kept; same dtype is a no-op.
  Array m = lax::bitcast_convert_type(reshape(u32({0xFFFFFFFF, 1, 0x80000000, 2}), {2, 2}), int32);
  CHECK(m.shape() == Shape{2, 2});
  CHECK(m.to_vector<int32_t>() == std::vector<int32_t>{-1, 1, kMin32, 2});
  CHECK(lax::bitcast_convert_type(u32({5}), uint32).to_vector<uint32_t>() == std::vector<uint32_t>{5});
  CHECK(lax::bitcast_convert_type(zeros({0, 3}), uint32).shape() == Shape{0, 3});
}

TEST_CASE("bit primitives: zero derivatives") {
  // bitcast there and back is the identity in value, but its tangent is zero by definition.
  auto f = [](const Array& x) {
    return sum(lax::bitcast_convert_type(lax::bitcast_convert_type(x, int32), float32));
  };
  Array x = array(std::vector<float>{1.f, 2.f, 3.f});
  CHECK(f(x).item<float>() == 6.f);
  CHECK_ALLCLOSE(grad(f)(x), (std::vector<double>{0, 0, 0}));
  // An integer bit computation feeding a float: only the float path has a derivative.
  auto g = [](const Array& v) {
    Array bits = lax::bitcast_convert_type(v, uint32);
    Array mask = lax::shift_right_logical(bitwise_xor(bits, bits), 3).astype(float32);  // 0
    return sum(v * 2.0 + mask);
  };
  CHECK_ALLCLOSE(grad(g)(x), (std::vector<double>{2, 2, 2}));
  auto [y, t] = jvp([](const Array& v) { return lax::bitcast_convert_type(lax::bitcast_convert_type(v, uint32), float32); },
                    std::tuple{x}, std::tuple{ones({3})});
  CHECK_ALLCLOSE(y, x);
  CHECK_ALLCLOSE(t, (std::vector<double>{0, 0, 0}));
}

TEST_CASE("bit primitives: vmap equals the loop") {
  using testing::check_vmap;
  Array a = reshape(u32({1, 2, 3, 4, 0xFFFFFFFF, 0x80000000}), {3, 2});
  Array s = reshape(u32({1, 31, 0, 33, 4, 16}), {3, 2});
  Array ai = reshape(i32({-1, 2, -300, 4, kMin32, 7}), {3, 2});
  Array si = reshape(i32({1, 31, 0, 33, 4, 16}), {3, 2});
  check_vmap([](const std::vector<Array>& v) { return bitwise_xor(v[0], v[1]); }, {a, s}, {0, 0});
  check_vmap([](const std::vector<Array>& v) { return bitwise_xor(v[0], v[1]); }, {a, u32({5, 9, 17})}, {1, std::nullopt});
  check_vmap([](const std::vector<Array>& v) { return left_shift(v[0], v[1]); }, {ai, transpose(si)}, {0, 1});
  check_vmap([](const std::vector<Array>& v) { return right_shift(v[0], v[1]); }, {transpose(ai), si}, {1, 0});
  check_vmap([](const std::vector<Array>& v) { return right_shift(v[0], v[1]); }, {a, s}, {0, 0});
  // A mapped shift amount against an unmapped 0-d value, and the reverse.
  check_vmap([](const std::vector<Array>& v) { return lax::shift_right_logical(v[0], v[1]); },
             {reshape(u32({0xF0000000}), {}), u32({0, 4, 8, 40})}, {std::nullopt, 0});
  check_vmap([](const std::vector<Array>& v) { return lax::shift_right_arithmetic(v[0], v[1]); },
             {ai, reshape(i32({3}), {})}, {0, std::nullopt});
  check_vmap([](const std::vector<Array>& v) { return lax::bitcast_convert_type(v[0], float32); }, {a}, {1});
  check_vmap([](const std::vector<Array>& v) { return lax::bitcast_convert_type(v[0], int32); },
             {testing::uniform({4, 3}, -1, 1)}, {0});
}

TEST_CASE("bit primitives: dtype and shape errors name the op and the operands") {
  Array f = zeros({3});
  CHECK_THROWS_WITH_AS(bitwise_xor(f, f), doctest::Contains("[bitwise_xor] needs bool or integer operands, got f32[3]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(left_shift(f, 1), doctest::Contains("[left_shift] needs integer operands, got f32[3]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(right_shift(i32({1}), 1.5), doctest::Contains("[right_shift] needs integer operands"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(lax::shift_right_logical(f, 1), doctest::Contains("[shift_right_logical]"), DTypeError);
  CHECK_THROWS_WITH_AS(bitwise_xor(i32({1, 2, 3}), i32({1, 2})), doctest::Contains("i32[3]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::bitcast_convert_type(f, float64),
                       doctest::Contains("[bitcast_convert_type] needs types of the same bit width, got f32[3]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(lax::bitcast_convert_type(greater(i32({1}), 0), int32),
                       doctest::Contains("bool cannot be bitcast"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::bitcast_convert_type(i64({1}), uint32), doctest::Contains("64 bits"), DTypeError);
  // The primitives themselves check dtypes (lax level: one dtype, integer).
  CHECK_THROWS_WITH_AS(jx::bind(shift_left_p, std::vector<Array>{f, f}), doctest::Contains("[shift_left] needs integer operands"),
                       DTypeError);
  Array b = greater(i32({1}), 0);
  CHECK_THROWS_WITH_AS(jx::bind(shift_right_arithmetic_p, std::vector<Array>{b, b}), doctest::Contains("needs integer operands"), DTypeError);
  CHECK_THROWS_WITH_AS(jx::bind(xor_p, std::vector<Array>{u32({1}), i32({1})}), doctest::Contains("same dtype"), DTypeError);
}
