// NVRTC loaded at run time (see nvrtc.h): CUDA C++ -> CUBIN for one architecture, with an
// in-memory cache (keyed by the source and the architecture) and, when JX_CACHE_DIR is set, an
// on-disk cache shared between processes (keyed by a hash of the source, the architecture, the
// options and NVRTC's version; files are written under a temporary name and renamed).

#include "backends/cuda/nvrtc.h"

#include <nvrtc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <dlfcn.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"

#ifndef JX_CUDA_LIB_DIR
#define JX_CUDA_LIB_DIR ""
#endif

namespace jx::cudagen {

namespace {

// The entry points of libnvrtc that jx uses.
struct Nvrtc {
  void* handle = nullptr;
  std::string reason;  // why it did not load
  nvrtcResult (*version)(int*, int*) = nullptr;
  nvrtcResult (*get_num_supported_archs)(int*) = nullptr;
  nvrtcResult (*get_supported_archs)(int*) = nullptr;
  nvrtcResult (*create_program)(nvrtcProgram*, const char*, const char*, int, const char* const*,
                                const char* const*) = nullptr;
  nvrtcResult (*destroy_program)(nvrtcProgram*) = nullptr;
  nvrtcResult (*compile_program)(nvrtcProgram, int, const char* const*) = nullptr;
  nvrtcResult (*get_program_log_size)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*get_program_log)(nvrtcProgram, char*) = nullptr;
  nvrtcResult (*get_cubin_size)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*get_cubin)(nvrtcProgram, char*) = nullptr;
  const char* (*get_error_string)(nvrtcResult) = nullptr;
  int major = 0, minor = 0;
  std::set<int> archs;  // supported sm values
};

template <class F>
bool bind(void* handle, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  if (!fn) missing += (missing.empty() ? "" : ", ") + std::string(name);
  return fn != nullptr;
}

const Nvrtc& nvrtc() {
  static const Nvrtc lib = [] {
    Nvrtc n;
    const std::string dir = JX_CUDA_LIB_DIR;
    std::vector<std::string> candidates;
    if (!dir.empty()) candidates.push_back(dir + "/libnvrtc.so.13");
    for (const char* c : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}) candidates.push_back(c);
    std::string errors;
    for (auto& c : candidates) {
      n.handle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (n.handle) break;
      const char* e = dlerror();
      errors += "\n  " + c + ": " + (e ? e : "not found");
    }
    if (!n.handle) {
      n.reason = "libnvrtc not found:" + errors;
      return n;
    }
    std::string missing;
    bind(n.handle, "nvrtcVersion", n.version, missing);
    bind(n.handle, "nvrtcGetNumSupportedArchs", n.get_num_supported_archs, missing);
    bind(n.handle, "nvrtcGetSupportedArchs", n.get_supported_archs, missing);
    bind(n.handle, "nvrtcCreateProgram", n.create_program, missing);
    bind(n.handle, "nvrtcDestroyProgram", n.destroy_program, missing);
    bind(n.handle, "nvrtcCompileProgram", n.compile_program, missing);
    bind(n.handle, "nvrtcGetProgramLogSize", n.get_program_log_size, missing);
    bind(n.handle, "nvrtcGetProgramLog", n.get_program_log, missing);
    bind(n.handle, "nvrtcGetCUBINSize", n.get_cubin_size, missing);
    bind(n.handle, "nvrtcGetCUBIN", n.get_cubin, missing);
    bind(n.handle, "nvrtcGetErrorString", n.get_error_string, missing);
    if (!missing.empty()) {
      n.reason = "libnvrtc lacks " + missing;
      dlclose(n.handle);
      n.handle = nullptr;
      return n;
    }
    n.version(&n.major, &n.minor);
    int count = 0;
    if (n.get_num_supported_archs(&count) == NVRTC_SUCCESS && count > 0) {
      std::vector<int> archs(static_cast<size_t>(count));
      if (n.get_supported_archs(archs.data()) == NVRTC_SUCCESS) n.archs.insert(archs.begin(), archs.end());
    }
    detail::logger("cuda")->debug("NVRTC {}.{} loaded", n.major, n.minor);
    return n;
  }();
  return lib;
}

// Options every program is compiled with. No fast math: IEEE division and square root, no
// flush to zero, and no contraction of a*b+c into an FMA, so that kernels round as the CPU
// backend does (CUDA's math functions use FMAs internally, unaffected by this).
const std::vector<std::string>& base_options() {
  static const std::vector<std::string> opts = {"--std=c++17", "--fmad=false", "--ftz=false", "--prec-div=true",
                                                "--prec-sqrt=true"};
  return opts;
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// "name(12): error: ..." -> the source lines the log mentions, with one line of context.
std::string offending_lines(const std::string& log, const std::string& source) {
  std::vector<std::string> lines;
  {
    std::istringstream is(source);
    for (std::string l; std::getline(is, l);) lines.push_back(l);
  }
  std::set<int> wanted;
  static const std::regex re(R"(\((\d+)\): (error|warning))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) {
    const int line = std::stoi((*it)[1].str());
    if ((*it)[2].str() != "error") continue;
    for (int l = line - 1; l <= line + 1; ++l)
      if (l >= 1 && l <= static_cast<int>(lines.size())) wanted.insert(l);
    if (wanted.size() > 60) break;
  }
  std::ostringstream os;
  int prev = 0;
  for (int l : wanted) {
    if (prev && l != prev + 1) os << "  ...\n";
    os << "  " << l << " | " << lines[static_cast<size_t>(l - 1)] << "\n";
    prev = l;
  }
  return os.str();
}

struct CacheEntry {
  std::string source;  // to rule out hash collisions
  std::shared_ptr<const std::vector<char>> image;
  std::string log;
};

class CubinCache {
 public:
  CubinCache() {
    if (const char* dir = std::getenv("JX_CACHE_DIR"); dir && *dir) dir_ = dir;
  }

  bool find(uint64_t key, const std::string& source, Cubin& out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memory_.find(key);
    if (it == memory_.end() || it->second.source != source) return false;
    out.image = *it->second.image;
    out.log = it->second.log;
    return true;
  }

  void insert(uint64_t key, const std::string& source, const Cubin& c) {
    std::lock_guard<std::mutex> lock(mu_);
    memory_[key] = CacheEntry{source, std::make_shared<const std::vector<char>>(c.image), c.log};
  }

  std::string disk_path(uint64_t key, int sm) const {
    if (dir_.empty()) return {};
    char name[64];
    std::snprintf(name, sizeof(name), "%016llx.sm_%d.cubin", static_cast<unsigned long long>(key), sm);
    return (std::filesystem::path(dir_) / name).string();
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, CacheEntry> memory_;
  std::string dir_;
};

CubinCache& cache() {
  static CubinCache c;
  return c;
}

// A cached file holds a header line (the key, as a check against truncated or foreign files)
// followed by the CUBIN.
bool read_disk(const std::string& path, uint64_t key, std::vector<char>& image) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string header;
  if (!std::getline(in, header)) return false;
  char expect[64];
  std::snprintf(expect, sizeof(expect), "jx-cubin %016llx", static_cast<unsigned long long>(key));
  if (header != expect) return false;
  image.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !image.empty();
}

void write_disk(const std::string& path, uint64_t key, const std::vector<char>& image) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // Write to a temporary name, then rename: concurrent processes never see a partial file.
  const std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return;
    char header[64];
    std::snprintf(header, sizeof(header), "jx-cubin %016llx\n", static_cast<unsigned long long>(key));
    out << header;
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
    if (!out) {
      out.close();
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

bool nvrtc_available() { return nvrtc().handle != nullptr; }

std::string nvrtc_unavailable_reason() { return nvrtc().reason; }

std::pair<int, int> nvrtc_version() { return {nvrtc().major, nvrtc().minor}; }

Cubin compile_cubin(const std::string& source, const std::string& name, int sm) {
  const Nvrtc& n = nvrtc();
  if (!n.handle) throw BackendError("[jit/nvrtc] NVRTC is not available: " + n.reason);
  if (!n.archs.empty() && !n.archs.count(sm)) {
    std::ostringstream os;
    for (int a : n.archs) os << " sm_" << a;
    throw BackendError(detail::cat("[jit/nvrtc] NVRTC ", n.major, ".", n.minor, " cannot compile for sm_", sm,
                                   "; it supports", os.str()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::string opts_text;
  for (auto& o : base_options()) opts_text += o + " ";
  const uint64_t key = fnv1a(source, fnv1a(detail::cat("jx-cuda-1|sm_", sm, "|nvrtc ", n.major, ".", n.minor, "|",
                                                       opts_text)));
  Cubin out;
  if (cache().find(key, source, out)) {
    out.cache_hit = true;
    return out;
  }
  const std::string path = cache().disk_path(key, sm);
  if (!path.empty() && read_disk(path, key, out.image)) {
    out.cache_hit = true;
    out.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    cache().insert(key, source, out);
    return out;
  }

  auto check = [&](nvrtcResult r, const char* what) {
    if (r != NVRTC_SUCCESS)
      throw BackendError(detail::cat("[jit/nvrtc] ", what, " failed for ", name, ": ", n.get_error_string(r)));
  };
  nvrtcProgram prog = nullptr;
  const std::string file = (name.empty() ? std::string("jx_kernels") : name) + ".cu";
  check(n.create_program(&prog, source.c_str(), file.c_str(), 0, nullptr, nullptr), "nvrtcCreateProgram");
  struct Guard {
    const Nvrtc& n;
    nvrtcProgram& p;
    ~Guard() { n.destroy_program(&p); }
  } guard{n, prog};
  std::vector<std::string> opts = base_options();
  opts.push_back(detail::cat("-arch=sm_", sm));
  std::vector<const char*> argv;
  for (auto& o : opts) argv.push_back(o.c_str());
  const nvrtcResult rc = n.compile_program(prog, static_cast<int>(argv.size()), argv.data());
  size_t log_size = 0;
  n.get_program_log_size(prog, &log_size);
  std::string log(log_size, '\0');
  if (log_size > 1) n.get_program_log(prog, log.data());
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
  if (rc != NVRTC_SUCCESS) {
    throw BackendError(detail::cat("[jit/nvrtc] ", name, " for sm_", sm, " failed to compile (",
                                   n.get_error_string(rc), "):\n", log, "\nsource lines:\n",
                                   offending_lines(log, source)));
  }
  size_t size = 0;
  check(n.get_cubin_size(prog, &size), "nvrtcGetCUBINSize");
  out.image.resize(size);
  if (size) check(n.get_cubin(prog, out.image.data()), "nvrtcGetCUBIN");
  if (out.image.empty()) throw BackendError(detail::cat("[jit/nvrtc] ", name, " for sm_", sm, ": NVRTC produced no CUBIN"));
  out.log = std::move(log);
  out.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  detail::logger("cuda")->debug("NVRTC compiled {} for sm_{} in {:.1f} ms ({} bytes)", name, sm, out.compile_ms,
                                out.image.size());
  cache().insert(key, source, out);
  if (!path.empty()) write_disk(path, key, out.image);
  return out;
}

}  // namespace jx::cudagen
