#pragma once
// CUDA C++ on the host, for checking what generated kernels compute on a machine without a GPU.
//
// Three ways to include this header:
//   - forced in front of a kernel source, the source compiled unchanged by the host compiler:
//       g++ -std=c++17 -O1 -shared -fPIC -include cuda_emu.h kernels.cpp -o kernels.so
//     (the CUDA language: qualifiers, built-in variables and types, barriers, warp operations,
//     atomics, intrinsics, device math; light: a few C headers);
//   - once, in the translation unit that provides the runtime (fibers, the scheduler and the
//     launcher), with JXEMU_IMPLEMENTATION defined: either the kernel source itself
//     (-DJXEMU_IMPLEMENTATION, one self-contained library) or a separate runtime library loaded
//     with RTLD_GLOBAL before the kernel libraries (compiled once, so every kernel library
//     compiles faster);
//   - in a host program that launches, with JXEMU_API_ONLY defined: the C ABI below only.
//
// Execution model:
//   - Blocks run one after another (in grid order, reversed, or shuffled: JxemuLaunch::schedule).
//   - The threads of a block are cooperative fibers (ucontext, 64 KiB stacks with a guard page):
//     a thread runs until it reaches a barrier, then the next runnable thread runs (in thread
//     order, reversed or shuffled), either all threads barrier by barrier or each warp running
//     ahead of the others as far as its own warp operations allow (JxemuLaunch::warp_ahead), so
//     that code between barriers interleaves in the orders real warps may take: a missing
//     barrier shows up as results that depend on the schedule.
//   - __syncthreads (and _count/_and/_or) is a block barrier; it is an error (as it is undefined
//     on a GPU) when threads of the block have exited or wait at a warp operation forever.
//   - Warp operations (__shfl*_sync, __ballot_sync, __any_sync, __all_sync, __syncwarp) are
//     barriers of the lanes of the mask (warp = 32 consecutive threads of the block): all of them
//     must arrive, with the same mask and the same operation, and then exchange values with the
//     PTX shfl semantics (segments of `width` lanes, out-of-segment reads return the own value).
//     A mask without the calling lane, a mask lane that exited, or a read from a lane outside the
//     mask is an error.
//   - __shared__ variables are statics in a dedicated section, refilled with a poison byte at the
//     start of every block (so reading shared memory before writing it shows up); dynamic shared
//     memory (extern __shared__) is a per-block buffer of JxemuLaunch::shared_bytes bytes, poisoned
//     the same way. Host compilers cannot parse `extern __shared__ T x[];`: rewrite it as
//     `JXEMU_EXTERN_SHARED(T, x);` first.
//   - __device__ globals are plain globals (zero-initialized, as a loaded CUDA module's).
//   - Atomics are plain read-modify-writes (fibers never interleave inside one), fences no-ops.
//   - Math: the host's libm (semantics, not CUDA's ulps), with CUDA's device-only functions and
//     its integer/float min/max overloads.
//   - A crash in a kernel (a read or write into a guard page, a trap of -fsanitize=undefined
//     with -fsanitize-undefined-trap-on-error, an integer division trap) ends the launch with the
//     signal, the faulting address and the instruction address (for addr2line) instead of
//     killing the process.
// Plain C casts of out-of-range floats to integers, which saturate on a GPU, are undefined in
// C++: build the kernels with -fsanitize=float-cast-overflow to catch them.

#include <cstddef>
#include <cstdint>

/// One launch: a kernel whose parameters are all pointers (the jit renderer's kernels).
struct JxemuLaunch {
  void* fn = nullptr;            // the kernel (dlsym of its extern "C" name)
  int nargs = 0;                 // at most 64
  void* const* args = nullptr;   // the pointer arguments
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned shared_bytes = 0;     // dynamic shared memory
  int schedule = 0;              // 0: blocks and threads in order; 1: reversed; 2: shuffled by `seed`
  unsigned seed = 0;
  // 0: threads advance barrier by barrier together (every runnable thread runs to its next
  // barrier before any warp operation completes); 1: each warp runs ahead as far as its own
  // warp operations let it (to a block barrier or its end) before the next warp starts.
  int warp_ahead = 0;
  unsigned char poison = 0xff;   // fill byte of shared memory at each block's start
};

/// What went wrong (message empty when the launch completed).
struct JxemuResult {
  char message[2048];
  int signal;                    // a caught signal (SIGSEGV, SIGILL for a UBSan trap, ...), or 0
  uintptr_t fault_addr;          // the signal's address (si_addr)
  uintptr_t fault_pc;            // the instruction that faulted
  unsigned block[3], thread[3];  // where (the running thread when the error happened)
};

extern "C" int jxemu_launch(const JxemuLaunch* launch, JxemuResult* result);
using JxemuLaunchFn = int (*)(const JxemuLaunch*, JxemuResult*);

#ifndef JXEMU_API_ONLY

#include <cmath>
#include <cstring>
#include <limits>
#include <math.h>
#include <type_traits>

// ---- qualifiers and built-in types ---------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static __attribute__((section("jxemu_shared"), aligned(16)))
// __restrict__ is a keyword of g++ and clang++ already.

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
#define JXEMU_VEC(T, name)                                              \
  struct name##2 { T x, y; };                                           \
  struct name##4 { T x, y, z, w; };                                     \
  inline name##2 make_##name##2(T x, T y) { return {x, y}; }           \
  inline name##4 make_##name##4(T x, T y, T z, T w) { return {x, y, z, w}; }
JXEMU_VEC(float, float)
JXEMU_VEC(double, double)
JXEMU_VEC(int, int)
JXEMU_VEC(unsigned, uint)
JXEMU_VEC(long long, longlong)
#undef JXEMU_VEC

constexpr int warpSize = 32;

// ---- the runtime's interface (defined with JXEMU_IMPLEMENTATION) ---------------------------------

extern "C" {
extern const uint3* jxemu_thread_idx;  // the running thread's (updated at every switch)
extern uint3 jxemu_block_idx;
extern dim3 jxemu_block_dim, jxemu_grid_dim;
unsigned long long jxemu_warp_op(int op, unsigned mask, unsigned long long bits, unsigned size, int param, int width);
int jxemu_block_op(int op, int pred);
void* jxemu_dynamic_shared();
void jxemu_register_shared(char* begin, char* end);
void jxemu_unregister_shared(char* begin);
}

namespace jxemu {

enum class WarpOp : int { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, sync };
enum class BlockOp : int { sync, count, all, any };

inline unsigned long long warp_op(WarpOp op, unsigned mask, unsigned long long bits, unsigned size, int param,
                                  int width) {
  return jxemu_warp_op(static_cast<int>(op), mask, bits, size, param, width);
}
inline int block_op(BlockOp op, int pred) { return jxemu_block_op(static_cast<int>(op), pred); }

template <class T>
unsigned long long to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  unsigned long long b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(unsigned long long b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

template <class T>
T shfl(WarpOp op, unsigned mask, T v, int param, int width) {
  return from_bits<T>(warp_op(op, mask, to_bits(v), sizeof(T), param, width));
}

// The __shared__ section of this library, poisoned by the runtime at every block's start.
extern "C" char __start_jxemu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_jxemu_shared[] __attribute__((weak, visibility("hidden")));
__attribute__((constructor)) static void register_shared_section() {
  if (__start_jxemu_shared) jxemu_register_shared(__start_jxemu_shared, __stop_jxemu_shared);
}
__attribute__((destructor)) static void unregister_shared_section() {
  if (__start_jxemu_shared) jxemu_unregister_shared(__start_jxemu_shared);
}

}  // namespace jxemu

#define threadIdx (*jxemu_thread_idx)
#define blockIdx (jxemu_block_idx)
#define blockDim (jxemu_block_dim)
#define gridDim (jxemu_grid_dim)

// `extern __shared__ T name[];` rewritten (the host compiler has no block-scope extern arrays
// with per-launch storage).
#define JXEMU_EXTERN_SHARED(T, name) T* const name = static_cast<T*>(jxemu_dynamic_shared())

// ---- barriers and warp operations ----------------------------------------------------------------

inline void __syncthreads() { (void)jxemu::block_op(jxemu::BlockOp::sync, 0); }
inline int __syncthreads_count(int p) { return jxemu::block_op(jxemu::BlockOp::count, p); }
inline int __syncthreads_and(int p) { return jxemu::block_op(jxemu::BlockOp::all, p); }
inline int __syncthreads_or(int p) { return jxemu::block_op(jxemu::BlockOp::any, p); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { (void)jxemu::warp_op(jxemu::WarpOp::sync, mask, 0, 0, 0, 32); }
inline unsigned __ballot_sync(unsigned mask, int p) {
  return static_cast<unsigned>(jxemu::warp_op(jxemu::WarpOp::ballot, mask, p != 0, 4, 0, 32));
}
inline int __any_sync(unsigned mask, int p) {
  return static_cast<int>(jxemu::warp_op(jxemu::WarpOp::any, mask, p != 0, 4, 0, 32));
}
inline int __all_sync(unsigned mask, int p) {
  return static_cast<int>(jxemu::warp_op(jxemu::WarpOp::all, mask, p != 0, 4, 0, 32));
}

// The shuffle overloads CUDA has (a bool or a char promotes to int, as on the device).
#define JXEMU_SHFL(T)                                                                                         \
  inline T __shfl_sync(unsigned m, T v, int src, int w = 32) {                                                \
    return jxemu::shfl(jxemu::WarpOp::shfl_idx, m, v, src, w);                                               \
  }                                                                                                           \
  inline T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) {                                          \
    return jxemu::shfl(jxemu::WarpOp::shfl_up, m, v, static_cast<int>(d), w);                                \
  }                                                                                                           \
  inline T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) {                                        \
    return jxemu::shfl(jxemu::WarpOp::shfl_down, m, v, static_cast<int>(d), w);                              \
  }                                                                                                           \
  inline T __shfl_xor_sync(unsigned m, T v, int lm, int w = 32) {                                             \
    return jxemu::shfl(jxemu::WarpOp::shfl_xor, m, v, lm, w);                                                \
  }
JXEMU_SHFL(int)
JXEMU_SHFL(unsigned)
JXEMU_SHFL(long)
JXEMU_SHFL(unsigned long)
JXEMU_SHFL(long long)
JXEMU_SHFL(unsigned long long)
JXEMU_SHFL(float)
JXEMU_SHFL(double)
#undef JXEMU_SHFL

// ---- memory: fences, cache-hinted loads and stores, atomics --------------------------------------

inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// (Sums wrap, as on the device: signed values add as their unsigned counterparts.)
#define JXEMU_ATOMIC_INT(T)                                                                      \
  inline T atomicAdd(T* p, T v) {                                                              \
    using U = std::make_unsigned_t<T>;                                                         \
    T o = *p;                                                                                  \
    *p = static_cast<T>(static_cast<U>(o) + static_cast<U>(v));                                \
    return o;                                                                                  \
  }                                                                                            \
  inline T atomicSub(T* p, T v) {                                                              \
    using U = std::make_unsigned_t<T>;                                                         \
    T o = *p;                                                                                  \
    *p = static_cast<T>(static_cast<U>(o) - static_cast<U>(v));                                \
    return o;                                                                                  \
  }                                                                                            \
  inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }                     \
  inline T atomicMin(T* p, T v) { T o = *p; *p = v < o ? v : o; return o; }          \
  inline T atomicMax(T* p, T v) { T o = *p; *p = o < v ? v : o; return o; }          \
  inline T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }                  \
  inline T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }                   \
  inline T atomicXor(T* p, T v) { T o = *p; *p = o ^ v; return o; }                  \
  inline T atomicCAS(T* p, T c, T v) { T o = *p; if (o == c) *p = v; return o; }
JXEMU_ATOMIC_INT(int)
JXEMU_ATOMIC_INT(unsigned)
JXEMU_ATOMIC_INT(unsigned long long)
JXEMU_ATOMIC_INT(long long)
#undef JXEMU_ATOMIC_INT
inline float atomicAdd(float* p, float v) { float o = *p; *p = o + v; return o; }
inline double atomicAdd(double* p, double v) { double o = *p; *p = o + v; return o; }
inline float atomicExch(float* p, float v) { float o = *p; *p = v; return o; }
inline unsigned atomicInc(unsigned* p, unsigned v) { unsigned o = *p; *p = o >= v ? 0u : o + 1u; return o; }
inline unsigned atomicDec(unsigned* p, unsigned v) { unsigned o = *p; *p = (o == 0u || o > v) ? v : o - 1u; return o; }

// ---- bit reinterpretation and integer intrinsics -------------------------------------------------

inline float __int_as_float(int v) { return jxemu::from_bits<float>(static_cast<unsigned>(v)); }
inline float __uint_as_float(unsigned v) { return jxemu::from_bits<float>(v); }
inline int __float_as_int(float v) { return static_cast<int>(static_cast<unsigned>(jxemu::to_bits(v))); }
inline unsigned __float_as_uint(float v) { return static_cast<unsigned>(jxemu::to_bits(v)); }
inline double __longlong_as_double(long long v) { return jxemu::from_bits<double>(static_cast<unsigned long long>(v)); }
inline long long __double_as_longlong(double v) { return static_cast<long long>(jxemu::to_bits(v)); }
inline int __double2hiint(double v) { return static_cast<int>(jxemu::to_bits(v) >> 32); }
inline int __double2loint(double v) { return static_cast<int>(static_cast<unsigned>(jxemu::to_bits(v))); }
inline double __hiloint2double(int hi, int lo) {
  return jxemu::from_bits<double>((static_cast<unsigned long long>(static_cast<unsigned>(hi)) << 32) |
                                  static_cast<unsigned>(lo));
}

inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(static_cast<unsigned>(v)); }
inline int __clzll(long long v) { return v == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(v)); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __ffsll(long long v) { return __builtin_ffsll(v); }
inline unsigned __brev(unsigned v) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((v >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned long long __brevll(unsigned long long v) {
  unsigned long long r = 0;
  for (int i = 0; i < 64; ++i) r |= ((v >> i) & 1ull) << (63 - i);
  return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32); }
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline long long __mul64hi(long long a, long long b) { return static_cast<long long>((static_cast<__int128>(a) * b) >> 64); }

// ---- conversions with explicit rounding (the device's cvt: saturating, NaN -> 0) --------------------

namespace jxemu {
template <class I, class F>
I cvt_sat(F v) {
  if (v != v) return 0;
  if (v >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  if (v <= static_cast<F>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  return static_cast<I>(v);
}
}  // namespace jxemu
#define JXEMU_CVT(F, f, I, i)                                                                        \
  inline I __##f##2##i##_rz(F v) { return jxemu::cvt_sat<I>(std::trunc(v)); }                      \
  inline I __##f##2##i##_rn(F v) { return jxemu::cvt_sat<I>(std::nearbyint(v)); }                   \
  inline I __##f##2##i##_rd(F v) { return jxemu::cvt_sat<I>(std::floor(v)); }                       \
  inline I __##f##2##i##_ru(F v) { return jxemu::cvt_sat<I>(std::ceil(v)); }
JXEMU_CVT(float, float, int, int)
JXEMU_CVT(float, float, unsigned, uint)
JXEMU_CVT(float, float, long long, ll)
JXEMU_CVT(float, float, unsigned long long, ull)
JXEMU_CVT(double, double, int, int)
JXEMU_CVT(double, double, unsigned, uint)
JXEMU_CVT(double, double, long long, ll)
JXEMU_CVT(double, double, unsigned long long, ull)
#undef JXEMU_CVT
inline float __int2float_rn(int v) { return static_cast<float>(v); }
inline float __uint2float_rn(unsigned v) { return static_cast<float>(v); }
inline float __ll2float_rn(long long v) { return static_cast<float>(v); }
inline float __ull2float_rn(unsigned long long v) { return static_cast<float>(v); }
inline double __int2double_rn(int v) { return static_cast<double>(v); }
inline double __ll2double_rn(long long v) { return static_cast<double>(v); }
inline double __ull2double_rn(unsigned long long v) { return static_cast<double>(v); }
inline float __double2float_rn(double v) { return static_cast<float>(v); }

// ---- math: libm, plus CUDA's device-only functions and overloads ----------------------------------

// min/max as CUDA's math_functions.hpp: integer overloads (mixed signedness -> unsigned), and
// fminf/fmin for floats (a NaN operand is ignored).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a < b ? b : a; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a < b ? b : a; }
inline unsigned min(int a, unsigned b) { return min(static_cast<unsigned>(a), b); }
inline unsigned max(int a, unsigned b) { return max(static_cast<unsigned>(a), b); }
inline unsigned min(unsigned a, int b) { return min(a, static_cast<unsigned>(b)); }
inline unsigned max(unsigned a, int b) { return max(a, static_cast<unsigned>(b)); }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a < b ? b : a; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a < b ? b : a; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a < b ? b : a; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a < b ? b : a; }
inline unsigned long long min(long long a, unsigned long long b) { return min(static_cast<unsigned long long>(a), b); }
inline unsigned long long max(long long a, unsigned long long b) { return max(static_cast<unsigned long long>(a), b); }
inline unsigned long long min(unsigned long long a, long long b) { return min(a, static_cast<unsigned long long>(b)); }
inline unsigned long long max(unsigned long long a, long long b) { return max(a, static_cast<unsigned long long>(b)); }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }
inline unsigned umin(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned umax(unsigned a, unsigned b) { return a < b ? b : a; }
inline long long llmin(long long a, long long b) { return a < b ? a : b; }
inline long long llmax(long long a, long long b) { return a < b ? b : a; }
inline unsigned long long ullmin(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long ullmax(unsigned long long a, unsigned long long b) { return a < b ? b : a; }

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline double rcbrt(double x) { return 1.0 / cbrt(x); }
inline float sinpif(float x) { return static_cast<float>(sin(3.14159265358979323846 * static_cast<double>(x))); }
inline float cospif(float x) { return static_cast<float>(cos(3.14159265358979323846 * static_cast<double>(x))); }
inline double sinpi(double x) { return static_cast<double>(sinl(3.14159265358979323846264338327950288L * x)); }
inline double cospi(double x) { return static_cast<double>(cosl(3.14159265358979323846264338327950288L * x)); }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
inline double normcdf(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x), *c = cosf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __drcp_rn(double a) { return 1.0 / a; }
inline double __dsqrt_rn(double a) { return sqrt(a); }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }

// ---- the runtime ---------------------------------------------------------------------------------
#ifdef JXEMU_IMPLEMENTATION

#include <algorithm>
#include <array>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

namespace jxemu {

enum class State : unsigned char { runnable, at_warp, at_block, done };

inline const char* warp_op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::sync: return "__syncwarp";
  }
  return "?";
}

struct Fiber {
  ucontext_t ctx;
  uint3 tid{0, 0, 0};
  unsigned linear = 0;
  State state = State::runnable;
  // at a warp operation
  WarpOp op = WarpOp::sync;
  unsigned mask = 0, size = 0;
  int param = 0, width = 32;
  unsigned long long in = 0, out = 0;
  // at a block barrier
  BlockOp bop = BlockOp::sync;
  int pred = 0, bout = 0;
};

struct Emu {
  ucontext_t sched;
  std::vector<Fiber> fibers;
  Fiber* cur = nullptr;
  const JxemuLaunch* launch = nullptr;
  JxemuResult* result = nullptr;
  bool failed = false;
  // fiber stacks: one mapping, a PROT_NONE guard page below each stack
  char* stacks = nullptr;
  size_t stack_bytes = 64 * 1024, stack_stride = 0, nstacks = 0;
  std::vector<unsigned char> dynamic_shared;
  sigjmp_buf crash;
  volatile sig_atomic_t in_launch = 0;
};
inline Emu g;

// The __shared__ sections of the loaded kernel libraries (registered when they load, maybe
// before `g` is constructed in a self-contained library).
inline std::vector<std::pair<char*, char*>>& shared_sections() {
  static std::vector<std::pair<char*, char*>> v;
  return v;
}

inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void fail(const char* fmt, ...) {
  if (!g.failed) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(g.result->message, sizeof(g.result->message), fmt, ap);
    va_end(ap);
  }
  g.failed = true;
}

// Called on a fiber: report and never come back.
[[noreturn]] inline void fiber_abort() {
  swapcontext(&g.cur->ctx, &g.sched);
  std::abort();  // never resumed
}

inline unsigned long long run_warp_op(WarpOp op, unsigned mask, unsigned long long bits, unsigned size, int param,
                                      int width) {
  Fiber* f = g.cur;
  const unsigned lane = f->linear & 31u;
  if (!((mask >> lane) & 1u)) {
    fail("%s: the mask 0x%08x does not include the calling lane %u (thread %u)", warp_op_name(op), mask, lane,
         f->linear);
    fiber_abort();
  }
  if (width < 1 || width > 32 || (width & (width - 1))) {
    fail("%s: width %d is not a power of 2 in [1, 32]", warp_op_name(op), width);
    fiber_abort();
  }
  f->op = op, f->mask = mask, f->in = bits, f->size = size, f->param = param, f->width = width;
  f->state = State::at_warp;
  swapcontext(&f->ctx, &g.sched);
  if (g.failed) fiber_abort();
  return f->out;
}

inline int run_block_op(BlockOp op, int pred) {
  Fiber* f = g.cur;
  f->bop = op, f->pred = pred != 0;
  f->state = State::at_block;
  swapcontext(&f->ctx, &g.sched);
  if (g.failed) fiber_abort();
  return f->bout;
}

}  // namespace jxemu

extern "C" {
const uint3* jxemu_thread_idx = nullptr;
uint3 jxemu_block_idx{0, 0, 0};
dim3 jxemu_block_dim, jxemu_grid_dim;
unsigned long long jxemu_warp_op(int op, unsigned mask, unsigned long long bits, unsigned size, int param, int width) {
  return jxemu::run_warp_op(static_cast<jxemu::WarpOp>(op), mask, bits, size, param, width);
}
int jxemu_block_op(int op, int pred) { return jxemu::run_block_op(static_cast<jxemu::BlockOp>(op), pred); }
void* jxemu_dynamic_shared() { return jxemu::g.dynamic_shared.data(); }
void jxemu_register_shared(char* begin, char* end) { jxemu::shared_sections().push_back({begin, end}); }
void jxemu_unregister_shared(char* begin) {
  auto& v = jxemu::shared_sections();
  v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& s) { return s.first == begin; }), v.end());
}
}

namespace jxemu {

template <size_t... I>
void call_with(void* fn, void* const* a, std::index_sequence<I...>) {
  using Fn = void (*)(decltype((void)I, static_cast<void*>(nullptr))...);
  reinterpret_cast<Fn>(fn)(a[I]...);
}
template <size_t N>
void call_n(void* fn, void* const* a) {
  call_with(fn, a, std::make_index_sequence<N>{});
}
constexpr int kMaxArgs = 64;
template <size_t... N>
constexpr std::array<void (*)(void*, void* const*), sizeof...(N)> call_table(std::index_sequence<N...>) {
  return {&call_n<N>...};
}

inline void fiber_entry() {
  static constexpr auto table = call_table(std::make_index_sequence<kMaxArgs + 1>{});
  table[static_cast<size_t>(g.launch->nargs)](g.launch->fn, g.launch->args);
  g.cur->state = State::done;
  swapcontext(&g.cur->ctx, &g.sched);
  std::abort();  // a finished fiber is never resumed
}

inline void on_signal(int sig, siginfo_t* info, void* ctx) {
  if (!g.in_launch) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g.result->signal = sig;
  g.result->fault_addr = reinterpret_cast<uintptr_t>(info->si_addr);
#if defined(__x86_64__)
  g.result->fault_pc = static_cast<uintptr_t>(static_cast<ucontext_t*>(ctx)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  g.result->fault_pc = static_cast<uintptr_t>(static_cast<ucontext_t*>(ctx)->uc_mcontext.pc);
#else
  (void)ctx;
#endif
  siglongjmp(g.crash, 1);
}

inline bool ensure_stacks(size_t n) {
  if (g.nstacks >= n) return true;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (g.stacks) munmap(g.stacks, g.stack_stride * g.nstacks);
  g.stack_stride = g.stack_bytes + page;
  void* m = mmap(nullptr, g.stack_stride * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    g.stacks = nullptr, g.nstacks = 0;
    return false;
  }
  g.stacks = static_cast<char*>(m);
  g.nstacks = n;
  for (size_t i = 0; i < n; ++i) mprotect(g.stacks + i * g.stack_stride, page, PROT_NONE);
  return true;
}

inline bool is_stack_guard(uintptr_t a) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t base = reinterpret_cast<uintptr_t>(g.stacks);
  if (!g.stacks || a < base || a >= base + g.stack_stride * g.nstacks) return false;
  return (a - base) % g.stack_stride < page;
}

inline void poison_shared(unsigned char byte) {
  for (auto& [begin, end] : shared_sections())
    if (end > begin) std::memset(begin, byte, static_cast<size_t>(end - begin));
  std::fill(g.dynamic_shared.begin(), g.dynamic_shared.end(), byte);
}

// The lanes of warp `w` waiting at warp operations: release every mask group whose lanes have
// all arrived. Returns true when some group was released; sets an error for the conditions a
// GPU would hang on or compute garbage from.
inline bool release_warp(unsigned w, unsigned nthreads) {
  bool released = false;
  const unsigned base = w * 32u;
  const unsigned nlanes = std::min(32u, nthreads - base);
  for (unsigned l = 0; l < nlanes && !g.failed; ++l) {
    Fiber& f = g.fibers[base + l];
    if (f.state != State::at_warp) continue;
    const unsigned mask = f.mask;
    bool ready = true;
    for (unsigned j = 0; j < 32 && ready; ++j) {
      if (!((mask >> j) & 1u)) continue;
      if (j >= nlanes) {
        fail("%s in thread %u: mask 0x%08x names lane %u, which the block does not have", warp_op_name(f.op),
             f.linear, mask, j);
        return false;
      }
      Fiber& o = g.fibers[base + j];
      if (o.state == State::done) {
        fail("%s in thread %u: lane %u of mask 0x%08x has exited and never arrives", warp_op_name(f.op), f.linear, j,
             mask);
        return false;
      }
      if (o.state != State::at_warp) {
        ready = false;  // still at a block barrier: wait (a deadlock shows up later)
        break;
      }
      if (o.mask != mask || o.op != f.op || o.size != f.size || o.width != f.width) {
        fail("lanes %u and %u of warp %u are at different warp operations (%s mask 0x%08x, %s mask 0x%08x)", l, j, w,
             warp_op_name(f.op), mask, warp_op_name(o.op), o.mask);
        return false;
      }
    }
    if (!ready) continue;
    // Exchange (PTX shfl.sync semantics, c = ((32 - width) << 8) | clamp).
    unsigned long long vote = 0;
    for (unsigned j = 0; j < 32; ++j)
      if ((mask >> j) & 1u) vote |= (g.fibers[base + j].in & 1ull) << j;
    for (unsigned j = 0; j < 32; ++j) {
      if (!((mask >> j) & 1u)) continue;
      Fiber& o = g.fibers[base + j];
      const int segmask = (32 - o.width) & 31;
      const int lane = static_cast<int>(j), b = o.param;
      int src = lane;
      bool in_range = true;
      switch (o.op) {
        case WarpOp::shfl_idx: {
          const int max_lane = (lane & segmask) | (31 & ~segmask);
          src = (lane & segmask) | (b & 31 & ~segmask);
          in_range = src <= max_lane;
          break;
        }
        case WarpOp::shfl_down: {
          const int max_lane = (lane & segmask) | (31 & ~segmask);
          src = lane + (b & 31);
          in_range = b >= 0 && b < 32 && src <= max_lane;
          break;
        }
        case WarpOp::shfl_up: {
          const int min_lane = lane & segmask;
          src = lane - (b & 31);
          in_range = b >= 0 && b < 32 && src >= min_lane;
          break;
        }
        case WarpOp::shfl_xor: {
          const int max_lane = (lane & segmask) | (31 & ~segmask);
          src = lane ^ (b & 31);
          in_range = src <= max_lane;
          break;
        }
        default: break;
      }
      switch (o.op) {
        case WarpOp::shfl_idx:
        case WarpOp::shfl_down:
        case WarpOp::shfl_up:
        case WarpOp::shfl_xor:
          if (!in_range) src = lane;
          if (!((mask >> src) & 1u)) {
            fail("%s in thread %u (lane %u) reads lane %d, which is not in the mask 0x%08x", warp_op_name(o.op),
                 o.linear, j, src, mask);
            return false;
          }
          o.out = g.fibers[base + static_cast<unsigned>(src)].in;
          break;
        case WarpOp::ballot: o.out = vote; break;
        case WarpOp::any: o.out = vote != 0; break;
        case WarpOp::all: o.out = vote == mask; break;
        case WarpOp::sync: o.out = 0; break;
      }
    }
    for (unsigned j = 0; j < 32; ++j)
      if ((mask >> j) & 1u) g.fibers[base + j].state = State::runnable;
    released = true;
  }
  return released;
}

inline void describe_deadlock(unsigned n) {
  unsigned at_block = 0, done = 0, at_warp = 0;
  for (unsigned i = 0; i < n; ++i) {
    at_block += g.fibers[i].state == State::at_block;
    done += g.fibers[i].state == State::done;
    at_warp += g.fibers[i].state == State::at_warp;
  }
  if (at_block && done && !at_warp)
    fail("__syncthreads reached by %u threads of the block while %u threads have exited", at_block, done);
  else
    fail("deadlock: %u threads at __syncthreads, %u at warp operations, %u exited (of %u)", at_block, at_warp, done,
         n);
}

// Runs one block to completion; false on an error (g.result filled).
inline bool run_block(const std::vector<unsigned>& order, unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = g.fibers[i];
    f = Fiber{};
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = g.stacks + i * g.stack_stride + (g.stack_stride - g.stack_bytes);
    f.ctx.uc_stack.ss_size = g.stack_bytes;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_entry, 0);
    f.linear = i;
    f.tid = uint3{i % jxemu_block_dim.x, (i / jxemu_block_dim.x) % jxemu_block_dim.y, i / (jxemu_block_dim.x * jxemu_block_dim.y)};
  }
  auto resume = [](Fiber& f) {
    g.cur = &f;
    jxemu_thread_idx = &f.tid;
    swapcontext(&g.sched, &f.ctx);
  };
  // Warps in the order their first thread appears in `order` (for warp_ahead). A fixed array, not
  // a vector: a fault in a kernel leaves this function by siglongjmp, skipping destructors.
  unsigned warp_list[32];
  unsigned nwarps = 0;
  for (unsigned i : order)
    if (std::find(warp_list, warp_list + nwarps, i / 32u) == warp_list + nwarps && nwarps < 32) warp_list[nwarps++] = i / 32u;
  for (;;) {
    if (g.launch->warp_ahead) {
      // Each warp runs as far as it can (its own shuffles released at once) before the next.
      for (unsigned wi = 0; wi < nwarps; ++wi) {
        const unsigned w = warp_list[wi];
        do {
          for (unsigned i : order) {
            Fiber& f = g.fibers[i];
            if (i / 32u != w || f.state != State::runnable) continue;
            resume(f);
            if (g.failed) return false;
          }
        } while (release_warp(w, n));
        if (g.failed) return false;
      }
    } else {
      for (unsigned i : order) {
        Fiber& f = g.fibers[i];
        if (f.state != State::runnable) continue;
        resume(f);
        if (g.failed) return false;
      }
    }
    unsigned done = 0, at_block = 0;
    for (unsigned i = 0; i < n; ++i) done += g.fibers[i].state == State::done, at_block += g.fibers[i].state == State::at_block;
    if (done == n) return true;
    bool released = false;
    for (unsigned w = 0; w * 32u < n; ++w) released |= release_warp(w, n);
    if (g.failed) return false;
    if (released) continue;
    if (at_block == n) {
      int count = 0;
      for (unsigned i = 0; i < n; ++i) count += g.fibers[i].pred;
      for (unsigned i = 0; i < n; ++i) {
        Fiber& f = g.fibers[i];
        f.bout = f.bop == BlockOp::count ? count
                 : f.bop == BlockOp::all ? (count == static_cast<int>(n))
                 : f.bop == BlockOp::any ? (count != 0)
                                         : 0;
        f.state = State::runnable;
      }
      continue;
    }
    describe_deadlock(n);
    return false;
  }
}

}  // namespace jxemu

extern "C" __attribute__((visibility("default"))) int jxemu_launch(const JxemuLaunch* L, JxemuResult* R) {
  using namespace jxemu;
  std::memset(R, 0, sizeof(*R));
  g.launch = L, g.result = R, g.failed = false, g.cur = nullptr;
  if (L->nargs < 0 || L->nargs > kMaxArgs) {
    std::snprintf(R->message, sizeof(R->message), "%d kernel arguments (the emulator takes at most %d)", L->nargs,
                  kMaxArgs);
    return 1;
  }
  const unsigned long long n = 1ull * L->block[0] * L->block[1] * L->block[2];
  if (n == 0 || n > 1024 || L->block[2] > 64 || L->grid[1] > 65535 || L->grid[2] > 65535 || L->grid[0] == 0 ||
      L->grid[1] == 0 || L->grid[2] == 0) {
    std::snprintf(R->message, sizeof(R->message), "invalid launch: grid (%u,%u,%u), block (%u,%u,%u)", L->grid[0],
                  L->grid[1], L->grid[2], L->block[0], L->block[1], L->block[2]);
    return 1;
  }
  if (L->shared_bytes > 227u * 1024u) {
    std::snprintf(R->message, sizeof(R->message), "%u bytes of dynamic shared memory", L->shared_bytes);
    return 1;
  }
  if (!ensure_stacks(static_cast<size_t>(n))) {
    std::snprintf(R->message, sizeof(R->message), "cannot map fiber stacks");
    return 1;
  }
  g.fibers.resize(static_cast<size_t>(n));
  g.dynamic_shared.assign(L->shared_bytes, L->poison);
  jxemu_block_dim = dim3{L->block[0], L->block[1], L->block[2]};
  jxemu_grid_dim = dim3{L->grid[0], L->grid[1], L->grid[2]};

  // Orders of blocks and of threads within a block.
  std::mt19937 rng(L->seed);
  std::vector<unsigned> order(static_cast<size_t>(n));
  for (unsigned i = 0; i < n; ++i) order[i] = i;
  if (L->schedule == 1) std::reverse(order.begin(), order.end());
  const unsigned long long nblocks = 1ull * L->grid[0] * L->grid[1] * L->grid[2];
  std::vector<unsigned long long> blocks(static_cast<size_t>(nblocks));
  for (unsigned long long b = 0; b < nblocks; ++b) blocks[static_cast<size_t>(b)] = b;
  if (L->schedule == 1) std::reverse(blocks.begin(), blocks.end());
  if (L->schedule == 2) std::shuffle(blocks.begin(), blocks.end(), rng);

  // Crashes inside the kernel come back here (on an alternate stack: the fiber's may be gone).
  static std::vector<char> altstack(64 * 1024);
  stack_t ss{}, old_ss{};
  ss.ss_sp = altstack.data();
  ss.ss_size = altstack.size();
  sigaltstack(&ss, &old_ss);
  struct sigaction sa{}, old[5];
  const int sigs[5] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 5; ++i) sigaction(sigs[i], &sa, &old[i]);
  volatile int rc = 0;
  if (sigsetjmp(g.crash, 1) == 0) {
    g.in_launch = 1;
    for (unsigned long long b : blocks) {
      jxemu_block_idx = uint3{static_cast<unsigned>(b % L->grid[0]), static_cast<unsigned>((b / L->grid[0]) % L->grid[1]),
                          static_cast<unsigned>(b / (1ull * L->grid[0] * L->grid[1]))};
      if (L->schedule == 2) std::shuffle(order.begin(), order.end(), rng);
      poison_shared(L->poison);
      if (!run_block(order, static_cast<unsigned>(n))) {
        rc = 1;
        break;
      }
    }
  } else {
    rc = 1;
    const char* what = R->signal == SIGSEGV || R->signal == SIGBUS ? "a memory fault"
                       : R->signal == SIGILL                      ? "a trap (undefined behavior caught by -fsanitize)"
                       : R->signal == SIGFPE                      ? "an arithmetic trap"
                                                                  : "a signal";
    if ((R->signal == SIGSEGV || R->signal == SIGBUS) && is_stack_guard(R->fault_addr))
      what = "a fiber stack overflow";
    std::snprintf(R->message, sizeof(R->message), "%s (signal %d) at address 0x%llx, instruction 0x%llx", what,
                  R->signal, static_cast<unsigned long long>(R->fault_addr),
                  static_cast<unsigned long long>(R->fault_pc));
  }
  g.in_launch = 0;
  for (int i = 0; i < 5; ++i) sigaction(sigs[i], &old[i], nullptr);
  sigaltstack(&old_ss, nullptr);
  if (rc) {
    R->block[0] = jxemu_block_idx.x, R->block[1] = jxemu_block_idx.y, R->block[2] = jxemu_block_idx.z;
    if (g.cur) R->thread[0] = g.cur->tid.x, R->thread[1] = g.cur->tid.y, R->thread[2] = g.cur->tid.z;
  }
  g.cur = nullptr;
  return rc;
}

#endif  // JXEMU_IMPLEMENTATION
#endif  // JXEMU_API_ONLY
