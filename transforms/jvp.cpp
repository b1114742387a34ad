// Forward mode: the JVP trace (primal, tangent) pairs with symbolic zeros, and jvp_jaxpr.

#include <sstream>

#include "core/log.h"
#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/prims/reduce.h"
#include "transforms/ad.h"

namespace jx {

namespace {

class JvpTrace;

class JvpTracer : public Tracer {
 public:
  JvpTracer(std::shared_ptr<Trace> trace, Array primal, Array tangent)
      : Tracer(std::move(trace), primal.aval()), primal_(std::move(primal)), tangent_(std::move(tangent)) {}
  const Array& primal() const { return primal_; }
  const Array& tangent() const { return tangent_; }

 private:
  Array primal_, tangent_;
};

class JvpTrace : public Trace {
 public:
  std::string name() const override { return "jvp"; }
  Array pure(const Array& x) override { return Array(std::make_shared<JvpTracer>(shared_from_this(), x, Array())); }
  Array lift(const Array& x) override { return pure(x); }

  Array make(const Array& primal, const Array& tangent) {
    return Array(std::make_shared<JvpTracer>(shared_from_this(), primal, tangent));
  }

  std::vector<Array> process_primitive(const Primitive& prim, std::span<const Array> args, const Params& params,
                                       const Loc& loc) override {
    std::vector<Array> primals, tangents;
    bool any_tangent = false;
    for (auto& a : args) {
      auto* t = static_cast<JvpTracer*>(a.tracer());
      primals.push_back(t->primal());
      tangents.push_back(t->tangent());
      any_tangent |= t->tangent().defined();
    }
    if (any_tangent && prim.def().jvp_full) {
      auto [outs, touts] = prim.def().jvp_full(primals, tangents, params);
      std::vector<Array> result;
      for (size_t i = 0; i < outs.size(); ++i) result.push_back(make(outs[i], touts[i]));
      return result;
    }
    std::vector<Array> outs = jx::bind(prim, primals, params, loc);
    std::vector<Array> out_tangents(outs.size());
    if (any_tangent) {
      const auto& def = prim.def();
      if (!def.jvp) {
        auto gap = def.gaps.find("jvp");
        throw MissingRule(detail::cat("[jvp] '", prim.name(), "' has no JVP rule",
                                      gap != def.gaps.end() ? ": " + gap->second : std::string()));
      }
      out_tangents = def.jvp(primals, tangents, outs, params);
      JX_CHECK(out_tangents.size() == outs.size(), "JVP rule of ", prim.name(), " returned ", out_tangents.size(),
               " tangents for ", outs.size(), " outputs");
      for (size_t i = 0; i < outs.size(); ++i) {
        // Integer and bool outputs have zero tangents (JAX's float0).
        if (!is_floating(outs[i].dtype())) out_tangents[i] = Array();
        if (out_tangents[i].defined()) {
          JX_CHECK(out_tangents[i].shape() == outs[i].shape() && out_tangents[i].dtype() == outs[i].dtype(),
                   "JVP rule of ", prim.name(), " gave a tangent ", out_tangents[i].aval().str(), " for output ",
                   outs[i].aval().str());
        }
      }
    }
    std::vector<Array> result;
    for (size_t i = 0; i < outs.size(); ++i) result.push_back(make(outs[i], out_tangents[i]));
    return result;
  }
};

}  // namespace

ClosedJaxpr jvp_jaxpr(const ClosedJaxpr& jaxpr, const std::vector<bool>& nonzeros) {
  auto in_avals = jaxpr.in_avals();
  JX_CHECK(nonzeros.size() == in_avals.size(), "jvp_jaxpr: nonzeros has ", nonzeros.size(), " entries for ",
           in_avals.size(), " inputs");
  std::vector<AbstractValue> avals = in_avals;
  for (size_t i = 0; i < in_avals.size(); ++i)
    if (nonzeros[i]) avals.push_back(in_avals[i]);
  const size_t n = in_avals.size();
  return trace_to_jaxpr(
      [&](std::span<const Array> flat) {
        auto trace = std::make_shared<JvpTrace>();
        std::vector<Array> outs, primal_outs, tangent_outs;
        {
          TraceScope scope(trace, /*dynamic=*/false);
          std::vector<Array> args;
          size_t k = n;
          for (size_t i = 0; i < n; ++i) args.push_back(trace->make(flat[i], nonzeros[i] ? flat[k++] : Array()));
          outs = eval_jaxpr(*jaxpr.jaxpr, jaxpr.consts, args);
          for (auto& o : outs) {
            auto* t = dynamic_cast<JvpTracer*>(o.tracer());
            if (t && &t->trace() == trace.get()) {
              primal_outs.push_back(t->primal());
              tangent_outs.push_back(t->tangent());
            } else {
              primal_outs.push_back(o);  // an output that does not depend on the inputs
              tangent_outs.push_back(Array());
            }
          }
        }
        std::vector<Array> result = primal_outs;
        for (size_t i = 0; i < tangent_outs.size(); ++i) result.push_back(instantiate(tangent_outs[i], primal_outs[i].aval()));
        return result;
      },
      avals, "jvp");
}

}  // namespace jx
