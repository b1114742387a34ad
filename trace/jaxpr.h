#pragma once
// The jaxpr IR: typed variables, literals, equations (primitive, params, inputs, outputs, the
// user's source line), Jaxpr and ClosedJaxpr (a jaxpr with the values of its constvars).
// Prints in JAX's text format; eval_jaxpr interprets it.

#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/array.h"
#include "core/params.h"
#include "core/primitive.h"

namespace jx {

struct VarNode {
  AbstractValue aval;
};
/// A variable: compared by identity.
using Var = std::shared_ptr<VarNode>;
inline Var new_var(AbstractValue aval) { return std::make_shared<VarNode>(VarNode{std::move(aval)}); }

/// A constant inlined in an equation (a concrete 0-d array).
struct Literal {
  Array value;
};
using Atom = std::variant<Var, Literal>;
const AbstractValue& atom_aval(const Atom& atom);

struct Eqn {
  Primitive prim;
  std::vector<Atom> inputs;
  Params params;
  std::vector<Var> outputs;
  Loc loc;
};

struct Jaxpr {
  std::vector<Var> constvars;
  std::vector<Var> invars;
  std::vector<Eqn> eqns;
  std::vector<Atom> outvars;

  std::vector<AbstractValue> in_avals() const;
  std::vector<AbstractValue> out_avals() const;
};

struct ClosedJaxpr {
  std::shared_ptr<const Jaxpr> jaxpr;
  /// Values of jaxpr->constvars: concrete arrays, or tracers of an outer trace (closure
  /// conversion of captured tracers).
  std::vector<Array> consts;

  std::vector<AbstractValue> in_avals() const { return jaxpr->in_avals(); }
  std::vector<AbstractValue> out_avals() const { return jaxpr->out_avals(); }
  /// JAX's text format.
  std::string str() const;
  /// Evaluates on arguments (concrete, or tracers when called under a transform).
  std::vector<Array> operator()(std::span<const Array> args) const;
};

std::ostream& operator<<(std::ostream& os, const Jaxpr& jaxpr);
std::ostream& operator<<(std::ostream& os, const ClosedJaxpr& jaxpr);
/// Prints with a given indentation (sub-jaxprs nested in params).
void print_jaxpr(std::ostream& os, const Jaxpr& jaxpr, int indent);

/// Interprets `jaxpr` by binding each equation's primitive: eager on concrete inputs, recorded
/// into the current trace on tracers. Errors get the equation and its source line attached.
std::vector<Array> eval_jaxpr(const Jaxpr& jaxpr, std::span<const Array> consts, std::span<const Array> args);

/// Checks that every equation's outputs match its shape rule and that vars are defined before
/// use; throws an internal error naming the equation otherwise.
void check_jaxpr(const Jaxpr& jaxpr);

/// A sub-jaxpr held in a primitive's params (call primitives). Compared by identity.
class JaxprParam : public ParamObject {
 public:
  explicit JaxprParam(ClosedJaxpr jaxpr) : jaxpr(std::move(jaxpr)) {}
  void print(std::ostream& os) const override;
  size_t hash() const override { return std::hash<const void*>{}(jaxpr.jaxpr.get()); }
  bool equals(const ParamObject& other) const override {
    auto* o = dynamic_cast<const JaxprParam*>(&other);
    return o && o->jaxpr.jaxpr == jaxpr.jaxpr;
  }
  ClosedJaxpr jaxpr;
};
std::shared_ptr<const ParamObject> jaxpr_param(ClosedJaxpr jaxpr);
/// The ClosedJaxpr stored under `name`.
const ClosedJaxpr& get_jaxpr(const Params& params, const std::string& name);

/// Moves a closed jaxpr's constants into leading inputs (closure conversion): the result has no
/// constants and takes consts..., args...; the constants' values are returned alongside.
std::pair<ClosedJaxpr, std::vector<Array>> convert_constvars(const ClosedJaxpr& jaxpr);

/// Traces `f` (on flat lists of arrays) at the given input avals into a closed jaxpr.
/// Concrete arrays `f` captures become constants; captured tracers of outer traces become
/// constants bound to those tracers.
ClosedJaxpr trace_to_jaxpr(const std::function<std::vector<Array>(std::span<const Array>)>& f,
                           std::span<const AbstractValue> in_avals, const std::string& name = "make_jaxpr");

}  // namespace jx
