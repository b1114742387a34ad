// Eager CPU kernels for the special-function primitives (core/prims/special.h).
//
// Every kernel is a branch-free loop over raw pointers: both sides of a range split are
// computed and selected, so GCC vectorizes the loop. The few libm calls (exp, log, log1p, erfc)
// are declared `simd` and `const` below (sqrt `const`), which lets the vectorizer call glibc's libmvec
// variants (_ZGVdN4v_erfc & co.) without -fno-math-errno (errno is never read in jx).
// Coefficients: Cephes (i0e, i1e: Chebyshev expansions on [0, 8] and (8, inf)) and
// M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011).

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <type_traits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/special.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define JX_SPECIAL_DECL __attribute__((simd("notinbranch"), const, nothrow))
#else
#define JX_SPECIAL_DECL __attribute__((const, nothrow))
#endif
extern "C" {
JX_SPECIAL_DECL float expf(float);
JX_SPECIAL_DECL double exp(double);
JX_SPECIAL_DECL float logf(float);
JX_SPECIAL_DECL double log(double);
JX_SPECIAL_DECL float log1pf(float);
JX_SPECIAL_DECL double log1p(double);
JX_SPECIAL_DECL float erfcf(float);
JX_SPECIAL_DECL double erfc(double);
// No vector variant: `const` alone lets GCC emit the sqrt instruction without the errno path.
__attribute__((const, nothrow)) float sqrtf(float);
__attribute__((const, nothrow)) double sqrt(double);
}
#undef JX_SPECIAL_DECL

namespace jx::cpu {
namespace {

inline float vexp(float x) { return ::expf(x); }
inline double vexp(double x) { return ::exp(x); }
inline float vlog(float x) { return ::logf(x); }
inline double vlog(double x) { return ::log(x); }
inline float vlog1p(float x) { return ::log1pf(x); }
inline double vlog1p(double x) { return ::log1p(x); }
inline float verfc(float x) { return ::erfcf(x); }
inline double verfc(double x) { return ::erfc(x); }
inline float vsqrt(float x) { return ::sqrtf(x); }
inline double vsqrt(double x) { return ::sqrt(x); }

// Horner evaluation, coefficients from the highest degree down.
template <class T, size_t N>
inline T horner(T x, const T (&c)[N]) {
  T p = c[0];
#pragma GCC unroll 32
  for (size_t i = 1; i < N; ++i) p = p * x + c[i];
  return p;
}

// Cephes' chbevl: sum of Chebyshev polynomials by Clenshaw's recurrence.
template <class T, size_t N>
inline T chbevl(T x, const T (&c)[N]) {
  T b0 = c[0], b1 = T(0), b2 = T(0);
#pragma GCC unroll 32
  for (size_t i = 1; i < N; ++i) {
    b2 = b1;
    b1 = b0;
    b0 = x * b1 - b2 + c[i];
  }
  return T(0.5) * (b0 - b2);
}

// ---- bessel_i0e / bessel_i1e ------------------------------------------------------------------

// exp(-x) I0(x) on [0, 8] in the variable x/2 - 2, and exp(-x) sqrt(x) I0(x) on (8, inf) in
// 32/x - 2 (Cephes i0.c; the float tables are the tails Cephes' i0f.c keeps).
constexpr double kI0eA[] = {
    -4.41534164647933937950E-18, 3.33079451882223809783E-17, -2.43127984654795469359E-16,
    1.71539128555513303061E-15,  -1.16853328779934516808E-14, 7.67618549860493561688E-14,
    -4.85644678311192946090E-13, 2.95505266312963983461E-12, -1.72682629144155570723E-11,
    9.67580903537323691224E-11,  -5.18979560163526290666E-10, 2.65982372468238665035E-9,
    -1.30002500998624804212E-8,  6.04699502254191894932E-8,  -2.67079385394061173391E-7,
    1.11738753912010371815E-6,   -4.41673835845875056359E-6, 1.64484480707288970893E-5,
    -5.75419501008210370398E-5,  1.88502885095841655729E-4,  -5.76375574538582365885E-4,
    1.63947561694133579842E-3,   -4.32430999505057594430E-3, 1.05464603945949983183E-2,
    -2.37374148058994688156E-2,  4.93052842396707084878E-2,  -9.49010970480476444210E-2,
    1.71620901522208775349E-1,   -3.04682672343198398683E-1, 6.76795274409476084995E-1};
constexpr double kI0eB[] = {
    -7.23318048787475395456E-18, -4.83050448594418207126E-18, 4.46562142029675999901E-17,
    3.46122286769746109310E-17,  -2.82762398051658348494E-16, -3.42548561967721913462E-16,
    1.77256013305652638360E-15,  3.81168066935262242075E-15,  -9.55484669882830764870E-15,
    -4.15056934728722208663E-14, 1.54008621752140982691E-14,  3.85277838274214270114E-13,
    7.18012445138366623367E-13,  -1.79417853150680611778E-12, -1.32158118404477131188E-11,
    -3.14991652796324136454E-11, 1.18891471078464383424E-11,  4.94060238822496958910E-10,
    3.39623202570838634515E-9,   2.26666899049817806459E-8,   2.04891858946906374183E-7,
    2.89137052083475648297E-6,   6.88975834691682398426E-5,   3.36911647825569408990E-3,
    8.04490411014108831608E-1};
// exp(-x) I1(x) / x on [0, 8] and exp(-x) sqrt(x) I1(x) on (8, inf) (Cephes i1.c).
constexpr double kI1eA[] = {
    2.77791411276104639959E-18,  -2.11142121435816608115E-17, 1.55363195773620046921E-16,
    -1.10559694773538630805E-15, 7.60068429473540693410E-15,  -5.04218550472791168711E-14,
    3.22379336594557470981E-13,  -1.98397439776494371520E-12, 1.17361862988909016308E-11,
    -6.66348972350202774223E-11, 3.62559028155211703701E-10,  -1.88724975172282928790E-9,
    9.38153738649577178388E-9,   -4.44505912879632808065E-8,  2.00329475355213526229E-7,
    -8.56872026469545474066E-7,  3.47025130813767847674E-6,   -1.32731636560394358279E-5,
    4.78156510755005422638E-5,   -1.61760815825896745588E-4,  5.12285956168575772895E-4,
    -1.51357245063125314899E-3,  4.15642294431288815669E-3,   -1.05640848946261981558E-2,
    2.47264490306265168283E-2,   -5.29459812080949914269E-2,  1.02643658689847095384E-1,
    -1.76416518357834055153E-1,  2.52587186443633654823E-1};
constexpr double kI1eB[] = {
    7.51729631084210481353E-18,  4.41434832307170791151E-18,  -4.65030536848935832153E-17,
    -3.20952592199342395980E-17, 2.96262899764595013876E-16,  3.30820231092092828324E-16,
    -1.88035477551078244854E-15, -3.81440307243700780478E-15, 1.04202769841288027642E-14,
    4.27244001671195135429E-14,  -2.10154184277266431302E-14, -4.08355111109219731823E-13,
    -7.19855177624590851209E-13, 2.03562854414708950722E-12,  1.41258074366137813316E-11,
    3.25260358301548823856E-11,  -1.89749581235054123450E-11, -5.58974346219658380687E-10,
    -3.83538038596423702205E-9,  -2.63146884688951950684E-8,  -2.51223623787020892529E-7,
    -3.88256480887769039346E-6,  -1.10588938762623716291E-4,  -9.76109749136146840777E-3,
    7.78576235018280120474E-1};

// The last N entries of a table, in T.
template <class T, size_t N>
struct Tail {
  T c[N];
  template <size_t M>
  constexpr explicit Tail(const double (&src)[M]) : c{} {
    static_assert(N <= M);
    for (size_t i = 0; i < N; ++i) c[i] = static_cast<T>(src[M - N + i]);
  }
};
// float keeps Cephes' single-precision lengths (the leading terms are below float's epsilon).
template <class T>
struct BesselTables {
  static constexpr bool f64 = std::is_same_v<T, double>;
  static constexpr Tail<T, f64 ? 30 : 18> i0a{kI0eA};
  static constexpr Tail<T, f64 ? 25 : 7> i0b{kI0eB};
  static constexpr Tail<T, f64 ? 29 : 17> i1a{kI1eA};
  static constexpr Tail<T, f64 ? 25 : 7> i1b{kI1eB};
};

template <class T>
inline T i0e_impl(T x) {
  using Tab = BesselTables<T>;
  const T z = std::abs(x);
  const T small = chbevl(T(0.5) * z - T(2), Tab::i0a.c);
  // 32/z - 2 at a safe z where the branch is not taken.
  const T zl = z > T(8) ? z : T(8);
  const T large = chbevl(T(32) / zl - T(2), Tab::i0b.c) / vsqrt(zl);
  return z <= T(8) ? small : (z == z ? large : z);
}

template <class T>
inline T i1e_impl(T x) {
  using Tab = BesselTables<T>;
  const T z = std::abs(x);
  const T small = z * chbevl(T(0.5) * z - T(2), Tab::i1a.c);
  const T zl = z > T(8) ? z : T(8);
  const T large = chbevl(T(32) / zl - T(2), Tab::i1b.c) / vsqrt(zl);
  const T r = z <= T(8) ? small : (z == z ? large : z);
  return x < T(0) ? -r : r;
}

// ---- erf_inv (Giles) ---------------------------------------------------------------------------

// Giles' variable w = -log(1 - x^2) >= 0. Near |x| = 1, 1 - x*x loses the digits of 1 - |x|;
// there (1 - |x|)(1 + |x|) is exact to an ulp. NaN comparisons are false: the callers select
// explicitly on |x| < 1.
template <class T>
inline T erf_inv_w(T x) {
  const T ax = std::abs(x);
  const T near_one = -vlog((T(1) - ax) * (T(1) + ax));
  const T near_zero = -vlog1p(-x * x);
  return ax > T(0.5) ? near_one : near_zero;
}

inline float erf_inv_impl(float x) {
  static constexpr float lt5[] = {2.81022636e-08f,  3.43273939e-07f, -3.5233877e-06f, -4.39150654e-06f, 0.00021858087f,
                           -0.00125372503f, -0.00417768164f, 0.246640727f,    1.50140941f};
  static constexpr float ge5[] = {-0.000200214257f, 0.000100950558f, 0.00134934322f, -0.00367342844f, 0.00573950773f,
                           -0.0076224613f,   0.00943887047f,  1.00167406f,    2.83297682f};
  const float w = erf_inv_w(x);
  const float ws = w > 0.0f ? w : 0.0f;
  const float p_small = horner(w - 2.5f, lt5);
  const float p_large = horner(vsqrt(ws) - 3.0f, ge5);
  const float r = (w < 5.0f ? p_small : p_large) * x;
  const float ax = std::abs(x);
  return ax < 1.0f ? r : (ax == 1.0f ? x * std::numeric_limits<float>::infinity() : r * std::numeric_limits<float>::quiet_NaN());
}

inline double erf_inv_impl(double x) {
  static constexpr double lt625[] = {
      -3.6444120640178196996e-21, -1.685059138182016589e-19,  1.2858480715256400167e-18,  1.115787767802518096e-17,
      -1.333171662854620906e-16,  2.0972767875968561637e-17,  6.6376381343583238325e-15,  -4.0545662729752068639e-14,
      -8.1519341976054721522e-14, 2.6335093153082322977e-12,  -1.2975133253453532498e-11, -5.4154120542946279317e-11,
      1.051212273321532285e-09,   -4.1126339803469836976e-09, -2.9070369957882005086e-08, 4.2347877827932403518e-07,
      -1.3654692000834678645e-06, -1.3882523362786468719e-05, 0.0001867342080340571352,   -0.00074070253416626697512,
      -0.0060336708714301490533,  0.24015818242558961693,     1.6536545626831027356};
  static constexpr double lt16[] = {
      2.2137376921775787049e-09,  9.0756561938885390979e-08,  -2.7517406297064545428e-07, 1.8239629214389227755e-08,
      1.5027403968909827627e-06,  -4.013867526981545969e-06,  2.9234449089955446044e-06,  1.2475304481671778723e-05,
      -4.7318229009055733981e-05, 6.8284851459573175448e-05,  2.4031110387097893999e-05,  -0.0003550375203628474796,
      0.00095328937973738049703,  -0.0016882755560235047313,  0.0024914420961078508066,  -0.0037512085075692412107,
      0.005370914553590063617,    1.0052589676941592334,      3.0838856104922207635};
  static constexpr double ge16[] = {
      -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,  -3.7894654401267369937e-09,
      7.6157012080783393804e-09,  -1.4960026627149240478e-08, 2.9147953450901080826e-08,  -6.7711997758452339498e-08,
      2.2900482228026654717e-07,  -9.9298272942317002539e-07, 4.5260625972231537039e-06,  -1.9681778105531670567e-05,
      7.5995277030017761139e-05,  -0.00021503011930044477347, -0.00013871931833623122026, 1.0103004648645343977,
      4.8499064014085844221};
  const double w = erf_inv_w(x);
  const double s = vsqrt(w > 0.0 ? w : 0.0);
  const double p1 = horner(w - 3.125, lt625);
  const double p2 = horner(s - 3.25, lt16);
  const double p3 = horner(s - 5.0, ge16);
  const double r = (w < 6.25 ? p1 : (w < 16.0 ? p2 : p3)) * x;
  const double ax = std::abs(x);
  return ax < 1.0 ? r : (ax == 1.0 ? x * std::numeric_limits<double>::infinity() : r * std::numeric_limits<double>::quiet_NaN());
}

// ---- log_ndtr ----------------------------------------------------------------------------------

// log Phi(x):
//  x > 0:            log1p(-Phi(-x)), Phi(-x) = erfc(x / sqrt 2) / 2 (no cancellation in 1 - Phi);
//  -20 < x <= 0:     log(erfc(-x / sqrt 2) / 2), erfc is relatively accurate in its tail;
//  x <= -20:         the asymptotic series -x^2/2 - log(-x) - log(2 pi)/2
//                    + log(1 + sum_n (-1)^n (2n-1)!! / x^(2n)), before erfc underflows.
inline double log_ndtr_impl(double x) {
  constexpr double lower = -20;
  constexpr double inv_sqrt2 = 1 / std::numbers::sqrt2;
  constexpr double half_log_2pi = 0.91893853320467274178032973640562;
  const double upper_branch = vlog1p(-0.5 * verfc(x * inv_sqrt2));
  const double middle_branch = vlog(0.5 * verfc(-x * inv_sqrt2));
  // (-1)^n (2n-1)!! for n = 8..1, then 1: Horner in z = 1 / x^2; the first omitted term is
  // below double's epsilon at x = -20.
  static constexpr double series[] = {2027025, -135135, 10395, -945, 105, -15, 3, -1, 1};
  const double xl = x < lower ? x : lower;  // keeps the untaken branch finite
  const double z = 1 / (xl * xl);
  const double lower_branch = -0.5 * xl * xl - vlog(-xl) - half_log_2pi + vlog(horner(z, series));
  return x > 0 ? upper_branch : (x > lower ? middle_branch : (x == x ? lower_branch : x));
}
// float goes through double: x / sqrt(2) and its square rounded to float would cost x^2 2^-24 of
// relative accuracy in the upper tail (1e-5 at x = 12).
inline float log_ndtr_impl(float x) { return static_cast<float>(log_ndtr_impl(static_cast<double>(x))); }

// ---- kernels -----------------------------------------------------------------------------------

// y = f(x) over float32/float64, as a plain loop the vectorizer can take.
template <class F>
Kernel float_map(F f) {
  return [f](std::span<const Array> in, std::span<Array> out, const Params&) {
    dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
      using T = decltype(t);
      const T* x = in[0].data<T>();
      T* y = out[0].mutable_data<T>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
      });
    });
  };
}

}  // namespace

void register_special_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  register_kernel(erfc_p, cpu, float_map([](auto x) { return verfc(x); }));
  register_kernel(erf_inv_p, cpu, float_map([](auto x) { return erf_inv_impl(x); }));
  register_kernel(log_ndtr_p, cpu, float_map([](auto x) { return log_ndtr_impl(x); }));
  register_kernel(bessel_i0e_p, cpu, float_map([](auto x) { return i0e_impl(x); }));
  register_kernel(bessel_i1e_p, cpu, float_map([](auto x) { return i1e_impl(x); }));
}

}  // namespace jx::cpu
