// Eager CPU kernels for the shape primitives.

#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/shape.h"

namespace jx::cpu {

namespace {

// Copies elements of `x` into `out` where out index -> x index is given per output dim by
// (x stride or 0). Generic strided gather used by broadcast-like kernels.
template <class T>
void strided_copy(const T* x, T* y, const Shape& out_shape, const std::vector<int64_t>& in_strides) {
  int64_t n = shape_size(out_shape);
  int64_t nd = static_cast<int64_t>(out_shape.size());
  if (n == 0) return;
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(nd);
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % out_shape[d];
      rem /= out_shape[d];
    }
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * in_strides[d];
    for (int64_t i = begin; i < end; ++i) {
      y[i] = x[off];
      for (int64_t d = nd - 1; d >= 0; --d) {
        ++idx[d];
        off += in_strides[d];
        if (idx[d] < out_shape[d]) break;
        off -= idx[d] * in_strides[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace

void register_shape_kernels() {
  register_kernel(broadcast_in_dim_p, DeviceKind::cpu,
                  [](std::span<const Array> in, std::span<Array> out, const Params& p) {
                    const auto& dims = p.get_ints("broadcast_dimensions");
                    const Shape& os = out[0].shape();
                    auto xs = row_major_strides(in[0].shape());
                    std::vector<int64_t> strides(os.size(), 0);
                    for (size_t i = 0; i < dims.size(); ++i)
                      strides[dims[i]] = in[0].shape()[i] == 1 ? 0 : xs[i];
                    dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
                      using T = decltype(t);
                      strided_copy(in[0].data<T>(), out[0].mutable_data<T>(), os, strides);
                    });
                  });
}

}  // namespace jx::cpu
