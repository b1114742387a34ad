// jit equals the eager interpreter for every primitive and dtype: the registry's samples, a
// sweep of the fused elementwise primitives over every dtype with special values, the shape
// primitives inside fused loops, every reduction over every axis pattern, and randomly generated
// programs (differential testing).
#include <cstring>
#include <limits>
#include <random>

#include "testing/testing.h"

using namespace jx;

namespace {

// Values that exercise the corner cases of each dtype (12 per array).
Array special(DType d, unsigned variant) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  switch (d) {
    case DType::float16:
    case DType::bfloat16:
    case DType::float32:
    case DType::float64: {
      std::vector<double> v = {0.5, -1.5, 0.0, -0.0, inf, -inf, nan, 1e30, -1e-30, 3.0, 100.0, -0.75};
      if (variant) std::rotate(v.begin(), v.begin() + variant % v.size(), v.end());
      return array(v, Shape{3, 4}).astype(d);
    }
    case DType::int32:
    case DType::int64: {
      const int64_t lo = d == DType::int32 ? INT32_MIN : INT64_MIN, hi = d == DType::int32 ? INT32_MAX : INT64_MAX;
      std::vector<int64_t> v = {0, 1, -1, 2, -7, 33, lo, hi, 5, -3, 31, 64};
      if (variant) std::rotate(v.begin(), v.begin() + variant % v.size(), v.end());
      return array(v, Shape{3, 4}).astype(d);
    }
    case DType::uint32: {
      std::vector<uint32_t> v = {0, 1, 2, 7, 31, 32, 0xFFFFFFFFu, 0x80000000u, 5, 3, 100, 64};
      if (variant) std::rotate(v.begin(), v.begin() + variant % v.size(), v.end());
      return array(v, Shape{3, 4});
    }
    case DType::bool_: {
      std::vector<bool> v = {true, false, true, true, false, false, true, false, true, false, false, true};
      if (variant) std::rotate(v.begin(), v.begin() + variant % v.size(), v.end());
      return array(v, Shape{3, 4});
    }
  }
  return Array();
}

// Bitwise equality (NaN payloads aside), or within a few ulps for transcendental functions.
std::string compare(const Array& got, const Array& want, bool approx) {
  if (got.aval() != want.aval()) return "avals " + got.aval().str() + " vs " + want.aval().str();
  if (approx) {
    // glibc's vector routines behind the eager kernels are within 4 ulp; jit's within ~1.
    const double rtol = got.dtype() == float32 ? 1e-6 : 2e-15;
    return testing::mismatch(got, testing::values(want), rtol, 1e-37);
  }
  auto g = testing::values(got), w = testing::values(want);
  for (size_t i = 0; i < g.size(); ++i) {
    const bool same = (std::isnan(g[i]) && std::isnan(w[i])) || (g[i] == w[i] && std::signbit(g[i]) == std::signbit(w[i]));
    if (!same) return "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs " + std::to_string(w[i]);
  }
  return "";
}

std::vector<Array> jit_bind(const Primitive& p, const std::vector<Array>& args, const Params& params) {
  return jit([&](const std::vector<Array>& xs) { return jx::bind(p, xs, params); })(args);
}

}  // namespace

TEST_CASE("jit: every primitive's registry samples equal eager evaluation") {
  int checked = 0;
  for (const Primitive& p : all_primitives()) {
    for (const PrimitiveSample& s : p.def().samples) {
      CAPTURE(p.name());
      std::vector<Array> args;
      unsigned seed = 1;
      for (auto& aval : s.args) args.push_back(testing::sample_arg(aval, seed++));
      auto eager = jx::bind(p, args, s.params);
      auto compiled = jit_bind(p, args, s.params);
      REQUIRE(compiled.size() == eager.size());
      for (size_t i = 0; i < eager.size(); ++i) CHECK(testing::mismatch(compiled[i], eager[i]) == "");
      ++checked;
    }
  }
  CHECK(checked >= 150);
}

TEST_CASE("jit: fused elementwise primitives over every dtype, with special values") {
  struct Case {
    const Primitive* prim;
    int arity;
    bool approx;  // transcendental: a few ulps
    Params params;
  };
  const std::vector<Case> cases = {
      {&add_p, 2, false, {}}, {&sub_p, 2, false, {}}, {&mul_p, 2, false, {}}, {&div_p, 2, false, {}},
      {&rem_p, 2, false, {}}, {&max_p, 2, false, {}}, {&min_p, 2, false, {}}, {&pow_p, 2, true, {}},
      {&atan2_p, 2, true, {}}, {&eq_p, 2, false, {}}, {&ne_p, 2, false, {}}, {&lt_p, 2, false, {}},
      {&le_p, 2, false, {}}, {&gt_p, 2, false, {}}, {&ge_p, 2, false, {}}, {&and_p, 2, false, {}},
      {&or_p, 2, false, {}}, {&xor_p, 2, false, {}}, {&shift_left_p, 2, false, {}},
      {&shift_right_logical_p, 2, false, {}}, {&shift_right_arithmetic_p, 2, false, {}},
      {&neg_p, 1, false, {}}, {&abs_p, 1, false, {}}, {&sign_p, 1, false, {}}, {&square_p, 1, false, {}},
      {&sqrt_p, 1, false, {}}, {&rsqrt_p, 1, false, {}}, {&floor_p, 1, false, {}}, {&ceil_p, 1, false, {}},
      {&round_p, 1, false, {{"rounding_method", int64_t{0}}}}, {&round_p, 1, false, {{"rounding_method", int64_t{1}}}},
      {&is_finite_p, 1, false, {}}, {&not_p, 1, false, {}}, {&exp_p, 1, true, {}}, {&log_p, 1, true, {}},
      {&log1p_p, 1, true, {}}, {&expm1_p, 1, true, {}}, {&sin_p, 1, true, {}}, {&cos_p, 1, true, {}},
      {&tan_p, 1, true, {}}, {&tanh_p, 1, true, {}}, {&sinh_p, 1, true, {}}, {&cosh_p, 1, true, {}},
      {&asin_p, 1, true, {}}, {&acos_p, 1, true, {}}, {&atan_p, 1, true, {}}, {&erf_p, 1, true, {}},
      {&logistic_p, 1, true, {}}, {&stop_gradient_p, 1, false, {}},
      {&integer_pow_p, 1, false, {{"y", int64_t{3}}}}, {&integer_pow_p, 1, false, {{"y", int64_t{-2}}}},
      {&integer_pow_p, 1, false, {{"y", int64_t{0}}}},
  };
  const DType dtypes[] = {DType::bool_, DType::int32, DType::int64, DType::uint32, DType::float32, DType::float64};
  int checked = 0;
  for (auto& c : cases) {
    for (DType d : dtypes) {
      CAPTURE(c.prim->name());
      CAPTURE(dtype_name(d));
      std::vector<Array> args;
      for (int i = 0; i < c.arity; ++i) args.push_back(special(d, static_cast<unsigned>(5 * i)));
      std::vector<Array> eager;
      try {
        eager = jx::bind(*c.prim, args, c.params);
      } catch (const Error&) {
        continue;  // the primitive does not take this dtype
      }
      auto compiled = jit_bind(*c.prim, args, c.params);
      CHECK(compare(compiled[0], eager[0], c.approx) == "");
      // A 0-d operand broadcast inside the loop.
      if (c.arity == 2) {
        std::vector<Array> mixed = {args[0], special(d, 3)[Index{1}][Index{2}]};
        auto e2 = jx::bind(*c.prim, mixed, c.params);
        CHECK(compare(jit_bind(*c.prim, mixed, c.params)[0], e2[0], c.approx) == "");
      }
      ++checked;
    }
  }
  MESSAGE("elementwise (primitive, dtype) pairs checked: " << checked);
  CHECK(checked > 150);
  // Conversions between every pair of dtypes (saturating float -> int, NaN -> 0).
  for (DType from : dtypes) {
    for (DType to : dtypes) {
      CAPTURE(dtype_name(from));
      CAPTURE(dtype_name(to));
      Array x = special(from, 0);
      Params p{{"new_dtype", to}, {"weak_type", false}};
      auto eager = jx::bind(convert_element_type_p, std::vector<Array>{x}, p);
      CHECK(compare(jit_bind(convert_element_type_p, {x}, p)[0], eager[0], false) == "");
    }
  }
  // select_n with a bool and an int32 predicate.
  for (DType d : dtypes) {
    Array a = special(d, 1), b = special(d, 2), c = special(d, 3);
    Array pb = special(DType::bool_, 4);
    Array pi = array<int32_t>({0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2}, Shape{3, 4});
    CHECK(compare(jit_bind(select_n_p, {pb, a, b}, {})[0], jx::bind(select_n_p, std::vector<Array>{pb, a, b})[0], false) == "");
    CHECK(compare(jit_bind(select_n_p, {pi, a, b, c}, {})[0], jx::bind(select_n_p, std::vector<Array>{pi, a, b, c})[0], false) == "");
  }
}

TEST_CASE("jit: shape primitives inside fused loops (index maps) equal eager") {
  Array x = testing::uniform({2, 3, 4}, -1, 1, float32, 3);
  auto f = [](const Array& x) {
    Array t = transpose(x, {2, 0, 1});                               // [4,2,3]
    Array r = reshape(x, {6, 4});                                    // [6,4]
    Array b = lax::broadcast_in_dim(sum(x, {0}), {5, 3, 4}, {1, 2});  // [5,3,4]
    Array s = lax::slice(x, {0, 1, 0}, {2, 3, 4}, {1, 1, 2});         // [2,2,2]
    Array v = lax::rev(x, {0, 2});
    Array i = lax::iota(float32, {3, 4}, 1);
    Array q = squeeze(reshape(x, {1, 24}), {0});
    // dynamic_slice with literal and run-time starts (clamped), concatenate along each axis.
    Array ds1 = lax::dynamic_slice(x, {Array(1), Array(-5), Array(2)}, {1, 2, 2});
    Array ds2 = lax::dynamic_slice(x, {Array(0), sum(x).astype(int32), Array(7)}, {2, 2, 3});
    Array c0 = concatenate({x, exp(x)}, 0), c2 = concatenate({x, x * 2.0, lax::slice(x, {0, 0, 0}, {2, 3, 1}, {1, 1, 1})}, 2);
    // dynamic_update_slice (clamped starts) and pad (negative, positive and interior padding).
    Array u1 = lax::dynamic_update_slice(x, exp(ds1), {Array(1), Array(2), Array(9)});
    Array p1 = lax::pad(x, Array(0.5f), {{1, -1, 1}, {0, 2, 0}, {-1, 1, 2}});
    return std::tuple{exp(t) + 1.0, r * 2.0 + reshape(t, {6, 4}), b * b, s + 1.0, v - x, i * x, q * q,
                      reshape(exp(x), {4, 6}) + 1.0, transpose(exp(x), {1, 0, 2}) * 2.0, ds1 * 3.0, ds2 + 1.0,
                      c0 - 1.0, sin(c2), u1 * 2.0, p1 + 1.0};
  };
  auto e = tree_leaves(f(x));
  auto c = tree_leaves(jit(f)(x));
  REQUIRE(e.size() == c.size());
  for (size_t k = 0; k < e.size(); ++k) {
    CAPTURE(k);
    CHECK(compare(c[k], e[k], true) == "");
  }
}

TEST_CASE("jit: every reduction over every axis pattern") {
  const std::vector<std::vector<int>> patterns = {{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}};
  Array xf = testing::uniform({3, 5, 7}, -2, 2, float64, 4);
  Array xi = (xf * 10.0).astype(int32);
  Array xb = xf > 0.0;
  for (auto& axes : patterns) {
    CAPTURE(axes.size());
    CAPTURE(axes[0]);
    for (DType d : {DType::float32, DType::float64, DType::int32}) {
      Array x = d == DType::int32 ? xi : xf.astype(d);
      auto f = [&](const Array& x) { return std::tuple{sum(x, axes), max(x, axes), min(x, axes), prod(x * 0.5 + 1.0, axes)}; };
      if (d == DType::int32) {
        auto g = [&](const Array& x) { return std::tuple{sum(x, axes), max(x, axes), min(x, axes)}; };
        auto e = tree_leaves(g(x)), c = tree_leaves(jit(g)(x));
        for (size_t k = 0; k < e.size(); ++k) CHECK(compare(c[k], e[k], false) == "");
        continue;
      }
      auto e = tree_leaves(f(x)), c = tree_leaves(jit(f)(x));
      for (size_t k = 0; k < e.size(); ++k) CHECK(testing::mismatch(c[k], e[k]) == "");
    }
    auto gb = [&](const Array& b) { return std::tuple{all(b, axes), any(b, axes)}; };
    auto e = tree_leaves(gb(xb)), c = tree_leaves(jit(gb)(xb));
    for (size_t k = 0; k < e.size(); ++k) CHECK(compare(c[k], e[k], false) == "");
  }
  // NaN propagates through max/min reductions.
  Array n = array<float>({1.f, std::nanf(""), 3.f, 2.f}, Shape{2, 2});
  auto mm = [](const Array& x) { return std::tuple{max(x, {1}), min(x, {0})}; };
  auto e = tree_leaves(mm(n)), c = tree_leaves(jit(mm)(n));
  for (size_t k = 0; k < e.size(); ++k) CHECK(compare(c[k], e[k], false) == "");
}

TEST_CASE("jit: random programs equal the interpreter (differential test)") {
  std::mt19937 gen(1234);
  int programs = 0;
  for (int trial = 0; trial < 60; ++trial) {
    CAPTURE(trial);
    const int64_t m = 1 + gen() % 6, n = 1 + gen() % 9;
    const DType dt = gen() % 3 == 0 ? float64 : float32;
    std::vector<unsigned> ops(8 + gen() % 10);
    for (auto& o : ops) o = gen() % 14;
    // A program over a pool of values: each op takes values from the pool and adds its result.
    auto program = [ops, m, n, dt](const Array& a, const Array& b, const Array& c) {
      std::vector<Array> pool = {a, b, reshape(c, {m, n})};
      auto pick = [&](size_t k) { return pool[(k * 7 + 3) % pool.size()]; };
      size_t k = 0;
      for (unsigned o : ops) {
        Array x = pick(k++), y = pick(k++);
        Array r;
        switch (o) {
          case 0: r = x + y; break;
          case 1: r = x * y - 0.5; break;
          case 2: r = tanh(x) + exp(-y * y); break;
          case 3: r = broadcast_to(sum(x, {0}), {m, n}) * y; break;
          case 4: r = broadcast_to(reshape(max(x, {1}), {m, 1}), {m, n}) - y; break;
          case 5: r = transpose(reshape(transpose(x), {n, m})) + y; break;
          case 6: r = where(x > y, x, y * 2.0); break;
          case 7: r = (x * 100.0).astype(int32).astype(dt) / 100.0; break;
          case 8: r = matmul(x, transpose(y)); r = broadcast_to(sum(r, {1}, true), {m, n}); break;
          case 9: r = log1p(abs(x)) * sign(y); break;
          case 10: r = maximum(x, 0.0) + minimum(y, 0.0); break;
          case 11: r = x - broadcast_to(mean(x, {0}, true), {m, n}); break;
          case 12: r = sqrt(x * x + 1.0) / (1.0 + abs(y)); break;
          default: r = lax::rev(x, {1}) * lax::rev(y, {0}); break;
        }
        pool.push_back(r);
      }
      return std::tuple{pool.back(), sum(pool[pool.size() - 2]), pool[pool.size() / 2]};
    };
    Array a = testing::uniform({m, n}, -1, 1, dt, 10 + trial);
    Array b = testing::uniform({m, n}, -1, 1, dt, 100 + trial);
    Array c = testing::uniform({m * n}, -1, 1, dt, 200 + trial);
    auto e = tree_leaves(program(a, b, c));
    auto got = tree_leaves(jit(program)(a, b, c));
    REQUIRE(e.size() == got.size());
    for (size_t i = 0; i < e.size(); ++i) {
      auto [rtol, atol] = testing::tolerance(dt);
      CHECK(testing::mismatch(got[i], testing::values(e[i]), rtol * 10, atol * 10) == "");
    }
    ++programs;
  }
  CHECK(programs == 60);
}
