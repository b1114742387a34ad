#pragma once
// The public numpy-like and lax operations. Every op validates its arguments and throws a
// jx::Error naming the op, the operands' shapes/dtypes and the caller's line; every op works on
// concrete arrays (eager) and on tracers (under transforms) alike.

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/array.h"

namespace jx {

// ---- creation --------------------------------------------------------------------------------

Array zeros(const Shape& shape, DType dtype = float32, const Loc& loc = Loc::current());
Array ones(const Shape& shape, DType dtype = float32, const Loc& loc = Loc::current());
/// `value` is a number or a 0-d Array (traced or not); dtype defaults to the value's (weak
/// floats become float32).
Array full(const Shape& shape, const Array& value, std::optional<DType> dtype = std::nullopt,
           const Loc& loc = Loc::current());
/// A strongly typed 0-d array.
Array scalar(double value, DType dtype = float32, const Loc& loc = Loc::current());
Array zeros_like(const Array& x, std::optional<DType> dtype = std::nullopt, const Loc& loc = Loc::current());
Array ones_like(const Array& x, std::optional<DType> dtype = std::nullopt, const Loc& loc = Loc::current());
Array full_like(const Array& x, const Array& value, std::optional<DType> dtype = std::nullopt,
                const Loc& loc = Loc::current());
/// [0, stop) as int32.
Array arange(int64_t stop, const Loc& loc = Loc::current());
/// [start, stop) by step; dtype defaults to int32 for integral arguments, else float32.
Array arange(double start, double stop, double step = 1.0, std::optional<DType> dtype = std::nullopt,
             const Loc& loc = Loc::current());
Array linspace(double start, double stop, int64_t num = 50, bool endpoint = true, DType dtype = float32,
               const Loc& loc = Loc::current());
Array eye(int64_t n, std::optional<int64_t> m = std::nullopt, int64_t k = 0, DType dtype = float32,
          const Loc& loc = Loc::current());

// ---- elementwise -----------------------------------------------------------------------------

Array add(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array subtract(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array multiply(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// True division: integer inputs give float32 (as numpy/JAX `/`).
Array divide(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// Division rounding toward negative infinity (numpy `//`).
Array floor_divide(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// Remainder with the sign of the divisor (numpy `%`).
Array mod(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array negative(const Array& x, const Loc& loc = Loc::current());
Array power(const Array& a, const Array& b, const Loc& loc = Loc::current());
inline Array pow(const Array& a, const Array& b, const Loc& loc = Loc::current()) { return power(a, b, loc); }
Array maximum(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array minimum(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array arctan2(const Array& y, const Array& x, const Loc& loc = Loc::current());
Array logaddexp(const Array& a, const Array& b, const Loc& loc = Loc::current());

Array exp(const Array& x, const Loc& loc = Loc::current());
Array log(const Array& x, const Loc& loc = Loc::current());
Array log1p(const Array& x, const Loc& loc = Loc::current());
Array expm1(const Array& x, const Loc& loc = Loc::current());
Array sin(const Array& x, const Loc& loc = Loc::current());
Array cos(const Array& x, const Loc& loc = Loc::current());
Array tan(const Array& x, const Loc& loc = Loc::current());
Array tanh(const Array& x, const Loc& loc = Loc::current());
Array sinh(const Array& x, const Loc& loc = Loc::current());
Array cosh(const Array& x, const Loc& loc = Loc::current());
Array arcsin(const Array& x, const Loc& loc = Loc::current());
Array arccos(const Array& x, const Loc& loc = Loc::current());
Array arctan(const Array& x, const Loc& loc = Loc::current());
Array sqrt(const Array& x, const Loc& loc = Loc::current());
Array rsqrt(const Array& x, const Loc& loc = Loc::current());
Array square(const Array& x, const Loc& loc = Loc::current());
Array reciprocal(const Array& x, const Loc& loc = Loc::current());
Array abs(const Array& x, const Loc& loc = Loc::current());
Array sign(const Array& x, const Loc& loc = Loc::current());
Array floor(const Array& x, const Loc& loc = Loc::current());
Array ceil(const Array& x, const Loc& loc = Loc::current());
/// Rounds half to even, as numpy.
Array round(const Array& x, const Loc& loc = Loc::current());
Array erf(const Array& x, const Loc& loc = Loc::current());
Array lgamma(const Array& x, const Loc& loc = Loc::current());
Array digamma(const Array& x, const Loc& loc = Loc::current());
Array sigmoid(const Array& x, const Loc& loc = Loc::current());
Array softplus(const Array& x, const Loc& loc = Loc::current());
Array isnan(const Array& x, const Loc& loc = Loc::current());
Array isfinite(const Array& x, const Loc& loc = Loc::current());
Array clip(const Array& x, const Array& lo, const Array& hi, const Loc& loc = Loc::current());
/// Elementwise selection with broadcasting and promotion of a and b; cond must be bool.
Array where(const Array& cond, const Array& a, const Array& b, const Loc& loc = Loc::current());

Array equal(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array not_equal(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array less(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array less_equal(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array greater(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array greater_equal(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// Logical ops on bool arrays (bitwise on integer arrays, as numpy's & | ~).
Array logical_and(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array logical_or(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array logical_not(const Array& x, const Loc& loc = Loc::current());

Array operator+(const Array& a, const ArrayArg& b);
Array operator-(const Array& a, const ArrayArg& b);
Array operator*(const Array& a, const ArrayArg& b);
Array operator/(const Array& a, const ArrayArg& b);
Array operator-(const ArrayArg& x);
Array operator==(const Array& a, const ArrayArg& b);
Array operator!=(const Array& a, const ArrayArg& b);
Array operator<(const Array& a, const ArrayArg& b);
Array operator<=(const Array& a, const ArrayArg& b);
Array operator>(const Array& a, const ArrayArg& b);
Array operator>=(const Array& a, const ArrayArg& b);
Array operator&&(const Array& a, const ArrayArg& b);
Array operator||(const Array& a, const ArrayArg& b);
Array operator!(const ArrayArg& x);
Array& operator+=(Array& a, const ArrayArg& b);
Array& operator-=(Array& a, const ArrayArg& b);
Array& operator*=(Array& a, const ArrayArg& b);
Array& operator/=(Array& a, const ArrayArg& b);

// ---- reductions (axes empty = all axes) ------------------------------------------------------

using Axes = std::vector<int>;
Array sum(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array mean(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array prod(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array max(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array min(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array var(const Array& x, const Axes& axes = {}, bool keepdims = false, int ddof = 0,
          const Loc& loc = Loc::current());
Array std(const Array& x, const Axes& axes = {}, bool keepdims = false, int ddof = 0,
          const Loc& loc = Loc::current());
Array logsumexp(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array all(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
Array any(const Array& x, const Axes& axes = {}, bool keepdims = false, const Loc& loc = Loc::current());
/// Index of the first maximum along `axis` (int32).
Array argmax(const Array& x, int axis, bool keepdims = false, const Loc& loc = Loc::current());
Array argmin(const Array& x, int axis, bool keepdims = false, const Loc& loc = Loc::current());
Array cumsum(const Array& x, int axis, const Loc& loc = Loc::current());
Array cumprod(const Array& x, int axis, const Loc& loc = Loc::current());

// ---- shape -----------------------------------------------------------------------------------

/// One dimension may be -1 (inferred).
Array reshape(const Array& x, const Shape& shape, const Loc& loc = Loc::current());
/// perm empty = reverse the axes.
Array transpose(const Array& x, const std::vector<int>& perm = {}, const Loc& loc = Loc::current());
Array expand_dims(const Array& x, const Axes& axes, const Loc& loc = Loc::current());
/// axes empty = every axis of size 1.
Array squeeze(const Array& x, const Axes& axes = {}, const Loc& loc = Loc::current());
Array broadcast_to(const Array& x, const Shape& shape, const Loc& loc = Loc::current());
Array concatenate(const std::vector<Array>& xs, int axis = 0, const Loc& loc = Loc::current());
Array stack(const std::vector<Array>& xs, int axis = 0, const Loc& loc = Loc::current());
/// Into `sections` equal parts along `axis`.
std::vector<Array> split(const Array& x, int64_t sections, int axis = 0, const Loc& loc = Loc::current());
/// At the given indices along `axis`.
std::vector<Array> split(const Array& x, const std::vector<int64_t>& indices, int axis = 0,
                         const Loc& loc = Loc::current());
/// Static slice: start/stop per leading axis (missing axes taken whole), positive strides.
Array slice(const Array& x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
            const std::vector<int64_t>& strides = {}, const Loc& loc = Loc::current());
/// axes empty = all axes.
Array flip(const Array& x, const Axes& axes = {}, const Loc& loc = Loc::current());
Array roll(const Array& x, int64_t shift, std::optional<int> axis = std::nullopt, const Loc& loc = Loc::current());
/// Constant padding: pad_width has one (before, after) pair per axis.
Array pad(const Array& x, const std::vector<std::pair<int64_t, int64_t>>& pad_width,
          const Array& constant_value = 0, const Loc& loc = Loc::current());
/// Indices are clamped into range (JAX's default for take out of bounds is fill; jx clamps and
/// documents it).
Array take(const Array& x, const Array& indices, std::optional<int> axis = std::nullopt,
           const Loc& loc = Loc::current());
Array take_along_axis(const Array& x, const Array& indices, int axis, const Loc& loc = Loc::current());
Array tile(const Array& x, const std::vector<int64_t>& reps, const Loc& loc = Loc::current());
Array repeat(const Array& x, int64_t repeats, std::optional<int> axis = std::nullopt,
             const Loc& loc = Loc::current());
Array tril(const Array& x, int64_t k = 0, const Loc& loc = Loc::current());
Array triu(const Array& x, int64_t k = 0, const Loc& loc = Loc::current());

// ---- linear algebra --------------------------------------------------------------------------

Array matmul(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array dot(const Array& a, const Array& b, const Loc& loc = Loc::current());
Array outer(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// Contracts the last `axes` dims of a with the first `axes` of b.
Array tensordot(const Array& a, const Array& b, int axes = 2, const Loc& loc = Loc::current());
Array tensordot(const Array& a, const Array& b, const std::pair<Axes, Axes>& axes,
                const Loc& loc = Loc::current());
Array trace(const Array& x, int64_t offset = 0, int axis1 = 0, int axis2 = 1, const Loc& loc = Loc::current());
Array einsum(const std::string& spec, const std::vector<Array>& operands, const Loc& loc = Loc::current());
inline Array einsum(const std::string& spec, const Array& a, const Loc& loc = Loc::current()) {
  return einsum(spec, std::vector<Array>{a}, loc);
}
inline Array einsum(const std::string& spec, const Array& a, const Array& b, const Loc& loc = Loc::current()) {
  return einsum(spec, std::vector<Array>{a, b}, loc);
}

// ---- neural ----------------------------------------------------------------------------------

Array softmax(const Array& x, int axis = -1, const Loc& loc = Loc::current());
Array log_softmax(const Array& x, int axis = -1, const Loc& loc = Loc::current());
Array relu(const Array& x, const Loc& loc = Loc::current());
/// approximate = true: the tanh form (JAX's default).
Array gelu(const Array& x, bool approximate = true, const Loc& loc = Loc::current());

/// "SAME", "VALID", or explicit (low, high) pairs, one per spatial dimension.
struct Padding {
  std::string mode;  // "SAME", "VALID", or "" for explicit
  std::vector<std::pair<int64_t, int64_t>> pairs;
  Padding(const char* m) : mode(m) {}                      // NOLINT
  Padding(std::string m) : mode(std::move(m)) {}           // NOLINT
  Padding(std::vector<std::pair<int64_t, int64_t>> p) : pairs(std::move(p)) {}  // NOLINT
  Padding(std::initializer_list<std::pair<int64_t, int64_t>> p) : pairs(p) {}   // NOLINT
};

/// 2-d convolution, NHWC input and HWIO kernel.
Array conv(const Array& x, const Array& w, const std::vector<int64_t>& strides = {1, 1},
           const Padding& padding = "SAME", const std::vector<int64_t>& dilation = {1, 1},
           const Loc& loc = Loc::current());
/// Pooling over the spatial dims of NHWC input; strides default to the window.
Array max_pool(const Array& x, const std::vector<int64_t>& window, std::vector<int64_t> strides = {},
               const Padding& padding = "VALID", const Loc& loc = Loc::current());
Array avg_pool(const Array& x, const std::vector<int64_t>& window, std::vector<int64_t> strides = {},
               const Padding& padding = "VALID", const Loc& loc = Loc::current());

// ---- lax -------------------------------------------------------------------------------------

namespace lax {

struct DotDimensionNumbers {
  std::pair<Axes, Axes> contracting;  // (lhs, rhs)
  std::pair<Axes, Axes> batch;        // (lhs, rhs)
};
/// Output dims: batch dims, then lhs free dims, then rhs free dims (as XLA).
Array dot_general(const Array& lhs, const Array& rhs, const std::pair<Axes, Axes>& contracting,
                  const std::pair<Axes, Axes>& batch = {}, std::optional<DType> preferred = std::nullopt,
                  const Loc& loc = Loc::current());

struct ConvDimensionNumbers {
  std::string lhs = "NHWC", rhs = "HWIO", out = "NHWC";
};
Array conv_general_dilated(const Array& lhs, const Array& rhs, const std::vector<int64_t>& window_strides,
                           const Padding& padding, const std::vector<int64_t>& lhs_dilation = {},
                           const std::vector<int64_t>& rhs_dilation = {},
                           const ConvDimensionNumbers& dimension_numbers = {},
                           int64_t feature_group_count = 1, const Loc& loc = Loc::current());

/// `dims[i]` is the output dim that input dim i maps to (XLA's broadcast_dimensions).
Array broadcast_in_dim(const Array& x, const Shape& shape, const std::vector<int64_t>& dims,
                       const Loc& loc = Loc::current());

/// The monoids reduce_window supports.
enum class Monoid { add, mul, max, min };
Array reduce_window(const Array& x, const Array& init, Monoid op, const std::vector<int64_t>& window,
                    const std::vector<int64_t>& strides, const Padding& padding = "VALID",
                    const Loc& loc = Loc::current());

/// Start indices are integer scalars (traced or not), clamped so the slice fits, as in JAX.
Array dynamic_slice(const Array& x, const std::vector<Array>& starts, const std::vector<int64_t>& sizes,
                    const Loc& loc = Loc::current());
Array dynamic_update_slice(const Array& x, const Array& update, const std::vector<Array>& starts,
                           const Loc& loc = Loc::current());

/// XLA gather dimension numbers (as jax.lax.GatherDimensionNumbers).
struct GatherDimensionNumbers {
  std::vector<int64_t> offset_dims;
  std::vector<int64_t> collapsed_slice_dims;
  std::vector<int64_t> start_index_map;
};
/// Out-of-bounds starts are clamped (JAX's "clip" mode).
Array gather(const Array& operand, const Array& start_indices, const GatherDimensionNumbers& dnums,
             const std::vector<int64_t>& slice_sizes, const Loc& loc = Loc::current());
/// XLA scatter dimension numbers (as jax.lax.ScatterDimensionNumbers).
struct ScatterDimensionNumbers {
  std::vector<int64_t> update_window_dims;
  std::vector<int64_t> inserted_window_dims;
  std::vector<int64_t> scatter_dims_to_operand_dims;
};
/// Out-of-bounds updates are dropped (JAX's "fill/drop" mode for scatter).
Array scatter_add(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc = Loc::current());
Array scatter(const Array& operand, const Array& scatter_indices, const Array& updates,
              const ScatterDimensionNumbers& dnums, const Loc& loc = Loc::current());
Array scatter_mul(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc = Loc::current());
Array scatter_min(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc = Loc::current());
Array scatter_max(const Array& operand, const Array& scatter_indices, const Array& updates,
                  const ScatterDimensionNumbers& dnums, const Loc& loc = Loc::current());

/// pred must be bool with the shape of a and b (or a 0-d bool); no broadcasting, as lax.select.
Array select(const Array& pred, const Array& on_true, const Array& on_false, const Loc& loc = Loc::current());
Array convert_element_type(const Array& x, DType dtype, const Loc& loc = Loc::current());
/// Identity whose derivative is zero.
Array stop_gradient(const Array& x, const Loc& loc = Loc::current());
Array integer_pow(const Array& x, int n, const Loc& loc = Loc::current());
/// Values 0..shape[dimension]-1 along `dimension`.
Array iota(DType dtype, const Shape& shape, int64_t dimension = 0, const Loc& loc = Loc::current());
/// Static slice with explicit start/limit/strides for every axis.
Array slice(const Array& x, const std::vector<int64_t>& start, const std::vector<int64_t>& limit,
            const std::vector<int64_t>& strides = {}, const Loc& loc = Loc::current());
/// Padding with (low, high, interior) per axis; negative low/high crop.
Array pad(const Array& x, const Array& padding_value, const std::vector<std::array<int64_t, 3>>& config,
          const Loc& loc = Loc::current());
Array rev(const Array& x, const std::vector<int64_t>& dims, const Loc& loc = Loc::current());
Array reduce_sum(const Array& x, const std::vector<int64_t>& axes, const Loc& loc = Loc::current());
Array reduce_max(const Array& x, const std::vector<int64_t>& axes, const Loc& loc = Loc::current());
Array reduce_min(const Array& x, const std::vector<int64_t>& axes, const Loc& loc = Loc::current());
Array reduce_prod(const Array& x, const std::vector<int64_t>& axes, const Loc& loc = Loc::current());

}  // namespace lax
}  // namespace jx
