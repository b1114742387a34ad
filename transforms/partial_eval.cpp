// Partial evaluation of a jaxpr into known and unknown parts, and dead-code elimination.

#include <unordered_map>
#include <unordered_set>

#include "transforms/ad.h"

namespace jx {

namespace {
const VarNode* var_of(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

std::unordered_map<int, PartialEvalRule>& pe_rules() {
  static std::unordered_map<int, PartialEvalRule> rules;
  return rules;
}
}  // namespace

void register_partial_eval_rule(const Primitive& prim, PartialEvalRule rule) { pe_rules()[prim.id()] = std::move(rule); }

PartialEval partial_eval_jaxpr(const ClosedJaxpr& closed, const std::vector<bool>& in_unknown,
                               const std::vector<bool>& instantiate) {
  const Jaxpr& jaxpr = *closed.jaxpr;
  JX_CHECK(in_unknown.size() == jaxpr.invars.size(), "partial_eval: flags for ", in_unknown.size(), " of ",
           jaxpr.invars.size(), " inputs");
  std::unordered_set<const VarNode*> unknown;
  for (size_t i = 0; i < in_unknown.size(); ++i)
    if (in_unknown[i]) unknown.insert(jaxpr.invars[i].get());

  auto known_jaxpr = std::make_shared<Jaxpr>();
  auto unknown_jaxpr = std::make_shared<Jaxpr>();
  known_jaxpr->constvars = jaxpr.constvars;
  for (size_t i = 0; i < in_unknown.size(); ++i)
    if (!in_unknown[i]) known_jaxpr->invars.push_back(jaxpr.invars[i]);

  // Residuals: known vars used by the unknown side, in order of first use. The unknown jaxpr
  // gets a fresh input var for each.
  std::vector<Var> residuals;
  std::unordered_map<const VarNode*, Var> residual_in;
  auto as_unknown_input = [&](const Atom& a) -> Atom {
    const VarNode* v = var_of(a);
    if (!v || unknown.count(v)) return a;
    auto it = residual_in.find(v);
    if (it != residual_in.end()) return it->second;
    Var fresh = new_var(v->aval);
    residual_in[v] = fresh;
    residuals.push_back(std::get<Var>(a));
    return fresh;
  };

  for (const Eqn& eqn : jaxpr.eqns) {
    bool any_unknown = false;
    for (auto& a : eqn.inputs) {
      const VarNode* v = var_of(a);
      any_unknown |= v && unknown.count(v);
    }
    if (!any_unknown) {
      known_jaxpr->eqns.push_back(eqn);
      continue;
    }
    if (auto rule = pe_rules().find(eqn.prim.id()); rule != pe_rules().end()) {
      std::vector<bool> flags;
      for (auto& a : eqn.inputs) {
        const VarNode* v = var_of(a);
        flags.push_back(v && unknown.count(v));
      }
      PartialEvalEqn split = rule->second(eqn, flags);
      if (split.known) known_jaxpr->eqns.push_back(*split.known);
      if (split.unknown) {
        Eqn e = *split.unknown;
        for (auto& a : e.inputs) a = as_unknown_input(a);
        for (auto& o : e.outputs) unknown.insert(o.get());
        unknown_jaxpr->eqns.push_back(std::move(e));
      }
      continue;
    }
    Eqn e = eqn;
    for (auto& a : e.inputs) a = as_unknown_input(a);
    for (auto& o : e.outputs) unknown.insert(o.get());
    unknown_jaxpr->eqns.push_back(std::move(e));
  }

  PartialEval result;
  for (size_t i = 0; i < jaxpr.outvars.size(); ++i) {
    const Atom& o = jaxpr.outvars[i];
    const VarNode* v = var_of(o);
    bool is_unknown = v && unknown.count(v);
    bool want_unknown = is_unknown || (i < instantiate.size() && instantiate[i]);
    result.out_unknown.push_back(want_unknown);
    if (want_unknown) {
      unknown_jaxpr->outvars.push_back(is_unknown ? o : as_unknown_input(o));
    } else {
      known_jaxpr->outvars.push_back(o);
    }
  }
  for (auto& r : residuals) known_jaxpr->outvars.push_back(r);
  for (auto& r : residuals) unknown_jaxpr->invars.push_back(residual_in[r.get()]);
  for (size_t i = 0; i < in_unknown.size(); ++i)
    if (in_unknown[i]) unknown_jaxpr->invars.push_back(jaxpr.invars[i]);
  result.num_residuals = static_cast<int>(residuals.size());
  result.known = ClosedJaxpr{known_jaxpr, closed.consts};
  result.unknown = ClosedJaxpr{unknown_jaxpr, {}};
  return result;
}

ClosedJaxpr dce_jaxpr(const ClosedJaxpr& closed, const std::vector<bool>& keep_outputs) {
  const Jaxpr& jaxpr = *closed.jaxpr;
  auto out = std::make_shared<Jaxpr>();
  std::unordered_set<const VarNode*> live;
  for (size_t i = 0; i < jaxpr.outvars.size(); ++i) {
    if (!keep_outputs.empty() && !keep_outputs[i]) continue;
    out->outvars.push_back(jaxpr.outvars[i]);
    if (auto* v = var_of(jaxpr.outvars[i])) live.insert(v);
  }
  std::vector<const Eqn*> kept;
  for (size_t i = jaxpr.eqns.size(); i-- > 0;) {
    const Eqn& eqn = jaxpr.eqns[i];
    bool needed = false;
    for (auto& o : eqn.outputs) needed |= live.count(o.get()) > 0;
    if (!needed) continue;  // every primitive is pure
    kept.push_back(&eqn);
    for (auto& a : eqn.inputs)
      if (auto* v = var_of(a)) live.insert(v);
  }
  for (size_t i = kept.size(); i-- > 0;) out->eqns.push_back(*kept[i]);
  out->invars = jaxpr.invars;
  // Drop constants nothing uses.
  std::vector<Array> consts;
  for (size_t i = 0; i < jaxpr.constvars.size(); ++i) {
    if (live.count(jaxpr.constvars[i].get())) {
      out->constvars.push_back(jaxpr.constvars[i]);
      consts.push_back(closed.consts[i]);
    }
  }
  return ClosedJaxpr{out, consts};
}

}  // namespace jx
