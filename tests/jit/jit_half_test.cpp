// jit on float16/bfloat16: the generated code (16-bit memory, float registers, a rounding to
// nearest even where each primitive produces a 16-bit value, integer-IR conversions) equals the
// eager kernels (float32 compute, rounded once per primitive) bit for bit: arithmetic, every
// 16-bit pattern, conversions from float64 / int64 (one rounding), reductions that accumulate in
// float32, literals, constant folding, control flow, grad and vmap.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "testing/testing.h"

using namespace jx;

namespace {

const DType kHalves[] = {float16, bfloat16};

std::vector<uint16_t> bits(const Array& x) {
  REQUIRE(is_half_float(x.dtype()));
  std::vector<uint16_t> out(static_cast<size_t>(x.size()));
  if (x.dtype() == float16) {
    auto v = x.to_vector<float16_t>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[i].bits;
  } else {
    auto v = x.to_vector<bfloat16_t>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[i].bits;
  }
  return out;
}

bool is_nan_bits(uint16_t b, DType dt) { return dt == float16 ? (b & 0x7fff) > 0x7c00 : (b & 0x7fff) > 0x7f80; }

// jit == eager, bit for bit (16-bit outputs), or exactly (other dtypes). NaN matches any NaN:
// which operand's NaN an IEEE operation returns (its sign and payload) is not specified, and
// LLVM and GCC may order the operands differently.
void check_bitwise(const Array& got, const Array& want) {
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  if (is_half_float(got.dtype())) {
    auto g = bits(got), w = bits(want);
    int bad = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i] == w[i] || (is_nan_bits(g[i], got.dtype()) && is_nan_bits(w[i], got.dtype()))) continue;
      if (bad++ < 5) FAIL_CHECK("element " << i << ": jit " << static_cast<int>(g[i]) << ", eager " << static_cast<int>(w[i]));
    }
    CHECK(bad == 0);
  } else {
    auto g = got.to_vector<double>(), w = want.to_vector<double>();
    for (size_t i = 0; i < g.size(); ++i)
      if (!(std::isnan(g[i]) && std::isnan(w[i]))) CHECK(g[i] == w[i]);
  }
}

// Every 16-bit pattern of the format (NaN payloads included).
Array all_patterns(DType dt) {
  std::vector<uint16_t> v(0x10000);
  for (uint32_t b = 0; b < 0x10000; ++b) v[b] = static_cast<uint16_t>(b);
  if (dt == float16) {
    std::vector<float16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = float16_t::from_bits(v[i]);
    return array(h);
  }
  std::vector<bfloat16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = bfloat16_t::from_bits(v[i]);
  return array(h);
}

}  // namespace

TEST_CASE("jit half: arithmetic equals eager bit for bit, rounding after every primitive") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    auto f = [](const Array& x, const Array& y) {
      Array a = x * y + 1.0;  // two roundings: mul, then add (as eager)
      Array b = (x - y) / (abs(y) + 0.5);
      return sqrt(abs(a)) + lax::integer_pow(b, 3) - maximum(x, y) * floor(x * 4.0);
    };
    Array x = testing::uniform({7, 33}, -4.0, 4.0, dt, 1), y = testing::uniform({7, 33}, -4.0, 4.0, dt, 2);
    Array eager = f(x, y);
    CHECK(eager.dtype() == dt);
    check_bitwise(jit(f)(x, y), eager);
    // broadcasting, a strong 16-bit scalar, comparisons and where
    auto g = [dt](const Array& x, const Array& row) {
      Array s = scalar(0.3, dt);
      return where(x > row, x * s, row / 3.0) + sum(x, {1}, true);
    };
    Array row = testing::uniform({33}, -1.0, 1.0, dt, 3);
    check_bitwise(jit(g)(x, row), g(x, row));
    // comparisons and predicates produce bool, no rounding
    auto h = [](const Array& x, const Array& y) { return logical_and(x < y, isfinite(x / y)); };
    check_bitwise(jit(h)(x, y), h(x, y));
  }
}

TEST_CASE("jit half: every 16-bit pattern through mul, add, neg, max and a conversion") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array x = all_patterns(dt);
    // NaN, inf, subnormals, signed zeros: the IR conversions must agree with the host ones.
    auto f = [](const Array& a) { return a * 3.0 + (-a) * 0.5; };
    check_bitwise(jit(f)(x), f(x));
    auto g = [](const Array& a) { return maximum(a, 0.25) - a.astype(float32).astype(a.dtype()); };
    check_bitwise(jit(g)(x), g(x));
    // to float32 and float64 (exact) and back
    auto w = [](const Array& a) { return a.astype(float64) * 1.5; };
    check_bitwise(jit(w)(x), w(x));
    auto other = dt == float16 ? bfloat16 : float16;
    auto c = [other](const Array& a) { return a.astype(other); };
    check_bitwise(jit(c)(x), c(x));
    auto i = [](const Array& a) { return a.astype(int32); };
    check_bitwise(jit(i)(x), i(x));
    auto u = [](const Array& a) { return a.astype(uint32); };
    check_bitwise(jit(u)(x), u(x));
  }
}

TEST_CASE("jit half: float32 -> 16 bits in generated code equals the host conversion (sampled patterns)") {
  std::vector<float> v;
  for (uint64_t i = 0; i < (uint64_t{1} << 32); i += 65521) v.push_back(std::bit_cast<float>(static_cast<uint32_t>(i)));
  // ties and their neighbours around every float16 value in a range, and subnormal boundaries
  for (int k = -30; k < 17; ++k) {
    for (float m : {1.0f, 1.5f, 1.00048828125f, 1.00146484375f, 1.99951171875f, 1.9990234375f}) {
      const float t = std::ldexp(m, k);
      v.push_back(t), v.push_back(std::nextafter(t, 0.0f)), v.push_back(std::nextafter(t, INFINITY));
      v.push_back(-t);
    }
  }
  Array x = array(v);
  for (DType dt : kHalves) {
    CAPTURE(dt);
    auto f = [dt](const Array& a) { return a.astype(dt); };
    Array eager = f(x);
    check_bitwise(jit(f)(x), eager);
    // and the host conversion itself
    auto host = bits(eager);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t want = dt == float16 ? float16_t(v[i]).bits : bfloat16_t(v[i]).bits;
      if (host[i] != want) FAIL_CHECK("element " << i << " " << v[i]);
    }
  }
}

TEST_CASE("jit half: float64 and integer sources round once (no double rounding through float32)") {
  std::mt19937_64 gen(5);
  std::vector<double> d;
  std::vector<int64_t> i64;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t r = gen();
    // float16 and bfloat16 ties with a tiny excess below float32's precision, and random doubles
    const double tie16 = (1 + (2 * static_cast<double>(r % 1024) + 1) / 2048.0) * std::ldexp(1.0, static_cast<int>(r >> 40) % 30 - 14);
    const double tie_bf = (1 + (2 * static_cast<double>(r % 128) + 1) / 256.0) * std::ldexp(1.0, static_cast<int>(r >> 40) % 200 - 100);
    const double eps = std::ldexp(1.0, -40) * ((r >> 20) & 1 ? 1 : -1);
    d.push_back(tie16 * (1 + eps));
    d.push_back(tie_bf * (1 + eps));
    d.push_back(std::bit_cast<double>(gen()));
    i64.push_back(static_cast<int64_t>(gen()) >> (gen() % 64));
  }
  d.push_back(INFINITY), d.push_back(-INFINITY), d.push_back(NAN), d.push_back(1e-300), d.push_back(-0.0);
  i64.push_back(INT64_MIN), i64.push_back(INT64_MAX), i64.push_back(0), i64.push_back((int64_t{1} << 60) + (int64_t{1} << 52) + 1);
  Array xd = array(d), xi = array(i64);
  Array x32 = array(std::vector<int32_t>{INT32_MIN, INT32_MAX, (1 << 24) + (1 << 16) + 1, 65519, 65520, -7});
  Array xu = array(std::vector<uint32_t>{0, 1, UINT32_MAX, (1u << 31) + (1u << 23) + 1, 65520});
  Array xb = array({true, false});
  for (DType dt : kHalves) {
    CAPTURE(dt);
    auto f = [dt](const Array& a) { return a.astype(dt); };
    check_bitwise(jit(f)(xd), f(xd));
    check_bitwise(jit(f)(xi), f(xi));
    check_bitwise(jit(f)(x32), f(x32));
    check_bitwise(jit(f)(xu), f(xu));
    check_bitwise(jit(f)(xb), f(xb));
    // the host conversions are the correctly rounded ones
    auto e = bits(f(xd));
    for (size_t k = 0; k < d.size(); ++k) {
      const uint16_t want = dt == float16 ? float16_t(d[k]).bits : bfloat16_t(d[k]).bits;
      if (e[k] != want && !(is_nan_bits(e[k], dt) && is_nan_bits(want, dt))) FAIL_CHECK("double " << d[k]);
    }
    auto ei = bits(f(xi));
    for (size_t k = 0; k < i64.size(); ++k) {
      const uint16_t want = dt == float16 ? float16_t(i64[k]).bits : bfloat16_t(i64[k]).bits;
      if (ei[k] != want) FAIL_CHECK("int64 " << i64[k]);
    }
  }
}

TEST_CASE("jit half: reductions accumulate in float32 (row and column) and equal eager") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    // 4096 ones: a float16 accumulator would stop at 2048; the column reduction accumulates in
    // its output buffer, so jit widens 16-bit sums to float32.
    auto col = [](const Array& x) { return sum(x, {0}); };
    auto row = [](const Array& x) { return sum(x, {1}); };
    Array ones_col = ones({4096, 3}, dt), ones_row = ones({3, 4096}, dt);
    CHECK(jit(col)(ones_col).to_vector<float>() == std::vector<float>(3, 4096.0f));
    CHECK(jit(row)(ones_row).to_vector<float>() == std::vector<float>(3, 4096.0f));
    CHECK(jit(col)(ones_col).dtype() == dt);
    // Values whose float32 sums are exact (any order), so jit == eager bitwise.
    Array q = (testing::uniform({64, 40}, -8.0, 8.0, float32, 3) * 8.0).astype(int32).astype(dt) / 8.0;
    for (auto f : {+[](const Array& x) { return sum(x, {0}); }, +[](const Array& x) { return sum(x, {1}); },
                   +[](const Array& x) { return max(x * 2.0, {0}); }, +[](const Array& x) { return min(x, {1}); },
                   +[](const Array& x) { return sum(x * x, {0}) + x[Index{0}]; }, +[](const Array& x) { return sum(x); }}) {
      check_bitwise(jit(f)(q), f(q));
    }
    // prod, argmax, cumsum (a library call: the eager kernel) and mean
    auto p = [](const Array& x) { return prod(x * 0.5 + 1.0, {1}); };
    Array small = testing::uniform({4, 5}, -0.5, 0.5, dt, 4);
    CHECK_ALLCLOSE(jit(p)(small), testing::values(p(small)));
    auto a = [](const Array& x) { return argmax(x, 1); };
    check_bitwise(jit(a)(q), a(q));
    auto c = [](const Array& x) { return cumsum(x, 1) * 2.0; };
    check_bitwise(jit(c)(q), c(q));
  }
}

TEST_CASE("jit half: transcendentals within one 16-bit ulp of eager (vector math vs libm in float32)") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array x = testing::uniform({4000}, -5.0, 5.0, dt, 6);
    auto f = [](const Array& a) { return stack({exp(a), tanh(a), sin(a), log1p(abs(a)), sigmoid(a)}); };
    auto g = bits(jit(f)(x)), e = bits(f(x));
    int differ = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i] == e[i]) continue;
      ++differ;
      CHECK(std::abs(static_cast<int>(g[i]) - static_cast<int>(e[i])) == 1);  // same sign: adjacent patterns
    }
    MESSAGE("elements differing by one ulp: " << differ << " of " << g.size());
    CHECK(differ < static_cast<int>(g.size()) / 100);
  }
}

TEST_CASE("jit half: literals, iota, constant folding and simplification agree with eager") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array x = testing::uniform({50}, -3.0, 3.0, dt, 7);
    auto f = [dt](const Array& a) {
      Array c = scalar(1.0, dt) / 3.0 * 7.0;  // folded at compile time, by the eager kernels
      return a * 0.1 + c + a / 4.0 - a / 3.0 + lax::iota(dt, {50}, 0) * 0.5;
    };
    check_bitwise(jit(f)(x), f(x));
    // iota beyond float16's integers: 2049 rounds to 2048 in both
    auto io = [dt](const Array&) { return lax::iota(dt, {3000}, 0) + 0.0; };
    check_bitwise(jit(io)(x), io(x));
  }
}

TEST_CASE("jit half: dot (library call), control flow, grad and vmap") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array a = testing::uniform({5, 8}, -1.0, 1.0, dt, 8), b = testing::uniform({8, 3}, -1.0, 1.0, dt, 9);
    Array bias = testing::uniform({3}, -1.0, 1.0, dt, 10);
    auto mlp = [](const Array& a, const Array& b, const Array& bias) { return relu(matmul(a, b) + bias); };
    check_bitwise(jit(mlp)(a, b, bias), mlp(a, b, bias));
    // fori_loop with a 16-bit carry
    auto loop = [dt](const Array& x) {
      return lax::fori_loop(Array(0), Array(20), [](const Array&, const Array& c) { return c * 0.9 + 0.1; }, x);
    };
    Array x = testing::uniform({6}, -1.0, 1.0, dt, 11);
    check_bitwise(jit(loop)(x), loop(x));
    // grad of a polynomial loss, compiled and eager
    auto loss = [](const Array& w) { return sum(w * w * w - 2.0 * w); };
    check_bitwise(jit(grad(loss))(x), grad(loss)(x));
    CHECK(grad(loss)(x).dtype() == dt);
    // vmap of jit, jit of vmap
    Array xs = testing::uniform({4, 6}, -1.0, 1.0, dt, 12);
    auto body = [](const Array& v) { return v * 3.0 - sum(v); };
    check_bitwise(vmap(jit(body))(xs), vmap(body)(xs));
    check_bitwise(jit(vmap(body))(xs), vmap(body)(xs));
    // mixed precision: 16-bit weights, float32 math
    auto mixed = [](const Array& w, const Array& v) { return sum(w.astype(float32) * v); };
    Array v32 = testing::uniform({6}, -1.0, 1.0, float32, 13);
    CHECK_ALLCLOSE(jit(mixed)(x, v32), mixed(x, v32));  // a float32 sum: the order may differ
  }
}

TEST_CASE("jit half: the LLVM IR converts with integer code (no fptrunc to half, no libgcc calls)") {
  for (DType dt : kHalves) {
    CAPTURE(dt);
    Array x = testing::uniform({16}, -1.0, 1.0, dt, 14);
    std::string ir = jit([](const Array& a) { return a * 2.0 + 1.0; }).lower(x).as_text();
    CHECK(ir.find("i16") != std::string::npos);
    CHECK(ir.find("half") == std::string::npos);
    CHECK(ir.find("bfloat") == std::string::npos);
    CHECK(ir.find("__trunc") == std::string::npos);
    CHECK(ir.find("__extend") == std::string::npos);
  }
  // the 16-bit sum is widened: the optimized program converts to f32 around the reduction
  std::string text = jit([](const Array& a) { return sum(a, {0}); }).lower(ones({8, 4}, float16)).as_text();
  CHECK(text.find("reduce_sum") != std::string::npos);
  CHECK(text.find("f32[4]") != std::string::npos);
}

TEST_CASE("jit half: every primitive's floating samples in float16/bfloat16 equal eager") {
  // Transcendentals: vector math in jit, libm/libmvec eagerly, both in float32: one 16-bit ulp.
  const std::set<std::string> approx = {"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh",
                                        "asin", "acos", "atan", "erf", "logistic", "pow", "atan2"};
  int checked = 0;
  for (const Primitive& p : all_primitives()) {
    for (const PrimitiveSample& s : p.def().samples) {
      bool has_float = false;
      for (auto& aval : s.args) has_float |= is_floating(aval.dtype);
      if (!has_float) continue;
      for (DType h : kHalves) {
        CAPTURE(p.name());
        CAPTURE(dtype_name(h));
        std::vector<Array> args;
        unsigned seed = 1;
        for (auto& aval : s.args) {
          Array a = testing::sample_arg(aval, seed++);
          args.push_back(is_floating(aval.dtype) ? a.astype(h) : a);
        }
        std::vector<Array> eager;
        try {
          eager = jx::bind(p, args, s.params);
        } catch (const Error&) {
          continue;  // rejected (LAPACK, call primitives typed for float32): registry_test checks the message
        }
        auto compiled = jit([&](const std::vector<Array>& xs) { return jx::bind(p, xs, s.params); })(args);
        REQUIRE(compiled.size() == eager.size());
        for (size_t i = 0; i < eager.size(); ++i) {
          if (approx.count(p.name()) && is_half_float(eager[i].dtype())) {
            auto g = bits(compiled[i]), w = bits(eager[i]);
            for (size_t k = 0; k < g.size(); ++k) CHECK(std::abs(static_cast<int>(g[k]) - static_cast<int>(w[k])) <= 1);
          } else {
            check_bitwise(compiled[i], eager[i]);
          }
        }
        ++checked;
      }
    }
  }
  MESSAGE("16-bit samples compiled: " << checked);
  CHECK(checked >= 150);
}

TEST_CASE("jit half: fused elementwise primitives on special values (inf, NaN, subnormals, the largest finite)") {
  const std::vector<const Primitive*> exact = {&add_p, &sub_p, &mul_p, &div_p, &rem_p, &max_p, &min_p, &eq_p, &ne_p,
                                               &lt_p, &le_p, &gt_p, &ge_p, &neg_p, &abs_p, &sign_p, &square_p,
                                               &sqrt_p, &rsqrt_p, &floor_p, &ceil_p, &is_finite_p, &stop_gradient_p};
  for (DType h : kHalves) {
    CAPTURE(dtype_name(h));
    const double big = h == float16 ? 65504.0 : 3.3895313892515355e38;
    const double tiny = h == float16 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -133);
    std::vector<double> v = {0.5, -1.5, 0.0, -0.0, INFINITY, -INFINITY, NAN, big, -big, tiny, -3 * tiny, 1.0 / 3,
                             2.5, -2.5, 1e-3, 7.0};
    Array a = array(v, Shape{4, 4}).astype(h);
    std::reverse(v.begin(), v.end());
    Array b = array(v, Shape{4, 4}).astype(h);
    for (const Primitive* p : exact) {
      CAPTURE(p->name());
      const bool binary = p == &add_p || p == &sub_p || p == &mul_p || p == &div_p || p == &rem_p || p == &max_p ||
                          p == &min_p || p == &eq_p || p == &ne_p || p == &lt_p || p == &le_p || p == &gt_p || p == &ge_p;
      std::vector<Array> args = binary ? std::vector<Array>{a, b} : std::vector<Array>{a};
      auto eager = jx::bind(*p, args, {});
      auto compiled = jit([&](const std::vector<Array>& xs) { return jx::bind(*p, xs, {}); })(args);
      check_bitwise(compiled[0], eager[0]);
    }
    for (int64_t method : {0, 1}) {
      Params rp{{"rounding_method", method}};
      auto x = std::vector<Array>{a * 1.25};
      check_bitwise(jit([&](const std::vector<Array>& xs) { return jx::bind(round_p, xs, rp); })(x)[0],
                    jx::bind(round_p, x, rp)[0]);
    }
    for (int64_t y : {3, -2, 0}) {
      Params ip{{"y", y}};
      check_bitwise(jit([&](const std::vector<Array>& xs) { return jx::bind(integer_pow_p, xs, ip); })(std::vector<Array>{a})[0],
                    jx::bind(integer_pow_p, std::vector<Array>{a}, ip)[0]);
    }
    // select_n with bool and int32 predicates
    Array pb = a > b;
    Array pi = array<int32_t>({0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2, 1, 1, 0, 2}, Shape{4, 4});
    auto sel = [](const std::vector<Array>& xs) { return jx::bind(select_n_p, xs, {}); };
    check_bitwise(jit(sel)(std::vector<Array>{pb, a, b})[0], sel({pb, a, b})[0]);
    check_bitwise(jit(sel)(std::vector<Array>{pi, a, b, a * b})[0], sel({pi, a, b, a * b})[0]);
  }
}
