// The CUDA renderer and NVRTC without a GPU: programs of jit'd functions are rendered to CUDA C++
// and compiled to CUBINs for sm_90 and sm_80; launch shapes per kernel kind; compile errors carry
// NVRTC's log; the in-memory and JX_CACHE_DIR caches; the JX_CUDA_CODEGEN_CHECK hook of the jit.
#ifdef JX_WITH_CUDA

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "backends/cuda/nvrtc.h"
#include "backends/cuda/render.h"
#include "core/prims/elementwise.h"
#include "jit/program.h"
#include "testing/testing.h"

using namespace jx;
using jx::testing::uniform;

namespace {

template <class F, class... A>
jitc::Program plan_of(const std::string& name, F f, const A&... args) {
  auto lowered = jit(f).lower(args...);
  return jitc::plan_program(lowered.jaxpr(), name);
}

// Renders `p`, checks the launch specs' basic invariants, and compiles for sm_90 and sm_80.
cudagen::RenderedProgram render_and_compile(const jitc::Program& p) {
  REQUIRE_MESSAGE(cudagen::nvrtc_available(), cudagen::nvrtc_unavailable_reason());
  cudagen::RenderedProgram r = cudagen::render_program(p);
  REQUIRE(r.kernels.size() == p.kernels.size());
  CHECK(r.source.find("#include") == std::string::npos);
  for (size_t i = 0; i < r.kernels.size(); ++i) {
    const auto& spec = r.kernels[i];
    CHECK(r.source.find("extern \"C\" __global__ void __launch_bounds__(" +
                        std::to_string(spec.block[0] * spec.block[1] * spec.block[2]) + ") " + spec.name + "(") !=
          std::string::npos);
    CHECK(spec.block[0] * spec.block[1] * spec.block[2] <= 1024);
    CHECK(spec.block[0] % 32 == 0);
    CHECK(spec.grid[0] >= 1);
    CHECK(spec.shared_bytes == 0);
    // Parameters: every slot the kernel reads, then every slot it writes, once each.
    std::vector<int> expect;
    for (auto& n : p.kernels[i].nodes)
      if (n.kind == jitc::KNode::Kind::load && std::find(expect.begin(), expect.end(), n.slot) == expect.end())
        expect.push_back(n.slot);
    for (auto& o : p.kernels[i].outputs) expect.push_back(o.slot);
    CHECK(spec.params == expect);
  }
  for (int sm : {90, 80}) {
    cudagen::Cubin c;
    CHECK_NOTHROW(c = cudagen::compile_cubin(r.source, p.name, sm));
    CHECK(c.image.size() > 16);
    // A CUBIN is an ELF file.
    CHECK(std::string(c.image.begin(), c.image.begin() + 4) == "\x7f" "ELF");
  }
  return r;
}

const jitc::Kernel* find_kernel(const jitc::Program& p, bool reduction) {
  for (auto& k : p.kernels)
    if (k.is_reduction() == reduction) return &k;
  return nullptr;
}

size_t kernel_index(const jitc::Program& p, const jitc::Kernel* k) { return static_cast<size_t>(k - p.kernels.data()); }

}  // namespace

TEST_CASE("cuda codegen: NVRTC loads and reports its version") {
  REQUIRE_MESSAGE(cudagen::nvrtc_available(), cudagen::nvrtc_unavailable_reason());
  CHECK(cudagen::nvrtc_unavailable_reason().empty());
  auto [major, minor] = cudagen::nvrtc_version();
  CHECK(major >= 12);
  CHECK(minor >= 0);
}

TEST_CASE("cuda codegen: an elementwise chain with broadcasts is one grid-stride kernel with accurate math") {
  Array x = uniform({64, 33}, -2, 2, float32, 1);
  Array y = uniform({64, 33}, -2, 2, float32, 2);
  Array b = uniform({33}, -1, 1, float32, 3);
  auto f = [](const Array& x, const Array& y, const Array& b) {
    return tanh(x) * y + exp(-x * x) + b + sigmoid(y) - rsqrt(abs(x) + 1.0f) + pow(abs(y), x);
  };
  jitc::Program p = plan_of("chain", f, x, y, b);
  REQUIRE(p.kernels.size() == 1);
  auto r = render_and_compile(p);
  const auto& spec = r.kernels[0];
  CHECK(spec.block[0] == 256);
  CHECK(spec.grid[0] == (64 * 33 + 255) / 256);
  CHECK(spec.grid[1] == 1);
  CHECK(r.source.find("tanhf(") != std::string::npos);
  CHECK(r.source.find("expf(") != std::string::npos);
  CHECK(r.source.find("powf(") != std::string::npos);
  CHECK(r.source.find("sqrtf(") != std::string::npos);
  CHECK(r.source.find("__expf") == std::string::npos);  // no fast intrinsics
  CHECK(r.source.find("typedef int ix;") != std::string::npos);  // 32-bit indices
  // A tiny domain gets a smaller block.
  jitc::Program q = plan_of("tiny", [](const Array& x) { return sin(x) * 2.0f; }, uniform({5}, 0, 1, float32, 4));
  auto rq = render_and_compile(q);
  CHECK(rq.kernels[0].block[0] == 32);
  CHECK(rq.kernels[0].grid[0] == 1);
}

TEST_CASE("cuda codegen: broadcasts, transposes, slices, pads, concatenations, reversals, iotas and dynamic slices") {
  Array x = uniform({6, 8}, -1, 1, float32, 5);
  Array y = uniform({8, 6}, -1, 1, float32, 6);
  Array v = uniform({8}, -1, 1, float32, 7);
  auto f = [](const Array& x, const Array& y, const Array& v) {
    Array t = transpose(y) * 2.0f + v;                                        // [6, 8]
    Array s = lax::slice(x, {1, 0}, {5, 8}, {2, 3});                          // [2, 3]
    Array p = lax::pad(x + 1.0f, Array(0.5f), {{1, 2, 1}, {-1, 0, 0}});       // [18, 7]
    Array c = concatenate({x, t * x, lax::rev(x, {1})}, 0);                   // [18, 8]
    Array i = lax::iota(float32, {6, 8}, 1) + x;                               // [6, 8]
    Array r = reshape(x * 3.0f, {8, 6}) + y;                                  // [8, 6]
    return std::tuple{t, s * 2.0f, p * 2.0f, c * 2.0f, i, r};
  };
  jitc::Program p = plan_of("shapes", f, x, y, v);
  CHECK(p.kernels.size() >= 3);
  auto r = render_and_compile(p);
  // Dynamic slices and updates with run-time (clamped) starts.
  auto g = [](const Array& x, const Array& i) {
    Array d = lax::dynamic_slice(x, {i, i + 1}, {3, 4}) * 2.0f;
    Array u = lax::dynamic_update_slice(x, d, {i, Array(2)}) + 1.0f;
    return std::tuple{d, u};
  };
  jitc::Program q = plan_of("dynamic", g, x, Array(1));
  auto rq = render_and_compile(q);
  CHECK(rq.source.find("p" + std::to_string(q.input_slots[1]) + "[0]") != std::string::npos);  // the start, loaded once
}

TEST_CASE("cuda codegen: row reductions choose a thread, a lane group, a block or several blocks per output") {
  struct Case {
    Shape shape;
    const char* strategy;
  };
  for (auto c : {Case{{300, 4}, "a thread per output"}, Case{{300, 20}, "a lane group per output"},
                 Case{{40, 700}, "a lane group per output"}, Case{{6, 5000}, "a block per output"},
                 Case{{3, 1 << 17}, "several blocks per output"}}) {
    CAPTURE(shape_str(c.shape));
    Array x = uniform(c.shape, -1, 1, float32, 8);
    jitc::Program p = plan_of("rows", [](const Array& x) { return sum(exp(x), {1}); }, x);
    const jitc::Kernel* k = find_kernel(p, true);
    REQUIRE(k);
    CHECK(k->row_reduction);
    auto r = render_and_compile(p);
    const auto& spec = r.kernels[kernel_index(p, k)];
    CHECK(r.source.find(c.strategy) != std::string::npos);
    const int64_t m = c.shape[0];
    if (std::string(c.strategy) == "a block per output") {
      CHECK(spec.grid[0] == m);
      CHECK(spec.block[0] >= 256);
      CHECK(r.source.find("__shfl_down_sync") != std::string::npos);
      CHECK(r.source.find("__syncthreads()") != std::string::npos);
    } else if (std::string(c.strategy) == "several blocks per output") {
      CHECK(spec.grid[1] == m);
      CHECK(spec.grid[0] >= 2);
      CHECK(r.source.find("atomicAdd") != std::string::npos);
    } else if (std::string(c.strategy) == "a lane group per output") {
      CHECK(r.source.find("__shfl_down_sync") != std::string::npos);
      CHECK(spec.block[0] == 256);
    } else {
      CHECK(r.source.find("__shfl_down_sync") == std::string::npos);
      CHECK(spec.grid[0] * spec.block[0] >= m);
    }
  }
}

TEST_CASE("cuda codegen: column reductions use 2-D blocks over consecutive outputs") {
  Array x = uniform({4096, 100}, -1, 1, float32, 9);
  jitc::Program p = plan_of("cols", [](const Array& x) { return std::tuple{sum(x * x, {0}), max(x, {0})}; }, x);
  const jitc::Kernel* k = find_kernel(p, true);
  REQUIRE(k);
  CHECK(!k->row_reduction);
  auto r = render_and_compile(p);
  const auto& spec = r.kernels[kernel_index(p, k)];
  CHECK(spec.block[0] == 32);
  CHECK(spec.block[1] >= 8);
  CHECK(spec.grid[0] == (100 + 31) / 32);
  CHECK(r.source.find("2-D blocks") != std::string::npos);
  CHECK(r.source.find("jx_max_f32") != std::string::npos);  // NaN-propagating max
  // A middle axis of a 3-D array (neither trailing nor leading) and few outputs.
  Array z = uniform({3, 500, 7}, -1, 1, float32, 10);
  auto rz = render_and_compile(plan_of("mid", [](const Array& z) { return sum(z, {1}); }, z));
  CHECK(rz.source.find("reduce axes [1]") != std::string::npos);
}

TEST_CASE("cuda codegen: several reductions and domain-shaped side outputs in one kernel") {
  Array x = uniform({128, 3000}, -1, 1, float32, 11);
  auto f = [](const Array& x) {
    Array z = x * 2.0f + 1.0f;
    return std::tuple{z, sum(z, {1}), max(z, {1}), min(z, {1})};
  };
  jitc::Program p = plan_of("multi", f, x);
  const jitc::Kernel* k = find_kernel(p, true);
  REQUIRE(k);
  CHECK(k->outputs.size() >= 3);
  auto r = render_and_compile(p);
  CHECK(r.source.find("acc2") != std::string::npos);
  CHECK(r.kernels[kernel_index(p, k)].grid[0] == 128);
}

TEST_CASE("cuda codegen: integer, bool and float64 kernels") {
  Array i = reshape(arange(0, 60), {6, 10});
  Array x = uniform({6, 10}, -3, 3, float64, 12);
  auto f = [](const Array& i, const Array& x) {
    Array a = floor_divide(i * 7 - 5, mod(i, Array(4)) - 1) + lax::shift_left(i, Array(3)) +
              lax::shift_right_arithmetic(i, Array(40)) + lax::shift_right_logical(-i, i);
    Array b = (x > 0.5) && !(i == 3);
    Array c = x.astype(int32) + i;
    Array d = x.astype(uint32).astype(float64) * x;
    return std::tuple{a, b, sum(a, {1}), any(b, {1}), all(b, {0}), max(c, {0}), sum(d, {1}), prod(x, {1}), c.astype(int64) * 3};
  };
  jitc::Program p = plan_of("ints", f, i, x);
  auto r = render_and_compile(p);
  CHECK(r.source.find("jx_cvt_f64_i32") != std::string::npos);  // saturating float -> int
  CHECK(r.source.find("jx_div_i32") != std::string::npos);      // no trap on / 0
  CHECK(r.source.find("unsigned char") != std::string::npos);   // bool in memory
}

TEST_CASE("cuda codegen: special float literals and reductions of NaN-aware max/min over all axes") {
  Array x = uniform({1000}, -1, 1, float32, 13);
  auto f = [](const Array& x) {
    Array y = where(x > 0, x, Array(std::numeric_limits<float>::infinity()));
    return std::tuple{min(y), max(where(x < 0.5f, x, Array(std::numeric_limits<float>::quiet_NaN())))};
  };
  auto r = render_and_compile(plan_of("special", f, x));
  CHECK(r.source.find("__uint_as_float(0x7f800000u)") != std::string::npos);
}

TEST_CASE("cuda codegen: 64-bit index arithmetic for domains past 2^31 elements") {
  // A hand-made program (no buffers are allocated to render it): y = x * 2 over 3e9 elements.
  const int64_t n = 3'000'000'000;
  jitc::Program p;
  p.name = "huge";
  jitc::Slot in;
  in.kind = jitc::Slot::Kind::input;
  in.aval = AbstractValue{float32, {n}};
  in.index = 0;
  jitc::Slot out = in;
  out.kind = jitc::Slot::Kind::output;
  out.index = 0;
  p.slots = {in, out};
  p.input_slots = {0};
  p.output_slots = {1};
  p.donation_candidates = {{}};
  jitc::Kernel k;
  k.name = "k0";
  k.domain = {n};
  jitc::KNode load;
  load.kind = jitc::KNode::Kind::load;
  load.aval = in.aval;
  load.slot = 0;
  jitc::KNode two;
  two.kind = jitc::KNode::Kind::literal;
  two.literal = Array(2.0f);
  two.aval = two.literal.aval();
  jitc::KNode mul;
  mul.prim = mul_p;
  mul.aval = in.aval;
  mul.operands = {0, 1};
  k.nodes = {load, two, mul};
  k.outputs = {{2, 1}};
  p.kernels = {k};
  p.steps = {{jitc::Step::Kind::kernel, 0}};
  auto r = render_and_compile(p);
  CHECK(r.source.find("typedef long long ix;") != std::string::npos);
  CHECK(r.kernels[0].grid[0] == 65535);
  // An element-wise primitive the renderer does not know is named in the error.
  p.kernels[0].nodes[2].prim = lgamma_p;
  p.kernels[0].nodes[2].operands = {0};
  CHECK_THROWS_WITH_AS(cudagen::render_program(p), doctest::Contains("cannot render primitive lgamma"), Error);
}

TEST_CASE("cuda codegen: inputs an output may take over (donation) are not __restrict__") {
  Array x = uniform({64}, -1, 1, float32, 14);
  jitc::Program p = plan_of("donate", [](const Array& x) { return x * 2.0f + 1.0f; }, x);
  REQUIRE(p.donation_candidates.size() == 1);
  REQUIRE(p.donation_candidates[0] == std::vector<int>{0});
  auto r = render_and_compile(p);
  const std::string in = "p" + std::to_string(p.input_slots[0]);
  CHECK(r.source.find("const float* " + in) != std::string::npos);
  CHECK(r.source.find("__restrict__") == std::string::npos);
  // A reduction reads its input elsewhere than it writes: restrict pointers.
  jitc::Program q = plan_of("norestrict", [](const Array& x) { return sum(x * x); }, x);
  auto rq = render_and_compile(q);
  CHECK(rq.source.find("const float* __restrict__ p") != std::string::npos);
}

TEST_CASE("cuda codegen: NVRTC's errors name the problem and show the offending source lines") {
  REQUIRE(cudagen::nvrtc_available());
  const std::string src =
      "extern \"C\" __global__ void broken(float* p) {\n"
      "  p[threadIdx.x] = undefined_thing(p[0]);\n"
      "}\n";
  CHECK_THROWS_WITH_AS(cudagen::compile_cubin(src, "broken", 90), doctest::Contains("undefined_thing"), BackendError);
  try {
    cudagen::compile_cubin(src, "broken", 90);
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("[jit/nvrtc] broken for sm_90 failed to compile") != std::string::npos);
    CHECK(m.find("error") != std::string::npos);
    CHECK(m.find("2 |   p[threadIdx.x] = undefined_thing(p[0]);") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(cudagen::compile_cubin("extern \"C\" __global__ void ok() {}", "ok", 7),
                       doctest::Contains("cannot compile for sm_7"), BackendError);
}

TEST_CASE("cuda codegen: compiled images are cached in memory") {
  const std::string src = "extern \"C\" __global__ void cached_kernel(float* p) { p[threadIdx.x] *= 3.0f; }\n";
  auto a = cudagen::compile_cubin(src, "cached", 90);
  auto b = cudagen::compile_cubin(src, "cached", 90);
  CHECK(b.cache_hit);
  CHECK(a.image == b.image);
  auto c = cudagen::compile_cubin(src, "cached", 80);  // another architecture: another image
  CHECK(c.image != a.image);
}

TEST_CASE("cuda codegen: the on-disk cache (JX_CACHE_DIR) lets a second process skip NVRTC") {
  if (std::getenv("JX_CUDA_CACHE_CHILD")) return;
  testing::TempDir dir("jx_cuda_cache");
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  REQUIRE(n > 0);
  exe[n] = 0;
  auto run = [&](const char* expect) {
    std::string cmd = "JX_CUDA_CACHE_CHILD=1 JX_EXPECT_CACHE_HIT=" + std::string(expect) + " JX_CACHE_DIR=" +
                      dir.dir.string() + " '" + exe + "' --test-case='cuda codegen: cache child' --no-version > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  CHECK(run("0") == 0);  // first process compiles and writes the CUBIN
  bool found = false;
  for (auto& e : std::filesystem::directory_iterator(dir.dir)) found |= e.path().extension() == ".cubin";
  CHECK(found);
  CHECK(run("1") == 0);  // second process loads it
}

TEST_CASE("cuda codegen: cache child") {
  const char* expect = std::getenv("JX_EXPECT_CACHE_HIT");
  if (!expect || !std::getenv("JX_CUDA_CACHE_CHILD")) return;  // only when started by the test above
  Array x = uniform({100, 40}, -1, 1, float32, 15);
  jitc::Program p = plan_of("cache_child", [](const Array& x) { return sum(tanh(x), {1}); }, x);
  auto r = cudagen::render_program(p);
  auto c = cudagen::compile_cubin(r.source, p.name, 90);
  CHECK(c.cache_hit == (std::string(expect) == "1"));
  CHECK(c.image.size() > 16);
}

TEST_CASE("cuda codegen: JX_CUDA_CODEGEN_CHECK renders and compiles every program the jit makes") {
  if (cudagen::codegen_check_sm()) return;  // already running under the check (the ctest entry)
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  REQUIRE(n > 0);
  exe[n] = 0;
  auto run = [&](const std::string& value, std::string& out) {
    const std::string cmd = "JX_CUDA_CHECK_CHILD=1 JX_CUDA_CODEGEN_CHECK=" + value + " '" + std::string(exe) +
                            "' --test-case='cuda codegen: check child' --no-version 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    REQUIRE(pipe);
    char buf[4096];
    while (size_t k = std::fread(buf, 1, sizeof(buf), pipe)) out.append(buf, k);
    return pclose(pipe);
  };
  std::string out;
  CHECK(run("90", out) == 0);
  CAPTURE(out);
  const std::string head = "JX_CUDA_CODEGEN_CHECK=90: ";
  const size_t at = out.find(head);
  REQUIRE(at != std::string::npos);
  // The program, the scan's body and the cond's two branches.
  const long programs = std::strtol(out.c_str() + at + head.size(), nullptr, 10);
  CHECK(programs >= 4);
  CHECK(out.find("kernels rendered") != std::string::npos);
  // A value that is not an architecture fails the jit instead of checking nothing.
  std::string bad;
  CHECK(run("yes", bad) != 0);
  CHECK(bad.find("JX_CUDA_CODEGEN_CHECK should be a compute capability") != std::string::npos);
}

TEST_CASE("cuda codegen: check child") {
  if (!std::getenv("JX_CUDA_CHECK_CHILD")) return;  // only when started by the test above
  Array x = uniform({16, 40}, -1, 1, float32, 16);
  auto f = [](const Array& x) {
    Array s = lax::scan([](const Array& c, const Array& row) { return std::pair{c + tanh(row), sum(row * c)}; },
                        zeros({40}), x)
                  .first;
    Array m = lax::cond(sum(s) > 0, [](const Array& v) { return v * 2.0f; }, [](const Array& v) { return exp(v); }, s);
    return sum(m, {0});
  };
  CHECK(testing::mismatch(jit(f)(x), f(x)) == "");
}

#endif  // JX_WITH_CUDA
