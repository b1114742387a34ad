#pragma once
// Shape (a vector of extents), abstract values (shape + dtype + weak flag) and small helpers.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace jx {

using Shape = std::vector<int64_t>;

/// Number of elements (1 for a 0-d shape).
int64_t shape_size(const Shape& shape);
/// Row-major strides in elements.
std::vector<int64_t> row_major_strides(const Shape& shape);
/// "[2,3]".
std::string shape_str(const Shape& shape);

/// The abstract value of an array: what tracing and shape rules see.
struct AbstractValue {
  DType dtype = DType::float32;
  Shape shape;
  bool weak_type = false;

  int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
  int64_t size() const { return shape_size(shape); }
  /// JAX's jaxpr form: "f32[4,3]".
  std::string str() const;
  bool operator==(const AbstractValue&) const = default;
};
std::ostream& operator<<(std::ostream& os, const AbstractValue& aval);

/// Normalizes a possibly negative axis against `ndim`, or throws ShapeError naming `op`.
int normalize_axis(const char* op, int64_t axis, int64_t ndim);
/// Normalizes and sorts a list of axes, rejecting duplicates; empty input means "all axes" only
/// when `empty_means_all` is set.
std::vector<int64_t> normalize_axes(const char* op, const std::vector<int>& axes, int64_t ndim,
                                    bool empty_means_all);
/// numpy broadcasting of two shapes, or ShapeError naming `op` and both operands.
Shape broadcast_shapes(const char* op, const AbstractValue& a, const AbstractValue& b);

}  // namespace jx
