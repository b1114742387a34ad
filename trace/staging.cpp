// The staging trace behind make_jaxpr (and later jit): records every primitive applied to its
// tracers as an equation.

#include <unordered_map>

#include "core/log.h"
#include "core/trace.h"
#include "trace/jaxpr.h"

namespace jx {

namespace {

class StagingTrace : public Trace {
 public:
  explicit StagingTrace(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }

  Array new_arg(const AbstractValue& aval) {
    auto [tracer, var] = new_tracer(aval);
    invars_.push_back(var);
    return tracer;
  }

  Array pure(const Array& value) override { return const_tracer(value); }
  Array lift(const Array& outer) override { return const_tracer(outer); }

  std::vector<Array> process_primitive(const Primitive& prim, std::span<const Array> args, const Params& params,
                                       const Loc& loc) override {
    std::vector<AbstractValue> in_avals;
    Eqn eqn{prim, {}, params, {}, loc};
    for (auto& a : args) {
      in_avals.push_back(a.aval());
      eqn.inputs.push_back(atom_of(a));
    }
    auto out_avals = abstract_eval(prim, in_avals, params);
    std::vector<Array> outs;
    for (auto& aval : out_avals) {
      auto [tracer, var] = new_tracer(aval);
      eqn.outputs.push_back(var);
      outs.push_back(tracer);
    }
    eqns_.push_back(std::move(eqn));
    return outs;
  }

  void finished() override {
    const_tracers_.clear();
    keep_alive_.clear();
    vars_.clear();
    literals_.clear();
  }

  ClosedJaxpr finish(std::span<const Array> outs) {
    auto jaxpr = std::make_shared<Jaxpr>();
    for (auto& o : outs) jaxpr->outvars.push_back(atom_of(full_raise(*this, o)));
    jaxpr->invars = invars_;
    jaxpr->eqns = std::move(eqns_);
    jaxpr->constvars = constvars_;
    return ClosedJaxpr{std::move(jaxpr), const_values_};
  }

 private:
  std::pair<Array, Var> new_tracer(const AbstractValue& aval) {
    auto impl = std::make_shared<Tracer>(shared_from_this(), aval);
    Var var = new_var(aval);
    vars_[impl.get()] = var;
    return {Array(std::move(impl)), var};
  }

  Atom atom_of(const Array& tracer) {
    auto it = vars_.find(tracer.impl_ptr().get());
    JX_CHECK(it != vars_.end(), "tracer without a variable in ", name_);
    if (auto lit = literals_.find(it->first); lit != literals_.end()) return lit->second;
    return it->second;
  }

  // A constant (or an outer tracer) becomes a constvar; 0-d concrete scalars become literals.
  Array const_tracer(const Array& value) {
    auto key = value.impl_ptr().get();
    if (auto it = const_tracers_.find(key); it != const_tracers_.end()) return it->second;
    auto [tracer, var] = new_tracer(value.aval());
    if (!value.is_tracer() && value.ndim() == 0) {
      literals_[tracer.impl_ptr().get()] = Literal{value};
    } else {
      constvars_.push_back(var);
      const_values_.push_back(value);
    }
    const_tracers_[key] = tracer;
    keep_alive_.push_back(value);
    return tracer;
  }

  std::string name_;
  std::vector<Var> invars_, constvars_;
  std::vector<Array> const_values_, keep_alive_;
  std::vector<Eqn> eqns_;
  std::unordered_map<const ArrayImpl*, Var> vars_;
  std::unordered_map<const ArrayImpl*, Literal> literals_;
  std::unordered_map<const ArrayImpl*, Array> const_tracers_;
};

}  // namespace

ClosedJaxpr trace_to_jaxpr(const std::function<std::vector<Array>(std::span<const Array>)>& f,
                           std::span<const AbstractValue> in_avals, const std::string& name) {
  auto trace = std::make_shared<StagingTrace>(name);
  TraceScope scope(trace, /*dynamic=*/true);
  std::vector<Array> args;
  args.reserve(in_avals.size());
  for (auto& aval : in_avals) args.push_back(trace->new_arg(aval));
  std::vector<Array> outs = f(args);
  for (auto& o : outs) {
    if (!o.defined()) throw ValueError("[" + name + "] the traced function returned an undefined Array");
  }
  ClosedJaxpr result = trace->finish(outs);
  SPDLOG_LOGGER_DEBUG(detail::logger("trace"), "traced {} with {} equations", name, result.jaxpr->eqns.size());
  return result;
}

}  // namespace jx

namespace jx::detail {
std::vector<AbstractValue> avals_of(const std::vector<Array>& leaves, const char* transform) {
  std::vector<AbstractValue> avals;
  avals.reserve(leaves.size());
  for (auto& l : leaves) {
    if (!l.defined()) throw_error<ValueError>("[", transform, "] an argument is an undefined Array");
    avals.push_back(l.aval());
  }
  return avals;
}
}  // namespace jx::detail
