// backends/llvm/vmath: the branch-free math functions against libm references, in ulp, for
// float and double, through loops that LLVM vectorizes and loops over explicit vectors.
//
// References: float results are compared with glibc's double functions, double results with
// glibc's long double functions (64-bit significand), so the reference is the correctly
// rounded value up to a tiny fraction of an ulp. Errors are measured in units of the last
// place of the result type at the reference value (subnormal spacing below the normal range).

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "backends/llvm/vmath_test_api.h"
#include "core/errors.h"

namespace {

using namespace jx::llvmgen;
using LD = long double;

// ------------------------------------------------------------------------------------------
// Reference functions.

LD logistic_ref(LD x) {
  if (x >= 0) return 1.0L / (1.0L + std::exp(-x));
  LD e = std::exp(x);
  return e / (1.0L + e);
}

struct Ref {
  std::function<double(double)> f32;  // evaluated in double for float inputs
  std::function<LD(LD)> f64;          // evaluated in long double for double inputs
};

struct Ref2 {
  std::function<double(double, double)> f32;
  std::function<LD(LD, LD)> f64;
};

#define JX_REF(fn) Ref{[](double x) { return std::fn(x); }, [](LD x) { return std::fn(x); }}

Ref unary_ref(const std::string& name) {
  if (name == "exp") return JX_REF(exp);
  if (name == "exp2") return JX_REF(exp2);
  if (name == "expm1") return JX_REF(expm1);
  if (name == "log") return JX_REF(log);
  if (name == "log2") return JX_REF(log2);
  if (name == "log1p") return JX_REF(log1p);
  if (name == "tanh") return JX_REF(tanh);
  if (name == "sin") return JX_REF(sin);
  if (name == "cos") return JX_REF(cos);
  if (name == "tan") return JX_REF(tan);
  if (name == "atan") return JX_REF(atan);
  if (name == "asin") return JX_REF(asin);
  if (name == "acos") return JX_REF(acos);
  if (name == "sinh") return JX_REF(sinh);
  if (name == "cosh") return JX_REF(cosh);
  if (name == "asinh") return JX_REF(asinh);
  if (name == "acosh") return JX_REF(acosh);
  if (name == "atanh") return JX_REF(atanh);
  if (name == "erf") return JX_REF(erf);
  if (name == "erfc") return JX_REF(erfc);
  if (name == "cbrt") return JX_REF(cbrt);
  if (name == "logistic")
    return Ref{[](double x) { return static_cast<double>(logistic_ref(x)); }, logistic_ref};
  FAIL("no reference for " << name);
  return {};
}

Ref2 binary_ref(const std::string& name) {
  if (name == "atan2")
    return Ref2{[](double y, double x) { return std::atan2(y, x); }, [](LD y, LD x) { return std::atan2(y, x); }};
  if (name == "pow")
    return Ref2{[](double x, double y) { return std::pow(x, y); }, [](LD x, LD y) { return std::pow(x, y); }};
  FAIL("no reference for " << name);
  return {};
}

// ------------------------------------------------------------------------------------------
// Error in ulp.

/// |y - ref| in units of the last place of T at ref. Special outcomes must match exactly:
/// NaN for NaN, the same infinity, the same signed zero; those mismatches count as 1e9 ulp.
template <class T>
double ulp_error(T y, LD ref) {
  constexpr double kWrong = 1e9;
  if (std::isnan(ref)) return std::isnan(y) ? 0.0 : kWrong;
  if (std::isnan(y)) return kWrong;
  T rounded = static_cast<T>(ref);  // the correctly rounded result (up to double rounding)
  if (std::isinf(rounded) || std::isinf(y)) {
    if (y == rounded) return 0.0;
    // Overflow boundary: the largest finite value for a reference just past it is 1 ulp off.
    if (std::isinf(y) && std::fabs(ref) <= std::numeric_limits<T>::max()) return 1.0;
    if (std::isinf(rounded) && std::fabs(y) == std::numeric_limits<T>::max()) return 1.0;
    return kWrong;
  }
  if (rounded == 0 && y == 0 && std::signbit(rounded) != std::signbit(y)) return kWrong;
  int exponent = 0;
  std::frexp(ref, &exponent);
  exponent = std::max(exponent, std::numeric_limits<T>::min_exponent);
  LD ulp = std::ldexp(1.0L, exponent - std::numeric_limits<T>::digits);
  return static_cast<double>(std::fabs(static_cast<LD>(y) - ref) / ulp);
}

template <class T>
std::string show(T x) {
  std::ostringstream os;
  os.precision(std::numeric_limits<T>::max_digits10);
  os << x;
  return os.str();
}

template <class T>
struct Worst {
  double ulp = 0;
  T x1 = 0, x2 = 0, y = 0;
  LD ref = 0;
  void add(double err, T a, T b, T got, LD r) {
    if (err > ulp || (std::isnan(err) && !std::isnan(ulp))) {
      ulp = err;
      x1 = a;
      x2 = b;
      y = got;
      ref = r;
    }
  }
};

// ------------------------------------------------------------------------------------------
// Inputs.

/// Random finite values of T over the whole range: random bit patterns (half of them) and
/// log-uniform magnitudes between the smallest subnormal and the largest value.
template <class T>
void add_full_range(std::vector<T>& xs, std::mt19937_64& rng, size_t count, bool positive_only = false) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int lo = std::numeric_limits<T>::min_exponent - std::numeric_limits<T>::digits;
  int hi = std::numeric_limits<T>::max_exponent;
  for (size_t i = 0; i < count; ++i) {
    T x;
    if (i % 2 == 0) {
      U bits = static_cast<U>(rng());
      std::memcpy(&x, &bits, sizeof x);
      if (!std::isfinite(x)) continue;
    } else {
      x = static_cast<T>(std::ldexp(1.0L + unit(rng), lo + static_cast<int>(unit(rng) * (hi - lo - 1))));
      if (!std::isfinite(x)) x = std::numeric_limits<T>::max();
      if (rng() & 1) x = -x;
    }
    xs.push_back(positive_only ? std::fabs(x) : x);
  }
}

/// `count` evenly spaced values in [lo, hi] plus as many uniform random ones.
template <class T>
void add_dense(std::vector<T>& xs, std::mt19937_64& rng, double lo, double hi, size_t count) {
  std::uniform_real_distribution<double> dist(lo, hi);
  for (size_t i = 0; i < count; ++i) {
    xs.push_back(static_cast<T>(lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(count - 1)));
    xs.push_back(static_cast<T>(dist(rng)));
  }
}

template <class T>
std::vector<T> special_values() {
  using L = std::numeric_limits<T>;
  std::vector<T> v = {T(0),          T(1),         T(0.5),      T(2),       T(3),         L::infinity(),
                      L::denorm_min(), L::min(),   L::max(),    L::epsilon(), T(1e-30),   T(1e-10),
                      T(0.1),        T(0.75),      T(1.5),      T(10),      T(100),       T(1e10),
                      T(88.72283935546875), T(89.4159851), T(103.972), T(709.782712893384),
                      T(710.4758600739439), T(745.1332191019412), T(27.2), T(3.14159265358979323846),
                      T(1.5707963267948966), T(0.7853981633974483), T(9.01), T(19.06),
                      std::ldexp(T(1), L::digits - 1), std::ldexp(T(1), L::digits), std::ldexp(T(1), 45),
                      std::ldexp(T(1), L::max_exponent - 1)};
  size_t count = v.size();
  for (size_t i = 0; i < count; ++i) {
    v.push_back(-v[i]);
    v.push_back(std::nextafter(v[i], L::infinity()));
    v.push_back(std::nextafter(v[i], -L::infinity()));
  }
  v.push_back(L::quiet_NaN());
  v.push_back(-L::quiet_NaN());
  return v;
}

struct Range {
  double lo, hi;
};

/// Interesting ranges per function (the full range is always added).
std::vector<Range> dense_ranges(const std::string& name, bool f64) {
  double e_hi = f64 ? 712 : 90, e_lo = f64 ? -748 : -106;
  if (name == "exp") return {{e_lo, e_hi}, {-1, 1}};
  if (name == "exp2") return {{f64 ? -1080.0 : -155.0, f64 ? 1030.0 : 130.0}, {-1, 1}};
  if (name == "expm1") return {{f64 ? -45.0 : -25.0, e_hi}, {-1, 1}, {-1e-3, 1e-3}};
  if (name == "log" || name == "log2") return {{0, 10}, {0.5, 2}, {0.99, 1.01}};
  if (name == "log1p") return {{-1, 10}, {-0.5, 0.5}, {-1e-4, 1e-4}};
  if (name == "tanh") return {{-25, 25}, {-1, 1}, {-1e-3, 1e-3}};
  if (name == "logistic") return {{e_lo, -e_lo}, {-20, 20}};
  if (name == "sin" || name == "cos" || name == "tan")
    return {{-10, 10}, {-1e5, 1e5}, {-1e9, 1e9}, {-1e22, 1e22}};
  if (name == "atan") return {{-10, 10}, {-1, 1}};
  if (name == "asin" || name == "acos") return {{-1.05, 1.05}, {-0.6, 0.6}, {0.95, 1.0}, {-1.0, -0.95}};
  if (name == "sinh" || name == "cosh") return {{f64 ? -712.0 : -90.0, f64 ? 712.0 : 90.0}, {-3, 3}, {-1e-3, 1e-3}};
  if (name == "asinh") return {{-10, 10}, {-1, 1}, {-1e5, 1e5}};
  if (name == "acosh") return {{0.9, 10}, {1, 1.1}, {1, 1e5}};
  if (name == "atanh") return {{-1.05, 1.05}, {-0.6, 0.6}, {0.9, 1.0}};
  if (name == "erf") return {{-7, 7}, {-1, 1}};
  if (name == "erfc") return {{-7, 30}, {-1, 1}, {0.8, 6}};
  if (name == "cbrt") return {{-10, 10}, {-1e-3, 1e-3}};
  return {{-10, 10}};
}

template <class T>
std::vector<T> unary_inputs(const std::string& name, size_t dense, size_t full) {
  std::mt19937_64 rng(std::hash<std::string>{}(name) ^ sizeof(T));
  std::vector<T> xs = special_values<T>();
  for (const Range& r : dense_ranges(name, sizeof(T) == 8)) add_dense(xs, rng, r.lo, r.hi, dense);
  add_full_range(xs, rng, full);
  return xs;
}

// ------------------------------------------------------------------------------------------
// Running and checking.

template <class T>
Worst<T> unary_worst(const std::string& name, const std::vector<T>& xs, int width) {
  std::vector<T> ys(xs.size());
  if constexpr (sizeof(T) == 4)
    vmath_compile_f32(name, width)(xs.data(), ys.data(), static_cast<int64_t>(xs.size()));
  else
    vmath_compile_f64(name, width)(xs.data(), ys.data(), static_cast<int64_t>(xs.size()));
  Ref ref = unary_ref(name);
  Worst<T> worst;
  for (size_t i = 0; i < xs.size(); ++i) {
    LD r = sizeof(T) == 4 ? static_cast<LD>(ref.f32(xs[i])) : ref.f64(xs[i]);
    worst.add(ulp_error(ys[i], r), xs[i], T(0), ys[i], r);
  }
  return worst;
}

template <class T>
Worst<T> binary_worst(const std::string& name, const std::vector<T>& x1, const std::vector<T>& x2, int width) {
  std::vector<T> ys(x1.size());
  if constexpr (sizeof(T) == 4)
    vmath_compile_binary_f32(name, width)(x1.data(), x2.data(), ys.data(), static_cast<int64_t>(x1.size()));
  else
    vmath_compile_binary_f64(name, width)(x1.data(), x2.data(), ys.data(), static_cast<int64_t>(x1.size()));
  Ref2 ref = binary_ref(name);
  Worst<T> worst;
  for (size_t i = 0; i < x1.size(); ++i) {
    LD r = sizeof(T) == 4 ? static_cast<LD>(ref.f32(x1[i], x2[i])) : ref.f64(x1[i], x2[i]);
    worst.add(ulp_error(ys[i], r), x1[i], x2[i], ys[i], r);
  }
  return worst;
}

template <class T>
std::string describe(const std::string& name, const Worst<T>& w, int arity) {
  std::ostringstream os;
  os.precision(std::numeric_limits<T>::max_digits10);
  os << name << (sizeof(T) == 4 ? " f32" : " f64") << ": max " << w.ulp << " ulp at x = " << w.x1;
  if (arity == 2) os << ", " << w.x2;
  os << " (got " << w.y << ", reference " << static_cast<double>(w.ref) << ")";
  return os.str();
}

struct Bound {
  const char* name;
  double f32;  // max ulp
  double f64;
};

// The accuracy each function is held to (measured maxima are printed by the test; the inputs
// are fixed and the generated code has no fast-math, so results are the same on every x86).
const Bound kUnary[] = {
    {"exp", 1.0, 1.0},   {"exp2", 1.0, 1.0},     {"expm1", 1.5, 1.5}, {"log", 1.0, 1.0},   {"log2", 1.5, 1.0},
    {"log1p", 1.0, 1.0}, {"tanh", 1.5, 1.5},     {"logistic", 1.0, 1.0}, {"sin", 1.0, 1.0}, {"cos", 1.0, 1.0},
    {"tan", 1.0, 1.5},   {"atan", 1.0, 1.0},     {"asin", 1.0, 1.0},  {"acos", 1.0, 1.0},  {"sinh", 1.0, 1.0},
    {"cosh", 1.0, 1.0},  {"asinh", 1.0, 1.5},    {"acosh", 1.0, 1.5}, {"atanh", 1.0, 1.5}, {"erf", 1.0, 1.0},
    {"erfc", 1.0, 1.5},  {"cbrt", 1.0, 1.0},
};

template <class T>
void check_unary(const Bound& bound, int width) {
  bool f32 = sizeof(T) == 4;
  auto xs = unary_inputs<T>(bound.name, width ? 20000 : 100000, width ? 20000 : 100000);
  Worst<T> w = unary_worst<T>(bound.name, xs, width);
  std::string text = describe(bound.name, w, 1) + (width ? " [explicit vectors]" : "");
  MESSAGE(text);
  CHECK_MESSAGE(w.ulp <= (f32 ? bound.f32 : bound.f64), describe(bound.name, w, 1));
}

/// Pairs for atan2 (y, x) or pow (x, y): all pairs of special values, full-range random pairs
/// and function-specific dense sets.
template <class T>
void binary_inputs(const std::string& name, size_t count, std::vector<T>& a, std::vector<T>& b) {
  std::mt19937_64 rng(std::hash<std::string>{}(name) ^ sizeof(T));
  std::vector<T> specials = special_values<T>();
  for (T u : specials)
    for (T v : specials) {
      a.push_back(u);
      b.push_back(v);
    }
  std::vector<T> r1, r2;
  add_full_range(r1, rng, count);
  add_full_range(r2, rng, count);
  size_t n = std::min(r1.size(), r2.size());
  a.insert(a.end(), r1.begin(), r1.begin() + n);
  b.insert(b.end(), r2.begin(), r2.begin() + n);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (name == "atan2") {
    for (size_t i = 0; i < count; ++i) {
      a.push_back(static_cast<T>(20 * unit(rng) - 10));
      b.push_back(static_cast<T>(20 * unit(rng) - 10));
    }
  } else {  // pow
    double range = sizeof(T) == 8 ? 700 : 85;
    for (size_t i = 0; i < count; ++i) {
      // |x| log-uniform in [2^-20, 2^20], y with |y log|x|| up to the exp range (results near
      // the overflow and underflow thresholds included).
      T x = static_cast<T>(std::exp2(40 * unit(rng) - 20));
      double ly = std::log(static_cast<double>(x));
      T y = static_cast<T>((2 * unit(rng) - 1) * range / (std::fabs(ly) + 1e-3));
      if (i % 4 == 0) {  // negative x with an integer y
        x = -x;
        y = std::round(y);
      }
      if (i % 4 == 1) x = static_cast<T>(0.5 + unit(rng));  // near 1
      a.push_back(x);
      b.push_back(y);
    }
  }
}

template <class T>
void check_binary(const Bound& bound, int width) {
  bool f32 = sizeof(T) == 4;
  std::vector<T> a, b;
  binary_inputs<T>(bound.name, width ? 20000 : 200000, a, b);
  Worst<T> w = binary_worst<T>(bound.name, a, b, width);
  std::string text = describe(bound.name, w, 2) + (width ? " [explicit vectors]" : "");
  MESSAGE(text);
  CHECK_MESSAGE(w.ulp <= (f32 ? bound.f32 : bound.f64), describe(bound.name, w, 2));
}

const Bound kBinary[] = {{"atan2", 1.0, 1.5}, {"pow", 1.0, 1.5}};

// ------------------------------------------------------------------------------------------

TEST_CASE("vmath: binary functions are within their ulp bounds, C99 special cases included") {
  for (const Bound& bound : kBinary) {
    SUBCASE(bound.name) {
      check_binary<float>(bound, 0);
      check_binary<double>(bound, 0);
      check_binary<float>(bound, 8);
      check_binary<double>(bound, 4);
    }
  }
}

TEST_CASE("vmath: unary functions are within their ulp bounds over dense and full-range sweeps") {
  for (const Bound& bound : kUnary) {
    SUBCASE(bound.name) {
      check_unary<float>(bound, 0);
      check_unary<double>(bound, 0);
    }
  }
}

TEST_CASE("vmath: emitting on explicit vectors gives the same accuracy") {
  for (const Bound& bound : kUnary) {
    SUBCASE(bound.name) {
      check_unary<float>(bound, 8);
      check_unary<double>(bound, 4);
    }
  }
}

TEST_CASE("vmath: special values") {
  float inf = INFINITY, nan = NAN;
  auto f = [](const char* name, float x) {
    float y;
    vmath_compile_f32(name)(&x, &y, 1);
    return y;
  };
  auto d = [](const char* name, double x) {
    double y;
    vmath_compile_f64(name)(&x, &y, 1);
    return y;
  };
  CHECK(f("exp", -inf) == 0.0f);
  CHECK(f("exp", inf) == inf);
  CHECK(std::isnan(f("exp", nan)));
  CHECK(f("exp", 89.0f) == inf);
  CHECK(f("exp", -104.0f) == 0.0f);
  CHECK(f("exp", -100.0f) > 0.0f);  // subnormal
  CHECK(d("exp", 709.78) < INFINITY);
  CHECK(d("exp", 709.79) == INFINITY);
  CHECK(d("exp", -745.0) > 0.0);
  CHECK(d("exp", -745.2) == 0.0);
  CHECK(f("log", 0.0f) == -inf);
  CHECK(f("log", -0.0f) == -inf);
  CHECK(std::isnan(f("log", -1.0f)));
  CHECK(f("log", inf) == inf);
  CHECK(f("log", 1.0f) == 0.0f);
  CHECK(d("log", 4.9406564584124654e-324) == doctest::Approx(-744.44007192138126));
  CHECK(std::signbit(f("expm1", -0.0f)));
  CHECK(f("expm1", -inf) == -1.0f);
  CHECK(std::signbit(f("log1p", -0.0f)));
  CHECK(f("log1p", -1.0f) == -inf);
  CHECK(std::isnan(f("log1p", -2.0f)));
  CHECK(std::signbit(f("tanh", -0.0f)));
  CHECK(f("tanh", inf) == 1.0f);
  CHECK(f("tanh", -inf) == -1.0f);
  CHECK(d("tanh", -inf) == -1.0);
  CHECK(f("logistic", -inf) == 0.0f);
  CHECK(f("logistic", inf) == 1.0f);
  CHECK(f("logistic", -100.0f) > 0.0f);
  CHECK(d("logistic", -700.0) > 0.0);
  CHECK(std::signbit(f("sin", -0.0f)));
  CHECK(std::signbit(d("sin", -0.0)));
  CHECK(std::isnan(f("sin", inf)));
  CHECK(std::isnan(d("cos", -INFINITY)));
  CHECK(d("cos", 0.0) == 1.0);
  CHECK(std::signbit(d("tan", -0.0)));
}

/// The non-intrinsic calls in an IR text.
std::vector<std::string> calls_in(const std::string& ir) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = ir.find("call ", pos)) != std::string::npos) {
    size_t end = ir.find('\n', pos);
    std::string line = ir.substr(pos, end - pos);
    if (line.find("@llvm.") == std::string::npos) out.push_back(line);
    pos = end;
  }
  return out;
}

TEST_CASE("vmath: every loop vectorizes without libm calls") {
  std::vector<std::string> names;
  for (const Bound& b : kUnary) names.push_back(b.name);
  for (const Bound& b : kBinary) names.push_back(b.name);
  for (const std::string& name : names) {
    for (bool f64 : {false, true}) {
      CAPTURE(name);
      CAPTURE(f64);
      std::string ir = vmath_loop_ir(name, f64);
      CHECK(ir.find("vector.body") != std::string::npos);
      CHECK(ir.find(f64 ? " x double>" : " x float>") != std::string::npos);
      std::vector<std::string> calls = calls_in(ir);
      for (const std::string& c : calls) MESSAGE(c);
      CHECK(calls.empty());
    }
  }
}

TEST_CASE("vmath: compiling and running from several threads") {
  const char* names[] = {"exp", "log", "tanh", "logistic", "sin", "cos", "erf", "expm1"};
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> x(1000), y(1000);
      for (int i = 0; i < 1000; ++i) x[i] = -5.0f + 0.01f * static_cast<float>(i + t);
      // Two threads share each name, so the compile cache sees concurrent requests (width 16
      // is compiled nowhere else).
      UnaryF32 f = vmath_compile_f32(names[t / 2 + (t % 2) * 4], 16);
      f(x.data(), y.data(), 1000);
      Ref ref = unary_ref(names[t / 2 + (t % 2) * 4]);
      int good = 1;
      for (int i = 0; i < 1000; ++i) good &= ulp_error(y[i], static_cast<LD>(ref.f32(x[i]))) <= 2.0;
      ok[t] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) CHECK(ok[t] == 1);
}

TEST_CASE("vmath: unknown names and wrong arities are reported") {
  CHECK_THROWS_WITH_AS(vmath_compile_f32("nope"), doctest::Contains("unknown function 'nope'"), jx::ValueError);
  CHECK_THROWS_WITH_AS(vmath_compile_f64("exp", -1), doctest::Contains("width"), jx::ValueError);
}

}  // namespace
