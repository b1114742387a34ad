// jx::random: threefry-2x32 keys and samplers, from jx ops only (see random.h for the layout of
// the counters and what is bit-exact with JAX).

#include "nnlib/random.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/prims/elementwise.h"
#include "core/shape.h"
#include "core/trace.h"
#include "transforms/custom.h"

namespace jx {
namespace random {
namespace {

Array u32(double v) { return scalar(v, uint32); }

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + ")";
}

void check_defined(const char* fn, const char* what, const Array& x) {
  if (!x.defined()) throw_error<ValueError>("[random.", fn, "] ", what, " is an undefined Array");
}

void check_key(const char* fn, const Array& key) {
  check_defined(fn, "the key", key);
  if (key.dtype() != uint32 || key.shape() != Shape{2}) {
    throw_error<DTypeError>("[random.", fn, "] key must be a uint32[2] array (from random::key, split or fold_in), got ",
                            key.aval().str());
  }
}

void check_shape(const char* fn, const Shape& shape) {
  for (int64_t d : shape) {
    if (d < 0) throw_error<ShapeError>("[random.", fn, "] negative dimension in shape ", shape_str(shape));
  }
}

// numpy broadcasting of `param` to `shape` must give exactly `shape` (JAX's _check_shape).
void check_broadcasts_to(const char* fn, const char* what, const Array& param, const Shape& shape) {
  bool ok = param.ndim() <= static_cast<int64_t>(shape.size());
  for (int64_t i = 0; ok && i < param.ndim(); ++i) {
    int64_t pd = param.shape()[param.ndim() - 1 - i];
    int64_t sd = shape[shape.size() - 1 - i];
    ok = pd == 1 || pd == sd;
  }
  if (!ok) {
    throw_error<ShapeError>("[random.", fn, "] ", what, " ", param.aval().str(),
                            " does not broadcast to the requested shape ", shape_str(shape));
  }
}

void check_float_dtype(const char* fn, DType dtype) {
  if (!is_floating(dtype)) {
    throw_error<DTypeError>("[random.", fn, "] dtype must be float16, bfloat16, float32 or float64, got ", dtype_name(dtype));
  }
}

// Fraction bits (finfo.nmant) and smallest normal (finfo.tiny) of a floating dtype.
int mantissa_bits(DType dtype) {
  return dtype == float64 ? 52 : dtype == float32 ? 23 : dtype == float16 ? 10 : 7;
}
double smallest_normal(DType dtype) {
  return dtype == float64 ? std::numeric_limits<double>::min() : dtype == float16 ? std::ldexp(1.0, -14)
                                                                                  : std::numeric_limits<float>::min();
}

Array key_word(const Array& key, int64_t i) { return reshape(lax::slice(key, {i}, {i + 1}, {}), {}); }

Array rotl(const Array& v, int r) {
  return logical_or(lax::shift_left(v, u32(r)), lax::shift_right_logical(v, u32(32 - r)));
}

// Counters for an output of `shape`: (hi, lo) words of the row-major flat index.
std::pair<Array, Array> counters(const char* fn, const Shape& shape) {
  int64_t size = 1;
  for (int64_t d : shape) size *= d;
  if (size > (int64_t{1} << 32)) {
    throw_error<ValueError>("[random.", fn, "] shape ", shape_str(shape), " has more than 2^32 elements");
  }
  Array lo = reshape(lax::iota(uint32, {size}), shape);
  return {zeros(shape, uint32), lo};
}

// threefry2x32 over the counters of `shape`.
std::pair<Array, Array> hash_shape(const char* fn, const Array& key, const Shape& shape) {
  auto [hi, lo] = counters(fn, shape);
  return threefry2x32(key_word(key, 0), key_word(key, 1), hi, lo);
}

Array bits32(const char* fn, const Array& key, const Shape& shape) {
  auto [b1, b2] = hash_shape(fn, key, shape);
  return bitwise_xor(b1, b2);
}

// uniform floats in [0, 1): the mantissa bits under the exponent of 1.0, minus 1 (JAX).
Array unit_floats(const char* fn, const Array& key, const Shape& shape, DType dtype) {
  if (is_half_float(dtype)) {
    // As JAX: 16 random bits (the low half of the 32-bit draw) for float16, 8 for bfloat16 (its
    // 7 fraction bits are fewer than 8), the top nmant of them under the exponent of 1.0. Built
    // as float32 1.m (jx has no uint16), then converted exactly.
    const int nmant = mantissa_bits(dtype), rng_bits = dtype == float16 ? 16 : 8;
    Array b = logical_and(bits32(fn, key, shape), u32((1u << rng_bits) - 1));
    Array fb = logical_or(lax::shift_left(lax::shift_right_logical(b, u32(rng_bits - nmant)), u32(23 - nmant)),
                          u32(0x3F800000));
    return lax::convert_element_type(lax::bitcast_convert_type(fb, float32), dtype) - scalar(1.0, dtype);
  }
  if (dtype == float32) {
    Array b = bits32(fn, key, shape);
    Array fb = logical_or(lax::shift_right_logical(b, u32(32 - 23)), u32(0x3F800000));
    return lax::bitcast_convert_type(fb, float32) - scalar(1.0, float32);
  }
  // 64 random bits (b1 << 32 | b2, as JAX's bit_width 64), held in int64 (jx has no uint64;
  // the logical shift makes the sign bit harmless).
  auto [b1, b2] = hash_shape(fn, key, shape);
  Array bits = logical_or(lax::shift_left(lax::convert_element_type(b1, int64), scalar(32, int64)),
                          lax::convert_element_type(b2, int64));
  Array fb = logical_or(lax::shift_right_logical(bits, scalar(64 - 52, int64)),
                        scalar(static_cast<double>(0x3FF0000000000000LL), int64));
  return lax::bitcast_convert_type(fb, float64) - scalar(1.0, float64);
}

Array uniform_impl(const char* fn, const Array& key, const Shape& shape, DType dtype, const Array& minval,
                   const Array& maxval) {
  check_key(fn, key);
  check_shape(fn, shape);
  check_float_dtype(fn, dtype);
  check_defined(fn, "minval", minval);
  check_defined(fn, "maxval", maxval);
  check_broadcasts_to(fn, "minval", minval, shape);
  check_broadcasts_to(fn, "maxval", maxval, shape);
  Array lo = lax::convert_element_type(minval, dtype);
  Array hi = lax::convert_element_type(maxval, dtype);
  Array floats = unit_floats(fn, key, shape, dtype);
  return broadcast_to(maximum(lo, floats * (hi - lo) + lo), shape);
}

// The next representable float after x toward +inf (up) or -inf, as lax.nextafter, through the
// bit pattern read as a signed integer.
Array next_after(const Array& x, bool up) {
  if (is_half_float(x.dtype())) {
    // No 16-bit integers: step in float32. Above the 16-bit float's smallest normal its binades
    // are float32's, so the gap to the next value is float32's gap times 2^(23 - nmant); below,
    // the subnormal spacing (float16: 2^-24; bfloat16's equals float32's).
    const DType dt = x.dtype();
    Array x32 = lax::convert_element_type(x, float32);
    Array step = abs(next_after(x32, up) - x32) * scalar(std::ldexp(1.0, 23 - mantissa_bits(dt)), float32);
    if (dt == float16) step = maximum(step, scalar(std::ldexp(1.0, -24), float32));
    Array r = lax::convert_element_type(up ? x32 + step : x32 - step, dt);
    // From an infinity inward: the largest finite value; toward it, or NaN: x itself.
    const double max = dt == float16 ? 65504.0 : static_cast<double>(static_cast<float>(bfloat16_t::from_bits(0x7f7f)));
    const double inward_from = up ? -INFINITY : INFINITY;
    r = where(equal(x32, scalar(inward_from, float32)), scalar(up ? -max : max, dt), r);
    return where(logical_or(equal(x32, scalar(up ? INFINITY : -INFINITY, float32)), isnan(x32)), x, r);
  }
  const DType it = x.dtype() == float64 ? int64 : int32;
  Array i = lax::bitcast_convert_type(x, it);
  Array one = scalar(1, it);
  Array away = up ? greater(x, scalar(0, x.dtype())) : less(x, scalar(0, x.dtype()));
  Array stepped = where(away, i + one, i - one);
  // From zero: the smallest subnormal of the direction's sign.
  Array tiny = lax::bitcast_convert_type(scalar(1, it), x.dtype());
  Array from_zero = up ? tiny : -tiny;
  Array inf = scalar(up ? INFINITY : -INFINITY, x.dtype());
  Array r = where(equal(x, scalar(0, x.dtype())), from_zero, lax::bitcast_convert_type(stepped, x.dtype()));
  return where(logical_or(equal(x, inf), isnan(x)), x, r);
}

}  // namespace

std::pair<Array, Array> threefry2x32(const Array& k0, const Array& k1, const Array& x0_in, const Array& x1_in,
                                     const Loc& loc) {
  return at_loc(loc, [&] {
    const char* fn = "threefry2x32";
    const Array* ins[] = {&k0, &k1, &x0_in, &x1_in};
    for (const Array* a : ins) {
      check_defined(fn, "an operand", *a);
      if (a->dtype() != uint32) {
        throw_error<DTypeError>("[random.threefry2x32] operands must be uint32, got ", k0.aval().str(), ", ",
                                k1.aval().str(), ", ", x0_in.aval().str(), ", ", x1_in.aval().str());
      }
    }
    if (x0_in.shape() != x1_in.shape()) {
      throw_error<ShapeError>("[random.threefry2x32] counters must have one shape, got ", x0_in.aval().str(), " and ",
                              x1_in.aval().str());
    }
    static constexpr int kRot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
    Array ks[3] = {k0, k1, bitwise_xor(bitwise_xor(k0, k1), u32(0x1BD11BDA))};
    Array x0 = x0_in + ks[0];
    Array x1 = x1_in + ks[1];
    // Five groups of four rounds, with a key injection after each group.
    for (int g = 0; g < 5; ++g) {
      for (int r : kRot[g % 2]) {
        x0 = x0 + x1;
        x1 = bitwise_xor(rotl(x1, r), x0);
      }
      x0 = x0 + ks[(g + 1) % 3];
      x1 = x1 + (ks[(g + 2) % 3] + u32(g + 1));
    }
    return std::pair<Array, Array>{x0, x1};
  });
}

Array key(int64_t seed, const Loc& loc) {
  return at_loc(loc, [&] {
    const uint64_t s = static_cast<uint64_t>(seed);
    return array(std::vector<uint32_t>{static_cast<uint32_t>(s >> 32), static_cast<uint32_t>(s & 0xFFFFFFFFu)});
  });
}

Array key(const Array& seed, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("key", "the seed", seed);
    if (seed.ndim() != 0 || is_floating(seed.dtype()) || seed.dtype() == bool_) {
      throw_error<DTypeError>("[random.key] seed must be a 0-d integer array, got ", seed.aval().str());
    }
    Array hi = seed.dtype() == int64 ? lax::convert_element_type(lax::shift_right_logical(seed, scalar(32, int64)), uint32)
                                     : u32(0);
    Array lo = lax::convert_element_type(seed, uint32);
    return stack({hi, lo});
  });
}

Array split(const Array& key, int64_t n, const Loc& loc) {
  return at_loc(loc, [&] {
    check_key("split", key);
    if (n < 0) throw_error<ValueError>("[random.split] number of keys must be >= 0, got ", n);
    auto [b1, b2] = hash_shape("split", key, {n});
    return stack({b1, b2}, 1);
  });
}

Array fold_in(const Array& key, const Array& data, const Loc& loc) {
  return at_loc(loc, [&] {
    check_key("fold_in", key);
    check_defined("fold_in", "data", data);
    if (data.ndim() != 0 || is_floating(data.dtype())) {
      throw_error<DTypeError>("[random.fold_in] data must be a 0-d integer, got ", data.aval().str());
    }
    auto [b1, b2] = threefry2x32(key_word(key, 0), key_word(key, 1), u32(0), lax::convert_element_type(data, uint32));
    return stack({b1, b2});
  });
}

Array bits(const Array& key, const Shape& shape, const Loc& loc) {
  return at_loc(loc, [&] {
    check_key("bits", key);
    check_shape("bits", shape);
    return bits32("bits", key, shape);
  });
}

Array uniform(const Array& key, const Shape& shape, DType dtype, const Array& minval, const Array& maxval,
              const Loc& loc) {
  return at_loc(loc, [&] { return uniform_impl("uniform", key, shape, dtype, minval, maxval); });
}

Array normal(const Array& key, const Shape& shape, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    check_float_dtype("normal", dtype);
    // nextafter(-1, 0) in dtype: the open interval (-1, 1) keeps erf_inv finite.
    const double lo = -(1.0 - std::ldexp(1.0, -mantissa_bits(dtype) - 1));
    Array u = uniform_impl("normal", key, shape, dtype, scalar(lo, dtype), scalar(1.0, dtype));
    return scalar(std::sqrt(2.0), dtype) * lax::erf_inv(u);
  });
}

Array truncated_normal(const Array& key, const Array& lower, const Array& upper, std::optional<Shape> shape,
                       DType dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    const char* fn = "truncated_normal";
    check_float_dtype(fn, dtype);
    check_defined(fn, "lower", lower);
    check_defined(fn, "upper", upper);
    Shape s = shape ? *shape : broadcast_shapes("random.truncated_normal", lower.aval(), upper.aval());
    check_shape(fn, s);
    check_broadcasts_to(fn, "lower", lower, s);
    check_broadcasts_to(fn, "upper", upper, s);
    Array sqrt2 = scalar(std::sqrt(2.0), dtype);
    Array lo = lax::convert_element_type(lower, dtype);
    Array hi = lax::convert_element_type(upper, dtype);
    Array a = erf(lo / sqrt2);
    Array b = erf(hi / sqrt2);
    Array u = uniform_impl(fn, key, s, dtype, a, b);
    Array out = sqrt2 * lax::erf_inv(u);
    // Clamp into the open interval (rounding, or u == a, could land on or past a bound).
    return clip(out, next_after(lax::stop_gradient(lo), true), next_after(lax::stop_gradient(hi), false));
  });
}

Array bernoulli(const Array& key, const Array& p, std::optional<Shape> shape, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("bernoulli", "p", p);
    if (!is_floating(p.dtype())) {
      throw_error<DTypeError>("[random.bernoulli] p must be floating-point, got ", p.aval().str());
    }
    Shape s = shape ? *shape : p.shape();
    check_shape("bernoulli", s);
    check_broadcasts_to("bernoulli", "p", p, s);
    Array u = uniform_impl("bernoulli", key, s, p.dtype(), 0.0, 1.0);
    return less(u, p);
  });
}

Array categorical(const Array& key, const Array& logits, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    check_key("categorical", key);
    check_defined("categorical", "logits", logits);
    if (!is_floating(logits.dtype())) {
      throw_error<DTypeError>("[random.categorical] logits must be floating-point, got ", logits.aval().str());
    }
    const int nd = static_cast<int>(logits.ndim());
    if (axis < -nd || axis >= nd) {
      throw_error<ShapeError>("[random.categorical] axis ", axis, " is out of range for logits ", logits.aval().str());
    }
    if (axis < 0) axis += nd;
    const DType dt = logits.dtype();
    // Gumbel noise -log(-log(u)), u uniform in [tiny, 1).
    const double tiny = smallest_normal(dt);
    Array u = uniform_impl("categorical", key, logits.shape(), dt, scalar(tiny, dt), scalar(1.0, dt));
    Array gumbel = -log(-log(u));
    return argmax(gumbel + logits, axis);
  });
}

Array randint(const Array& key, const Shape& shape, int64_t minval, int64_t maxval, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    check_key("randint", key);
    check_shape("randint", shape);
    if (dtype != int32 && dtype != uint32) {
      throw_error<DTypeError>("[random.randint] dtype must be int32 or uint32 (64-bit draws need uint64), got ",
                              dtype_name(dtype));
    }
    const int64_t lo = dtype == int32 ? std::numeric_limits<int32_t>::min() : 0;
    const int64_t hi = dtype == int32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<uint32_t>::max();
    if (minval >= maxval) {
      throw_error<ValueError>("[random.randint] needs minval < maxval, got minval ", minval, ", maxval ", maxval);
    }
    if (minval < lo || maxval > hi + 1) {
      throw_error<ValueError>("[random.randint] [", minval, ", ", maxval, ") is out of the range of ", dtype_name(dtype),
                              " ([", lo, ", ", hi + 1, "))");
    }
    // JAX: maxval one past the dtype's max is clipped and the span widened by one.
    const bool out_of_range = maxval > hi;
    const int64_t mv = out_of_range ? hi : maxval;
    uint64_t span = static_cast<uint64_t>(mv - minval);
    if (out_of_range && mv > minval) span += 1;
    if (mv <= minval) span = 1;
    Array keys = random::split(key, 2);
    Array higher = bits32("randint", reshape(lax::slice(keys, {0, 0}, {1, 2}, {}), {2}), shape);
    Array lower = bits32("randint", reshape(lax::slice(keys, {1, 0}, {2, 2}, {}), {2}), shape);
    Array offset;
    if (span == (uint64_t{1} << 32)) {
      // The full 32-bit range: XLA's x % 0 = x makes the offset the lower word.
      offset = lower;
    } else {
      // Two words combined modulo span (lowers the bias when span is not a power of two).
      uint64_t mult = (uint64_t{1} << 16) % span;
      mult = static_cast<uint32_t>(mult * mult) % span;  // lax.mul wraps in uint32
      Array sp = u32(static_cast<double>(span));
      offset = mod(mod(higher, sp) * u32(static_cast<double>(mult)) + mod(lower, sp), sp);
    }
    return scalar(static_cast<double>(minval), dtype) + lax::convert_element_type(offset, dtype);
  });
}

Array permutation(const Array& key, int64_t n, const Loc& loc) {
  return at_loc(loc, [&] {
    check_key("permutation", key);
    if (n < 0) throw_error<ValueError>("[random.permutation] n must be >= 0, got ", n);
    Array x = lax::iota(int32, {n});
    // JAX's number of sort rounds.
    const double uint32max = 4294967295.0;
    const int rounds = static_cast<int>(std::ceil(3.0 * std::log(std::max<double>(1.0, static_cast<double>(n))) /
                                                  std::log(uint32max)));
    Array k = key;
    Array jlt = less(lax::iota(int32, {n, n}, 1), lax::iota(int32, {n, n}, 0));  // [i, j]: j < i
    Array slot = lax::iota(int32, {n, n}, 0);                                    // [r, i]: r
    for (int round = 0; round < rounds; ++round) {
      Array keys = random::split(k, 2);
      k = reshape(lax::slice(keys, {0, 0}, {1, 2}, {}), {2});
      Array sort_keys = bits32("permutation", reshape(lax::slice(keys, {1, 0}, {2, 2}, {}), {2}), {n});
      Array col = reshape(sort_keys, {n, 1});  // k_i
      Array row = reshape(sort_keys, {1, n});  // k_j
      // rank_i = #{j : k_j < k_i} + #{j < i : k_j == k_i} (a stable sort's position of i).
      Array before = logical_or(less(row, col), logical_and(equal(row, col), jlt));
      Array rank = sum(lax::convert_element_type(before, int32), {1});
      // x_new[r] = x[i] where rank_i == r.
      Array onehot = equal(slot, reshape(rank, {1, n}));
      x = sum(where(onehot, reshape(x, {1, n}), scalar(0, int32)), {1});
    }
    return x;
  });
}

Array permutation(const Array& key, const Array& x, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("permutation", "x", x);
    const int nd = static_cast<int>(x.ndim());
    if (nd == 0 || axis < -nd || axis >= nd) {
      throw_error<ShapeError>("[random.permutation] axis ", axis, " is out of range for x ", x.aval().str());
    }
    if (axis < 0) axis += nd;
    return take(x, permutation(key, x.shape()[axis]), axis);
  });
}

}  // namespace random

namespace lax {
namespace {

// XLA's ErfInv32: Giles' single-precision approximation, in w = -log1p(-x^2).
Array erf_inv_f32(const Array& x) {
  static constexpr float small[9] = {2.81022636e-08f,  3.43273939e-07f, -3.5233877e-06f,
                                     -4.39150654e-06f, 0.00021858087f,  -0.00125372503f,
                                     -0.00417768164f,  0.246640727f,    1.50140941f};
  static constexpr float large[9] = {-0.000200214257f, 0.000100950558f, 0.00134934322f,
                                     -0.00367342844f,  0.00573950773f,  -0.0076224613f,
                                     0.00943887047f,   1.00167406f,     2.83297682f};
  auto c = [](double v) { return scalar(v, float32); };
  Array w = -log1p(-x * x);
  Array lt = less(w, c(5.0));
  Array ws = where(lt, w - c(2.5), sqrt(w) - c(3.0));
  Array p = where(lt, c(small[0]), c(large[0]));
  for (int i = 1; i < 9; ++i) p = where(lt, c(small[i]), c(large[i])) + p * ws;
  return p * x;
}

// XLA's ErfInv64: Giles' double-precision approximation (three ranges of w).
Array erf_inv_f64(const Array& x) {
  static constexpr double a[23] = {
      -3.6444120640178196996e-21, -1.685059138182016589e-19,  1.2858480715256400167e-18,
      1.115787767802518096e-17,   -1.333171662854620906e-16,  2.0972767875968561637e-17,
      6.6376381343583238325e-15,  -4.0545662729752068639e-14, -8.1519341976054721522e-14,
      2.6335093153082322977e-12,  -1.2975133253453532498e-11, -5.4154120542946279317e-11,
      1.051212273321532285e-09,   -4.1126339803469836976e-09, -2.9070369957882005086e-08,
      4.2347877827932403518e-07,  -1.3654692000834678645e-06, -1.3882523362786468719e-05,
      0.0001867342080340571352,   -0.00074070253416626697512, -0.0060336708714301490533,
      0.24015818242558961693,     1.6536545626831027356};
  static constexpr double b[19] = {
      2.2137376921775787049e-09,  9.0756561938885390979e-08,  -2.7517406297064545428e-07,
      1.8239629214389227755e-08,  1.5027403968909827627e-06,  -4.013867526981545969e-06,
      2.9234449089955446044e-06,  1.2475304481671778723e-05,  -4.7318229009055733981e-05,
      6.8284851459573175448e-05,  2.4031110387097893999e-05,  -0.0003550375203628474796,
      0.00095328937973738049703,  -0.0016882755560235047313,  0.0024914420961078508066,
      -0.0037512085075692412107,  0.005370914553590063617,    1.0052589676941592334,
      3.0838856104922207635};
  static constexpr double g[17] = {
      -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
      -3.7894654401267369937e-09, 7.6157012080783393804e-09,  -1.4960026627149240478e-08,
      2.9147953450901080826e-08,  -6.7711997758452339498e-08, 2.2900482228026654717e-07,
      -9.9298272942317002539e-07, 4.5260625972231537039e-06,  -1.9681778105531670567e-05,
      7.5995277030017761139e-05,  -0.00021503011930044477347, -0.00013871931833623122026,
      1.0103004648645343977,      4.8499064014085844221};
  auto c = [](double v) { return scalar(v, float64); };
  Array w = -log1p(-x * x);
  Array lt625 = less(w, c(6.25));
  Array lt16 = less(w, c(16.0));
  auto coef = [&](int i) {
    Array k = c(a[i]);
    if (i < 19) k = where(lt625, k, c(b[i]));
    if (i < 17) k = where(lt16, k, c(g[i]));
    return k;
  };
  Array ws = where(lt625, w - c(3.125), sqrt(w) - where(lt16, c(3.25), c(5.0)));
  Array p = coef(0);
  for (int i = 1; i < 17; ++i) p = coef(i) + p * ws;
  for (int i = 17; i < 19; ++i) p = where(lt16, coef(i) + p * ws, p);
  for (int i = 19; i < 23; ++i) p = where(lt625, coef(i) + p * ws, p);
  return p * x;
}

Array erf_inv_impl(const Array& x) {
  // float16/bfloat16: in float32, rounded once (as XLA's ErfInv upcasts them).
  if (is_half_float(x.dtype())) return convert_element_type(erf_inv_impl(convert_element_type(x, float32)), x.dtype());
  Array r = x.dtype() == float64 ? erf_inv_f64(x) : erf_inv_f32(x);
  // erf_inv(±1) = ±inf (the polynomial is indeterminate there).
  Array inf = scalar(INFINITY, x.dtype());
  return where(equal(abs(x), scalar(1.0, x.dtype())), x * inf, r);
}

}  // namespace

Array erf_inv(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!x.defined()) throw_error<ValueError>("[erf_inv] the operand is an undefined Array");
    if (!is_floating(x.dtype())) {
      throw_error<DTypeError>("[erf_inv] needs a floating-point operand, got ", x.aval().str());
    }
    // d/dx erf_inv(x) = sqrt(pi)/2 * exp(erf_inv(x)^2).
    auto f = custom_jvp([](const Array& v) { return erf_inv_impl(v); },
                        [](const std::tuple<Array>& primals, const std::tuple<Array>& tangents) {
                          Array y = erf_inv_impl(std::get<0>(primals));
                          Array scale = scalar(0.88622692545275801365, y.dtype()) * exp(y * y);
                          return std::pair<Array, Array>{y, std::get<0>(tangents) * scale};
                        });
    return f(x);
  });
}

}  // namespace lax
}  // namespace jx
