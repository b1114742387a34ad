// Eager CPU kernels for the dot primitives. float32 goes through oneDNN matmul (batched, with
// transposed operands described by strides where the layout allows, else transposed into
// [batch, M, K] x [batch, K, N] first); other dtypes use a cache-blocked kernel of our own.
// This file also owns the one oneDNN engine shared by the conv and pooling kernels.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/dot.h"

namespace jx::cpu {

/// The oneDNN CPU engine (one per process) and a stream per calling thread.
dnnl::engine& onednn_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}
dnnl::stream& onednn_stream() {
  thread_local dnnl::stream stream(onednn_engine());
  return stream;
}

/// Copies x (row-major, `shape`) into y laid out as transpose(x, perm).
template <class T>
void permute_copy(const T* x, const Shape& shape, const std::vector<int64_t>& perm, T* y) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  auto xs = row_major_strides(shape);
  Shape os(nd);
  std::vector<int64_t> st(nd);
  for (int64_t i = 0; i < nd; ++i) {
    os[i] = shape[perm[i]];
    st[i] = xs[perm[i]];
  }
  const int64_t n = shape_size(os);
  if (n == 0) return;
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(nd);
    int64_t rem = begin, off = 0;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % os[d];
      rem /= os[d];
      off += idx[d] * st[d];
    }
    for (int64_t i = begin; i < end; ++i) {
      y[i] = x[off];
      for (int64_t d = nd - 1; d >= 0; --d) {
        ++idx[d];
        off += st[d];
        if (idx[d] < os[d]) break;
        off -= idx[d] * st[d];
        idx[d] = 0;
      }
    }
  });
}

namespace {

// One operand seen as a [B, R, C] matrix stack: element (b, r, c) at data[b*sb + r*sr + c*sc].
struct MatView {
  const void* data = nullptr;
  int64_t sb = 0, sr = 0, sc = 0;
  Array holder;  // keeps a transposed copy alive
};

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int64_t>(i)) return false;
  return true;
}

std::vector<int64_t> concat(std::initializer_list<const std::vector<int64_t>*> parts) {
  std::vector<int64_t> out;
  for (auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

// Views x as [B, R, C] where R are the `rows` dims and C the `cols` dims. When the storage is
// [batch, cols, rows] instead, the view is transposed through strides (unless `need_row_major`);
// otherwise x is transposed into a fresh buffer.
MatView make_view(const Array& x, const std::vector<int64_t>& batch, const std::vector<int64_t>& rows,
                  const std::vector<int64_t>& cols, int64_t B, int64_t R, int64_t C, bool need_row_major) {
  MatView v;
  auto direct = concat({&batch, &rows, &cols});
  if (is_identity(direct)) {
    v.data = x.raw_data();
    v.sb = R * C, v.sr = C, v.sc = 1;
    return v;
  }
  if (!need_row_major && is_identity(concat({&batch, &cols, &rows}))) {
    v.data = x.raw_data();
    v.sb = R * C, v.sr = 1, v.sc = R;
    return v;
  }
  v.holder = detail::empty_array(AbstractValue{x.dtype(), Shape{B, R, C}, false});
  dispatch(x.dtype(), AllTypes{}, [&](auto t) {
    using T = decltype(t);
    permute_copy(x.data<T>(), x.shape(), direct, v.holder.mutable_data<T>());
  });
  v.data = v.holder.raw_data();
  v.sb = R * C, v.sr = C, v.sc = 1;
  return v;
}

// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n]; B row-major [B, K, N]; C row-major, zeroed here.
template <class T, class O>
void gemm_own(const MatView& a, const T* bp, O* c, int64_t B, int64_t M, int64_t N, int64_t K) {
  const T* ap = static_cast<const T*>(a.data);
  std::fill(c, c + B * M * N, O{});
  if (K == 0) return;
  constexpr int64_t mb = 16, kb = 128, nb = 512;
  const int64_t mblocks = (M + mb - 1) / mb;
  const int64_t grain = std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, mb * N * K / 64 + 1));
  parallel_for(B * mblocks, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task / mblocks, m0 = (task % mblocks) * mb, m1 = std::min(M, m0 + mb);
      const T* A = ap + b * a.sb;
      const T* Bm = bp + b * K * N;
      O* Cm = c + b * M * N;
      for (int64_t n0 = 0; n0 < N; n0 += nb) {
        const int64_t n1 = std::min(N, n0 + nb);
        for (int64_t k0 = 0; k0 < K; k0 += kb) {
          const int64_t k1 = std::min(K, k0 + kb);
          for (int64_t m = m0; m < m1; ++m) {
            O* crow = Cm + m * N;
            for (int64_t k = k0; k < k1; ++k) {
              const T av = A[m * a.sr + k * a.sc];
              const T* brow = Bm + k * N;
              if constexpr (std::is_same_v<O, bool>) {
                if (av)
                  for (int64_t n = n0; n < n1; ++n) crow[n] = crow[n] || static_cast<bool>(brow[n]);
              } else {
                const O avo = static_cast<O>(av);
                for (int64_t n = n0; n < n1; ++n) crow[n] += avo * static_cast<O>(brow[n]);
              }
            }
          }
        }
      }
    }
  });
}

struct MatmulKey {
  int64_t B, M, N, K, asb, asr, asc, bsb, bsr, bsc;
  int bias = 0;        // fused epilogue: a bias row [N]
  int activation = 0;  // 0 none, 1 relu, 2 tanh, 3 logistic
  bool operator==(const MatmulKey&) const = default;
};
struct MatmulKeyHash {
  size_t operator()(const MatmulKey& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : {k.B, k.M, k.N, k.K, k.asb, k.asr, k.asc, k.bsb, k.bsr, k.bsc, int64_t{k.bias}, int64_t{k.activation}})
      h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

// A cached oneDNN matmul for one problem (shapes and operand strides).
dnnl::matmul onednn_matmul(const MatmulKey& key) {
  static std::mutex mutex;
  static std::unordered_map<MatmulKey, dnnl::matmul, MatmulKeyHash> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc a_md({key.B, key.M, key.K}, dt::f32, {key.asb, key.asr, key.asc});
  dnnl::memory::desc b_md({key.B, key.K, key.N}, dt::f32, {key.bsb, key.bsr, key.bsc});
  dnnl::memory::desc c_md({key.B, key.M, key.N}, dt::f32, {key.M * key.N, key.N, 1});
  dnnl::memory::desc bias_md({1, 1, key.N}, dt::f32, {key.N, key.N, 1});
  dnnl::matmul::desc desc = key.bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md) : dnnl::matmul::desc(a_md, b_md, c_md);
  dnnl::primitive_attr attr;
  if (key.activation) {
    dnnl::post_ops ops;
    const dnnl::algorithm alg = key.activation == 1   ? dnnl::algorithm::eltwise_relu
                                : key.activation == 2 ? dnnl::algorithm::eltwise_tanh
                                                      : dnnl::algorithm::eltwise_logistic;
    ops.append_eltwise(1.f, alg, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::primitive_desc pd(desc, attr, onednn_engine());
  dnnl::matmul prim(pd);
  if (cache.size() > 256) cache.clear();
  cache.emplace(key, prim);
  return prim;
}

void matmul_f32_onednn(const MatView& a, const MatView& b, float* c, int64_t B, int64_t M, int64_t N,
                       int64_t K, const float* bias = nullptr, int activation = 0) {
  MatmulKey key{B, M, N, K, a.sb, a.sr, a.sc, b.sb, b.sr, b.sc, bias != nullptr, activation};
  try {
    dnnl::matmul prim = onednn_matmul(key);
    using dt = dnnl::memory::data_type;
    auto& engine = onednn_engine();
    dnnl::memory am({{B, M, K}, dt::f32, {a.sb, a.sr, a.sc}}, engine, const_cast<void*>(a.data));
    dnnl::memory bm({{B, K, N}, dt::f32, {b.sb, b.sr, b.sc}}, engine, const_cast<void*>(b.data));
    dnnl::memory cm({{B, M, N}, dt::f32, {M * N, N, 1}}, engine, c);
    auto& stream = onednn_stream();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (bias) args[DNNL_ARG_BIAS] = dnnl::memory({{1, 1, N}, dt::f32, {N, N, 1}}, engine, const_cast<float*>(bias));
    prim.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    throw_error<BackendError>("[dot_general] oneDNN matmul failed for f32[", B, ",", M, ",", K, "] x f32[", B,
                              ",", K, ",", N, "]: ", e.what());
  }
}

bool same_kind_types(DType a, DType b) {
  if (is_floating(a) || is_floating(b)) return is_floating(a) && is_floating(b);
  return (a == DType::bool_) == (b == DType::bool_);
}

void dot_general_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const Array& x = in[0];
  const Array& y = in[1];
  const auto& lc = p.get_ints("lhs_contracting");
  const auto& rc = p.get_ints("rhs_contracting");
  const auto& lb = p.get_ints("lhs_batch");
  const auto& rb = p.get_ints("rhs_batch");
  std::vector<int64_t> lfree, rfree;
  auto free_dims = [](const Array& a, const std::vector<int64_t>& c, const std::vector<int64_t>& b,
                      std::vector<int64_t>& f) {
    for (int64_t d = 0; d < a.ndim(); ++d)
      if (std::find(c.begin(), c.end(), d) == c.end() && std::find(b.begin(), b.end(), d) == b.end())
        f.push_back(d);
  };
  free_dims(x, lc, lb, lfree);
  free_dims(y, rc, rb, rfree);
  auto prod = [](const Array& a, const std::vector<int64_t>& dims) {
    int64_t n = 1;
    for (auto d : dims) n *= a.shape()[d];
    return n;
  };
  const int64_t B = prod(x, lb), M = prod(x, lfree), K = prod(x, lc), N = prod(y, rfree);
  Array& z = out[0];
  if (B * M * N == 0) return;
  const DType in_dt = x.dtype(), out_dt = z.dtype();
  if (in_dt == DType::float32 && out_dt == DType::float32 && K > 0) {
    MatView a = make_view(x, lb, lfree, lc, B, M, K, false);
    MatView b = make_view(y, rb, rc, rfree, B, K, N, false);
    matmul_f32_onednn(a, b, z.mutable_data<float>(), B, M, N, K);
    return;
  }
  MatView a = make_view(x, lb, lfree, lc, B, M, K, false);
  MatView b = make_view(y, rb, rc, rfree, B, K, N, true);
  dispatch(in_dt, AllTypes{}, [&](auto t) {
    using T = decltype(t);
    dispatch(out_dt, AllTypes{}, [&](auto o) {
      using O = decltype(o);
      if constexpr ((std::is_floating_point_v<T> == std::is_floating_point_v<O>) &&
                    (std::is_same_v<T, bool> == std::is_same_v<O, bool>)) {
        gemm_own<T, O>(a, static_cast<const T*>(b.data), z.mutable_data<O>(), B, M, N, K);
      } else {
        JX_CHECK(same_kind_types(in_dt, out_dt), "dot_general from ", dtype_name(in_dt), " to ",
                 dtype_name(out_dt));
      }
    });
  });
}

}  // namespace

void register_dot_kernels() { register_kernel(dot_general_p, DeviceKind::cpu, dot_general_kernel); }

void dot_general_fused(const Array& x, const Array& y, const Array& bias, const std::string& activation, Array& out,
                       const Params& p) {
  const int act = activation.empty() ? 0 : activation == "relu" ? 1 : activation == "tanh" ? 2 : activation == "logistic" ? 3 : -1;
  JX_CHECK(act >= 0, "dot_general_fused: unknown activation ", activation);
  const auto& lc = p.get_ints("lhs_contracting");
  const auto& rc = p.get_ints("rhs_contracting");
  const auto& lb = p.get_ints("lhs_batch");
  const auto& rb = p.get_ints("rhs_batch");
  // The oneDNN path: float32, no batch dims, 2-D operands.
  if (x.dtype() == DType::float32 && out.dtype() == DType::float32 && lb.empty() && rb.empty() && x.ndim() == 2 &&
      y.ndim() == 2 && lc.size() == 1 && rc.size() == 1 && (!bias.defined() || bias.dtype() == DType::float32)) {
    const int64_t M = x.shape()[1 - lc[0]], K = x.shape()[lc[0]], N = y.shape()[1 - rc[0]];
    if (M * N == 0) return;
    if (K > 0) {
      std::vector<int64_t> lfree{1 - lc[0]}, rfree{1 - rc[0]};
      MatView a = make_view(x, lb, lfree, lc, 1, M, K, false);
      MatView b = make_view(y, rb, rc, rfree, 1, K, N, false);
      matmul_f32_onednn(a, b, out.mutable_data<float>(), 1, M, N, K, bias.defined() ? bias.data<float>() : nullptr, act);
      return;
    }
  }
  // Generic: the plain kernel, then the epilogue.
  std::vector<Array> in{x, y};
  std::vector<Array> o{out};
  dot_general_kernel(in, o, p);
  const int64_t n = out.size(), cols = out.ndim() ? out.shape().back() : 1;
  dispatch(out.dtype(), NumericTypes{}, [&](auto t) {
    using T = decltype(t);
    T* z = out.mutable_data<T>();
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      T v = b ? T(z[i] + b[i % cols]) : z[i];
      if constexpr (std::is_floating_point_v<T>) {
        if (act == 1) v = v <= T(0) ? T(0) : v;
        else if (act == 2) v = std::tanh(v);
        else if (act == 3) v = T(1) / (T(1) + std::exp(-v));
      } else {
        if (act == 1) v = v <= T(0) ? T(0) : v;
      }
      z[i] = v;
    }
  });
}

}  // namespace jx::cpu
