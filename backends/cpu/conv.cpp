// Eager CPU kernels for the conv primitives. float32 forward convolutions without lhs dilation
// go through oneDNN (1-3 spatial dims, any layout described by strides, feature groups); every
// other case (other dtypes, lhs dilation, negative padding) uses the reference kernel here.

#include <algorithm>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/conv.h"

namespace jx::cpu {

dnnl::engine& onednn_engine();  // backends/cpu/dot.cpp
dnnl::stream& onednn_stream();

namespace {

struct ConvGeometry {
  detail::ConvLayout layout;
  std::vector<int64_t> strides, lhs_dilation, rhs_dilation;
  IntPairs pads;
  int64_t groups = 1;
  int64_t N = 0, C = 0, O = 0, I = 0;
  std::vector<int64_t> in_sp, k_sp, out_sp;  // spatial extents
  std::vector<int64_t> xs, ws, ys;           // row-major strides of the three arrays
};

ConvGeometry geometry(const Array& x, const Array& w, const Array& y, const Params& p) {
  ConvGeometry g;
  g.layout = detail::conv_layout(p.get<std::string>("lhs_spec"), p.get<std::string>("rhs_spec"),
                                 p.get<std::string>("out_spec"), x.ndim());
  g.strides = p.get_ints("window_strides");
  g.lhs_dilation = p.get_ints("lhs_dilation");
  g.rhs_dilation = p.get_ints("rhs_dilation");
  g.pads = p.get<IntPairs>("padding");
  g.groups = p.get_int("feature_group_count");
  const auto& l = g.layout;
  g.N = x.shape()[l.lhs_n];
  g.C = x.shape()[l.lhs_c];
  g.O = w.shape()[l.rhs_o];
  g.I = w.shape()[l.rhs_i];
  for (size_t i = 0; i < l.lhs_spatial.size(); ++i) {
    g.in_sp.push_back(x.shape()[l.lhs_spatial[i]]);
    g.k_sp.push_back(w.shape()[l.rhs_spatial[i]]);
    g.out_sp.push_back(y.shape()[l.out_spatial[i]]);
  }
  g.xs = row_major_strides(x.shape());
  g.ws = row_major_strides(w.shape());
  g.ys = row_major_strides(y.shape());
  return g;
}

// y[n, o, p] = sum_{ci, k} x[n, g*I + ci, (p*s - lo + k*rd) / ld] * w[o, ci, k], where the input
// position must be a multiple of ld (lhs dilation inserts holes) and inside the input.
template <class T>
void conv_reference(const T* x, const T* w, T* y, const ConvGeometry& g) {
  const auto& l = g.layout;
  const size_t ns = g.in_sp.size();
  const int64_t out_spatial = shape_size(Shape(g.out_sp.begin(), g.out_sp.end()));
  const int64_t k_total = shape_size(Shape(g.k_sp.begin(), g.k_sp.end()));
  const int64_t total = g.N * g.O * out_spatial;
  const int64_t og = g.O / g.groups;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, g.I * k_total));
  parallel_for(total, grain, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> op(ns), kp(ns), ip(ns);
    for (int64_t flat = lo; flat < hi; ++flat) {
      int64_t rem = flat;
      for (size_t d = ns; d-- > 0;) {
        op[d] = rem % g.out_sp[d];
        rem /= g.out_sp[d];
      }
      const int64_t o = rem % g.O, n = rem / g.O, grp = o / og;
      int64_t y_off = n * g.ys[l.out_n] + o * g.ys[l.out_c];
      for (size_t d = 0; d < ns; ++d) y_off += op[d] * g.ys[l.out_spatial[d]];
      T acc{};
      for (int64_t kf = 0; kf < k_total; ++kf) {
        int64_t krem = kf;
        bool inside = true;
        int64_t x_off = n * g.xs[l.lhs_n], w_off = o * g.ws[l.rhs_o];
        for (size_t d = ns; d-- > 0;) {
          kp[d] = krem % g.k_sp[d];
          krem /= g.k_sp[d];
          int64_t pos = op[d] * g.strides[d] - g.pads[d].first + kp[d] * g.rhs_dilation[d];
          if (pos < 0 || pos % g.lhs_dilation[d] != 0 || pos / g.lhs_dilation[d] >= g.in_sp[d]) {
            inside = false;
            break;
          }
          x_off += (pos / g.lhs_dilation[d]) * g.xs[l.lhs_spatial[d]];
          w_off += kp[d] * g.ws[l.rhs_spatial[d]];
        }
        if (!inside) continue;
        const int64_t xc = g.xs[l.lhs_c], wi = g.ws[l.rhs_i];
        const T* xp = x + x_off + grp * g.I * xc;
        const T* wp = w + w_off;
        for (int64_t ci = 0; ci < g.I; ++ci) acc += xp[ci * xc] * wp[ci * wi];
      }
      y[y_off] = acc;
    }
  });
}

dnnl::memory::dims to_dims(const std::vector<int64_t>& v) { return dnnl::memory::dims(v.begin(), v.end()); }

// Logical oneDNN descriptions (dims + strides) of the three operands.
struct OnednnConvDescs {
  dnnl::memory::desc src, weights, dst;
  dnnl::memory::dims strides, dilates, pad_l, pad_r;
  std::string key;
};

OnednnConvDescs onednn_descs(const ConvGeometry& g) {
  using dt = dnnl::memory::data_type;
  const auto& l = g.layout;
  const size_t ns = g.in_sp.size();
  std::vector<int64_t> sd{g.N, g.C}, ss{g.xs[l.lhs_n], g.xs[l.lhs_c]};
  std::vector<int64_t> dd{g.N, g.O}, ds{g.ys[l.out_n], g.ys[l.out_c]};
  std::vector<int64_t> wd, wst;
  if (g.groups > 1) {
    wd = {g.groups, g.O / g.groups, g.I};
    wst = {g.ws[l.rhs_o] * (g.O / g.groups), g.ws[l.rhs_o], g.ws[l.rhs_i]};
  } else {
    wd = {g.O, g.I};
    wst = {g.ws[l.rhs_o], g.ws[l.rhs_i]};
  }
  OnednnConvDescs d;
  for (size_t i = 0; i < ns; ++i) {
    sd.push_back(g.in_sp[i]);
    ss.push_back(g.xs[l.lhs_spatial[i]]);
    dd.push_back(g.out_sp[i]);
    ds.push_back(g.ys[l.out_spatial[i]]);
    wd.push_back(g.k_sp[i]);
    wst.push_back(g.ws[l.rhs_spatial[i]]);
    d.strides.push_back(g.strides[i]);
    d.dilates.push_back(g.rhs_dilation[i] - 1);
    d.pad_l.push_back(g.pads[i].first);
    d.pad_r.push_back(g.pads[i].second);
  }
  d.src = dnnl::memory::desc(to_dims(sd), dt::f32, to_dims(ss));
  d.weights = dnnl::memory::desc(to_dims(wd), dt::f32, to_dims(wst));
  d.dst = dnnl::memory::desc(to_dims(dd), dt::f32, to_dims(ds));
  std::ostringstream key;
  for (auto* v : {&sd, &ss, &dd, &ds, &wd, &wst}) {
    for (auto e : *v) key << e << ',';
    key << ';';
  }
  for (auto* v : {&d.strides, &d.dilates, &d.pad_l, &d.pad_r}) {
    for (auto e : *v) key << e << ',';
    key << ';';
  }
  d.key = key.str();
  return d;
}

struct CachedConv {
  dnnl::convolution_forward prim;
  dnnl::memory::desc weights;  // the layout the primitive wants its weights in
};

// The cached oneDNN convolution for these descriptions, or nullopt when oneDNN has none.
std::optional<CachedConv> onednn_conv(const OnednnConvDescs& d) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::optional<CachedConv>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(d.key);
  if (it != cache.end()) return it->second;
  std::optional<CachedConv> result;
  try {
    auto any_weights = dnnl::memory::desc(d.weights.dims(), dnnl::memory::data_type::f32,
                                          dnnl::memory::format_tag::any);
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         d.src, any_weights, d.dst, d.strides, d.dilates, d.pad_l, d.pad_r);
    dnnl::convolution_forward::primitive_desc pd(desc, onednn_engine());
    // oneDNN's own reference implementation ("ref:any") is a naive single-threaded loop: for
    // the convolutions a kernel gradient turns into (big "kernels", small outputs) it was ~30x
    // slower than jx's reference kernel (about 1 s vs 35 ms for a 32x8x8x32 * 3x3x32x64 grad).
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
      result = std::nullopt;
    } else {
      result = CachedConv{dnnl::convolution_forward(pd), pd.weights_desc()};
    }
  } catch (const dnnl::error&) {
    result = std::nullopt;  // unsupported configuration: the reference kernel takes it
  }
  if (cache.size() > 256) cache.clear();
  cache.emplace(d.key, result);
  return result;
}

bool run_onednn(const Array& x, const Array& w, Array& y, const ConvGeometry& g) {
  const size_t ns = g.in_sp.size();
  if (ns < 1 || ns > 3) return false;
  for (size_t i = 0; i < ns; ++i)
    if (g.lhs_dilation[i] != 1 || g.pads[i].first < 0 || g.pads[i].second < 0) return false;
  auto d = onednn_descs(g);
  auto conv = onednn_conv(d);
  if (!conv) return false;
  try {
    auto& engine = onednn_engine();
    auto& stream = onednn_stream();
    dnnl::memory src(d.src, engine, const_cast<void*>(x.raw_data()));
    dnnl::memory wts(d.weights, engine, const_cast<void*>(w.raw_data()));
    dnnl::memory dst(d.dst, engine, y.raw_data());
    dnnl::memory wts_used = wts;
    if (conv->weights != d.weights) {
      wts_used = dnnl::memory(conv->weights, engine);
      dnnl::reorder(wts, wts_used).execute(stream, wts, wts_used);
    }
    conv->prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts_used}, {DNNL_ARG_DST, dst}});
    stream.wait();
  } catch (const dnnl::error& e) {
    throw_error<BackendError>("[conv_general_dilated] oneDNN convolution failed for lhs ", x.aval().str(), ", rhs ",
                              w.aval().str(), ": ", e.what());
  }
  return true;
}

void conv_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const Array& x = in[0];
  const Array& w = in[1];
  Array& y = out[0];
  if (y.size() == 0) return;
  ConvGeometry g = geometry(x, w, y, p);
  if (x.size() == 0 || w.size() == 0) {
    dispatch(y.dtype(), NumericTypes{}, [&](auto t) {
      using T = decltype(t);
      std::fill(y.mutable_data<T>(), y.mutable_data<T>() + y.size(), T{});
    });
    return;
  }
  if (x.dtype() == DType::float32 && run_onednn(x, w, y, g)) return;
  dispatch(x.dtype(), NumericTypes{}, [&](auto t) {
    using T = decltype(t);
    conv_reference(x.data<T>(), w.data<T>(), y.mutable_data<T>(), g);
  });
}

}  // namespace

void register_conv_kernels() { register_kernel(conv_general_dilated_p, DeviceKind::cpu, conv_kernel); }

}  // namespace jx::cpu
