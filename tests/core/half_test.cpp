// float16 and bfloat16: conversions bit-exact with numpy / ml_dtypes (hand-checked bit patterns),
// correctly rounded arithmetic (computed in float32 and rounded once per primitive), reductions
// that accumulate in float32, dot, astype between every pair of dtypes, creation and printing,
// jx::random as JAX, grad/vmap on 16-bit arrays, checkpoints, and errors that name the dtype.
#include <cmath>
#include <cstring>
#include <limits>

#include "testing/check_vmap.h"
#include "testing/testing.h"

using namespace jx;

namespace {

std::vector<uint16_t> bits(const Array& x) {
  std::vector<uint16_t> out;
  if (x.dtype() == float16) {
    for (auto h : x.to_vector<float16_t>()) out.push_back(h.bits);
  } else {
    REQUIRE(x.dtype() == bfloat16);
    for (auto h : x.to_vector<bfloat16_t>()) out.push_back(h.bits);
  }
  return out;
}

uint16_t half_bits(double v, DType dtype) {
  return dtype == float16 ? float16_t(v).bits : bfloat16_t(v).bits;
}

double half_value(uint16_t b, DType dtype) {
  return dtype == float16 ? static_cast<double>(static_cast<float>(float16_t::from_bits(b)))
                          : static_cast<double>(static_cast<float>(bfloat16_t::from_bits(b)));
}

// Every finite 16-bit value of the format, positive and negative, as doubles.
std::vector<double> some_values(DType dtype, int stride) {
  std::vector<double> v;
  for (uint32_t b = 0; b < 0x10000; b += stride) {
    const double x = half_value(static_cast<uint16_t>(b), dtype);
    if (std::isfinite(x)) v.push_back(x);
  }
  return v;
}

const DType kHalves[] = {float16, bfloat16};

}  // namespace

TEST_CASE("float16: conversions from double match numpy's bit patterns") {
  // Expected bits from numpy (np.array([v]).astype(np.float16)).
  const std::vector<std::pair<double, uint16_t>> cases = {
      {1.0, 0x3c00},
      {-2.0, 0xc000},
      {0.1, 0x2e66},
      {1.0 / 3, 0x3555},
      {65504.0, 0x7bff},                       // largest finite
      {65519.0, 0x7bff},                       // below the midpoint to 65536
      {65520.0, 0x7c00},                       // the midpoint: ties to even = inf
      {1e6, 0x7c00},                           // overflow
      {std::ldexp(1.0, -24), 0x0001},          // smallest subnormal
      {std::ldexp(1.0, -25), 0x0000},          // half of it: tie to even (0)
      {std::ldexp(1.5, -25), 0x0001},          // above the tie
      {std::ldexp(1.0, -14), 0x0400},          // smallest normal
      {std::ldexp(1.0, -14) - std::ldexp(1.0, -24), 0x03ff},  // largest subnormal
      {1 + std::ldexp(1.0, -11), 0x3c00},      // tie between 1 and 1 + 2^-10: even
      {1 + 3 * std::ldexp(1.0, -11), 0x3c02},  // tie: up to even
      {1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), 0x3c01},  // just above a tie: float32 would make it one
      {-0.0, 0x8000},
      {3.14159265358979, 0x4248},
      {1e-8, 0x0000},
      {1000.1, 0x63d0},
      {INFINITY, 0x7c00},
      {-INFINITY, 0xfc00},
  };
  for (auto [v, expected] : cases) {
    CAPTURE(v);
    CHECK(float16_t(v).bits == expected);
    CHECK(bits(array(std::vector<double>{v}).astype(float16))[0] == expected);
    // As a float (when exact), and through scalar() / full().
    if (static_cast<double>(static_cast<float>(v)) == v) CHECK(float16_t(static_cast<float>(v)).bits == expected);
    CHECK(bits(scalar(v, float16))[0] == expected);
    CHECK(bits(full({2}, v, float16)) == std::vector<uint16_t>{expected, expected});
  }
  // NaN keeps its sign and payload's top bits (numpy); the default NaN is quiet.
  CHECK(float16_t(std::numeric_limits<float>::quiet_NaN()).bits == 0x7e00);
  CHECK(float16_t(-std::numeric_limits<double>::quiet_NaN()).bits == 0xfe00);
  CHECK(float16_t(std::bit_cast<float>(0x7f800001u)).bits == 0x7c01);  // a payload below float16's stays NaN
  // Back to float: exact, every bit pattern.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const auto h = float16_t::from_bits(static_cast<uint16_t>(b));
    const float f = static_cast<float>(h);
    if (std::isnan(f)) continue;
    CHECK_MESSAGE(float16_t(f).bits == b, b);
    CHECK(float16_t(static_cast<double>(f)).bits == b);
  }
  CHECK(static_cast<float>(float16_t::from_bits(0x0001)) == std::ldexp(1.0f, -24));
  CHECK(static_cast<float>(float16_t::from_bits(0x7bff)) == 65504.0f);
  CHECK(std::isinf(static_cast<float>(float16_t::from_bits(0xfc00))));
}

TEST_CASE("bfloat16: conversions match ml_dtypes' bit patterns") {
  // Expected bits from ml_dtypes (float32 inputs: np.float32(v).astype(bfloat16)).
  const std::vector<std::pair<float, uint16_t>> cases = {
      {1.0f, 0x3f80},
      {1.0f / 3, 0x3eab},
      {-1.0f / 3, 0xbeab},
      {0.1f, 0x3dcd},
      {3.3895313892515355e38f, 0x7f7f},   // largest finite
      {std::numeric_limits<float>::max(), 0x7f80},  // rounds to inf
      {1 + std::ldexp(1.0f, -8), 0x3f80},  // tie: even
      {1 + 3 * std::ldexp(1.0f, -8), 0x3f82},
      {std::ldexp(1.0f, -133), 0x0001},   // smallest subnormal
      {std::ldexp(1.0f, -134), 0x0000},   // half of it: tie to even
      {std::ldexp(1.5f, -134), 0x0001},
      {std::ldexp(1.0f, -126), 0x0080},   // smallest normal
      {65504.0f, 0x4780},
      {1e10f, 0x5015},
      {INFINITY, 0x7f80},
      {-0.0f, 0x8000},
  };
  for (auto [v, expected] : cases) {
    CAPTURE(v);
    CHECK(bfloat16_t(v).bits == expected);
    CHECK(bfloat16_t(static_cast<double>(v)).bits == expected);
    CHECK(bits(array({v}).astype(bfloat16))[0] == expected);
  }
  CHECK(bfloat16_t(std::numeric_limits<float>::quiet_NaN()).bits == 0x7fc0);
  CHECK(bfloat16_t(-std::numeric_limits<float>::quiet_NaN()).bits == 0xffc0);
  CHECK(static_cast<float>(bfloat16_t::from_bits(0x3eab)) == 0.333984375f);
  // float64 rounds once: 1 + 2^-8 + 2^-40 is above the tie (ml_dtypes, through float32, gives 0x3f80).
  CHECK(bfloat16_t(1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)).bits == 0x3f81);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = static_cast<float>(bfloat16_t::from_bits(static_cast<uint16_t>(b)));
    if (!std::isnan(f)) CHECK(bfloat16_t(f).bits == b);
  }
}

TEST_CASE("half: float and double conversions agree on sampled bit patterns (no double rounding)") {
  // The branch-free float path against the generic one (one rounding from the double, which
  // holds every float exactly), over a stride through all 2^32 float patterns.
  for (uint64_t i = 0; i < (uint64_t{1} << 32); i += 4099) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(i));
    if (std::isnan(f)) continue;
    CHECK(float16_t(f).bits == float16_t(static_cast<double>(f)).bits);
    CHECK(bfloat16_t(f).bits == bfloat16_t(static_cast<double>(f)).bits);
  }
}

TEST_CASE("half: integers convert with one rounding, 64-bit ones included") {
  // 2^60 + 2^52 + 1 is just above the tie between bfloat16 neighbours 2^60 and 2^60 + 2^53;
  // through a double (53 bits) it would become the tie itself and round to even (2^60).
  const int64_t big = (int64_t{1} << 60) + (int64_t{1} << 52) + 1;
  CHECK(bfloat16_t(big).bits == 0x5d81);
  CHECK(bfloat16_t(-big).bits == 0xdd81);
  CHECK(bits(array(std::vector<int64_t>{big}).astype(bfloat16))[0] == 0x5d81);
  // int32 2^24 + 2^16 + 1: through float32 (24 bits) it would be the tie 2^24 + 2^16 -> 2^24.
  const int32_t i = (1 << 24) + (1 << 16) + 1;
  CHECK(bits(array({i}).astype(bfloat16))[0] == 0x4b81);
  CHECK(bits(array({65519, 65520, -70000}).astype(float16)) == std::vector<uint16_t>{0x7bff, 0x7c00, 0xfc00});
  CHECK(bits(array(std::vector<uint32_t>{4294967295u}).astype(float16))[0] == 0x7c00);
  CHECK(bits(array(std::vector<uint32_t>{4294967295u}).astype(bfloat16))[0] == 0x4f80);  // 2^32
  CHECK(bits(array(std::vector<int64_t>{INT64_MIN}).astype(bfloat16))[0] == 0xdf00);     // -2^63
  CHECK(bits(array({true, false}).astype(float16)) == std::vector<uint16_t>{0x3c00, 0x0000});
}

TEST_CASE("half: dtype facts and names") {
  CHECK(itemsize(float16) == 2);
  CHECK(itemsize(bfloat16) == 2);
  CHECK(std::string(dtype_name(float16)) == "float16");
  CHECK(std::string(dtype_name(bfloat16)) == "bfloat16");
  CHECK(std::string(dtype_short_name(float16)) == "f16");
  CHECK(std::string(dtype_short_name(bfloat16)) == "bf16");
  CHECK(is_floating(float16));
  CHECK(is_floating(bfloat16));
  CHECK_FALSE(is_integer(bfloat16));
  CHECK(kNumDTypes == 8);
  CHECK(dtype_v<float16_t> == float16);
  CHECK(dtype_v<bfloat16_t> == bfloat16);
  Array x = zeros({2, 3}, bfloat16);
  CHECK(x.aval().str() == "bf16[2,3]");
  // dispatch_dtype covers the compute types only: a 16-bit float is an internal error there.
  CHECK_THROWS_WITH_AS(dispatch_dtype(float16, [](auto) { return 0; }), doctest::Contains("float16"), DTypeError);
  CHECK(dispatch_storage_dtype(bfloat16, [](auto t) { return sizeof(t); }) == 2);
}

TEST_CASE("half: promotion in ops (JAX's lattice)") {
  Array h = array({1.5f, -2.f}).astype(float16);
  Array b = array({1.5f, -2.f}).astype(bfloat16);
  CHECK((h * 2.0).dtype() == float16);
  CHECK_FALSE((h * 2.0).weak_type());
  CHECK((b + 1).dtype() == bfloat16);
  CHECK((h + array({1, 2})).dtype() == float16);  // i32 + f16 -> f16
  CHECK((b + array(std::vector<int64_t>{1, 2})).dtype() == bfloat16);
  CHECK((h + b).dtype() == float32);
  CHECK((h + array({1.f, 2.f})).dtype() == float32);
  CHECK((b * array(std::vector<double>{1, 2})).dtype() == float64);
  CHECK((array({1, 2}) / h).dtype() == float16);
  CHECK((h < b).dtype() == bool_);
  CHECK_ALLCLOSE(h + b, std::vector<double>{3.0, -4.0});
  // A weak float literal is converted to float16 exactly once (from its double value).
  Array one = scalar(1.0, float16);
  Array y = one + (1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40));
  CHECK(bits(y)[0] == 0x4000);  // 1 + (1 + 2^-10) = 2 + 2^-10 rounds to 2 (tie to even)
  CHECK(bits(scalar(0.0, float16) + (1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)))[0] == 0x3c01);
}

TEST_CASE("half: + - * / sqrt are correctly rounded (float32 holds the exact or a harmless value)") {
  // For these ops float32 has at least 2p + 2 bits of the 16-bit format's p, so computing in
  // float32 and rounding equals one rounding of the exact result, computed here in double.
  for (DType dt : kHalves) {
    CAPTURE(dt);
    std::vector<double> va = some_values(dt, 7), vb = some_values(dt, 11);
    vb.resize(va.size() > vb.size() ? vb.size() : va.size());
    va.resize(vb.size());
    std::reverse(vb.begin(), vb.end());
    Array a = array(va).astype(dt), b = array(vb).astype(dt);
    auto ref = [&](auto op) {
      std::vector<uint16_t> r;
      for (size_t i = 0; i < va.size(); ++i) r.push_back(half_bits(op(va[i], vb[i]), dt));
      return r;
    };
    auto same_or_both_nan = [&](const std::vector<uint16_t>& got, const std::vector<uint16_t>& want) {
      REQUIRE(got.size() == want.size());
      int bad = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const bool nan = std::isnan(half_value(got[i], dt)) && std::isnan(half_value(want[i], dt));
        if (!nan && got[i] != want[i] && bad++ < 3) FAIL_CHECK("element " << i << ": " << va[i] << ", " << vb[i] << " got " << got[i] << " want " << want[i]);
      }
      CHECK(bad == 0);
    };
    same_or_both_nan(bits(a + b), ref([](double x, double y) { return x + y; }));
    same_or_both_nan(bits(a - b), ref([](double x, double y) { return x - y; }));
    same_or_both_nan(bits(a * b), ref([](double x, double y) { return x * y; }));
    same_or_both_nan(bits(a / b), ref([](double x, double y) { return x / y; }));
    same_or_both_nan(bits(sqrt(abs(a))), ref([](double x, double) { return std::sqrt(std::abs(x)); }));
    CHECK((a + b).dtype() == dt);
  }
}

TEST_CASE("half: transcendental and other primitives are the float32 result rounded once") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array x = testing::uniform({64}, -3.0, 3.0, dt, 3);
    Array x32 = x.astype(float32);
    auto check = [&](const Array& got, const Array& want32) {
      CHECK(got.dtype() == dt);
      CHECK(bits(got) == bits(want32.astype(dt)));
    };
    check(exp(x), exp(x32));
    check(tanh(x), tanh(x32));
    check(sin(x) * x, (sin(x32).astype(dt).astype(float32) * x32));
    check(log1p(abs(x)), log1p(abs(x32)));
    check(lax::integer_pow(x, 3), lax::integer_pow(x32, 3));
    check(floor(x * 4.0), floor((x32 * 4.0).astype(dt).astype(float32)));
    check(maximum(x, 0.5), maximum(x32, 0.5));
    check(where(x > 0, x, -x), abs(x32));
    // comparisons and predicates: no rounding involved
    CHECK((x > 0.5).to_vector<uint8_t>() == (x32 > 0.5).to_vector<uint8_t>());
    CHECK(isnan(x / 0.0 * 0.0).dtype() == bool_);
    CHECK(argmax(x, 0).item<int32_t>() == argmax(x32, 0).item<int32_t>());
  }
}

TEST_CASE("half: reductions accumulate in float32 and round once") {
  // 4096 ones: summed in float16 the running total would stall at 2048 (2049 is not a float16).
  CHECK(sum(ones({4096}, float16)).item<float>() == 4096.0f);
  CHECK(sum(ones({64, 64}, float16), {0}).to_vector<float>() == std::vector<float>(64, 64.0f));  // column
  CHECK(sum(ones({64, 300}, bfloat16), {1}).to_vector<float>() == std::vector<float>(64, 300.0f));  // bf16 has 300 exactly
  CHECK(sum(ones({4096}, float16)).dtype() == float16);
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array x = testing::uniform({5, 7}, -2.0, 2.0, dt, 4);
    Array x32 = x.astype(float32);
    CHECK(bits(sum(x, {1})) == bits(sum(x32, {1}).astype(dt)));
    CHECK(bits(max(x, {0})) == bits(max(x32, {0}).astype(dt)));
    CHECK(bits(min(x)) == bits(min(x32).astype(dt)));
    CHECK(bits(prod(x, {0})) == bits(prod(x32, {0}).astype(dt)));
    CHECK(bits(cumsum(x, 1)) == bits(cumsum(x32, 1).astype(dt)));
    CHECK(argmin(x, 1).to_vector<int32_t>() == argmin(x32, 1).to_vector<int32_t>());
    // mean and var compute in float32 and round once (jnp.mean / jnp.var upcast 16-bit floats)
    CHECK(bits(mean(x, {1})) == bits(mean(x32, {1}).astype(dt)));
    CHECK(bits(var(x)) == bits(var(x32).astype(dt)));
    CHECK(mean(x).dtype() == dt);
    CHECK_ALLCLOSE(logsumexp(x, {1}), logsumexp(x32, {1}).astype(float64));
    CHECK_ALLCLOSE(softmax(x), softmax(x32).astype(float64));
  }
  // cumsum: prefix sums in float32 (2049 -> 2048 only at that position, then exact again).
  Array c = cumsum(ones({3000}, float16), 0);
  auto cv = c.to_vector<float>();
  CHECK(cv[2047] == 2048.0f);
  CHECK(cv[2048] == 2048.0f);  // 2049 rounds to even
  CHECK(cv[2999] == 3000.0f);
}

TEST_CASE("half: dot accumulates in float32") {
  CHECK(dot(ones({4096}, float16), ones({4096}, float16)).item<float>() == 4096.0f);
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array a = testing::uniform({6, 9}, -1.0, 1.0, dt, 5), b = testing::uniform({9, 4}, -1.0, 1.0, dt, 6);
    Array c = matmul(a, b);
    CHECK(c.dtype() == dt);
    CHECK(bits(c) == bits(matmul(a.astype(float32), b.astype(float32)).astype(dt)));
    // A double reference: the float32 sum is within the 16-bit rounding.
    CHECK_ALLCLOSE(c, matmul(a.astype(float64), b.astype(float64)));
    // preferred_element_type float32: no rounding to 16 bits at all.
    Array w = lax::dot_general(a, b, {{1}, {0}}, {{}, {}}, float32);
    CHECK(w.dtype() == float32);
    CHECK_ALLCLOSE(w, matmul(a.astype(float32), b.astype(float32)));
  }
}

TEST_CASE("half: astype between every pair of dtypes") {
  const std::vector<double> src = {0.0, 1.0, -2.5, 3.75, 0.1, 65504.0, 1e6, -1e-8, 1e30};
  const DType all[] = {bool_, int32, int64, uint32, float32, float64, float16, bfloat16};
  for (DType from : all) {
    for (DType to : all) {
      CAPTURE(from);
      CAPTURE(to);
      Array x = array(src).astype(from);
      Array y = x.astype(to);
      CHECK(y.dtype() == to);
      auto xv = x.to_vector<double>();
      auto yv = y.to_vector<double>();
      const auto xi = x.to_vector<int64_t>();  // integer sources: the exact value
      for (size_t i = 0; i < xv.size(); ++i) {
        const double v = xv[i];
        double want;
        if (to == bool_) {
          want = v != 0;
        } else if (to == float16 || to == bfloat16) {
          want = is_integer(from) ? half_value(to == float16 ? float16_t(xi[i]).bits : bfloat16_t(xi[i]).bits, to)
                                  : half_value(half_bits(v, to), to);
        } else if (to == float32) {
          want = static_cast<float>(v);
        } else if (to == float64) {
          want = v;
        } else if (!is_floating(from)) {
          // integer to integer wraps (as XLA)
          want = to == uint32 ? static_cast<double>(static_cast<uint32_t>(xi[i]))
                 : to == int32 ? static_cast<double>(static_cast<int32_t>(xi[i]))
                               : static_cast<double>(xi[i]);
        } else {
          // float to integer saturates
          const double lo = to == uint32 ? 0.0 : to == int32 ? -2147483648.0 : -9223372036854775808.0;
          const double hi = to == uint32 ? 4294967295.0 : to == int32 ? 2147483647.0 : 9223372036854775807.0;
          want = v <= lo ? lo : v >= hi ? hi : std::trunc(v);
        }
        CHECK_MESSAGE(yv[i] == want, "element ", i, ": ", v, " -> ", yv[i], " want ", want);
      }
    }
  }
  // 16-bit floats to integers saturate (as float32 does), NaN -> 0; to bool NaN is true.
  Array s = array({INFINITY, -INFINITY, NAN, 3.9f, -3.9f}).astype(float16);
  CHECK(s.astype(int32).to_vector<int32_t>() == std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, 3, -3});
  CHECK(s.astype(uint32).to_vector<uint32_t>() == std::vector<uint32_t>{UINT32_MAX, 0, 0, 3, 0});
  CHECK(s.astype(bool_).to_vector<uint8_t>() == std::vector<uint8_t>{1, 1, 1, 1, 1});
  // float16 <-> bfloat16: one rounding from the exact value; bfloat16's range overflows float16.
  Array bf = array({1e6f, 1.0f / 3, 1e-30f}).astype(bfloat16);
  CHECK(bits(bf.astype(float16)) == std::vector<uint16_t>{0x7c00, 0x3558, 0x0000});
  CHECK(bits(array({1.0f / 3}).astype(float16).astype(bfloat16))[0] == 0x3eab);
  // through the primitive and bitcast between the two 16-bit formats
  CHECK(bits(lax::bitcast_convert_type(scalar(1.0, float16), bfloat16))[0] == 0x3c00);
  CHECK(bits(lax::bitcast_convert_type(scalar(1.0, bfloat16), float16))[0] == 0x3f80);
}

TEST_CASE("half: creation and host copies") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    CHECK(zeros({3}, dt).to_vector<float>() == std::vector<float>{0, 0, 0});
    CHECK(ones({2}, dt).to_vector<double>() == std::vector<double>{1, 1});
    CHECK(full({2}, 0.1, dt).dtype() == dt);
    CHECK(arange(0.0, 5.0, 1.0, dt).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
    CHECK(arange(0.0, 1.0, 0.25, dt).to_vector<float>() == std::vector<float>{0, 0.25, 0.5, 0.75});
    CHECK(linspace(0.0, 1.0, 5, true, dt).to_vector<float>() == std::vector<float>{0, 0.25, 0.5, 0.75, 1});
    CHECK(eye(2, std::nullopt, 0, dt).to_vector<float>() == std::vector<float>{1, 0, 0, 1});
    CHECK(lax::iota(dt, {4}, 0).to_vector<float>() == std::vector<float>{0, 1, 2, 3});
    CHECK(zeros_like(ones({2}, dt)).dtype() == dt);
    CHECK(scalar(2.5, dt).item<double>() == 2.5);
    CHECK(scalar(2.5, dt).item<int32_t>() == 2);
  }
  Array h = array(std::vector<float16_t>{float16_t(1.0f), float16_t::from_bits(0x7bff)}, Shape{2});
  CHECK(h.dtype() == float16);
  CHECK(h.to_vector<float>() == std::vector<float>{1.0f, 65504.0f});
  CHECK(h.to_vector<bfloat16_t>()[1].bits == 0x4780);  // converted on the host, rounded once
  CHECK(array({bfloat16_t(0.5f)}).item<bfloat16_t>().bits == 0x3f00);
  CHECK(array({1.0f / 3}).astype(bfloat16).item<bfloat16_t>().bits == 0x3eab);
  CHECK(scalar(65520.0, float16).item<float>() == INFINITY);
  CHECK(arange(2048.0, 2052.0, 1.0, float16).to_vector<float>() == std::vector<float>{2048, 2048, 2050, 2052});
}

TEST_CASE("half: printing uses the shortest digits that read back (numpy, ml_dtypes)") {
  Array h = array({1.0f, 0.1f, 65504.f, std::ldexp(1.0f, -24), -2.5e-5f, 0.015625f, NAN, -INFINITY}).astype(float16);
  CHECK(to_string(h) == "Array([      1.,      0.1,   65500.,    6e-08, -2.5e-05,  0.01563,      nan,     -inf], dtype=float16)");
  CHECK(to_string(scalar(1.0 / 3, float16)) == "Array(0.3333, dtype=float16)");
  CHECK(to_string(scalar(-0.0, float16)) == "Array(-0., dtype=float16)");
  // ml_dtypes prints bfloat16 with 6 significant digits.
  CHECK(to_string(array({1.0f / 3, 1000.0f, 1e10f}).astype(bfloat16)) == "Array([   0.333984,       1000., 9.99922e+09], dtype=bfloat16)");
  // jaxpr literals
  auto jp = make_jaxpr([](const Array& x) { return x * 0.1 + 1; })(ones({2}, float16));
  CHECK(jp.str().find("mul a 0.1:f16[]") != std::string::npos);
  CHECK(jp.str().find("add b 1.0:f16[]") != std::string::npos);
  CHECK(jp.str().find("a:f16[2]") != std::string::npos);
}

TEST_CASE("half: grad and vmap work on 16-bit arrays") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    auto f = [](const Array& x) { return sum(sin(x) * x); };
    Array x = testing::uniform({6}, -2.0, 2.0, dt, 7);
    Array g = grad(f)(x);
    CHECK(g.dtype() == dt);  // the tangent dtype of a 16-bit float is itself
    // Against the float32 gradient: each 16-bit primitive rounds, so a few ulps apart.
    Array g32 = grad(f)(x.astype(float32));
    CHECK_ALLCLOSE_TOL(g, testing::values(g32), dt == float16 ? 4e-3 : 3e-2, dt == float16 ? 4e-3 : 3e-2);
    auto [y, t] = jvp([](const Array& a) { return exp(a) * 2.0; }, std::tuple{x}, std::tuple{ones_like(x)});
    CHECK(t.dtype() == dt);
    CHECK(bits(t) == bits(y));  // d(2 e^x) . 1 = 2 e^x, the same primitives on the same values
    // value_and_grad of a mixed-precision loss: float16 weights, float32 accumulation.
    auto loss = [](const Array& w) { return mean(square(w.astype(float32) - 1.0)); };
    auto [v, gw] = value_and_grad(loss)(x);
    CHECK(v.dtype() == float32);
    CHECK(gw.dtype() == dt);
    CHECK_ALLCLOSE(gw, (2.0 * (x.astype(float64) - 1.0) / 6.0));
    // vmap equals the loop
    Array xs = testing::uniform({3, 4}, -1.0, 1.0, dt, 8);
    testing::check_vmap([](const std::vector<Array>& a) { return tanh(a[0]) * a[1] + sum(a[0]); },
                        {xs, testing::uniform({4, 3}, -1.0, 1.0, dt, 9)}, {0, 1});
    Array bm = vmap([](const Array& a) { return matmul(a, a); })(testing::uniform({2, 3, 3}, -1.0, 1.0, dt, 10));
    CHECK(bm.dtype() == dt);
  }
}

TEST_CASE("half: jx::random draws as JAX (bits -> floats in the 16-bit format)") {
  // jax.random.uniform / normal(jax.random.PRNGKey(42), (8,), dtype) with jax 0.10.2.
  Array k = random::key(42);
  CHECK(bits(random::uniform(k, {8}, float16)) ==
        std::vector<uint16_t>{0x2ce0, 0x3218, 0x3bce, 0x3a0e, 0x3730, 0x34ec, 0x39bc, 0x3090});
  CHECK(bits(random::uniform(k, {8}, bfloat16)) ==
        std::vector<uint16_t>{0x3f22, 0x3f58, 0x3f78, 0x3f56, 0x3da0, 0x3f58, 0x3f18, 0x3f30});
  // With bounds, jx rounds floats * (hi - lo) and + lo separately (as numpy's float16 does);
  // XLA on CPU keeps that multiply-add in float32, so JAX gives 0x3f23 for element 3.
  CHECK(bits(random::uniform(k, {6}, float16, -2.0, 3.0)) ==
        std::vector<uint16_t>{0xbe7a, 0xbc31, 0x41c2, 0x3f24, 0x33e0, 0xb764});
  CHECK(bits(random::uniform(k, {6}, bfloat16, -2.0, 3.0)) ==
        std::vector<uint16_t>{0x3f94, 0x400e, 0x4036, 0x400c, 0xbfce, 0x400e});
  // normal: erf_inv runs in float32 (XLA's polynomial in both), rounded once.
  CHECK(bits(random::normal(k, {8}, float16)) ==
        std::vector<uint16_t>{0xbdb8, 0xbb01, 0x3fe6, 0x3993, 0xb011, 0xb804, 0x3898, 0xbc45});
  CHECK(bits(random::normal(k, {8}, bfloat16)) ==
        std::vector<uint16_t>{0x3eb0, 0x3f82, 0x3ff2, 0x3f7c, 0xbfb4, 0x3f82, 0x3e77, 0x3efd});
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array u = random::uniform(random::key(1), {2000}, dt);
    CHECK(all(u >= 0.0).item<bool>());
    CHECK(all(u < 1.0).item<bool>());
    CHECK(std::abs(mean(u.astype(float32)).item<double>() - 0.5) < 0.03);
    Array t = random::truncated_normal(random::key(2), -1.0, 1.0, Shape{500}, dt);
    CHECK(t.dtype() == dt);
    CHECK(all(t > -1.0).item<bool>());
    CHECK(all(t < 1.0).item<bool>());
    // truncated_normal clips into the open interval with nextafter in the 16-bit format: with
    // one representable value strictly between the bounds, every draw is that value.
    const double ulp = dt == float16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
    for (double lo : {1.0, -1.0 - 2 * ulp, 0.25}) {
      const double step = lo == 0.25 ? ulp / 4 : ulp;
      Array one = random::truncated_normal(random::key(6), scalar(lo, dt), scalar(lo + 2 * step, dt), Shape{16}, dt);
      CHECK(one.to_vector<double>() == std::vector<double>(16, lo + step));
    }
    Array c = random::categorical(random::key(3), array({0.f, 10.f, 0.f}).astype(dt), 0);
    CHECK(c.item<int32_t>() == 1);
    CHECK(random::bernoulli(random::key(4), scalar(0.5, dt), Shape{10}).dtype() == bool_);
  }
}

TEST_CASE("half: checkpoints store F16 and BF16") {
  testing::TempDir tmp("jx_half_ckpt");
  Tree params{{"h", array({1.0f, 0.1f, 65504.0f}).astype(float16)}, {"b", array({1.0f / 3}).astype(bfloat16)}};
  nn::save(params, tmp / "p.safetensors");
  Tree back = nn::load(tmp / "p.safetensors");
  CHECK(back["h"].array().dtype() == float16);
  CHECK(bits(back["h"].array()) == std::vector<uint16_t>{0x3c00, 0x2e66, 0x7bff});
  CHECK(bits(back["b"].array()) == std::vector<uint16_t>{0x3eab});
}

TEST_CASE("half: errors name the 16-bit dtype") {
  Array h = ones({3, 3}, float16);
  CHECK_THROWS_WITH_AS(linalg::cholesky(h), doctest::Contains("float16"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::shift_left(h, h), doctest::Contains("f16[3,3]"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::bitcast_convert_type(h, float32), doctest::Contains("f16[3,3] (16 bits) to float32"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::bitcast_convert_type(h, int32), doctest::Contains("f16[3,3]"), DTypeError);
  CHECK_THROWS_WITH_AS(random::randint(random::key(0), {2}, 0, 5, bfloat16), doctest::Contains("bfloat16"), DTypeError);
  CHECK_THROWS_WITH_AS(bind1(add_p, std::vector<Array>{h, ones({3, 3}, bfloat16)}), doctest::Contains("bf16[3,3]"), DTypeError);
  CHECK_THROWS_WITH_AS(matmul(h, ones({2, 2}, float16)), doctest::Contains("f16[3,3]"), ShapeError);
}
