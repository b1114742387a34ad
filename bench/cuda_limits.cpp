// The GPU's limits, measured in the same run as the GPU workloads (bench/run.py --platform cuda),
// through jx's CUDA runtime (backends/cuda/runtime.h) on device 0:
//   d2d_gbs       device-to-device copy (copy_d2d: cuMemcpyDtoDAsync on jx's stream) of 1 GiB,
//                 each timed call one copy followed by synchronize; GB/s counting the bytes read
//                 plus the bytes written (2 x 1 GiB per copy), as W2 counts 2 reads + 1 write.
//                 W2's target is a fraction of this figure.
//   d2d_w2_gbs    the same for a copy moving as many bytes as one W2 call (96 MiB read + 96 MiB
//                 written = 3 x 4 x 16Mi bytes), one synchronize per copy: the ceiling at W2's
//                 size with the per-call overhead a W2 call also pays (for orientation).
//   sgemm_gflops  cuBLAS sgemm 4096 x 4096 x 4096 (jx::cuda::gemm: full float32, cuBLAS's
//                 default math mode, no TF32), each call followed by synchronize.
// Medians over --iters timed calls after --warmup calls. The copies are checked (the destination
// is read back and compared) and so is one element of the sgemm result. When cuBLAS is missing
// or fails to start, extra "sgemm_unavailable" says why and the copies are still reported.
//
// Where jx cannot use a GPU (no driver, no device, jx built without CUDA), the result line has
// status "unavailable" and the reason "no CUDA device: <jx::cuda_unavailable_reason()>", and the
// exit status is 0: there is nothing to measure (bench_smoke runs this program everywhere);
// bench/run.py --platform cuda stops on it. --smoke: 1 MiB copies, sgemm 128^3.

#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "bench/common.h"
#include "core/device.h"

#if JX_BENCH_CUDA
#include "backends/cuda/nvrtc.h"
#include "backends/cuda/runtime.h"
#endif

namespace {

#if JX_BENCH_CUDA
namespace cuda = jx::cuda;

/// Device memory for the program's lifetime (returned to jx's caching allocator).
struct DeviceBuffer {
  DeviceBuffer(size_t n, int dev) : p(cuda::device_alloc(n, dev)), nbytes(n), device(dev) {}
  ~DeviceBuffer() { cuda::device_free(p, nbytes, device); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* p;
  size_t nbytes;
  int device;
};

/// Times copies of `bytes` bytes; returns GB/s per sample (read + write bytes) and records the
/// milliseconds as `<name>_ms`, the GB/s as `<name>_gbs`. Checks the copy.
void d2d(bench::Report& r, const bench::Options& o, const std::string& name, size_t bytes, int dev) {
  const size_t n = bytes / sizeof(float);
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>(i % 1000) * 0.5f;
  DeviceBuffer src(bytes, dev), dst(bytes, dev);
  cuda::copy_h2d(src.p, host.data(), bytes, dev);
  cuda::memset_zero(dst.p, bytes, dev);
  cuda::synchronize(dev);
  auto ms = bench::time_calls(
      [&] {
        cuda::copy_d2d(dst.p, src.p, bytes, dev);
        cuda::synchronize(dev);
      },
      o, 1, 1e-3);
  std::vector<double> gbs;
  for (double t : ms) gbs.push_back(2.0 * static_cast<double>(bytes) / (t * 1e-3) / 1e9);
  r.figure(name + "_ms", ms);
  r.figure(name + "_gbs", gbs);
  std::vector<float> back(n);
  cuda::copy_d2h(back.data(), dst.p, bytes, dev);
  double mismatches = 0;
  for (size_t i = 0; i < n; ++i) mismatches += back[i] != host[i] ? 1 : 0;
  r.check(name + "_mismatches", mismatches);
  if (mismatches != 0) r.error(name + ": the copied data differ from the source");
  r.extra(name + "_bytes", static_cast<double>(bytes));
}

void sgemm(bench::Report& r, const bench::Options& o, int dev) {
  if (!cuda::cublas_available()) {
    r.extra("sgemm_unavailable", cuda::cublas_unavailable_reason());
    return;
  }
  const int64_t n = o.smoke ? 128 : 4096;
  const size_t count = static_cast<size_t>(n * n), bytes = count * sizeof(float);
  std::vector<float> a(count), b(count);
  for (size_t i = 0; i < count; ++i) {
    a[i] = static_cast<float>(static_cast<int64_t>(i * 7 % 13) - 6) / 8.f;
    b[i] = static_cast<float>(static_cast<int64_t>(i * 5 % 11) - 5) / 8.f;
  }
  DeviceBuffer da(bytes, dev), db(bytes, dev), dc(bytes, dev);
  cuda::copy_h2d(da.p, a.data(), bytes, dev);
  cuda::copy_h2d(db.p, b.data(), bytes, dev);
  cuda::GemmArgs g;
  g.dtype = jx::DType::float32;
  g.m = g.n = g.k = n;
  g.a = da.p;
  g.lda = n;
  g.b = db.p;
  g.ldb = n;
  g.c = dc.p;
  g.ldc = n;
  auto ms = bench::time_calls(
      [&] {
        cuda::gemm(g, dev);
        cuda::synchronize(dev);
      },
      o, 1, 1e-3);
  const double gflop = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / 1e9;
  std::vector<double> gflops;
  for (double t : ms) gflops.push_back(gflop / (t * 1e-3));
  r.figure("sgemm_ms", ms);
  r.figure("sgemm_gflops", gflops);
  // Column-major, as cuBLAS: C[0, 0] = sum_k A[0, k] * B[k, 0] = sum_k a[k * n] * b[k].
  float c00 = 0;
  cuda::copy_d2h(&c00, dc.p, sizeof(float), dev);
  double expect = 0;
  for (int64_t k = 0; k < n; ++k) expect += static_cast<double>(a[static_cast<size_t>(k * n)]) * b[static_cast<size_t>(k)];
  r.check("sgemm_c00", static_cast<double>(c00));
  r.check("sgemm_c00_expected", expect);
  if (std::abs(static_cast<double>(c00) - expect) > 1e-3 * (1.0 + std::abs(expect)))
    r.error("sgemm: C[0, 0] is " + std::to_string(c00) + ", expected " + std::to_string(expect));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "cuda_limits", 20, [](bench::Report& r, const bench::Options& o) {
    r.system("machine");
    if (!jx::cuda_available()) {
      r.unavailable("no CUDA device: " + jx::cuda_unavailable_reason());
      return;
    }
#if JX_BENCH_CUDA
    const int dev = 0;
    const cuda::DeviceProps& p = cuda::props(dev);
    r.extra("device_count", static_cast<double>(cuda::device_count()));
    r.extra("gpu", p.name);
    r.extra("compute_capability", std::to_string(p.cc_major) + "." + std::to_string(p.cc_minor));
    r.extra("sm_count", static_cast<double>(p.sm_count));
    r.extra("memory_gib", static_cast<double>(p.total_memory) / (1024.0 * 1024.0 * 1024.0));
    const int v = cuda::driver_version();
    r.extra("cuda_driver_api", std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10));
    auto [nv_major, nv_minor] = jx::cudagen::nvrtc_version();
    r.extra("nvrtc", jx::cudagen::nvrtc_available() ? std::to_string(nv_major) + "." + std::to_string(nv_minor)
                                                      : "unavailable: " + jx::cudagen::nvrtc_unavailable_reason());
    d2d(r, o, "d2d", o.smoke ? (1ull << 20) : (1ull << 30), dev);
    d2d(r, o, "d2d_w2", o.smoke ? (1ull << 20) : 3ull * 4ull * (16ull << 20) / 2ull, dev);
    // The copies are the figure W2 needs; a cuBLAS that cannot start (it loads its own CUDA
    // runtime) leaves only the floors of W3 and W7 unknown.
    try {
      sgemm(r, o, dev);
    } catch (const std::exception& e) {
      r.extra("sgemm_unavailable", e.what());
    }
#else
    (void)o;
    r.unavailable("no CUDA device: jx reports a device, but this program was built without JX_BENCH_CUDA");
#endif
  });
}
