#pragma once
// Host storage types of the 16-bit floats: jx::float16_t (IEEE binary16) and jx::bfloat16_t
// (bfloat16: float32's exponent, 7 fraction bits). Conversions round to nearest even from the
// exact source value (a float64 converts in one rounding, never through float32), handle
// subnormals, infinities and NaN, and are bit-exact with numpy's float16 and ml_dtypes' bfloat16.
// No arithmetic: jx computes on these types in float32 (see core/half_eval.h).

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace jx {

namespace detail {

/// Rounds a float (Src = uint32_t bits) or double (uint64_t bits) to a 16-bit float format with
/// kExp exponent bits and kMan fraction bits (1 sign bit), round to nearest even. NaN: float16
/// keeps the sign and the payload's top bits (numpy's rule); bfloat16 gives the quiet NaN
/// 0x7fc0 with the sign (ml_dtypes' rule).
template <int kExp, int kMan, class Bits>
constexpr uint16_t round_to_half_bits(Bits x) {
  constexpr int kSrcBits = static_cast<int>(sizeof(Bits)) * 8;
  constexpr int kSrcMan = kSrcBits == 32 ? 23 : 52;
  constexpr int kSrcBias = kSrcBits == 32 ? 127 : 1023;
  constexpr int kBias = (1 << (kExp - 1)) - 1;
  constexpr Bits kSign = Bits(1) << (kSrcBits - 1);
  constexpr Bits kSrcInf = ((Bits(1) << (kSrcBits - 1 - kSrcMan)) - 1) << kSrcMan;
  constexpr uint16_t kInf = static_cast<uint16_t>(((1u << kExp) - 1) << kMan);
  const uint16_t sign = (x & kSign) ? static_cast<uint16_t>(0x8000) : static_cast<uint16_t>(0);
  const Bits ax = x & ~kSign;
  if (ax >= kSrcInf) {
    if (ax == kSrcInf) return sign | kInf;
    if constexpr (kExp == 8) {
      return sign | 0x7fc0;
    } else {
      uint16_t h = static_cast<uint16_t>(kInf | static_cast<uint16_t>((ax & ((Bits(1) << kSrcMan) - 1)) >> (kSrcMan - kMan)));
      return sign | (h == kInf ? static_cast<uint16_t>(kInf + 1) : h);
    }
  }
  const int e = static_cast<int>(ax >> kSrcMan);  // biased source exponent (0: subnormal)
  const int unbiased = (e == 0 ? 1 : e) - kSrcBias;
  const Bits mant = (ax & ((Bits(1) << kSrcMan) - 1)) | (e == 0 ? Bits(0) : Bits(1) << kSrcMan);  // value = mant * 2^(unbiased - kSrcMan)
  // Bits of `mant` below the target's last place: the fraction width difference, plus the
  // distance below the smallest normal exponent for target subnormals.
  int shift = kSrcMan - kMan;
  if (unbiased < 1 - kBias) shift += (1 - kBias) - unbiased;
  if (shift > kSrcMan + 1) return sign;  // below half the smallest subnormal
  Bits q = mant >> shift;
  const Bits rem = mant & ((Bits(1) << shift) - 1);
  const Bits half = Bits(1) << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  // Normal: q holds the implicit bit, so adding it to (exponent - 1) << kMan carries into the
  // exponent on a round-up; subnormal: q is the encoding (2^kMan becomes the smallest normal).
  uint32_t enc = unbiased >= 1 - kBias ? (static_cast<uint32_t>(unbiased + kBias - 1) << kMan) + static_cast<uint32_t>(q)
                                       : static_cast<uint32_t>(q);
  if (enc >= kInf) enc = kInf;
  return static_cast<uint16_t>(sign | enc);
}

/// The exact float value of a float16's bits (branch-free, so that loops vectorize).
constexpr float float16_bits_to_float(uint16_t h) {
  const uint32_t em = h & 0x7fffu;
  const uint32_t o = em << 13;
  const uint32_t sub = std::bit_cast<uint32_t>(static_cast<float>(em) * 5.9604644775390625e-8f);  // em * 2^-24
  const uint32_t r = em >= 0x7c00u ? o + 0x70000000u    // inf / NaN: exponent 255, payload kept
                     : em >= 0x0400u ? o + 0x38000000u  // normal: rebias 15 -> 127
                                     : sub;              // subnormal or zero
  return std::bit_cast<float>(r | (static_cast<uint32_t>(h & 0x8000u) << 16));
}

constexpr float bfloat16_bits_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

/// float -> float16, round to nearest even; the same results as round_to_half_bits<5, 10>, but
/// branch-free: normal results round by an integer add at bit 13, subnormal ones by a float
/// add of 0.5 (whose last place is 2^-24, float16's smallest subnormal).
constexpr uint16_t float_to_float16_bits(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t ax = x & 0x7fffffffu;
  const uint32_t normal = (ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13;  // (15 - 127) << 23, + 0xfff: rebias, round
  const uint32_t sub = std::bit_cast<uint32_t>(std::bit_cast<float>(ax) + 0.5f) - 0x3f000000u;
  const uint32_t nan = 0x7c00u | ((ax & 0x7fffffu) >> 13);
  const uint32_t r = ax > 0x7f800000u   ? (nan == 0x7c00u ? 0x7c01u : nan)
                     : ax >= 0x47800000u ? 0x7c00u  // >= 65536 (65520 and up round to inf in `normal`)
                     : ax < 0x38800000u  ? sub      // < 2^-14
                                         : normal;
  return static_cast<uint16_t>(r | ((x >> 16) & 0x8000u));
}
constexpr uint16_t double_to_float16_bits(double d) { return round_to_half_bits<5, 10>(std::bit_cast<uint64_t>(d)); }
constexpr uint16_t float_to_bfloat16_bits(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (x & 0x80000000u) ? 0xffc0 : 0x7fc0;
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);  // carries into inf correctly
}
constexpr uint16_t double_to_bfloat16_bits(double d) { return round_to_half_bits<8, 7>(std::bit_cast<uint64_t>(d)); }

/// A 64-bit integer as a double that rounds to the same 16-bit value as the integer itself:
/// exact below 2^53, else rounded to odd at 53 bits (no double rounding afterwards).
template <class I>
constexpr double integer_for_half_rounding(I v) {
  if constexpr (sizeof(I) < 8) {
    return static_cast<double>(v);
  } else {
    const bool neg = std::is_signed_v<I> && v < 0;
    uint64_t a = neg ? uint64_t(0) - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    if (a < (uint64_t(1) << 53)) return neg ? -static_cast<double>(a) : static_cast<double>(a);
    const int width = 64 - std::countl_zero(a);
    const int shift = width - 53;
    uint64_t t = a >> shift;
    if (a & ((uint64_t(1) << shift) - 1)) t |= 1;  // sticky bit: round to odd
    double r = static_cast<double>(t);               // exact (53 bits)
    for (int i = 0; i < shift; ++i) r *= 2;
    return neg ? -r : r;
  }
}

template <class T>
constexpr T saturating_from_float(float f) {
  if constexpr (std::is_same_v<T, bool>) {
    return f != 0;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(f);
  } else {
    // As the eager convert kernel: saturate, NaN -> 0.
    if (f != f) return T(0);
    if (f >= static_cast<float>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    if (f <= static_cast<float>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
    return static_cast<T>(f);
  }
}

}  // namespace detail

/// IEEE 754 binary16 storage (numpy's float16): 5 exponent bits, 10 fraction bits.
struct float16_t {
  uint16_t bits = 0;
  constexpr float16_t() = default;
  constexpr explicit float16_t(float v) : bits(detail::float_to_float16_bits(v)) {}
  constexpr explicit float16_t(double v) : bits(detail::double_to_float16_bits(v)) {}
  template <class I>
    requires std::is_integral_v<I>
  constexpr explicit float16_t(I v)
      : bits(detail::double_to_float16_bits(detail::integer_for_half_rounding(v))) {}
  static constexpr float16_t from_bits(uint16_t b) {
    float16_t h;
    h.bits = b;
    return h;
  }
  constexpr explicit operator float() const { return detail::float16_bits_to_float(bits); }
  template <class T>
    requires std::is_arithmetic_v<T> && (!std::is_same_v<T, float>)
  constexpr explicit operator T() const {
    return detail::saturating_from_float<T>(static_cast<float>(*this));
  }
};

/// bfloat16 storage (ml_dtypes' bfloat16): the top half of a float32.
struct bfloat16_t {
  uint16_t bits = 0;
  constexpr bfloat16_t() = default;
  constexpr explicit bfloat16_t(float v) : bits(detail::float_to_bfloat16_bits(v)) {}
  constexpr explicit bfloat16_t(double v) : bits(detail::double_to_bfloat16_bits(v)) {}
  template <class I>
    requires std::is_integral_v<I>
  constexpr explicit bfloat16_t(I v)
      : bits(detail::double_to_bfloat16_bits(detail::integer_for_half_rounding(v))) {}
  static constexpr bfloat16_t from_bits(uint16_t b) {
    bfloat16_t h;
    h.bits = b;
    return h;
  }
  constexpr explicit operator float() const { return detail::bfloat16_bits_to_float(bits); }
  template <class T>
    requires std::is_arithmetic_v<T> && (!std::is_same_v<T, float>)
  constexpr explicit operator T() const {
    return detail::saturating_from_float<T>(static_cast<float>(*this));
  }
};

static_assert(sizeof(float16_t) == 2 && sizeof(bfloat16_t) == 2);

template <class T>
inline constexpr bool is_half_storage_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

namespace detail {
/// One element converted as convert_element_type does when a 16-bit float is involved: from a
/// 16-bit float through its exact float value (to integers saturating, NaN -> 0; to bool, != 0);
/// to a 16-bit float in one rounding from the source value.
template <class To, class From>
constexpr To convert_element(From v) {
  if constexpr (is_half_storage_v<From>) {
    const float f = static_cast<float>(v);
    if constexpr (is_half_storage_v<To>) {
      return To(f);
    } else {
      return saturating_from_float<To>(f);
    }
  } else if constexpr (is_half_storage_v<To>) {
    return To(v);
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}
}  // namespace detail

}  // namespace jx
