// Eager CPU kernels for the window primitives. float32 max and sum windows over the middle dims
// of [N, spatial..., C] input (no dilation, padding smaller than the window) go through oneDNN
// pooling; everything else uses the generic kernel here, which pads with the monoid's identity.

#include <algorithm>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/window.h"

namespace jx::cpu {

dnnl::engine& onednn_engine();  // backends/cpu/dot.cpp
dnnl::stream& onednn_stream();

namespace {

enum class Op { sum, max, min };

template <class T>
T identity(Op op) {
  if (op == Op::sum) return T{};
  if constexpr (std::is_same_v<T, bool>) {
    return op == Op::min;
  } else if constexpr (std::is_floating_point_v<T>) {
    return op == Op::max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  } else {
    return op == Op::max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
}

template <class T>
void reduce_window_generic(Op op, const Array& xa, Array& ya, const Params& p) {
  const auto& win = p.get_ints("window_dimensions");
  const auto& strides = p.get_ints("window_strides");
  const auto& pads = p.get<IntPairs>("padding");
  const auto& bd = p.get_ints("base_dilation");
  const auto& wd = p.get_ints("window_dilation");
  const Shape& xs = xa.shape();
  const Shape& ys = ya.shape();
  const size_t nd = xs.size();
  const auto xst = row_major_strides(xs);
  const T* x = xa.data<T>();
  T* y = ya.mutable_data<T>();
  const int64_t wtotal = shape_size(Shape(win.begin(), win.end()));
  const T init = identity<T>(op);
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, wtotal));
  parallel_for(ya.size(), grain, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> oi(nd);
    for (int64_t flat = lo; flat < hi; ++flat) {
      int64_t rem = flat;
      for (size_t d = nd; d-- > 0;) {
        oi[d] = rem % ys[d];
        rem /= ys[d];
      }
      T acc = init;
      for (int64_t wf = 0; wf < wtotal; ++wf) {
        int64_t wrem = wf, off = 0;
        bool inside = true;
        for (size_t d = nd; d-- > 0;) {
          const int64_t k = wrem % win[d];
          wrem /= win[d];
          const int64_t pos = oi[d] * strides[d] - pads[d].first + k * wd[d];
          if (pos < 0 || pos % bd[d] != 0 || pos / bd[d] >= xs[d]) {
            inside = false;
            break;
          }
          off += (pos / bd[d]) * xst[d];
        }
        if (!inside) continue;
        const T v = x[off];
        if constexpr (std::is_same_v<T, bool>) {
          acc = op == Op::max ? (acc || v) : (acc && v);
        } else {
          if (op == Op::sum) {
            acc += v;
          } else if (op == Op::max) {
            acc = (v > acc || v != v) ? v : acc;  // NaN propagates
          } else {
            acc = (v < acc || v != v) ? v : acc;
          }
        }
      }
      y[flat] = acc;
    }
  });
}

struct CachedPool {
  dnnl::pooling_forward prim;
  dnnl::memory::desc src, dst;
};

// oneDNN pooling for [N, spatial..., C] float32 windows, or false when it does not apply.
bool pool_onednn(Op op, const Array& x, Array& y, const Params& p) {
  if (op == Op::min || x.dtype() != DType::float32) return false;
  const auto& win = p.get_ints("window_dimensions");
  const auto& strides = p.get_ints("window_strides");
  const auto& pads = p.get<IntPairs>("padding");
  const auto& bd = p.get_ints("base_dilation");
  const auto& wd = p.get_ints("window_dilation");
  const int64_t nd = x.ndim();
  if (nd < 3 || nd > 5) return false;
  for (int64_t d : {int64_t{0}, nd - 1})
    if (win[d] != 1 || strides[d] != 1 || pads[d].first != 0 || pads[d].second != 0) return false;
  for (int64_t d = 0; d < nd; ++d) {
    if (bd[d] != 1 || wd[d] != 1) return false;
    if (pads[d].first >= win[d] || pads[d].second >= win[d]) return false;  // all-padding windows
  }
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const Shape& xs = x.shape();
  const Shape& ys = y.shape();
  dnnl::memory::dims src_dims{xs[0], xs[nd - 1]}, dst_dims{ys[0], ys[nd - 1]}, kernel, stride, pl, pr;
  for (int64_t d = 1; d < nd - 1; ++d) {
    src_dims.push_back(xs[d]);
    dst_dims.push_back(ys[d]);
    kernel.push_back(win[d]);
    stride.push_back(strides[d]);
    pl.push_back(pads[d].first);
    pr.push_back(pads[d].second);
  }
  const tag layout = nd == 3 ? tag::nwc : nd == 4 ? tag::nhwc : tag::ndhwc;
  std::ostringstream key;
  key << (op == Op::max ? 'M' : 'S');
  for (auto* v : {&src_dims, &dst_dims, &kernel, &stride, &pl, &pr}) {
    for (auto e : *v) key << e << ',';
    key << ';';
  }
  static std::mutex mutex;
  static std::unordered_map<std::string, std::optional<CachedPool>> cache;
  std::optional<CachedPool> pool;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key.str());
    if (it != cache.end()) {
      pool = it->second;
    } else {
      try {
        dnnl::memory::desc src_md(src_dims, dt::f32, layout), dst_md(dst_dims, dt::f32, layout);
        auto alg = op == Op::max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_include_padding;
        dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, stride, kernel, pl,
                                         pr);
        dnnl::pooling_forward::primitive_desc pd(desc, onednn_engine());
        pool = CachedPool{dnnl::pooling_forward(pd), src_md, dst_md};
      } catch (const dnnl::error&) {
        pool = std::nullopt;  // not supported: the generic kernel takes it
      }
      if (cache.size() > 256) cache.clear();
      cache.emplace(key.str(), pool);
    }
  }
  if (!pool) return false;
  try {
    auto& engine = onednn_engine();
    auto& stream = onednn_stream();
    dnnl::memory src(pool->src, engine, const_cast<void*>(x.raw_data()));
    dnnl::memory dst(pool->dst, engine, y.raw_data());
    pool->prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    stream.wait();
  } catch (const dnnl::error& e) {
    throw_error<BackendError>("[reduce_window] oneDNN pooling failed for ", x.aval().str(), ": ", e.what());
  }
  if (op == Op::sum) {
    // oneDNN computes the mean over the padded window; the primitive wants the sum.
    float count = 1;
    for (auto k : kernel) count *= static_cast<float>(k);
    float* out = y.mutable_data<float>();
    parallel_for(y.size(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) out[i] *= count;
    });
  }
  return true;
}

Kernel window_kernel(Op op) {
  return [op](std::span<const Array> in, std::span<Array> out, const Params& p) {
    const Array& x = in[0];
    Array& y = out[0];
    if (y.size() == 0) return;
    if (x.size() > 0 && pool_onednn(op, x, y, p)) return;
    dispatch(x.dtype(), AllTypes{}, [&](auto t) {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, bool>) {
        JX_CHECK(op != Op::sum, "reduce_window_sum on bool");
      }
      reduce_window_generic<T>(op, x, y, p);
    });
  };
}

}  // namespace

void register_window_kernels() {
  register_kernel(reduce_window_sum_p, DeviceKind::cpu, window_kernel(Op::sum));
  register_kernel(reduce_window_max_p, DeviceKind::cpu, window_kernel(Op::max));
  register_kernel(reduce_window_min_p, DeviceKind::cpu, window_kernel(Op::min));
}

}  // namespace jx::cpu
