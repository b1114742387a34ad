// Eager jx::matmul on 1024x1024x1024 float32 against oneDNN's matmul called directly (same
// library, same threads): median of 10 runs after warm-up. The target is jx within 1.2x.
// (Not one of WORKLOADS.md's W1-W8.) --smoke: 64^3, two runs.

#include <cmath>
#include <stdexcept>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/common.h"
#include "jx/jx.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "eager_matmul", 10, [](bench::Report& r, const bench::Options& o) {
    const int64_t n = o.smoke ? 64 : 1024;
    std::vector<float> a(n * n), b(n * n);
    for (int64_t i = 0; i < n * n; ++i) {
      a[i] = static_cast<float>((i * 7 % 13) - 6) / 8.f;
      b[i] = static_cast<float>((i * 5 % 11) - 5) / 8.f;
    }

    // 1. jx: eager matmul (result buffers come from jx's caching allocator).
    jx::Array x = jx::array(a, jx::Shape{n, n}), y = jx::array(b, jx::Shape{n, n});
    float sink = 0;
    auto jx_ms = bench::time_calls(
        [&] { jx::matmul(x, y).block_until_ready(); },  // with JX_PLATFORM=cuda the work is asynchronous
        o, 1, 1e-3);

    // 2. oneDNN directly: one primitive, preallocated output.
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    dnnl::memory::desc md({n, n}, dt::f32, tag::ab);
    std::vector<float> c(n * n);
    dnnl::memory am(md, engine, a.data()), bm(md, engine, b.data()), cm(md, engine, c.data());
    dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), engine));
    auto dnnl_ms = bench::time_calls(
        [&] {
          mm.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
          stream.wait();
          sink += c[0];
        },
        o, 1, 1e-3);

    // 3. Same answer?
    const std::vector<float> z = jx::matmul(x, y).to_vector<float>();
    double max_diff = 0;
    for (int64_t i = 0; i < n * n; ++i) max_diff = std::max(max_diff, static_cast<double>(std::abs(z[i] - c[i])));

    const double gflop = 2.0 * n * n * n / 1e9;
    const double jm = bench::median(jx_ms), dm = bench::median(dnnl_ms);
    std::printf("eager matmul f32 %lldx%lldx%lld (median of %d)\n", static_cast<long long>(n),
                static_cast<long long>(n), static_cast<long long>(n), o.iters);
    std::printf("  jx::matmul      %8.2f ms  %7.1f GFLOP/s\n", jm, gflop / jm * 1e3);
    std::printf("  oneDNN direct   %8.2f ms  %7.1f GFLOP/s\n", dm, gflop / dm * 1e3);
    std::printf("  ratio jx/oneDNN %8.3f   (target <= 1.2)   max |diff| %.3g   (%g)\n", jm / dm, max_diff,
                static_cast<double>(sink) * 0.0);
    r.figure("jx_ms", jx_ms);
    r.figure("onednn_ms", dnnl_ms);
    r.check("max_abs_diff", max_diff);
    if (max_diff > 1e-3 * static_cast<double>(n)) throw std::runtime_error("jx::matmul and oneDNN disagree");
  });
}
