// nnlib: the non-template parts of the training loop (metric means, monitors, progress output,
// CSV log, epoch orders).
#include "nnlib/fit.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include <unistd.h>

namespace jx::nn {

using jx::detail::cat;

std::vector<double> History::metric(const std::string& name) const {
  std::vector<double> out;
  for (size_t i = 0; i < epochs.size(); ++i) {
    auto it = epochs[i].find(name);
    if (it == epochs[i].end()) {
      std::string present;
      for (auto& [k, v] : epochs[i]) present += (present.empty() ? "" : ", ") + k;
      throw ValueError(cat("[nn::History] epoch ", i + 1, " has no metric '", name, "' (it has: ", present, ")"));
    }
    out.push_back(it->second);
  }
  return out;
}

namespace detail {

namespace {
std::string format_value(double v) {
  std::ostringstream os;
  os << std::setprecision(4) << v;
  return os.str();
}

std::string format_metrics(const Metrics& m) {
  std::string s;
  for (auto& [k, v] : m) s += cat(" - ", k, " ", format_value(v));
  return s;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
}  // namespace

double metric_value(const Array& v) {
  if (!v.defined() || v.is_tracer() || v.size() != 1) {
    throw ValueError(cat("[nn::fit] a metric must be a number or a concrete array of size 1, got ",
                         v.defined() ? v.aval().str() : std::string("an undefined array")));
  }
  return v.item<double>();
}

[[noreturn]] void fit_error(const std::string& message) { throw ValueError(message); }

[[noreturn]] void rethrow_traced_step_error(const ConcretizationError& e) {
  throw ConcretizationError(cat(e.what(),
                                "\n[nn::fit] the train step is compiled with jx::jit (FitOptions::jit, the default): "
                                "return metrics as 0-d arrays rather than numbers read with item(), or set "
                                "FitOptions::jit = false to run the step eagerly"));
}

Array copy_array(const Array& x) {
  return jx::detail::array_from_host(x.raw_data(), x.dtype(), x.shape(), x.weak_type());
}

void MetricMean::add(const Metrics& m) {
  for (auto& [k, v] : m) {
    auto& [sum, count] = sums_[k];
    sum += v;
    ++count;
  }
}

Metrics MetricMean::mean() const {
  Metrics out;
  for (auto& [k, sc] : sums_) out[k] = sc.first / static_cast<double>(sc.second);
  return out;
}

Monitor::Monitor(std::string metric, Mode mode, double min_delta, std::string who)
    : metric_(std::move(metric)), who_(std::move(who)), mode_(mode), min_delta_(std::abs(min_delta)) {}

bool Monitor::update(const Metrics& metrics, int epoch) {
  auto it = metrics.find(metric_);
  if (it == metrics.end()) {
    std::string present;
    for (auto& [k, v] : metrics) present += (present.empty() ? "" : ", ") + k;
    throw ValueError(cat("[nn::fit] ", who_, " monitors '", metric_, "', which epoch ", epoch,
                         " did not produce (its metrics: ", present.empty() ? std::string("none") : present,
                         "; validation metrics are prefixed 'val_')"));
  }
  double v = it->second;
  bool improved = best_epoch_ == 0 ||
                  (mode_ == Mode::min ? v < best_ - min_delta_ : v > best_ + min_delta_);
  if (std::isnan(v)) improved = false;  // a NaN never becomes the best
  if (improved) {
    best_ = v;
    best_epoch_ = epoch;
    wait_ = 0;
  } else {
    ++wait_;
  }
  return improved;
}

Reporter::Reporter(Progress progress, std::ostream* out, int epochs) : out_(out ? out : &std::cerr), epochs_(epochs) {
  silent_ = progress == Progress::silent;
  bar_ = progress == Progress::bar || (progress == Progress::automatic && out_ == &std::cerr && ::isatty(2));
}

void Reporter::begin_epoch(int epoch, std::optional<size_t> num_batches) {
  epoch_ = epoch;
  num_batches_ = num_batches;
  epoch_start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Reporter::batch(size_t done, const Metrics& running) {
  if (silent_ || !bar_) return;
  auto now = std::chrono::steady_clock::now();
  bool last = num_batches_ && done == *num_batches_;
  if (!last && done > 1 && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::ostringstream line;
  line << "\r\033[Kepoch " << epoch_ << "/" << epochs_ << " ";
  if (num_batches_ && *num_batches_ > 0) {
    constexpr size_t width = 30;
    size_t filled = done * width / *num_batches_;
    line << "[" << std::string(filled, '=') << (filled < width ? ">" : "")
         << std::string(width - std::min(width, filled + 1), ' ') << "] " << done << "/" << *num_batches_;
  } else {
    line << done << " batches";
  }
  line << format_metrics(running);
  *out_ << line.str() << std::flush;
}

void Reporter::end_epoch(const Metrics& metrics, size_t num_batches) {
  if (silent_) return;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  std::ostringstream line;
  if (bar_) line << "\r\033[K";
  line << "epoch " << epoch_ << "/" << epochs_ << " - " << num_batches << " batches - " << std::fixed
       << std::setprecision(2) << seconds << "s" << std::defaultfloat << format_metrics(metrics) << "\n";
  *out_ << line.str() << std::flush;
}

void Reporter::message(const std::string& line) {
  if (!silent_) *out_ << line << "\n" << std::flush;
}

void write_csv(const std::filesystem::path& path, const std::vector<Metrics>& epochs) {
  std::set<std::string> names;
  for (auto& m : epochs)
    for (auto& [k, v] : m) names.insert(k);
  std::ostringstream os;
  os << "epoch";
  for (auto& n : names) os << "," << csv_field(n);
  os << "\n";
  for (size_t i = 0; i < epochs.size(); ++i) {
    os << i + 1;
    for (auto& n : names) {
      os << ",";
      auto it = epochs[i].find(n);
      if (it != epochs[i].end()) os << std::setprecision(17) << it->second;
    }
    os << "\n";
  }
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw ValueError(cat("[nn::fit] cannot open the CSV log '", path.string(), "' for writing"));
  out << os.str();
  out.flush();
  if (!out) throw ValueError(cat("[nn::fit] writing the CSV log '", path.string(), "' failed"));
}

Metrics validation_names(const Metrics& m) {
  Metrics out;
  for (auto& [k, v] : m) out[k.rfind("val_", 0) == 0 ? k : "val_" + k] = v;
  return out;
}

std::vector<int32_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int epoch) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  if (!shuffle || n < 2) return order;
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch)};
  std::mt19937_64 gen(seq);
  for (int64_t i = n - 1; i > 0; --i) {
    // Unbiased draw in [0, i] by rejection (std::uniform_int_distribution differs between
    // standard libraries).
    uint64_t bound = static_cast<uint64_t>(i) + 1;
    uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
    uint64_t r;
    do r = gen();
    while (r >= limit);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(r % bound)]);
  }
  return order;
}

int64_t leading_dim(const std::vector<Array>& leaves) {
  if (leaves.empty()) throw ValueError("[nn::DataLoader] the data has no arrays");
  std::optional<int64_t> n;
  std::string shapes;
  bool bad = false;
  for (auto& x : leaves) {
    shapes += (shapes.empty() ? "" : ", ") + x.aval().str();
    if (x.ndim() == 0) {
      bad = true;
      continue;
    }
    if (n && *n != x.shape()[0]) bad = true;
    if (!n) n = x.shape()[0];
  }
  if (bad) {
    throw ValueError(cat("[nn::DataLoader] every array needs the same leading (example) dimension, got ", shapes));
  }
  if (*n > std::numeric_limits<int32_t>::max()) {
    throw ValueError(cat("[nn::DataLoader] ", *n, " examples exceed the int32 index range"));
  }
  return *n;
}

}  // namespace detail
}  // namespace jx::nn
