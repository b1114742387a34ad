// The trace stack and bind.

#include <algorithm>

#include "core/log.h"
#include "core/trace.h"
#ifdef JX_WITH_CUDA
#include "backends/cuda/executable.h"
#endif

namespace jx {

namespace {

struct TraceState {
  std::vector<std::shared_ptr<Trace>> stack;
  std::shared_ptr<Trace> dynamic;
  Loc user_loc;
  int loc_depth = 0;
};

TraceState& state() {
  thread_local TraceState s;
  return s;
}

}  // namespace

TraceScope::TraceScope(std::shared_ptr<Trace> trace, bool dynamic)
    : trace_(std::move(trace)), dynamic_(dynamic) {
  auto& s = state();
  trace_->level_ = static_cast<int>(s.stack.size()) + 1;
  s.stack.push_back(trace_);
  if (dynamic_) {
    previous_dynamic_ = s.dynamic;
    s.dynamic = trace_;
  }
}

TraceScope::~TraceScope() {
  auto& s = state();
  trace_->alive_ = false;
  trace_->finished();
  if (dynamic_) s.dynamic = previous_dynamic_;
  // Normally the top; after an exception unwound an inner scope out of order, remove it wherever it is.
  auto it = std::find(s.stack.begin(), s.stack.end(), trace_);
  if (it != s.stack.end()) s.stack.erase(it);
}

int next_trace_level() { return static_cast<int>(state().stack.size()) + 1; }
int trace_depth() { return static_cast<int>(state().stack.size()); }

LocScope::LocScope(const Loc& loc) {
  auto& s = state();
  outermost_ = s.loc_depth == 0;
  if (outermost_) s.user_loc = loc;
  ++s.loc_depth;
}
LocScope::~LocScope() {
  auto& s = state();
  --s.loc_depth;
  if (outermost_) s.user_loc = Loc();
}
const Loc& LocScope::loc() const { return state().user_loc; }
Loc current_user_loc() { return state().loc_depth > 0 ? state().user_loc : Loc(); }

Array full_raise(Trace& trace, const Array& x) {
  Tracer* t = x.tracer();
  if (!t) return trace.pure(x);
  Trace& xt = t->trace();
  if (&xt == &trace) {
    if (!trace.alive()) {
      throw TraceError(detail::cat("[", trace.name(), "] a tracer ", x.aval().str(),
                                   " escaped from a finished trace"));
    }
    return x;
  }
  if (!xt.alive()) {
    throw TraceError(detail::cat(
        "[", xt.name(), "] escaped tracer: a traced value ", x.aval().str(), " from a ", xt.name(),
        " trace that has already finished was used later (for example stored in a global or a "
        "captured variable). Return it from the transformed function instead"));
  }
  if (xt.level() < trace.level()) return trace.lift(x);
  throw TraceError(detail::cat("[", trace.name(), "] a tracer ", x.aval().str(), " of an inner ", xt.name(),
                               " trace leaked into an outer ", trace.name(), " trace"));
}

std::vector<AbstractValue> abstract_eval(const Primitive& prim, std::span<const AbstractValue> args,
                                         const Params& params) {
  auto out = prim.def().shape_rule(args, params);
  if (prim.def().num_outputs >= 0) {
    JX_CHECK(static_cast<int>(out.size()) == prim.def().num_outputs, "shape rule of ", prim.name(),
             " returned ", out.size(), " outputs");
  }
  return out;
}

std::vector<Array> eval_primitive(const Primitive& prim, std::span<const Array> args, const Params& params) {
  ensure_runtime_initialized();
#ifdef JX_WITH_CUDA
  // Arrays on a CUDA device: the operation runs there (a cached single-equation program).
  if (const int device = cuda::eager_placement(args); device >= 0) return cuda::eval_primitive(prim, args, params, device);
#endif
  std::vector<AbstractValue> in_avals;
  in_avals.reserve(args.size());
  for (auto& a : args) {
    JX_CHECK(a.defined() && !a.is_tracer(), "eager ", prim.name(), " got a non-concrete input");
    in_avals.push_back(a.aval());
  }
  auto out_avals = abstract_eval(prim, in_avals, params);
  if (prim.def().impl) {
    auto outs = prim.def().impl(args, params);
    JX_CHECK(outs.size() == out_avals.size(), "impl of ", prim.name(), " returned ", outs.size(), " outputs");
    return outs;
  }
  const Kernel& kernel = prim.def().kernels[static_cast<int>(DeviceKind::cpu)];
  if (!kernel) {
    throw MissingRule(detail::cat("[", prim.name(), "] has no eager kernel on cpu"));
  }
  std::vector<Array> outs;
  outs.reserve(out_avals.size());
  for (auto& aval : out_avals) outs.push_back(detail::empty_array(aval));
  kernel(args, outs, params);
  return outs;
}

std::vector<Array> bind(const Primitive& prim, std::span<const Array> args, const Params& params,
                        const Loc& call_loc) {
  auto& s = state();
  const Loc loc = s.loc_depth > 0 ? s.user_loc : call_loc;
  try {
    // Find the innermost trace that any input belongs to (or the dynamic staging trace).
    Trace* top = nullptr;
    for (auto& a : args) {
      if (!a.defined()) {
        throw ValueError(detail::cat("[", prim.name(), "] an input is an undefined Array"));
      }
      if (Tracer* t = a.tracer()) {
        if (!top || t->trace().level() > top->level()) top = &t->trace();
      }
    }
    if (s.dynamic && (!top || s.dynamic->level() > top->level())) top = s.dynamic.get();
    if (!top) {
      SPDLOG_LOGGER_TRACE(detail::logger("core"), "eager {}", prim.name());
      return eval_primitive(prim, args, params);
    }
    if (!top->alive()) {
      throw TraceError(detail::cat("[", prim.name(), "] escaped tracer: an input belongs to a ", top->name(),
                                   " trace that has already finished"));
    }
    std::vector<Array> raised;
    raised.reserve(args.size());
    for (auto& a : args) raised.push_back(full_raise(*top, a));
    return top->process_primitive(prim, raised, params, loc);
  } catch (Error& e) {
    e.add_location(loc);
    throw;
  }
}

Array bind1(const Primitive& prim, std::span<const Array> args, const Params& params, const Loc& loc) {
  auto outs = jx::bind(prim, args, params, loc);
  JX_CHECK(outs.size() == 1, prim.name(), " returned ", outs.size(), " outputs to bind1");
  return std::move(outs[0]);
}

}  // namespace jx
