// Eager CPU kernels for the elementwise primitives.
//
// The float transcendental kernels vectorize through glibc's libmvec: the declarations below
// give expf, tanhf, ... GCC's `simd` attribute (what <math.h> does under -ffast-math), and this
// file is compiled with -fno-math-errno (see the end of the top-level CMakeLists.txt), so the
// loops call _ZGVeN16v_tanhf & co. libmvec keeps IEEE results for NaN/inf inputs (it falls back
// to the scalar routine for special lanes); nothing here assumes finite math.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/elementwise.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define JX_SIMD_DECL __attribute__((simd("notinbranch")))
extern "C" {
JX_SIMD_DECL float expf(float);
JX_SIMD_DECL double exp(double);
JX_SIMD_DECL float logf(float);
JX_SIMD_DECL double log(double);
JX_SIMD_DECL float log1pf(float);
JX_SIMD_DECL double log1p(double);
JX_SIMD_DECL float expm1f(float);
JX_SIMD_DECL double expm1(double);
JX_SIMD_DECL float sinf(float);
JX_SIMD_DECL double sin(double);
JX_SIMD_DECL float cosf(float);
JX_SIMD_DECL double cos(double);
JX_SIMD_DECL float tanf(float);
JX_SIMD_DECL double tan(double);
JX_SIMD_DECL float tanhf(float);
JX_SIMD_DECL double tanh(double);
JX_SIMD_DECL float sinhf(float);
JX_SIMD_DECL double sinh(double);
JX_SIMD_DECL float coshf(float);
JX_SIMD_DECL double cosh(double);
JX_SIMD_DECL float asinf(float);
JX_SIMD_DECL double asin(double);
JX_SIMD_DECL float acosf(float);
JX_SIMD_DECL double acos(double);
JX_SIMD_DECL float atanf(float);
JX_SIMD_DECL double atan(double);
JX_SIMD_DECL float erff(float);
JX_SIMD_DECL double erf(double);
JX_SIMD_DECL float atan2f(float, float);
JX_SIMD_DECL double atan2(double, double);
JX_SIMD_DECL float powf(float, float);
JX_SIMD_DECL double pow(double, double);
}
#undef JX_SIMD_DECL
#endif

namespace jx::cpu {
namespace {

// Signed integer arithmetic wraps (as XLA) instead of being undefined on overflow.
template <class T>
T wrap_add(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <class T>
T wrap_sub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <class T>
T wrap_mul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
template <class T>
T wrap_neg(T a) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(U(0) - static_cast<U>(a));
}

// psi(x): reflection for x <= 0, recurrence up to x >= 10, then the asymptotic series.
// Poles (non-positive integers) and -inf give NaN, as XLA.
template <class T>
T digamma_impl(T xin) {
  double x = static_cast<double>(xin);
  if (std::isnan(x) || x == -std::numeric_limits<double>::infinity()) return std::numeric_limits<T>::quiet_NaN();
  if (x == std::numeric_limits<double>::infinity()) return std::numeric_limits<T>::infinity();
  double result = 0.0;
  if (x <= 0.0) {
    if (x == std::floor(x)) return std::numeric_limits<T>::quiet_NaN();
    // psi(x) = psi(1 - x) - pi / tan(pi x)
    constexpr double pi = 3.141592653589793238462643383279502884;
    result = -pi / std::tan(pi * x);
    x = 1.0 - x;
  }
  while (x < 10.0) {
    result -= 1.0 / x;
    x += 1.0;
  }
  double f = 1.0 / (x * x);
  // psi(x) ~ ln x - 1/2x - 1/12x^2 + 1/120x^4 - 1/252x^6 + 1/240x^8 - 1/132x^10
  double series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
  result += std::log(x) - 0.5 / x - series;
  return static_cast<T>(result);
}

template <class T>
T lgamma_impl(T x) {
  int sign = 0;
  if constexpr (std::is_same_v<T, float>) {
    return ::lgammaf_r(x, &sign);  // the _r forms do not write the global signgam (thread-safe)
  } else {
    return ::lgamma_r(x, &sign);
  }
}

template <class T>
T integer_pow_impl(T x, int64_t y) {
  uint64_t n = y < 0 ? static_cast<uint64_t>(-(y + 1)) + 1 : static_cast<uint64_t>(y);
  T acc = T(1), base = x;
  while (n) {
    if constexpr (std::is_integral_v<T>) {
      if (n & 1) acc = wrap_mul(acc, base);
      base = wrap_mul(base, base);
    } else {
      if (n & 1) acc *= base;
      base *= base;
    }
    n >>= 1;
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (y < 0) return T(1) / acc;
  }
  return acc;
}

// y = f(x) for float types, written as a plain loop over raw pointers so that GCC can
// vectorize calls to the simd-declared libm functions.
template <class F>
Kernel float_unary(F f) {
  return [f](std::span<const Array> in, std::span<Array> out, const Params&) {
    dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
      using T = decltype(t);
      const T* __restrict x = in[0].data<T>();
      T* __restrict y = out[0].mutable_data<T>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
      });
    });
  };
}

template <class Out, class F>
Kernel compare(F f) {
  return map_binary_to<AllTypes, Out>(f);
}

void select_n_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  const Array& pred = in[0];
  const int64_t ncases = static_cast<int64_t>(in.size()) - 1;
  const bool pred_scalar = pred.ndim() == 0;
  dispatch(out[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    std::vector<const T*> cases;
    for (int64_t c = 0; c < ncases; ++c) cases.push_back(in[c + 1].data<T>());
    T* y = out[0].mutable_data<T>();
    auto pick = [&](auto p) -> int64_t {
      int64_t c = static_cast<int64_t>(p);
      return c < 0 ? 0 : (c >= ncases ? ncases - 1 : c);  // clamp out-of-range int32 indices
    };
    dispatch(pred.dtype(), TypeList<bool, int32_t>{}, [&](auto pt) {
      using P = decltype(pt);
      const P* p = pred.data<P>();
      if (pred_scalar) {
        const T* src = cases[pick(p[0])];
        parallel_for(out[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = src[i];
        });
      } else if (ncases == 2) {
        const T* c0 = cases[0];
        const T* c1 = cases[1];
        parallel_for(out[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = pick(p[i]) ? c1[i] : c0[i];
        });
      } else {
        parallel_for(out[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = cases[pick(p[i])][i];
        });
      }
    });
  });
}

void convert_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  dispatch(in[0].dtype(), AllTypes{}, [&](auto s) {
    using S = decltype(s);
    dispatch(out[0].dtype(), AllTypes{}, [&](auto d) {
      using D = decltype(d);
      const S* x = in[0].data<S>();
      D* y = out[0].mutable_data<D>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if constexpr (std::is_same_v<D, bool>) {
            y[i] = x[i] != S(0);
          } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
            // Saturating float->int (C++ leaves out-of-range undefined); NaN -> 0.
            S v = x[i];
            if (std::isnan(v)) y[i] = 0;
            else if (v >= static_cast<S>(std::numeric_limits<D>::max())) y[i] = std::numeric_limits<D>::max();
            else if (v <= static_cast<S>(std::numeric_limits<D>::min())) y[i] = std::numeric_limits<D>::min();
            else y[i] = static_cast<D>(v);
          } else {
            y[i] = static_cast<D>(x[i]);
          }
        }
      });
    });
  });
}

}  // namespace

void register_elementwise_kernels() {
  constexpr auto cpu = DeviceKind::cpu;

  // ---- binary arithmetic ----
  register_kernel(add_p, cpu, map_binary<NumericTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) return wrap_add(a, b);
                    else return T(a + b);
                  }));
  register_kernel(sub_p, cpu, map_binary<NumericTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) return wrap_sub(a, b);
                    else return T(a - b);
                  }));
  register_kernel(mul_p, cpu, map_binary<NumericTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) return wrap_mul(a, b);
                    else return T(a * b);
                  }));
  register_kernel(div_p, cpu, map_binary<NumericTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_integral_v<T>) {
                      // Truncating; x / 0 -> 0 and INT_MIN / -1 -> INT_MIN instead of trapping.
                      if (b == 0) return T(0);
                      if constexpr (std::is_signed_v<T>) {
                        if (b == T(-1)) return wrap_neg(a);
                      }
                      return T(a / b);
                    } else {
                      return a / b;
                    }
                  }));
  register_kernel(rem_p, cpu, map_binary<NumericTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_integral_v<T>) {
                      if (b == 0) return T(0);  // numpy's x % 0 (no trap)
                      if constexpr (std::is_signed_v<T>) {
                        if (b == T(-1)) return T(0);
                      }
                      return T(a % b);
                    } else {
                      return std::fmod(a, b);
                    }
                  }));
  register_kernel(max_p, cpu, map_binary<AllTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_floating_point_v<T>) {
                      if (a != a) return a;  // NaN propagates
                      if (b != b) return b;
                    }
                    return a < b ? b : a;
                  }));
  register_kernel(min_p, cpu, map_binary<AllTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_floating_point_v<T>) {
                      if (a != a) return a;
                      if (b != b) return b;
                    }
                    return b < a ? b : a;
                  }));
  register_kernel(pow_p, cpu, map_binary<FloatTypes>([](auto a, auto b) { return std::pow(a, b); }));
  register_kernel(atan2_p, cpu, map_binary<FloatTypes>([](auto a, auto b) { return std::atan2(a, b); }));

  // ---- comparisons and logic ----
  register_kernel(eq_p, cpu, compare<bool>([](auto a, auto b) { return a == b; }));
  register_kernel(ne_p, cpu, compare<bool>([](auto a, auto b) { return a != b; }));
  register_kernel(lt_p, cpu, compare<bool>([](auto a, auto b) { return a < b; }));
  register_kernel(le_p, cpu, compare<bool>([](auto a, auto b) { return a <= b; }));
  register_kernel(gt_p, cpu, compare<bool>([](auto a, auto b) { return a > b; }));
  register_kernel(ge_p, cpu, compare<bool>([](auto a, auto b) { return a >= b; }));
  using LogicTypes = TypeList<bool, int32_t, int64_t, uint32_t>;
  register_kernel(and_p, cpu, map_binary<LogicTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_same_v<T, bool>) return a && b;
                    else return T(a & b);
                  }));
  register_kernel(or_p, cpu, map_binary<LogicTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_same_v<T, bool>) return a || b;
                    else return T(a | b);
                  }));
  register_kernel(not_p, cpu, map_unary<LogicTypes>([](auto x) {
                    using T = decltype(x);
                    if constexpr (std::is_same_v<T, bool>) return !x;
                    else return T(~x);
                  }));

  register_kernel(xor_p, cpu, map_binary<LogicTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_same_v<T, bool>) return a != b;
                    else return T(a ^ b);
                  }));
  // Shift amounts are read as unsigned (as XLA): >= the bit width, or negative, shifts all
  // bits out (0, or the sign fill for the arithmetic right shift).
  register_kernel(shift_left_p, cpu, map_binary<IntTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    using U = std::make_unsigned_t<T>;
                    if (static_cast<U>(b) >= 8 * sizeof(T)) return T(0);
                    return static_cast<T>(static_cast<U>(a) << static_cast<U>(b));
                  }));
  register_kernel(shift_right_logical_p, cpu, map_binary<IntTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    using U = std::make_unsigned_t<T>;
                    if (static_cast<U>(b) >= 8 * sizeof(T)) return T(0);
                    return static_cast<T>(static_cast<U>(a) >> static_cast<U>(b));
                  }));
  register_kernel(shift_right_arithmetic_p, cpu, map_binary<IntTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    using U = std::make_unsigned_t<T>;
                    using S = std::make_signed_t<T>;
                    const S sa = static_cast<S>(a);  // the bit pattern, read as signed
                    if (static_cast<U>(b) >= 8 * sizeof(T)) return static_cast<T>(sa < 0 ? S(-1) : S(0));
                    return static_cast<T>(sa >> static_cast<U>(b));  // arithmetic (C++20)
                  }));
  register_kernel(bitcast_convert_type_p, cpu, [](std::span<const Array> in, std::span<Array> out, const Params&) {
    dispatch(in[0].dtype(), NumericTypes{}, [&](auto s) {
      using S = decltype(s);
      dispatch(out[0].dtype(), NumericTypes{}, [&](auto d) {
        using D = decltype(d);
        if constexpr (sizeof(S) == sizeof(D)) {
          const S* x = in[0].data<S>();
          D* y = out[0].mutable_data<D>();
          parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
            if (e > b) std::memcpy(y + b, x + b, static_cast<size_t>(e - b) * sizeof(S));
          });
        }
      });
    });
  });

  // ---- unary, all numeric types ----
  register_kernel(neg_p, cpu, map_unary<NumericTypes>([](auto x) {
                    using T = decltype(x);
                    if constexpr (std::is_integral_v<T>) return wrap_neg(x);
                    else return T(-x);
                  }));
  register_kernel(abs_p, cpu, map_unary<TypeList<int32_t, int64_t, float, double>>([](auto x) {
                    using T = decltype(x);
                    if constexpr (std::is_integral_v<T>) return x < 0 ? wrap_neg(x) : x;
                    else return std::fabs(x);
                  }));
  register_kernel(sign_p, cpu, map_unary<NumericTypes>([](auto x) {
                    using T = decltype(x);
                    // NaN and signed zeros come back unchanged, as lax.sign.
                    if constexpr (std::is_unsigned_v<T>) return T(x > 0 ? 1 : 0);
                    else return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
                  }));
  register_kernel(square_p, cpu, map_unary<NumericTypes>([](auto x) {
                    using T = decltype(x);
                    if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) return wrap_mul(x, x);
                    else return T(x * x);
                  }));
  register_kernel(integer_pow_p, cpu, [](std::span<const Array> in, std::span<Array> out, const Params& p) {
    const int64_t y = p.get_int("y");
    dispatch(in[0].dtype(), NumericTypes{}, [&](auto t) {
      using T = decltype(t);
      const T* x = in[0].data<T>();
      T* z = out[0].mutable_data<T>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) z[i] = integer_pow_impl(x[i], y);
      });
    });
  });

  // ---- unary, floats (vectorized through libmvec where it has the function) ----
  register_kernel(exp_p, cpu, float_unary([](auto x) { return std::exp(x); }));
  register_kernel(log_p, cpu, float_unary([](auto x) { return std::log(x); }));
  register_kernel(log1p_p, cpu, float_unary([](auto x) { return std::log1p(x); }));
  register_kernel(expm1_p, cpu, float_unary([](auto x) { return std::expm1(x); }));
  register_kernel(sin_p, cpu, float_unary([](auto x) { return std::sin(x); }));
  register_kernel(cos_p, cpu, float_unary([](auto x) { return std::cos(x); }));
  register_kernel(tan_p, cpu, float_unary([](auto x) { return std::tan(x); }));
  register_kernel(tanh_p, cpu, float_unary([](auto x) { return std::tanh(x); }));
  register_kernel(sinh_p, cpu, float_unary([](auto x) { return std::sinh(x); }));
  register_kernel(cosh_p, cpu, float_unary([](auto x) { return std::cosh(x); }));
  register_kernel(asin_p, cpu, float_unary([](auto x) { return std::asin(x); }));
  register_kernel(acos_p, cpu, float_unary([](auto x) { return std::acos(x); }));
  register_kernel(atan_p, cpu, float_unary([](auto x) { return std::atan(x); }));
  register_kernel(erf_p, cpu, float_unary([](auto x) { return std::erf(x); }));
  register_kernel(sqrt_p, cpu, float_unary([](auto x) { return std::sqrt(x); }));
  register_kernel(rsqrt_p, cpu, float_unary([](auto x) {
                    using T = decltype(x);
                    return T(1) / std::sqrt(x);
                  }));
  // 1 / (1 + exp(-x)): exp overflows to inf for very negative x, giving exactly 0.
  register_kernel(logistic_p, cpu, float_unary([](auto x) {
                    using T = decltype(x);
                    return T(1) / (T(1) + std::exp(-x));
                  }));
  register_kernel(floor_p, cpu, float_unary([](auto x) { return std::floor(x); }));
  register_kernel(ceil_p, cpu, float_unary([](auto x) { return std::ceil(x); }));
  register_kernel(round_p, cpu, [](std::span<const Array> in, std::span<Array> out, const Params& p) {
    const bool to_even = p.get_int("rounding_method") == 1;
    dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
      using T = decltype(t);
      const T* x = in[0].data<T>();
      T* y = out[0].mutable_data<T>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        // nearbyint uses the current rounding mode, which jx never changes (to nearest even).
        if (to_even) {
          for (int64_t i = b; i < e; ++i) y[i] = std::nearbyint(x[i]);
        } else {
          for (int64_t i = b; i < e; ++i) y[i] = std::round(x[i]);
        }
      });
    });
  });
  register_kernel(lgamma_p, cpu, map_unary<FloatTypes>([](auto x) { return lgamma_impl(x); }));
  register_kernel(digamma_p, cpu, map_unary<FloatTypes>([](auto x) { return digamma_impl(x); }));
  register_kernel(is_finite_p, cpu, map_unary_to<FloatTypes, bool>([](auto x) { return std::isfinite(x); }));

  // ---- selection, identity, conversion ----
  register_kernel(select_n_p, cpu, select_n_kernel);
  register_kernel(stop_gradient_p, cpu, map_unary<AllTypes>([](auto x) { return x; }));
  register_kernel(convert_element_type_p, cpu, convert_kernel);
}

}  // namespace jx::cpu
