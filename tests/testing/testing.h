#pragma once
// Shared helpers for the doctest suites: reference comparisons, random inputs with fixed seeds,
// and the per-dtype tolerance table.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <system_error>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <doctest/doctest.h>

#include "jx/jx.h"

namespace jx::testing {

/// Tolerances per dtype: (rtol, atol).
inline std::pair<double, double> tolerance(DType dtype) {
  switch (dtype) {
    case DType::float32: return {1e-5, 1e-6};
    case DType::float64: return {1e-12, 1e-13};
    case DType::float16: return {2e-3, 1e-4};    // 2 ulps (2^-10)
    case DType::bfloat16: return {1.6e-2, 1e-3};  // 2 ulps (2^-7)
    default: return {0.0, 0.0};
  }
}

/// Elements as double (host copy).
inline std::vector<double> values(const Array& x) { return x.to_vector<double>(); }

/// "" when x and the expected values agree elementwise within tolerance (NaN equals NaN),
/// else a description of the first mismatch.
inline std::string mismatch(const Array& x, const std::vector<double>& expected, double rtol, double atol) {
  auto got = values(x);
  if (got.size() != expected.size()) {
    return "size " + std::to_string(got.size()) + " vs expected " + std::to_string(expected.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], e = expected[i];
    if (std::isnan(e) && std::isnan(g)) continue;
    if (std::isinf(e) && g == e) continue;
    if (!(std::abs(g - e) <= atol + rtol * std::abs(e))) {
      std::ostringstream os;
      os.precision(17);
      os << "element " << i << ": got " << g << ", expected " << e << " (x = " << x << ")";
      return os.str();
    }
  }
  return "";
}

inline std::string mismatch(const Array& x, const std::vector<double>& expected) {
  auto [rtol, atol] = tolerance(x.dtype());
  return mismatch(x, expected, rtol, atol);
}

inline std::string mismatch(const Array& x, const Array& y) {
  if (x.shape() != y.shape()) return "shapes " + x.aval().str() + " vs " + y.aval().str();
  auto [rtol, atol] = tolerance(x.dtype());
  return mismatch(x, values(y), rtol, atol);
}

/// Uniform random values in [lo, hi) from a fixed-seed generator (deterministic per seed).
inline Array uniform(const Shape& shape, double lo, double hi, DType dtype = float32, unsigned seed = 0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(shape_size(shape)));
  for (auto& e : v) e = dist(gen);
  return array(v, shape).astype(dtype);
}

/// An argument for a primitive's registry sample: floats uniform in [0.1, 0.9), others zeros.
inline Array sample_arg(const AbstractValue& aval, unsigned seed) {
  if (is_floating(aval.dtype)) return uniform(aval.shape, 0.1, 0.9, aval.dtype, seed);
  return zeros(aval.shape, aval.dtype);
}

/// Uniform in [-1, 1): the default random input of the linalg tests.
inline Array rnd(const Shape& s, unsigned seed, DType dt = float64) { return uniform(s, -1.0, 1.0, dt, seed); }

/// Swaps the last two axes (matrix transpose of a stack of matrices).
inline Array mT(const Array& x) {
  std::vector<int> perm;
  for (int i = 0; i < x.ndim(); ++i) perm.push_back(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(x, perm);
}

/// Occurrences of `sub` in `s` (counting equations of a kind in a printed jaxpr).
inline size_t count_substr(const std::string& s, const std::string& sub) {
  size_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + 1)) ++n;
  return n;
}

/// Multi-index of flat position i in row-major `shape`, and back.
inline std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}
inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
  return off;
}

/// Calls f(index) for every multi-index of `shape`, in row-major order.
inline void for_each_index(const Shape& shape, const std::function<void(const std::vector<int64_t>&)>& f) {
  int64_t n = shape_size(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/// A fresh folder under the system temp directory, removed with everything in it on destruction.
struct TempDir {
  std::filesystem::path dir;
  explicit TempDir(const std::string& prefix) {
    dir = std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::filesystem::path operator/(const std::string& name) const { return dir / name; }
};

/// This test binary's path.
inline std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

/// Runs this test binary's cases matching `filter` (doctest's --test-case) in a child process
/// with `env` ("VAR=value ...") set: its exit status, its output, and doctest's counts of test
/// cases run / passed / failed (-1 when the summary line is missing).
struct ChildRun {
  int status = -1;
  std::string output;
  int run = -1, passed = -1, failed = -1;
};
inline ChildRun run_cases_in_child(const std::string& env, const std::string& filter) {
  ChildRun r;
  const std::string cmd = env + " '" + self_exe() + "' --test-case='" + filter + "' --no-version --force-colors=0 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) r.output.append(buf, n);
  r.status = ::pclose(pipe);
  std::smatch m;
  if (std::regex_search(r.output, m, std::regex(R"(test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed)"))) {
    r.run = std::stoi(m[1].str()), r.passed = std::stoi(m[2].str()), r.failed = std::stoi(m[3].str());
  }
  return r;
}

}  // namespace jx::testing

/// CHECK that an Array matches expected values (a std::vector<double> or another Array).
#define CHECK_ALLCLOSE(x, ...) CHECK_MESSAGE(::jx::testing::mismatch((x), __VA_ARGS__).empty(), ::jx::testing::mismatch((x), __VA_ARGS__))
#define CHECK_ALLCLOSE_TOL(x, expected, rtol, atol) \
  CHECK_MESSAGE(::jx::testing::mismatch((x), (expected), (rtol), (atol)).empty(), ::jx::testing::mismatch((x), (expected), (rtol), (atol)))
