// The jaxpr optimization passes jit runs before fusion: inline_calls, simplify, fold_constants,
// cse, dce and the optimize pipeline. See jit/passes.h for the contract.

#include "jit/passes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "core/prims/elementwise.h"
#include "core/prims/reduce.h"
#include "core/prims/shape.h"
#include "core/trace.h"
#include "transforms/ad.h"

namespace jx::passes {

namespace {

// ---- atoms ----------------------------------------------------------------------------------------

const VarNode* var_of(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

bool concrete(const Array& x) { return x.defined() && !x.is_tracer(); }

size_t nbytes(const Array& x) { return static_cast<size_t>(x.size()) * itemsize(x.dtype()); }

// Same aval and the same bits (so -0.0 != 0.0 and a NaN equals itself).
bool same_bits(const Array& a, const Array& b) {
  if (a.impl_ptr() == b.impl_ptr()) return true;
  if (!concrete(a) || !concrete(b) || !(a.aval() == b.aval())) return false;
  return std::memcmp(a.raw_data(), b.raw_data(), nbytes(a)) == 0;
}

size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }

size_t hash_bits(const Array& x) {
  size_t h = mix(static_cast<size_t>(x.dtype()), x.weak_type());
  for (auto d : x.shape()) h = mix(h, static_cast<size_t>(d));
  return mix(h, std::hash<std::string_view>{}(
                    std::string_view(static_cast<const char*>(x.raw_data()), nbytes(x))));
}

// Variables by identity, literals by aval and bits.
bool atoms_equal(const Atom& a, const Atom& b) {
  auto* va = var_of(a);
  auto* vb = var_of(b);
  if (va || vb) return va == vb;
  return same_bits(std::get<Literal>(a).value, std::get<Literal>(b).value);
}

size_t hash_atom(const Atom& a) {
  if (auto* v = var_of(a)) return std::hash<const void*>{}(v);
  return hash_bits(std::get<Literal>(a).value);
}

// Element 0 of a concrete array as a double (keeps -0.0's sign and NaN).
double first_element(const Array& x) {
  return dispatch_storage_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (is_half_storage_v<T>) return static_cast<double>(static_cast<float>(x.data<T>()[0]));
    else return static_cast<double>(x.data<T>()[0]);
  });
}

// Variable substitution while a pass rebuilds a jaxpr: replaced variables map to their new atom
// (which is never itself replaced later, so one lookup suffices).
struct Subst {
  std::unordered_map<const VarNode*, Atom> map;
  Atom operator()(const Atom& a) const {
    if (auto* v = var_of(a)) {
      if (auto it = map.find(v); it != map.end()) return it->second;
    }
    return a;
  }
  void apply(Eqn& eqn) const {
    for (auto& in : eqn.inputs) in = (*this)(in);
  }
};

std::vector<AbstractValue> in_avals(const Eqn& eqn) {
  std::vector<AbstractValue> out;
  for (auto& a : eqn.inputs) out.push_back(atom_aval(a));
  return out;
}

// True when `eqn`'s shape rule accepts its inputs and gives exactly its outputs' avals (weak
// types included): the guard on every equation a rewrite creates.
bool types_check(const Eqn& eqn) {
  try {
    auto out = abstract_eval(eqn.prim, in_avals(eqn), eqn.params);
    if (out.size() != eqn.outputs.size()) return false;
    for (size_t i = 0; i < out.size(); ++i)
      if (!(out[i] == eqn.outputs[i]->aval)) return false;
    return true;
  } catch (const Error&) {
    return false;
  }
}

// ---- inline_calls ---------------------------------------------------------------------------------

// The param holding the callee of an inlinable call primitive, or nullptr.
const char* callee_key(const Primitive& prim) {
  const std::string& n = prim.name();
  if (n == "pjit" || n == "checkpoint") return "jaxpr";
  if (n == "custom_jvp_call" || n == "custom_vjp_call") return "call_jaxpr";
  return nullptr;
}

Params weak_convert_params(const AbstractValue& to) {
  return Params{{"new_dtype", to.dtype}, {"weak_type", to.weak_type}};
}

class Inliner {
 public:
  Inliner(Jaxpr& dst, std::vector<Array>& consts) : dst_(dst), consts_(consts) {
    for (size_t i = 0; i < consts_.size(); ++i) const_vars_.emplace(consts_[i].impl_ptr().get(), dst_.constvars[i]);
  }

  // Emits src's equations into dst_. `env` maps src's variables to atoms of dst_; with `fresh`
  // every equation output gets a new variable (a callee may be inlined more than once), else
  // outputs keep their identity (the top level).
  void emit(const Jaxpr& src, std::unordered_map<const VarNode*, Atom>& env, bool fresh) {
    auto read = [&](const Atom& a) -> Atom {
      if (auto* v = var_of(a)) {
        if (auto it = env.find(v); it != env.end()) return it->second;
        JX_CHECK(!fresh, "inline_calls: variable of an inlined jaxpr used before definition");
      }
      return a;
    };
    for (const Eqn& eqn : src.eqns) {
      std::vector<Atom> ins;
      for (auto& a : eqn.inputs) ins.push_back(read(a));
      if (const char* key = callee_key(eqn.prim); key && eqn.params.has(key)) {
        inline_call(eqn, get_jaxpr(eqn.params, key), ins, env, fresh);
        ++count;
        continue;
      }
      Eqn out{eqn.prim, std::move(ins), eqn.params, {}, eqn.loc};
      inline_in_params(out.params);
      for (auto& o : eqn.outputs) {
        if (fresh) {
          Var v = new_var(o->aval);
          env[o.get()] = v;
          out.outputs.push_back(v);
        } else {
          out.outputs.push_back(o);
        }
      }
      dst_.eqns.push_back(std::move(out));
    }
  }

  int64_t count = 0;

 private:
  void inline_call(const Eqn& eqn, const ClosedJaxpr& callee, const std::vector<Atom>& ins,
                   std::unordered_map<const VarNode*, Atom>& env, bool fresh) {
    const Jaxpr& body = *callee.jaxpr;
    JX_CHECK(body.invars.size() == ins.size() && body.outvars.size() == eqn.outputs.size(),
             "inline_calls: ", eqn.prim.name(), " has ", ins.size(), " inputs and ", eqn.outputs.size(),
             " outputs, its jaxpr ", body.invars.size(), " and ", body.outvars.size());
    std::unordered_map<const VarNode*, Atom> inner;
    for (size_t i = 0; i < body.constvars.size(); ++i) inner[body.constvars[i].get()] = add_const(callee.consts[i]);
    // Call shape rules check dtypes and shapes only: an argument whose weak type differs from
    // the callee's parameter is converted, so the inlined equations keep their types.
    for (size_t i = 0; i < ins.size(); ++i) inner[body.invars[i].get()] = coerce(ins[i], body.invars[i]->aval, eqn.loc);
    emit(body, inner, /*fresh=*/true);
    for (size_t i = 0; i < eqn.outputs.size(); ++i) {
      auto it = var_of(body.outvars[i]) ? inner.find(var_of(body.outvars[i])) : inner.end();
      Atom result = it != inner.end() ? it->second : body.outvars[i];
      const Var& o = eqn.outputs[i];
      if (atom_aval(result) == o->aval) {
        env[o.get()] = result;
      } else {
        Var v = fresh ? new_var(o->aval) : o;
        dst_.eqns.push_back(Eqn{convert_element_type_p, {result}, weak_convert_params(o->aval), {v}, eqn.loc});
        env[o.get()] = v;
      }
    }
  }

  Atom coerce(const Atom& a, const AbstractValue& want, const Loc& loc) {
    if (atom_aval(a) == want) return a;
    if (auto* lit = std::get_if<Literal>(&a)) {
      return Literal{eval_primitive(convert_element_type_p, std::vector<Array>{lit->value}, weak_convert_params(want))[0]};
    }
    Var v = new_var(want);
    dst_.eqns.push_back(Eqn{convert_element_type_p, {a}, weak_convert_params(want), {v}, loc});
    return v;
  }

  Var add_const(const Array& value) {
    auto [it, added] = const_vars_.emplace(value.impl_ptr().get(), Var());
    if (added) {
      it->second = new_var(value.aval());
      dst_.constvars.push_back(it->second);
      consts_.push_back(value);
    }
    return it->second;
  }

  // Other primitives holding jaxprs (custom_lin's relatives, control flow) keep their
  // signature, so their callees can be inlined in place.
  void inline_in_params(Params& params) {
    std::vector<std::pair<std::string, std::shared_ptr<const ParamObject>>> changed;
    for (auto& [name, value] : params.items()) {
      auto* obj = std::get_if<std::shared_ptr<const ParamObject>>(&value);
      auto* jp = obj ? dynamic_cast<const JaxprParam*>(obj->get()) : nullptr;
      if (!jp) continue;
      auto& memo = nested_[jp->jaxpr.jaxpr.get()];
      if (!memo.valid) {
        int64_t n = 0;
        ClosedJaxpr inlined = inline_calls(jp->jaxpr, &n);
        memo.valid = true;
        if (n > 0) memo.param = jaxpr_param(std::move(inlined));
        count += n;
      }
      if (memo.param) changed.emplace_back(name, memo.param);
    }
    for (auto& [name, param] : changed) params.set(name, param);
  }

  struct Nested {
    bool valid = false;
    std::shared_ptr<const ParamObject> param;  // null: unchanged
  };
  Jaxpr& dst_;
  std::vector<Array>& consts_;
  std::unordered_map<const ArrayImpl*, Var> const_vars_;
  std::unordered_map<const Jaxpr*, Nested> nested_;
};

// ---- simplify ------------------------------------------------------------------------------------

bool lossless_convert(DType from, DType to) {
  if (from == to || from == DType::bool_) return true;
  switch (from) {
    case DType::int32: return to == DType::int64 || to == DType::float64;
    case DType::uint32: return to == DType::int64 || to == DType::float64;
    case DType::float32: return to == DType::float64;
    case DType::float16:
    case DType::bfloat16: return to == DType::float32 || to == DType::float64;
    default: return false;
  }
}

bool is_reduction(const Primitive& p) {
  return p == reduce_sum_p || p == reduce_prod_p || p == reduce_max_p || p == reduce_min_p || p == reduce_and_p ||
         p == reduce_or_p;
}

// The exact reciprocal of c when c is a power of two whose reciprocal is representable in `dtype`.
std::optional<double> exact_reciprocal(double c, DType dtype) {
  if (is_half_float(dtype)) {
    // float16/bfloat16 compute in float32 and round: x / c and x * (1/c) round the same real
    // number when c and 1/c are powers of two that are exact normal 16-bit floats.
    auto exact = [&](double v) {
      const uint16_t bits = dtype == DType::float16 ? float16_t(v).bits : bfloat16_t(v).bits;
      const double back = dtype == DType::float16 ? static_cast<float>(float16_t::from_bits(bits))
                                                  : static_cast<float>(bfloat16_t::from_bits(bits));
      int e = 0;
      const uint16_t exponent = dtype == DType::float16 ? (bits & 0x7c00) : (bits & 0x7f80);
      return back == v && std::isfinite(v) && v != 0 && std::abs(std::frexp(v, &e)) == 0.5 && exponent != 0;
    };
    if (!exact(c) || !exact(1.0 / c)) return std::nullopt;
    return 1.0 / c;
  }
  return dispatch_dtype(dtype, [&](auto t) -> std::optional<double> {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) {
      T v = static_cast<T>(c);
      if (!std::isfinite(v) || v == 0) return std::nullopt;
      int e = 0;
      if (std::abs(std::frexp(v, &e)) != T(0.5)) return std::nullopt;
      T r = T(1) / v;
      if (!std::isfinite(r) || r == 0 || std::abs(std::frexp(r, &e)) != T(0.5) || r * v != T(1)) return std::nullopt;
      return static_cast<double>(r);
    } else {
      return std::nullopt;
    }
  });
}

class Simplifier {
 public:
  explicit Simplifier(const ClosedJaxpr& closed) {
    const Jaxpr& j = *closed.jaxpr;
    for (size_t i = 0; i < j.constvars.size(); ++i) consts_[j.constvars[i].get()] = closed.consts[i];
  }

  ClosedJaxpr run(const ClosedJaxpr& closed) {
    const Jaxpr& src = *closed.jaxpr;
    out_ = std::make_shared<Jaxpr>();
    out_->constvars = src.constvars;
    out_->invars = src.invars;
    for (const Eqn& orig : src.eqns) {
      Eqn eqn = orig;
      subst_.apply(eqn);
      if (eqn.outputs.size() == 1 && rewrite(eqn)) continue;
      for (auto& o : eqn.outputs) producer_[o.get()] = out_->eqns.size();
      out_->eqns.push_back(std::move(eqn));
    }
    for (auto& o : src.outvars) out_->outvars.push_back(subst_(o));
    return ClosedJaxpr{out_, closed.consts};
  }

  int64_t count = 0;

 private:
  // Applies rules to `eqn` until none fires (a rewritten equation may simplify further, e.g. a
  // composed slice that covers everything). Returns true when the output was replaced by an
  // existing value and the equation is gone.
  bool rewrite(Eqn& eqn) {
    for (int step = 0; step < 8; ++step) {
      if (auto atom = to_atom(eqn); atom && atom_aval(*atom) == eqn.outputs[0]->aval) {
        subst_.map[eqn.outputs[0].get()] = *atom;
        ++count;
        return true;
      }
      auto rewritten = to_eqn(eqn);
      if (!rewritten || !types_check(*rewritten)) return false;
      eqn = std::move(*rewritten);
      ++count;
    }
    return false;
  }

  const Eqn* producer(const Atom& a) const {
    auto* v = var_of(a);
    if (!v) return nullptr;
    auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : &out_->eqns[it->second];
  }
  const Eqn* producer(const Atom& a, const Primitive& prim) const {
    const Eqn* p = producer(a);
    return p && p->prim == prim ? p : nullptr;
  }

  // The one value every element of `a` has, when known: a literal, a broadcast of a literal, or
  // a small constant whose elements are all equal (bitwise).
  std::optional<double> splat(const Atom& a) {
    if (auto* lit = std::get_if<Literal>(&a)) return first_element(lit->value);
    if (const Eqn* p = producer(a, broadcast_in_dim_p)) return splat(p->inputs[0]);
    // a conversion that only changes the weak type keeps the value
    if (const Eqn* p = producer(a, convert_element_type_p)) {
      if (atom_aval(p->inputs[0]).dtype == p->outputs[0]->aval.dtype) return splat(p->inputs[0]);
      return std::nullopt;
    }
    auto it = consts_.find(var_of(a));
    if (it == consts_.end()) return std::nullopt;
    auto [memo, added] = const_splats_.emplace(it->first, std::nullopt);
    if (added) {
      const Array& c = it->second;
      if (concrete(c) && c.size() > 0 && c.size() <= 4096) {
        const size_t w = itemsize(c.dtype());
        auto* bytes = static_cast<const char*>(c.raw_data());
        bool all = true;
        for (int64_t i = 1; i < c.size() && all; ++i) all = std::memcmp(bytes, bytes + i * w, w) == 0;
        if (all) memo->second = first_element(c);
      }
    }
    return memo->second;
  }
  bool splat_is(const Atom& a, double v) {
    auto s = splat(a);
    return s && *s == v && std::signbit(*s) == std::signbit(v);
  }

  static bool reshape_like(const Eqn& e) {
    if (e.prim == reshape_p || e.prim == squeeze_p) return true;
    return e.prim == broadcast_in_dim_p && atom_aval(e.inputs[0]).size() == e.outputs[0]->aval.size();
  }

  Eqn make(const Eqn& like, const Primitive& prim, std::vector<Atom> ins, Params params) const {
    return Eqn{prim, std::move(ins), std::move(params), like.outputs, like.loc};
  }

  // Rewrites whose result is an existing value.
  std::optional<Atom> to_atom(const Eqn& e) {
    const auto& p = e.prim;
    const auto& in = e.inputs;
    const DType dt = e.outputs[0]->aval.dtype;
    const bool fl = is_floating(dt), integer = is_integer(dt);
    // x + (-0.0), (-0.0) + x -> x (x + 0.0 would turn -0.0 into +0.0); integers: x + 0 -> x
    if (p == add_p) {
      const double zero = fl ? -0.0 : 0.0;
      if (fl || integer) {
        if (splat_is(in[1], zero)) return in[0];
        if (splat_is(in[0], zero)) return in[1];
      }
    }
    // x - 0 -> x (x - (+0.0) is exact for every x, -0.0 included)
    if (p == sub_p && (fl || integer) && splat_is(in[1], 0.0)) return in[0];
    // x * 1, 1 * x -> x
    if (p == mul_p) {
      if (splat_is(in[1], 1.0)) return in[0];
      if (splat_is(in[0], 1.0)) return in[1];
    }
    // x / 1 -> x
    if (p == div_p && splat_is(in[1], 1.0)) return in[0];
    // neg(neg x) -> x, not(not x) -> x
    if (p == neg_p || p == not_p) {
      if (const Eqn* q = producer(in[0], p)) return q->inputs[0];
    }
    // abs(abs x) -> abs x
    if (p == abs_p && producer(in[0], abs_p)) return in[0];
    // integer_pow(x, 1) -> x
    if (p == integer_pow_p && e.params.get_int("y") == 1) return in[0];
    // and(x, all ones), or(x, 0), xor(x, 0) -> x (bool: true / false; integers: bitwise)
    if (p == and_p || p == or_p || p == xor_p) {
      const double unit = p != and_p ? 0.0 : dt == DType::bool_ ? 1.0 : is_signed_integer(dt) ? -1.0 : 4294967295.0;
      if (splat_is(in[1], unit)) return in[0];
      if (splat_is(in[0], unit)) return in[1];
    }
    // shifts by 0 -> x
    if ((p == shift_left_p || p == shift_right_logical_p || p == shift_right_arithmetic_p) && splat_is(in[1], 0.0))
      return in[0];
    // max(x, x), min(x, x), and(x, x), or(x, x) -> x
    if ((p == max_p || p == min_p || p == and_p || p == or_p) && atoms_equal(in[0], in[1])) return in[0];
    if (p == stop_gradient_p) return in[0];
    if (p == convert_element_type_p) {
      const AbstractValue& x = atom_aval(in[0]);
      // convert to x's own type -> x
      if (x == e.outputs[0]->aval) return in[0];
      // convert(convert(x0, wider), x0's type) -> x0 when the first conversion is lossless
      if (const Eqn* q = producer(in[0], convert_element_type_p)) {
        if (lossless_convert(atom_aval(q->inputs[0]).dtype, x.dtype)) return q->inputs[0];
      }
    }
    // Shape ops that do nothing: reshape/squeeze/broadcast/transpose/slice/rev/pad to the same
    // array, concatenate of one operand, reductions over no axes.
    if (reshape_like(e)) {
      // (rank-only broadcasts have increasing dims: same shape means the identity)
      if (atom_aval(in[0]).shape == e.outputs[0]->aval.shape) return in[0];
      // a chain of them that ends where it started
      if (const Eqn* q = producer(in[0]); q && reshape_like(*q) && atom_aval(q->inputs[0]).shape == e.outputs[0]->aval.shape)
        return q->inputs[0];
    }
    if (p == transpose_p) {
      auto& perm = e.params.get_ints("permutation");
      bool identity = true;
      for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
      if (identity) return in[0];
      // transpose(transpose(x, p1), p2) -> x when p1[p2[i]] == i
      if (const Eqn* q = producer(in[0], transpose_p)) {
        auto& p1 = q->params.get_ints("permutation");
        bool inverse = true;
        for (size_t i = 0; i < perm.size(); ++i) inverse &= p1[perm[i]] == static_cast<int64_t>(i);
        if (inverse) return q->inputs[0];
      }
    }
    if (p == slice_p) {
      auto& start = e.params.get_ints("start_indices");
      auto& limit = e.params.get_ints("limit_indices");
      auto& strides = e.params.get_ints("strides");
      const Shape& shape = atom_aval(in[0]).shape;
      bool full = true;
      for (size_t d = 0; d < shape.size(); ++d) full &= start[d] == 0 && limit[d] == shape[d] && strides[d] == 1;
      if (full) return in[0];
    }
    if (p == rev_p) {
      auto& dims = e.params.get_ints("dimensions");
      if (dims.empty()) return in[0];
      if (const Eqn* q = producer(in[0], rev_p); q && q->params.get_ints("dimensions") == dims) return q->inputs[0];
    }
    if (p == pad_p) {
      auto& cfg = e.params.get_ints("padding_config");
      if (std::all_of(cfg.begin(), cfg.end(), [](int64_t v) { return v == 0; })) return in[0];
    }
    if (p == concatenate_p && in.size() == 1) return in[0];
    if (is_reduction(p) && e.params.get_ints("axes").empty()) return in[0];
    if (p == select_n_p) {
      // select_n(p, x, x, ...) -> x
      bool all_same = true;
      for (size_t i = 2; i < in.size(); ++i) all_same &= atoms_equal(in[i], in[1]);
      if (all_same) return in[1];
      // select_n(known predicate, cases...) -> the case it picks (int32 indices are clamped)
      if (auto v = splat(in[0])) {
        auto k = static_cast<int64_t>(std::clamp(*v, 0.0, static_cast<double>(in.size() - 2)));
        return in[1 + k];
      }
    }
    return std::nullopt;
  }

  // Rewrites into one new equation computing the same outputs.
  std::optional<Eqn> to_eqn(const Eqn& e) {
    const auto& p = e.prim;
    const auto& in = e.inputs;
    const AbstractValue& out = e.outputs[0]->aval;
    const DType dt = out.dtype;
    if (is_signed_integer(dt)) {
      // integers: x * -1, -1 * x, 0 - x -> neg x (wrapping alike)
      if (p == mul_p && splat_is(in[1], -1.0)) return make(e, neg_p, {in[0]}, {});
      if (p == mul_p && splat_is(in[0], -1.0)) return make(e, neg_p, {in[1]}, {});
      if (p == sub_p && splat_is(in[0], 0.0)) return make(e, neg_p, {in[1]}, {});
    }
    // x / 2^k -> x * 2^-k: both round the same real number, so the results are identical
    if (p == div_p && is_floating(dt)) {
      if (auto c = splat(in[1])) {
        if (auto r = exact_reciprocal(*c, dt)) {
          const AbstractValue& d = atom_aval(in[1]);
          return make(e, mul_p, {in[0], Literal{detail::scalar_array(*r, d.dtype, d.weak_type)}}, {});
        }
      }
    }
    // select_n(not p, a, b) -> select_n(p, b, a) (bool predicates)
    if (p == select_n_p && in.size() == 3 && atom_aval(in[0]).dtype == DType::bool_) {
      if (const Eqn* q = producer(in[0], not_p)) return make(e, select_n_p, {q->inputs[0], in[2], in[1]}, e.params);
    }
    // abs(neg x) -> abs x
    if (p == abs_p) {
      if (const Eqn* q = producer(in[0], neg_p)) return make(e, abs_p, {q->inputs[0]}, {});
    }
    // chains of reshape / squeeze / rank-only broadcast -> one reshape (the identity was
    // handled by to_atom)
    if (reshape_like(e)) {
      if (const Eqn* q = producer(in[0]); q && reshape_like(*q)) {
        if (atom_aval(q->inputs[0]).shape == out.shape) return std::nullopt;  // to_atom's job
        return make(e, reshape_p, {q->inputs[0]}, Params{{"new_sizes", out.shape}});
      }
    }
    // transpose(transpose(x, p1), p2) -> transpose(x, p1[p2[i]])
    if (p == transpose_p) {
      if (const Eqn* q = producer(in[0], transpose_p)) {
        auto& p1 = q->params.get_ints("permutation");
        auto& p2 = e.params.get_ints("permutation");
        std::vector<int64_t> perm(p2.size());
        bool identity = true;
        for (size_t i = 0; i < p2.size(); ++i) {
          perm[i] = p1[p2[i]];
          identity &= perm[i] == static_cast<int64_t>(i);
        }
        if (identity) return std::nullopt;  // to_atom's job
        return make(e, transpose_p, {q->inputs[0]}, Params{{"permutation", perm}});
      }
    }
    // broadcast_in_dim(broadcast_in_dim(x, s1, d1), s2, d2) -> broadcast_in_dim(x, s2, d2[d1[i]])
    if (p == broadcast_in_dim_p) {
      if (const Eqn* q = producer(in[0], broadcast_in_dim_p)) {
        auto& d1 = q->params.get_ints("broadcast_dimensions");
        auto& d2 = e.params.get_ints("broadcast_dimensions");
        std::vector<int64_t> dims;
        for (auto d : d1) dims.push_back(d2[d]);
        return make(e, broadcast_in_dim_p, {q->inputs[0]},
                    Params{{"shape", e.params.get_ints("shape")}, {"broadcast_dimensions", dims}});
      }
    }
    // slice(slice(x, s1, l1, t1), s2, l2, t2) -> slice(x, s1 + s2 t1, ..., t1 t2)
    if (p == slice_p) {
      if (const Eqn* q = producer(in[0], slice_p)) {
        auto& s1 = q->params.get_ints("start_indices");
        auto& t1 = q->params.get_ints("strides");
        auto& s2 = e.params.get_ints("start_indices");
        auto& t2 = e.params.get_ints("strides");
        std::vector<int64_t> start, limit, strides;
        for (size_t d = 0; d < out.shape.size(); ++d) {
          const int64_t n = out.shape[d];
          if (n == 0) {
            start.push_back(0), limit.push_back(0), strides.push_back(1);
            continue;
          }
          start.push_back(s1[d] + s2[d] * t1[d]);
          strides.push_back(t1[d] * t2[d]);
          limit.push_back(start.back() + (n - 1) * strides.back() + 1);
        }
        return make(e, slice_p, {q->inputs[0]},
                    Params{{"start_indices", start}, {"limit_indices", limit}, {"strides", strides}});
      }
    }
    return std::nullopt;
  }

  std::shared_ptr<Jaxpr> out_;
  Subst subst_;
  std::unordered_map<const VarNode*, size_t> producer_;
  std::unordered_map<const VarNode*, Array> consts_;
  std::unordered_map<const VarNode*, std::optional<double>> const_splats_;
};

// Constants up to this size are compared by value in cse (larger ones by identity only).
constexpr int64_t kMaxCompareElements = int64_t{1} << 16;

}  // namespace

// ---- public passes --------------------------------------------------------------------------------

ClosedJaxpr inline_calls(const ClosedJaxpr& closed, int64_t* num_inlined) {
  const Jaxpr& src = *closed.jaxpr;
  auto out = std::make_shared<Jaxpr>();
  out->constvars = src.constvars;
  out->invars = src.invars;
  std::vector<Array> consts = closed.consts;
  Inliner inliner(*out, consts);
  std::unordered_map<const VarNode*, Atom> env;
  inliner.emit(src, env, /*fresh=*/false);
  for (auto& o : src.outvars) {
    auto it = var_of(o) ? env.find(var_of(o)) : env.end();
    out->outvars.push_back(it != env.end() ? it->second : o);
  }
  if (num_inlined) *num_inlined = inliner.count;
  if (inliner.count == 0) return closed;
  return ClosedJaxpr{out, std::move(consts)};
}

ClosedJaxpr simplify(const ClosedJaxpr& closed, int64_t* num_rewrites) {
  Simplifier s(closed);
  ClosedJaxpr result = s.run(closed);
  if (num_rewrites) *num_rewrites = s.count;
  return s.count ? result : closed;
}

ClosedJaxpr fold_constants(const ClosedJaxpr& closed, int64_t max_elements, int64_t* num_folded) {
  // Results at most this large are folded even when they are larger than their inputs.
  constexpr int64_t kTiny = 16;
  const Jaxpr& src = *closed.jaxpr;
  auto out = std::make_shared<Jaxpr>();
  out->invars = src.invars;
  std::vector<Array> consts;
  Subst subst;
  std::unordered_map<const VarNode*, Array> known;
  int64_t count = 0;
  // 0-d concrete constants become literals; the others are known values.
  for (size_t i = 0; i < src.constvars.size(); ++i) {
    const Array& c = closed.consts[i];
    if (concrete(c) && c.ndim() == 0 && c.aval() == src.constvars[i]->aval) {
      subst.map[src.constvars[i].get()] = Literal{c};
      ++count;
      continue;
    }
    out->constvars.push_back(src.constvars[i]);
    consts.push_back(c);
    if (concrete(c)) known[src.constvars[i].get()] = c;
  }
  for (const Eqn& orig : src.eqns) {
    Eqn eqn = orig;
    subst.apply(eqn);
    auto fold = [&]() -> bool {
      if (eqn.prim.def().impl || eqn.outputs.empty()) return false;  // call primitives
      std::vector<Array> ins;
      int64_t in_elems = 0, out_elems = 0;
      for (auto& a : eqn.inputs) {
        if (auto* lit = std::get_if<Literal>(&a)) {
          ins.push_back(lit->value);
        } else if (auto it = known.find(var_of(a)); it != known.end()) {
          ins.push_back(it->second);
        } else {
          return false;
        }
        in_elems += ins.back().size();
      }
      for (auto& o : eqn.outputs) {
        if (o->aval.size() > max_elements) return false;
        out_elems += o->aval.size();
      }
      if (out_elems > in_elems && out_elems > kTiny) return false;
      std::vector<Array> values;
      try {
        values = eval_primitive(eqn.prim, ins, eqn.params);
      } catch (const Error&) {
        return false;  // left for run time, where the error is reported with its equation
      }
      if (values.size() != eqn.outputs.size()) return false;
      for (size_t i = 0; i < values.size(); ++i)
        if (!(values[i].aval() == eqn.outputs[i]->aval)) return false;
      for (size_t i = 0; i < values.size(); ++i) {
        const Var& o = eqn.outputs[i];
        if (o->aval.ndim() == 0) {
          subst.map[o.get()] = Literal{values[i]};
        } else {
          out->constvars.push_back(o);
          consts.push_back(values[i]);
          known[o.get()] = values[i];
        }
      }
      return true;
    };
    if (fold()) {
      ++count;
      continue;
    }
    out->eqns.push_back(std::move(eqn));
  }
  for (auto& o : src.outvars) out->outvars.push_back(subst(o));
  if (num_folded) *num_folded = count;
  if (count == 0) return closed;
  return ClosedJaxpr{out, std::move(consts)};
}

ClosedJaxpr cse(const ClosedJaxpr& closed, int64_t* num_eliminated) {
  const Jaxpr& src = *closed.jaxpr;
  auto out = std::make_shared<Jaxpr>();
  out->invars = src.invars;
  std::vector<Array> consts;
  Subst subst;
  int64_t count = 0;
  // 1. Constants: the same array, or equal arrays (small enough to compare), share one var.
  std::unordered_map<const ArrayImpl*, Var> by_impl;
  std::unordered_map<size_t, std::vector<size_t>> by_bits;  // hash -> indices into consts
  for (size_t i = 0; i < src.constvars.size(); ++i) {
    const Array& c = closed.consts[i];
    const Var& v = src.constvars[i];
    std::optional<Var> same;
    if (auto it = by_impl.find(c.impl_ptr().get()); it != by_impl.end() && it->second->aval == v->aval) same = it->second;
    size_t h = 0;
    const bool comparable = concrete(c) && c.size() <= kMaxCompareElements && c.aval() == v->aval;
    if (!same && comparable) {
      h = hash_bits(c);
      for (size_t k : by_bits[h])
        if (same_bits(consts[k], c)) same = out->constvars[k];
    }
    if (same) {
      subst.map[v.get()] = *same;
      ++count;
      continue;
    }
    by_impl.emplace(c.impl_ptr().get(), v);
    if (comparable) by_bits[h].push_back(consts.size());
    out->constvars.push_back(v);
    consts.push_back(c);
  }
  // 2. Equations: the first of equal ones is kept.
  std::unordered_map<size_t, std::vector<size_t>> seen;  // hash -> indices into out->eqns
  for (const Eqn& orig : src.eqns) {
    Eqn eqn = orig;
    subst.apply(eqn);
    size_t h = mix(static_cast<size_t>(eqn.prim.id()), eqn.params.hash());
    for (auto& a : eqn.inputs) h = mix(h, hash_atom(a));
    const Eqn* match = nullptr;
    for (size_t k : seen[h]) {
      const Eqn& cand = out->eqns[k];
      if (!(cand.prim == eqn.prim) || cand.inputs.size() != eqn.inputs.size() ||
          cand.outputs.size() != eqn.outputs.size() || !(cand.params == eqn.params))
        continue;
      bool same = true;
      for (size_t i = 0; i < eqn.inputs.size() && same; ++i) same = atoms_equal(cand.inputs[i], eqn.inputs[i]);
      for (size_t i = 0; i < eqn.outputs.size() && same; ++i) same = cand.outputs[i]->aval == eqn.outputs[i]->aval;
      if (same) {
        match = &cand;
        break;
      }
    }
    if (match && !eqn.outputs.empty()) {
      for (size_t i = 0; i < eqn.outputs.size(); ++i) subst.map[eqn.outputs[i].get()] = match->outputs[i];
      ++count;
      continue;
    }
    seen[h].push_back(out->eqns.size());
    out->eqns.push_back(std::move(eqn));
  }
  for (auto& o : src.outvars) out->outvars.push_back(subst(o));
  if (num_eliminated) *num_eliminated = count;
  if (count == 0) return closed;
  return ClosedJaxpr{out, std::move(consts)};
}

ClosedJaxpr dce(const ClosedJaxpr& closed, int64_t* num_removed) {
  ClosedJaxpr result = dce_jaxpr(closed);
  const auto removed = static_cast<int64_t>(closed.jaxpr->eqns.size() - result.jaxpr->eqns.size());
  if (num_removed) *num_removed = removed;
  if (removed == 0 && result.consts.size() == closed.consts.size()) return closed;
  return result;
}

std::string OptimizeStats::str() const {
  std::ostringstream os;
  os << "passes: " << rounds << (rounds == 1 ? " round, " : " rounds, ") << eqns_before << " -> " << eqns_after
     << " equations, " << consts_before << " -> " << consts_after << " constants (inline " << inlined
     << ", simplify " << simplified << ", fold " << folded << ", cse " << cse << ", dce " << dce << ")";
  return os.str();
}

namespace {

void add_counts(OptimizeStats& to, const OptimizeStats& from) {
  to.inlined += from.inlined;
  to.simplified += from.simplified;
  to.folded += from.folded;
  to.cse += from.cse;
  to.dce += from.dce;
}

// Optimizes the jaxprs held in the params of `closed`'s equations (each distinct jaxpr once).
ClosedJaxpr optimize_nested(const ClosedJaxpr& closed, const OptimizeOptions& options, OptimizeStats& st) {
  std::unordered_map<const Jaxpr*, std::shared_ptr<const ParamObject>> memo;  // null: unchanged
  std::vector<std::pair<size_t, std::pair<std::string, std::shared_ptr<const ParamObject>>>> changes;
  const auto& eqns = closed.jaxpr->eqns;
  for (size_t k = 0; k < eqns.size(); ++k) {
    for (auto& [name, value] : eqns[k].params.items()) {
      auto* obj = std::get_if<std::shared_ptr<const ParamObject>>(&value);
      auto* jp = obj ? dynamic_cast<const JaxprParam*>(obj->get()) : nullptr;
      if (!jp) continue;
      auto [it, added] = memo.emplace(jp->jaxpr.jaxpr.get(), nullptr);
      if (added) {
        OptimizeStats inner;
        ClosedJaxpr optimized = optimize(jp->jaxpr, options, &inner);
        add_counts(st, inner);
        if (optimized.jaxpr != jp->jaxpr.jaxpr) it->second = jaxpr_param(std::move(optimized));
      }
      if (it->second) changes.push_back({k, {name, it->second}});
    }
  }
  if (changes.empty()) return closed;
  auto out = std::make_shared<Jaxpr>(*closed.jaxpr);
  for (auto& [k, param] : changes) out->eqns[k].params.set(param.first, param.second);
  return ClosedJaxpr{out, closed.consts};
}

}  // namespace

ClosedJaxpr optimize(const ClosedJaxpr& jaxpr, const OptimizeOptions& options, OptimizeStats* stats) {
  OptimizeStats st;
  st.eqns_before = static_cast<int64_t>(jaxpr.jaxpr->eqns.size());
  st.consts_before = static_cast<int64_t>(jaxpr.consts.size());
  ClosedJaxpr cur = jaxpr;
  for (int round = 0; round < std::max(options.max_rounds, 1); ++round) {
    int64_t n = 0, changes = 0;
    if (options.inline_calls) {
      cur = inline_calls(cur, &n);
      st.inlined += n, changes += n;
    }
    if (options.simplify) {
      cur = simplify(cur, &n);
      st.simplified += n, changes += n;
    }
    if (options.fold_constants) {
      cur = fold_constants(cur, options.fold_max_elements, &n);
      st.folded += n, changes += n;
    }
    if (options.cse) {
      cur = cse(cur, &n);
      st.cse += n, changes += n;
    }
    // DCE only removes: it opens no new opportunity for the passes above, so it does not count
    // as a change that asks for another round.
    if (options.dce) {
      cur = dce(cur, &n);
      st.dce += n;
    }
    ++st.rounds;
    if (changes == 0) break;
  }
  if (options.nested) cur = optimize_nested(cur, options, st);
  st.eqns_after = static_cast<int64_t>(cur.jaxpr->eqns.size());
  st.consts_after = static_cast<int64_t>(cur.consts.size());
  if (stats) *stats = st;
  return cur;
}

}  // namespace jx::passes
