// The CUDA renderer and NVRTC without a GPU: programs of jit'd functions are rendered to CUDA C++
// and compiled to CUBINs for sm_90 and sm_80; launch shapes per kernel kind; compile errors carry
// NVRTC's log; the in-memory and JX_CACHE_DIR caches; the JX_CUDA_CODEGEN_CHECK hook of the jit.
#ifdef JX_WITH_CUDA

#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <bit>
#include <limits>
#include <random>
#include <string>
#include <thread>

#include <dlfcn.h>

#include "backends/cuda/nvrtc.h"
#include "backends/cuda/render.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"
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
    REQUIRE(c.image.size() > 16);
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

// ---- host emulation --------------------------------------------------------------------------------
// Without a GPU, the rendered kernels run on the host: the CUDA C++ is compiled by the host C++
// compiler with a small shim (below) in which every CUDA thread of a block is a fiber; warp
// shuffles and __syncthreads are barriers between fibers, checked for the conditions under
// which real hardware would hang or read garbage (a shuffle or __syncthreads some threads of the
// warp or block never reach). Blocks run one at a time, so __shared__ is `static`. Values are
// compared with the CPU jit: this checks the index maps, the reduction strategies (lanes, warps,
// shared memory, the multi-block combine) and the elementwise semantics, with the host's libm.

namespace {

const char* kShim = R"SHIM(
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#include <ucontext.h>

struct dim3 { unsigned x = 1, y = 1, z = 1; };
struct JxFiber {
  ucontext_t ctx;
  std::vector<char> stack;
  dim3 tid;
  unsigned linear = 0;
  int state = 0;  // 0 runnable, 1 at a warp barrier, 2 at __syncthreads, 3 done
};
struct JxEmu {
  ucontext_t sched;
  std::vector<JxFiber> fibers;
  JxFiber* cur = nullptr;
  dim3 block_idx, block_dim, grid_dim;
  void* fn = nullptr;
  int nargs = 0;
  void** args = nullptr;
  unsigned long long xchg[1024];
  std::string error;
};
static JxEmu jx_emu;
#define threadIdx (jx_emu.cur->tid)
#define blockIdx (jx_emu.block_idx)
#define blockDim (jx_emu.block_dim)
#define gridDim (jx_emu.grid_dim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static

static void jx_wait(int kind) {
  jx_emu.cur->state = kind;
  swapcontext(&jx_emu.cur->ctx, &jx_emu.sched);
}
static void __syncthreads() { jx_wait(2); }
static void __threadfence() {}
template <class T> T __ldcg(const T* p) { return *p; }
static int __clzll(long long v) { return v == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(v)); }
static unsigned atomicAdd(unsigned* p, unsigned v) { unsigned old = *p; *p = old + v; return old; }
template <class T> T __shfl_down_sync(unsigned mask, T v, int off) {
  if (mask != 0xffffffffu) jx_emu.error = "shuffle with a partial mask";
  const unsigned me = jx_emu.cur->linear, lane = me & 31u;
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  jx_emu.xchg[me] = bits;
  jx_wait(1);
  T r = v;
  if (lane + static_cast<unsigned>(off) < 32u) std::memcpy(&r, &jx_emu.xchg[me + static_cast<unsigned>(off)], sizeof(T));
  jx_wait(1);
  return r;
}
template <class T, class F> static T jx_bits(F f) { T t; std::memcpy(&t, &f, sizeof(T)); return t; }
static float __int_as_float(int v) { return jx_bits<float>(v); }
static float __uint_as_float(unsigned v) { return jx_bits<float>(v); }
static int __float_as_int(float v) { return jx_bits<int>(v); }
static unsigned __float_as_uint(float v) { return jx_bits<unsigned>(v); }
static double __longlong_as_double(long long v) { return jx_bits<double>(v); }
static long long __double_as_longlong(double v) { return jx_bits<long long>(v); }

static void jx_fiber_entry() {
  void* f = jx_emu.fn;
  void** a = jx_emu.args;
  typedef void* P;
  switch (jx_emu.nargs) {
    case 1: ((void (*)(P))f)(a[0]); break;
    case 2: ((void (*)(P, P))f)(a[0], a[1]); break;
    case 3: ((void (*)(P, P, P))f)(a[0], a[1], a[2]); break;
    case 4: ((void (*)(P, P, P, P))f)(a[0], a[1], a[2], a[3]); break;
    case 5: ((void (*)(P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4]); break;
    case 6: ((void (*)(P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5]); break;
    case 7: ((void (*)(P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
    case 8: ((void (*)(P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); break;
    case 9: ((void (*)(P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]); break;
    case 10: ((void (*)(P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]); break;
    case 11: ((void (*)(P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]); break;
    case 12: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]); break;
    case 13: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]); break;
    case 14: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13]); break;
    case 15: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]); break;
    case 16: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]); break;
    case 17: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16]); break;
    case 18: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17]); break;
    case 19: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18]); break;
    case 20: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19]); break;
    case 21: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20]); break;
    case 22: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21]); break;
    case 23: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22]); break;
    case 24: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23]); break;
    case 25: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24]); break;
    case 26: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25]); break;
    case 27: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26]); break;
    case 28: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27]); break;
    case 29: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27], a[28]); break;
    case 30: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27], a[28], a[29]); break;
    case 31: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27], a[28], a[29], a[30]); break;
    case 32: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P))f)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27], a[28], a[29], a[30], a[31]); break;
    default: jx_emu.error = "too many kernel parameters for the emulator";
  }
  jx_emu.cur->state = 3;
  swapcontext(&jx_emu.cur->ctx, &jx_emu.sched);
}

extern "C" const char* jx_emu_launch(void* fn, int nargs, void** args, const unsigned* grid, const unsigned* block) {
  JxEmu& e = jx_emu;
  e.error.clear();
  e.fn = fn, e.nargs = nargs, e.args = args;
  e.grid_dim = dim3{grid[0], grid[1], grid[2]};
  e.block_dim = dim3{block[0], block[1], block[2]};
  const unsigned n = block[0] * block[1] * block[2];
  if (n > 1024 || n % 32) return "bad block size";
  e.fibers.resize(n);
  for (unsigned bz = 0; bz < grid[2]; ++bz)
    for (unsigned by = 0; by < grid[1]; ++by)
      for (unsigned bx = 0; bx < grid[0]; ++bx) {
        e.block_idx = dim3{bx, by, bz};
        for (unsigned l = 0; l < n; ++l) {
          JxFiber& f = e.fibers[l];
          f.stack.resize(64 * 1024);
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data();
          f.ctx.uc_stack.ss_size = f.stack.size();
          f.ctx.uc_link = nullptr;
          makecontext(&f.ctx, jx_fiber_entry, 0);
          f.linear = l;
          f.tid = dim3{l % block[0], (l / block[0]) % block[1], l / (block[0] * block[1])};
          f.state = 0;
        }
        for (;;) {
          for (auto& f : e.fibers) {
            if (f.state != 0) continue;
            e.cur = &f;
            swapcontext(&e.sched, &f.ctx);
            if (!e.error.empty()) return e.error.c_str();
          }
          unsigned done = 0, at_block = 0;
          for (auto& f : e.fibers) done += f.state == 3, at_block += f.state == 2;
          if (done == n) break;
          bool released = false;
          for (unsigned w = 0; w < n; w += 32) {
            unsigned at_warp = 0, exited = 0;
            for (unsigned l = w; l < w + 32; ++l) at_warp += e.fibers[l].state == 1, exited += e.fibers[l].state == 3;
            if (at_warp == 32) {
              for (unsigned l = w; l < w + 32; ++l) e.fibers[l].state = 0;
              released = true;
            } else if (at_warp && exited) {
              return (e.error = "a shuffle that exited lanes never reach").c_str();
            }
          }
          if (released) continue;
          if (at_block == n) {
            for (auto& f : e.fibers) f.state = 0;
            continue;
          }
          if (at_block && done) return (e.error = "__syncthreads that exited threads never reach").c_str();
          return (e.error = "deadlock: threads wait at different barriers").c_str();
        }
      }
  return nullptr;
}
)SHIM";

// The rendered programs of several cases, compiled into one shared library by the host compiler.
class HostEmulator {
 public:
  explicit HostEmulator(const std::vector<std::string>& sources) : dir_("jx_cuda_emu") {
    std::string text = kShim;
    for (size_t i = 0; i < sources.size(); ++i)
      text += "namespace program" + std::to_string(i) + " {\n" + sources[i] + "\n}\n";
    const auto src = dir_ / "kernels.cpp";
    const auto lib = dir_ / "kernels.so";
    {
      std::ofstream out(src);
      out << text;
    }
    const char* cxx = std::getenv("CXX");
    const std::string cmd = std::string(cxx && *cxx ? cxx : "c++") + " -std=c++17 -O1 -w -shared -fPIC -o '" +
                            lib.string() + "' '" + src.string() + "' 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe) {
      char buf[4096];
      while (size_t k = std::fread(buf, 1, sizeof(buf), pipe)) log_.append(buf, k);
      if (pclose(pipe) == 0) handle_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    }
    if (handle_) launch_ = reinterpret_cast<Launch>(dlsym(handle_, "jx_emu_launch"));
  }
  ~HostEmulator() {
    if (handle_) dlclose(handle_);
  }
  bool ok() const { return launch_ != nullptr; }
  const std::string& log() const { return log_; }

  // Runs the program's kernels in order on fresh buffers; returns the outputs' bytes.
  std::vector<std::vector<char>> run(const jitc::Program& p, const cudagen::RenderedProgram& r,
                                       const std::vector<Array>& args) {
    for (auto& st : p.steps) REQUIRE_MESSAGE(st.kind == jitc::Step::Kind::kernel, "library calls are not emulated");
    std::vector<std::vector<char>> mem(p.slots.size());
    for (size_t s = 0; s < p.slots.size(); ++s) {
      const jitc::Slot& slot = p.slots[s];
      // Unwritten output elements show up as a poison pattern (a NaN, or a large integer).
      mem[s].assign(std::max<size_t>(slot.nbytes(), 1), static_cast<char>(0x7f));
      const Array* src = slot.kind == jitc::Slot::Kind::input      ? &args[static_cast<size_t>(slot.index)]
                         : slot.kind == jitc::Slot::Kind::constant ? &p.consts[static_cast<size_t>(slot.index)]
                                                                    : nullptr;
      if (src && slot.nbytes()) std::memcpy(mem[s].data(), src->raw_data(), slot.nbytes());
    }
    auto ptr = [&](int s) -> void* {
      const jitc::Slot& slot = p.slots[static_cast<size_t>(s)];
      return mem[static_cast<size_t>(slot.kind == jitc::Slot::Kind::alias ? slot.alias_of : s)].data();
    };
    for (auto& st : p.steps) {
      const auto& spec = r.kernels[static_cast<size_t>(st.index)];
      void* fn = dlsym(handle_, spec.name.c_str());
      REQUIRE_MESSAGE(fn, spec.name);
      std::vector<void*> a;
      for (int s : spec.params) a.push_back(ptr(s));
      const char* err = launch_(fn, static_cast<int>(a.size()), a.data(), spec.grid.data(), spec.block.data());
      REQUIRE_MESSAGE(err == nullptr, spec.name << ": " << (err ? err : ""));
    }
    std::vector<std::vector<char>> outs;
    for (size_t o = 0; o < p.output_slots.size(); ++o) {
      const int s = p.output_slots[o];
      const Array* lit = s < 0 ? &p.output_literals[o] : nullptr;
      const char* src = lit ? static_cast<const char*>(lit->raw_data()) : static_cast<const char*>(ptr(s));
      const size_t n = lit ? lit->aval().size() * itemsize(lit->dtype()) : p.slots[static_cast<size_t>(s)].nbytes();
      outs.emplace_back(src, src + n);
    }
    return outs;
  }

 private:
  using Launch = const char* (*)(void*, int, void**, const unsigned*, const unsigned*);

  testing::TempDir dir_;
  std::string log_;
  void* handle_ = nullptr;
  Launch launch_ = nullptr;
};

// One emulated case: a jit'd function, its arguments and the CPU jit's results.
struct EmuCase {
  std::string name;
  jitc::Program program;
  std::vector<Array> args;
  std::vector<Array> expected;
};

template <class F, class... A>
EmuCase emu_case(const std::string& name, F f, const A&... args) {
  EmuCase c;
  c.name = name;
  c.program = plan_of(name, f, args...);
  c.args = {args...};
  auto res = jit(f)(args...);
  if constexpr (std::is_same_v<std::decay_t<decltype(res)>, Array>) {
    c.expected = {res};
  } else {
    std::apply([&](auto&... r) { (c.expected.push_back(r), ...); }, res);
  }
  return c;
}

void run_emulated(const std::vector<EmuCase>& cases) {
  std::vector<cudagen::RenderedProgram> rendered;
  std::vector<std::string> sources;
  for (auto& c : cases) {
    rendered.push_back(cudagen::render_program(c.program));
    sources.push_back(rendered.back().source);
  }
  HostEmulator emu(sources);
  if (!emu.ok()) {
    // Only when the host has no C++ compiler at all; a compile error of the kernels fails.
    REQUIRE_MESSAGE(emu.log().find("error") == std::string::npos, emu.log());
    MESSAGE("no host C++ compiler: the emulated CUDA kernels were not run");
    return;
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const EmuCase& c = cases[i];
    CAPTURE(c.name);
    CAPTURE(rendered[i].source);
    auto outs = emu.run(c.program, rendered[i], c.args);
    REQUIRE(outs.size() == c.expected.size());
    for (size_t o = 0; o < outs.size(); ++o) {
      CAPTURE(o);
      const Array& want = c.expected[o];
      const DType dt = want.dtype();
      REQUIRE(outs[o].size() == static_cast<size_t>(want.size()) * itemsize(dt));
      const char* cpu = static_cast<const char*>(want.raw_data());
      std::string bad;
      if (dt == DType::float32 || dt == DType::float64) {
        // Reductions reassociate, libm differs from the jit's vector math: a little more room
        // than the dtype's tolerance.
        auto [rtol, atol] = testing::tolerance(dt);
        for (int64_t e = 0; e < want.size() && bad.empty(); ++e) {
          double g, w;
          if (dt == DType::float32) {
            float gf, wf;
            std::memcpy(&gf, outs[o].data() + 4 * e, 4), std::memcpy(&wf, cpu + 4 * e, 4);
            g = gf, w = wf;
          } else {
            std::memcpy(&g, outs[o].data() + 8 * e, 8), std::memcpy(&w, cpu + 8 * e, 8);
          }
          if ((std::isnan(g) && std::isnan(w)) || g == w) continue;
          if (!(std::abs(g - w) <= 10 * (atol + rtol * std::abs(w))))
            bad = "element " + std::to_string(e) + ": emulated CUDA " + std::to_string(g) + ", CPU jit " + std::to_string(w);
        }
      } else {
        // Integers, bools and 16-bit floats: bit for bit (a NaN matches any NaN: which operand's
        // NaN an operation returns is not specified).
        const size_t w = itemsize(dt);
        auto is_nan16 = [&](const char* p) {
          uint16_t b;
          std::memcpy(&b, p, 2);
          return dt == float16 ? (b & 0x7fff) > 0x7c00 : (dt == bfloat16 && (b & 0x7fff) > 0x7f80);
        };
        for (int64_t e = 0; e < want.size() && bad.empty(); ++e)
          if (std::memcmp(outs[o].data() + w * e, cpu + w * e, w) != 0 &&
              !(is_half_float(dt) && is_nan16(outs[o].data() + w * e) && is_nan16(cpu + w * e)))
            bad = "element " + std::to_string(e) + " differs (" + dtype_name(dt) + ", CPU jit " +
                  std::to_string(testing::values(want)[static_cast<size_t>(e)]) + ")";
      }
      CHECK_MESSAGE(bad.empty(), bad);
    }
  }
}

Array prim_rem(const Array& a, const Array& b) { return bind1(rem_p, {a, b}); }
Array prim_div(const Array& a, const Array& b) { return bind1(div_p, {a, b}); }

Array with_specials(Array x) {
  // A few NaNs, infinities and signed zeros at fixed places.
  auto v = x.to_vector<double>();
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const double specials[] = {nan, inf, -inf, -0.0, 0.0, 2.5, -2.5, 0.5, -1.5};
  for (size_t i = 0; i < v.size(); i += 7) v[i] = specials[(i / 7) % 9];
  return array(v, x.shape()).astype(x.dtype());
}

}  // namespace

TEST_CASE("cuda codegen (host emulation): elementwise math on special values equals the CPU jit") {
  Array x = with_specials(uniform({9, 14}, -3, 3, float32, 20));
  Array y = with_specials(uniform({9, 14}, -3, 3, float32, 21));
  Array xd = with_specials(uniform({63}, -3, 3, float64, 22));
  auto unary = [](const Array& x) {
    return std::tuple{exp(x), log(abs(x)), log1p(abs(x)), expm1(x), sin(x), cos(x), tan(x), tanh(x), sinh(x),
                      cosh(x), arcsin(x / 4.0f), arccos(x / 4.0f), arctan(x), sqrt(abs(x)), rsqrt(abs(x)),
                      square(x), abs(x), sign(x), floor(x), ceil(x), round(x), bind1(round_p, {x}, Params{{"rounding_method", int64_t{0}}}), erf(x),
                      sigmoid(x), isfinite(x), lax::integer_pow(x, 3), lax::integer_pow(x, -2), -x};
  };
  auto binary = [](const Array& x, const Array& y) {
    return std::tuple{x + y, x - y, x * y, x / y, prim_rem(x, y), maximum(x, y), minimum(x, y), power(abs(x), y),
                      arctan2(x, y), x == y, x != y, x < y, x <= y, x > y, x >= y, where(x > y, x, y)};
  };
  std::vector<EmuCase> cases;
  cases.push_back(emu_case("unary32", unary, x));
  cases.push_back(emu_case("unary64", unary, xd));
  cases.push_back(emu_case("binary32", binary, x, y));
  run_emulated(cases);
}

TEST_CASE("cuda codegen (host emulation): broadcasts, transposes, slices, pads, concatenations and dynamic slices") {
  Array x = uniform({6, 8}, -1, 1, float32, 23);
  Array y = uniform({8, 6}, -1, 1, float32, 24);
  Array v = uniform({8}, -1, 1, float32, 25);
  auto f = [](const Array& x, const Array& y, const Array& v) {
    Array t = transpose(y) * 2.0f + v;
    Array s = lax::slice(x, {1, 0}, {5, 8}, {2, 3});
    Array p = lax::pad(x + 1.0f, Array(0.5f), {{1, 2, 1}, {-1, 3, 0}});
    Array c = concatenate({x, t * x, lax::rev(x, {1})}, 0);
    Array i = lax::iota(float32, {6, 8}, 1) + x;
    Array r = reshape(x * 3.0f, {8, 6}) + y;
    Array q = reshape(transpose(r * r), {2, 3, 8});
    return std::tuple{t, s * 2.0f, p * 2.0f, c * 2.0f, i, r, q + 1.0f, broadcast_to(v, {3, 6, 8}) * 2.0f};
  };
  auto g = [](const Array& x, const Array& i) {
    Array d = lax::dynamic_slice(x, {i, i + 1}, {3, 4}) * 2.0f;
    Array u = lax::dynamic_update_slice(x, d, {i, Array(2)}) + 1.0f;
    return std::tuple{d, u};
  };
  std::vector<EmuCase> cases;
  cases.push_back(emu_case("shapes", f, x, y, v));
  for (int i : {1, 100, -5}) cases.push_back(emu_case("dynamic" + std::to_string(i + 5), g, x, Array(i)));
  run_emulated(cases);
}

TEST_CASE("cuda codegen (host emulation): row and column reductions of every launch shape equal the CPU jit") {
  std::vector<EmuCase> cases;
  auto rows = [](const Array& x) {
    Array z = x * 2.0f + 1.0f;
    return std::tuple{z, sum(z, {1}), max(z, {1}), min(exp(z), {1}), prod(x / 2.0f + 1.0f, {1})};
  };
  // A thread, lane groups of 8, 16 and 32, a block, several blocks per output.
  for (Shape s : {Shape{70, 5}, Shape{50, 20}, Shape{40, 100}, Shape{33, 700}, Shape{5, 3000}, Shape{2, 1 << 17},
                  Shape{12, 1 << 16}})
    cases.push_back(emu_case("rows" + std::to_string(s[1]), rows, uniform(s, -1, 1, float32, 26)));
  // Several reduced axes, trailing; a reduction to a scalar.
  cases.push_back(emu_case("rows3d", [](const Array& x) { return sum(x * x, {1, 2}); }, uniform({7, 30, 40}, -1, 1, float32, 27)));
  cases.push_back(emu_case("all", [](const Array& x) { return std::tuple{sum(x), max(x)}; }, uniform({300, 400}, -1, 1, float32, 28)));
  // Columns: 2-D blocks (8, 16 and 32 rows), few outputs, a middle axis, leading axes.
  auto cols = [](const Array& x) {
    return std::tuple{sum(x * 3.0f, {0}), max(x, {0}), min(x, {0}), any(x > 0.999f, {0}), all(x > -0.999f, {0})};
  };
  // ... and several blocks per tile of 32 outputs.
  for (Shape s : {Shape{20, 100}, Shape{100, 70}, Shape{600, 40}, Shape{3000, 5}, Shape{4, 40}, Shape{8192, 40},
                  Shape{5000, 100}})
    cases.push_back(emu_case("cols" + std::to_string(s[0]), cols, uniform(s, -1, 1, float32, 29)));
  cases.push_back(emu_case("mid", [](const Array& x) { return std::tuple{sum(x, {1}), x + 1.0f}; }, uniform({3, 500, 7}, -1, 1, float32, 30)));
  cases.push_back(emu_case("lead", [](const Array& x) { return sum(x, {0, 1}); }, uniform({30, 20, 50}, -1, 1, float32, 31)));
  // NaNs propagate through max and min, in rows and columns; float64.
  Array n = with_specials(uniform({40, 50}, -1, 1, float64, 32));
  cases.push_back(emu_case("nan", [](const Array& x) { return std::tuple{max(x, {1}), min(x, {0}), sum(x, {1})}; }, n));
  run_emulated(cases);
}

TEST_CASE("cuda codegen (host emulation): integer, unsigned and bool kernels equal the CPU jit") {
  Array i = reshape(arange(-30, 30), {6, 10});
  Array x = with_specials(uniform({6, 10}, -5e9, 5e9, float64, 33));
  Array xf = with_specials(uniform({6, 10}, -3e9, 3e9, float32, 34));
  auto f = [](const Array& i, const Array& x, const Array& xf) {
    Array a = floor_divide(i * 7 - 5, mod(i, Array(4)) - 1) + prim_rem(i, i - 2) + prim_div(i, -i + 3);
    Array sh = lax::shift_left(i, i + 20) + lax::shift_right_arithmetic(i, i + 25) +
               lax::shift_right_logical(i, i + 27);
    Array u = i.astype(uint32);
    Array us = lax::shift_right_arithmetic(u, Array(3u)) + u / Array(7u) + prim_rem(u, Array(0u)) + abs(i).astype(uint32);
    Array b = (x > 0.5) && !(i == 3);
    Array c = x.astype(int32) + xf.astype(int32) + x.astype(int64).astype(int32);
    Array d = x.astype(uint32).astype(float64) + xf.astype(uint32).astype(float64) + xf.astype(int64).astype(float64);
    Array big = (i + 2147483600) * 3;  // wraps
    Array bits = lax::bitcast_convert_type(xf, int32) + lax::bitcast_convert_type(x, int64).astype(int32);
    return std::tuple{a, sh, us, b, c, d, big, bits, sum(big, {1}), prod(i + 40, {0}), any(b, {1}), all(b, {0}),
                      max(u, {1}), min(i, {0}), sign(i), -i, lax::integer_pow(i, 5), x.astype(bool_), sum(b.astype(int32))};
  };
  run_emulated({emu_case("ints", f, i, x, xf)});
}

TEST_CASE("cuda codegen (host emulation): float16 and bfloat16 round as the CPU jit, bit for bit") {
  std::vector<EmuCase> cases;
  std::vector<double> d = {INFINITY, -INFINITY, NAN, 1e-300, -0.0, 65519.99, 65520.0, 1.0 + std::ldexp(1.0, -11) + 1e-12};
  std::mt19937_64 gen(7);
  for (int k = 0; k < 500; ++k) d.push_back(std::bit_cast<double>(gen()));
  std::vector<int64_t> i64 = {INT64_MIN, INT64_MAX, 0, (int64_t{1} << 60) + (int64_t{1} << 52) + 1, 2049, -65521};
  for (int k = 0; k < 200; ++k) i64.push_back(static_cast<int64_t>(gen()) >> (gen() % 64));
  Array xd = array(d), xi = array(i64);
  Array x32 = array(std::vector<int32_t>{INT32_MIN, INT32_MAX, (1 << 24) + (1 << 16) + 1, 65519, 65520, -7});
  Array xu = array(std::vector<uint32_t>{0, 1, UINT32_MAX, (1u << 31) + (1u << 23) + 1, 65520});
  for (DType dt : {float16, bfloat16}) {
    const std::string n = dtype_name(dt);
    // Every 16-bit pattern (NaN payloads, infinities, subnormals, signed zeros).
    Array all;
    if (dt == float16) {
      std::vector<float16_t> h(0x10000);
      for (size_t i = 0; i < h.size(); ++i) h[i] = float16_t::from_bits(static_cast<uint16_t>(i));
      all = array(h);
    } else {
      std::vector<bfloat16_t> h(0x10000);
      for (size_t i = 0; i < h.size(); ++i) h[i] = bfloat16_t::from_bits(static_cast<uint16_t>(i));
      all = array(h);
    }
    const DType other = dt == float16 ? bfloat16 : float16;
    auto f = [other](const Array& a) {
      return std::tuple{a * 3.0 + (-a) * 0.5, maximum(a, 0.25) - a.astype(float32).astype(a.dtype()),
                        a.astype(float64) * 1.5, a.astype(other), a.astype(int32), a.astype(uint32), exp(a) + sin(a),
                        lax::bitcast_convert_type(a, other), abs(a), sign(a), lax::integer_pow(a, 3)};
    };
    cases.push_back(emu_case("all_" + n, f, all));
    auto c = [dt](const Array& a) { return a.astype(dt); };
    cases.push_back(emu_case("from_f64_" + n, c, xd));
    cases.push_back(emu_case("from_i64_" + n, c, xi));
    cases.push_back(emu_case("from_i32_" + n, c, x32));
    cases.push_back(emu_case("from_u32_" + n, c, xu));
    cases.push_back(emu_case("iota_" + n, [dt](const Array& a) { return lax::iota(dt, {3000}, 0) + a; }, Array(0.5).astype(dt)));
    Array q = (uniform({64, 40}, -8.0, 8.0, float32, 3) * 8.0).astype(int32).astype(dt) / 8.0;
    auto red = [](const Array& x) {
      return std::tuple{sum(x, {0}), sum(x, {1}), max(x * 2.0, {0}), min(x, {1}), sum(x * x, {0}), sum(x)};
    };
    cases.push_back(emu_case("reduce_" + n, red, q));
  }
  run_emulated(cases);
}

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

TEST_CASE("cuda codegen: many reductions in one kernel stay within the shared memory of a block") {
  auto f = [](const Array& x) {
    Array z = x * 2.0 + 1.0;
    return std::tuple{sum(z, {0}), sum(z * z, {0}), max(z, {0}), min(z, {0}), sum(exp(z), {0}), sum(sin(z), {0}),
                      sum(cos(z), {0}), max(z * 3.0, {0}), min(z * 3.0, {0}), sum(tanh(z), {0}), sum(z * 5.0, {0}),
                      prod(z, {0}), z};
  };
  auto g = [](const Array& x) {
    Array z = x * 2.0 + 1.0;
    return std::tuple{sum(z, {1}), sum(z * z, {1}), max(z, {1}), min(z, {1}), sum(exp(z), {1}), sum(sin(z), {1}),
                      sum(cos(z), {1}), max(z * 3.0, {1}), min(z * 3.0, {1}), sum(tanh(z), {1}), sum(z * 5.0, {1}),
                      prod(z, {1}), z};
  };
  Array x = uniform({4096, 100}, -1, 1, float64, 42);
  jitc::Program p = plan_of("manycols", f, x);
  const jitc::Kernel* k = find_kernel(p, true);
  REQUIRE(k);
  CHECK(k->outputs.size() >= 12);
  render_and_compile(p);
  jitc::Program q = plan_of("manyrows", g, transpose(x));
  REQUIRE(find_kernel(q, true));
  render_and_compile(q);
  run_emulated({emu_case("manycols", f, uniform({3000, 40}, -1, 1, float64, 43)),
                emu_case("manyrows", g, uniform({40, 3000}, -1, 1, float64, 44))});
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

TEST_CASE("cuda codegen: float16 and bfloat16 are 16 bits in memory and float in registers") {
  for (DType dt : {float16, bfloat16}) {
    CAPTURE(dt);
    Array x = uniform({64, 300}, -2, 2, dt, 40);
    Array xd = uniform({64, 300}, -2, 2, float64, 41);
    auto f = [](const Array& x, const Array& xd) {
      Array y = tanh(x) * 2.0 + xd.astype(x.dtype());
      return std::tuple{y, sum(y, {1}), max(y, {0}), y.astype(int32), lax::iota(x.dtype(), {64, 300}, 1) * x};
    };
    auto r = render_and_compile(plan_of("half", f, x, xd));
    const std::string t = dt == float16 ? "f16" : "bf16";
    CHECK(r.source.find("unsigned short* __restrict__") != std::string::npos);
    CHECK(r.source.find("jx_round_" + t) != std::string::npos);
    CHECK(r.source.find("jx_" + t + "_to_f32") != std::string::npos);
    CHECK(r.source.find("jx_f64_to_f32_odd") != std::string::npos);  // float64 rounds once
  }
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

TEST_CASE("cuda codegen: NVRTC compiles from several threads at once") {
  std::vector<std::thread> threads;
  std::vector<size_t> sizes(6, 0);
  for (size_t t = 0; t < sizes.size(); ++t) {
    threads.emplace_back([t, &sizes] {
      // Two threads per source: concurrent compiles of one source, and of different ones.
      const std::string src = "extern \"C\" __global__ void threaded" + std::to_string(t / 2) +
                              "(float* p) { p[threadIdx.x] += " + std::to_string(t / 2) + ".0f; }\n";
      try {
        sizes[t] = cudagen::compile_cubin(src, "threaded", 90).image.size();
      } catch (...) {
        sizes[t] = 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t s : sizes) CHECK(s > 16);
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
  CHECK(out.find(", 0 with NVRTC warnings") != std::string::npos);  // the rendered code is clean
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
