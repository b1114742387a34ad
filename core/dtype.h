#pragma once
// Element types, their sizes and names, and JAX's type-promotion lattice with weak types.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "core/half.h"

namespace jx {

/// float16 and bfloat16 are storage types: arrays hold 16-bit values, and eager kernels and
/// jit compute on them in float32, rounding each result back (see core/half_eval.h).
enum class DType : uint8_t { bool_, int32, int64, uint32, float32, float64, float16, bfloat16 };

inline constexpr DType bool_ = DType::bool_;
inline constexpr DType int32 = DType::int32;
inline constexpr DType int64 = DType::int64;
inline constexpr DType uint32 = DType::uint32;
inline constexpr DType float32 = DType::float32;
inline constexpr DType float64 = DType::float64;
inline constexpr DType float16 = DType::float16;
inline constexpr DType bfloat16 = DType::bfloat16;
inline constexpr int kNumDTypes = 8;

/// Bytes per element.
size_t itemsize(DType dtype);
/// numpy-style name: "float32", "int32", "bool", ...
const char* dtype_name(DType dtype);
/// JAX's short name used in jaxprs: "f32", "i32", "u32", "bool", ...
const char* dtype_short_name(DType dtype);
bool is_floating(DType dtype);
/// float16 or bfloat16: stored in 16 bits, computed in float32.
inline bool is_half_float(DType dtype) { return dtype == DType::float16 || dtype == DType::bfloat16; }
bool is_integer(DType dtype);  // signed or unsigned, not bool
bool is_signed_integer(DType dtype);
bool is_unsigned_integer(DType dtype);
std::ostream& operator<<(std::ostream& os, DType dtype);

/// The dtype of the default float (creation functions, weak floats): float32.
inline constexpr DType default_float = DType::float32;
/// The dtype of the default int (C++ integer literals, arange): int32.
inline constexpr DType default_int = DType::int32;

/// A dtype with JAX's weak-type flag: a weakly typed value (a C++ literal) takes the type of
/// the other operand in a binary op instead of promoting it (`x_f32 * 2.0` stays float32).
struct TypeInfo {
  DType dtype;
  bool weak = false;
};

/// Joins two types on JAX's promotion lattice (bool < i* < {u32, i32} < i64 < f* < {f16, bf16}
/// < f32 < f64, u32 < i64; i* and f* are the weak int and float; f16 v bf16 = f32). The result is weak only when both are weak
/// or the join is a weak node.
TypeInfo promote_types(TypeInfo a, TypeInfo b);
DType promote_types(DType a, DType b);

/// Maps a C++ element type to its DType.
template <class T>
struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::bool_; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::int64; };
template <> struct dtype_of<uint32_t> { static constexpr DType value = DType::uint32; };
template <> struct dtype_of<float> { static constexpr DType value = DType::float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::float64; };
template <> struct dtype_of<float16_t> { static constexpr DType value = DType::float16; };
template <> struct dtype_of<bfloat16_t> { static constexpr DType value = DType::bfloat16; };
template <class T>
inline constexpr DType dtype_v = dtype_of<T>::value;

namespace detail {
/// Throws the internal error of dispatch_dtype on a storage-only dtype.
[[noreturn]] void throw_storage_only_dtype(DType dtype);
}  // namespace detail

/// Calls f with a value of the C++ type that matches `dtype` (f(float{}) for float32, ...), for
/// the six compute types. float16/bfloat16 have no compute type (an internal error): handle them
/// first, or use dispatch_storage_dtype.
template <class F>
decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::bool_: return f(bool{});
    case DType::int32: return f(int32_t{});
    case DType::int64: return f(int64_t{});
    case DType::uint32: return f(uint32_t{});
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    case DType::float16:
    case DType::bfloat16: break;
  }
  detail::throw_storage_only_dtype(dtype);
}

/// dispatch_dtype over every dtype: f(float16_t{}) and f(bfloat16_t{}) for the 16-bit floats
/// (host code that copies or converts elements).
template <class F>
decltype(auto) dispatch_storage_dtype(DType dtype, F&& f) {
  if (dtype == DType::float16) return f(float16_t{});
  if (dtype == DType::bfloat16) return f(bfloat16_t{});
  return dispatch_dtype(dtype, std::forward<F>(f));
}

}  // namespace jx
