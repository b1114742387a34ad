// What the CUDA renderer's kernels compute, checked without a GPU: each jit program (fused
// kernels only) is rendered to CUDA C++ (backends/cuda/render.cpp), compiled unchanged by the
// host C++ compiler with the CUDA emulation header forced in front (tests/testing/cuda_emu.h:
// every CUDA thread a fiber, __syncthreads and warp shuffles real barriers, __shared__ per block),
// and run kernel by kernel as the CUDA executor would (inputs, constants, outputs, temporaries in
// the arena, aliases). The outputs must equal the CPU jit's: bit for bit for exact operations
// (integers, comparisons, selects, conversions, shape ops, IEEE + - * /, min/max, sums of
// dyadic values), within a tolerance for transcendentals (host libm against the CPU's vector math)
// and reassociated sums.
//
// Each program runs three times and the runs must agree bit for bit: threads and blocks in order,
// all threads advancing barrier by barrier, temporaries in the arena; reversed, each warp running
// ahead of the others as far as its own shuffles allow, the grid cut to one block so that the
// grid-stride loops take many turns, every buffer separately allocated (start-aligned against a
// guard page), another shared-memory poison; shuffled, warps ahead, outputs in the buffers of the
// inputs the plan lets them take over (donation). Inputs and constants are read-only; every
// buffer sits against a PROT_NONE page with canaries on its other side; the kernels are built
// with -fsanitize=undefined traps (signed overflow, shifts, float->int casts, out-of-bounds
// shared arrays, bools that are not 0/1), so index or semantics errors come back as failures
// that name the kernel, the slot and the rendered source line. Empty arrays never reach the
// renderer (the planner leaves them to the eager kernels); that is checked too.
#ifdef JX_WITH_CUDA

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/cuda/render.h"
#include "core/half.h"
#include "core/prims/elementwise.h"
#include "core/prims/reduce.h"
#include "core/trace.h"
#include "jit/program.h"
#include "testing/testing.h"

#define JXEMU_API_ONLY
#include "testing/cuda_emu.h"

using namespace jx;
using jx::testing::uniform;

namespace {

namespace fs = std::filesystem;

fs::path emu_header() { return fs::path(__FILE__).parent_path().parent_path() / "testing" / "cuda_emu.h"; }

// ---- cases ---------------------------------------------------------------------------------------

/// How floating outputs are compared with the CPU jit: rtol = atol = 0 is bit for bit (any NaN
/// matches any NaN); integers and bools are always compared bit for bit.
struct Cmp {
  double rtol = 0, atol = 0;
  bool exact() const { return rtol == 0 && atol == 0; }
};
constexpr Cmp kExact{};

struct EmuCase {
  std::string name;
  jitc::Program program;
  std::vector<Array> args;
  std::vector<Array> expected;  // the CPU jit
  Cmp cmp;
  cudagen::RenderedProgram rendered;
  std::function<std::string(const std::string&)> mutate;  // applied to the rendered source
};

std::string identifier(const std::string& s) {
  std::string r = s;
  for (auto& ch : r)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) ch = '_';
  return r;
}

template <class F, class... A>
EmuCase make_case(const std::string& name, Cmp cmp, F f, const A&... args) {
  EmuCase c;
  c.name = name;
  c.cmp = cmp;
  c.program = jitc::plan_program(jit(f).lower(args...).jaxpr(), "emu_" + identifier(name));
  c.args = {Array(args)...};
  auto res = jit(f)(args...);
  if constexpr (std::is_same_v<std::decay_t<decltype(res)>, Array>) {
    c.expected = {res};
  } else {
    std::apply([&](auto&... r) { (c.expected.push_back(r), ...); }, res);
  }
  return c;
}

// ---- memory: buffers against guard pages ---------------------------------------------------------

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

/// `nbytes` bytes with a PROT_NONE page on each side of the pages that hold them, placed against
/// the trailing guard (at_end) or the leading one; the rest of the pages are canaries.
class Guarded {
 public:
  Guarded(size_t nbytes, bool at_end, unsigned char fill) : size_(nbytes), fill_(fill) {
    page_ = page_size();
    body_ = std::max<size_t>(1, (nbytes + page_ - 1) / page_) * page_;
    void* m = mmap(nullptr, body_ + 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    base_ = static_cast<char*>(m);
    mprotect(base_, page_, PROT_NONE);
    mprotect(base_ + page_ + body_, page_, PROT_NONE);
    std::memset(base_ + page_, fill, body_);
    // An empty buffer points at the guard: any access faults.
    data_ = (at_end || nbytes == 0) ? base_ + page_ + body_ - nbytes : base_ + page_;
  }
  ~Guarded() { munmap(base_, body_ + 2 * page_); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }
  void make_readonly() { mprotect(base_ + page_, body_, PROT_READ); }

  /// A write outside the buffer but inside its pages: "" or where.
  std::string check_canaries() const {
    for (const char* p = base_ + page_; p < base_ + page_ + body_; ++p) {
      if (p >= data_ && p < data_ + size_) {
        p = data_ + size_ - 1;
        continue;
      }
      if (static_cast<unsigned char>(*p) != fill_)
        return p < data_ ? std::to_string(data_ - p) + " bytes before its start" : std::to_string(p - (data_ + size_)) + " bytes past its end";
    }
    return "";
  }
  /// Where a faulting address lies relative to the buffer, or "" when not in its guard pages.
  std::string describe(uintptr_t a) const {
    const uintptr_t lo = reinterpret_cast<uintptr_t>(base_), hi = lo + body_ + 2 * page_;
    if (a < lo || a >= hi) return "";
    const uintptr_t d = reinterpret_cast<uintptr_t>(data_);
    if (a < d) return std::to_string(d - a) + " bytes before its start";
    return std::to_string(a - (d + size_)) + " bytes past its end";
  }

 private:
  char* base_ = nullptr;
  char* data_ = nullptr;
  size_t size_ = 0, page_ = 0, body_ = 0;
  unsigned char fill_ = 0;
};

// ---- the compiled kernels --------------------------------------------------------------------------

std::string run_command(const std::string& cmd, int* status) {
  std::string out;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) {
    *status = -1;
    return "cannot run: " + cmd;
  }
  char buf[4096];
  while (size_t k = std::fread(buf, 1, sizeof(buf), pipe)) out.append(buf, k);
  *status = pclose(pipe);
  return out;
}

std::string compiler() {
  const char* cxx = std::getenv("CXX");
  return cxx && *cxx ? cxx : "g++";
}

/// The emulator's runtime (fibers, scheduler, launcher): compiled once per process and loaded
/// with RTLD_GLOBAL, so that the kernel libraries only include the light CUDA part of the header.
class EmuRuntime {
 public:
  static const EmuRuntime& get() {
    static const EmuRuntime r;
    return r;
  }
  bool ok() const { return launch_ != nullptr; }
  const std::string& log() const { return log_; }
  int launch(const JxemuLaunch& l, JxemuResult& r) const { return launch_(&l, &r); }

 private:
  EmuRuntime() : dir_("jx_cuda_emu_runtime") {
    const fs::path src = dir_ / "runtime.cpp", lib = dir_ / "runtime.so";
    std::ofstream(src) << "#define JXEMU_IMPLEMENTATION\n#include \"" << emu_header().string() << "\"\n";
    int status = 0;
    log_ = run_command(compiler() + " -std=c++17 -O1 -g -shared -fPIC '" + src.string() + "' -o '" + lib.string() + "'",
                       &status);
    if (status == 0) handle_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle_) launch_ = reinterpret_cast<JxemuLaunchFn>(dlsym(handle_, "jxemu_launch"));
    if (!handle_ && status == 0) log_ += dlerror();
  }
  testing::TempDir dir_;
  std::string log_;
  void* handle_ = nullptr;
  JxemuLaunchFn launch_ = nullptr;
};

/// Sources compiled into one shared library with the emulation header (the CUDA part).
class EmuLibrary {
 public:
  EmuLibrary(const std::string& text, const std::string& tag) : dir_("jx_cuda_emu_test_" + tag) {
    const EmuRuntime& rt = EmuRuntime::get();
    REQUIRE_MESSAGE(rt.ok(), "the CUDA emulator's runtime does not build (a host C++ compiler is needed: g++, or $CXX):\n"
                                 << rt.log());
    src_ = dir_ / "kernels.cpp";
    lib_ = dir_ / "kernels.so";
    std::ofstream(src_) << text;
    // JX_CUDA_EMU_KEEP=<dir>: a copy of the emulated sources, for debugging.
    if (const char* keep = std::getenv("JX_CUDA_EMU_KEEP"); keep && *keep) std::ofstream(fs::path(keep) / (tag + ".cpp")) << text;
    const std::string cmd = compiler() + " " + kernel_flags() + " -include '" + emu_header().string() + "' '" +
                            src_.string() + "' -o '" + lib_.string() + "'";
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    log_ = run_command(cmd, &status);
    compile_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (status == 0) handle_ = dlopen(lib_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_ && status == 0) log_ += dlerror();
  }
  static std::string kernel_flags() {
    // As NVRTC compiles them (nvrtc.cpp: --fmad=false, IEEE division and square root), with
    // undefined behavior trapping.
    return "-std=c++17 -O1 -g -shared -fPIC -ffp-contract=off -Wno-unknown-pragmas "
           "-fsanitize=undefined,float-cast-overflow -fsanitize-undefined-trap-on-error";
  }
  ~EmuLibrary() {
    if (handle_) dlclose(handle_);
  }
  bool ok() const { return handle_ != nullptr; }
  const std::string& log() const { return log_; }
  double compile_seconds() const { return compile_s_; }
  void* symbol(const std::string& name) const { return dlsym(handle_, name.c_str()); }
  int launch(const JxemuLaunch& l, JxemuResult& r) const { return EmuRuntime::get().launch(l, r); }

  /// The source line of an instruction of the library (addr2line), or "".
  std::string source_line(uintptr_t pc) const {
    Dl_info info{};
    if (!pc || !dladdr(reinterpret_cast<void*>(pc), &info) || !info.dli_fname ||
        fs::path(info.dli_fname) != lib_)
      return "";
    char off[32];
    std::snprintf(off, sizeof(off), "0x%llx",
                  static_cast<unsigned long long>(pc - reinterpret_cast<uintptr_t>(info.dli_fbase)));
    int status = 0;
    std::string where = run_command("addr2line -i -e '" + lib_.string() + "' " + off, &status);
    std::string result;
    std::istringstream lines(where);
    for (std::string l; std::getline(lines, l);) {
      const size_t colon = l.rfind(':');
      if (colon == std::string::npos) continue;
      const int line = std::atoi(l.c_str() + colon + 1);
      if (l.compare(0, colon, src_.string()) != 0 || line <= 0) continue;
      std::ifstream in(src_);
      std::string text;
      for (int k = 0; k < line && std::getline(in, text); ++k) {
      }
      result += "\n  line " + std::to_string(line) + ": " + text;
    }
    return result;
  }

 private:
  testing::TempDir dir_;
  fs::path src_, lib_;
  std::string log_;
  double compile_s_ = 0;
  void* handle_ = nullptr;
};

// The text of one rendered kernel (its comment line to the end of its function).
std::string kernel_text(const std::string& source, const std::string& name) {
  const size_t at = source.find(" " + name + "(");
  if (at == std::string::npos) return "";
  size_t begin = source.rfind("\n//", at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  size_t end = source.find("\n}\n", at);
  return source.substr(begin, end == std::string::npos ? std::string::npos : end + 3 - begin);
}

// ---- running a program -----------------------------------------------------------------------------

/// One way to run a program (see the file comment).
struct Layout {
  const char* what;
  int schedule;
  bool separate_temps;  // every temporary in its own buffer (else one arena, as the executor)
  bool at_end;          // buffers against the trailing guard page (else the leading one)
  unsigned char poison;
  unsigned max_grid;    // 0: the rendered grid; else grid.x cut to this for grid-stride kernels
  bool donate;          // outputs take over the buffers of the inputs the plan allows (donation)
  bool warp_ahead;      // each warp runs ahead of the others as far as it can
};
const Layout kLayouts[] = {
    {"in order, arena", 0, false, true, 0xff, 0, false, false},
    {"reversed, warps ahead, grid cut to 1 block, separate buffers", 1, true, false, 0x7f, 1, false, true},
    {"shuffled, warps ahead, donated inputs", 2, false, true, 0xa5, 0, true, true},
};

struct RunResult {
  std::vector<std::vector<char>> outs;
  std::string error;
};

std::string slot_str(const jitc::Program& p, int s) {
  static const char* kinds[] = {"input", "constant", "output", "temp", "alias"};
  const auto& slot = p.slots[static_cast<size_t>(s)];
  return "slot " + std::to_string(s) + " (" + kinds[static_cast<int>(slot.kind)] + " " + slot.aval.str() + ")";
}

RunResult run_program(const EmuLibrary& lib, const EmuCase& c, const std::string& source, const Layout& lay) {
  const jitc::Program& p = c.program;
  RunResult res;
  std::vector<std::unique_ptr<Guarded>> owned;
  std::vector<std::pair<const Guarded*, int>> writable, all;  // buffer, slot (-1: the arena)
  std::vector<char*> ptr(p.slots.size(), nullptr);
  std::unique_ptr<Guarded> arena;
  if (!lay.separate_temps) {
    arena = std::make_unique<Guarded>(static_cast<size_t>(p.arena_bytes), lay.at_end, lay.poison);
    writable.push_back({arena.get(), -1});
    all.push_back({arena.get(), -1});
  }
  // Donation: an output written into an input's buffer (as the executor does for donated
  // arguments the plan lists as candidates).
  std::map<int, int> donated_to;  // output slot -> input slot
  std::set<int> donated, returned;  // input slots
  if (lay.donate) {
    // (An input that the program also returns keeps its buffer: the plan lists it as a candidate
    // all the same, a bug of jit/plan.cpp's find_donation_candidates outside the renderer.)
    for (int s : p.output_slots)
      if (s >= 0 && p.slots[static_cast<size_t>(s)].kind == jitc::Slot::Kind::input) returned.insert(s);
    for (size_t o = 0; o < p.output_slots.size() && o < p.donation_candidates.size(); ++o) {
      const int s = p.output_slots[o];
      if (s < 0 || p.slots[static_cast<size_t>(s)].kind != jitc::Slot::Kind::output || donated_to.count(s)) continue;
      for (int a : p.donation_candidates[o]) {
        const int in = p.input_slots[static_cast<size_t>(a)];
        if (donated.count(in) || returned.count(in)) continue;
        donated_to[s] = in, donated.insert(in);
        break;
      }
    }
  }
  for (size_t s = 0; s < p.slots.size(); ++s) {
    const jitc::Slot& slot = p.slots[s];
    using K = jitc::Slot::Kind;
    if (slot.kind == K::alias || donated_to.count(static_cast<int>(s))) continue;
    if (slot.kind == K::temp && !lay.separate_temps) {
      REQUIRE(slot.offset + static_cast<int64_t>(slot.nbytes()) <= p.arena_bytes);
      ptr[s] = arena->data() + slot.offset;
      continue;
    }
    auto g = std::make_unique<Guarded>(slot.nbytes(), lay.at_end, lay.poison);
    const Array* src = slot.kind == K::input      ? &c.args[static_cast<size_t>(slot.index)]
                       : slot.kind == K::constant ? &p.consts[static_cast<size_t>(slot.index)]
                                                  : nullptr;
    if (src) {
      REQUIRE(static_cast<size_t>(src->size()) * itemsize(src->dtype()) == slot.nbytes());
      if (slot.nbytes()) std::memcpy(g->data(), src->raw_data(), slot.nbytes());
      if (donated.count(static_cast<int>(s))) writable.push_back({g.get(), static_cast<int>(s)});
      else g->make_readonly();
    } else {
      writable.push_back({g.get(), static_cast<int>(s)});
    }
    all.push_back({g.get(), static_cast<int>(s)});
    ptr[s] = g->data();
    owned.push_back(std::move(g));
  }
  for (auto [out, in] : donated_to) ptr[static_cast<size_t>(out)] = ptr[static_cast<size_t>(in)];
  for (size_t s = 0; s < p.slots.size(); ++s) {
    int r = static_cast<int>(s);
    while (p.slots[static_cast<size_t>(r)].kind == jitc::Slot::Kind::alias) r = p.slots[static_cast<size_t>(r)].alias_of;
    ptr[s] = ptr[static_cast<size_t>(r)];
  }
  auto where = [&](uintptr_t a) -> std::string {
    for (auto& [g, s] : all) {
      std::string d = g->describe(a);
      if (!d.empty()) return ", " + d + " of " + (s < 0 ? std::string("the arena") : slot_str(p, s));
    }
    return "";
  };
  for (const jitc::Step& st : p.steps) {
    const auto& spec = c.rendered.kernels[static_cast<size_t>(st.index)];
    void* fn = lib.symbol(spec.name);
    if (!fn) return {{}, "kernel " + spec.name + " not found in the compiled library"};
    std::vector<void*> args;
    for (int s : spec.params) args.push_back(ptr[static_cast<size_t>(s)]);
    JxemuLaunch l;
    l.fn = fn;
    l.nargs = static_cast<int>(args.size());
    l.args = args.data();
    for (int d = 0; d < 3; ++d) l.grid[d] = spec.grid[static_cast<size_t>(d)], l.block[d] = spec.block[static_cast<size_t>(d)];
    // Grid-stride kernels (all but the multi-block reduction, whose grid is fixed) compute the
    // same for any grid.
    const std::string text = kernel_text(source, spec.name);
    if (lay.max_grid && text.find("blockIdx.y") == std::string::npos) l.grid[0] = std::min(l.grid[0], lay.max_grid);
    l.shared_bytes = spec.shared_bytes;
    l.schedule = lay.schedule;
    l.seed = 12345;
    l.poison = lay.poison;
    l.warp_ahead = lay.warp_ahead;
    JxemuResult r{};
    if (lib.launch(l, r) != 0) {
      std::ostringstream os;
      os << "kernel " << spec.name << " (" << lay.what << "): " << r.message << where(r.fault_addr) << "; block ("
         << r.block[0] << "," << r.block[1] << "," << r.block[2] << "), thread (" << r.thread[0] << "," << r.thread[1]
         << "," << r.thread[2] << ")" << lib.source_line(r.fault_pc) << "\n" << text;
      return {{}, os.str()};
    }
    for (auto& [g, s] : writable) {
      std::string bad = g->check_canaries();
      if (!bad.empty())
        return {{}, "kernel " + spec.name + " (" + lay.what + ") wrote " + bad + " of " +
                        (s < 0 ? std::string("the arena") : slot_str(p, s)) + "\n" + text};
    }
  }
  for (size_t o = 0; o < p.output_slots.size(); ++o) {
    const int s = p.output_slots[o];
    if (s < 0) {
      const Array& lit = p.output_literals[o];
      const char* b = static_cast<const char*>(lit.raw_data());
      res.outs.emplace_back(b, b + lit.size() * static_cast<int64_t>(itemsize(lit.dtype())));
    } else {
      const char* b = ptr[static_cast<size_t>(s)];
      res.outs.emplace_back(b, b + p.slots[static_cast<size_t>(s)].nbytes());
    }
  }
  return res;
}

// ---- comparing -------------------------------------------------------------------------------------

double as_double(DType dt, const char* p) {
  switch (dt) {
    case DType::bool_: return static_cast<double>(static_cast<unsigned char>(*p));
    case DType::int32: { int32_t v; std::memcpy(&v, p, 4); return static_cast<double>(v); }
    case DType::uint32: { uint32_t v; std::memcpy(&v, p, 4); return static_cast<double>(v); }
    case DType::int64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::float32: { float v; std::memcpy(&v, p, 4); return static_cast<double>(v); }
    case DType::float64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::float16: { uint16_t b; std::memcpy(&b, p, 2); return static_cast<double>(static_cast<float>(float16_t::from_bits(b))); }
    case DType::bfloat16: { uint16_t b; std::memcpy(&b, p, 2); return static_cast<double>(static_cast<float>(bfloat16_t::from_bits(b))); }
    default: return 0;
  }
}

std::string show(DType dt, const char* p) {
  std::ostringstream os;
  os.precision(17);
  if (dt == DType::int64) {
    int64_t v;
    std::memcpy(&v, p, 8);
    os << v;
  } else {
    os << as_double(dt, p);
  }
  os << " (0x";
  for (size_t i = itemsize(dt); i-- > 0;) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", static_cast<unsigned char>(p[i]));
    os << b;
  }
  os << ")";
  return os.str();
}

std::string index_str(int64_t e, const Shape& shape) {
  std::string s = "[";
  auto idx = testing::unravel(e, shape);
  for (size_t i = 0; i < idx.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(idx[i]);
  }
  return s + "]";
}

// "" or the first element where `got` and `want` differ.
std::string compare(const std::vector<char>& got, const Array& want, Cmp cmp) {
  const DType dt = want.dtype();
  const size_t w = itemsize(dt);
  if (got.size() != static_cast<size_t>(want.size()) * w)
    return "size " + std::to_string(got.size()) + " bytes, expected " + want.aval().str();
  const char* ref = static_cast<const char*>(want.raw_data());
  const bool fl = is_floating(dt);
  for (int64_t e = 0; e < want.size(); ++e) {
    const char* g = got.data() + static_cast<size_t>(e) * w;
    const char* r = ref + static_cast<size_t>(e) * w;
    if (std::memcmp(g, r, w) == 0) continue;
    if (fl) {
      const double gv = as_double(dt, g), rv = as_double(dt, r);
      if (std::isnan(gv) && std::isnan(rv)) continue;
      if (!cmp.exact() && !std::isnan(gv) && !std::isnan(rv) && !(std::isinf(gv) || std::isinf(rv)) &&
          std::abs(gv - rv) <= cmp.atol + cmp.rtol * std::abs(rv))
        continue;
    }
    return "element " + index_str(e, want.shape()) + " of " + want.aval().str() + ": emulated CUDA " + show(dt, g) +
           ", CPU jit " + show(dt, r);
  }
  return "";
}

// ---- batches -----------------------------------------------------------------------------------------

/// Renders, compiles (one library for the batch) and runs every case; "" per case when it
/// matches the CPU jit in every layout.
std::vector<std::string> run_cases(std::vector<EmuCase>& cases, const std::string& tag) {
  std::string text;
  std::vector<std::string> sources;
  for (size_t i = 0; i < cases.size(); ++i) {
    EmuCase& c = cases[i];
    for (auto& st : c.program.steps)
      REQUIRE_MESSAGE(st.kind == jitc::Step::Kind::kernel,
                      c.name << ": a library call (only fused kernels are emulated):\n" << c.program.report);
    c.rendered = cudagen::render_program(c.program);
    REQUIRE(c.rendered.kernels.size() == c.program.kernels.size());
    std::string src = c.rendered.source;
    if (c.mutate) {
      std::string m = c.mutate(src);
      REQUIRE_MESSAGE(m != src, c.name << ": the mutation changed nothing");
      src = m;
    }
    // The renderer emits no dynamic shared memory; the header's rewrite would be needed for it.
    REQUIRE(src.find("extern __shared__") == std::string::npos);
    sources.push_back(src);
    text += "namespace jx_emu_program" + std::to_string(i) + " {\n" + src + "\n}\n";
  }
  EmuLibrary lib(text, tag);
  REQUIRE_MESSAGE(lib.ok(), "the rendered CUDA C++ does not compile on the host:\n" << lib.log());
  MESSAGE(tag << ": " << cases.size() << " programs compiled in " << lib.compile_seconds() << " s");
  std::vector<std::string> verdicts;
  for (size_t i = 0; i < cases.size(); ++i) {
    const EmuCase& c = cases[i];
    std::string verdict;
    std::vector<RunResult> runs;
    for (const Layout& lay : kLayouts) {
      runs.push_back(run_program(lib, c, sources[i], lay));
      if (!runs.back().error.empty()) {
        verdict = runs.back().error;
        break;
      }
    }
    if (verdict.empty()) {
      REQUIRE(runs[0].outs.size() == c.expected.size());
      for (size_t o = 0; o < c.expected.size() && verdict.empty(); ++o) {
        for (size_t k = 1; k < runs.size() && verdict.empty(); ++k) {
          std::string d = compare(runs[k].outs[o], c.expected[o], kExact);
          std::string d0 = compare(runs[0].outs[o], c.expected[o], kExact);
          if (runs[k].outs[o] != runs[0].outs[o] && !(d.empty() && d0.empty()))
            verdict = "output " + std::to_string(o) + " differs between runs (" + kLayouts[0].what + " / " +
                      kLayouts[k].what + "): " + (d0.empty() ? d : d0);
        }
        if (verdict.empty()) {
          std::string d = compare(runs[0].outs[o], c.expected[o], c.cmp);
          if (!d.empty()) verdict = "output " + std::to_string(o) + ": " + d;
        }
      }
      if (!verdict.empty()) verdict += "\n" + sources[i];
    }
    verdicts.push_back(verdict);
  }
  return verdicts;
}

/// Checks every case; returns the rendered sources (to check which launch shapes they cover).
std::string check_cases(std::vector<EmuCase> cases, const std::string& tag) {
  auto verdicts = run_cases(cases, tag);
  std::string all;
  for (size_t i = 0; i < cases.size(); ++i) {
    CHECK_MESSAGE(verdicts[i].empty(), cases[i].name << ": " << verdicts[i]);
    all += cases[i].rendered.source;
  }
  return all;
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// ---- inputs --------------------------------------------------------------------------------------------

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

/// Floats with NaNs, infinities, signed zeros and halves at fixed places.
Array with_specials(const Shape& shape, double lo, double hi, DType dt, unsigned seed) {
  auto v = uniform(shape, lo, hi, float64, seed).to_vector<double>();
  const double specials[] = {kNaN, kInf, -kInf, -0.0, 0.0, 2.5, -2.5, 0.5, -1.5, 1.0, -1.0};
  for (size_t i = 0; i < v.size(); i += 5) v[i] = specials[(i / 5) % 11];
  return array(v, shape).astype(dt);
}

/// Dyadic values k/4 with |k| <= 16: every sum of a few million of them is exact in float32.
Array dyadic(const Shape& shape, DType dt, unsigned seed) {
  return (floor(uniform(shape, -16, 17, float64, seed)) / 4.0).astype(dt);
}

/// Dyadic values with NaNs, infinities and signed zeros at every fifth place.
Array dyadic_specials(const Shape& shape, DType dt, unsigned seed) {
  auto v = dyadic(shape, float64, seed).to_vector<double>();
  const double specials[] = {kNaN, kInf, -kInf, -0.0, 0.0, 1.0, -kNaN};
  for (size_t i = 0; i < v.size(); i += 5) v[i] = specials[(i / 5 + seed) % 7];
  return array(v, shape).astype(dt);
}

/// +-1 with a few +-2 and +-0.5: products stay exact in any order.
Array unit_like(const Shape& shape, DType dt, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<double> v(static_cast<size_t>(shape_size(shape)));
  for (auto& e : v) {
    const unsigned r = gen() % 64;
    e = (r & 1 ? -1.0 : 1.0) * (r < 4 ? 2.0 : (r < 8 ? 0.5 : 1.0));
  }
  return array(v, shape).astype(dt);
}

Array ints(std::vector<int64_t> v, DType dt) { return array(v).astype(dt); }

Array prim_div(const Array& a, const Array& b) { return bind1(div_p, {a, b}); }
Array prim_rem(const Array& a, const Array& b) { return bind1(rem_p, {a, b}); }
Array prim_max(const Array& a, const Array& b) { return bind1(max_p, {a, b}); }
Array prim_min(const Array& a, const Array& b) { return bind1(min_p, {a, b}); }
Array reduce_and(const Array& x, std::vector<int64_t> axes) { return bind1(reduce_and_p, {x}, Params{{"axes", axes}}); }
Array reduce_or(const Array& x, std::vector<int64_t> axes) { return bind1(reduce_or_p, {x}, Params{{"axes", axes}}); }

}  // namespace

// ---- the emulator itself ---------------------------------------------------------------------------

namespace {

// Hand-written CUDA with known results (and kernels a GPU would hang on or compute garbage with).
const char* kSelfTestSource = R"CUDA(
// Warp primitives: every lane writes what it received.
extern "C" __global__ void shuffles(const int* in, int* out) {
  const int t = threadIdx.x, lane = t & 31;
  const int v = in[t];
  out[t * 8 + 0] = __shfl_down_sync(0xffffffffu, v, 3);
  out[t * 8 + 1] = __shfl_up_sync(0xffffffffu, v, 5, 16);
  out[t * 8 + 2] = __shfl_xor_sync(0xffffffffu, v, 6, 8);
  out[t * 8 + 3] = __shfl_sync(0xffffffffu, v, 37, 16);
  out[t * 8 + 4] = (int)__ballot_sync(0xffffffffu, v % 3 == 0);
  out[t * 8 + 5] = __any_sync(0xffffffffu, v == 7) + 2 * __all_sync(0xffffffffu, v >= 0);
  out[t * 8 + 6] = __syncthreads_count(v % 5 == 0);
  // Half-warp masks: lanes 0-15 and 16-31 shuffle separately.
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  out[t * 8 + 7] = (int)__shfl_down_sync(half, (double)v, 1, 16);
}
// A block reduction as the renderer writes them (shuffles, then shared memory across warps), in
// a grid-stride loop over rows; and a block-wide reversal through dynamic shared memory.
extern "C" __global__ void block_sum(const float* x, float* y, const int* n) {
  __shared__ float sh[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  for (int row = blockIdx.x; row < 5; row += gridDim.x) {
    float acc = 0.f;
    for (int i = threadIdx.x; i < *n; i += blockDim.x) acc += x[row * *n + i];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) sh[wid] = acc;
    __syncthreads();
    if (wid == 0) {
      acc = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.f;
      for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
      if (lane == 0) y[row] = acc;
    }
    __syncthreads();
  }
}
// The same without the barrier that ends each row: warp 0 may read the next row's partial sums.
extern "C" __global__ void block_sum_racy(const float* x, float* y, const int* n) {
  __shared__ float sh[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  for (int row = blockIdx.x; row < 5; row += gridDim.x) {
    float acc = 0.f;
    for (int i = threadIdx.x; i < *n; i += blockDim.x) acc += x[row * *n + i];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) sh[wid] = acc;
    __syncthreads();
    if (wid == 0) {
      acc = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.f;
      for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
      if (lane == 0) y[row] = acc;
    }
  }
}
extern "C" __global__ void reverse(const float* x, float* y) {
  extern __shared__ float d[];
  d[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  y[blockIdx.x * blockDim.x + threadIdx.x] = d[blockDim.x - 1 - threadIdx.x];
}
// The same without the barrier: a race, whose outcome depends on the schedule.
extern "C" __global__ void racy_reverse(const float* x, float* y) {
  extern __shared__ float d[];
  d[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
  y[blockIdx.x * blockDim.x + threadIdx.x] = d[blockDim.x - 1 - threadIdx.x];
}
// Shared memory read before any thread wrote it.
extern "C" __global__ void uninitialized(const float* x, float* y) {
  __shared__ float s[64];
  if (threadIdx.x < 32) s[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void divergent_barrier(const float* x, float* y) {
  if (threadIdx.x < 40) __syncthreads();
}
extern "C" __global__ void shuffle_after_exit(const float* x, float* y) {
  if (threadIdx.x == 3) return;
  y[threadIdx.x] = __shfl_down_sync(0xffffffffu, x[threadIdx.x], 1);
}
extern "C" __global__ void lane_outside_mask(const float* x, float* y) {
  y[threadIdx.x] = __shfl_down_sync(0x0000ffffu, x[threadIdx.x], 1);
}
extern "C" __global__ void read_past_end(const float* x, float* y) { y[threadIdx.x] = x[threadIdx.x + 1]; }
extern "C" __global__ void write_to_input(const float* x, float* y) { ((float*)x)[threadIdx.x] = 0.f; }
extern "C" __global__ void signed_overflow(const int* x, int* y) { y[threadIdx.x] = x[threadIdx.x] + 2147483647; }
extern "C" __global__ void shared_out_of_bounds(const int* x, int* y) {
  __shared__ int s[32];
  s[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = s[(threadIdx.x + 1) % 32];
}
extern "C" __global__ void float_cast_overflow(const float* x, int* y) { y[threadIdx.x] = (int)(x[threadIdx.x] * 1e10f); }
extern "C" __global__ void device_math(const float* x, float* y) {
  const float v = x[threadIdx.x];
  y[threadIdx.x * 4 + 0] = max(v, __uint_as_float(0x7fc00000u));  // CUDA's max(float, float) is fmaxf
  y[threadIdx.x * 4 + 1] = (float)max(-1, 2u);                     // mixed signedness: unsigned
  y[threadIdx.x * 4 + 2] = (float)__float2int_rz(v * 1e10f);      // saturating
  y[threadIdx.x * 4 + 3] = (float)__clzll(0) + (float)__popc(0xf0f0u);
}
)CUDA";

std::string rewrite_extern_shared(std::string s) {
  const std::string from = "extern __shared__ float d[];", to = "JXEMU_EXTERN_SHARED(float, d);";
  for (size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, from.size(), to);
  return s;
}

struct SelfTest {
  EmuLibrary lib{rewrite_extern_shared(kSelfTestSource), "self"};
  std::string launch(const char* name, std::vector<void*> args, unsigned grid, unsigned block, unsigned shared = 0,
                     int schedule = 0, unsigned char poison = 0xff, int warp_ahead = 0) {
    JxemuLaunch l;
    l.fn = lib.symbol(name);
    REQUIRE(l.fn);
    l.nargs = static_cast<int>(args.size());
    l.args = args.data();
    l.grid[0] = grid, l.block[0] = block, l.shared_bytes = shared, l.schedule = schedule, l.poison = poison;
    l.warp_ahead = warp_ahead;
    JxemuResult r{};
    return lib.launch(l, r) == 0 ? "" : std::string(r.message) + lib.source_line(r.fault_pc);
  }
};

}  // namespace

TEST_CASE("cuda emulator: warp shuffles, votes and block barriers follow CUDA's semantics") {
  SelfTest t;
  REQUIRE_MESSAGE(t.lib.ok(), t.lib.log());
  const int n = 64;
  std::vector<int> in(n), out(n * 8, -1);
  for (int i = 0; i < n; ++i) in[i] = (i * 7 + 3) % 23;
  for (int schedule : {0, 1, 2}) {
    std::fill(out.begin(), out.end(), -1);
    REQUIRE(t.launch("shuffles", {in.data(), out.data()}, 1, n, 0, schedule) == "");
    int count5 = 0;
    for (int i = 0; i < n; ++i) count5 += in[i] % 5 == 0;
    for (int t_ = 0; t_ < n; ++t_) {
      CAPTURE(t_);
      const int lane = t_ & 31, w = t_ - lane;
      auto at = [&](int l) { return in[w + l]; };
      CHECK(out[t_ * 8 + 0] == (lane + 3 < 32 ? at(lane + 3) : at(lane)));
      CHECK(out[t_ * 8 + 1] == ((lane & 15) >= 5 ? at(lane - 5) : at(lane)));
      CHECK(out[t_ * 8 + 2] == at(lane ^ 6));
      CHECK(out[t_ * 8 + 3] == at((lane & 16) + (37 % 16)));
      unsigned ballot = 0;
      bool any7 = false, all_pos = true;
      for (int l = 0; l < 32; ++l) ballot |= (at(l) % 3 == 0 ? 1u : 0u) << l, any7 |= at(l) == 7, all_pos &= at(l) >= 0;
      CHECK(static_cast<unsigned>(out[t_ * 8 + 4]) == ballot);
      CHECK(out[t_ * 8 + 5] == int(any7) + 2 * int(all_pos));
      CHECK(out[t_ * 8 + 6] == count5);
      CHECK(out[t_ * 8 + 7] == ((lane & 15) + 1 < 16 ? at(lane + 1) : at(lane)));
    }
  }
  // A block reduction in a grid-stride loop: every grid, every schedule.
  const int cols = 1000;
  std::vector<float> x(5 * cols), y(5);
  for (int i = 0; i < 5 * cols; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i * 13) % 17) - 8.0f;
  int ncols = cols;
  std::vector<float> want(5, 0.0f);
  for (int r = 0; r < 5; ++r)
    for (int i = 0; i < cols; ++i) want[static_cast<size_t>(r)] += x[static_cast<size_t>(r * cols + i)];
  for (unsigned grid : {1u, 2u, 5u, 7u})
    for (int schedule : {0, 1, 2})
      for (int ahead : {0, 1}) {
        std::fill(y.begin(), y.end(), -1.0f);
        REQUIRE(t.launch("block_sum", {x.data(), y.data(), &ncols}, grid, 256, 0, schedule, 0xff, ahead) == "");
        CHECK(y == want);
      }
  // Without the barrier at the end of each row, threads advancing together still get the right
  // sums; warps running ahead expose the race.
  REQUIRE(t.launch("block_sum_racy", {x.data(), y.data(), &ncols}, 1, 256, 0, 0, 0xff, 0) == "");
  CHECK(y == want);
  REQUIRE(t.launch("block_sum_racy", {x.data(), y.data(), &ncols}, 1, 256, 0, 1, 0xff, 1) == "");
  CHECK(y != want);
  // Dynamic shared memory; the race without the barrier gives different results per schedule.
  std::vector<float> a(128), b(128), c(128);
  for (int i = 0; i < 128; ++i) a[static_cast<size_t>(i)] = static_cast<float>(i);
  REQUIRE(t.launch("reverse", {a.data(), b.data()}, 2, 64, 64 * 4, 1) == "");
  for (int i = 0; i < 128; ++i) CHECK(b[static_cast<size_t>(i)] == a[static_cast<size_t>((i / 64) * 64 + 63 - i % 64)]);
  REQUIRE(t.launch("racy_reverse", {a.data(), b.data()}, 2, 64, 64 * 4, 0) == "");
  REQUIRE(t.launch("racy_reverse", {a.data(), c.data()}, 2, 64, 64 * 4, 1) == "");
  CHECK(b != c);
  // Shared memory is poisoned at each block's start.
  REQUIRE(t.launch("uninitialized", {a.data(), b.data()}, 1, 64, 0, 0, 0xff) == "");
  CHECK(b[10] == 10.0f);
  CHECK(std::isnan(b[40]));
  // CUDA's device functions.
  std::vector<float> v = {1.5f, -2.0f, 1e30f, -1e30f}, m(16);
  REQUIRE(t.launch("device_math", {v.data(), m.data()}, 1, 4) == "");
  CHECK(m[0] == 1.5f);
  CHECK(m[1] == 4294967295.0f);
  CHECK(m[2] == 2147483647.0f);
  CHECK(m[6] == -2147483648.0f);
  CHECK(m[3] == 72.0f);
}

TEST_CASE("cuda emulator: hangs, races on barriers, bad memory accesses and undefined behavior are errors") {
  SelfTest t;
  REQUIRE(t.lib.ok());
  std::vector<float> x(64, 1.0f), y(64);
  std::vector<int> xi(64, 5), yi(64);
  CHECK(t.launch("divergent_barrier", {x.data(), y.data()}, 1, 64).find("__syncthreads reached by 40 threads") != std::string::npos);
  CHECK(t.launch("shuffle_after_exit", {x.data(), y.data()}, 1, 32).find("lane 3 of mask 0xffffffff has exited") != std::string::npos);
  CHECK(t.launch("lane_outside_mask", {x.data(), y.data()}, 1, 32).find("does not include the calling lane 16") != std::string::npos);
  CHECK(t.launch("signed_overflow", {xi.data(), yi.data()}, 1, 32).find("undefined behavior") != std::string::npos);
  CHECK(t.launch("float_cast_overflow", {x.data(), yi.data()}, 1, 32).find("x[threadIdx.x] * 1e10f") != std::string::npos);
  CHECK(t.launch("shared_out_of_bounds", {xi.data(), yi.data()}, 1, 64).find("undefined behavior") != std::string::npos);
  // Guard pages (as the program runner places buffers).
  Guarded in(64 * 4, true, 0), out(64 * 4, true, 0);
  in.make_readonly();
  std::string e = t.launch("read_past_end", {in.data(), out.data()}, 1, 64);
  CHECK(e.find("memory fault") != std::string::npos);
  e = t.launch("write_to_input", {in.data(), out.data()}, 1, 64);
  CHECK(e.find("memory fault") != std::string::npos);
  // The emulator still works after a crash.
  CHECK(t.launch("reverse", {x.data(), y.data()}, 1, 64, 256) == "");
}

// ---- the renderer's kernels ----------------------------------------------------------------------

TEST_CASE("cuda emulation: the harness fails when a rendered kernel computes something wrong") {
  // Mutations of correct kernels: each must be reported (wrong values, or an emulator error).
  auto rows = [](const Array& x) { return std::tuple{sum(x, {1}), max(x * 2.0f, {1})}; };
  auto cols = [](const Array& x) { return sum(x, {0}); };
  auto ew = [](const Array& x, const Array& y) { return x * y + transpose(y); };
  auto replace = [](std::string from, std::string to) {
    return [from, to](const std::string& s) {
      std::string r = s;
      const size_t at = r.find(from);
      if (at != std::string::npos) r.replace(at, from.size(), to);
      return r;
    };
  };
  Array xb = dyadic({5, 3000}, float32, 1), xg = dyadic({40, 100}, float32, 2), xc = dyadic({100, 70}, float32, 3);
  Array a = dyadic({6, 6}, float32, 4), b = dyadic({6, 6}, float32, 5);
  std::vector<EmuCase> cases;
  auto add = [&](const std::string& name, EmuCase c, std::function<std::string(const std::string&)> m) {
    c.mutate = std::move(m);
    cases.push_back(std::move(c));
  };
  add("no_block_barrier", make_case("mut_block", kExact, rows, xb), replace("__syncthreads();", ""));
  add("short_shuffle_tree", make_case("mut_tree", kExact, rows, xb), replace("off = 16", "off = 8"));
  add("no_barrier_between_rows", make_case("mut_rows_barrier", kExact, [](const Array& x) { return sum(x, {1}); }, xb),
      [](const std::string& s) {
    std::string r = s;
    const size_t at = r.rfind("__syncthreads();");
    if (at != std::string::npos) r.erase(at, std::string("__syncthreads();").size());
    return r;
  });
  add("group_stride", make_case("mut_group", kExact, rows, xg), replace("r += 16", "r += 32"));
  add("column_rows", make_case("mut_cols", kExact, cols, xc), replace("if (ty < 8)", "if (ty < 4)"));
  add("transpose_index", make_case("mut_ew", kExact, ew, a, b), [](const std::string& s) {
    std::string r = s;
    const size_t at = r.find(" * 6");
    if (at != std::string::npos) r.replace(at, 4, " * 5");
    return r;
  });
  add("bound", make_case("mut_bound", kExact, ew, a, b), replace("< 36", "< 37"));
  auto verdicts = run_cases(cases, "mutations");
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].name);
    CHECK_FALSE(verdicts[i].empty());
    if (std::getenv("JX_EMU_VERBOSE")) MESSAGE(cases[i].name << ": " << verdicts[i].substr(0, verdicts[i].find('\n')));
  }
}

namespace {

// Elementwise programs over every pair of `a` (rows) and `b` (columns): broadcasts included.
Array rows_of(const Array& a, int64_t n) { return lax::broadcast_in_dim(a, {a.shape()[0], n}, {0}); }
Array cols_of(const Array& b, int64_t m) { return lax::broadcast_in_dim(b, {m, b.shape()[0]}, {1}); }

}  // namespace

TEST_CASE("cuda emulation: float elementwise operations and special values, bit for bit") {
  auto exact = [](const Array& a0, const Array& b0) {
    Array x = rows_of(a0, b0.shape()[0]), y = cols_of(b0, a0.shape()[0]);
    Array one = ones_like(x);
    return std::tuple{x + y, x - y, x * y, x / y, prim_rem(x, y), -x, abs(x), square(x), sqrt(abs(x)),
                      prim_max(x, y), prim_min(x, y), prim_max(y, x), prim_min(y, x), x == y, x != y, x < y,
                      x <= y, x > y, x >= y, where(x > y, x, y), sign(x), floor(x), ceil(x), round(x),
                      bind1(round_p, {x}, Params{{"rounding_method", int64_t{1}}}), isfinite(x),
                      lax::integer_pow(x, 3), lax::integer_pow(x, -2), lax::integer_pow(x, 0), one / x,
                      lax::select(x < 0.5 * one, -y, x)};
  };
  std::vector<EmuCase> cases;
  for (DType dt : {float32, float64}) {
    const std::string n = dtype_name(dt);
    Array a = with_specials({23}, -4, 4, dt, 1), b = with_specials({19}, -4, 4, dt, 2);
    cases.push_back(make_case("exact_" + n, kExact, exact, a, b));
    // Subnormals and values near overflow.
    const double tiny = dt == float32 ? 1e-41 : 1e-310, big = dt == float32 ? 3e38 : 1.7e308;
    Array c = array(std::vector<double>{tiny, -tiny, big, -big, 1.0, -0.0, 0.0, kNaN, 2 * tiny, 0.75}).astype(dt);
    cases.push_back(make_case("extremes_" + n, kExact, exact, c, c));
  }
  check_cases(std::move(cases), "float_exact");
}

TEST_CASE("cuda emulation: float transcendental functions within tolerance (host libm)") {
  auto f = [](const Array& x, const Array& y) {
    return std::tuple{exp(x), log(abs(x)), log1p(abs(x)), expm1(x), sin(x), cos(x), tan(x), tanh(x), sinh(x),
                      cosh(x), arcsin(x / 5.0), arccos(x / 5.0), arctan(x), erf(x), sigmoid(x), rsqrt(abs(x)),
                      power(abs(x), y), arctan2(x, y), power(x, y), exp(x * 30.0), sigmoid(x * 40.0)};
  };
  std::vector<EmuCase> cases;
  cases.push_back(make_case("math_f32", Cmp{4e-6, 1e-6}, f, with_specials({97}, -4, 4, float32, 3),
                            with_specials({97}, -3, 3, float32, 4)));
  cases.push_back(make_case("math_f64", Cmp{1e-13, 1e-14}, f, with_specials({97}, -4, 4, float64, 5),
                            with_specials({97}, -3, 3, float64, 6)));
  check_cases(std::move(cases), "float_math");
}

TEST_CASE("cuda emulation: integer arithmetic wraps, division by zero and shifts past the width, bit for bit") {
  auto f = [](const Array& a0, const Array& b0) {
    Array x = rows_of(a0, b0.shape()[0]), y = cols_of(b0, a0.shape()[0]);
    return std::tuple{x + y, x - y, x * y, prim_div(x, y), prim_rem(x, y), floor_divide(x, y), mod(x, y),
                      prim_max(x, y), prim_min(x, y), x == y, x < y, x >= y, logical_and(x, y), logical_or(x, y),
                      bitwise_xor(x, y), logical_not(x), lax::shift_left(x, y), lax::shift_right_logical(x, y),
                      lax::shift_right_arithmetic(x, y), -x, abs(x), sign(x), square(x), lax::integer_pow(x, 3),
                      where(x > y, x, y)};
  };
  auto conv = [](const Array& x) {
    return std::tuple{x.astype(int32), x.astype(uint32), x.astype(int64), x.astype(float32), x.astype(float64),
                      x.astype(bool_)};
  };
  const int64_t i32min = std::numeric_limits<int32_t>::min(), i32max = std::numeric_limits<int32_t>::max();
  const int64_t i64min = std::numeric_limits<int64_t>::min(), i64max = std::numeric_limits<int64_t>::max();
  Array a32 = ints({i32min, i32min + 1, -100, -33, -7, -2, -1, 0, 1, 2, 5, 31, 32, 33, 100, 65535, i32max - 1, i32max}, int32);
  Array b32 = ints({i32min, -33, -32, -7, -1, 0, 1, 2, 3, 7, 31, 32, 33, 64, i32max}, int32);
  Array au = ints({0, 1, 2, 7, 31, 32, 33, 100, 0x7fffffff, 0x80000000LL, 0x80000001LL, 0xfffffffeLL, 0xffffffffLL, 16777217}, uint32);
  Array bu = ints({0, 1, 3, 31, 32, 33, 0x80000000LL, 0xffffffffLL}, uint32);
  Array a64 = ints({i64min, i64min + 1, -(int64_t{1} << 40) - 3, -7, -1, 0, 1, 7, (int64_t{1} << 40) + 3, (int64_t{1} << 53) + 1, i64max - 1, i64max}, int64);
  Array b64 = ints({i64min, -65, -64, -63, -1, 0, 1, 3, 31, 32, 63, 64, 65, i64max}, int64);
  std::vector<EmuCase> cases;
  cases.push_back(make_case("int32", kExact, f, a32, b32));
  cases.push_back(make_case("uint32", kExact, f, au, bu));
  cases.push_back(make_case("int64", kExact, f, a64, b64));
  cases.push_back(make_case("conv_int32", kExact, conv, a32));
  cases.push_back(make_case("conv_uint32", kExact, conv, au));
  cases.push_back(make_case("conv_int64", kExact, conv, a64));
  // Integer reinterpretations and the bool dtype.
  auto bits = [](const Array& x, const Array& u, const Array& d) {
    return std::tuple{lax::bitcast_convert_type(x, int32), lax::bitcast_convert_type(x, uint32),
                      lax::bitcast_convert_type(lax::bitcast_convert_type(x, int32), float32),
                      lax::bitcast_convert_type(u, float32), lax::bitcast_convert_type(u, int32),
                      lax::bitcast_convert_type(d, int64),
                      lax::bitcast_convert_type(lax::bitcast_convert_type(d, int64) + int64_t{1}, float64)};
  };
  cases.push_back(make_case("bitcast", kExact, bits, with_specials({17}, -1e3, 1e3, float32, 7),
                            ints({0, 1, 0x7f800000LL, 0x7fc00001LL, 0x80000000LL, 0xffffffffLL, 0x3f800000LL}, uint32),
                            with_specials({9}, -1e300, 1e300, float64, 8)));
  auto bools = [](const Array& a0, const Array& b0) {
    Array x = rows_of(a0, b0.shape()[0]), y = cols_of(b0, a0.shape()[0]);
    return std::tuple{x && y, x || y, bitwise_xor(x, y), !x, x == y, x != y, x < y, x >= y, where(x, y, !y),
                      x.astype(int32) + y.astype(int32), x.astype(float32) * 2.0f, prim_max(x, y), prim_min(x, y)};
  };
  Array ba = array(std::vector<int32_t>{0, 1, 1, 0, 1}) > 0, bb = array(std::vector<int32_t>{1, 0, 1}) > 0;
  cases.push_back(make_case("bool", kExact, bools, ba, bb));
  // n-way selects on an int32 index (out-of-range indices clamp).
  auto sel = [](const Array& i, const Array& x) {
    return bind1(select_n_p, {i, x, x * 2.0f, x * 3.0f});
  };
  cases.push_back(make_case("select_n", kExact, sel, ints({-5, 0, 1, 2, 3, 100, 1}, int32), dyadic({7}, float32, 9)));
  check_cases(std::move(cases), "integers");
}

TEST_CASE("cuda emulation: literals of every dtype, special values included") {
  auto f = [](const Array& x, const Array& d, const Array& i, const Array& l, const Array& u) {
    const double inf = std::numeric_limits<double>::infinity();
    return std::tuple{x * scalar(-0.0, float32), where(x > 0.0f, scalar(inf, float32), scalar(-inf, float32)),
                      x + scalar(1e-45, float32), x * scalar(3.4028234663852886e38, float32),
                      d * scalar(-0.0, float64), d + scalar(4.9406564584124654e-324, float64),
                      where(d > 0.0, scalar(-inf, float64), scalar(0.1, float64)),
                      i + Array(std::numeric_limits<int32_t>::min()), bitwise_xor(i, Array(std::numeric_limits<int32_t>::max())),
                      l + Array(std::numeric_limits<int64_t>::min()), l * Array(int64_t{6000000000}),
                      bitwise_xor(l, Array(std::numeric_limits<int64_t>::max())), u + Array(4000000000u),
                      u * Array(3u), maximum(x, scalar(-inf, float32)), d > scalar(1e300, float64),
                      x / scalar(0.0, float32), d / scalar(-0.0, float64), prim_div(i, scalar(0, int32)),
                      prim_rem(l, scalar(0, int64)), prim_div(u, scalar(0, uint32)), prim_rem(x, scalar(0.0, float32))};
  };
  std::vector<EmuCase> cases;
  cases.push_back(make_case("literals", kExact, f, with_specials({13}, -3, 3, float32, 17),
                            with_specials({13}, -3, 3, float64, 18), ints({-5, 0, 7, 2147483647}, int32),
                            ints({-5, 0, 7, std::numeric_limits<int64_t>::max()}, int64), ints({0, 1, 300000000}, uint32)));
  check_cases(std::move(cases), "literals");
}

TEST_CASE("cuda emulation: float to integer conversions saturate, NaN converts to 0") {
  auto conv = [](const Array& x) {
    return std::tuple{x.astype(int32), x.astype(uint32), x.astype(int64), x.astype(bool_), x.astype(float32),
                      x.astype(float64)};
  };
  const std::vector<double> v = {kNaN, kInf, -kInf, 3e9, -3e9, 2147483647.0, 2147483648.0, -2147483648.0,
                                 -2147483649.0, 2147483520.0, 4294967295.0, 4294967296.0, 4294967040.0, 4.3e9,
                                 1e19, 9.3e18, -9.3e18, 9223372036854775807.0, -9223372036854775808.0,
                                 9223372036854774784.0, -0.5, 0.5, -1.5, 1.5, -0.0, 1e-40, -0.99, 0.99, 1e39,
                                 -1e39, 1e-50, 16777217.0, 3.4028235677973366e38};
  std::vector<EmuCase> cases;
  cases.push_back(make_case("from_f32", kExact, conv, array(v).astype(float32)));
  cases.push_back(make_case("from_f64", kExact, conv, array(v)));
  check_cases(std::move(cases), "conversions");
}

TEST_CASE("cuda emulation: float16 and bfloat16 kernels (bit for bit; long sums and transcendentals within ulps)") {
  std::vector<EmuCase> cases;
  for (DType dt : {float16, bfloat16}) {
    const std::string n = dtype_name(dt);
    Array a = with_specials({29}, -300, 300, dt, 10), b = with_specials({31}, -2, 2, dt, 11);
    auto f = [](const Array& a0, const Array& b0) {
      Array x = rows_of(a0, b0.shape()[0]), y = cols_of(b0, a0.shape()[0]);
      return std::tuple{x + y, x * y, x / y, x - y * 3.0, prim_max(x, y), prim_min(x, y), -x, abs(x), x < y,
                        where(x < y, x, y), x.astype(float32), x.astype(float64) * 1.0000001, x.astype(int32),
                        x.astype(uint32), x.astype(int64), sqrt(abs(x)), floor(x), round(x), sign(x),
                        lax::integer_pow(y, 3)};
    };
    cases.push_back(make_case("half_" + n, kExact, f, a, b));
    auto from = [dt](const Array& f32, const Array& f64, const Array& i32, const Array& i64) {
      return std::tuple{f32.astype(dt), f64.astype(dt), i32.astype(dt), i64.astype(dt)};
    };
    cases.push_back(make_case("to_" + n, kExact, from, uniform({64}, -7e4, 7e4, float32, 12),
                              with_specials({64}, -7e4, 7e4, float64, 13),
                              ints({0, 1, -1, 2049, 65519, 65520, 100000, -70000, 16777217}, int32),
                              ints({std::numeric_limits<int64_t>::min(), (int64_t{1} << 60) + 1, 4097, -4097}, int64)));
    Array q = dyadic({37, 45}, dt, 14);
    auto red = [](const Array& x) { return std::tuple{sum(x, {1}), sum(x, {0}), max(x, {1}), min(x, {0}), sum(x)}; };
    cases.push_back(make_case("reduce_" + n, kExact, red, q));
    // Sums of values with all their bits accumulate in float (not rounded to 16 bits at each
    // step): 2 ulps of the format, where rounding at each of the 3000 additions would be far off.
    const double ulp = dt == float16 ? 1.0 / 1024 : 1.0 / 128;
    auto long_sums = [](const Array& x) { return std::tuple{sum(x, {1}), sum(x * x, {0}), sum(x)}; };
    cases.push_back(make_case("sums_" + n, Cmp{2 * ulp, 1e-3}, long_sums, uniform({7, 3000}, 0, 1, dt, 15)));
    // Transcendentals: the host libm against the CPU's vector math, then one rounding to 16 bits.
    auto math = [](const Array& x) { return std::tuple{exp(x), log(abs(x)), sin(x), tanh(x), erf(x), sigmoid(x), rsqrt(abs(x))}; };
    cases.push_back(make_case("math_" + n, Cmp{ulp, 1e-4}, math, with_specials({200}, -5, 5, dt, 16)));
  }
  check_cases(std::move(cases), "half");
}

TEST_CASE("cuda emulation: broadcasts, transposes, reshapes, slices, pads, concatenations, reversals, iotas") {
  auto f = [](const Array& x, const Array& y, const Array& v) {
    Array t = transpose(y, {2, 0, 1}) * 2.0f + v;  // [4,3,5] -> [5,4,3] + v[3]
    Array s = lax::slice(x, {1, 0, 1}, {4, 4, 5}, {2, 3, 2});
    Array p = lax::pad(x + 1.0f, Array(0.5f), {{1, 2, 1}, {-1, 3, 0}, {0, -2, 2}});
    Array c = concatenate({x, x * 2.0f, lax::slice(x, {0, 0, 0}, {4, 1, 5})}, 1);
    Array r = lax::rev(x, {0, 2}) + lax::rev(x, {1});
    Array i = lax::iota(float32, {4, 4, 5}, 2) + lax::iota(float32, {4, 4, 5}, 0) * 10.0f + x;
    Array m = reshape(x * 3.0f, {5, 16}) + 1.0f;
    Array q = reshape(transpose(x, {1, 0, 2}) + 1.0f, {16, 5});
    Array e = expand_dims(sum(x, {1}), {1}) + x;
    return std::tuple{t, s * 2.0f, p * 2.0f, c + 1.0f, r, i, m, q, broadcast_to(v, {2, 5, 3}) * 2.0f,
                      squeeze(lax::slice(x, {0, 2, 0}, {4, 3, 5}), {1}) - 1.0f, e};
  };
  auto iotas = [](const Array& x) {
    return std::tuple{lax::iota(int32, {3, 70}, 1) + x.astype(int32), lax::iota(uint32, {3, 70}, 0),
                      lax::iota(int64, {3, 70}, 1) * int64_t{3}, lax::iota(float64, {3, 70}, 1) / 3.0};
  };
  auto dyn = [](const Array& x, const Array& i, const Array& j) {
    Array d = lax::dynamic_slice(x, {i, j}, {3, 4}) * 2.0f;
    Array u = lax::dynamic_update_slice(x, d + 100.0f, {j, i}) + 1.0f;
    Array w = lax::dynamic_update_slice(x, lax::slice(x, {0, 0}, {1, 7}) * 5.0f, {i, Array(0)});
    return std::tuple{d, u, w};
  };
  std::vector<EmuCase> cases;
  cases.push_back(make_case("shapes", kExact, f, dyadic({4, 4, 5}, float32, 15), dyadic({4, 3, 5}, float32, 16),
                            dyadic({3}, float32, 17)));
  cases.push_back(make_case("iotas", kExact, iotas, dyadic({3, 70}, float32, 18)));
  // Start indices in range, clamped from below and above, in int32 and int64.
  Array x = dyadic({6, 7}, float32, 19);
  int k = 0;
  for (auto [i, j] : {std::pair{1, 2}, std::pair{-5, 100}, std::pair{100, -1}, std::pair{3, 3}})
    cases.push_back(make_case("dynamic" + std::to_string(k++), kExact, dyn, x, Array(i), Array(j)));
  cases.push_back(make_case("dynamic64", kExact, dyn, x, Array(int64_t{-9}), Array(int64_t{4})));
  check_cases(std::move(cases), "shapes");
}

TEST_CASE("cuda emulation: row reductions of every launch shape (thread, lane groups, block, blocks)") {
  // Exact sums of dyadic values, products of +-1/2/0.5, max/min and a domain-shaped side output
  // in one kernel; extents that are not multiples of 32.
  // (max and min of values that are all distinct: a wrong index changes the result.)
  auto rows = [](const Array& x, const Array& u, const Array& w) {
    Array z = x * 2.0f + 1.0f;
    Array zw = z + w;
    return std::tuple{z, sum(z, {1}), max(zw, {1}), min(zw, {1}), min(w, {1}), prod(u, {1})};
  };
  std::vector<EmuCase> cases;
  // thread (R < 8), groups of 8 (R < 64), 16 (R < 256), 32 (R < 1024), a block of 256 / 512
  // threads, several blocks per output (M <= 32, R >= 65536).
  const Shape shapes[] = {{70, 1}, {70, 5}, {50, 20}, {40, 100}, {33, 700}, {5, 3000}, {3, 20000}, {2, 65536 + 37},
                          {1, 100003}};
  for (const Shape& s : shapes)
    cases.push_back(make_case("rows_" + std::to_string(s[0]) + "x" + std::to_string(s[1]), kExact, rows,
                              dyadic(s, float32, 20), unit_like(s, float32, 21), uniform(s, -1, 1, float32, 22)));
  // Reductions to a scalar, several trailing axes.
  cases.push_back(make_case("all_axes", kExact, [](const Array& x, const Array& w) { return std::tuple{sum(x), max(w), min(x + w)}; },
                            dyadic({300, 401}, float32, 22), uniform({300, 401}, -1, 1, float32, 23)));
  cases.push_back(make_case("trailing2", kExact,
                            [](const Array& x, const Array& w) { return std::tuple{sum(x * x, {1, 2}), max(x + w, {1, 2})}; },
                            dyadic({7, 30, 41}, float32, 23), uniform({7, 30, 41}, -1, 1, float32, 24)));
  // NaNs propagate through max and min, float64.
  Array n = dyadic_specials({40, 50}, float64, 24);
  cases.push_back(make_case("nan_rows", kExact, [](const Array& x) { return std::tuple{max(x, {1}), min(x, {1}), sum(x, {1})}; }, n));
  // Floating sums of random values: reassociated, within tolerance.
  cases.push_back(make_case("random_sums", Cmp{1e-5, 1e-4}, [](const Array& x) { return std::tuple{sum(x, {1}), sum(exp(x), {1})}; },
                            uniform({6, 5000}, -1, 1, float32, 25)));
  // Index maps and branches inside the reduced loop: transposes, broadcasts, pads, concatenations
  // and dynamic slices feeding several reductions of one kernel.
  auto mapped = [](const Array& x, const Array& y, const Array& v, const Array& i) {
    Array t = transpose(y) * v;                                    // [40,70]
    Array p = lax::pad(x, Array(-0.25f), {{0, 0, 0}, {3, 2, 1}});  // [40,144]
    Array c = concatenate({x, lax::rev(x, {1}) * 2.0f}, 1);         // [40,140]
    Array d = lax::dynamic_slice(c, {Array(0), i}, {40, 100});
    return std::tuple{sum(t, {1}), max(t * 2.0f, {1}), sum(p, {1}), min(p, {1}), sum(p * p, {1}), sum(c, {1}),
                      max(c, {1}), sum(d, {1}), max(d, {1}), sum(t, {0}), sum(p, {0}), max(c, {0}), sum(d, {0})};
  };
  Array mx = dyadic({40, 70}, float32, 40), my = dyadic({70, 40}, float32, 41), mv = dyadic({70}, float32, 42);
  for (int i : {17, -3, 1000}) cases.push_back(make_case("mapped" + std::to_string(i + 3), kExact, mapped, mx, my, mv, Array(i)));
  const std::string src = check_cases(std::move(cases), "rows");
  CHECK(has(src, "a thread per output"));
  CHECK(has(src, "const ix sub = lane % 8;"));
  CHECK(has(src, "const ix sub = lane % 16;"));
  CHECK(has(src, "const ix sub = lane % 32;"));
  CHECK(has(src, "a block per output (warp shuffles + shared memory); grid (5,1,1), block (256,1,1)"));
  CHECK(has(src, "block (512,1,1)\nextern"));
  CHECK(has(src, "several blocks per output"));
}

TEST_CASE("cuda emulation: the kernels' index code with 64-bit indices (as rendered for domains past 2^31)") {
  // Domains that need 64-bit indices are too big to emulate: the same kernels with the wide
  // index types the renderer declares for them (every index expression goes through ix/ux).
  auto wide = [](const std::string& src) {
    std::string r = src;
    const std::string from = "typedef int ix;\n  typedef unsigned ux;", to = "typedef long long ix;\n  typedef unsigned long long ux;";
    for (size_t at; (at = r.find(from)) != std::string::npos;) r.replace(at, from.size(), to);
    return r;
  };
  auto rows = [](const Array& x) { return std::tuple{sum(x, {1}), max(x * 2.0f, {1}), x + 1.0f}; };
  auto cols = [](const Array& x) { return std::tuple{sum(x, {0}), min(x, {0})}; };
  auto shapes = [](const Array& x, const Array& i) {
    Array p = lax::pad(x, Array(0.5f), {{2, -1, 1}, {1, 3, 0}});
    Array c = concatenate({transpose(x), lax::rev(transpose(x), {0})}, 1);
    Array d = lax::dynamic_update_slice(x, lax::dynamic_slice(x, {i, i}, {2, 3}) * 2.0f, {i, Array(1)});
    return std::tuple{p, c, d, lax::slice(x, {1, 0}, {6, 7}, {2, 3}), reshape(transpose(x), {7, 6})};
  };
  std::vector<EmuCase> cases;
  for (const Shape& s : {Shape{70, 5}, Shape{50, 20}, Shape{33, 700}, Shape{5, 3000}, Shape{2, 70000}}) {
    cases.push_back(make_case("wide_rows" + std::to_string(s[1]), kExact, rows, dyadic(s, float32, 50)));
    cases.back().mutate = wide;
  }
  cases.push_back(make_case("wide_cols", kExact, cols, dyadic({300, 70}, float32, 51)));
  cases.back().mutate = wide;
  cases.push_back(make_case("wide_shapes", kExact, shapes, dyadic({6, 7}, float32, 52), Array(2)));
  cases.back().mutate = wide;
  check_cases(std::move(cases), "wide");
}

TEST_CASE("cuda emulation: integer and bool reductions (sum, prod, max, min, and, or) in every strategy") {
  auto f = [](const Array& i, const Array& u, const Array& l, const Array& b) {
    return std::tuple{sum(i, {1}), prod(i, {1}), max(i, {1}), min(i, {1}), reduce_and(i, {1}), reduce_or(i, {1}),
                      sum(u, {1}), max(u, {1}), min(u, {1}), reduce_and(u, {1}), sum(l, {1}), max(l, {1}),
                      min(l, {1}), prod(l, {1}), any(b, {1}), all(b, {1}), sum(b, {1}), reduce_or(l, {1})};
  };
  std::vector<EmuCase> cases;
  for (const Shape& s : {Shape{9, 3}, Shape{33, 50}, Shape{20, 200}, Shape{6, 900}, Shape{3, 5000}, Shape{2, 70000}}) {
    std::mt19937_64 gen(s[1]);
    std::vector<int64_t> v(static_cast<size_t>(shape_size(s)));
    for (auto& e : v) e = static_cast<int64_t>(gen());
    Array big = array(v, s);
    Array i = big.astype(int32), u = big.astype(uint32), l = big;
    // Booleans mostly true: some rows all true, some with one false.
    Array b = lax::iota(int32, s, 1) != mod(lax::iota(int32, s, 0) * 7, Array(static_cast<int32_t>(s[1] + 3)));
    cases.push_back(make_case("ints_" + std::to_string(s[1]), kExact, f, i, u, l, b));
  }
  check_cases(std::move(cases), "int_reductions");
}

TEST_CASE("cuda emulation: column reductions (2-D blocks) and reductions over leading and middle axes") {
  auto cols = [](const Array& x, const Array& u, const Array& w) {
    return std::tuple{sum(x * 3.0f, {0}), max(w, {0}), min(w + x, {0}), prod(u, {0}), x - 1.0f};
  };
  std::vector<EmuCase> cases;
  // 8, 16 and 32 rows per block; few outputs (not columns); many tiles.
  for (const Shape& s : {Shape{20, 100}, Shape{100, 70}, Shape{600, 40}, Shape{3000, 5}, Shape{4, 40}, Shape{70, 4100},
                         Shape{1, 33}, Shape{300, 31}})
    cases.push_back(make_case("cols_" + std::to_string(s[0]) + "x" + std::to_string(s[1]), kExact, cols,
                              dyadic(s, float32, 26), unit_like(s, float32, 27), uniform(s, -1, 1, float32, 28)));
  auto mid = [](const Array& x, const Array& w) { return std::tuple{sum(x, {1}), max(x + w, {1}), x + 1.0f}; };
  for (const Shape& s : {Shape{3, 500, 7}, Shape{4, 300, 40}, Shape{3, 5000, 7}, Shape{2, 70000, 3}})
    cases.push_back(make_case("mid_" + std::to_string(s[1]) + "_" + std::to_string(s[2]), kExact, mid,
                              dyadic(s, float32, 28), uniform(s, -1, 1, float32, 29)));
  cases.push_back(make_case("lead2", kExact, [](const Array& x) { return sum(x, {0, 1}); }, dyadic({30, 20, 50}, float32, 30)));
  cases.push_back(make_case("outer", kExact,
                            [](const Array& x, const Array& w) { return std::tuple{sum(x, {0, 2}), min(x + w, {0, 2})}; },
                            dyadic({12, 35, 9}, float32, 31), uniform({12, 35, 9}, -1, 1, float32, 32)));
  Array n = dyadic_specials({50, 40}, float64, 32);
  cases.push_back(make_case("nan_cols", kExact, [](const Array& x) { return std::tuple{max(x, {0}), min(x, {0}), sum(x, {0})}; }, n));
  auto ints = [](const Array& i, const Array& b) {
    return std::tuple{sum(i, {0}), max(i, {0}), reduce_or(i, {0}), any(b, {0}), all(b, {0})};
  };
  Array i = (lax::iota(int32, {90, 45}, 0) * 7919 + lax::iota(int32, {90, 45}, 1) * 104729) * 65537;
  cases.push_back(make_case("int_cols", kExact, ints, i, mod(i, Array(5)) != 0));
  // Ten float64 reductions of one fused value in one kernel (fewer rows per block, so that their
  // shared memory fits): t = x + w is exact and all its values are distinct (w: the linear index
  // / 4096), and every sum of it is exact in float64.
  auto many = [](const Array& x, const Array& w, const Array& u, int axis) {
    Array t = x + w;
    return std::tuple{sum(t, {axis}), sum(t * t, {axis}), sum(t * 3.0, {axis}), max(t, {axis}), min(t, {axis}),
                      max(t * -2.0, {axis}), min(t * 0.5, {axis}), sum(abs(t), {axis}), max(t - 1.0, {axis}),
                      prod(t * 0.0 + u, {axis})};
  };
  Array mx = dyadic({3000, 40}, float64, 33);
  Array mw = reshape(lax::iota(float64, {120000}, 0), {3000, 40}) / 4096.0, mu = unit_like({3000, 40}, float64, 34);
  cases.push_back(make_case("many_cols", kExact, [many](const Array& x, const Array& w, const Array& u) { return many(x, w, u, 0); },
                            mx, mw, mu));
  cases.push_back(make_case("many_rows", kExact, [many](const Array& x, const Array& w, const Array& u) { return many(x, w, u, 1); },
                            transpose(mx), transpose(mw), transpose(mu)));
  const std::string src = check_cases(std::move(cases), "columns");
  for (const char* shape : {"block (32,8,1)", "block (32,16,1)", "block (32,32,1)", "grid (129,1,1)",
                            "domain [3,500,7], reduce axes [1]; reduction, a lane group",
                            "domain [3,5000,7], reduce axes [1]; reduction, a block per output",
                            "domain [2,70000,3], reduce axes [1]; reduction, several blocks per output"})
    CHECK_MESSAGE(has(src, shape), shape);
}

TEST_CASE("cuda emulation: programs of several kernels, constants, scalars and literals") {
  std::vector<EmuCase> cases;
  // softmax and log-sum-exp (several kernels, temporaries in the arena).
  auto sm = [](const Array& x) { return std::tuple{softmax(x, 1), logsumexp(x, {1}), x - max(x, {1}, true)}; };
  cases.push_back(make_case("softmax", Cmp{1e-5, 1e-6}, sm, uniform({37, 300}, -5, 5, float32, 33)));
  // argmax / argmin as reductions: the first index of the row's max.
  auto arg = [](const Array& x) {
    Array m = max(x, {1}, true);
    Array idx = lax::iota(int32, x.shape(), 1);
    Array big = full(x.shape(), Array(int32_t{1} << 30), int32);
    return std::tuple{min(where(x == m, idx, big), {1}), max(where(x == min(x, {1}, true), idx, -big), {1})};
  };
  cases.push_back(make_case("argmax", kExact, arg, dyadic({45, 130}, float32, 34)));
  // mean and variance in float64 (close), a chain where a reduction feeds an elementwise kernel.
  auto mv = [](const Array& x) { return std::tuple{mean(x, {0}), var(x, {1}), x / sum(x * x, {1}, true)}; };
  cases.push_back(make_case("moments", Cmp{1e-12, 1e-13}, mv, uniform({64, 200}, -2, 2, float64, 35)));
  // Captured constants, scalars, an output that is an input, a literal output.
  Array table = dyadic({5, 8}, float32, 36);
  auto consts = [table](const Array& x, const Array& s) {
    return std::tuple{x * table + s, sum(table * s, {1}), x, s * 2.0f, Array(3.5f), table};
  };
  cases.push_back(make_case("consts", kExact, consts, dyadic({5, 8}, float32, 37), Array(0.75f)));
  auto scalar = [](const Array& a, const Array& b) { return std::tuple{a * b + 1.0, maximum(a, b), a < b, sum(a)}; };
  cases.push_back(make_case("scalars", kExact, scalar, Array(2.5), Array(-1.25)));
  // A reshaped temporary read by a later kernel as a view of the same buffer (an alias slot).
  auto view = [](const Array& x, const Array& u) {
    Array z = reshape(sum(x, {1}), {5, 8});
    return lax::broadcast_in_dim(z, {5, 8, 3}, {0, 1}) * u + 1.0f;
  };
  cases.push_back(make_case("alias", kExact, view, dyadic({40, 7}, float32, 38), dyadic({5, 8, 3}, float32, 39)));
  CHECK(std::any_of(cases.back().program.slots.begin(), cases.back().program.slots.end(),
                    [](const jitc::Slot& s) { return s.kind == jitc::Slot::Kind::alias; }));
  // Empty arrays never reach the renderer: the planner leaves them to the eager kernels.
  auto empty = [](const Array& x, const Array& y) {
    return std::tuple{x * 2.0f + 1.0f, sum(x, {0}), prod(y, {1}), any(x > 0.0f, {0}), sum(y + 1.0f, {0})};
  };
  const jitc::Program ep = jitc::plan_program(jit(empty).lower(zeros({0, 5}), zeros({3, 0})).jaxpr(), "empty");
  CHECK(ep.kernels.empty());
  check_cases(std::move(cases), "programs");
}

namespace {

// Random fused programs: chains of elementwise, shape and reduction ops with random shapes, axes
// and index maps, so that the planner's kernels mix them in ways no hand-written case does.
// int32 (every op exact, wrapping) for the index maps and reduction shapes; the floating variants
// (float32, float64, float16, bfloat16) use operations that are exact on dyadic inputs or round
// the same way on both sides (16-bit floats round after each operation, sums accumulate in
// float32).
class RandomProgram {
 public:
  RandomProgram(unsigned seed, DType dt) : seed_(seed), dt_(dt) {}

  std::tuple<Array, Array, Array, Array> operator()(const Array& x, const Array& y, const Array& i) const {
    std::mt19937 g(seed_);
    auto pick = [&](int n) { return static_cast<int>(g() % static_cast<unsigned>(n)); };
    std::vector<Array> pool = {x, y};
    Array v = x;
    Array side = x;
    const int steps = 4 + pick(6);
    for (int k = 0; k < steps; ++k) {
      const int nd = static_cast<int>(v.ndim());
      switch (pick(9)) {
        case 0: case 1: {  // elementwise with a same-shape value (or itself)
          Array w = v;
          for (auto& c : pool)
            if (c.shape() == v.shape() && pick(2)) w = c;
          v = binary(v, w, pick(7));
          break;
        }
        case 2: v = unary(v, pick(5)); break;
        case 3: {  // transpose / rev
          std::vector<int> perm(static_cast<size_t>(nd));
          for (int d = 0; d < nd; ++d) perm[static_cast<size_t>(d)] = d;
          std::shuffle(perm.begin(), perm.end(), g);
          v = pick(2) ? transpose(v, perm) : lax::rev(v, {static_cast<int64_t>(pick(nd))});
          break;
        }
        case 4: {  // slice with strides, or pad with interior / negative edges
          std::vector<int64_t> lo(static_cast<size_t>(nd)), hi(static_cast<size_t>(nd)), st(static_cast<size_t>(nd));
          std::vector<std::array<int64_t, 3>> cfg(static_cast<size_t>(nd));
          for (int d = 0; d < nd; ++d) {
            const int64_t e = v.shape()[static_cast<size_t>(d)];
            lo[d] = e > 2 ? pick(static_cast<int>(e / 2)) : 0, hi[d] = e, st[d] = 1 + pick(3);
            cfg[d] = {pick(4) - (e > 3 ? 1 : 0), pick(3) - (e > 3 ? 1 : 0), e > 1 ? pick(2) : 0};
          }
          if (pick(2)) v = lax::slice(v, lo, hi, st);
          else v = lax::pad(v, scalar(3, dt_), cfg);
          break;
        }
        case 5: {  // concatenate with a transformed copy along an axis
          const int d = pick(nd);
          v = concatenate({v, unary(v, pick(5))}, d);
          break;
        }
        case 6: {  // reduction, with keepdims and combined back into the domain
          std::vector<int> axes;
          for (int d = 0; d < nd; ++d)
            if (pick(2)) axes.push_back(d);
          if (axes.empty()) axes.push_back(pick(nd));
          Array r = reduce(v, axes, pick(dt_ == int32 ? 6 : 3));
          side = r;
          v = binary(v, r, pick(4));
          break;
        }
        case 7: {  // reshape: merge or split the leading axes
          Shape s = v.shape();
          if (s.size() >= 2 && pick(2)) {
            s[1] *= s[0];
            s.erase(s.begin());
          } else if (s[0] % 2 == 0) {
            s[0] /= 2;
            s.insert(s.begin() + 1, 2);
          }
          v = reshape(v, s);
          break;
        }
        case 8: {  // dynamic slice and update at a run-time index
          const int d = pick(nd);
          std::vector<Array> starts(static_cast<size_t>(nd), Array(0));
          starts[static_cast<size_t>(d)] = i;
          std::vector<int64_t> sizes = v.shape();
          sizes[static_cast<size_t>(d)] = std::max<int64_t>(1, sizes[static_cast<size_t>(d)] / 2);
          Array part = lax::dynamic_slice(v, starts, sizes);
          v = pick(2) ? part : lax::dynamic_update_slice(v, unary(part, 0), starts);
          break;
        }
      }
      pool.push_back(v);
    }
    std::vector<int> all;
    for (int d = 0; d < v.ndim(); ++d) all.push_back(d);
    return {v, reduce(v, {static_cast<int>(v.ndim()) - 1}, 0), reduce(v, all, 1), side};
  }

 private:
  Array unary(const Array& x, int op) const {
    switch (op) {
      case 0: return -x;
      case 1: return abs(x);
      case 2: return x * scalar(2, dt_);
      case 3: return dt_ == int32 ? lax::shift_right_arithmetic(x, Array(1)) : floor(x * scalar(0.5, dt_));
      default: return where(x > scalar(0, dt_), x, scalar(dt_ == int32 ? -7 : -1.75, dt_));
    }
  }
  Array binary(const Array& a, const Array& b, int op) const {
    switch (op) {
      case 0: return a + b;
      case 1: return a - b;
      case 2: return maximum(a, b);
      case 3: return minimum(a, b);
      case 4: return where(a < b, a, b * scalar(2, dt_));
      case 5: return dt_ == int32 ? a * b : a + b * scalar(0.5, dt_);
      default: return dt_ == int32 ? bitwise_xor(a, b) : a - b * scalar(2, dt_);
    }
  }
  Array reduce(const Array& x, const std::vector<int>& axes, int op) const {
    Axes ax(axes.begin(), axes.end());
    switch (op) {
      case 0: return sum(x, ax, true);
      case 1: return max(x, ax, true);
      case 2: return min(x, ax, true);
      case 3: return prod(x, ax, true);
      case 4: return reshape(reduce_and(x, std::vector<int64_t>(axes.begin(), axes.end())), keep(x.shape(), axes));
      default: return reshape(reduce_or(x, std::vector<int64_t>(axes.begin(), axes.end())), keep(x.shape(), axes));
    }
  }
  static Shape keep(Shape s, const std::vector<int>& axes) {
    for (int a : axes) s[static_cast<size_t>(a)] = 1;
    return s;
  }
  unsigned seed_;
  DType dt_;
};

}  // namespace

TEST_CASE("cuda emulation: random fused programs (index maps, branches and reductions mixed) equal the CPU jit") {
  const Shape shapes[] = {{33, 70}, {6, 1030}, {130, 9}, {4, 33, 17}, {70000, 2}, {2, 3, 5}, {260, 64}, {1, 5000}};
  std::vector<EmuCase> cases;
  // JX_CUDA_EMU_SEEDS=<n>: more random programs (a longer search than the default).
  const char* more = std::getenv("JX_CUDA_EMU_SEEDS");
  const unsigned first = more && *more ? 24u : 0u, seeds = more && *more ? 24u + static_cast<unsigned>(std::atoi(more)) : 24u;
  for (unsigned seed = first; seed < seeds; ++seed) {
    const Shape& s = shapes[seed % 8];
    const DType floats[] = {float32, float16, bfloat16, float64};
    const DType dt = seed % 3 == 2 ? floats[(seed / 3) % 4] : int32;
    // (int32 values all distinct, so that max and min see a wrong index.)
    Array x = dt == int32 ? (floor(uniform(s, -1e6, 1e6, float64, seed)).astype(int32)) : dyadic(s, dt, seed);
    Array y = dt == int32 ? (floor(uniform(s, -1000, 1000, float64, seed + 100)).astype(int32)) : dyadic(s, dt, seed + 100);
    cases.push_back(make_case("random" + std::to_string(seed), kExact, RandomProgram(seed, dt), x, y,
                              Array(static_cast<int32_t>(seed % 5 == 0 ? -4 : seed * 7))));
  }
  check_cases(std::move(cases), "random");
}

#endif  // JX_WITH_CUDA
