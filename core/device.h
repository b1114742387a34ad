#pragma once
// Devices and placement: whether CUDA is usable, and device_put, which copies arrays (or trees of
// arrays) between the host and a GPU. jx::devices() and jx::default_device() are declared in
// core/array.h next to Device.

#include <string>
#include <type_traits>

#include "core/array.h"
#include "core/tree.h"

namespace jx {

/// True when jx was built with CUDA (JX_WITH_CUDA) and the driver reports at least one device.
/// Never throws; computed once per process.
bool cuda_available();
/// Why cuda_available() is false ("jx was built without CUDA", "libcuda.so.1 not found: ...",
/// "cuInit failed: CUDA_ERROR_NO_DEVICE (...)"); empty when it is true.
std::string cuda_unavailable_reason();

/// A copy of `x` on `device` (as jax.device_put): host -> GPU, GPU -> host, GPU -> another GPU
/// (through the host). Returns `x` itself when it is already there, and a tracer unchanged (under
/// a transform, placement is left to the compiled program). The copy keeps the aval (weak type
/// included). Throws jx::BackendError when the device is not usable ("[device_put] cannot put
/// f32[3] on cuda:0: <reason>") and jx::ValueError for an undefined array.
Array device_put(const Array& x, Device device, const Loc& loc = Loc::current());

/// device_put of every leaf of a tree (vector, tuple, map, Tree, JX_TREE struct); the result has
/// the tree's type.
template <class T>
  requires(TreeLike<T> && !std::is_same_v<std::decay_t<T>, Array>)
T device_put(const T& tree, Device device, const Loc& loc = Loc::current()) {
  return tree_map([&](const Array& x) { return x.defined() ? device_put(x, device, loc) : x; }, tree);
}

namespace detail {
/// Why `device` cannot hold arrays in this process; empty when it can (always for cpu:0).
std::string device_unavailable_reason(Device device);
/// True when the array's buffer lives on a GPU (false for tracers and undefined arrays).
bool on_gpu(const Array& x);
/// Re-reads JX_PLATFORM (normally read once): the device it selects, or the error it causes.
/// For tests.
Device platform_device(const char* value);
}  // namespace detail

}  // namespace jx
