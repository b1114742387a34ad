#pragma once
// nnlib initializers (namespace jx::nn::init), as jax.nn.initializers: each is a function
// (key, shape, dtype) -> Array built from jx::random and the public ops only.

#include <functional>
#include <string>

#include "core/ops.h"
#include "core/tree.h"

namespace jx::nn::init {

/// An initializer: (key uint32[2], shape, dtype) -> a fresh array of that shape and dtype.
using Initializer = std::function<Array(const Array& key, const Shape& shape, DType dtype)>;

/// All zeros / all ones (the key is ignored), as jax.nn.initializers.zeros / ones.
Array zeros(const Array& key, const Shape& shape, DType dtype = float32);
Array ones(const Array& key, const Shape& shape, DType dtype = float32);
/// Every element `value`.
Initializer constant(double value);
/// N(0, stddev²) (jax.nn.initializers.normal; default stddev 1e-2).
Initializer normal(double stddev = 1e-2);
/// U[0, scale) (jax.nn.initializers.uniform; default scale 1e-2).
Initializer uniform(double scale = 1e-2);
/// N(0, stddev²) truncated to [-2 stddev, 2 stddev] (jax.nn.initializers.truncated_normal),
/// stddev of the *untruncated* normal.
Initializer truncated_normal(double stddev = 1e-2);

/// jax.nn.initializers.variance_scaling. With fans computed as JAX's `_compute_fans`
/// (receptive field = product of the dims other than in_axis/out_axis;
/// fan_in = shape[in_axis] * rf, fan_out = shape[out_axis] * rf), the target variance is
/// scale / n with n = fan_in, fan_out or (fan_in + fan_out) / 2 (`mode` "fan_in", "fan_out",
/// "fan_avg"). `distribution`:
///   "truncated_normal": N(0, 1) truncated to [-2, 2], times sqrt(variance) / 0.87962566103423978
///                       (the stddev of that truncated normal, so the result has the target variance);
///   "normal":           N(0, variance);
///   "uniform":          U[-sqrt(3 variance), sqrt(3 variance)).
/// Throws ValueError for an unknown mode/distribution, ShapeError for shapes of rank < 2 (no fans)
/// and DTypeError for non-float dtypes.
Initializer variance_scaling(double scale, const std::string& mode, const std::string& distribution,
                             int in_axis = -2, int out_axis = -1);

/// variance_scaling(1, fan_avg, uniform) / (1, fan_avg, truncated_normal).
Initializer glorot_uniform(int in_axis = -2, int out_axis = -1);
Initializer glorot_normal(int in_axis = -2, int out_axis = -1);
inline Initializer xavier_uniform(int in_axis = -2, int out_axis = -1) { return glorot_uniform(in_axis, out_axis); }
inline Initializer xavier_normal(int in_axis = -2, int out_axis = -1) { return glorot_normal(in_axis, out_axis); }
/// variance_scaling(2, fan_in, uniform) / (2, fan_in, truncated_normal).
Initializer he_uniform(int in_axis = -2, int out_axis = -1);
Initializer he_normal(int in_axis = -2, int out_axis = -1);
inline Initializer kaiming_uniform(int in_axis = -2, int out_axis = -1) { return he_uniform(in_axis, out_axis); }
inline Initializer kaiming_normal(int in_axis = -2, int out_axis = -1) { return he_normal(in_axis, out_axis); }
/// variance_scaling(1, fan_in, uniform) / (1, fan_in, truncated_normal).
Initializer lecun_uniform(int in_axis = -2, int out_axis = -1);
Initializer lecun_normal(int in_axis = -2, int out_axis = -1);

/// jax.nn.initializers.orthogonal: the shape is viewed as a matrix with shape[column_axis]
/// columns and the product of the other dims as rows; the result has orthonormal columns
/// (rows >= cols) or orthonormal rows (rows < cols), times `scale`. Computed from an N(0, 1)
/// matrix by classical Gram–Schmidt with one re-orthogonalization pass (CGS2) in jx ops, which
/// gives the Q of a QR with a positive-diagonal R — the same matrix JAX's sign-corrected QR
/// gives for the same normal draws. (jx::linalg::qr does not exist yet; switch to it when it
/// lands.) The shape needs rank >= 2.
Initializer orthogonal(double scale = 1.0, int column_axis = -1);

}  // namespace jx::nn::init
