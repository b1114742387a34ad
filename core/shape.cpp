// Shape helpers.

#include "core/shape.h"

#include <algorithm>

#include "core/errors.h"

namespace jx {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<int64_t> row_major_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string AbstractValue::str() const { return std::string(dtype_short_name(dtype)) + shape_str(shape); }

std::ostream& operator<<(std::ostream& os, const AbstractValue& aval) { return os << aval.str(); }

int normalize_axis(const char* op, int64_t axis, int64_t ndim) {
  if (axis < -ndim || axis >= ndim || (ndim == 0)) {
    throw_error<ShapeError>("[", op, "] axis ", axis, " is out of range for an array of rank ", ndim);
  }
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

std::vector<int64_t> normalize_axes(const char* op, const std::vector<int>& axes, int64_t ndim,
                                    bool empty_means_all) {
  std::vector<int64_t> out;
  if (axes.empty() && empty_means_all) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int a : axes) out.push_back(normalize_axis(op, a, ndim));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    throw_error<ShapeError>("[", op, "] repeated axis in ", shape_str(Shape(axes.begin(), axes.end())));
  }
  return out;
}

Shape broadcast_shapes(const char* op, const AbstractValue& a, const AbstractValue& b) {
  size_t n = std::max(a.shape.size(), b.shape.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.shape.size() ? 1 : a.shape[i - (n - a.shape.size())];
    int64_t db = i < n - b.shape.size() ? 1 : b.shape[i - (n - b.shape.size())];
    if (da != db && da != 1 && db != 1) {
      throw_error<ShapeError>("[", op, "] shapes do not broadcast: ", a.str(), " and ", b.str(),
                              " (dimension ", i, ": ", da, " vs ", db, ")");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace jx
