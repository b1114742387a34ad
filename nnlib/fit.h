#pragma once
// nnlib: a Keras/Lightning-style training loop over user-provided pieces (train step, eval
// function, batches), with the train step compiled by jx::jit and its state donated, progress
// output, per-epoch metrics, early stopping, best-checkpoint saving and a CSV log; and
// DataLoader, minibatches over arrays with seeded shuffling.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/ops.h"
#include "core/tree.h"
#include "jit/jit.h"
#include "nnlib/checkpoint.h"

namespace jx::nn {

/// Named scalar metrics of one step or one epoch ("loss", "accuracy", "val_loss", ...).
using Metrics = std::map<std::string, double>;

/// Whether a monitored metric improves downward (a loss) or upward (an accuracy).
enum class Mode { min, max };

/// Progress output on the stream of FitOptions::out (stderr by default). `automatic` draws a
/// live bar when the stream is stderr and stderr is a terminal, plain per-epoch lines otherwise.
enum class Progress { automatic, bar, lines, silent };

/// Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs in a row
/// (Keras semantics: with patience 0 the first epoch without improvement stops training).
struct EarlyStopping {
  std::string monitor = "val_loss";
  int patience = 0;
  double min_delta = 0.0;
  Mode mode = Mode::min;
  /// At the end of fit, put back the state of the best epoch.
  bool restore_best = false;
};

/// Save the state with nn::save whenever `monitor` reaches a new best (the state must be a
/// tree: jx::Tree, std containers or a JX_TREE struct). The file's metadata records the epoch
/// and the monitored value.
struct BestCheckpoint {
  std::filesystem::path path{};
  std::string monitor = "val_loss";
  Mode mode = Mode::min;
};

struct FitOptions {
  int epochs = 1;
  std::optional<EarlyStopping> early_stopping{};
  std::optional<BestCheckpoint> checkpoint{};
  /// A CSV of per-epoch metrics ("epoch,<metric names sorted>"), rewritten after every epoch.
  std::filesystem::path csv_log{};
  Progress progress = Progress::automatic;
  /// Where progress goes; nullptr means std::cerr.
  std::ostream* out = nullptr;
  /// Compile the train step with jx::jit and donate the state, as
  /// `jax.jit(train_step, donate_argnums=0)`: the step is traced once per batch signature
  /// (shapes, dtypes, tree structure) and the new state reuses the old state's buffers. This
  /// needs a step that can be traced: the state, the batch and the step's result are trees of
  /// arrays (jx::Tree, std containers, JX_TREE structs; metrics as 0-d Arrays), and the step
  /// reads no array values on the host. A step over other C++ values (an int state, metrics
  /// returned as doubles) runs eagerly whatever this says; History::jitted tells which ran.
  /// false: call the step as written, eagerly.
  bool jit = true;
};

/// What fit did: per-epoch metrics (train metrics averaged over the epoch's batches, plus the
/// eval function's metrics prefixed "val_"), epoch numbers counting from 1.
struct History {
  std::vector<Metrics> epochs;
  /// The epoch with the best monitored value (early stopping's monitor, else the checkpoint's);
  /// 0 when nothing is monitored.
  int best_epoch = 0;
  std::optional<double> best_value;
  bool stopped_early = false;
  /// The train step ran compiled (FitOptions::jit and a traceable step).
  bool jitted = false;

  size_t size() const { return epochs.size(); }
  const Metrics& operator[](size_t i) const { return epochs[i]; }
  /// The values of one metric across epochs (ValueError naming the metrics present if absent).
  std::vector<double> metric(const std::string& name) const;
};

namespace detail {

inline double metric_value(double v) { return v; }
double metric_value(const Array& v);
template <class V>
  requires std::is_arithmetic_v<V>
double metric_value(V v) {
  return static_cast<double>(v);
}

/// Any map-like of name -> (number or 0-d Array) as Metrics.
template <class M>
Metrics to_metrics(const M& m) {
  Metrics out;
  for (const auto& [name, value] : m) out[std::string(name)] = metric_value(value);
  return out;
}

/// Per-metric running means.
class MetricMean {
 public:
  void add(const Metrics& m);
  Metrics mean() const;
  bool empty() const { return sums_.empty(); }

 private:
  std::map<std::string, std::pair<double, int64_t>> sums_;
};

/// Tracks the best value of a monitored metric.
class Monitor {
 public:
  Monitor(std::string metric, Mode mode, double min_delta, std::string who);
  /// True when `metrics` improves on the best so far (the first epoch always does). Throws
  /// ValueError naming the metrics present when the monitored one is missing.
  bool update(const Metrics& metrics, int epoch);
  const std::string& metric() const { return metric_; }
  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }
  int epochs_without_improvement() const { return wait_; }

 private:
  std::string metric_, who_;
  Mode mode_;
  double min_delta_;
  double best_ = 0;
  int best_epoch_ = 0;
  int wait_ = 0;
};

/// Progress bar / plain lines.
class Reporter {
 public:
  Reporter(Progress progress, std::ostream* out, int epochs);
  void begin_epoch(int epoch, std::optional<size_t> num_batches);
  void batch(size_t done, const Metrics& running);
  void end_epoch(const Metrics& metrics, size_t num_batches);
  void message(const std::string& line);

 private:
  std::ostream* out_;
  bool bar_ = false, silent_ = false;
  int epochs_ = 0, epoch_ = 0;
  std::optional<size_t> num_batches_;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
};

void write_csv(const std::filesystem::path& path, const std::vector<Metrics>& epochs);
/// `m` with every name prefixed by "val_" (names that already start with it are kept).
Metrics validation_names(const Metrics& m);
/// The example order of one epoch: 0..n-1, or a Fisher-Yates shuffle by an mt19937_64 seeded
/// from (seed, epoch) -- deterministic across platforms.
std::vector<int32_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int epoch);
/// The shared leading dimension of the leaves (ValueError naming the shapes otherwise).
int64_t leading_dim(const std::vector<Array>& leaves);
[[noreturn]] void fit_error(const std::string& message);
/// The ConcretizationError of tracing the train step, with what to do about it.
[[noreturn]] void rethrow_traced_step_error(const ConcretizationError& e);
/// A fresh buffer with x's bytes (what a donated state must not share).
Array copy_array(const Array& x);

/// Trees whose every leaf is an Array (what jit can trace and return): Array, jx::Tree, None,
/// std::vector/array/map<string, T>/tuple/pair of them, and JX_TREE structs of them. TreeLike
/// alone does not say this: std::map<std::string, double> is TreeLike by its signature.
template <class T>
struct IsArrayTree : std::false_type {};
template <>
struct IsArrayTree<Array> : std::true_type {};
template <>
struct IsArrayTree<Tree> : std::true_type {};
template <>
struct IsArrayTree<NoneType> : std::true_type {};
template <class T>
struct IsArrayTree<std::vector<T>> : IsArrayTree<T> {};
template <class T, size_t N>
struct IsArrayTree<std::array<T, N>> : IsArrayTree<T> {};
template <class T>
struct IsArrayTree<std::map<std::string, T>> : IsArrayTree<T> {};
template <class... Ts>
struct IsArrayTree<std::tuple<Ts...>> : std::conjunction<IsArrayTree<Ts>...> {};
template <class A, class B>
struct IsArrayTree<std::pair<A, B>> : std::conjunction<IsArrayTree<A>, IsArrayTree<B>> {};
template <class Fields>
struct FieldsAreArrayTrees : std::false_type {};
template <class... Fs>
struct FieldsAreArrayTrees<std::tuple<Fs...>> : std::conjunction<IsArrayTree<std::remove_cvref_t<Fs>>...> {};
template <class T>
  requires RegisteredStruct<T>
struct IsArrayTree<T> : FieldsAreArrayTrees<decltype(jx_tree_fields(std::declval<T&>()))> {};

template <class T>
concept ArrayTree = IsArrayTree<std::remove_cvref_t<T>>::value;

template <class Step, class State, class Batch>
using StepResult = std::remove_cvref_t<std::invoke_result_t<Step&, State&, Batch&>>;

/// A train step jit can compile: state, batch and result are trees of arrays.
template <class Step, class State, class Batch>
concept JittableStep = ArrayTree<State> && ArrayTree<Batch> && ArrayTree<StepResult<Step, State, Batch>>;

template <class D>
concept EpochCallable = requires(D& d) {
  { d(0) } -> std::ranges::range;
};
template <class D>
concept HasEpoch = requires(const D& d) {
  { d.epoch(0) } -> std::ranges::range;
};

/// The batches of one epoch from a provider: `data(epoch)`, `data.epoch(epoch)`, or a range
/// reused every epoch.
template <class D>
decltype(auto) batches_of(D& data, int epoch) {
  if constexpr (EpochCallable<D>) {
    return data(epoch);
  } else if constexpr (HasEpoch<D>) {
    return data.epoch(epoch);
  } else {
    static_assert(std::ranges::range<D>,
                  "fit: the data must be a range of batches, have .epoch(int), or be callable as data(epoch)");
    return (data);
  }
}

}  // namespace detail

/// Minibatches over a tree of arrays that share a leading (example) axis, e.g.
/// `Tree{{"x", x}, {"y", y}}` or `std::pair<Array, Array>`; batches have the data's tree type
/// and are gathered with jx::take. With `shuffle`, each epoch uses its own permutation drawn
/// from (seed, epoch).
struct LoaderOptions {
  bool shuffle = false;
  uint64_t seed = 0;
  /// Drop a last batch smaller than batch_size.
  bool drop_last = false;
};

template <class Data = Tree>
class DataLoader {
 public:
  DataLoader(Data data, int64_t batch_size, LoaderOptions options = {})
      : data_(std::move(data)), batch_size_(batch_size), options_(options) {
    if (batch_size <= 0) detail::fit_error(jx::detail::cat("[nn::DataLoader] batch_size must be positive, got ", batch_size));
    num_examples_ = detail::leading_dim(tree_leaves(data_));
  }

  int64_t num_examples() const { return num_examples_; }
  int64_t batch_size() const { return batch_size_; }
  /// Batches per epoch.
  size_t size() const {
    int64_t full = num_examples_ / batch_size_;
    return static_cast<size_t>(options_.drop_last || num_examples_ % batch_size_ == 0 ? full : full + 1);
  }

  class Epoch {
   public:
    class iterator {
     public:
      using value_type = Data;
      using difference_type = std::ptrdiff_t;
      iterator() = default;
      iterator(const Epoch* epoch, size_t i) : epoch_(epoch), i_(i) {}
      Data operator*() const { return epoch_->batch(i_); }
      iterator& operator++() {
        ++i_;
        return *this;
      }
      void operator++(int) { ++i_; }
      bool operator==(const iterator& other) const { return i_ == other.i_; }

     private:
      const Epoch* epoch_ = nullptr;
      size_t i_ = 0;
    };
    Epoch(const DataLoader* loader, std::vector<int32_t> order) : loader_(loader), order_(std::move(order)) {}
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, loader_->size()); }
    size_t size() const { return loader_->size(); }
    /// Batch i of this epoch.
    Data batch(size_t i) const {
      auto start = static_cast<int64_t>(i) * loader_->batch_size_;
      auto stop = std::min<int64_t>(start + loader_->batch_size_, loader_->num_examples_);
      auto index = array(std::vector<int32_t>(order_.begin() + start, order_.begin() + stop));
      return tree_map([&](const Array& x) { return take(x, index, 0); }, loader_->data_);
    }

   private:
    const DataLoader* loader_;
    std::vector<int32_t> order_;
  };

  /// The batches of epoch `epoch` (a range; shuffled per epoch when enabled). The loader must
  /// outlive the range.
  Epoch epoch(int epoch) const {
    return Epoch(this, detail::epoch_order(num_examples_, options_.shuffle, options_.seed, epoch));
  }

 private:
  Data data_;
  int64_t batch_size_;
  LoaderOptions options_;
  int64_t num_examples_ = 0;
};

/// Averages `eval_step(state, batch)` (a map of name -> number or 0-d Array) over the batches
/// of `data` (a range, or a DataLoader's epoch 0).
template <class State, class EvalStep, class Data>
Metrics evaluate(EvalStep&& eval_step, const State& state, Data&& data) {
  detail::MetricMean mean;
  for (auto&& batch : detail::batches_of(data, 0)) mean.add(detail::to_metrics(eval_step(state, batch)));
  return mean.mean();
}

/// No eval function.
struct NoEval {};

/// Trains `state` in place for options.epochs epochs and returns the history.
///  - train_step(state, batch) -> (new state, metrics): a pair/tuple whose second element maps
///    names to numbers or 0-d Arrays; metrics are averaged over the epoch's batches.
///    By default (FitOptions::jit) the step is compiled, as
///    `jx::jit(train_step, {.donate_argnums = {0}})`: it is traced once per batch signature --
///    a DataLoader's last, smaller batch compiles a second executable once, unless
///    LoaderOptions::drop_last -- and `state` is donated to every call, so its old arrays, and
///    every other handle to them (the params you built the state from), are deleted after the
///    first step (reading one throws; copy what you want to keep). Values the step captures are
///    baked in at its first trace: pass what changes between steps (a step count, a dropout
///    key) in the state or the batch.
///  - train_data: a range of batches reused every epoch, an object with .epoch(int) (DataLoader),
///    or a callable data(epoch) returning a range.
///  - eval(state) -> metrics, run after every epoch; its names get the prefix "val_".
/// Early stopping, best checkpoints and the CSV log are configured in `options`; the monitored
/// metric must be among the epoch's metrics (ValueError listing them otherwise).
template <class State, class Step, class Data, class Eval>
History fit(State& state, Step&& train_step, Data&& train_data, Eval&& eval, const FitOptions& options = {}) {
  if (options.epochs < 0) detail::fit_error(jx::detail::cat("[nn::fit] epochs must be >= 0, got ", options.epochs));
  History history;
  detail::Reporter reporter(options.progress, options.out, options.epochs);
  std::optional<detail::Monitor> stopper, saver;
  if (options.early_stopping) {
    auto& es = *options.early_stopping;
    if (es.patience < 0) detail::fit_error(jx::detail::cat("[nn::fit] early stopping patience must be >= 0, got ", es.patience));
    stopper.emplace(es.monitor, es.mode, es.min_delta, "early stopping");
  }
  if (options.checkpoint) {
    if constexpr (!TreeLike<State>) {
      detail::fit_error("[nn::fit] best-checkpoint saving needs a tree state (jx::Tree, std containers, or a "
                        "struct registered with JX_TREE)");
    }
    if (options.checkpoint->path.empty()) detail::fit_error("[nn::fit] the best checkpoint's path is empty");
    saver.emplace(options.checkpoint->monitor, options.checkpoint->mode, 0.0, "best checkpoint");
  }
  std::optional<State> best_state;
  // The compiled step: one jit cache for the whole run (a new fit call traces again).
  JitOptions jit_options;
  jit_options.donate_argnums = {0};
  jit_options.name = "train_step";
  auto compiled = jx::jit([&train_step](const auto& s, const auto& b) { return train_step(s, b); }, jit_options);

  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    // 1. Train over the epoch's batches, averaging the step metrics.
    decltype(auto) batches = detail::batches_of(train_data, epoch - 1);
    std::optional<size_t> num_batches;
    if constexpr (std::ranges::sized_range<std::remove_reference_t<decltype(batches)>>) {
      num_batches = static_cast<size_t>(std::ranges::size(batches));
    }
    reporter.begin_epoch(epoch, num_batches);
    detail::MetricMean mean;
    size_t done = 0;
    for (auto&& batch : batches) {
      using Batch = std::remove_reference_t<decltype(batch)>;
      using Result = detail::StepResult<Step, State, Batch>;
      auto result = [&]() -> Result {
        if constexpr (detail::JittableStep<Step, State, Batch>) {
          if (options.jit) {
            history.jitted = true;
            try {
              return Result(compiled(std::as_const(state), std::as_const(batch)));
            } catch (const ConcretizationError& e) {
              detail::rethrow_traced_step_error(e);
            }
          }
        }
        return Result(train_step(state, batch));
      }();
      auto&& [next_state, step_metrics] = result;
      state = std::move(next_state);
      mean.add(detail::to_metrics(step_metrics));
      reporter.batch(++done, mean.mean());
    }
    Metrics metrics = mean.mean();
    // 2. Validation.
    if constexpr (!std::is_same_v<std::decay_t<Eval>, NoEval>) {
      for (auto& [name, value] : detail::validation_names(detail::to_metrics(eval(std::as_const(state))))) {
        metrics[name] = value;
      }
    }
    history.epochs.push_back(metrics);
    reporter.end_epoch(metrics, done);
    if (!options.csv_log.empty()) detail::write_csv(options.csv_log, history.epochs);
    // 3. Best checkpoint, then early stopping.
    if (saver && saver->update(metrics, epoch)) {
      if constexpr (TreeLike<State>) {
        save(state, options.checkpoint->path,
             {{"epoch", std::to_string(epoch)}, {saver->metric(), jx::detail::cat(saver->best())}});
        reporter.message(jx::detail::cat("saved the best checkpoint (", saver->metric(), " ", saver->best(),
                                         ") to ", options.checkpoint->path.string()));
      }
    }
    if (stopper) {
      if (stopper->update(metrics, epoch)) {
        if (options.early_stopping->restore_best) {
          // The next step donates the state's buffers: keep a copy of its own.
          if constexpr (detail::ArrayTree<State>) {
            if (history.jitted) {
              best_state = tree_map(detail::copy_array, state);
            } else {
              best_state = state;
            }
          } else {
            best_state = state;
          }
        }
      } else if (stopper->epochs_without_improvement() >= options.early_stopping->patience) {
        history.stopped_early = true;
      }
    }
    if (stopper || saver) {
      const detail::Monitor& m = stopper ? *stopper : *saver;
      history.best_epoch = m.best_epoch();
      history.best_value = m.best();
    }
    if (history.stopped_early) {
      reporter.message(jx::detail::cat("early stopping at epoch ", epoch, ": ", stopper->metric(),
                                       " has not improved for ", stopper->epochs_without_improvement(),
                                       " epochs (best ", stopper->best(), " at epoch ", stopper->best_epoch(), ")"));
      break;
    }
  }
  if (best_state) state = std::move(*best_state);
  return history;
}

/// fit without an eval function.
template <class State, class Step, class Data>
History fit(State& state, Step&& train_step, Data&& train_data, const FitOptions& options = {}) {
  return fit(state, std::forward<Step>(train_step), std::forward<Data>(train_data), NoEval{}, options);
}

}  // namespace jx::nn
