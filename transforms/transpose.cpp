// Reverse mode's second half: transposing a jaxpr that is linear in some inputs.

#include <unordered_map>
#include <unordered_set>

#include "transforms/ad.h"

namespace jx {

namespace {
const VarNode* var_of(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

}  // namespace

std::vector<Array> backward_pass(const Jaxpr& jaxpr, std::span<const Array> consts, std::span<const Array> args,
                                 const std::vector<bool>& linear, std::span<const Array> cts) {
  // 1. Forward: evaluate the non-linear equations (residual computations, e.g. under remat);
  //    mark everything that depends on a linear input as linear.
  std::unordered_map<const VarNode*, Array> env;
  std::unordered_set<const VarNode*> lin;
  for (size_t i = 0; i < consts.size(); ++i) env[jaxpr.constvars[i].get()] = consts[i];
  for (size_t i = 0; i < args.size(); ++i) {
    if (linear[i]) lin.insert(jaxpr.invars[i].get());
    else env[jaxpr.invars[i].get()] = args[i];
  }
  auto read = [&](const Atom& a) -> Array {
    if (auto* l = std::get_if<Literal>(&a)) return l->value;
    auto it = env.find(var_of(a));
    JX_CHECK(it != env.end(), "backward_pass: a non-linear value is missing");
    return it->second;
  };
  std::vector<const Eqn*> linear_eqns;
  for (const Eqn& eqn : jaxpr.eqns) {
    bool is_linear = false;
    for (auto& a : eqn.inputs) {
      const VarNode* v = var_of(a);
      is_linear |= v && lin.count(v);
    }
    if (is_linear) {
      for (auto& o : eqn.outputs) lin.insert(o.get());
      linear_eqns.push_back(&eqn);
      continue;
    }
    std::vector<Array> ins;
    for (auto& a : eqn.inputs) ins.push_back(read(a));
    auto outs = jx::bind(eqn.prim, ins, eqn.params, eqn.loc);
    for (size_t i = 0; i < outs.size(); ++i) env[eqn.outputs[i].get()] = outs[i];
  }

  // 2. Backward: accumulate cotangents from the outputs to the linear inputs.
  std::unordered_map<const VarNode*, Array> ct_env;
  auto add_ct = [&](const VarNode* v, const Array& ct) {
    if (!ct.defined() || !lin.count(v)) return;
    auto& slot = ct_env[v];
    slot = add_tangents(slot, ct);
  };
  for (size_t i = 0; i < jaxpr.outvars.size(); ++i)
    if (auto* v = var_of(jaxpr.outvars[i])) add_ct(v, cts[i]);

  for (size_t k = linear_eqns.size(); k-- > 0;) {
    const Eqn& eqn = *linear_eqns[k];
    std::vector<Array> ct_out;
    bool any = false;
    for (auto& o : eqn.outputs) {
      auto it = ct_env.find(o.get());
      ct_out.push_back(it == ct_env.end() ? Array() : it->second);
      any |= ct_out.back().defined();
      if (it != ct_env.end()) ct_env.erase(it);
    }
    if (!any) continue;
    std::vector<Array> ins;
    std::vector<char> is_lin;
    for (auto& a : eqn.inputs) {
      const VarNode* v = var_of(a);
      bool l = v && lin.count(v);
      is_lin.push_back(l);
      ins.push_back(l ? Array() : read(a));
    }
    const auto& def = eqn.prim.def();
    if (!def.transpose) {
      auto gap = def.gaps.find("transpose");
      throw MissingRule(detail::cat("[transpose] '", eqn.prim.name(), "' has no transpose rule",
                                    gap != def.gaps.end() ? ": " + gap->second
                                                          : std::string(" (is it linear in its tangent inputs?)")));
    }
    std::vector<bool> flags(is_lin.begin(), is_lin.end());
    std::vector<Array> ct_in;
    {
      LocScope scope(eqn.loc);
      std::vector<AbstractValue> in_avals;
      for (auto& a : eqn.inputs) in_avals.push_back(atom_aval(a));
      detail::TransposeInputAvalsScope avals_scope(&in_avals);
      std::unique_ptr<bool[]> lin_arr(new bool[flags.size()]);
      for (size_t i = 0; i < flags.size(); ++i) lin_arr[i] = flags[i];
      ct_in = def.transpose(ct_out, ins, std::span<const bool>(lin_arr.get(), flags.size()), eqn.params);
    }
    JX_CHECK(ct_in.size() == eqn.inputs.size(), "transpose rule of ", eqn.prim.name(), " returned ", ct_in.size(),
             " cotangents for ", eqn.inputs.size(), " inputs");
    for (size_t i = 0; i < ct_in.size(); ++i) {
      if (!is_lin[i] || !ct_in[i].defined()) continue;
      const VarNode* v = var_of(eqn.inputs[i]);
      JX_CHECK(ct_in[i].shape() == v->aval.shape, "transpose rule of ", eqn.prim.name(), " gave a cotangent ",
               ct_in[i].aval().str(), " for input ", v->aval.str());
      add_ct(v, ct_in[i]);
    }
  }
  std::vector<Array> result;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!linear[i]) continue;
    auto it = ct_env.find(jaxpr.invars[i].get());
    result.push_back(it == ct_env.end() ? Array() : it->second);
  }
  return result;
}

ClosedJaxpr transpose_jaxpr(const ClosedJaxpr& closed, const std::vector<bool>& linear) {
  const Jaxpr& jaxpr = *closed.jaxpr;
  std::vector<AbstractValue> avals;
  std::vector<AbstractValue> lin_avals;
  for (size_t i = 0; i < jaxpr.invars.size(); ++i) {
    if (linear[i]) lin_avals.push_back(jaxpr.invars[i]->aval);
    else avals.push_back(jaxpr.invars[i]->aval);
  }
  size_t num_nonlin = avals.size();
  for (auto& o : jaxpr.outvars) avals.push_back(atom_aval(o));
  return trace_to_jaxpr(
      [&](std::span<const Array> flat) {
        std::vector<Array> args;
        size_t k = 0;
        for (size_t i = 0; i < jaxpr.invars.size(); ++i) args.push_back(linear[i] ? Array() : flat[k++]);
        auto cts = backward_pass(jaxpr, closed.consts, args, linear, flat.subspan(num_nonlin));
        for (size_t i = 0; i < cts.size(); ++i) cts[i] = instantiate(cts[i], lin_avals[i]);
        return cts;
      },
      avals, "transpose");
}

}  // namespace jx
