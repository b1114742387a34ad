// Eager CPU kernels for the indexing primitives: dynamic_slice, dynamic_update_slice, gather
// and the scatter family. Out-of-range starts are clamped (slices, gather) or the update window
// is dropped (scatter); no index ever reaches memory unchecked.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/indexing.h"

namespace jx::cpu {

namespace {

/// Elements of an integer index array as int64 (host copy; index arrays are small next to the
/// data they address).
std::vector<int64_t> indices_as_i64(const Array& a) {
  std::vector<int64_t> out(static_cast<size_t>(a.size()));
  dispatch(a.dtype(), IntTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* p = a.data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(p[i]);
  });
  return out;
}

int64_t scalar_index(const Array& a) { return indices_as_i64(a)[0]; }

int64_t clamp_start(int64_t start, int64_t dim, int64_t size) {
  return std::clamp<int64_t>(start, 0, std::max<int64_t>(dim - size, 0));
}

/// Calls f(i, off) for every element i (row-major) of `shape`, where off = base + sum_d idx_d *
/// strides[d]. Parallel: f must be safe to run concurrently for distinct i.
template <class F>
void for_each_offset(const Shape& shape, const std::vector<int64_t>& strides, int64_t base, F f) {
  const int64_t n = shape_size(shape);
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (n == 0) return;
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(nd);
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    int64_t off = base;
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * strides[d];
    for (int64_t i = begin; i < end; ++i) {
      f(i, off);
      for (int64_t d = nd - 1; d >= 0; --d) {
        ++idx[d];
        off += strides[d];
        if (idx[d] < shape[d]) break;
        off -= idx[d] * strides[d];
        idx[d] = 0;
      }
    }
  });
}

/// Offsets of every element of a window of shape `window` (row-major) under two stride sets.
void window_offsets(const Shape& window, const std::vector<int64_t>& strides_a, const std::vector<int64_t>& strides_b,
                    std::vector<int64_t>& a, std::vector<int64_t>& b) {
  const int64_t n = shape_size(window);
  a.assign(static_cast<size_t>(n), 0);
  b.assign(static_cast<size_t>(n), 0);
  std::vector<int64_t> idx(window.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < window.size(); ++d) {
      oa += idx[d] * strides_a[d];
      ob += idx[d] * strides_b[d];
    }
    a[i] = oa;
    b[i] = ob;
    for (int64_t d = static_cast<int64_t>(window.size()) - 1; d >= 0; --d) {
      if (++idx[d] < window[d]) break;
      idx[d] = 0;
    }
  }
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

void copy_buffer(const Array& from, const Array& to) {
  size_t nbytes = static_cast<size_t>(from.size()) * itemsize(from.dtype());
  if (nbytes) std::memcpy(to.raw_data(), from.raw_data(), nbytes);
}

void dynamic_slice_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const Array& x = in[0];
  const auto& sizes = p.get_ints("slice_sizes");
  auto xs = row_major_strides(x.shape());
  int64_t base = 0;
  for (int64_t d = 0; d < x.ndim(); ++d) base += clamp_start(scalar_index(in[1 + d]), x.shape()[d], sizes[d]) * xs[d];
  dispatch(x.dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* src = x.data<T>();
    T* dst = out[0].mutable_data<T>();
    for_each_offset(out[0].shape(), xs, base, [&](int64_t i, int64_t off) { dst[i] = src[off]; });
  });
}

void dynamic_update_slice_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  const Array& x = in[0];
  const Array& u = in[1];
  copy_buffer(x, out[0]);
  auto xs = row_major_strides(x.shape());
  int64_t base = 0;
  for (int64_t d = 0; d < x.ndim(); ++d) base += clamp_start(scalar_index(in[2 + d]), x.shape()[d], u.shape()[d]) * xs[d];
  dispatch(x.dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* src = u.data<T>();
    T* dst = out[0].mutable_data<T>();
    for_each_offset(u.shape(), xs, base, [&](int64_t i, int64_t off) { dst[off] = src[i]; });
  });
}

void gather_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const Array& x = in[0];
  const Array& indices = in[1];
  Array& y = out[0];
  const auto& offset_dims = p.get_ints("offset_dims");
  const auto& collapsed = p.get_ints("collapsed_slice_dims");
  const auto& start_map = p.get_ints("start_index_map");
  const auto& sizes = p.get_ints("slice_sizes");
  if (y.size() == 0) return;
  const Shape& xshape = x.shape();
  auto xs = row_major_strides(xshape);
  auto ys = row_major_strides(y.shape());
  // 1. The window: uncollapsed operand dims in order, each mapped to its offset dim of y.
  Shape window;
  std::vector<int64_t> window_xs, window_ys;
  for (int64_t d = 0, j = 0; d < x.ndim(); ++d) {
    if (contains(collapsed, d)) continue;
    window.push_back(sizes[d]);
    window_xs.push_back(xs[d]);
    window_ys.push_back(ys[offset_dims[j++]]);
  }
  std::vector<int64_t> wx, wy;
  window_offsets(window, window_xs, window_ys, wx, wy);
  // 2. The batch: the index dims but the last, mapped to the non-offset dims of y in order.
  const Shape& ishape = indices.shape();
  const int64_t k = ishape.back();
  Shape batch(ishape.begin(), ishape.end() - 1);
  std::vector<int64_t> batch_ys;
  for (int64_t o = 0; o < y.ndim(); ++o)
    if (!contains(offset_dims, o)) batch_ys.push_back(ys[o]);
  const int64_t nbatch = shape_size(batch);
  auto idx = indices_as_i64(indices);
  // 3. Each batch element copies one clamped window.
  const int64_t nwindow = static_cast<int64_t>(wx.size());
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(nwindow, 1));
  dispatch(x.dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* src = x.data<T>();
    T* dst = y.mutable_data<T>();
    parallel_for(nbatch, grain, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        int64_t yb = 0, rem = b;
        for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
          yb += (rem % batch[d]) * batch_ys[d];
          rem /= batch[d];
        }
        int64_t xb = 0;
        for (int64_t j = 0; j < k; ++j) {
          int64_t m = start_map[j];
          xb += clamp_start(idx[b * k + j], xshape[m], sizes[m]) * xs[m];
        }
        for (int64_t w = 0; w < nwindow; ++w) dst[yb + wy[w]] = src[xb + wx[w]];
      }
    });
  });
}

template <class T>
struct SetOp {
  T operator()(T, T b) const { return b; }
};
template <class T>
struct AddOp {
  T operator()(T a, T b) const { return static_cast<T>(a + b); }  // bool: or
};
template <class T>
struct MulOp {
  T operator()(T a, T b) const { return static_cast<T>(a * b); }  // bool: and
};
template <class T>
struct MinOp {  // NaN propagates, as XLA's min
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(b)) return b;
    }
    return b < a ? b : a;
  }
};
template <class T>
struct MaxOp {
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(b)) return b;
    }
    return b > a ? b : a;
  }
};

template <template <class> class Op>
void scatter_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const Array& x = in[0];
  const Array& indices = in[1];
  const Array& u = in[2];
  Array& y = out[0];
  copy_buffer(x, y);
  if (u.size() == 0 || y.size() == 0) return;
  const auto& window_dims = p.get_ints("update_window_dims");
  const auto& inserted = p.get_ints("inserted_window_dims");
  const auto& to_operand = p.get_ints("scatter_dims_to_operand_dims");
  const Shape& xshape = x.shape();
  auto xs = row_major_strides(xshape);
  auto us = row_major_strides(u.shape());
  // 1. The window: operand dims not inserted, in order, each fed by one update window dim.
  Shape window;
  std::vector<int64_t> window_xs, window_us;
  std::vector<int64_t> window_size(xshape.size(), 1);
  for (int64_t d = 0, j = 0; d < x.ndim(); ++d) {
    if (contains(inserted, d)) continue;
    int64_t ud = window_dims[j++];
    window.push_back(u.shape()[ud]);
    window_size[d] = u.shape()[ud];
    window_xs.push_back(xs[d]);
    window_us.push_back(us[ud]);
  }
  std::vector<int64_t> wx, wu;
  window_offsets(window, window_xs, window_us, wx, wu);
  // 2. The scatter (batch) dims of the updates, matching the index dims but the last.
  const Shape& ishape = indices.shape();
  const int64_t k = ishape.back();
  Shape batch(ishape.begin(), ishape.end() - 1);
  std::vector<int64_t> batch_us;
  for (int64_t d = 0; d < u.ndim(); ++d)
    if (!contains(window_dims, d)) batch_us.push_back(us[d]);
  const int64_t nbatch = shape_size(batch);
  auto idx = indices_as_i64(indices);
  const int64_t nwindow = static_cast<int64_t>(wx.size());
  // 3. Batch elements apply in order (duplicates combine deterministically); the positions of
  //    one window are distinct, so a large window is split across threads.
  dispatch(x.dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* src = u.data<T>();
    T* dst = y.mutable_data<T>();
    Op<T> op;
    std::vector<int64_t> start(xshape.size());
    for (int64_t b = 0; b < nbatch; ++b) {
      int64_t ub = 0, rem = b;
      for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
        ub += (rem % batch[d]) * batch_us[d];
        rem /= batch[d];
      }
      std::fill(start.begin(), start.end(), 0);
      for (int64_t j = 0; j < k; ++j) start[to_operand[j]] = idx[b * k + j];
      bool in_bounds = true;
      int64_t xb = 0;
      for (size_t d = 0; d < xshape.size(); ++d) {
        in_bounds = in_bounds && start[d] >= 0 && start[d] <= xshape[d] - window_size[d];
        xb += start[d] * xs[d];
      }
      if (!in_bounds) continue;  // dropped, as JAX's FILL_OR_DROP
      parallel_for(nwindow, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t w = lo; w < hi; ++w) {
          T& slot = dst[xb + wx[w]];
          slot = op(slot, src[ub + wu[w]]);
        }
      });
    }
  });
}

}  // namespace

void register_indexing_kernels() {
  register_kernel(dynamic_slice_p, DeviceKind::cpu, dynamic_slice_kernel);
  register_kernel(dynamic_update_slice_p, DeviceKind::cpu, dynamic_update_slice_kernel);
  register_kernel(gather_p, DeviceKind::cpu, gather_kernel);
  register_kernel(scatter_p, DeviceKind::cpu, scatter_kernel<SetOp>);
  register_kernel(scatter_add_p, DeviceKind::cpu, scatter_kernel<AddOp>);
  register_kernel(scatter_mul_p, DeviceKind::cpu, scatter_kernel<MulOp>);
  register_kernel(scatter_min_p, DeviceKind::cpu, scatter_kernel<MinOp>);
  register_kernel(scatter_max_p, DeviceKind::cpu, scatter_kernel<MaxOp>);
}

}  // namespace jx::cpu
