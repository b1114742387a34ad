#pragma once
// The bench programs' shared harness: command-line flags, timing, medians, peak memory and the
// one JSON line each program prints (bench/run.py reads it; bench/jax/workloads.py prints the
// same line for JAX).
//
//   bench_<name> [--smoke] [--iters N] [--warmup N]
//
// --smoke: tiny sizes and two timed calls, to prove the program runs (ctest bench_smoke); its
// figures mean nothing. --iters: timed samples (each the mean of a batch of calls for the
// microsecond workloads, 1 call for the others; see time_calls). --warmup: untimed calls first.
//
// The line: {"workload": "W3", "system": "jx", "status": "ok" | "pending" | "unavailable" | "error",
//            "smoke": bool, "figures": {name: median}, "samples": {name: [...]},
//            "extra": {...}, "check": {...}, "reason": "..."}

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

struct Options {
  bool smoke = false;
  int iters = 10;   ///< timed samples
  int warmup = 3;   ///< untimed calls before them
};

/// Parses the flags; `iters` / `warmup` are the program's defaults for a full run.
inline Options parse_options(int argc, char** argv, int iters, int warmup = 3) {
  Options o;
  o.iters = iters;
  o.warmup = warmup;
  bool iters_given = false, warmup_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](const char* flag) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag);
        std::exit(2);
      }
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0) {
        std::fprintf(stderr, "%s needs a non-negative integer, got '%s'\n", flag, argv[i]);
        std::exit(2);
      }
      return static_cast<int>(v);
    };
    if (a == "--smoke") {
      o.smoke = true;
    } else if (a == "--iters") {
      o.iters = std::max(1, value("--iters"));
      iters_given = true;
    } else if (a == "--warmup") {
      o.warmup = value("--warmup");
      warmup_given = true;
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [--smoke] [--iters N] [--warmup N]\n", argv[0]);
      std::exit(0);
    } else {
      std::fprintf(stderr, "unknown argument '%s' (usage: %s [--smoke] [--iters N] [--warmup N])\n", argv[i], argv[0]);
      std::exit(2);
    }
  }
  if (o.smoke) {
    if (!iters_given) o.iters = 2;
    if (!warmup_given) o.warmup = 1;
  }
  return o;
}

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Runs f `warmup` times, then `iters` samples of up to `max_calls` calls each (fewer when one
/// call takes long: as many as fit in 50 ms, at least 1); returns the mean time per call of each
/// sample, in units of `unit` seconds (1e-3: milliseconds, 1e-6: microseconds).
inline std::vector<double> time_calls(const std::function<void()>& f, const Options& o, int max_calls, double unit) {
  double last = 0;
  for (int i = 0; i < std::max(o.warmup, max_calls > 1 ? 1 : 0); ++i) {
    auto t0 = Clock::now();
    f();
    last = seconds_since(t0);
  }
  int calls = 1;
  if (max_calls > 1) calls = static_cast<int>(std::clamp(0.05 / std::max(last, 1e-9), 1.0, static_cast<double>(max_calls)));
  std::vector<double> out;
  out.reserve(static_cast<size_t>(o.iters));
  for (int s = 0; s < o.iters; ++s) {
    auto t0 = Clock::now();
    for (int c = 0; c < calls; ++c) f();
    out.push_back(seconds_since(t0) / calls / unit);
  }
  return out;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Peak resident set size of this process so far, in MiB (ru_maxrss is in KiB on Linux).
inline double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

/// The result line of one program run.
class Report {
 public:
  Report(std::string workload, const Options& o) {
    j_["workload"] = std::move(workload);
    j_["system"] = "jx";
    j_["status"] = "ok";
    j_["smoke"] = o.smoke;
    j_["iters"] = o.iters;
    j_["warmup"] = o.warmup;
    j_["figures"] = nlohmann::ordered_json::object();
    j_["samples"] = nlohmann::ordered_json::object();
    j_["extra"] = nlohmann::ordered_json::object();
    j_["check"] = nlohmann::ordered_json::object();
  }
  /// A timed figure: its samples and their median.
  void figure(const std::string& name, const std::vector<double>& samples) {
    j_["samples"][name] = samples;
    j_["figures"][name] = median(samples);
  }
  void system(const std::string& name) { j_["system"] = name; }
  /// A derived or single-shot number (first-call time, GB/s, peak memory).
  void extra(const std::string& name, double v) { j_["extra"][name] = v; }
  void extra(const std::string& name, const std::string& v) { j_["extra"][name] = v; }
  /// A value computed by the workload, printed to compare jx's answer with JAX's.
  void check(const std::string& name, double v) { j_["check"][name] = v; }
  void pending(const std::string& reason) {
    j_["status"] = "pending";
    j_["reason"] = reason;
  }
  /// Nothing to measure on this machine (bench_cuda_limits without a GPU): exit status 0.
  void unavailable(const std::string& reason) {
    j_["status"] = "unavailable";
    j_["reason"] = reason;
  }
  void error(const std::string& reason) {
    j_["status"] = "error";
    j_["reason"] = reason;
  }
  void print() const {
    std::string line = j_.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  bool ok() const { return j_["status"] == "ok" || j_["status"] == "pending" || j_["status"] == "unavailable"; }

 private:
  nlohmann::ordered_json j_;
};

/// main() of a workload: runs body(report, options), turns an exception into an "error" line
/// (exit status 1), and prints the line.
inline int run_main(int argc, char** argv, const std::string& workload, int iters,
                    const std::function<void(Report&, const Options&)>& body, int warmup = 3) {
  Options o = parse_options(argc, argv, iters, warmup);
  Report r(workload, o);
  try {
    body(r, o);
  } catch (const std::exception& e) {
    r.error(e.what());
  }
  r.print();
  return r.ok() ? 0 : 1;
}

}  // namespace bench
