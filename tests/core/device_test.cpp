// Devices: the device list, JX_PLATFORM, device_put, GPU buffers, and the CUDA runtime
// (backends/cuda/runtime.h). Without a GPU the cases check that everything reports a clear error
// instead of crashing; the GPU cases (round trips, the allocator, kernels, cuBLAS, asynchronous
// errors) run wherever CUDA is available and are skipped elsewhere.

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "core/device.h"
#include "testing/testing.h"
#include "trace/make_jaxpr.h"

#ifdef JX_WITH_CUDA
#include "backends/cuda/runtime.h"
#endif

using namespace jx;

namespace {

const Device cpu0{DeviceKind::cpu, 0};
const Device cuda0{DeviceKind::cuda, 0};

using jx::testing::self_exe;

// Runs this test binary's case "device: child process" with `env` set and JX_DEVICE_CHILD=mode;
// returns what the child wrote to its result file ("" when it did not get there).
std::string run_child(const std::string& mode, const std::string& env) {
  testing::TempDir dir("jx_device_child");
  const auto out = dir / "result";
  std::string cmd = "env -u JX_PLATFORM " + env + " JX_DEVICE_CHILD=" + mode +
                    " JX_DEVICE_CHILD_OUT='" + out.string() + "' '" + self_exe() +
                    "' --test-case='device: child process' --no-version > /dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  std::string result((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return rc == 0 ? result : "exit status " + std::to_string(rc) + ": " + result;
}

// doctest::Contains of a std::string.
doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

#ifdef JX_WITH_CUDA
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}
#endif

}  // namespace

TEST_CASE("device: devices() lists cpu:0 first, then one entry per CUDA device") {
  auto ds = devices();
  REQUIRE(!ds.empty());
  CHECK(ds[0] == cpu0);
  CHECK(ds[0].str() == "cpu:0");
  CHECK(cuda0.str() == "cuda:0");
#ifdef JX_WITH_CUDA
  CHECK(ds.size() == 1 + static_cast<size_t>(cuda::device_count()));
  for (size_t i = 1; i < ds.size(); ++i) CHECK(ds[i] == Device{DeviceKind::cuda, static_cast<int>(i - 1)});
#else
  CHECK(ds.size() == 1);
#endif
  CHECK(cuda_available() == (ds.size() > 1));
  CHECK(cuda_unavailable_reason().empty() == cuda_available());
}

TEST_CASE("device: without a usable driver, only the cpu is listed and the reason is given" *
          doctest::skip(cuda_available())) {
  CHECK(devices() == std::vector<Device>{cpu0});
  const std::string why = cuda_unavailable_reason();
  CHECK(!why.empty());
#ifdef JX_WITH_CUDA
  CHECK(!cuda::available());
  CHECK(cuda::unavailable_reason() == why);
  CHECK(cuda::device_count() == 0);
  // Where no libcuda can be loaded at all (this repository's CI), the reason says so.
  if (void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(lib);
  } else {
    CHECK_MESSAGE(why.find("libcuda.so.1 not found") != std::string::npos, why);
    CHECK(cuda::driver_version() == 0);
  }
#else
  CHECK(why.find("without CUDA") != std::string::npos);
#endif
}

TEST_CASE("device: the default device is the cpu unless JX_PLATFORM asks for a GPU") {
  if (!std::getenv("JX_PLATFORM")) CHECK(default_device() == cpu0);
  CHECK(detail::platform_device(nullptr) == cpu0);
  CHECK(detail::platform_device("") == cpu0);
  CHECK(detail::platform_device("cpu") == cpu0);
  CHECK_THROWS_WITH_AS(detail::platform_device("tpu"), has("JX_PLATFORM=tpu is not a platform"),
                       ValueError);
  CHECK_THROWS_WITH_AS(detail::platform_device("CUDA"), has("valid values: cpu, cuda (or gpu)"),
                       ValueError);
  for (const char* v : {"cuda", "gpu"}) {
    if (cuda_available()) {
      CHECK(detail::platform_device(v) == cuda0);
    } else {
      CHECK_THROWS_WITH_AS(detail::platform_device(v),
                           has(std::string("[devices] JX_PLATFORM=") + v +
                                             " but no CUDA device is available: " + cuda_unavailable_reason()),
                           BackendError);
    }
  }
}

TEST_CASE("device: JX_PLATFORM is read from the environment of a new process") {
  if (std::getenv("JX_DEVICE_CHILD")) return;  // the child's own run of this case
  CHECK(run_child("platform", "JX_PLATFORM=cpu") == "cpu:0");
  CHECK(run_child("platform", "") == "cpu:0");
  CHECK(run_child("platform", "JX_PLATFORM=metal").find("ValueError: [devices] JX_PLATFORM=metal is not a platform") ==
        0);
  const std::string expect_cuda =
      cuda_available() ? std::string("cuda:0") : "BackendError: [devices] JX_PLATFORM=cuda but no CUDA device is available";
  CHECK(run_child("platform", "JX_PLATFORM=cuda").find(expect_cuda) == 0);
  CHECK(run_child("platform", "JX_PLATFORM=gpu").find(cuda_available() ? "cuda:0" : "BackendError") == 0);
}

#ifdef JX_WITH_CUDA
TEST_CASE("device: a driver that cannot initialize (the toolkit's stub libcuda) leaves CUDA unavailable") {
  if (std::getenv("JX_DEVICE_CHILD")) return;
  // JX_CUDA_DRIVER names the library to load; a missing one is reported by name.
  CHECK(run_child("driver", "JX_CUDA_DRIVER=/nonexistent/libcuda.so")
            .find("unavailable: /nonexistent/libcuda.so not found (no NVIDIA driver is installed): ") == 0);
  // The stub exports every entry point (so all of ours resolve) but cuInit fails.
  std::string stub;
  for (std::string dir : {"/usr/local/cuda/lib64/stubs", "/usr/local/cuda/lib/stubs",
                          "/usr/local/cuda/targets/x86_64-linux/lib/stubs"}) {
    if (std::filesystem::exists(dir + "/libcuda.so")) stub = dir + "/libcuda.so";
  }
  if (stub.empty()) {
    MESSAGE("no stub libcuda.so in the toolkit: skipped");
    return;
  }
  std::string got = run_child("driver", "JX_CUDA_DRIVER=" + stub);
  CHECK_MESSAGE(got.find("unavailable: cuInit failed: CUDA_ERROR_STUB_LIBRARY") == 0, got);
}
#endif

#ifdef JX_WITH_CUDA
std::string fault_message();
#endif

// Started by the cases above and below with JX_DEVICE_CHILD set; writes what it saw to
// JX_DEVICE_CHILD_OUT.
TEST_CASE("device: child process") {
  const char* mode = std::getenv("JX_DEVICE_CHILD");
  const char* out_path = std::getenv("JX_DEVICE_CHILD_OUT");
  if (!mode || !out_path) return;
  std::ofstream out(out_path);
  if (std::string(mode) == "platform") {
    auto read = [] {
      try {
        return default_device().str();
      } catch (const ValueError& e) {
        return "ValueError: " + e.message();
      } catch (const BackendError& e) {
        return "BackendError: " + e.message();
      }
    };
    std::string first = read();
    setenv("JX_PLATFORM", "cpu", 1);  // read once: later changes are not seen
    CHECK(read() == first);
    out << first;
  } else if (std::string(mode) == "driver") {
    out << (cuda_available() ? std::string("available") : "unavailable: " + cuda_unavailable_reason());
  } else if (std::string(mode) == "fault") {
#ifdef JX_WITH_CUDA
    out << fault_message();
#endif
  }
}

TEST_CASE("device_put: to the device an array is on returns the same array") {
  Array x = array({1.f, 2.f, 3.f});
  Array y = device_put(x, cpu0);
  CHECK(y.impl_ptr() == x.impl_ptr());
  CHECK(y.device() == cpu0);
  // Trees: every leaf.
  std::vector<Array> xs{x, array({1, 2})};
  auto ys = device_put(xs, cpu0);
  REQUIRE(ys.size() == 2);
  CHECK(ys[0].impl_ptr() == xs[0].impl_ptr());
  CHECK(ys[1].impl_ptr() == xs[1].impl_ptr());
  std::map<std::string, Array> m{{"w", x}};
  CHECK(device_put(m, cpu0).at("w").impl_ptr() == x.impl_ptr());
  CHECK_THROWS_WITH_AS(device_put(Array(), cpu0), has("[device_put] the array is undefined"),
                       ValueError);
}

TEST_CASE("device_put: a tracer passes through unchanged, to any device") {
  Array x = array({1.f, 2.f});
  bool same = false;
  auto jaxpr = make_jaxpr([&](const Array& t) {
    Array u = device_put(t, cuda0);
    same = u.impl_ptr() == t.impl_ptr();
    return u * 2.0;
  })(x);
  CHECK(same);
  CHECK(jaxpr.jaxpr->eqns.size() == 1);
}

TEST_CASE("device_put: an unusable device is reported with the array and the reason" *
          doctest::skip(cuda_available())) {
  Array x = array({1.f, 2.f, 3.f});
  CHECK_THROWS_WITH_AS(device_put(x, cuda0),
                       has("[device_put] cannot put f32[3] on cuda:0: " + cuda_unavailable_reason()),
                       BackendError);
  // With the user's line.
  CHECK_THROWS_WITH_AS(device_put(x, cuda0), has("device_test.cpp"), BackendError);
  std::vector<Array> xs{x};
  CHECK_THROWS_WITH_AS(device_put(xs, cuda0), has("cannot put f32[3] on cuda:0"), BackendError);
}

TEST_CASE("device_put: there is one host device") {
  CHECK_THROWS_WITH_AS(device_put(array({1, 2}), Device{DeviceKind::cpu, 1}),
                       has("[device_put] cannot put i32[2] on cpu:1: there is no device cpu:1"),
                       BackendError);
}

TEST_CASE("device: a GPU buffer without CUDA is a clear error, not a crash" * doctest::skip(cuda_available())) {
  const std::string why = cuda_unavailable_reason();
  CHECK_THROWS_WITH_AS(Buffer(16, cuda0), has("[Buffer] cannot allocate 16 bytes on cuda:0: " + why),
                       BackendError);
  CHECK_THROWS_WITH_AS(detail::empty_array(AbstractValue{float32, {4}}, cuda0),
                       has("cannot allocate 16 bytes on cuda:0"), BackendError);
}

TEST_CASE("device: block_until_ready returns its argument (cpu arrays are ready)") {
  Array x = array({1.f, 2.f});
  CHECK(&x.block_until_ready() == &x);
  std::vector<Array> xs{x, Array()};
  CHECK(&block_until_ready(xs) == &xs);
}

#ifdef JX_WITH_CUDA

TEST_CASE("cuda runtime: every entry point reports an unavailable device clearly" *
          doctest::skip(cuda::available())) {
  const std::string expect = "[cuda] no CUDA device is available: " + cuda::unavailable_reason();
  CHECK_THROWS_WITH_AS(cuda::device_alloc(16, 0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::release_cached_memory(0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::memory_stats(0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::props(0), has(expect), BackendError);
  char host[16] = {};
  CHECK_THROWS_WITH_AS(cuda::copy_h2d(host, host, 16, 0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::copy_d2h(host, host, 16, 0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::copy_d2d(host, host, 16, 0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::memset_zero(host, 16, 0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::synchronize(0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::load_module(std::vector<char>{'x'}, 0), has(expect), BackendError);
  CHECK_THROWS_WITH_AS(cuda::launch(nullptr, {1, 1, 1}, {1, 1, 1}, 0, nullptr, 0), has(expect),
                       BackendError);
  cuda::GemmArgs g;
  g.m = g.n = g.k = 1;
  CHECK_THROWS_WITH_AS(cuda::gemm(g, 0), has(expect), BackendError);
  // Freeing is a destructor's job: it never throws, whatever it is given.
  CHECK_NOTHROW(cuda::device_free(host, 16, 0));
}

TEST_CASE("cuda runtime: cuBLAS loads with every function gemm uses, or says which library is missing") {
  const std::string why = cuda::cublas_unavailable_reason();
  CHECK(cuda::cublas_available() == why.empty());
  // A cuBLAS that loads but lacks an entry point fails here ("... has no cublasXxx").
  CHECK_MESSAGE((cuda::cublas_available() || why.find("libcublas not found") == 0), why);
}

// ---- on a GPU ------------------------------------------------------------------------------

namespace {

// fill(p, n, v): p[i] = v for i < n (32-bit words); PTX, JIT-compiled by the driver for any GPU.
const char* kFillPtx = R"(.version 7.0
.target sm_52
.address_size 64

.visible .entry jx_fill(
    .param .u64 jx_fill_p,
    .param .u32 jx_fill_n,
    .param .u32 jx_fill_v)
{
    .reg .pred %p<2>;
    .reg .b32 %r<8>;
    .reg .b64 %rd<5>;
    ld.param.u64 %rd1, [jx_fill_p];
    ld.param.u32 %r1, [jx_fill_n];
    ld.param.u32 %r2, [jx_fill_v];
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %tid.x;
    mad.lo.s32 %r6, %r3, %r4, %r5;
    setp.ge.u32 %p1, %r6, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd2, %rd1;
    mul.wide.u32 %rd3, %r6, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.u32 [%rd4], %r2;
DONE:
    ret;
}
)";

std::shared_ptr<cuda::Module> fill_module() {
  std::string ptx = kFillPtx;
  return cuda::load_module(std::vector<char>(ptx.c_str(), ptx.c_str() + ptx.size() + 1), 0);
}

void launch_fill(void* function, void* p, uint32_t n, uint32_t v) {
  void* args[] = {&p, &n, &v};
  cuda::launch(function, {(n + 255) / 256, 1, 1}, {256, 1, 1}, 0, args, 0);
}

}  // namespace

// In the "fault" child: a kernel storing to address 0, then a wait for the stream.
std::string fault_message() {
  auto module = fill_module();
  launch_fill(module->function("jx_fill"), nullptr, 1, 1);
  return message_of([] { cuda::synchronize(0); });
}

namespace {

Array host_values(DType dtype, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<double>((i * 7919) % 1000) - 500.5;
  Array x = array(v);
  if (dtype == bool_) return x > 0.0;
  return x.astype(dtype);
}

}  // namespace

TEST_CASE("cuda runtime: device properties" * doctest::skip(!cuda_available())) {
  const auto& p = cuda::props(0);
  CHECK(!p.name.empty());
  CHECK(p.sm() >= 50);
  CHECK(p.sm_count > 0);
  CHECK(p.max_threads_per_block >= 512);
  CHECK(p.max_shared_per_block >= 48 * 1024);
  CHECK(p.max_shared_per_block_optin >= p.max_shared_per_block);
  CHECK(p.total_memory > 0);
  CHECK(cuda::driver_version() >= 12000);
  CHECK_THROWS_WITH_AS(cuda::props(cuda::device_count()), has("there is no device cuda:"), ValueError);
  CHECK_THROWS_WITH_AS(device_put(array({1.f}), Device{DeviceKind::cuda, cuda::device_count()}),
                       has("there is no device cuda:"), BackendError);
}

TEST_CASE("device_put: host -> GPU -> host round trips keep values, dtype, shape and weak type" *
          doctest::skip(!cuda_available())) {
  // Sizes: empty, a scalar, odd, above 1 MiB, and above the 64 MiB pinned staging ring.
  for (DType dtype : {float32, float64, int32, bool_}) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{300000}, int64_t{9000000}}) {
      CAPTURE(std::string(dtype_name(dtype)));
      CAPTURE(n);
      Array x = host_values(dtype, n);
      Array d = device_put(x, cuda0);
      CHECK(d.device() == cuda0);
      CHECK(d.aval() == x.aval());
      CHECK(d.impl_ptr() != x.impl_ptr());
      Array back = device_put(d, cpu0);
      CHECK(back.device() == cpu0);
      CHECK(back.aval() == x.aval());
      CHECK(std::memcmp(back.raw_data(), x.raw_data(), static_cast<size_t>(n) * itemsize(dtype)) == 0);
      // Host reads of a GPU array copy it first.
      CHECK(d.to_vector<double>() == x.to_vector<double>());
      if (n <= 1000) CHECK(to_string(d) == to_string(x));
      if (n == 1) CHECK(d.item<double>() == x.item<double>());
      CHECK(&d.block_until_ready() == &d);
    }
  }
  Array s = 0.1;  // a weak scalar with its exact value
  Array ds = device_put(s, cuda0);
  CHECK(ds.weak_type());
  CHECK(ds.impl().has_exact_scalar());
  CHECK(device_put(ds, cpu0).item<float>() == 0.1f);
  // Trees.
  auto tree = device_put(std::make_pair(array({1, 2}), array({true})), cuda0);
  CHECK(tree.first.device() == cuda0);
  CHECK(tree.second.device() == cuda0);
  CHECK(tree.first.to_vector<int>() == std::vector<int>{1, 2});
  CHECK(bool(tree.second));
  CHECK(&block_until_ready(tree) == &tree);
}

TEST_CASE("cuda runtime: copy_h2d stages its source (reusable at once) through many copies in flight" *
          doctest::skip(!cuda_available())) {
  // 400 copies of 256 KiB (100 MiB, more than the staging ring): each source is overwritten
  // right after its copy is issued, and nothing synchronizes until the reads.
  const size_t words = 64 * 1024;
  std::vector<uint32_t> source(words);
  std::vector<void*> blocks;
  for (uint32_t b = 0; b < 400; ++b) {
    for (size_t i = 0; i < words; ++i) source[i] = b * 1000003u + static_cast<uint32_t>(i);
    void* p = cuda::device_alloc(words * 4, 0);
    cuda::copy_h2d(p, source.data(), words * 4, 0);
    std::fill(source.begin(), source.end(), 0xdeadbeef);
    blocks.push_back(p);
  }
  std::vector<uint32_t> got(words);
  for (uint32_t b = 0; b < blocks.size(); ++b) {
    cuda::copy_d2h(got.data(), blocks[b], words * 4, 0);
    bool ok = true;
    for (size_t i = 0; i < words && ok; ++i) ok = got[i] == b * 1000003u + static_cast<uint32_t>(i);
    CHECK_MESSAGE(ok, "block ", b);
    cuda::device_free(blocks[b], words * 4, 0);
  }
  // d2d and memset, ordered on the same stream.
  void* a = cuda::device_alloc(1024, 0);
  void* b = cuda::device_alloc(1024, 0);
  std::vector<uint8_t> bytes(1024);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31);
  cuda::copy_h2d(a, bytes.data(), 1024, 0);
  cuda::copy_d2d(b, a, 1024, 0);
  cuda::memset_zero(a, 512, 0);
  std::vector<uint8_t> ga(1024), gb(1024);
  cuda::copy_d2h(ga.data(), a, 1024, 0);
  cuda::copy_d2h(gb.data(), b, 1024, 0);
  CHECK(gb == bytes);
  CHECK(std::all_of(ga.begin(), ga.begin() + 512, [](uint8_t v) { return v == 0; }));
  CHECK(std::equal(ga.begin() + 512, ga.end(), bytes.begin() + 512));
  cuda::device_free(a, 1024, 0);
  cuda::device_free(b, 1024, 0);
}

TEST_CASE("cuda allocator: a freed block is reused by the next allocation of its size class" *
          doctest::skip(!cuda_available())) {
  cuda::release_cached_memory(0);
  auto before = cuda::memory_stats(0);
  CHECK(before.cached == 0);
  void* p = cuda::device_alloc(1000, 0);
  CHECK(reinterpret_cast<uintptr_t>(p) % 256 == 0);
  auto s1 = cuda::memory_stats(0);
  CHECK(s1.in_use == before.in_use + 1024);  // 1000 bytes -> the 1 KiB class
  CHECK(s1.num_device_allocs == before.num_device_allocs + 1);
  cuda::device_free(p, 1000, 0);
  CHECK(cuda::memory_stats(0).cached == 1024);
  void* q = cuda::device_alloc(1010, 0);  // same class
  CHECK(q == p);
  CHECK(cuda::memory_stats(0).num_device_allocs == s1.num_device_allocs);
  void* r = cuda::device_alloc(5000, 0);  // another class: a new block
  CHECK(r != p);
  cuda::device_free(q, 1010, 0);
  cuda::device_free(r, 5000, 0);
  // Arrays: a dropped GPU array's block serves the next one of its size.
  void* first = nullptr;
  {
    Array d = device_put(array(std::vector<float>(300, 1.f)), cuda0);
    first = d.raw_data();
  }
  Array e = device_put(array(std::vector<float>(300, 2.f)), cuda0);
  CHECK(e.raw_data() == first);
  CHECK(e.to_vector<float>() == std::vector<float>(300, 2.f));
  cuda::release_cached_memory(0);
  CHECK(cuda::memory_stats(0).cached == 0);
  // More than the device has: a clear error after releasing the cache and retrying.
  const size_t huge = cuda::props(0).total_memory * 2;
  CHECK_THROWS_WITH_AS(cuda::device_alloc(huge, 0),
                       has("[cuda] out of device memory allocating " + std::to_string(huge) +
                                         " bytes on cuda:0"),
                       BackendError);
}

TEST_CASE("cuda runtime: modules, kernel launches and their errors" * doctest::skip(!cuda_available())) {
  auto module = fill_module();
  void* fill = module->function("jx_fill");
  CHECK_THROWS_WITH_AS(module->function("missing"), has("has no kernel 'missing'"), BackendError);
  const uint32_t n = 1000;
  void* p = cuda::device_alloc(n * 4, 0);
  launch_fill(fill, p, n, 42);
  std::vector<uint32_t> got(n);
  cuda::copy_d2h(got.data(), p, n * 4, 0);
  CHECK(got == std::vector<uint32_t>(n, 42));
  // Launches and copies on one stream: a freed block reused at once sees the writes in order.
  cuda::device_free(p, n * 4, 0);
  void* q = cuda::device_alloc(n * 4, 0);
  CHECK(q == p);
  launch_fill(fill, q, n / 2, 7);
  cuda::copy_d2h(got.data(), q, n * 4, 0);
  CHECK(got[0] == 7);
  CHECK(got[n / 2 - 1] == 7);
  CHECK(got[n / 2] == 42);
  cuda::device_free(q, n * 4, 0);
  // Bad launches and images.
  uint32_t zero = 0;
  void* args[] = {&p, &zero, &zero};
  CHECK_THROWS_WITH_AS(cuda::launch(fill, {1, 1, 1}, {4096, 1, 1}, 0, args, 0),
                       has("[cuda] cuLaunchKernel failed: CUDA_ERROR_"), BackendError);
  CHECK_THROWS_WITH_AS(cuda::launch(fill, {1, 1, 1}, {4096, 1, 1}, 0, args, 0), has("(grid 1x1x1, block 4096x1x1"),
                       BackendError);
  CHECK_THROWS_WITH_AS(cuda::load_module(std::vector<char>{'n', 'o', 't', 0}, 0),
                       has("[cuda] cuModuleLoadData failed: CUDA_ERROR_"), BackendError);
  cuda::synchronize(0);  // the failed launch left no asynchronous error
}

TEST_CASE("cuda runtime: an asynchronous fault surfaces at synchronize (in a child process)" *
          doctest::skip(!cuda_available())) {
  if (std::getenv("JX_DEVICE_CHILD")) return;
  // The fault poisons the context for the rest of the process, hence the child.
  std::string got = run_child("fault", "");
  CHECK_MESSAGE(got.find("[cuda] cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS") == 0, got);
}


TEST_CASE("cuda runtime: any thread can use the device (each call makes the context current)" *
          doctest::skip(!cuda_available())) {
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&results, t] {
      try {
        std::vector<int32_t> v(100000, t);
        Array d = device_put(array(v), cuda0);
        results[static_cast<size_t>(t)] = d.to_vector<int32_t>() == v ? "ok" : "wrong values";
      } catch (const std::exception& e) {
        results[static_cast<size_t>(t)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) CHECK(r == "ok");
}

#ifdef JX_MOCK_LIBCUDA
TEST_CASE("cuda runtime: the GPU cases that need no kernels pass against a host-memory libcuda (no GPU needed)") {
  if (std::getenv("JX_DEVICE_CHILD") || std::getenv("JX_CUDA_DRIVER")) return;
  // tests/testing/mock_libcuda.cpp runs stream work lazily, so early reuse of memory shows.
  const char* cases[] = {"device: devices() lists*", "device: JX_PLATFORM is read*", "cuda runtime: device properties",
                         "device_put: host -> GPU*", "cuda runtime: copy_h2d stages*", "cuda allocator: *",
                         "cuda runtime: any thread*"};
  std::string filter;
  for (const char* c : cases) filter += (filter.empty() ? "" : ",") + std::string(c);
  auto r = testing::run_cases_in_child("JX_CUDA_DRIVER='" JX_MOCK_LIBCUDA "'", filter);
  CHECK_MESSAGE(r.status == 0, r.output);
  CHECK_MESSAGE(r.run == static_cast<int>(std::size(cases)), r.output);  // each one ran
  CHECK_MESSAGE(r.failed == 0, r.output);
}
#endif

namespace {

// C[b] = op(A[b]) op(B[b]) in column-major order, in double, as cuBLAS defines it.
std::vector<double> reference_gemm(const cuda::GemmArgs& g, const std::vector<double>& a,
                                   const std::vector<double>& b) {
  std::vector<double> c(static_cast<size_t>(g.stride_c * (g.batch - 1) + g.ldc * g.n), 0.0);
  for (int64_t t = 0; t < g.batch; ++t) {
    for (int64_t j = 0; j < g.n; ++j) {
      for (int64_t i = 0; i < g.m; ++i) {
        double acc = 0;
        for (int64_t l = 0; l < g.k; ++l) {
          double x = g.trans_a ? a[t * g.stride_a + l + i * g.lda] : a[t * g.stride_a + i + l * g.lda];
          double y = g.trans_b ? b[t * g.stride_b + j + l * g.ldb] : b[t * g.stride_b + l + j * g.ldb];
          acc += x * y;
        }
        c[static_cast<size_t>(t * g.stride_c + i + j * g.ldc)] = acc;
      }
    }
  }
  return c;
}

}  // namespace

TEST_CASE("cuda runtime: gemm matches a host reference (transposes, padding, batches, broadcast)" *
          doctest::skip(!cuda_available())) {
  struct Case {
    int64_t m, n, k, batch;
    bool broadcast_b;  // stride_b = 0
    int64_t pad;       // extra leading dimension
  };
  for (DType dtype : {float32, float64}) {
    for (Case cs : {Case{5, 3, 4, 1, false, 0}, Case{17, 9, 33, 3, false, 2}, Case{8, 8, 8, 4, true, 1},
                    Case{64, 48, 130, 2, false, 0}, Case{3, 2, 0, 2, false, 0}}) {
      for (int trans = 0; trans < 4; ++trans) {
        cuda::GemmArgs g;
        g.dtype = dtype;
        g.trans_a = (trans & 1) != 0, g.trans_b = (trans & 2) != 0;
        g.m = cs.m, g.n = cs.n, g.k = cs.k, g.batch = cs.batch;
        const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
        const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
        g.lda = std::max<int64_t>(1, a_rows + cs.pad), g.ldb = std::max<int64_t>(1, b_rows + cs.pad);
        g.ldc = g.m + cs.pad;
        g.stride_a = g.lda * a_cols, g.stride_b = cs.broadcast_b ? 0 : g.ldb * b_cols, g.stride_c = g.ldc * g.n;
        CAPTURE(std::string(dtype_name(dtype)));
        CAPTURE(g.m);
        CAPTURE(g.n);
        CAPTURE(g.k);
        CAPTURE(g.batch);
        CAPTURE(trans);
        const int64_t a_size = std::max<int64_t>(1, g.stride_a * g.batch);
        const int64_t b_size = std::max<int64_t>(1, cs.broadcast_b ? g.ldb * b_cols : g.stride_b * g.batch);
        Array a = testing::uniform({a_size}, -1, 1, dtype, 1 + trans);
        Array b = testing::uniform({b_size}, -1, 1, dtype, 11 + trans);
        const int64_t c_size = g.stride_c * g.batch;
        // C starts as NaN: every element of the result must be written.
        Array c = device_put(full({c_size}, std::nan(""), dtype), cuda0);
        Array da = device_put(a, cuda0), db = device_put(b, cuda0);
        g.a = da.raw_data(), g.b = db.raw_data(), g.c = c.raw_data();
        cuda::gemm(g, 0);
        std::vector<double> expect = reference_gemm(g, a.to_vector<double>(), b.to_vector<double>());
        std::vector<double> got = c.to_vector<double>();
        const double tol = (dtype == float32 ? 1e-5 : 1e-13) * static_cast<double>(std::max<int64_t>(g.k, 1));
        for (int64_t t = 0; t < g.batch; ++t) {
          for (int64_t j = 0; j < g.n; ++j) {
            for (int64_t i = 0; i < g.m; ++i) {
              const size_t at = static_cast<size_t>(t * g.stride_c + i + j * g.ldc);
              if (!(std::abs(got[at] - expect[at]) <= tol * (1 + std::abs(expect[at])))) {
                FAIL_CHECK("C[", t, "](", i, ",", j, ") = ", got[at], ", expected ", expect[at]);
                t = g.batch, j = g.n;
                break;
              }
            }
          }
        }
      }
    }
  }
  cuda::GemmArgs g;
  g.dtype = int32, g.m = g.n = g.k = 1;
  CHECK_THROWS_WITH_AS(cuda::gemm(g, 0), has("[cuda] gemm supports float32 and float64, got int32"),
                       DTypeError);
}

#endif  // JX_WITH_CUDA
