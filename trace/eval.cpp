// eval_jaxpr: interprets a jaxpr by binding each equation, and check_jaxpr, the type checker.

#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/trace.h"
#include "trace/jaxpr.h"

namespace jx {

namespace {
std::string eqn_str(const Eqn& eqn) {
  std::ostringstream os;
  for (size_t i = 0; i < eqn.outputs.size(); ++i) os << (i ? " " : "") << eqn.outputs[i]->aval.str();
  os << " = " << eqn.prim.name();
  if (!eqn.params.empty()) {
    os << "[";
    eqn.params.print(os);
    os << "]";
  }
  for (auto& in : eqn.inputs) os << " " << atom_aval(in).str();
  return os.str();
}
}  // namespace

std::vector<Array> eval_jaxpr(const Jaxpr& jaxpr, std::span<const Array> consts, std::span<const Array> args) {
  if (consts.size() != jaxpr.constvars.size() || args.size() != jaxpr.invars.size()) {
    throw_error<ValueError>("[eval_jaxpr] the jaxpr takes ", jaxpr.constvars.size(), " constants and ",
                            jaxpr.invars.size(), " arguments, got ", consts.size(), " and ", args.size());
  }
  std::unordered_map<const VarNode*, Array> env;
  env.reserve(jaxpr.constvars.size() + jaxpr.invars.size() + jaxpr.eqns.size());
  for (size_t i = 0; i < consts.size(); ++i) env[jaxpr.constvars[i].get()] = consts[i];
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& want = jaxpr.invars[i]->aval;
    if (!args[i].defined() || args[i].dtype() != want.dtype || args[i].shape() != want.shape) {
      throw_error<ShapeError>("[eval_jaxpr] argument ", i, " should be ", want.str(), ", got ",
                              args[i].defined() ? args[i].aval().str() : "undefined");
    }
    env[jaxpr.invars[i].get()] = args[i];
  }
  auto read = [&](const Atom& a) -> Array {
    if (auto* lit = std::get_if<Literal>(&a)) return lit->value;
    auto it = env.find(std::get<Var>(a).get());
    JX_CHECK(it != env.end(), "jaxpr variable used before definition");
    return it->second;
  };
  std::vector<Array> ins;
  for (auto& eqn : jaxpr.eqns) {
    ins.clear();
    for (auto& a : eqn.inputs) ins.push_back(read(a));
    std::vector<Array> outs;
    try {
      outs = jx::bind(eqn.prim, ins, eqn.params, eqn.loc);
    } catch (Error& e) {
      e.add_context("while evaluating equation: " + eqn_str(eqn));
      throw;
    }
    JX_CHECK(outs.size() == eqn.outputs.size(), eqn.prim.name(), " returned ", outs.size(), " outputs, the jaxpr expects ",
             eqn.outputs.size());
    for (size_t i = 0; i < outs.size(); ++i) env[eqn.outputs[i].get()] = std::move(outs[i]);
  }
  std::vector<Array> result;
  for (auto& o : jaxpr.outvars) result.push_back(read(o));
  return result;
}

std::vector<Array> ClosedJaxpr::operator()(std::span<const Array> args) const {
  return eval_jaxpr(*jaxpr, consts, args);
}

void check_jaxpr(const Jaxpr& jaxpr) {
  std::unordered_set<const VarNode*> defined;
  for (auto& v : jaxpr.constvars) defined.insert(v.get());
  for (auto& v : jaxpr.invars) defined.insert(v.get());
  auto check_atom = [&](const Atom& a, const std::string& where) {
    if (auto* v = std::get_if<Var>(&a)) JX_CHECK(defined.count(v->get()), "variable used before definition in ", where);
  };
  for (auto& eqn : jaxpr.eqns) {
    std::vector<AbstractValue> in;
    for (auto& a : eqn.inputs) {
      check_atom(a, eqn_str(eqn));
      in.push_back(atom_aval(a));
    }
    auto out = abstract_eval(eqn.prim, in, eqn.params);
    JX_CHECK(out.size() == eqn.outputs.size(), "output count mismatch in ", eqn_str(eqn));
    for (size_t i = 0; i < out.size(); ++i) {
      JX_CHECK(out[i].dtype == eqn.outputs[i]->aval.dtype && out[i].shape == eqn.outputs[i]->aval.shape,
               "output type mismatch in ", eqn_str(eqn), ": rule gives ", out[i].str());
      JX_CHECK(defined.insert(eqn.outputs[i].get()).second, "variable defined twice in ", eqn_str(eqn));
    }
  }
  for (auto& o : jaxpr.outvars) check_atom(o, "outputs");
}

}  // namespace jx
