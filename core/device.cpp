// Devices: the list jx can run on, the default one (JX_PLATFORM), device_put between the host and
// GPUs, and block_until_ready. CUDA is reached only through backends/cuda/runtime.h, and only in
// builds with JX_WITH_CUDA.

#include "core/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef JX_WITH_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace jx {

namespace {
std::atomic<bool> g_device_buffers{false};
}  // namespace

bool cuda_available() {
#ifdef JX_WITH_CUDA
  return cuda::available();
#else
  return false;
#endif
}

std::string cuda_unavailable_reason() {
#ifdef JX_WITH_CUDA
  return cuda::unavailable_reason();
#else
  return "jx was built without CUDA (JX_WITH_CUDA=OFF, or no CUDA toolkit at build time)";
#endif
}

std::vector<Device> devices() {
  std::vector<Device> out{Device{DeviceKind::cpu, 0}};
#ifdef JX_WITH_CUDA
  for (int i = 0; i < cuda::device_count(); ++i) out.push_back(Device{DeviceKind::cuda, i});
#endif
  return out;
}

namespace detail {

Device platform_device(const char* value) {
  const std::string v = value ? value : "";
  if (v.empty() || v == "cpu") return Device{DeviceKind::cpu, 0};
  if (v == "cuda" || v == "gpu") {
    if (!cuda_available()) {
      throw BackendError(cat("[devices] JX_PLATFORM=", v, " but no CUDA device is available: ",
                             cuda_unavailable_reason()));
    }
    return Device{DeviceKind::cuda, 0};
  }
  throw ValueError(cat("[devices] JX_PLATFORM=", v, " is not a platform jx knows; valid values: cpu, cuda (or gpu), "
                       "or unset for cpu"));
}

std::string device_unavailable_reason(Device device) {
  if (device.kind == DeviceKind::cpu) {
    return device.id == 0 ? "" : cat("there is no device ", device.str(), " (the host is cpu:0)");
  }
  if (!cuda_available()) return cuda_unavailable_reason();
#ifdef JX_WITH_CUDA
  if (device.id < 0 || device.id >= cuda::device_count()) {
    return cat("there is no device ", device.str(), " (", cuda::device_count(), " CUDA device",
               cuda::device_count() == 1 ? "" : "s", ")");
  }
#endif
  return "";
}

bool on_gpu(const Array& x) {
  const auto& impl = x.impl_ptr();
  return impl && impl->buffer() && impl->buffer()->device().kind == DeviceKind::cuda;
}

void note_device_buffer() { g_device_buffers.store(true, std::memory_order_relaxed); }
bool device_buffers_exist() { return g_device_buffers.load(std::memory_order_relaxed); }

}  // namespace detail

Device default_device() {
  // JX_PLATFORM is read once; an invalid value is reported at every call.
  struct Choice {
    Device device;
    std::string error;
    bool value_error = false;
  };
  static const Choice choice = [] {
    Choice c;
    try {
      c.device = detail::platform_device(std::getenv("JX_PLATFORM"));
    } catch (const ValueError& e) {
      c.error = e.message(), c.value_error = true;
    } catch (const Error& e) {
      c.error = e.message();
    }
    return c;
  }();
  if (!choice.error.empty()) {
    if (choice.value_error) throw ValueError(choice.error);
    throw BackendError(choice.error);
  }
  return choice.device;
}

Array device_put(const Array& x, Device device, const Loc& loc) {
  if (!x.defined()) {
    ValueError e("[device_put] the array is undefined");
    e.add_location(loc);
    throw e;
  }
  if (x.is_tracer()) return x;
  const void* src = x.raw_data();  // throws for a donated array
  const Device from = x.impl().buffer()->device();
  if (from == device) return x;
  if (std::string why = detail::device_unavailable_reason(device); !why.empty()) {
    BackendError e(detail::cat("[device_put] cannot put ", x.aval().str(), " on ", device.str(), ": ", why));
    e.add_location(loc);
    throw e;
  }
  Array out = detail::empty_array(x.aval(), device);
  if (x.impl().has_exact_scalar()) out.impl().set_exact_scalar(x.impl().exact_scalar());
  const size_t nbytes = static_cast<size_t>(x.size()) * itemsize(x.dtype());
  if (nbytes == 0) return out;
#ifdef JX_WITH_CUDA
  void* dst = out.raw_data();
  if (from.kind == DeviceKind::cpu) {
    cuda::copy_h2d(dst, src, nbytes, device.id);
  } else if (device.kind == DeviceKind::cpu) {
    cuda::copy_d2h(dst, src, nbytes, from.id);
  } else {
    // Between two GPUs: through the host (no peer access set up).
    std::vector<char> host(nbytes);
    cuda::copy_d2h(host.data(), src, nbytes, from.id);
    cuda::copy_h2d(dst, host.data(), nbytes, device.id);
  }
#else
  (void)src;
  JX_CHECK(false, "device_put between ", from.str(), " and ", device.str(), " in a build without CUDA");
#endif
  return out;
}

const Array& Array::block_until_ready() const {
#ifdef JX_WITH_CUDA
  if (detail::on_gpu(*this)) cuda::synchronize(impl_->buffer()->device().id);
#endif
  return *this;
}

}  // namespace jx
