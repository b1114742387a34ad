// The machine's limits, measured in the same run as the workloads (WORKLOADS.md):
//   triad_gbs     STREAM triad a[i] = b[i] + s * c[i] over three 64 MiB float arrays on all cores
//                 (OpenMP, static schedule, first-touch initialized by the same threads), GB/s
//                 counting 2 reads + 1 write per element.
//   sgemm_gflops  oneDNN's f32 matmul 2048 x 2048 x 2048 (one primitive, preallocated buffers).
// Both are medians over --iters timed runs; the thread count is OpenMP's (OMP_NUM_THREADS, all
// cores by default). Independent of jx: these are the ceilings the workloads are compared with.

#include <omp.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/common.h"

namespace {

// A 64-byte aligned float buffer that is not touched on allocation (first touch decides pages).
struct Buffer {
  explicit Buffer(int64_t n)
      : p(static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * sizeof(float)))), size(n) {}
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* p;
  int64_t size;
};

void triad(bench::Report& r, const bench::Options& o) {
  const int64_t bytes = o.smoke ? (1ll << 20) : (64ll << 20);
  const int64_t n = bytes / static_cast<int64_t>(sizeof(float));
  Buffer a(n), b(n), c(n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    a.p[i] = 0.0f;
    b.p[i] = 1.0f;
    c.p[i] = 2.0f;
  }
  const float s = 3.0f;
  float* pa = a.p;
  const float* pb = b.p;
  const float* pc = c.p;
  auto samples = bench::time_calls(
      [&] {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
      },
      o, 1, 1e-3);
  std::vector<double> gbs;
  for (double ms : samples) gbs.push_back(3.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9);
  r.figure("triad_ms", samples);
  r.figure("triad_gbs", gbs);
  r.check("triad_a_last", static_cast<double>(pa[n - 1]));  // 1 + 3 * 2 = 7
}

void sgemm(bench::Report& r, const bench::Options& o) {
  const int64_t n = o.smoke ? 128 : 2048;
  std::vector<float> a(static_cast<size_t>(n * n)), b(static_cast<size_t>(n * n)), c(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n * n; ++i) {
    a[static_cast<size_t>(i)] = static_cast<float>((i * 7 % 13) - 6) / 8.f;
    b[static_cast<size_t>(i)] = static_cast<float>((i * 5 % 11) - 5) / 8.f;
  }
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  dnnl::memory::desc md({n, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
  dnnl::memory am(md, engine, a.data()), bm(md, engine, b.data()), cm(md, engine, c.data());
  dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), engine));
  auto samples = bench::time_calls(
      [&] {
        mm.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
        stream.wait();
      },
      o, 1, 1e-3);
  const double gflop = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / 1e9;
  std::vector<double> gflops;
  for (double ms : samples) gflops.push_back(gflop / (ms * 1e-3));
  r.figure("sgemm_ms", samples);
  r.figure("sgemm_gflops", gflops);
  r.check("sgemm_c00", static_cast<double>(c[0]));
  const dnnl_version_t* v = dnnl_version();
  r.extra("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
}

}  // namespace

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "limits", 20, [](bench::Report& r, const bench::Options& o) {
    r.system("machine");
    r.extra("threads", static_cast<double>(omp_get_max_threads()));
    triad(r, o);
    sgemm(r, o);
  });
}
