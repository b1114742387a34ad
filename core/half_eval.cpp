// Eager float16/bfloat16: CPU kernels wrapped to compute in float32 and round back (see
// half_eval.h), direct element conversions, and the shortest-digits printing of 16-bit floats.

#include "core/half_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/prims/elementwise.h"

namespace jx::detail {

namespace {

template <class H>
void widen(const H* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

template <class H>
void narrow(const float* x, H* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = H(x[i]);
}

// A float32 copy of a float16/bfloat16 array (exact).
Array widened(const Array& x) {
  Array out = empty_array(AbstractValue{DType::float32, x.shape(), x.weak_type()});
  if (x.dtype() == DType::float16) widen(x.data<float16_t>(), out.mutable_data<float>(), x.size());
  else widen(x.data<bfloat16_t>(), out.mutable_data<float>(), x.size());
  return out;
}

// Rounds a float32 array into a float16/bfloat16 one of the same shape.
void round_into(const Array& x, const Array& out) {
  if (out.dtype() == DType::float16) narrow(x.data<float>(), out.mutable_data<float16_t>(), x.size());
  else narrow(x.data<float>(), out.mutable_data<bfloat16_t>(), x.size());
}

bool is_half(const Array& a) { return a.defined() && is_half_float(a.dtype()); }

bool touches_half(std::span<const Array> in, std::span<Array> out) {
  for (auto& a : in)
    if (is_half(a)) return true;
  for (auto& a : out)
    if (is_half(a)) return true;
  return false;
}

// 1. Widen the 16-bit float inputs, 2. run the float32 kernel into float32 temporaries for the
// 16-bit float outputs, 3. round those back.
void compute_in_float32(const Kernel& kernel, std::span<const Array> in, std::span<Array> out, const Params& params) {
  std::vector<Array> in32(in.begin(), in.end());
  for (auto& a : in32)
    if (is_half(a)) a = widened(a);
  std::vector<Array> out32(out.begin(), out.end());
  for (auto& a : out32)
    if (is_half(a)) a = empty_array(AbstractValue{DType::float32, a.shape(), a.weak_type()});
  kernel(in32, out32, params);
  for (size_t i = 0; i < out.size(); ++i)
    if (is_half(out[i])) round_into(out32[i], out[i]);
}

}  // namespace

void convert_half_elements(const Array& x, const Array& out) {
  const int64_t n = x.size();
  dispatch_storage_dtype(x.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_storage_dtype(out.dtype(), [&](auto d) {
      using D = decltype(d);
      if constexpr (is_half_storage_v<S> || is_half_storage_v<D>) {
        const S* src = x.data<S>();
        D* dst = out.mutable_data<D>();
        for (int64_t i = 0; i < n; ++i) dst[i] = convert_element<D>(src[i]);
      } else {
        JX_CHECK(false, "convert_half_elements from ", dtype_name(x.dtype()), " to ", dtype_name(out.dtype()));
      }
    });
  });
}

Kernel with_half_storage(const Primitive& prim, Kernel kernel) {
  enum class Mode { compute, convert, bitcast };
  const Mode mode = prim == convert_element_type_p  ? Mode::convert
                    : prim == bitcast_convert_type_p ? Mode::bitcast
                                                     : Mode::compute;
  return [mode, kernel = std::move(kernel)](std::span<const Array> in, std::span<Array> out, const Params& params) {
    if (!touches_half(in, out)) return kernel(in, out, params);
    switch (mode) {
      case Mode::convert:
        // One rounding from the source value (float64 -> float16 not through float32).
        convert_half_elements(in[0], out[0]);
        return;
      case Mode::bitcast: {
        // Between float16 and bfloat16 (the only 16-bit types): the bits as they are.
        const size_t nbytes = static_cast<size_t>(out[0].size()) * itemsize(out[0].dtype());
        if (nbytes) std::memcpy(out[0].raw_data(), in[0].raw_data(), nbytes);
        return;
      }
      case Mode::compute: compute_in_float32(kernel, in, out, params); return;
    }
  };
}

std::string format_half(float v, DType dtype) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  if (dtype == DType::bfloat16) {
    // ml_dtypes prints bfloat16 as a float with 6 significant digits (0.333984).
    std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
    return buf;
  }
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  // float16 (numpy): the fewest significant digits that read back as v; at each length the
  // digits printf rounds to and their neighbours are tried (0.015625 -> "0.01563": printf's
  // tie to even gives 0.01562, which is another float16), the closest one that reads back wins.
  const double x = std::fabs(static_cast<double>(v));
  std::string mant;
  int exp10 = 0;
  for (int digits = 1; digits <= 9 && mant.empty(); ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, x);
    const int e = std::atoi(std::strchr(buf, 'e') + 1);
    long long m = 0;
    for (const char* c = buf; *c != 'e'; ++c)
      if (*c >= '0' && *c <= '9') m = m * 10 + (*c - '0');
    double best = INFINITY;
    for (long long cand : {m, m - 1, m + 1}) {
      std::snprintf(buf, sizeof buf, "%llde%d", cand, e - digits + 1);
      const double parsed = std::strtod(buf, nullptr);
      if (cand <= 0 || float16_t(parsed).bits != float16_t(x).bits || std::fabs(parsed - x) >= best) continue;
      best = std::fabs(parsed - x);
      mant = std::to_string(cand);
      exp10 = e + static_cast<int>(mant.size()) - digits;  // 9.99 + 0.01 -> 10.0: one more digit
    }
  }
  while (mant.size() > 1 && mant.back() == '0') mant.pop_back();
  std::string out;
  if (x < 1e-4 || x >= 1e16) {
    // Scientific, as %g: 6e-08, 2.5e-05.
    std::snprintf(buf, sizeof buf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out = mant.substr(0, 1) + (mant.size() > 1 ? "." + mant.substr(1) : "") + buf;
  } else if (exp10 < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + mant;
  } else if (exp10 + 1 >= static_cast<int>(mant.size())) {
    out = mant + std::string(static_cast<size_t>(exp10 + 1) - mant.size(), '0');  // 65504 -> 65500
  } else {
    out = mant.substr(0, static_cast<size_t>(exp10 + 1)) + "." + mant.substr(static_cast<size_t>(exp10 + 1));
  }
  return std::signbit(v) ? "-" + out : out;
}

}  // namespace jx::detail
