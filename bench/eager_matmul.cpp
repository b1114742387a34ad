// Eager jx::matmul on 1024x1024x1024 float32 against oneDNN's matmul called directly (same
// library, same threads): median of 10 runs after warm-up. The target is jx within 1.2x.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "jx/jx.h"

namespace {

double median_ms(const std::function<void()>& f, int warmup = 3, int runs = 10) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
}

}  // namespace

int main() {
  const int64_t n = 1024;
  std::vector<float> a(n * n), b(n * n);
  for (int64_t i = 0; i < n * n; ++i) {
    a[i] = static_cast<float>((i * 7 % 13) - 6) / 8.f;
    b[i] = static_cast<float>((i * 5 % 11) - 5) / 8.f;
  }

  // 1. jx: eager matmul (result buffers come from jx's caching allocator).
  jx::Array x = jx::array(a, jx::Shape{n, n}), y = jx::array(b, jx::Shape{n, n});
  float sink = 0;
  double jx_ms = median_ms([&] {
    jx::Array z = jx::matmul(x, y);
    sink += z.data<float>()[0];
  });

  // 2. oneDNN directly: one primitive, preallocated output.
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc md({n, n}, dt::f32, tag::ab);
  std::vector<float> c(n * n);
  dnnl::memory am(md, engine, a.data()), bm(md, engine, b.data()), cm(md, engine, c.data());
  dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), engine));
  double dnnl_ms = median_ms([&] {
    mm.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
    sink += c[0];
  });

  // 3. Same answer?
  jx::Array z = jx::matmul(x, y);
  double max_diff = 0;
  for (int64_t i = 0; i < n * n; ++i)
    max_diff = std::max(max_diff, static_cast<double>(std::abs(z.data<float>()[i] - c[i])));

  const double gflop = 2.0 * n * n * n / 1e9;
  std::printf("eager matmul f32 %lldx%lldx%lld (median of 10)\n", static_cast<long long>(n),
              static_cast<long long>(n), static_cast<long long>(n));
  std::printf("  jx::matmul      %8.2f ms  %7.1f GFLOP/s\n", jx_ms, gflop / jx_ms * 1e3);
  std::printf("  oneDNN direct   %8.2f ms  %7.1f GFLOP/s\n", dnnl_ms, gflop / dnnl_ms * 1e3);
  std::printf("  ratio jx/oneDNN %8.3f   (target <= 1.2)   max |diff| %.3g   (%g)\n", jx_ms / dnnl_ms, max_diff,
              static_cast<double>(sink) * 0.0);
  return 0;
}
