// nnlib initializers: variance scaling (JAX's fan rules and truncation correction), constants,
// and orthogonal matrices by Gram–Schmidt in jx ops.
#include "nnlib/init.h"

#include <cmath>

#include "nnlib/random.h"

namespace jx::nn::init {
namespace {

void require_float(const char* who, DType dtype) {
  if (!is_floating(dtype)) {
    throw DTypeError(detail::cat("[init::", who, "] needs a floating dtype, got ", dtype_name(dtype)));
  }
}

int axis_of(const char* who, int axis, const Shape& shape) {
  int n = static_cast<int>(shape.size());
  int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n) {
    throw ShapeError(detail::cat("[init::", who, "] axis ", axis, " is out of range for shape ",
                                 shape_str(shape)));
  }
  return a;
}

/// A constant of `dtype` (a plain double would be a weak float32 scalar and round float64 results).
Array lit(double v, DType dtype) { return scalar(v, dtype); }

}  // namespace

Array zeros(const Array&, const Shape& shape, DType dtype) { return jx::zeros(shape, dtype); }
Array ones(const Array&, const Shape& shape, DType dtype) { return jx::ones(shape, dtype); }

Initializer constant(double value) {
  return [value](const Array&, const Shape& shape, DType dtype) { return jx::full(shape, lit(value, dtype), dtype); };
}

Initializer normal(double stddev) {
  return [stddev](const Array& key, const Shape& shape, DType dtype) {
    require_float("normal", dtype);
    return random::normal(key, shape, dtype) * lit(stddev, dtype);
  };
}

Initializer uniform(double scale) {
  return [scale](const Array& key, const Shape& shape, DType dtype) {
    require_float("uniform", dtype);
    return random::uniform(key, shape, dtype) * lit(scale, dtype);
  };
}

Initializer truncated_normal(double stddev) {
  return [stddev](const Array& key, const Shape& shape, DType dtype) {
    require_float("truncated_normal", dtype);
    return random::truncated_normal(key, lit(-2.0, dtype), lit(2.0, dtype), shape, dtype) * lit(stddev, dtype);
  };
}

Initializer variance_scaling(double scale, const std::string& mode, const std::string& distribution, int in_axis,
                             int out_axis) {
  if (mode != "fan_in" && mode != "fan_out" && mode != "fan_avg") {
    throw ValueError(detail::cat("[init::variance_scaling] mode must be fan_in, fan_out or fan_avg, got '", mode, "'"));
  }
  if (distribution != "truncated_normal" && distribution != "normal" && distribution != "uniform") {
    throw ValueError(detail::cat("[init::variance_scaling] distribution must be truncated_normal, normal or uniform, got '",
                                 distribution, "'"));
  }
  if (!(scale > 0)) throw ValueError(detail::cat("[init::variance_scaling] scale must be positive, got ", scale));
  return [=](const Array& key, const Shape& shape, DType dtype) {
    require_float("variance_scaling", dtype);
    if (shape.size() < 2) {
      throw ShapeError(detail::cat("[init::variance_scaling] needs a shape of rank >= 2 to compute fans, got ",
                                   shape_str(shape)));
    }
    int ia = axis_of("variance_scaling", in_axis, shape);
    int oa = axis_of("variance_scaling", out_axis, shape);
    double receptive = 1;
    for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
      if (i != ia && i != oa) receptive *= static_cast<double>(shape[i]);
    }
    double fan_in = static_cast<double>(shape[ia]) * receptive;
    double fan_out = static_cast<double>(shape[oa]) * receptive;
    double denom = mode == "fan_in" ? fan_in : mode == "fan_out" ? fan_out : (fan_in + fan_out) / 2;
    double variance = scale / std::max(1.0, denom);
    if (distribution == "truncated_normal") {
      // The stddev of N(0, 1) truncated to [-2, 2] is 0.87962566103423978.
      double stddev = std::sqrt(variance) / 0.87962566103423978;
      return random::truncated_normal(key, lit(-2.0, dtype), lit(2.0, dtype), shape, dtype) * lit(stddev, dtype);
    }
    if (distribution == "normal") return random::normal(key, shape, dtype) * lit(std::sqrt(variance), dtype);
    double limit = std::sqrt(3 * variance);
    return random::uniform(key, shape, dtype, lit(-limit, dtype), lit(limit, dtype));
  };
}

Initializer glorot_uniform(int in_axis, int out_axis) { return variance_scaling(1, "fan_avg", "uniform", in_axis, out_axis); }
Initializer glorot_normal(int in_axis, int out_axis) {
  return variance_scaling(1, "fan_avg", "truncated_normal", in_axis, out_axis);
}
Initializer he_uniform(int in_axis, int out_axis) { return variance_scaling(2, "fan_in", "uniform", in_axis, out_axis); }
Initializer he_normal(int in_axis, int out_axis) {
  return variance_scaling(2, "fan_in", "truncated_normal", in_axis, out_axis);
}
Initializer lecun_uniform(int in_axis, int out_axis) { return variance_scaling(1, "fan_in", "uniform", in_axis, out_axis); }
Initializer lecun_normal(int in_axis, int out_axis) {
  return variance_scaling(1, "fan_in", "truncated_normal", in_axis, out_axis);
}

Initializer orthogonal(double scale, int column_axis) {
  return [=](const Array& key, const Shape& shape, DType dtype) {
    require_float("orthogonal", dtype);
    if (shape.size() < 2) {
      throw ShapeError(detail::cat("[init::orthogonal] needs a shape of rank >= 2, got ", shape_str(shape)));
    }
    int ca = axis_of("orthogonal", column_axis, shape);
    int64_t n_cols = shape[ca];
    int64_t n_rows = shape_size(shape) / std::max<int64_t>(1, n_cols);
    bool wide = n_rows < n_cols;
    int64_t m = wide ? n_cols : n_rows, k = wide ? n_rows : n_cols;
    Array a = random::normal(key, {m, k}, dtype);
    // 1. Classical Gram–Schmidt over the k columns, each projected out twice (CGS2) so the
    //    columns stay orthonormal to rounding even for ill-conditioned draws.
    Array q;
    for (int64_t j = 0; j < k; ++j) {
      Array v = slice(a, {0, j}, {m, j + 1});
      if (j > 0) {
        for (int pass = 0; pass < 2; ++pass) v = v - matmul(q, matmul(transpose(q), v));
      }
      v = v / sqrt(sum(square(v)));
      q = j == 0 ? v : concatenate({q, v}, 1);
    }
    if (m == 0 || k == 0) q = jx::zeros({m, k}, dtype);
    // 2. Rows < cols: the transpose has orthonormal rows.
    if (wide) q = transpose(q);
    q = q * lit(scale, dtype);
    // 3. Back to `shape`: the other dims in order, then the column axis moved into place.
    Shape flat;
    for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
      if (i != ca) flat.push_back(shape[i]);
    }
    flat.push_back(n_cols);
    q = reshape(q, flat);
    std::vector<int> perm;
    int last = static_cast<int>(shape.size()) - 1;
    for (int i = 0, src = 0; i <= last; ++i) perm.push_back(i == ca ? last : src++);
    return transpose(q, perm);
  };
}

}  // namespace jx::nn::init
