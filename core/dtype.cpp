// DType facts and the promotion lattice (JAX's jax._src.dtypes lattice restricted to our types).

#include "core/dtype.h"

#include <array>

#include "core/errors.h"

namespace jx {

size_t itemsize(DType dtype) {
  switch (dtype) {
    case DType::bool_: return 1;
    case DType::int32: case DType::uint32: case DType::float32: return 4;
    case DType::int64: case DType::float64: return 8;
    case DType::float16: case DType::bfloat16: return 2;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::bool_: return "bool";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
    case DType::uint32: return "uint32";
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
  }
  return "?";
}

const char* dtype_short_name(DType dtype) {
  switch (dtype) {
    case DType::bool_: return "bool";
    case DType::int32: return "i32";
    case DType::int64: return "i64";
    case DType::uint32: return "u32";
    case DType::float32: return "f32";
    case DType::float64: return "f64";
    case DType::float16: return "f16";
    case DType::bfloat16: return "bf16";
  }
  return "?";
}

bool is_floating(DType d) { return d == DType::float32 || d == DType::float64 || is_half_float(d); }
bool is_signed_integer(DType d) { return d == DType::int32 || d == DType::int64; }
bool is_unsigned_integer(DType d) { return d == DType::uint32; }
bool is_integer(DType d) { return is_signed_integer(d) || is_unsigned_integer(d); }

std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

namespace detail {
void throw_storage_only_dtype(DType dtype) {
  throw DTypeError(cat("internal error: dispatch_dtype has no compute type for ", dtype_name(dtype),
                  " (a 16-bit storage type: convert it to float32 first, or use dispatch_storage_dtype)"));
}
}  // namespace detail

namespace {

// Lattice nodes. The missing JAX types (u8, u16, i8, i16, u64) only add edges that are already
// implied transitively by the ones below.
enum Node { kBool, kWeakInt, kU32, kI32, kI64, kWeakFloat, kF16, kBF16, kF32, kF64, kNumNodes };

Node node_of(TypeInfo t) {
  if (t.weak && is_integer(t.dtype)) return kWeakInt;
  if (t.weak && is_floating(t.dtype)) return kWeakFloat;
  switch (t.dtype) {
    case DType::bool_: return kBool;
    case DType::int32: return kI32;
    case DType::int64: return kI64;
    case DType::uint32: return kU32;
    case DType::float32: return kF32;
    case DType::float64: return kF64;
    case DType::float16: return kF16;
    case DType::bfloat16: return kBF16;
  }
  return kF64;
}

TypeInfo type_of(Node n) {
  switch (n) {
    case kBool: return {DType::bool_, false};
    case kWeakInt: return {default_int, true};
    case kU32: return {DType::uint32, false};
    case kI32: return {DType::int32, false};
    case kI64: return {DType::int64, false};
    case kWeakFloat: return {default_float, true};
    case kF16: return {DType::float16, false};
    case kBF16: return {DType::bfloat16, false};
    case kF32: return {DType::float32, false};
    default: return {DType::float64, false};
  }
}

// upper[n] is the bitset of nodes >= n (reflexive, transitive closure of the edges).
std::array<unsigned, kNumNodes> make_upper_sets() {
  const std::array<std::array<int, 2>, 11> edges = {{{kBool, kWeakInt},
                                                     {kWeakInt, kU32},
                                                     {kWeakInt, kI32},
                                                     {kU32, kI64},
                                                     {kI32, kI64},
                                                     {kI64, kWeakFloat},
                                                     {kWeakFloat, kF16},
                                                     {kWeakFloat, kBF16},
                                                     {kF16, kF32},
                                                     {kBF16, kF32},
                                                     {kF32, kF64}}};
  std::array<unsigned, kNumNodes> up{};
  for (int n = 0; n < kNumNodes; ++n) up[n] = 1u << n;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [lo, hi] : edges) {
      unsigned merged = up[lo] | up[hi];
      if (merged != up[lo]) up[lo] = merged, changed = true;
    }
  }
  return up;
}

}  // namespace

TypeInfo promote_types(TypeInfo a, TypeInfo b) {
  static const auto upper = make_upper_sets();
  unsigned common = upper[node_of(a)] & upper[node_of(b)];
  // The least upper bound is the common node whose own upper set contains all common nodes.
  for (int n = 0; n < kNumNodes; ++n) {
    if ((common >> n & 1u) && (upper[n] & common) == common) return type_of(static_cast<Node>(n));
  }
  return {DType::float64, false};
}

DType promote_types(DType a, DType b) { return promote_types(TypeInfo{a}, TypeInfo{b}).dtype; }

}  // namespace jx
