#pragma once
// Array: an immutable, reference-counted handle to either a concrete buffer or a tracer.
// Arithmetic on concrete arrays runs eagerly; on tracers it records an equation.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/shape.h"

namespace jx {

enum class DeviceKind : uint8_t { cpu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int id = 0;
  bool operator==(const Device&) const = default;
  std::string str() const;
};
std::ostream& operator<<(std::ostream& os, const Device& device);
/// The devices jx can run on: cpu:0, then cuda:0..n-1 when CUDA is available (core/device.h).
std::vector<Device> devices();
/// cpu:0, unless JX_PLATFORM (read once per process) says otherwise: "cpu" or unset -> cpu:0;
/// "cuda" or "gpu" -> cuda:0, or jx::BackendError when no CUDA device is available; any other
/// value -> jx::ValueError.
Device default_device();

/// A block of memory on a device (host: 64-byte aligned; GPU: 256-byte aligned), returned to
/// that device's caching allocator on destruction.
class Buffer {
 public:
  /// Throws jx::BackendError when `device` is a GPU that is not available.
  Buffer(size_t nbytes, Device device);
  /// A view of memory owned by `owner` (jit's arena): not freed by this buffer.
  Buffer(void* data, size_t nbytes, Device device, std::shared_ptr<const void> owner)
      : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)), view_(true) {}
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::shared_ptr<const void> owner_;
  bool view_ = false;
};

class Trace;
class Tracer;

/// The state behind an Array handle. Concrete arrays hold a buffer; tracers derive from this.
class ArrayImpl {
 public:
  ArrayImpl(AbstractValue aval, std::shared_ptr<Buffer> buffer)
      : aval_(std::move(aval)), buffer_(std::move(buffer)) {}
  virtual ~ArrayImpl() = default;
  const AbstractValue& aval() const { return aval_; }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  virtual Tracer* as_tracer() { return nullptr; }
  /// A weakly typed scalar made from a C++ number keeps its exact value, so that promotion to
  /// a wider type (`x_f64 * 0.01`) does not see it rounded to the default float first.
  void set_exact_scalar(double v) { exact_ = v, has_exact_ = true; }
  bool has_exact_scalar() const { return has_exact_; }
  double exact_scalar() const { return exact_; }
  /// Donation: the buffer is handed to a jitted computation and this array becomes unusable.
  /// Returns the buffer; reading the array afterwards throws.
  std::shared_ptr<Buffer> take_buffer_for_donation() {
    deleted_ = true;
    return std::move(buffer_);
  }
  bool deleted() const { return deleted_; }

 protected:
  AbstractValue aval_;
  std::shared_ptr<Buffer> buffer_;
  double exact_ = 0;
  bool has_exact_ = false;
  bool deleted_ = false;
};

class Array;
template <class T>
concept ArrayLike = std::convertible_to<T, Array>;

/// Functional indexed update: `x.at(i).set(v)`, `.add(v)`, `.mul(v)`, `.min(v)`, `.max(v)`.
class AtProxy;

/// The index accepted by `x[...]` and `x.at(...)`: an int, an integer Array, or a list of them
/// indexing the leading axes.
struct Index {
  std::vector<Array> parts;
  Index(int64_t i);                         // NOLINT: implicit by design
  Index(int i);                             // NOLINT
  Index(const Array& i);                    // NOLINT
  Index(std::initializer_list<Array> ids);  // NOLINT
};

class Array {
 public:
  /// An undefined array (no value). Most operations reject it; transforms use it as "zero".
  Array() = default;
  explicit Array(std::shared_ptr<ArrayImpl> impl) : impl_(std::move(impl)) {}
  /// A weakly typed 0-d array from a C++ number: `Array s = 2.0;` (float32 weak),
  /// `Array i = 3;` (int32 weak). bool makes a strongly typed bool scalar.
  template <class T>
    requires std::is_arithmetic_v<T>
  Array(T value);  // NOLINT: implicit by design, as Python scalars in JAX

  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl().aval().dtype; }
  const Shape& shape() const { return impl().aval().shape; }
  int64_t ndim() const { return impl().aval().ndim(); }
  int64_t size() const { return impl().aval().size(); }
  bool weak_type() const { return impl().aval().weak_type; }
  const AbstractValue& aval() const { return impl().aval(); }
  Device device() const;

  bool is_tracer() const { return impl_ && impl_->as_tracer() != nullptr; }
  Tracer* tracer() const { return impl_ ? impl_->as_tracer() : nullptr; }
  ArrayImpl& impl() const;
  const std::shared_ptr<ArrayImpl>& impl_ptr() const { return impl_; }

  /// Host copy of the elements, converted to T (blocks until ready). Throws
  /// ConcretizationError for a traced value.
  template <class T>
  std::vector<T> to_vector(const Loc& loc = Loc::current()) const;
  /// The only element, converted to T; the array must have size 1.
  template <class T>
  T item(const Loc& loc = Loc::current()) const;
  /// `if (x)`: a concrete size-1 array's truth value; ConcretizationError under a trace.
  explicit operator bool() const;

  Array astype(DType dtype, const Loc& loc = Loc::current()) const;
  /// Indexing of the leading axes; negative indices count from the end.
  Array operator[](const Index& index) const;
  AtProxy at(const Index& index) const;
  /// Waits until the array's value is computed (work on a GPU is asynchronous; on the CPU it
  /// already is). Rethrows an error of the asynchronous work.
  const Array& block_until_ready() const;

  /// Raw element access for kernels (concrete arrays only).
  template <class T>
  const T* data() const {
    return static_cast<const T*>(raw_data());
  }
  template <class T>
  T* mutable_data() const {
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

 private:
  std::shared_ptr<ArrayImpl> impl_;
};

/// An Array argument that remembers the caller's source line (used by binary operators, which
/// cannot take a defaulted location argument of their own).
struct ArrayArg {
  Array value;
  Loc loc;
  template <class T>
    requires ArrayLike<T>
  ArrayArg(T&& v, const Loc& l = Loc::current()) : value(std::forward<T>(v)), loc(l) {}  // NOLINT
};

class AtProxy {
 public:
  AtProxy(Array x, Index index) : x_(std::move(x)), index_(std::move(index)) {}
  Array get(const Loc& loc = Loc::current()) const;
  Array set(const Array& v, const Loc& loc = Loc::current()) const;
  Array add(const Array& v, const Loc& loc = Loc::current()) const;
  Array mul(const Array& v, const Loc& loc = Loc::current()) const;
  Array min(const Array& v, const Loc& loc = Loc::current()) const;
  Array max(const Array& v, const Loc& loc = Loc::current()) const;

 private:
  Array x_;
  Index index_;
};

namespace detail {
/// A fresh concrete array with uninitialized storage for `aval`.
Array empty_array(const AbstractValue& aval, Device device = Device{});
/// A concrete array copied from host memory of `dtype`.
Array array_from_host(const void* data, DType dtype, Shape shape, bool weak = false);
Array scalar_array(double value, DType dtype, bool weak);
/// Converts a concrete weakly typed scalar on the host (as JAX converts a Python number), from
/// its exact value when it has one.
Array convert_weak_scalar(const Array& x, DType dtype, bool weak);
/// Host copy of a concrete array converted to `dtype`.
void copy_to_host(const Array& x, DType dtype, void* out, const char* op, const Loc& loc);
/// Set once a buffer is allocated on a GPU: until then block_until_ready(tree) has no work.
void note_device_buffer();
bool device_buffers_exist();
}  // namespace detail

template <class T>
  requires std::is_arithmetic_v<T>
Array::Array(T value) {
  if constexpr (std::is_same_v<T, bool>) {
    *this = detail::scalar_array(value ? 1.0 : 0.0, DType::bool_, false);
  } else if constexpr (std::is_floating_point_v<T>) {
    *this = detail::scalar_array(static_cast<double>(value), default_float, true);
    impl_->set_exact_scalar(static_cast<double>(value));
  } else if constexpr (std::is_unsigned_v<T> && sizeof(T) >= 4) {
    *this = detail::scalar_array(static_cast<double>(value), DType::uint32, false);
  } else {
    // A C++ integer is a weak int32, or a weak int64 when it does not fit (as JAX with x64).
    const bool wide = static_cast<long double>(value) > INT32_MAX || static_cast<long double>(value) < INT32_MIN;
    *this = detail::scalar_array(static_cast<double>(value), wide ? DType::int64 : default_int, true);
    if constexpr (sizeof(T) >= 8) {
      if (wide) *this->mutable_data<int64_t>() = static_cast<int64_t>(value);
    }
  }
}

template <class T>
std::vector<T> Array::to_vector(const Loc& loc) const {
  static_assert(!std::is_same_v<T, bool>, "use to_vector<uint8_t> or <int> for bool arrays");
  std::vector<T> out(static_cast<size_t>(defined() ? size() : 0));
  if constexpr (std::is_same_v<T, uint8_t>) {
    detail::copy_to_host(*this, DType::bool_, out.data(), "to_vector", loc);
  } else {
    detail::copy_to_host(*this, dtype_v<T>, out.data(), "to_vector", loc);
  }
  return out;
}

template <class T>
T Array::item(const Loc& loc) const {
  if (defined() && !is_tracer() && size() != 1) {
    Error e(detail::cat("[item] needs an array of size 1, got ", aval().str()));
    e.add_location(loc);
    throw ShapeError(e.message());
  }
  if constexpr (std::is_same_v<T, bool>) {
    uint8_t v = 0;
    detail::copy_to_host(*this, DType::bool_, &v, "item", loc);
    return v != 0;
  } else {
    T v{};
    detail::copy_to_host(*this, dtype_v<T>, &v, "item", loc);
    return v;
  }
}

// ---- creation from host data -------------------------------------------------------------

/// An array from host data: `array({1.f, 2.f, 3.f, 4.f}, {2, 2})`. The shape defaults to 1-d.
template <class T>
Array array(const std::vector<T>& data, std::optional<Shape> shape = std::nullopt,
            const Loc& loc = Loc::current());
template <class T>
Array array(std::initializer_list<T> data, std::optional<Shape> shape = std::nullopt,
            const Loc& loc = Loc::current()) {
  return array(std::vector<T>(data), std::move(shape), loc);
}

std::ostream& operator<<(std::ostream& os, const Array& x);
/// numpy-like text: "Array([1., 2.], dtype=float32)".
std::string to_string(const Array& x);

}  // namespace jx
