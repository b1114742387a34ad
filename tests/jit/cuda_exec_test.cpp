// The CUDA executor (backends/cuda/executable): how dot_general maps to cuBLAS (checked on the
// host against a column-major GEMM with cuBLAS's semantics, so it runs without a GPU), and, on a
// machine with a GPU, jit and eager programs on CUDA arrays against the CPU: fused kernels,
// reductions, cuBLAS, control flow, host-fallback library calls, grad, vmap, donation.
#ifdef JX_WITH_CUDA
#include "backends/cuda/executable.h"
#include "backends/cuda/runtime.h"
#include "core/device.h"
#include "core/prims/dot.h"
#include "testing/testing.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>

using namespace jx;
using jx::testing::uniform;

namespace {

// cuBLAS's strided batched GEMM on host memory: C[b] = op(A[b]) op(B[b]), column-major.
template <class T>
void host_gemm(const cuda::GemmArgs& g, const T* a, const T* b, T* c) {
  for (int64_t bi = 0; bi < g.batch; ++bi)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < g.k; ++k) {
          const T av = g.trans_a ? a[bi * g.stride_a + i * g.lda + k] : a[bi * g.stride_a + k * g.lda + i];
          const T bv = g.trans_b ? b[bi * g.stride_b + k * g.ldb + j] : b[bi * g.stride_b + j * g.ldb + k];
          acc += static_cast<double>(av) * static_cast<double>(bv);
        }
        c[bi * g.stride_c + j * g.ldc + i] = static_cast<T>(acc);
      }
}

struct DotCase {
  Shape lhs, rhs;
  Axes lc, rc, lb, rb;
  bool gemm;  // expressible as one strided batched GEMM
};

Params dot_params(const DotCase& c) {
  Params p;
  p.set("lhs_contracting", std::vector<int64_t>(c.lc.begin(), c.lc.end()));
  p.set("rhs_contracting", std::vector<int64_t>(c.rc.begin(), c.rc.end()));
  p.set("lhs_batch", std::vector<int64_t>(c.lb.begin(), c.lb.end()));
  p.set("rhs_batch", std::vector<int64_t>(c.rb.begin(), c.rb.end()));
  return p;
}

bool gpu() { return cuda_available(); }
const Device kGpu{DeviceKind::cuda, 0};

void check_on_gpu_equals_cpu(const Array& on_gpu, const Array& on_cpu) {
  REQUIRE(on_gpu.device() == kGpu);
  REQUIRE(on_gpu.shape() == on_cpu.shape());
  REQUIRE(on_gpu.dtype() == on_cpu.dtype());
  CHECK_ALLCLOSE_TOL(device_put(on_gpu, Device{}), jx::testing::values(on_cpu), 2e-5, 1e-6);
}

}  // namespace

TEST_CASE("cuda: dot_general -> cuBLAS GEMM (batch, transposes, several contracting dims) equals the CPU dot") {
  const std::vector<DotCase> cases = {
      {{5, 7}, {7, 3}, {1}, {0}, {}, {}, true},                 // A.B
      {{7, 5}, {7, 3}, {0}, {0}, {}, {}, true},                 // A^T.B
      {{5, 7}, {3, 7}, {1}, {1}, {}, {}, true},                 // A.B^T
      {{7, 5}, {3, 7}, {0}, {1}, {}, {}, true},                 // A^T.B^T
      {{4, 5, 7}, {4, 7, 3}, {2}, {1}, {0}, {0}, true},         // batched
      {{4, 7, 5}, {4, 3, 7}, {1}, {2}, {0}, {0}, true},         // batched, both transposed
      {{2, 3, 5, 6, 7}, {2, 3, 6, 7, 4}, {3, 4}, {2, 3}, {0, 1}, {0, 1}, true},  // 2 batch, 2 contracting
      {{5, 2, 3, 4}, {2, 3, 6}, {1, 2}, {0, 1}, {}, {}, false},  // contracting dims in the middle: no
      {{7}, {7, 3}, {0}, {0}, {}, {}, true},                    // vector . matrix
      {{5, 7}, {7}, {1}, {0}, {}, {}, true},                    // matrix . vector
      {{7}, {7}, {0}, {0}, {}, {}, true},                       // inner product
      {{5, 7}, {3, 7}, {1}, {1}, {}, {}, true},
      {{5, 6, 7}, {7, 6, 3}, {1, 2}, {1, 0}, {}, {}, false},    // contracting pairs in different orders: no
      {{5, 4, 7}, {4, 7, 3}, {2}, {1}, {1}, {0}, false},        // batch dim not leading: no
      {{3, 4}, {5, 6}, {}, {}, {}, {}, true},                   // outer product (k = 1)
  };
  for (const DotCase& c : cases) {
    CAPTURE(c.lhs);
    CAPTURE(c.rhs);
    for (DType dt : {float32, float64}) {
      Array x = uniform(c.lhs, -1, 1, dt, 1);
      Array y = uniform(c.rhs, -1, 1, dt, 2);
      Array want = lax::dot_general(x, y, {c.lc, c.rc}, {c.lb, c.rb});
      auto g = cuda::gemm_for_dot(x.aval(), y.aval(), want.aval(), dot_params(c));
      REQUIRE(g.has_value() == c.gemm);
      if (!g) continue;
      CHECK(g->dtype == dt);
      CHECK(g->m * g->n * g->batch == want.size());
      Array got = jx::detail::empty_array(want.aval());
      dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        if constexpr (std::is_floating_point_v<T>) host_gemm<T>(*g, y.data<T>(), x.data<T>(), got.mutable_data<T>());
      });
      CHECK_ALLCLOSE_TOL(got, jx::testing::values(want), 1e-5, 1e-6);
    }
  }
  // Integer dots and mixed output types stay off cuBLAS.
  Array i = reshape(arange(0, 6), {2, 3});
  CHECK_FALSE(cuda::gemm_for_dot(i.aval(), i.aval(), AbstractValue{int32, {2, 2}}, dot_params({{2, 3}, {2, 3}, {1}, {1}, {}, {}, false})));
}

TEST_CASE("cuda: without a GPU, placing work on CUDA fails with the reason" * doctest::skip(gpu())) {
  Array x = uniform({4}, -1, 1, float32, 3);
  CHECK(cuda::eager_placement(std::vector<Array>{x}) == -1);
  CHECK_THROWS_WITH_AS(device_put(x, kGpu), doctest::Contains("cuda:0"), Error);
}

TEST_CASE("cuda: jit on device arrays equals the CPU (fusion, reductions, cuBLAS with epilogue)" * doctest::skip(!gpu())) {
  Array x = uniform({64, 33}, -2, 2, float32, 3);
  Array w = uniform({33, 17}, -1, 1, float32, 4);
  Array b = uniform({17}, -1, 1, float32, 5);
  auto f = [](const Array& x, const Array& w, const Array& b) {
    Array h = relu(matmul(x, w) + b);
    Array z = tanh(x) * 2 + exp(-x * x);
    return std::tuple{h, sum(z, {1}), max(z, {0}), mean(z), sum(z * z, {0}), transpose(z)};
  };
  auto cpu = jit(f)(x, w, b);
  auto dev = jit(f)(device_put(x, kGpu), device_put(w, kGpu), device_put(b, kGpu));
  check_on_gpu_equals_cpu(std::get<0>(dev), std::get<0>(cpu));
  check_on_gpu_equals_cpu(std::get<1>(dev), std::get<1>(cpu));
  check_on_gpu_equals_cpu(std::get<2>(dev), std::get<2>(cpu));
  check_on_gpu_equals_cpu(std::get<3>(dev), std::get<3>(cpu));
  check_on_gpu_equals_cpu(std::get<4>(dev), std::get<4>(cpu));
  check_on_gpu_equals_cpu(std::get<5>(dev), std::get<5>(cpu));
  // Large reductions (a block per output) and column reductions over many rows.
  Array big = uniform({8, 100000}, -1, 1, float32, 6);
  auto r = [](const Array& v) { return std::pair{sum(v, {1}), sum(v, {0})}; };
  auto rc = jit(r)(big);
  auto rg = jit(r)(device_put(big, kGpu));
  CHECK_ALLCLOSE_TOL(device_put(rg.first, Device{}), jx::testing::values(rc.first), 1e-4, 1e-3);
  CHECK_ALLCLOSE_TOL(device_put(rg.second, Device{}), jx::testing::values(rc.second), 1e-5, 1e-5);
}

TEST_CASE("cuda: eager operations on device arrays stay on the device and equal the CPU" * doctest::skip(!gpu())) {
  Array x = uniform({5, 6}, -2, 2, float32, 7);
  Array xd = device_put(x, kGpu);
  check_on_gpu_equals_cpu(sin(xd) * 3 + xd, sin(x) * 3 + x);
  check_on_gpu_equals_cpu(sum(xd, {0}), sum(x, {0}));
  check_on_gpu_equals_cpu(matmul(xd, transpose(xd)), matmul(x, transpose(x)));
  check_on_gpu_equals_cpu(xd[2], x[2]);                       // gather/slice
  check_on_gpu_equals_cpu(xd.at(1).set(0.5f), x.at(1).set(0.5f));  // scatter
  check_on_gpu_equals_cpu(xd + x, x + x);                      // a host operand is moved
  CHECK(sum(xd).item<float>() == doctest::Approx(sum(x).item<float>()).epsilon(1e-5));
}

TEST_CASE("cuda: grad, vmap and control flow on device arrays equal the CPU" * doctest::skip(!gpu())) {
  Array x = uniform({7}, -1, 1, float64, 8);
  auto f = [](const Array& v) { return sum(sin(v) * v * v); };
  check_on_gpu_equals_cpu(grad(f)(device_put(x, kGpu)), grad(f)(x));
  check_on_gpu_equals_cpu(jit(grad(f))(device_put(x, kGpu)), grad(f)(x));
  Array m = uniform({4, 7}, -1, 1, float64, 9);
  check_on_gpu_equals_cpu(vmap(grad(f))(device_put(m, kGpu)), vmap(grad(f))(m));
  auto loop = [](const Array& v) {
    auto [c, ys] = lax::scan([](const Array& c, const Array& xi) { return std::pair{c * 0.9 + xi, c}; }, v[0], v);
    Array w = lax::while_loop([](const Array& s) { return sum(s) < 100.0; }, [](const Array& s) { return s * 2 + 1; }, v);
    return std::tuple{c, ys, w};
  };
  auto cpu = jit(loop)(x);
  auto dev = jit(loop)(device_put(x, kGpu));
  check_on_gpu_equals_cpu(std::get<0>(dev), std::get<0>(cpu));
  check_on_gpu_equals_cpu(std::get<1>(dev), std::get<1>(cpu));
  check_on_gpu_equals_cpu(std::get<2>(dev), std::get<2>(cpu));
}

TEST_CASE("cuda: repeated jitted calls reuse cached device memory; donation hands a buffer over" * doctest::skip(!gpu())) {
  auto step = jit([](const Array& p) { return p * 0.5 + 1.0; }, {.donate_argnums = {0}});
  Array p = device_put(uniform({1 << 16}, -1, 1, float32, 10), kGpu);
  p = step(p);
  const auto before = cuda::memory_stats(0).num_device_allocs;
  for (int i = 0; i < 50; ++i) p = step(p);
  block_until_ready(p);
  CHECK(cuda::memory_stats(0).num_device_allocs == before);
  Array q = device_put(uniform({8}, -1, 1, float32, 11), kGpu);
  Array r = step(q);
  CHECK_THROWS_AS(q.to_vector<float>(), ValueError);  // donated and deleted
  CHECK(r.device() == kGpu);
}

#endif  // JX_WITH_CUDA

#ifdef JX_WITH_CUDA
// Programs made only of library calls (no fused kernel) run on the host-memory libcuda of
// tests/testing/mock_libcuda.cpp too: placement, the eager cache, buffer tables, outputs that
// are arguments or constants, host-fallback calls with their copies. (Kernels need a GPU.)
TEST_CASE("cuda executor (no kernels): eager and jitted library calls on device arrays equal the CPU" * doctest::skip(!gpu())) {
  Array x = uniform({6, 5}, -2, 2, float32, 12);
  Array xd = device_put(x, kGpu);
  CHECK(cuda::eager_placement(std::vector<Array>{x, xd}) == 0);
  check_on_gpu_equals_cpu(cumsum(xd, 1), cumsum(x, 1));
  check_on_gpu_equals_cpu(cumsum(xd, 0), cumsum(x, 0));  // the cached program for this signature
  CHECK(cumsum(x, 1).device() == Device{});  // host arguments: the CPU
  Array c = uniform({3}, -1, 1, float64, 13);
  auto f = jit([c](const Array& v) { return std::tuple{cumsum(v, 0), v, c}; });
  auto [s, same, k] = f(xd);
  check_on_gpu_equals_cpu(s, cumsum(x, 0));
  CHECK(same.impl_ptr() == xd.impl_ptr());      // an argument returned as it is
  check_on_gpu_equals_cpu(k, c);                // a constant, copied to the device once
  auto [s2, same2, k2] = f(x);                  // host argument: this jit runs on the CPU
  CHECK(s2.device() == Device{});
}

TEST_CASE("cuda executor (no kernels): a kernel that cannot be loaded is a clear BackendError" * doctest::skip(!gpu())) {
  if (!std::getenv("JX_CUDA_DRIVER")) return;  // only meaningful with the mock driver, which loads no module
  Array xd = device_put(uniform({4}, -1, 1, float32, 14), kGpu);
  CHECK_THROWS_WITH_AS(sin(xd) * 2, doctest::Contains("cuModuleLoadData"), BackendError);
}

#ifdef JX_MOCK_LIBCUDA
TEST_CASE("cuda executor: the no-kernel cases pass against a host-memory libcuda (no GPU needed)") {
  if (std::getenv("JX_CUDA_DRIVER")) return;
  auto r = jx::testing::run_cases_in_child("JX_CUDA_DRIVER='" JX_MOCK_LIBCUDA "'", "cuda executor (no kernels)*");
  CHECK_MESSAGE(r.status == 0, r.output);
  CHECK_MESSAGE(r.passed == 2, r.output);  // both ran and passed
  CHECK_MESSAGE(r.failed == 0, r.output);
}
#endif
#endif  // JX_WITH_CUDA
