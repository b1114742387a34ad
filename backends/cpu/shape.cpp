// Eager CPU kernels for the shape primitives.

#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/shape.h"

namespace jx::cpu {

namespace {

// Copies elements of `x` into `y` where the output index maps to the x offset
// sum_d idx[d] * in_strides[d] (strides may be 0 or negative). Generic strided gather used by
// broadcast, slice and rev.
template <class T>
void strided_copy(const T* x, T* y, const Shape& out_shape, const std::vector<int64_t>& in_strides) {
  int64_t n = shape_size(out_shape);
  int64_t nd = static_cast<int64_t>(out_shape.size());
  if (n == 0) return;
  if (nd == 0) {
    y[0] = x[0];
    return;
  }
  const int64_t inner = out_shape[nd - 1];
  const int64_t inner_stride = in_strides[nd - 1];
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(nd);
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % out_shape[d];
      rem /= out_shape[d];
    }
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * in_strides[d];
    int64_t i = begin;
    while (i < end) {
      // Run along the innermost dimension.
      int64_t run = std::min(end - i, inner - idx[nd - 1]);
      if (inner_stride == 1) {
        std::copy(x + off, x + off + run, y + i);
      } else {
        for (int64_t j = 0; j < run; ++j) y[i + j] = x[off + j * inner_stride];
      }
      i += run;
      off += run * inner_stride;
      idx[nd - 1] += run;
      // Carry into the outer dimensions.
      for (int64_t d = nd - 1; d > 0 && idx[d] == out_shape[d]; --d) {
        off -= idx[d] * in_strides[d];
        idx[d] = 0;
        ++idx[d - 1];
        off += in_strides[d - 1];
      }
    }
  });
}

// A new array over the same buffer as `x` with the aval `aval` (reshape and squeeze of a
// contiguous row-major array change only the shape).
Array share_buffer(const Array& x, const AbstractValue& aval) {
  return Array(std::make_shared<ArrayImpl>(aval, x.impl().buffer()));
}

// Transpose: output dim i is input dim perm[i].
template <class T>
void transpose_copy(const T* x, T* y, const Shape& in_shape, const std::vector<int64_t>& perm) {
  const int64_t total = shape_size(in_shape);
  if (total == 0) return;
  // 1. Drop extent-1 dims and merge output dims that stay adjacent in the input.
  std::vector<int64_t> keep;  // input dims with extent > 1, in output order
  for (auto p : perm)
    if (in_shape[p] > 1) keep.push_back(p);
  // Rank the kept input dims so they are 0..k-1 in input order.
  std::vector<int64_t> sorted = keep;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> rank_of(in_shape.size(), -1);
  for (size_t i = 0; i < sorted.size(); ++i) rank_of[sorted[i]] = static_cast<int64_t>(i);
  // Groups: maximal runs in output order whose input dims are consecutive.
  std::vector<std::vector<int64_t>> groups;  // each: input dims (original ids), in order
  for (auto d : keep) {
    if (!groups.empty() && rank_of[groups.back().back()] + 1 == rank_of[d]) groups.back().push_back(d);
    else groups.push_back({d});
  }
  const int64_t r = static_cast<int64_t>(groups.size());
  if (r <= 1) {
    std::copy(x, x + total, y);
    return;
  }
  // Reduced problem: input dims are the groups sorted by input position.
  std::vector<int64_t> order(r);  // order[i] = input position of output group i
  {
    std::vector<int64_t> firsts(r);
    for (int64_t g = 0; g < r; ++g) firsts[g] = groups[g].front();
    std::vector<int64_t> s = firsts;
    std::sort(s.begin(), s.end());
    for (int64_t g = 0; g < r; ++g) order[g] = std::lower_bound(s.begin(), s.end(), firsts[g]) - s.begin();
  }
  Shape rin(r);
  for (int64_t g = 0; g < r; ++g) {
    int64_t ext = 1;
    for (auto d : groups[g]) ext *= in_shape[d];
    rin[order[g]] = ext;
  }
  auto rin_strides = row_major_strides(rin);
  Shape rout(r);
  std::vector<int64_t> istr(r);  // input stride of each output dim
  for (int64_t g = 0; g < r; ++g) {
    rout[g] = rin[order[g]];
    istr[g] = rin_strides[order[g]];
  }
  auto ostr = row_major_strides(rout);
  // 2. Case: the innermost output dim is also innermost in the input: copy rows.
  if (order[r - 1] == r - 1) {
    const int64_t row = rout[r - 1];
    const int64_t rows = total / row;
    parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / row), [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; ++q) {
        int64_t rem = q, off = 0;
        for (int64_t d = r - 2; d >= 0; --d) {
          off += (rem % rout[d]) * istr[d];
          rem /= rout[d];
        }
        std::copy(x + off, x + off + row, y + q * row);
      }
    });
    return;
  }
  // 3. General case: tile the output dim `a` that is innermost in the input together with the
  // innermost output dim `b`, so both the reads and the writes of a tile stay in cache.
  constexpr int64_t kTile = 32;
  int64_t a = 0;
  for (int64_t g = 0; g < r; ++g)
    if (order[g] == r - 1) a = g;
  const int64_t b = r - 1;
  const int64_t na = rout[a], nb = rout[b];
  const int64_t ta = (na + kTile - 1) / kTile, tb = (nb + kTile - 1) / kTile;
  const int64_t outer = total / (na * nb);
  const int64_t tasks = outer * ta * tb;
  const int64_t osa = ostr[a], isb = istr[b];
  parallel_for(tasks, std::max<int64_t>(1, kElementwiseGrain / (kTile * kTile)), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      int64_t jb = t % tb, ja = (t / tb) % ta, q = t / (ta * tb);
      int64_t in_off = 0, out_off = 0;
      for (int64_t d = r - 1; d >= 0; --d) {
        if (d == a || d == b) continue;
        int64_t i = q % rout[d];
        q /= rout[d];
        in_off += i * istr[d];
        out_off += i * ostr[d];
      }
      const int64_t a0 = ja * kTile, a1 = std::min(na, a0 + kTile);
      const int64_t b0 = jb * kTile, b1 = std::min(nb, b0 + kTile);
      for (int64_t ia = a0; ia < a1; ++ia) {
        const T* src = x + in_off + ia;  // input stride of dim a is 1
        T* dst = y + out_off + ia * osa;
        for (int64_t ib = b0; ib < b1; ++ib) dst[ib] = src[ib * isb];
      }
    }
  });
}

template <class T>
void pad_copy(const T* x, T* y, T value, const Shape& in_shape, const Shape& out_shape,
              const std::vector<int64_t>& cfg) {
  const int64_t n_out = shape_size(out_shape);
  std::fill(y, y + n_out, value);
  const int64_t n_in = shape_size(in_shape);
  if (n_in == 0 || n_out == 0) return;
  const int64_t nd = static_cast<int64_t>(in_shape.size());
  if (nd == 0) {
    y[0] = x[0];
    return;
  }
  auto ostr = row_major_strides(out_shape);
  parallel_for(n_in, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(nd);
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % in_shape[d];
      rem /= in_shape[d];
    }
    for (int64_t i = begin; i < end; ++i) {
      int64_t off = 0;
      bool inside = true;
      for (int64_t d = 0; d < nd; ++d) {
        int64_t o = cfg[3 * d] + idx[d] * (cfg[3 * d + 2] + 1);
        if (o < 0 || o >= out_shape[d]) {
          inside = false;
          break;
        }
        off += o * ostr[d];
      }
      if (inside) y[off] = x[i];
      for (int64_t d = nd - 1; d >= 0; --d) {
        if (++idx[d] < in_shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

void broadcast_in_dim_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const auto& dims = p.get_ints("broadcast_dimensions");
  const Shape& os = out[0].shape();
  auto xs = row_major_strides(in[0].shape());
  std::vector<int64_t> strides(os.size(), 0);
  for (size_t i = 0; i < dims.size(); ++i) strides[dims[i]] = in[0].shape()[i] == 1 ? 0 : xs[i];
  dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    strided_copy(in[0].data<T>(), out[0].mutable_data<T>(), os, strides);
  });
}

void share_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  out[0] = share_buffer(in[0], out[0].aval());
}

void transpose_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const auto& perm = p.get_ints("permutation");
  dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    transpose_copy(in[0].data<T>(), out[0].mutable_data<T>(), in[0].shape(), perm);
  });
}

void slice_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const auto& start = p.get_ints("start_indices");
  const auto& strides = p.get_ints("strides");
  auto xs = row_major_strides(in[0].shape());
  int64_t base = 0;
  std::vector<int64_t> st(xs.size());
  for (size_t d = 0; d < xs.size(); ++d) {
    base += start[d] * xs[d];
    st[d] = strides[d] * xs[d];
  }
  if (out[0].size() == 0) return;
  dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    strided_copy(in[0].data<T>() + base, out[0].mutable_data<T>(), out[0].shape(), st);
  });
}

void rev_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const auto& dims = p.get_ints("dimensions");
  const Shape& s = in[0].shape();
  if (in[0].size() == 0) return;
  auto st = row_major_strides(s);
  int64_t base = 0;
  for (auto d : dims) {
    base += (s[d] - 1) * st[d];
    st[d] = -st[d];
  }
  dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    strided_copy(in[0].data<T>() + base, out[0].mutable_data<T>(), s, st);
  });
}

void concatenate_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const int64_t dim = p.get_int("dimension");
  const Shape& os = out[0].shape();
  if (out[0].size() == 0) return;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= os[d];
  for (size_t d = dim + 1; d < os.size(); ++d) inner *= os[d];
  const int64_t out_row = os[dim] * inner;
  std::vector<int64_t> block(in.size()), col(in.size());
  int64_t c = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    block[k] = in[k].shape()[dim] * inner;
    col[k] = c;
    c += block[k];
  }
  dispatch(out[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    T* y = out[0].mutable_data<T>();
    std::vector<const T*> xs(in.size());
    for (size_t k = 0; k < in.size(); ++k) xs[k] = in[k].data<T>();
    parallel_for(outer, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, out_row)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t q = b; q < e; ++q) {
                     for (size_t k = 0; k < xs.size(); ++k) {
                       if (block[k] == 0) continue;
                       std::copy(xs[k] + q * block[k], xs[k] + (q + 1) * block[k], y + q * out_row + col[k]);
                     }
                   }
                 });
  });
}

void pad_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const auto& cfg = p.get_ints("padding_config");
  dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    pad_copy(in[0].data<T>(), out[0].mutable_data<T>(), *in[1].data<T>(), in[0].shape(), out[0].shape(), cfg);
  });
}

void iota_kernel(std::span<const Array>, std::span<Array> out, const Params& p) {
  const Shape& s = out[0].shape();
  const int64_t dim = p.get_int("dimension");
  const int64_t n = out[0].size();
  if (n == 0) return;
  const int64_t stride = row_major_strides(s)[dim];
  const int64_t extent = s[dim];
  dispatch(out[0].dtype(), NumericTypes{}, [&](auto t) {
    using T = decltype(t);
    T* y = out[0].mutable_data<T>();
    parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = static_cast<T>((i / stride) % extent);
    });
  });
}

}  // namespace

void register_shape_kernels() {
  register_kernel(broadcast_in_dim_p, DeviceKind::cpu, broadcast_in_dim_kernel);
  register_kernel(reshape_p, DeviceKind::cpu, share_kernel);
  register_kernel(squeeze_p, DeviceKind::cpu, share_kernel);
  register_kernel(transpose_p, DeviceKind::cpu, transpose_kernel);
  register_kernel(slice_p, DeviceKind::cpu, slice_kernel);
  register_kernel(rev_p, DeviceKind::cpu, rev_kernel);
  register_kernel(concatenate_p, DeviceKind::cpu, concatenate_kernel);
  register_kernel(pad_p, DeviceKind::cpu, pad_kernel);
  register_kernel(iota_p, DeviceKind::cpu, iota_kernel);
}

}  // namespace jx::cpu
