// Array handles, host copies, creation from host data, and numpy-like printing.

#include "core/array.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <iomanip>
#include <sstream>

#include "core/device.h"
#include "core/half_eval.h"
#include "core/trace.h"
#ifdef JX_WITH_CUDA
#include "backends/cuda/executable.h"
#endif

namespace jx {

std::string Device::str() const { return std::string(kind == DeviceKind::cpu ? "cpu" : "cuda") + ":" + std::to_string(id); }
std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

ArrayImpl& Array::impl() const {
  if (!impl_) throw ValueError("[Array] use of an undefined (default-constructed) Array");
  return *impl_;
}

Device Array::device() const {
  if (auto& b = impl().buffer()) return b->device();
  return default_device();
}

void* Array::raw_data() const {
  if (impl_ && impl_->deleted()) {
    throw ValueError(detail::cat("[jit] this array ", impl_->aval().str(),
                                 " was donated to a jitted function (donate_argnums) and has been deleted; "
                                 "use the function's result instead"));
  }
  JX_CHECK(impl_ && impl_->buffer(), "raw_data() of an array without a buffer");
  return impl_->buffer()->data();
}

Array::operator bool() const {
  if (is_tracer()) {
    throw ConcretizationError(detail::cat(
        "[bool] the truth value of a traced array ", aval().str(), " is not known while tracing (",
        tracer()->trace_name(),
        "); a C++ `if` on a traced value cannot be staged. Use jx::where(cond, a, b) to select "
        "values, or jx::lax::cond for control flow"));
  }
  if (size() != 1) {
    throw ValueError(detail::cat("[bool] the truth value of an array with ", size(),
                                 " elements is ambiguous (", aval().str(), "); use jx::any or jx::all"));
  }
  return item<bool>();
}

Index::Index(int64_t i) : parts{Array(static_cast<int32_t>(i))} {
  if (i > INT32_MAX || i < INT32_MIN) parts = {detail::scalar_array(static_cast<double>(i), DType::int64, false)};
}
Index::Index(int i) : parts{Array(static_cast<int32_t>(i))} {}
Index::Index(const Array& i) : parts{i} {}
Index::Index(std::initializer_list<Array> ids) : parts(ids) {}

AtProxy Array::at(const Index& index) const { return AtProxy(*this, index); }

namespace detail {

Array empty_array(const AbstractValue& aval, Device device) {
  size_t n = static_cast<size_t>(aval.size()) * itemsize(aval.dtype);
  auto buffer = std::make_shared<Buffer>(n, device);
  return Array(std::make_shared<ArrayImpl>(aval, std::move(buffer)));
}

Array array_from_host(const void* data, DType dtype, Shape shape, bool weak) {
  Array out = empty_array(AbstractValue{dtype, std::move(shape), weak});
  size_t n = static_cast<size_t>(out.size()) * itemsize(dtype);
  if (n) std::memcpy(out.raw_data(), data, n);
  return out;
}

Array scalar_array(double value, DType dtype, bool weak) {
  Array out = empty_array(AbstractValue{dtype, {}, weak});
  dispatch_storage_dtype(dtype, [&](auto t) {  // float16/bfloat16: one rounding from the double
    using T = decltype(t);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // Saturate (a double outside T's range is undefined behaviour to cast); NaN -> 0.
      if (std::isnan(value)) value = 0;
      value = std::min(value, static_cast<double>(std::numeric_limits<T>::max()));
      value = std::max(value, static_cast<double>(std::numeric_limits<T>::min()));
    }
    *out.mutable_data<T>() = static_cast<T>(value);
  });
  return out;
}

Array convert_weak_scalar(const Array& x, DType dtype, bool weak) {
  if (x.impl().has_exact_scalar()) {
    Array out = scalar_array(x.impl().exact_scalar(), dtype, weak);
    if (is_floating(dtype)) out.impl().set_exact_scalar(x.impl().exact_scalar());
    return out;
  }
  Array out = empty_array(AbstractValue{dtype, {}, weak});
  dispatch_storage_dtype(dtype, [&](auto t) {
    using To = decltype(t);
    if constexpr (std::is_same_v<To, bool>) {
      uint8_t v;
      copy_to_host(x, DType::bool_, &v, "convert", Loc());
      *out.mutable_data<bool>() = v != 0;
    } else {
      copy_to_host(x, dtype, out.mutable_data<To>(), "convert", Loc());
    }
  });
  return out;
}

namespace {
template <class To>
void convert_copy(const Array& x, To* out) {
  size_t n = static_cast<size_t>(x.size());
  dispatch_storage_dtype(x.dtype(), [&](auto t) {
    using From = decltype(t);
    const From* src = x.data<From>();
    if constexpr (is_half_storage_v<From> || is_half_storage_v<To>) {
      for (size_t i = 0; i < n; ++i) out[i] = convert_element<To>(src[i]);
    } else {
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<To>(src[i]);
    }
  });
}
}  // namespace

void copy_to_host(const Array& x, DType dtype, void* out, const char* op, const Loc& loc) {
  if (!x.defined()) {
    ValueError e(cat("[", op, "] the array is undefined"));
    e.add_location(loc);
    throw e;
  }
  if (x.is_tracer()) {
    ConcretizationError e(cat(
        "[", op, "] cannot read the value of a traced array ", x.aval().str(), " while tracing (",
        x.tracer()->trace_name(), "): its value is only known when the traced function runs. ",
        "Use jx::where(cond, a, b) instead of a C++ `if`, jx::lax::cond / while_loop for control flow, "
        "or pass the value as a static argument"));
    e.add_location(loc);
    throw e;
  }
  if (on_gpu(x)) {  // read through a host copy
    copy_to_host(device_put(x, Device{}, loc), dtype, out, op, loc);
    return;
  }
  dispatch_storage_dtype(dtype, [&](auto t) {
    using To = decltype(t);
    if constexpr (std::is_same_v<To, bool>) {
      auto* o = static_cast<uint8_t*>(out);
      dispatch_storage_dtype(x.dtype(), [&](auto f) {
        using From = decltype(f);
        const From* src = x.data<From>();
        for (int64_t i = 0; i < x.size(); ++i) o[i] = convert_element<bool>(src[i]);
      });
    } else {
      convert_copy(x, static_cast<To*>(out));
    }
  });
}

}  // namespace detail

template <class T>
Array array(const std::vector<T>& data, std::optional<Shape> shape, const Loc& loc) {
  Shape s = shape ? *shape : Shape{static_cast<int64_t>(data.size())};
  for (auto d : s) {
    if (d < 0) {
      ShapeError e(detail::cat("[array] negative dimension in shape ", shape_str(s)));
      e.add_location(loc);
      throw e;
    }
  }
  if (shape_size(s) != static_cast<int64_t>(data.size())) {
    ShapeError e(detail::cat("[array] ", data.size(), " values do not fill shape ", shape_str(s), " (",
                             shape_size(s), " elements)"));
    e.add_location(loc);
    throw e;
  }
  Array out;
  if constexpr (std::is_same_v<T, bool>) {
    std::vector<uint8_t> bytes(data.begin(), data.end());
    out = detail::array_from_host(bytes.data(), DType::bool_, s);
  } else {
    out = detail::array_from_host(data.data(), dtype_v<T>, s);
  }
#ifdef JX_WITH_CUDA
  out = cuda::place_new_array(out);  // on the default device (JX_PLATFORM=cuda), as jnp.array
#endif
  return out;
}

template Array array(const std::vector<float>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<double>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<int32_t>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<int64_t>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<uint32_t>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<bool>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<float16_t>&, std::optional<Shape>, const Loc&);
template Array array(const std::vector<bfloat16_t>&, std::optional<Shape>, const Loc&);

// ---- printing ------------------------------------------------------------------------------

namespace {

template <class T>
std::string format_element(T v, DType dtype) {
  std::ostringstream os;
  if constexpr (std::is_same_v<T, bool>) {
    os << (v ? "True" : "False");
  } else if constexpr (is_half_storage_v<T>) {
    std::string s = detail::format_half(static_cast<float>(v), dtype);  // numpy's shortest digits
    if (s.find_first_of(".en") == std::string::npos) s += ".";
    return s;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    os << std::setprecision(dtype == DType::float32 ? 7 : 8) << v;
    std::string s = os.str();
    if (s.find_first_of(".en") == std::string::npos) s += ".";
    return s;
  } else {
    os << +v;
  }
  return os.str();
}

void print_rec(std::ostream& os, const std::vector<std::string>& elems, const Shape& shape,
               size_t dim, int64_t offset, const std::vector<int64_t>& strides, size_t width,
               int indent) {
  if (dim == shape.size()) {
    std::string s = elems[offset];
    os << std::string(width - s.size(), ' ') << s;
    return;
  }
  os << "[";
  int64_t n = shape[dim];
  const int64_t edge = 3;
  bool summarize = elems.size() > 1000 && n > 2 * edge;
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && i == edge) {
      os << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - edge;
    }
    if (i > 0 && !(summarize && i == n - edge)) {
      if (dim + 1 == shape.size()) {
        os << ", ";
      } else {
        os << "," << std::string(shape.size() - dim - 1, '\n') << std::string(indent + 1, ' ');
      }
    }
    print_rec(os, elems, shape, dim + 1, offset + i * strides[dim], strides, width, indent + 1);
  }
  os << "]";
}

}  // namespace

std::string to_string(const Array& x) {
  if (!x.defined()) return "Array(undefined)";
  if (x.is_tracer()) return "Traced<" + x.aval().str() + ">with<" + x.tracer()->trace_name() + ">";
  if (detail::on_gpu(x)) return to_string(device_put(x, Device{}));  // read through a host copy
  std::vector<std::string> elems(static_cast<size_t>(x.size()));
  dispatch_storage_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* p = x.data<T>();
    for (size_t i = 0; i < elems.size(); ++i) elems[i] = format_element(p[i], x.dtype());
  });
  size_t width = 0;
  for (auto& s : elems) width = std::max(width, s.size());
  std::ostringstream os;
  os << "Array(";
  if (x.size() == 0) {
    os << "[]";
  } else {
    print_rec(os, elems, x.shape(), 0, 0, row_major_strides(x.shape()), width, 6);
  }
  os << ", dtype=" << dtype_name(x.dtype());
  if (x.size() == 0 && x.ndim() != 1) os << ", shape=" << shape_str(x.shape());
  if (x.weak_type()) os << ", weak_type=True";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Array& x) { return os << to_string(x); }

}  // namespace jx
