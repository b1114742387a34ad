// Printing jaxprs in JAX's text format: variables named a, b, ..., z, ba, bb, ... in order of
// definition; one equation per line; literals with their type.

#include <cmath>
#include <iomanip>
#include <sstream>
#include <unordered_map>

#include "core/half_eval.h"
#include "trace/jaxpr.h"

namespace jx {

const AbstractValue& atom_aval(const Atom& atom) {
  if (auto* v = std::get_if<Var>(&atom)) return (*v)->aval;
  return std::get<Literal>(atom).value.aval();
}

std::vector<AbstractValue> Jaxpr::in_avals() const {
  std::vector<AbstractValue> out;
  for (auto& v : invars) out.push_back(v->aval);
  return out;
}

std::vector<AbstractValue> Jaxpr::out_avals() const {
  std::vector<AbstractValue> out;
  for (auto& a : outvars) out.push_back(atom_aval(a));
  return out;
}

namespace {

std::string var_name(int64_t n) {
  std::string s;
  do {
    s.insert(s.begin(), static_cast<char>('a' + n % 26));
    n /= 26;
  } while (n);
  return s;
}

std::string literal_str(const Array& v) {
  if (is_half_float(v.dtype())) {
    float f = 0;
    detail::copy_to_host(v, DType::float32, &f, "print", Loc());
    std::string s = detail::format_half(f, v.dtype());
    return (s.find_first_of(".en") == std::string::npos ? s + ".0" : s) + ":" + v.aval().str();
  }
  std::ostringstream os;
  dispatch_dtype(v.dtype(), [&](auto t) {
    using T = decltype(t);
    T x = *v.data<T>();
    if constexpr (std::is_same_v<T, bool>) {
      os << (x ? "True" : "False");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) os << "nan";
      else if (std::isinf(x)) os << (x > 0 ? "inf" : "-inf");
      else {
        std::ostringstream num;
        num << std::setprecision(std::is_same_v<T, float> ? 8 : 16) << x;
        std::string s = num.str();
        if (s.find_first_of(".e") == std::string::npos) s += ".0";
        os << s;
      }
    } else {
      os << +x;
    }
  });
  return os.str() + ":" + v.aval().str();
}

class Namer {
 public:
  std::string def(const Var& v) {
    std::string n = var_name(next_++);
    names_[v.get()] = n;
    return n + ":" + v->aval.str();
  }
  std::string use(const Atom& a) {
    if (auto* lit = std::get_if<Literal>(&a)) return literal_str(lit->value);
    auto it = names_.find(std::get<Var>(a).get());
    return it == names_.end() ? "?" : it->second;
  }

 private:
  int64_t next_ = 0;
  std::unordered_map<const VarNode*, std::string> names_;
};

}  // namespace

void print_jaxpr(std::ostream& os, const Jaxpr& jaxpr, int indent) {
  Namer names;
  std::string pad(indent, ' ');
  os << "{ lambda ";
  for (size_t i = 0; i < jaxpr.constvars.size(); ++i) os << (i ? " " : "") << names.def(jaxpr.constvars[i]);
  os << "; ";
  for (size_t i = 0; i < jaxpr.invars.size(); ++i) os << (i ? " " : "") << names.def(jaxpr.invars[i]);
  os << ". let";
  if (jaxpr.eqns.empty()) os << " ";
  for (auto& eqn : jaxpr.eqns) {
    // Inputs are named before the outputs are defined.
    std::vector<std::string> ins;
    for (auto& in : eqn.inputs) ins.push_back(names.use(in));
    os << "\n" << pad << "    ";
    for (size_t i = 0; i < eqn.outputs.size(); ++i) os << (i ? " " : "") << names.def(eqn.outputs[i]);
    os << " = " << eqn.prim.name();
    if (!eqn.params.empty()) {
      os << "[";
      eqn.params.print(os);
      os << "]";
    }
    for (auto& s : ins) os << " " << s;
  }
  if (!jaxpr.eqns.empty()) os << "\n" << pad << " ";
  os << " in (";
  for (size_t i = 0; i < jaxpr.outvars.size(); ++i) os << (i ? ", " : "") << names.use(jaxpr.outvars[i]);
  os << (jaxpr.outvars.size() == 1 ? ",) }" : ") }");
}

std::ostream& operator<<(std::ostream& os, const Jaxpr& jaxpr) {
  print_jaxpr(os, jaxpr, 0);
  return os;
}

std::ostream& operator<<(std::ostream& os, const ClosedJaxpr& jaxpr) { return os << *jaxpr.jaxpr; }

void JaxprParam::print(std::ostream& os) const { print_jaxpr(os, *jaxpr.jaxpr, 4); }

std::shared_ptr<const ParamObject> jaxpr_param(ClosedJaxpr jaxpr) {
  return std::make_shared<JaxprParam>(std::move(jaxpr));
}

const ClosedJaxpr& get_jaxpr(const Params& params, const std::string& name) {
  auto& obj = params.get<std::shared_ptr<const ParamObject>>(name);
  auto* p = dynamic_cast<const JaxprParam*>(obj.get());
  JX_CHECK(p, "parameter '", name, "' is not a jaxpr");
  return p->jaxpr;
}

std::pair<ClosedJaxpr, std::vector<Array>> convert_constvars(const ClosedJaxpr& closed) {
  auto j = std::make_shared<Jaxpr>(*closed.jaxpr);
  j->invars.insert(j->invars.begin(), j->constvars.begin(), j->constvars.end());
  j->constvars.clear();
  return {ClosedJaxpr{j, {}}, closed.consts};
}

std::string ClosedJaxpr::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

}  // namespace jx
