#pragma once
// jx::jit: traces a function once per argument signature, optimizes the jaxpr, fuses it into
// kernels, compiles them to native code with LLVM ORC and caches the executable.
//
//   auto jf = jx::jit(f);                                   // compiled, cached by signature
//   auto js = jx::jit(f, {.static_argnums = {1}, .donate_argnums = {0}});
//   std::string ir = jx::jit(f).lower(x).as_text();         // optimized jaxpr, fusion, LLVM IR
//
// Called on concrete arrays, a jitted function runs its executable directly. Called under
// another transform (grad, vmap, make_jaxpr, an enclosing jit), it appears as one `pjit`
// equation holding its jaxpr, whose JVP, transpose, partial-evaluation and batching rules
// transform that jaxpr: grad(jit(f)) and vmap(jit(f)) run compiled code.
//
// Like jax.jit, values f captures from its surroundings are baked in at the first call of a
// signature: pass values that change between calls as arguments.

#include <any>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <typeindex>
#include <vector>

#include "core/tree.h"
#include "trace/make_jaxpr.h"

namespace jx {

struct JitOptions {
  /// Arguments passed as C++ values, not traced: any type with std::hash and ==. A new value
  /// compiles a new executable.
  std::vector<int> static_argnums = {};
  /// Arguments whose buffers the executable may reuse for its outputs; they are deleted by the
  /// call (reading them afterwards raises jx::Error).
  std::vector<int> donate_argnums = {};
  /// Name shown in jaxprs, logs and LLVM symbols (default "jit").
  std::string name = {};
};

class Executable;

namespace detail {

/// A static argument, type-erased: hash and equality of the C++ value.
struct StaticArg {
  std::type_index type = typeid(void);
  size_t hash = 0;
  std::shared_ptr<const void> value;
  bool (*equal)(const void*, const void*) = nullptr;
  bool operator==(const StaticArg& o) const {
    return type == o.type && hash == o.hash && equal(value.get(), o.value.get());
  }
};

[[noreturn]] void throw_static_arg_not_hashable(int argnum, const char* name);
[[noreturn]] void throw_not_a_tree(int argnum, const char* name);
[[noreturn]] void throw_bad_argnum(const char* what, int argnum, size_t nargs, const char* name);

template <class T>
StaticArg make_static_arg(const T& x, int argnum, const char* name) {
  if constexpr (requires { std::hash<T>{}(x); x == x; }) {
    StaticArg s;
    s.type = typeid(T);
    s.hash = std::hash<T>{}(x);
    s.value = std::make_shared<T>(x);
    s.equal = [](const void* a, const void* b) { return *static_cast<const T*>(a) == *static_cast<const T*>(b); };
    return s;
  } else {
    throw_static_arg_not_hashable(argnum, name);
  }
}
/// The shared state of a jitted function: its options and the per-signature caches.
struct JitState;
std::shared_ptr<JitState> make_jit_state(JitOptions options, Loc loc);
const JitOptions& jit_options(const JitState& state);

/// A flattened call: leaves of the dynamic arguments, their structure, the static arguments.
struct JitCall {
  std::vector<Array> leaves;
  std::vector<TreeDef> arg_defs;        // one per argument (empty def for static ones)
  std::vector<StaticArg> statics;       // one per static argument, in argnum order
  std::vector<bool> donated;            // one per leaf
};

/// Traces a flat function into a closed jaxpr (called on a cache miss).
using FlatTracer = std::function<std::pair<ClosedJaxpr, TreeDef>(const std::vector<AbstractValue>& avals)>;
/// Makes the tracer: only called on a cache miss, so the hit path allocates nothing for it.
class TracerFactory {
 public:
  template <class F>
  explicit TracerFactory(const F& f) : obj_(&f), call_([](const void* o) { return (*static_cast<const F*>(o))(); }) {}
  FlatTracer operator()() const { return call_(obj_); }

 private:
  const void* obj_;
  FlatTracer (*call_)(const void*);
};

/// Runs the call: on concrete arrays through the cached executable; under a transform by binding
/// pjit. Returns the output leaves and their structure.
std::pair<std::vector<Array>, std::shared_ptr<const TreeDef>> jit_run(JitState& state, JitCall& call, const TracerFactory& tracer);

/// The lowered program for `lower(...)`.
std::shared_ptr<const Executable> jit_lower(JitState& state, JitCall& call, const TracerFactory& tracer);
std::string executable_text(const Executable& exe);
const ClosedJaxpr& executable_jaxpr(const Executable& exe);

}  // namespace detail

/// The result of jit(f).lower(args...): the program compiled for those arguments' signature.
class Lowered {
 public:
  explicit Lowered(std::shared_ptr<const Executable> exe) : exe_(std::move(exe)) {}
  /// The optimized jaxpr, the fusion groups (kernels and library calls, with the buffer plan)
  /// and the LLVM IR of the generated kernels.
  std::string as_text() const { return detail::executable_text(*exe_); }
  /// The optimized jaxpr the kernels were made from.
  const ClosedJaxpr& jaxpr() const { return detail::executable_jaxpr(*exe_); }

 private:
  std::shared_ptr<const Executable> exe_;
};

template <class F>
class JitFn {
 public:
  JitFn(F f, JitOptions options, Loc loc) : f_(std::move(f)), state_(detail::make_jit_state(std::move(options), loc)) {}

  template <class... Args>
  auto operator()(const Args&... args) const {
    using R = std::invoke_result_t<F, const Args&...>;
    detail::JitCall call;
    flatten<Args...>(call, args...);
    auto factory = [&] { return make_tracer<Args...>(call, args...); };
    auto [outs, out_def] = detail::jit_run(*state_, call, detail::TracerFactory(factory));
    return tree_unflatten<std::decay_t<R>>(*out_def, outs);
  }

  /// The program compiled for these arguments' signature (compiling it if needed).
  template <class... Args>
  Lowered lower(const Args&... args) const {
    detail::JitCall call;
    flatten<Args...>(call, args...);
    auto factory = [&] { return make_tracer<Args...>(call, args...); };
    return Lowered(detail::jit_lower(*state_, call, detail::TracerFactory(factory)));
  }

 private:
  static bool contains(const std::vector<int>& v, int i) {
    for (int x : v)
      if (x == i) return true;
    return false;
  }

  // Flattens the arguments into `call`.
  template <class... Args>
  void flatten(detail::JitCall& call, const Args&... args) const {
    const JitOptions& opt = detail::jit_options(*state_);
    constexpr size_t nargs = sizeof...(Args);
    const char* name = opt.name.empty() ? "jit" : opt.name.c_str();
    for (int a : opt.static_argnums)
      if (a < 0 || static_cast<size_t>(a) >= nargs) detail::throw_bad_argnum("static_argnums", a, nargs, name);
    for (int a : opt.donate_argnums)
      if (a < 0 || static_cast<size_t>(a) >= nargs) detail::throw_bad_argnum("donate_argnums", a, nargs, name);
    size_t i = 0;
    call.leaves.reserve(sizeof...(Args));
    (
        [&](const auto& arg) {
          using T = std::decay_t<decltype(arg)>;
          const int argnum = static_cast<int>(i++);
          if (contains(opt.static_argnums, argnum)) {
            call.statics.push_back(detail::make_static_arg(arg, argnum, name));
            call.arg_defs.emplace_back();
          } else {
            if constexpr (TreeLike<T>) {
              size_t before = call.leaves.size();
              call.arg_defs.push_back(TreeTraits<T>::flatten(arg, call.leaves));
              if (!opt.donate_argnums.empty()) call.donated.resize(call.leaves.size(), contains(opt.donate_argnums, argnum));
              (void)before;
            } else {
              detail::throw_not_a_tree(argnum, name);
            }
          }
        }(args),
        ...);
  }

  // The function that traces f at the signature of `call`.
  template <class... Args>
  detail::FlatTracer make_tracer(const detail::JitCall& call, const Args&... args) const {
    const JitOptions& opt = detail::jit_options(*state_);
    auto statics = std::make_shared<std::tuple<const Args*...>>(&args...);
    // The tracer rebuilds each dynamic argument from its leaves; static ones are the values
    // of this call (they are part of the cache key, so equal values trace equally).
    return [f = f_, defs = call.arg_defs, statics, static_argnums = opt.static_argnums](
               const std::vector<AbstractValue>& avals) {
      TreeDef out_def;
      ClosedJaxpr jaxpr = trace_to_jaxpr(
          [&](std::span<const Array> flat) {
            size_t pos = 0, k = 0;
            auto rebuild = [&](const auto* arg) {
              using T = std::decay_t<decltype(*arg)>;
              const int argnum = static_cast<int>(k);
              const TreeDef& def = defs[k++];
              if (contains(static_argnums, argnum)) return *arg;
              if constexpr (TreeLike<T>) {
                std::vector<Array> leaves(flat.begin() + pos, flat.begin() + pos + def.num_leaves);
                pos += def.num_leaves;
                return tree_unflatten<T>(def, leaves);
              } else {
                return *arg;
              }
            };
            auto rebuilt = std::apply([&](const auto*... a) { return std::tuple<std::decay_t<decltype(*a)>...>{rebuild(a)...}; },
                                      *statics);
            F fc = f;
            auto result = std::apply(fc, rebuilt);
            auto [out, def] = tree_flatten(result);
            out_def = std::move(def);
            return out;
          },
          avals, "jit");
      return std::pair{std::move(jaxpr), std::move(out_def)};
    };
  }

  F f_;
  std::shared_ptr<detail::JitState> state_;
};

/// Compiles f (a function over trees of arrays) with LLVM, per argument signature.
template <class F>
JitFn<F> jit(F f, JitOptions options = {}, const Loc& loc = Loc::current()) {
  return JitFn<F>(std::move(f), std::move(options), loc);
}

}  // namespace jx
