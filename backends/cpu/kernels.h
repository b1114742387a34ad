#pragma once
// Helpers for writing eager CPU kernels: typed dispatch over a list of element types, and
// parallel elementwise maps. Kernels never throw from inside parallel_for bodies.

#include <cstdint>
#include <type_traits>

#include "backends/cpu/thread_pool.h"
#include "core/primitive.h"

namespace jx::cpu {

/// Elements per parallel chunk for cheap elementwise work.
inline constexpr int64_t kElementwiseGrain = 1 << 15;

template <class... Ts>
struct TypeList {};

using AllTypes = TypeList<bool, int32_t, int64_t, uint32_t, float, double>;
using NumericTypes = TypeList<int32_t, int64_t, uint32_t, float, double>;
using FloatTypes = TypeList<float, double>;
using IntTypes = TypeList<int32_t, int64_t, uint32_t>;

/// Calls f(T{}) for the T in the list that matches `dtype`.
template <class F, class... Ts>
void dispatch(DType dtype, TypeList<Ts...>, F&& f) {
  bool done = ((dtype == dtype_v<Ts> ? (f(Ts{}), true) : false) || ...);
  JX_CHECK(done, "kernel has no instance for dtype ", dtype_name(dtype));
}

/// y = f(x) elementwise, same dtype in and out.
template <class Types, class F>
Kernel map_unary(F f) {
  return [f](std::span<const Array> in, std::span<Array> out, const Params&) {
    dispatch(in[0].dtype(), Types{}, [&](auto t) {
      using T = decltype(t);
      const T* x = in[0].data<T>();
      T* y = out[0].mutable_data<T>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = static_cast<T>(f(x[i]));
      });
    });
  };
}

/// y = f(x) elementwise with an output of another dtype (comparisons, predicates).
template <class Types, class Out, class F>
Kernel map_unary_to(F f) {
  return [f](std::span<const Array> in, std::span<Array> out, const Params&) {
    dispatch(in[0].dtype(), Types{}, [&](auto t) {
      using T = decltype(t);
      const T* x = in[0].data<T>();
      Out* y = out[0].mutable_data<Out>();
      parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = static_cast<Out>(f(x[i]));
      });
    });
  };
}

/// z = f(a, b) elementwise; a and b have the same shape, or one of them is 0-d.
template <class Types, class Out, class F>
Kernel map_binary_impl(F f) {
  return [f](std::span<const Array> in, std::span<Array> out, const Params&) {
    dispatch(in[0].dtype(), Types{}, [&](auto t) {
      using T = decltype(t);
      using O = std::conditional_t<std::is_void_v<Out>, T, Out>;
      const T* a = in[0].data<T>();
      const T* b = in[1].data<T>();
      O* z = out[0].mutable_data<O>();
      const bool a_scalar = in[0].ndim() == 0, b_scalar = in[1].ndim() == 0;
      parallel_for(out[0].size(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
        if (a_scalar && !b_scalar) {
          const T av = a[0];
          for (int64_t i = lo; i < hi; ++i) z[i] = static_cast<O>(f(av, b[i]));
        } else if (b_scalar && !a_scalar) {
          const T bv = b[0];
          for (int64_t i = lo; i < hi; ++i) z[i] = static_cast<O>(f(a[i], bv));
        } else if (a_scalar && b_scalar) {
          z[0] = static_cast<O>(f(a[0], b[0]));
        } else {
          for (int64_t i = lo; i < hi; ++i) z[i] = static_cast<O>(f(a[i], b[i]));
        }
      });
    });
  };
}

template <class Types, class F>
Kernel map_binary(F f) {
  return map_binary_impl<Types, void>(f);
}
template <class Types, class Out, class F>
Kernel map_binary_to(F f) {
  return map_binary_impl<Types, Out>(f);
}

}  // namespace jx::cpu
