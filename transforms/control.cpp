// The transform rules of cond, while and scan (JVP, partial evaluation, transpose, batching), as
// JAX's lax/control_flow, and the flat entry points behind jx::lax (closure conversion, checks).
// Every rule transforms the sub-jaxprs and binds the primitive again, so the result is still one
// equation holding sub-jaxprs.

#include "transforms/control.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/ops.h"
#include "transforms/vmap.h"

namespace jx {

namespace {

using FlatFn = std::function<std::vector<Array>(std::span<const Array>)>;
using BatchResult = std::pair<std::vector<Array>, std::vector<BatchDim>>;
namespace cp = control_param;

const VarNode* var_of(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

// Which outputs of `jaxpr` depend on the inputs flagged in `in`. With float_only only floating
// values carry the dependence (a tangent never flows through an integer). A conservative answer:
// a flagged output may still turn out to be a zero tangent, or unbatched.
std::vector<bool> depends(const Jaxpr& jaxpr, const std::vector<bool>& in, bool float_only) {
  std::unordered_set<const VarNode*> dep;
  auto counts = [&](const AbstractValue& a) { return !float_only || is_floating(a.dtype); };
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] && counts(jaxpr.invars[i]->aval)) dep.insert(jaxpr.invars[i].get());
  for (auto& e : jaxpr.eqns) {
    bool any = false;
    for (auto& a : e.inputs) {
      const VarNode* v = var_of(a);
      if (v && dep.count(v)) {
        any = true;
        break;
      }
    }
    if (!any) continue;
    for (auto& o : e.outputs)
      if (counts(o->aval)) dep.insert(o.get());
  }
  std::vector<bool> out;
  for (auto& o : jaxpr.outvars) {
    const VarNode* v = var_of(o);
    out.push_back(v && dep.count(v));
  }
  return out;
}

template <class T>
std::vector<T> join(std::vector<T> a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

template <class T>
std::vector<T> sub(std::span<const T> v, size_t begin, size_t n) {
  return std::vector<T>(v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(begin + n));
}
template <class T>
std::vector<T> sub(const std::vector<T>& v, size_t begin, size_t n) {
  return std::vector<T>(v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(begin + n));
}

size_t count(const std::vector<bool>& v) { return static_cast<size_t>(std::count(v.begin(), v.end(), true)); }

// The elements of xs whose flag equals `value`.
template <class T>
std::vector<T> pick(std::span<const T> xs, const std::vector<bool>& flags, bool value = true) {
  std::vector<T> out;
  for (size_t i = 0; i < xs.size(); ++i)
    if (flags[i] == value) out.push_back(xs[i]);
  return out;
}
template <class T>
std::vector<T> pick(const std::vector<T>& xs, const std::vector<bool>& flags, bool value = true) {
  std::vector<T> out;
  for (size_t i = 0; i < xs.size(); ++i)
    if (flags[i] == value) out.push_back(xs[i]);
  return out;
}

std::vector<AbstractValue> avals_of_arrays(std::span<const Array> xs) {
  std::vector<AbstractValue> out;
  for (auto& x : xs) out.push_back(x.aval());
  return out;
}

// The aval of one slice along the leading axis.
AbstractValue slice_aval(AbstractValue a) {
  a.shape.erase(a.shape.begin());
  return a;
}
AbstractValue stacked_aval(AbstractValue a, int64_t length) {
  a.shape.insert(a.shape.begin(), length);
  return a;
}

std::string types_str(std::span<const AbstractValue> avals) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < avals.size(); ++i) os << (i ? ", " : "") << avals[i].str();
  os << (avals.size() == 1 ? ",)" : ")");
  return os.str();
}

bool same_type(const AbstractValue& a, const AbstractValue& b) { return a.shape == b.shape && a.dtype == b.dtype; }

Params cond_params(std::vector<ClosedJaxpr> branches) {
  return Params{{cp::branches, jaxpr_list_param(std::move(branches))}};
}
Params while_params(ClosedJaxpr cond, ClosedJaxpr body, size_t cond_nconsts, size_t body_nconsts) {
  return Params{{cp::cond_jaxpr, jaxpr_param(std::move(cond))},
                {cp::body_jaxpr, jaxpr_param(std::move(body))},
                {cp::cond_nconsts, static_cast<int64_t>(cond_nconsts)},
                {cp::body_nconsts, static_cast<int64_t>(body_nconsts)}};
}
Params scan_params(ClosedJaxpr body, int64_t length, bool reverse, size_t num_consts, size_t num_carry) {
  return Params{{cp::jaxpr, jaxpr_param(std::move(body))},
                {cp::length, length},
                {cp::reverse, reverse},
                {cp::num_consts, static_cast<int64_t>(num_consts)},
                {cp::num_carry, static_cast<int64_t>(num_carry)}};
}

struct ScanInfo {
  ClosedJaxpr body;
  size_t nc = 0, ncar = 0, nx = 0, ny = 0;
  int64_t length = 0;
  bool reverse = false;
};
ScanInfo scan_info(const Params& p, size_t num_inputs) {
  ScanInfo s;
  s.body = get_jaxpr(p, cp::jaxpr);
  s.nc = static_cast<size_t>(p.get_int(cp::num_consts));
  s.ncar = static_cast<size_t>(p.get_int(cp::num_carry));
  s.nx = num_inputs - s.nc - s.ncar;
  s.ny = s.body.jaxpr->outvars.size() - s.ncar;
  s.length = p.get_int(cp::length);
  s.reverse = p.get<bool>(cp::reverse);
  return s;
}

// A carry's nonzero (or batched, or unknown) flags after the body has had its say: starting from
// `carry`, a carry is flagged when the body's output for it depends on a flagged input, until
// nothing changes. `flags_of(carry)` returns the body's output flags.
std::vector<bool> carry_fixpoint(std::vector<bool> carry, const std::function<std::vector<bool>(const std::vector<bool>&)>& flags_of) {
  for (;;) {
    auto out = flags_of(carry);
    bool changed = false;
    for (size_t i = 0; i < carry.size(); ++i) {
      if (out[i] && !carry[i]) carry[i] = changed = true;
    }
    if (!changed) return carry;
  }
}

// ---- JVP -------------------------------------------------------------------------------------------
// Each rule differentiates the sub-jaxprs (jvp_jaxpr) for the inputs whose tangents are nonzero
// and binds the primitive once on primals and tangents together. Loops find the nonzero carry
// tangents by fixpoint (a carry tangent that is zero on entry can become nonzero in the body).

std::vector<bool> nonzero_tangents(std::span<const Array> primals, std::span<const Array> tangents) {
  std::vector<bool> nz;
  for (size_t i = 0; i < primals.size(); ++i) nz.push_back(tangents[i].defined() && is_floating(primals[i].dtype()));
  return nz;
}

std::pair<std::vector<Array>, std::vector<Array>> cond_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                                           const Params& p) {
  const auto& branches = get_jaxpr_list(p, cp::branches);
  auto nz = nonzero_tangents(primals.subspan(1), tangents.subspan(1));
  const size_t n_out = branches[0].jaxpr->outvars.size();
  std::vector<bool> nz_out(n_out, false);
  for (auto& b : branches) {
    auto d = depends(*b.jaxpr, nz, true);
    for (size_t i = 0; i < n_out; ++i) nz_out[i] = nz_out[i] || d[i];
  }
  std::vector<bool> keep(2 * n_out, true);
  for (size_t i = 0; i < n_out; ++i) keep[n_out + i] = nz_out[i];
  std::vector<ClosedJaxpr> jvp_branches;
  for (auto& b : branches) jvp_branches.push_back(dce_jaxpr(jvp_jaxpr(b, nz), keep));
  std::vector<Array> ins(primals.begin(), primals.end());
  for (size_t i = 0; i < nz.size(); ++i)
    if (nz[i]) ins.push_back(tangents[1 + i]);
  auto outs = jx::bind(cond_p, ins, cond_params(std::move(jvp_branches)));
  std::vector<Array> primal_out(outs.begin(), outs.begin() + static_cast<std::ptrdiff_t>(n_out)), tangent_out(n_out);
  for (size_t i = 0, k = n_out; i < n_out; ++i)
    if (nz_out[i]) tangent_out[i] = outs[k++];
  return {primal_out, tangent_out};
}

std::pair<std::vector<Array>, std::vector<Array>> while_jvp(std::span<const Array> primals,
                                                            std::span<const Array> tangents, const Params& p) {
  const ClosedJaxpr& cond = get_jaxpr(p, cp::cond_jaxpr);
  const ClosedJaxpr& body = get_jaxpr(p, cp::body_jaxpr);
  const auto cn = static_cast<size_t>(p.get_int(cp::cond_nconsts));
  const auto bn = static_cast<size_t>(p.get_int(cp::body_nconsts));
  const size_t nc = primals.size() - cn - bn;
  auto nz_all = nonzero_tangents(primals, tangents);
  auto nz_bc = sub(nz_all, cn, bn);
  auto nz_c = carry_fixpoint(sub(nz_all, cn + bn, nc),
                             [&](const std::vector<bool>& c) { return depends(*body.jaxpr, join(nz_bc, c), true); });
  const size_t ntb = count(nz_bc), ntc = count(nz_c);
  // Body: (body consts, their tangents; carries, their tangents) -> (carries, carry tangents).
  ClosedJaxpr jvp = jvp_jaxpr(body, join(nz_bc, nz_c));  // (bc, c, t_bc, t_c) -> (c, t_c for every carry)
  auto body_avals = join(join(sub(body.in_avals(), 0, bn), pick(sub(body.in_avals(), 0, bn), nz_bc)),
                        join(sub(body.in_avals(), bn, nc), pick(sub(body.in_avals(), bn, nc), nz_c)));
  ClosedJaxpr new_body = trace_to_jaxpr(
      [&](std::span<const Array> f) {
        std::vector<Array> in = sub(f, 0, bn);
        auto carries = sub(f, bn + ntb, nc);
        in.insert(in.end(), carries.begin(), carries.end());
        auto tb = sub(f, bn, ntb), tc = sub(f, bn + ntb + nc, ntc);
        in.insert(in.end(), tb.begin(), tb.end());
        in.insert(in.end(), tc.begin(), tc.end());
        auto outs = jvp(in);
        std::vector<Array> result = sub(outs, 0, nc);
        auto touts = pick(sub(outs, nc, nc), nz_c);
        result.insert(result.end(), touts.begin(), touts.end());
        return result;
      },
      body_avals, "while_loop");
  // Cond: (cond consts; carries, carry tangents) -> pred, ignoring the tangents.
  auto cond_avals = join(cond.in_avals(), pick(sub(body.in_avals(), bn, nc), nz_c));
  ClosedJaxpr new_cond = trace_to_jaxpr([&](std::span<const Array> f) { return cond(f.subspan(0, cn + nc)); },
                                        cond_avals, "while_loop");
  std::vector<Array> ins = sub(primals, 0, cn + bn);
  for (size_t i = 0; i < bn; ++i)
    if (nz_bc[i]) ins.push_back(tangents[cn + i]);
  for (size_t i = 0; i < nc; ++i) ins.push_back(primals[cn + bn + i]);
  for (size_t i = 0; i < nc; ++i)
    if (nz_c[i]) ins.push_back(instantiate(tangents[cn + bn + i], primals[cn + bn + i].aval()));
  auto outs = jx::bind(while_p, ins, while_params(new_cond, new_body, cn, bn + ntb));
  std::vector<Array> primal_out = sub(outs, 0, nc), tangent_out(nc);
  for (size_t i = 0, k = nc; i < nc; ++i)
    if (nz_c[i]) tangent_out[i] = outs[k++];
  return {primal_out, tangent_out};
}

std::pair<std::vector<Array>, std::vector<Array>> scan_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                                           const Params& p) {
  ScanInfo s = scan_info(p, primals.size());
  auto nz_all = nonzero_tangents(primals, tangents);
  auto nz_consts = sub(nz_all, 0, s.nc), nz_x = sub(nz_all, s.nc + s.ncar, s.nx);
  auto flags_of = [&](const std::vector<bool>& c) { return depends(*s.body.jaxpr, join(join(nz_consts, c), nz_x), true); };
  auto nz_car = carry_fixpoint(sub(nz_all, s.nc, s.ncar), flags_of);
  auto nz_y = sub(flags_of(nz_car), s.ncar, s.ny);
  const size_t ntc = count(nz_consts), ntcar = count(nz_car), ntx = count(nz_x);
  // (c, car, x, t_c, t_car, t_x) -> (car, y, t_car, t_y) for every output.
  ClosedJaxpr jvp = jvp_jaxpr(s.body, join(join(nz_consts, nz_car), nz_x));
  const auto in_avals = s.body.in_avals();
  auto c_av = sub(in_avals, 0, s.nc), car_av = sub(in_avals, s.nc, s.ncar), x_av = sub(in_avals, s.nc + s.ncar, s.nx);
  auto body_avals = join(join(join(c_av, pick(c_av, nz_consts)), join(car_av, pick(car_av, nz_car))), join(x_av, pick(x_av, nz_x)));
  // New layout: consts (c, t_c), carries (car, t_car), xs (x, t_x) -> carries (car, t_car), ys (y, t_y).
  ClosedJaxpr new_body = trace_to_jaxpr(
      [&](std::span<const Array> f) {
        size_t o = 0;
        auto c = sub(f, o, s.nc);
        auto tc = sub(f, o += s.nc, ntc);
        auto car = sub(f, o += ntc, s.ncar);
        auto tcar = sub(f, o += s.ncar, ntcar);
        auto x = sub(f, o += ntcar, s.nx);
        auto tx = sub(f, o += s.nx, ntx);
        auto outs = jvp(join(join(join(c, car), join(x, tc)), join(tcar, tx)));
        const size_t n_out = s.ncar + s.ny;
        std::vector<Array> result = sub(outs, 0, s.ncar);
        result = join(result, pick(sub(outs, n_out, s.ncar), nz_car));
        result = join(result, sub(outs, s.ncar, s.ny));
        return join(result, pick(sub(outs, n_out + s.ncar, s.ny), nz_y));
      },
      body_avals, "scan");
  std::vector<Array> ins = sub(primals, 0, s.nc);
  ins = join(ins, pick(sub(tangents, 0, s.nc), nz_consts));
  ins = join(ins, sub(primals, s.nc, s.ncar));
  for (size_t i = 0; i < s.ncar; ++i)
    if (nz_car[i]) ins.push_back(instantiate(tangents[s.nc + i], primals[s.nc + i].aval()));
  ins = join(ins, sub(primals, s.nc + s.ncar, s.nx));
  ins = join(ins, pick(sub(tangents, s.nc + s.ncar, s.nx), nz_x));
  auto outs = jx::bind(scan_p, ins, scan_params(new_body, s.length, s.reverse, s.nc + ntc, s.ncar + ntcar));
  std::vector<Array> primal_out = sub(outs, 0, s.ncar), tangent_out(s.ncar + s.ny);
  size_t k = s.ncar;
  for (size_t i = 0; i < s.ncar; ++i)
    if (nz_car[i]) tangent_out[i] = outs[k++];
  primal_out = join(primal_out, sub(outs, k, s.ny));
  k += s.ny;
  for (size_t i = 0; i < s.ny; ++i)
    if (nz_y[i]) tangent_out[s.ncar + i] = outs[k++];
  return {primal_out, tangent_out};
}

// ---- partial evaluation ------------------------------------------------------------------------------
// Splits one equation with some unknown (tangent) inputs into a known equation and an unknown one,
// as JAX's _cond_partial_eval / _scan_partial_eval / _while_partial_eval.

std::vector<Atom> pick_atoms(const std::vector<Atom>& atoms, size_t begin, const std::vector<bool>& flags, bool value) {
  std::vector<Atom> out;
  for (size_t i = 0; i < flags.size(); ++i)
    if (flags[i] == value) out.push_back(atoms[begin + i]);
  return out;
}

// cond: each branch splits into known and unknown parts; the residuals of all branches are
// outputs of the known cond (a branch fills the other branches' residuals with zeros) and inputs
// of the unknown cond.
PartialEvalEqn cond_partial_eval(const Eqn& eqn, const std::vector<bool>& unknown) {
  if (unknown[0]) return {std::nullopt, eqn};
  const auto& branches = get_jaxpr_list(eqn.params, cp::branches);
  std::vector<bool> ops_uk(unknown.begin() + 1, unknown.end());
  const size_t n_out = eqn.outputs.size();
  std::vector<bool> out_uk(n_out, false);
  for (auto& b : branches) {
    auto pe = partial_eval_jaxpr(b, ops_uk, {});
    for (size_t i = 0; i < n_out; ++i) out_uk[i] = out_uk[i] || pe.out_unknown[i];
  }
  std::vector<PartialEval> pes;
  std::vector<AbstractValue> res_avals;
  std::vector<size_t> res_offset;
  for (auto& b : branches) {
    pes.push_back(partial_eval_jaxpr(b, ops_uk, out_uk));
    res_offset.push_back(res_avals.size());
    auto outs = pes.back().known.out_avals();
    res_avals = join(res_avals, sub(outs, outs.size() - static_cast<size_t>(pes.back().num_residuals), static_cast<size_t>(pes.back().num_residuals)));
  }
  const size_t n_known_out = n_out - count(out_uk), n_res = res_avals.size();
  std::vector<AbstractValue> op_avals;
  for (size_t i = 1; i < eqn.inputs.size(); ++i) op_avals.push_back(atom_aval(eqn.inputs[i]));
  auto known_avals = pick(op_avals, ops_uk, false), unknown_avals = pick(op_avals, ops_uk, true);
  std::vector<ClosedJaxpr> known_branches, unknown_branches;
  for (size_t b = 0; b < branches.size(); ++b) {
    const PartialEval& pe = pes[b];
    known_branches.push_back(trace_to_jaxpr(
        [&](std::span<const Array> f) {
          auto outs = pe.known(f);
          std::vector<Array> result = sub(outs, 0, n_known_out);
          for (size_t r = 0; r < n_res; ++r) {
            const bool mine = r >= res_offset[b] && r < res_offset[b] + static_cast<size_t>(pe.num_residuals);
            result.push_back(mine ? outs[n_known_out + r - res_offset[b]] : zeros_for(res_avals[r]));
          }
          return result;
        },
        known_avals, "cond"));
    unknown_branches.push_back(trace_to_jaxpr(
        [&](std::span<const Array> f) {
          std::vector<Array> in = sub(f, res_offset[b], static_cast<size_t>(pe.num_residuals));
          auto ops = sub(f, n_res, f.size() - n_res);
          return pe.unknown(join(in, ops));
        },
        join(res_avals, unknown_avals), "cond"));
  }
  PartialEvalEqn out;
  std::vector<Var> res_vars;
  for (auto& a : res_avals) res_vars.push_back(new_var(a));
  std::vector<Var> known_outs, unknown_outs;
  for (size_t i = 0; i < n_out; ++i) (out_uk[i] ? unknown_outs : known_outs).push_back(eqn.outputs[i]);
  if (!known_outs.empty() || !res_vars.empty()) {
    std::vector<Atom> ins{eqn.inputs[0]};
    ins = join(ins, pick_atoms(eqn.inputs, 1, ops_uk, false));
    out.known = Eqn{cond_p, ins, cond_params(known_branches), join(known_outs, res_vars), eqn.loc};
  }
  if (!unknown_outs.empty()) {
    std::vector<Atom> ins{eqn.inputs[0]};
    for (auto& v : res_vars) ins.push_back(v);
    ins = join(ins, pick_atoms(eqn.inputs, 1, ops_uk, true));
    out.unknown = Eqn{cond_p, ins, cond_params(unknown_branches), unknown_outs, eqn.loc};
  }
  return out;
}

// Drops the inputs of `j` flagged in `drop` that nothing reads.
ClosedJaxpr drop_unused_inputs(const ClosedJaxpr& j, std::vector<bool>& drop) {
  std::unordered_set<const VarNode*> used;
  for (auto& e : j.jaxpr->eqns)
    for (auto& a : e.inputs)
      if (auto* v = var_of(a)) used.insert(v);
  for (auto& o : j.jaxpr->outvars)
    if (auto* v = var_of(o)) used.insert(v);
  auto out = std::make_shared<Jaxpr>(*j.jaxpr);
  out->invars.clear();
  for (size_t i = 0; i < j.jaxpr->invars.size(); ++i) {
    drop[i] = drop[i] && !used.count(j.jaxpr->invars[i].get());
    if (!drop[i]) out->invars.push_back(j.jaxpr->invars[i]);
  }
  return ClosedJaxpr{out, j.consts};
}

// scan: the known scan computes the known carries and ys and stacks the residuals that change
// from one iteration to the next; residuals computed from the known consts alone are recomputed
// in the unknown scan's body instead of being stacked (the loop-invariant part).
PartialEvalEqn scan_partial_eval(const Eqn& eqn, const std::vector<bool>& unknown) {
  std::vector<AbstractValue> in_eqn_avals;
  for (auto& a : eqn.inputs) in_eqn_avals.push_back(atom_aval(a));
  ScanInfo s = scan_info(eqn.params, eqn.inputs.size());
  auto c_uk = sub(unknown, 0, s.nc), x_uk = sub(unknown, s.nc + s.ncar, s.nx);
  PartialEval pe;
  auto car_uk = carry_fixpoint(sub(unknown, s.nc, s.ncar), [&](const std::vector<bool>& c) {
    pe = partial_eval_jaxpr(s.body, join(join(c_uk, c), x_uk), join(c, std::vector<bool>(s.ny, false)));
    return pe.out_unknown;
  });
  // The fixpoint's last evaluation used the final carry flags.
  auto y_uk = sub(pe.out_unknown, s.ncar, s.ny);
  const Jaxpr& known = *pe.known.jaxpr;
  const size_t n_res = static_cast<size_t>(pe.num_residuals), n_known_out = known.outvars.size() - n_res;
  const size_t nkc = s.nc - count(c_uk), nkcar = s.ncar - count(car_uk);
  // 1. Residuals that vary per iteration (they depend on a known carry or x) are stacked.
  std::vector<bool> varying_in(known.invars.size(), false);
  for (size_t i = nkc; i < varying_in.size(); ++i) varying_in[i] = true;
  auto varying_out = depends(known, varying_in, false);
  std::vector<bool> res_varying = sub(varying_out, n_known_out, n_res);
  std::vector<bool> keep_known(n_known_out, true), keep_inv(n_known_out, false);
  keep_known = join(keep_known, res_varying);
  for (size_t r = 0; r < n_res; ++r) keep_inv.push_back(!res_varying[r]);
  ClosedJaxpr known_body = dce_jaxpr(pe.known, keep_known);
  // 2. The invariant residuals as a function of the known consts alone.
  ClosedJaxpr inv = dce_jaxpr(pe.known, keep_inv);
  {
    auto j = std::make_shared<Jaxpr>(*inv.jaxpr);
    j->invars.resize(nkc);
    inv = ClosedJaxpr{j, inv.consts};
  }
  std::vector<AbstractValue> res_avals = sub(pe.known.out_avals(), n_known_out, n_res);
  std::vector<Var> stacked;
  for (size_t r = 0; r < n_res; ++r)
    if (res_varying[r]) stacked.push_back(new_var(stacked_aval(res_avals[r], s.length)));
  PartialEvalEqn out;
  // 3. The known scan: (known consts, known carries, known xs) -> (known carries, known ys, stacked residuals).
  std::vector<Var> known_outs, unknown_outs;
  for (size_t i = 0; i < s.ncar + s.ny; ++i) {
    const bool uk = i < s.ncar ? car_uk[i] : y_uk[i - s.ncar];
    (uk ? unknown_outs : known_outs).push_back(eqn.outputs[i]);
  }
  if (!known_outs.empty() || !stacked.empty()) {
    std::vector<Atom> ins = pick_atoms(eqn.inputs, 0, join(join(c_uk, car_uk), x_uk), false);
    out.known = Eqn{scan_p, ins, scan_params(known_body, s.length, s.reverse, nkc, nkcar), join(known_outs, stacked), eqn.loc};
  }
  if (unknown_outs.empty()) return out;
  // 4. The unknown scan: consts (known consts, unknown consts), carries (unknown carries), xs
  //    (stacked residuals, unknown xs).
  const size_t nuc = s.nc - nkc, nucar = s.ncar - nkcar, nux = count(x_uk);
  const size_t nvr = stacked.size();
  auto c_av = sub(in_eqn_avals, 0, s.nc), car_av = sub(in_eqn_avals, s.nc, s.ncar);
  std::vector<AbstractValue> ux_av;
  for (size_t i = 0; i < s.nx; ++i)
    if (x_uk[i]) ux_av.push_back(slice_aval(in_eqn_avals[s.nc + s.ncar + i]));
  std::vector<AbstractValue> vres_av;
  for (size_t r = 0; r < n_res; ++r)
    if (res_varying[r]) vres_av.push_back(res_avals[r]);
  auto avals = join(join(join(pick(c_av, c_uk, false), pick(c_av, c_uk, true)), pick(car_av, car_uk, true)), join(vres_av, ux_av));
  ClosedJaxpr unknown_body = trace_to_jaxpr(
      [&](std::span<const Array> f) {
        size_t o = 0;
        auto kc = sub(f, o, nkc);
        auto rest_c = sub(f, o += nkc, nuc);
        auto ucar = sub(f, o += nuc, nucar);
        auto vres = sub(f, o += nucar, nvr);
        auto ux = sub(f, o += nvr, nux);
        auto inv_res = inv(kc);
        std::vector<Array> in;
        for (size_t r = 0, vi = 0, ii = 0; r < n_res; ++r) in.push_back(res_varying[r] ? vres[vi++] : inv_res[ii++]);
        return pe.unknown(join(join(in, rest_c), join(ucar, ux)));
      },
      avals, "scan");
  // Known consts the invariant residuals do not need are not passed.
  std::vector<bool> drop(avals.size(), false);
  for (size_t i = 0; i < nkc; ++i) drop[i] = true;
  unknown_body = drop_unused_inputs(unknown_body, drop);
  std::vector<Atom> ins;
  auto kc_atoms = pick_atoms(eqn.inputs, 0, c_uk, false);
  for (size_t i = 0; i < nkc; ++i)
    if (!drop[i]) ins.push_back(kc_atoms[i]);
  const size_t nkc_used = ins.size();
  ins = join(ins, pick_atoms(eqn.inputs, 0, c_uk, true));
  ins = join(ins, pick_atoms(eqn.inputs, s.nc, car_uk, true));
  for (auto& v : stacked) ins.push_back(v);
  ins = join(ins, pick_atoms(eqn.inputs, s.nc + s.ncar, x_uk, true));
  out.unknown = Eqn{scan_p, ins, scan_params(unknown_body, s.length, s.reverse, nkc_used + nuc, nucar), unknown_outs, eqn.loc};
  return out;
}

// while: the known while runs the known carries alone (they never depend on unknown ones); the
// unknown while is the whole loop again, for the unknown carries (as JAX: the known carries are
// recomputed). With an unknown predicate everything is unknown.
PartialEvalEqn while_partial_eval(const Eqn& eqn, const std::vector<bool>& unknown) {
  const ClosedJaxpr& cond = get_jaxpr(eqn.params, cp::cond_jaxpr);
  const ClosedJaxpr& body = get_jaxpr(eqn.params, cp::body_jaxpr);
  const auto cn = static_cast<size_t>(eqn.params.get_int(cp::cond_nconsts));
  const auto bn = static_cast<size_t>(eqn.params.get_int(cp::body_nconsts));
  const size_t nc = eqn.inputs.size() - cn - bn;
  auto cc_uk = sub(unknown, 0, cn), bc_uk = sub(unknown, cn, bn);
  PartialEval pe;
  auto car_uk = carry_fixpoint(sub(unknown, cn + bn, nc), [&](const std::vector<bool>& c) {
    pe = partial_eval_jaxpr(body, join(bc_uk, c), c);
    return pe.out_unknown;
  });
  auto pred_pe = partial_eval_jaxpr(cond, join(cc_uk, car_uk), {});
  if (pred_pe.out_unknown[0] || count(car_uk) == nc) return {std::nullopt, eqn};
  std::vector<bool> keep_pred(pred_pe.known.jaxpr->outvars.size(), false);
  keep_pred[0] = true;
  ClosedJaxpr known_cond = dce_jaxpr(pred_pe.known, keep_pred);
  std::vector<bool> keep(pe.known.jaxpr->outvars.size(), false);
  for (size_t i = 0; i < nc - count(car_uk); ++i) keep[i] = true;
  ClosedJaxpr known_body = dce_jaxpr(pe.known, keep);
  PartialEvalEqn out;
  std::vector<Atom> ins = pick_atoms(eqn.inputs, 0, cc_uk, false);
  ins = join(ins, pick_atoms(eqn.inputs, cn, bc_uk, false));
  ins = join(ins, pick_atoms(eqn.inputs, cn + bn, car_uk, false));
  std::vector<Var> known_outs;
  Eqn u = eqn;
  for (size_t i = 0; i < nc; ++i) {
    if (car_uk[i]) continue;
    known_outs.push_back(eqn.outputs[i]);
    u.outputs[i] = new_var(eqn.outputs[i]->aval);  // defined by the known while instead
  }
  out.known = Eqn{while_p, ins, while_params(known_cond, known_body, cn - count(cc_uk), bn - count(bc_uk)), known_outs, eqn.loc};
  if (count(car_uk) > 0) out.unknown = std::move(u);
  return out;
}

// ---- transpose -----------------------------------------------------------------------------------

// cond: each branch transposed for the linear operands; the index and the other operands are
// known values.
std::vector<Array> cond_transpose(std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                                  const Params& p) {
  const auto& branches = get_jaxpr_list(p, cp::branches);
  JX_CHECK(!linear[0], "cond: the branch index cannot be a linear input");
  std::vector<bool> lin(linear.begin() + 1, linear.end());
  const auto ops = args.subspan(1);
  const auto out_avals = branches[0].out_avals(), in_avals = branches[0].in_avals();
  std::vector<bool> ct_defined;
  for (auto& c : cts) ct_defined.push_back(c.defined());
  std::vector<Array> nonlin = pick(ops, lin, false);
  auto avals = join(pick(in_avals, lin, false), pick(out_avals, ct_defined));
  std::vector<ClosedJaxpr> tbranches;
  for (auto& b : branches) {
    ClosedJaxpr t = transpose_jaxpr(b, lin);  // (non-linear ops, cts) -> linear cts
    tbranches.push_back(trace_to_jaxpr(
        [&](std::span<const Array> f) {
          std::vector<Array> in = sub(f, 0, nonlin.size());
          for (size_t i = 0, k = nonlin.size(); i < out_avals.size(); ++i) in.push_back(ct_defined[i] ? f[k++] : zeros_for(out_avals[i]));
          return t(in);
        },
        avals, "cond"));
  }
  std::vector<Array> ins{args[0]};
  ins = join(ins, nonlin);
  for (auto& c : cts)
    if (c.defined()) ins.push_back(c);
  auto lin_cts = jx::bind(cond_p, ins, cond_params(std::move(tbranches)));
  std::vector<Array> out(args.size());
  for (size_t i = 0, k = 0; i < lin.size(); ++i)
    if (lin[i]) out[1 + i] = lin_cts[k++];
  return out;
}

// scan: a scan running the other way whose carries are the carry cotangents and the accumulated
// cotangents of the linear consts; its xs are the stacked residuals and the ys' cotangents, its
// ys the cotangents of the linear xs. Every carry is transposed as linear (a carry whose initial
// value was a known zero just gets its cotangent dropped), as JAX.
std::vector<Array> scan_transpose(std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                                  const Params& p) {
  ScanInfo s = scan_info(p, args.size());
  const auto in_avals = s.body.in_avals(), out_avals = s.body.out_avals();
  std::vector<bool> lin_c(linear.begin(), linear.begin() + static_cast<std::ptrdiff_t>(s.nc));
  std::vector<bool> lin_x(linear.begin() + static_cast<std::ptrdiff_t>(s.nc + s.ncar), linear.end());
  for (size_t i = 0; i < s.ncar; ++i) {
    JX_CHECK(linear[s.nc + i] || is_floating(in_avals[s.nc + i].dtype), "scan transpose: carry ", i, " (",
             in_avals[s.nc + i].str(), ") is neither linear nor a floating-point zero");
  }
  auto body_lin = join(join(lin_c, std::vector<bool>(s.ncar, true)), lin_x);
  ClosedJaxpr t = transpose_jaxpr(s.body, body_lin);  // (res consts, res xs, cts of carries and ys) -> (ct consts, ct carries, ct xs)
  auto c_av = sub(in_avals, 0, s.nc), car_av = sub(in_avals, s.nc, s.ncar), x_av = sub(in_avals, s.nc + s.ncar, s.nx);
  const size_t nrc = s.nc - count(lin_c), nlc = count(lin_c), nrx = s.nx - count(lin_x), nlx = count(lin_x);
  std::vector<bool> y_defined;
  for (size_t j = 0; j < s.ny; ++j) y_defined.push_back(cts[s.ncar + j].defined());
  auto y_av = sub(out_avals, s.ncar, s.ny);
  auto avals = join(join(join(pick(c_av, lin_c, false), pick(c_av, lin_c)), car_av), join(pick(x_av, lin_x, false), pick(y_av, y_defined)));
  ClosedJaxpr tbody = trace_to_jaxpr(
      [&](std::span<const Array> f) {
        size_t o = 0;
        auto res_c = sub(f, o, nrc);
        auto acc = sub(f, o += nrc, nlc);
        auto ct_car = sub(f, o += nlc, s.ncar);
        auto res_x = sub(f, o += s.ncar, nrx);
        o += nrx;
        std::vector<Array> ct_y;
        for (size_t j = 0; j < s.ny; ++j) ct_y.push_back(y_defined[j] ? f[o++] : zeros_for(y_av[j]));
        auto outs = t(join(join(res_c, res_x), join(ct_car, ct_y)));
        std::vector<Array> result;
        for (size_t i = 0; i < nlc; ++i) result.push_back(add(acc[i], outs[i]));
        return join(result, sub(outs, nlc, s.ncar + nlx));
      },
      avals, "scan");
  std::vector<Array> ins = pick(sub(args, 0, s.nc), lin_c, false);
  for (auto& a : pick(c_av, lin_c)) ins.push_back(zeros_for(a));
  for (size_t i = 0; i < s.ncar; ++i) ins.push_back(instantiate(cts[i], car_av[i]));
  ins = join(ins, pick(sub(args, s.nc + s.ncar, s.nx), lin_x, false));
  for (size_t j = 0; j < s.ny; ++j)
    if (y_defined[j]) ins.push_back(cts[s.ncar + j]);
  auto outs = jx::bind(scan_p, ins, scan_params(tbody, s.length, !s.reverse, nrc, nlc + s.ncar));
  std::vector<Array> result(args.size());
  size_t k = 0;
  for (size_t i = 0; i < s.nc; ++i)
    if (lin_c[i]) result[i] = outs[k++];
  for (size_t i = 0; i < s.ncar; ++i, ++k)
    if (linear[s.nc + i]) result[s.nc + i] = outs[k];
  for (size_t j = 0; j < s.nx; ++j)
    if (lin_x[j]) result[s.nc + s.ncar + j] = outs[k++];
  return result;
}

std::vector<Array> while_transpose(std::span<const Array>, std::span<const Array>, std::span<const bool>, const Params&) {
  Error e(
      "[while_loop] reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with traced "
      "(dynamic) bounds: the number of iterations is not known in advance, so the loop cannot be run backwards. Use "
      "lax.scan, or lax.fori_loop with concrete (non-traced) lo and hi, which becomes a scan; forward mode (jvp, "
      "jacfwd) does work through while_loop");
  e.add_location(current_user_loc());
  throw ValueError(e.message());
}

// ---- batching ----------------------------------------------------------------------------------------

std::vector<bool> mapped(std::span<const BatchDim> dims) {
  std::vector<bool> out;
  for (auto& d : dims) out.push_back(d.has_value());
  return out;
}

std::vector<std::optional<int>> axes_at_front(const std::vector<bool>& batched) {
  std::vector<std::optional<int>> out;
  for (bool b : batched) out.push_back(b ? std::optional<int>(0) : std::nullopt);
  return out;
}
std::vector<BatchDim> dims_at(const std::vector<bool>& batched, int64_t axis) {
  std::vector<BatchDim> out;
  for (bool b : batched) out.push_back(b ? BatchDim(axis) : std::nullopt);
  return out;
}

// Per-lane selection: where(pred[b], on_true, on_false) with pred [B] and values [B, ...].
Array select_lanes(const Array& pred, const Array& on_true, const Array& on_false) {
  return lax::select(lax::broadcast_in_dim(pred, on_true.shape(), {0}), on_true, on_false);
}

BatchResult cond_batch(std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
  const auto& branches = get_jaxpr_list(p, cp::branches);
  const int64_t size = batch_size(args, dims);
  auto ops = args.subspan(1);
  std::vector<BatchDim> op_dims(dims.begin() + 1, dims.end());
  auto phys = avals_of_arrays(ops);
  if (!dims[0]) {
    const size_t n_out = branches[0].jaxpr->outvars.size();
    std::vector<bool> out_b(n_out, false);
    for (auto& b : branches) {
      auto d = depends(*b.jaxpr, mapped(op_dims), false);
      for (size_t i = 0; i < n_out; ++i) out_b[i] = out_b[i] || d[i];
    }
    std::vector<ClosedJaxpr> batched;
    for (auto& b : branches) batched.push_back(detail::batch_jaxpr(b, size, op_dims, axes_at_front(out_b), phys));
    auto outs = jx::bind(cond_p, args, cond_params(std::move(batched)));
    return {outs, dims_at(out_b, 0)};
  }
  // A batched index: every branch runs on the whole batch and each lane takes its branch's result.
  const size_t n_out = branches[0].jaxpr->outvars.size();
  const std::vector<std::optional<int>> front(n_out, 0);
  Array index = move_batch_axis(args[0], dims[0], 0, size);
  index = clip(index, 0, static_cast<int>(branches.size()) - 1);
  std::vector<Array> result = detail::batch_jaxpr(branches[0], size, op_dims, front, phys)(ops);
  for (size_t b = 1; b < branches.size(); ++b) {
    auto outs = detail::batch_jaxpr(branches[b], size, op_dims, front, phys)(ops);
    Array take_b = equal(index, Array(static_cast<int>(b)));
    for (size_t i = 0; i < n_out; ++i) result[i] = select_lanes(take_b, outs[i], result[i]);
  }
  return {result, std::vector<BatchDim>(n_out, BatchDim(0))};
}

BatchResult while_batch(std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
  const ClosedJaxpr& cond = get_jaxpr(p, cp::cond_jaxpr);
  const ClosedJaxpr& body = get_jaxpr(p, cp::body_jaxpr);
  const auto cn = static_cast<size_t>(p.get_int(cp::cond_nconsts));
  const auto bn = static_cast<size_t>(p.get_int(cp::body_nconsts));
  const size_t nc = args.size() - cn - bn;
  const int64_t size = batch_size(args, dims);
  auto b_all = mapped(dims);
  auto cc_b = sub(b_all, 0, cn), bc_b = sub(b_all, cn, bn);
  auto car_b = carry_fixpoint(sub(b_all, cn + bn, nc),
                              [&](const std::vector<bool>& c) { return depends(*body.jaxpr, join(bc_b, c), false); });
  const bool pred_b = depends(*cond.jaxpr, join(cc_b, car_b), false)[0];
  if (pred_b) car_b.assign(nc, true);
  std::vector<Array> cc = sub(args, 0, cn), bc = sub(args, cn, bn), carries;
  for (size_t i = 0; i < nc; ++i) {
    const Array& x = args[cn + bn + i];
    carries.push_back(car_b[i] ? move_batch_axis(x, dims[cn + bn + i], 0, size) : x);
  }
  auto car_dims = dims_at(car_b, 0);
  std::vector<BatchDim> cc_dims = sub(std::vector<BatchDim>(dims.begin(), dims.end()), 0, cn);
  std::vector<BatchDim> bc_dims = sub(std::vector<BatchDim>(dims.begin(), dims.end()), cn, bn);
  auto cond_avals = join(avals_of_arrays(cc), avals_of_arrays(carries)), body_avals = join(avals_of_arrays(bc), avals_of_arrays(carries));
  if (!pred_b) {
    ClosedJaxpr cond_b = detail::batch_jaxpr(cond, size, join(cc_dims, car_dims), {std::nullopt}, cond_avals);
    ClosedJaxpr body_b = detail::batch_jaxpr(body, size, join(bc_dims, car_dims), axes_at_front(car_b), body_avals);
    auto outs = jx::bind(while_p, join(join(cc, bc), carries), while_params(cond_b, body_b, cn, bn));
    return {outs, car_dims};
  }
  // A batched predicate: loop while any lane runs; a lane whose predicate is false keeps its carry.
  ClosedJaxpr cond_b = detail::batch_jaxpr(cond, size, join(cc_dims, car_dims), {0}, cond_avals);
  ClosedJaxpr body_b = detail::batch_jaxpr(body, size, join(bc_dims, car_dims), axes_at_front(car_b), body_avals);
  ClosedJaxpr any_cond = trace_to_jaxpr([&](std::span<const Array> f) { return std::vector<Array>{any(cond_b(f)[0])}; },
                                        cond_avals, "vmap");
  ClosedJaxpr masked_body = trace_to_jaxpr(
      [&](std::span<const Array> f) {
        auto ccf = sub(f, 0, cn), bcf = sub(f, cn, bn), car = sub(f, cn + bn, nc);
        Array pred = cond_b(join(ccf, car))[0];
        auto next = body_b(join(bcf, car));
        for (size_t i = 0; i < nc; ++i) next[i] = select_lanes(pred, next[i], car[i]);
        return next;
      },
      join(avals_of_arrays(cc), body_avals), "vmap");
  auto outs = jx::bind(while_p, join(join(cc, cc), join(bc, carries)), while_params(any_cond, masked_body, cn, cn + bn));
  return {outs, car_dims};
}

BatchResult scan_batch(std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
  ScanInfo s = scan_info(p, args.size());
  const int64_t size = batch_size(args, dims);
  auto b_all = mapped(dims);
  auto c_b = sub(b_all, 0, s.nc), x_b = sub(b_all, s.nc + s.ncar, s.nx);
  auto flags_of = [&](const std::vector<bool>& c) { return depends(*s.body.jaxpr, join(join(c_b, c), x_b), false); };
  auto car_b = carry_fixpoint(sub(b_all, s.nc, s.ncar), flags_of);
  auto y_b = sub(flags_of(car_b), s.ncar, s.ny);
  std::vector<Array> ins = sub(args, 0, s.nc);
  std::vector<BatchDim> in_dims(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(s.nc));
  for (size_t i = 0; i < s.ncar; ++i) {
    const Array& x = args[s.nc + i];
    ins.push_back(car_b[i] ? move_batch_axis(x, dims[s.nc + i], 0, size) : x);
    in_dims.push_back(car_b[i] ? BatchDim(0) : std::nullopt);
  }
  std::vector<AbstractValue> avals = avals_of_arrays(ins);
  for (size_t j = 0; j < s.nx; ++j) {
    const Array& x = args[s.nc + s.ncar + j];
    // The scanned axis stays in front; the batch axis goes right after it.
    ins.push_back(x_b[j] ? move_batch_axis(x, dims[s.nc + s.ncar + j], 1, size) : x);
    in_dims.push_back(x_b[j] ? BatchDim(0) : std::nullopt);
    avals.push_back(slice_aval(ins.back().aval()));
  }
  ClosedJaxpr body_b = detail::batch_jaxpr(s.body, size, in_dims, axes_at_front(join(car_b, y_b)), avals);
  auto outs = jx::bind(scan_p, ins, scan_params(body_b, s.length, s.reverse, s.nc, s.ncar));
  return {outs, join(dims_at(car_b, 0), dims_at(y_b, 1))};
}

// ---- closure conversion and checks for the public API --------------------------------------------

// The branches' constants merged (each distinct captured value once) and passed as leading
// inputs of every branch.
std::pair<std::vector<ClosedJaxpr>, std::vector<Array>> common_consts(const std::vector<ClosedJaxpr>& jaxprs) {
  std::vector<Array> consts;
  std::unordered_map<const ArrayImpl*, size_t> slot;
  for (auto& j : jaxprs)
    for (auto& c : j.consts)
      if (slot.emplace(c.impl_ptr().get(), consts.size()).second) consts.push_back(c);
  std::vector<ClosedJaxpr> out;
  for (auto& j : jaxprs) {
    std::vector<Var> vars(consts.size());
    for (size_t i = 0; i < j.consts.size(); ++i) vars[slot.at(j.consts[i].impl_ptr().get())] = j.jaxpr->constvars[i];
    for (size_t i = 0; i < consts.size(); ++i)
      if (!vars[i]) vars[i] = new_var(consts[i].aval());
    auto nj = std::make_shared<Jaxpr>(*j.jaxpr);
    nj->constvars.clear();
    nj->invars = join(vars, j.jaxpr->invars);
    out.push_back(ClosedJaxpr{nj, {}});
  }
  return {out, consts};
}

// Checks a loop body's carry output against the carry input; a weakly typed initial value whose
// dtype the body changes is converted to that dtype (returns true: trace again).
bool check_carry(const char* op, const char* fn, const TreeDef& carry_def, const TreeDef& out_def,
                 std::span<const AbstractValue> outs, std::vector<Array>& init, bool allow_promotion) {
  if (!(out_def == carry_def)) {
    throw_error<ValueError>("[", op, "] ", fn, " returns a carry of structure ", out_def.str(),
                            " but the initial carry has structure ", carry_def.str(), " (the carry must keep its structure)");
  }
  bool promoted = false;
  for (size_t i = 0; i < init.size(); ++i) {
    const AbstractValue& in = init[i].aval();
    if (same_type(in, outs[i])) continue;
    if (allow_promotion && in.weak_type && in.shape == outs[i].shape) {
      init[i] = lax::convert_element_type(init[i], outs[i].dtype);
      promoted = true;
      continue;
    }
    std::vector<AbstractValue> in_avals = avals_of_arrays(init);
    throw_error<ShapeError>("[", op, "] ", fn, " changes the carry's type: leaf ", i, " enters as ", in.str(),
                            " but leaves as ", outs[i].str(), "; the carry must keep its shapes and dtypes (in: ",
                            types_str(in_avals), ", out: ", types_str(outs), ")");
  }
  return promoted;
}

}  // namespace

namespace detail {

void register_control_rules() {
  cond_p.def().jvp_full = cond_jvp;
  cond_p.def().transpose = cond_transpose;
  cond_p.def().batch = cond_batch;
  register_partial_eval_rule(cond_p, cond_partial_eval);
  while_p.def().jvp_full = while_jvp;
  while_p.def().transpose = while_transpose;
  while_p.def().batch = while_batch;
  register_partial_eval_rule(while_p, while_partial_eval);
  scan_p.def().jvp_full = scan_jvp;
  scan_p.def().transpose = scan_transpose;
  scan_p.def().batch = scan_batch;
  register_partial_eval_rule(scan_p, scan_partial_eval);
}

Array cond_index(const Array& pred) {
  if (!pred.defined()) throw_error<ValueError>("[cond] the predicate is an undefined Array");
  if (pred.ndim() != 0) {
    throw_error<ShapeError>("[cond] the predicate must be a scalar, got ", pred.aval().str(),
                            " (for an elementwise choice use jx::where; under vmap a batched predicate is fine)");
  }
  if (pred.dtype() == bool_) return lax::convert_element_type(pred, int32);
  if (is_integer(pred.dtype())) return lax::convert_element_type(not_equal(pred, Array(0)), int32);
  throw_error<DTypeError>("[cond] the predicate must be a bool or integer scalar, got ", pred.aval().str(),
                          " (compare it, e.g. x > 0)");
}

Array switch_index(const Array& index, size_t num_branches) {
  if (num_branches == 0) throw_error<ValueError>("[switch_] needs at least one branch");
  if (!index.defined()) throw_error<ValueError>("[switch_] the index is an undefined Array");
  if (index.ndim() != 0 || !is_integer(index.dtype())) {
    throw_error<DTypeError>("[switch_] the index must be an integer scalar, got ", index.aval().str());
  }
  Array i = lax::convert_element_type(index, int32);
  return clip(i, 0, static_cast<int>(num_branches) - 1);
}

std::vector<Array> cond_flat(const char* op, const Array& index, const std::vector<TraceFn>& branches,
                             const std::vector<std::string>& names, const std::vector<Array>& ops, TreeDef& out_def) {
  auto avals = avals_of_arrays(ops);
  std::vector<ClosedJaxpr> jaxprs;
  std::vector<TreeDef> defs;
  for (auto& b : branches) {
    auto [j, d] = b(avals);
    jaxprs.push_back(std::move(j));
    defs.push_back(std::move(d));
  }
  // Report against the first branch in the user's terms (cond: true_fn is branch 1).
  const size_t ref = std::string(op) == "cond" ? 1 : 0;
  for (size_t b = 0; b < branches.size(); ++b) {
    if (!(defs[b] == defs[ref])) {
      throw_error<ValueError>("[", op, "] ", names[ref], " and ", names[b], " return different tree structures: ",
                              defs[ref].str(), " vs ", defs[b].str());
    }
    auto o_ref = jaxprs[ref].out_avals(), o_b = jaxprs[b].out_avals();
    for (size_t i = 0; i < o_ref.size(); ++i) {
      if (!same_type(o_ref[i], o_b[i])) {
        throw_error<ShapeError>("[", op, "] ", names[ref], " and ", names[b], " return different types: ", names[ref],
                                " returns ", types_str(o_ref), " but ", names[b], " returns ", types_str(o_b),
                                " (leaf ", i, ": ", o_ref[i].str(), " vs ", o_b[i].str(), ")");
      }
    }
  }
  out_def = defs[ref];
  auto [converted, consts] = common_consts(jaxprs);
  std::vector<Array> ins{index};
  ins = join(join(ins, consts), ops);
  return jx::bind(cond_p, ins, cond_params(std::move(converted)));
}

std::vector<Array> while_flat(const TraceFn& cond, const TraceFn& body, const TreeDef& carry_def, std::vector<Array> init) {
  std::pair<ClosedJaxpr, TreeDef> b;
  for (int attempt = 0;; ++attempt) {
    b = body(avals_of_arrays(init));
    if (!check_carry("while_loop", "body_fn", carry_def, b.second, b.first.out_avals(), init, attempt == 0)) break;
  }
  auto [c, c_def] = cond(avals_of_arrays(init));
  auto pred = c.out_avals();
  if (c_def.kind != TreeDef::Kind::leaf) {
    throw_error<ValueError>("[while_loop] cond_fn must return one scalar bool Array, got a tree ", c_def.str());
  }
  if (pred[0].ndim() != 0) {
    throw_error<ShapeError>("[while_loop] cond_fn must return a scalar bool, got ", pred[0].str(),
                            " (reduce it, e.g. jx::any(x > 0))");
  }
  if (pred[0].dtype != bool_) {
    throw_error<DTypeError>("[while_loop] cond_fn must return a scalar bool, got ", pred[0].str(), " (compare it, e.g. x > 0)");
  }
  auto [cj, cc] = convert_constvars(c);
  auto [bj, bc] = convert_constvars(b.first);
  std::vector<Array> ins = join(join(cc, bc), init);
  return jx::bind(while_p, ins, while_params(cj, bj, cc.size(), bc.size()));
}

std::vector<Array> scan_flat(const TraceFn& body, const TreeDef& carry_def, std::vector<Array> init,
                             const std::vector<Array>& xs, std::optional<int64_t> length, bool reverse, TreeDef& y_def) {
  // 1. The scan's length: the leading extent shared by every leaf of xs (and `length`, if given).
  std::optional<int64_t> n = length;
  std::string first;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].defined()) throw_error<ValueError>("[scan] xs leaf ", i, " is an undefined Array");
    if (xs[i].ndim() == 0) {
      throw_error<ShapeError>("[scan] xs leaf ", i, " is a scalar ", xs[i].aval().str(),
                              "; every leaf of xs needs a leading axis to scan over");
    }
    const int64_t len = xs[i].shape()[0];
    std::string desc = detail::cat("leaf ", i, " (", xs[i].aval().str(), ") has leading length ", len);
    if (n && *n != len) {
      throw_error<ShapeError>("[scan] xs leaves have mismatched leading lengths: ",
                              first.empty() ? detail::cat("length is ", *n) : first, ", but ", desc);
    }
    n = len;
    if (first.empty()) first = desc;
  }
  if (!n) throw_error<ValueError>("[scan] xs has no leaves: pass length to say how many iterations to run");
  if (*n < 0) throw_error<ValueError>("[scan] length must be >= 0, got ", *n);
  std::vector<AbstractValue> x_avals;
  for (auto& x : xs) x_avals.push_back(slice_aval(x.aval()));
  // 2. Trace the body once (twice when a weakly typed initial carry takes the body's dtype).
  std::pair<ClosedJaxpr, TreeDef> b;
  for (int attempt = 0;; ++attempt) {
    b = body(join(avals_of_arrays(init), x_avals));
    const TreeDef& out = b.second;
    if (out.kind != TreeDef::Kind::tuple || out.children.size() != 2) {
      throw_error<ValueError>("[scan] f must return a pair (new carry, y), got ", out.str());
    }
    auto outs = b.first.out_avals();
    if (!check_carry("scan", "f", carry_def, out.children[0], sub(outs, 0, init.size()), init, attempt == 0)) break;
  }
  y_def = b.second.children[1];
  auto [bj, consts] = convert_constvars(b.first);
  std::vector<Array> ins = join(join(consts, init), xs);
  return jx::bind(scan_p, ins, scan_params(bj, *n, reverse, consts.size(), init.size()));
}

void check_fori_bounds(const Array& lo, const Array& hi) {
  for (const Array* b : {&lo, &hi}) {
    if (!b->defined()) throw_error<ValueError>("[fori_loop] a bound is an undefined Array");
    if (b->ndim() != 0 || !is_integer(b->dtype())) {
      throw_error<DTypeError>("[fori_loop] lo and hi must be integer scalars, got lo ", lo.aval().str(), " and hi ",
                              hi.defined() ? hi.aval().str() : "undefined");
    }
  }
}

}  // namespace detail
}  // namespace jx
