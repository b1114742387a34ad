// Call primitives for custom differentiation rules and rematerialization:
//   custom_jvp_call  f with a user JVP rule
//   custom_vjp_call  f with user fwd/bwd; under jvp it runs fwd and emits custom_lin
//   custom_lin       linear in its tangent inputs; transposes by calling the user's bwd
//   checkpoint       f whose intermediates are recomputed in reverse mode (policy-driven)

#include "transforms/custom.h"

#include "core/ops.h"
#include "transforms/vmap.h"

#include <unordered_map>
#include <unordered_set>

namespace jx {

namespace {

using detail::FlatJvp;
using detail::FlatVjp;
using detail::FunctionParam;

template <class T>
const T& get_fn(const Params& p, const std::string& name) {
  auto& obj = p.get<std::shared_ptr<const ParamObject>>(name);
  auto* fp = dynamic_cast<const FunctionParam<T>*>(obj.get());
  JX_CHECK(fp, "parameter '", name, "' has the wrong function type");
  return fp->fn;
}

std::vector<AbstractValue> call_shape_rule(const char* name, std::span<const AbstractValue> in, const Params& p,
                                           const char* key = "call_jaxpr") {
  const ClosedJaxpr& j = get_jaxpr(p, key);
  auto want = j.in_avals();
  if (want.size() != in.size()) throw_error<ShapeError>("[", name, "] takes ", want.size(), " inputs, got ", in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (want[i].shape != in[i].shape || want[i].dtype != in[i].dtype) {
      throw_error<ShapeError>("[", name, "] input ", i, " should be ", want[i].str(), ", got ", in[i].str());
    }
  }
  return j.out_avals();
}

std::vector<Array> call_impl(std::span<const Array> args, const Params& p, const char* key = "call_jaxpr") {
  const ClosedJaxpr& j = get_jaxpr(p, key);
  return eval_jaxpr(*j.jaxpr, j.consts, args);
}

void check_const_tangents(const char* name, std::span<const Array> tangents, int64_t num_consts) {
  for (int64_t i = 0; i < num_consts; ++i) {
    if (tangents[i].defined()) {
      throw_error<TraceError>("[", name,
                              "] the function closes over a value that is being differentiated; pass it as an "
                              "argument instead (as with jax.closure_convert)");
    }
  }
}

struct CustomLinInfo : ParamObject {
  std::function<std::vector<Array>(std::span<const Array>, std::span<const Array>)> bwd;
  std::vector<AbstractValue> out_avals;
  void print(std::ostream& os) const override { os << "<bwd>"; }
  size_t hash() const override { return std::hash<const void*>{}(this); }
  bool equals(const ParamObject& o) const override { return this == &o; }
};

const CustomLinInfo& lin_info(const Params& p) {
  auto* info = dynamic_cast<const CustomLinInfo*>(p.get<std::shared_ptr<const ParamObject>>("bwd").get());
  JX_CHECK(info, "custom_lin without its bwd");
  return *info;
}


// ---- batching of call primitives ----------------------------------------------------------------

using FlatFn = std::function<std::vector<Array>(std::span<const Array>)>;

std::vector<AbstractValue> physical_avals(std::span<const Array> args) {
  std::vector<AbstractValue> out;
  for (auto& a : args) out.push_back(a.aval());
  return out;
}

std::vector<AbstractValue> example_avals(std::span<const Array> args, std::span<const BatchDim> dims) {
  std::vector<AbstractValue> out;
  for (size_t i = 0; i < args.size(); ++i) {
    AbstractValue a = args[i].aval();
    if (dims[i]) a.shape.erase(a.shape.begin() + *dims[i]);
    out.push_back(a);
  }
  return out;
}

// Batches a sub-jaxpr: the result takes the physical arguments and returns every output with
// its batch axis at 0.
ClosedJaxpr batch_body(const ClosedJaxpr& body, std::span<const Array> args, std::span<const BatchDim> dims) {
  int64_t size = batch_size(args, dims);
  std::vector<std::optional<int>> out_axes(body.jaxpr->outvars.size(), 0);
  return detail::batch_jaxpr(body, size, std::vector<BatchDim>(dims.begin(), dims.end()), out_axes, physical_avals(args));
}

// Runs a flat function on batched inputs (batch axis dims[i], or unmapped): traced at the
// per-example types and batched; outputs come back with the batch axis at 0.
FlatFn batch_flat(FlatFn fn, std::vector<BatchDim> dims) {
  return [fn = std::move(fn), dims = std::move(dims)](std::span<const Array> args) {
    ClosedJaxpr j = trace_to_jaxpr(fn, example_avals(args, dims), "vmap");
    return batch_body(j, args, dims)(args);
  };
}

// Mapped arguments get their batch axis at 0; returns the new dims (0 or unmapped).
std::vector<BatchDim> to_front(std::vector<Array>& args, std::span<const BatchDim> dims, int64_t size) {
  std::vector<BatchDim> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (dims[i]) args[i] = move_batch_axis(args[i], dims[i], 0, size);
    out.push_back(dims[i] ? BatchDim(0) : std::nullopt);
  }
  return out;
}

// Cotangents computed per example (batch axis 0) for inputs that were mapped (kept) or unmapped
// (summed over the batch, since the input was shared by every example).
std::vector<Array> fold_cotangents(std::vector<Array> cts, std::span<const BatchDim> dims) {
  for (size_t i = 0; i < cts.size(); ++i) {
    if (cts[i].defined() && !dims[i]) cts[i] = sum(cts[i], {0});
  }
  return cts;
}

}  // namespace

const Primitive custom_jvp_call_p =
    PrimitiveBuilder("custom_jvp_call")
        .num_outputs(-1)
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) { return call_shape_rule("custom_jvp_call", in, p); })
        .impl([](std::span<const Array> args, const Params& p) { return call_impl(args, p); })
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outs,
                const Params& p) {
          int64_t nc = p.get_int("num_consts");
          check_const_tangents("custom_jvp", tangents, nc);
          std::vector<Array> ps(primals.begin() + nc, primals.end()), ts;
          for (size_t i = nc; i < primals.size(); ++i) ts.push_back(instantiate(tangents[i], primals[i].aval()));
          std::vector<Array> t_out = get_fn<FlatJvp>(p, "jvp")(ps, ts);
          if (t_out.size() != outs.size()) {
            throw_error<ValueError>("[custom_jvp] the rule returned ", t_out.size(), " tangents for ", outs.size(), " outputs");
          }
          for (size_t i = 0; i < outs.size(); ++i) {
            if (t_out[i].shape() != outs[i].shape()) {
              throw_error<ShapeError>("[custom_jvp] the rule's tangent ", i, " is ", t_out[i].aval().str(),
                                      " but the output is ", outs[i].aval().str());
            }
            if (t_out[i].dtype() != outs[i].dtype()) t_out[i] = lax::convert_element_type(t_out[i], outs[i].dtype());
          }
          return t_out;
        })
        .batch([](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
          int64_t nc = p.get_int("num_consts");
          std::vector<Array> ins(args.begin(), args.end());
          auto nd = to_front(ins, dims, batch_size(args, dims));
          ClosedJaxpr body = batch_body(get_jaxpr(p, "call_jaxpr"), ins, nd);
          std::vector<BatchDim> pd(nd.begin() + nc, nd.end()), both = pd;
          both.insert(both.end(), pd.begin(), pd.end());
          FlatJvp old = get_fn<FlatJvp>(p, "jvp");
          const size_t n = pd.size();
          FlatFn jvp_flat = [old, n](std::span<const Array> pt) { return old(pt.subspan(0, n), pt.subspan(n)); };
          FlatFn jvp_b = batch_flat(jvp_flat, both);
          FlatJvp new_jvp = [jvp_b](std::span<const Array> pr, std::span<const Array> tg) {
            std::vector<Array> pt(pr.begin(), pr.end());
            pt.insert(pt.end(), tg.begin(), tg.end());
            return jvp_b(pt);
          };
          Params np{{"call_jaxpr", jaxpr_param(body)},
                    {"jvp", std::shared_ptr<const ParamObject>(std::make_shared<FunctionParam<FlatJvp>>(new_jvp, "jvp"))},
                    {"num_consts", nc}};
          auto outs = jx::bind(custom_jvp_call_p, ins, np);
          return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
        })
        .build();

const Primitive custom_lin_p =
    PrimitiveBuilder("custom_lin")
        .num_outputs(-1)
        .shape_rule([](std::span<const AbstractValue>, const Params& p) { return lin_info(p).out_avals; })
        .impl([](std::span<const Array>, const Params&) -> std::vector<Array> {
          throw Error(
              "[jvp] forward-mode differentiation (jvp, linearize, jacfwd) of a custom_vjp function is not "
              "supported, as in JAX: use grad/vjp/jacrev, or give the function a custom_jvp rule");
        })
        .no_rule("jvp", "custom_lin only appears in linear jaxprs, which are transposed, not differentiated")
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool>, const Params& p) {
          const auto& info = lin_info(p);
          int64_t nres = p.get_int("num_res");
          std::vector<Array> res(args.begin(), args.begin() + nres), c;
          for (size_t i = 0; i < cts.size(); ++i) c.push_back(instantiate(cts[i], info.out_avals[i]));
          std::vector<Array> in_cts = info.bwd(res, c);
          std::vector<Array> out(nres);
          if (in_cts.size() != args.size() - nres) {
            throw_error<ValueError>("[custom_vjp] bwd returned ", in_cts.size(), " cotangents for ", args.size() - nres,
                                    " inputs");
          }
          for (size_t i = 0; i < in_cts.size(); ++i) {
            // args in linear positions are undefined: check against the tangent avals recorded.
            out.push_back(in_cts[i]);
          }
          return out;
        })
        .batch([](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
          const auto& info = lin_info(p);
          int64_t nres = p.get_int("num_res");
          int64_t size = batch_size(args, dims);
          std::vector<Array> ins(args.begin(), args.end());
          auto nd = to_front(ins, dims, size);
          std::vector<BatchDim> res_dims(nd.begin(), nd.begin() + nres), in_dims(nd.begin() + nres, nd.end());
          auto batched = std::make_shared<CustomLinInfo>();
          for (auto aval : info.out_avals) {
            aval.shape.insert(aval.shape.begin(), size);
            batched->out_avals.push_back(aval);
          }
          // bwd per example: residuals at their dims, cotangents at 0.
          std::vector<BatchDim> bwd_dims = res_dims;
          bwd_dims.insert(bwd_dims.end(), info.out_avals.size(), BatchDim(0));
          auto old = info.bwd;
          FlatFn bwd_flat = [old, nres](std::span<const Array> rc) { return old(rc.subspan(0, nres), rc.subspan(nres)); };
          FlatFn bwd_b = batch_flat(bwd_flat, bwd_dims);
          batched->bwd = [bwd_b, in_dims](std::span<const Array> r, std::span<const Array> c) {
            std::vector<Array> rc(r.begin(), r.end());
            rc.insert(rc.end(), c.begin(), c.end());
            return fold_cotangents(bwd_b(rc), in_dims);
          };
          auto outs = jx::bind(custom_lin_p, ins,
                               Params{{"num_res", nres}, {"bwd", std::shared_ptr<const ParamObject>(batched)}});
          return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
        })
        .build();

const Primitive custom_vjp_call_p =
    PrimitiveBuilder("custom_vjp_call")
        .num_outputs(-1)
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) { return call_shape_rule("custom_vjp_call", in, p); })
        .impl([](std::span<const Array> args, const Params& p) { return call_impl(args, p); })
        .jvp_full([](std::span<const Array> primals, std::span<const Array> tangents, const Params& p) {
          int64_t nc = p.get_int("num_consts");
          check_const_tangents("custom_vjp", tangents, nc);
          const FlatVjp& vjp = get_fn<FlatVjp>(p, "vjp");
          std::vector<Array> ps(primals.begin() + nc, primals.end());
          auto [outs, res] = vjp.fwd(ps);
          auto info = std::make_shared<CustomLinInfo>();
          const ClosedJaxpr& j = get_jaxpr(p, "call_jaxpr");
          info->out_avals = j.out_avals();
          std::vector<AbstractValue> in_avals;
          for (auto& x : ps) in_avals.push_back(x.aval());
          info->bwd = [bwd = vjp.bwd, in_avals](std::span<const Array> r, std::span<const Array> c) {
            auto cts = bwd(r, c);
            for (size_t i = 0; i < cts.size() && i < in_avals.size(); ++i) {
              if (!cts[i].defined()) continue;
              if (cts[i].shape() != in_avals[i].shape) {
                throw_error<ShapeError>("[custom_vjp] bwd's cotangent ", i, " is ", cts[i].aval().str(),
                                        " but the argument is ", in_avals[i].str());
              }
              if (cts[i].dtype() != in_avals[i].dtype) cts[i] = lax::convert_element_type(cts[i], in_avals[i].dtype);
            }
            return cts;
          };
          std::vector<Array> lin_in = res;
          for (size_t i = nc; i < primals.size(); ++i) lin_in.push_back(instantiate(tangents[i], primals[i].aval()));
          auto touts = jx::bind(custom_lin_p, lin_in,
                                Params{{"num_res", static_cast<int64_t>(res.size())},
                                       {"bwd", std::shared_ptr<const ParamObject>(info)}});
          return std::pair{outs, touts};
        })
        .batch([](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
          int64_t nc = p.get_int("num_consts");
          std::vector<Array> ins(args.begin(), args.end());
          auto nd = to_front(ins, dims, batch_size(args, dims));
          ClosedJaxpr body = batch_body(get_jaxpr(p, "call_jaxpr"), ins, nd);
          const FlatVjp& old = get_fn<FlatVjp>(p, "vjp");
          std::vector<BatchDim> pd(nd.begin() + nc, nd.end());
          const size_t n_out = get_jaxpr(p, "call_jaxpr").jaxpr->outvars.size();
          auto n_res = std::make_shared<size_t>(0);
          FlatFn fwd_flat = [fwd = old.fwd, n_res](std::span<const Array> x) {
            auto [o, r] = fwd(x);
            *n_res = r.size();
            o.insert(o.end(), r.begin(), r.end());
            return o;
          };
          FlatFn fwd_b = batch_flat(fwd_flat, pd);
          FlatVjp nv;
          nv.fwd = [fwd_b, n_out](std::span<const Array> x) {
            auto all = fwd_b(x);
            return std::pair{std::vector<Array>(all.begin(), all.begin() + n_out),
                             std::vector<Array>(all.begin() + n_out, all.end())};
          };
          nv.bwd = [bwd = old.bwd, n_res, n_out, pd](std::span<const Array> r, std::span<const Array> c) {
            std::vector<BatchDim> bd(r.size() + c.size(), BatchDim(0));
            const size_t nr = r.size();
            FlatFn bwd_flat = [bwd, nr](std::span<const Array> rc) { return bwd(rc.subspan(0, nr), rc.subspan(nr)); };
            std::vector<Array> rc(r.begin(), r.end());
            rc.insert(rc.end(), c.begin(), c.end());
            return fold_cotangents(batch_flat(bwd_flat, bd)(rc), pd);
          };
          Params np{{"call_jaxpr", jaxpr_param(body)},
                    {"vjp", std::shared_ptr<const ParamObject>(std::make_shared<FunctionParam<FlatVjp>>(nv, "fwd/bwd"))},
                    {"num_consts", nc}};
          auto outs = jx::bind(custom_vjp_call_p, ins, np);
          return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
        })
        .build();

// ---- checkpoint ----------------------------------------------------------------------------------

extern const Primitive checkpoint_p;

namespace {

std::vector<Array> bind_call(const Primitive& prim, const ClosedJaxpr& f, std::span<const Array> args, Params params,
                             const char* key = "call_jaxpr") {
  auto [converted, consts] = convert_constvars(f);
  std::vector<Array> ins = consts;
  ins.insert(ins.end(), args.begin(), args.end());
  params.set(key, jaxpr_param(converted));
  params.set("num_consts", static_cast<int64_t>(consts.size()));
  return jx::bind(prim, ins, params);
}

const VarNode* var_of(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

// Evaluates `jaxpr` with the outputs of some equations taken from `overrides` (saved values).
std::vector<Array> eval_with_overrides(const Jaxpr& jaxpr, std::span<const Array> consts, std::span<const Array> args,
                                       const std::unordered_map<const VarNode*, Array>& overrides) {
  std::unordered_map<const VarNode*, Array> env = overrides;
  for (size_t i = 0; i < consts.size(); ++i) env[jaxpr.constvars[i].get()] = consts[i];
  for (size_t i = 0; i < args.size(); ++i) env[jaxpr.invars[i].get()] = args[i];
  auto read = [&](const Atom& a) {
    if (auto* l = std::get_if<Literal>(&a)) return l->value;
    return env.at(var_of(a));
  };
  for (auto& eqn : jaxpr.eqns) {
    bool saved = !eqn.outputs.empty();
    for (auto& o : eqn.outputs) saved &= overrides.count(o.get()) > 0;
    if (saved) continue;
    std::vector<Array> ins;
    for (auto& a : eqn.inputs) ins.push_back(read(a));
    auto outs = jx::bind(eqn.prim, ins, eqn.params, eqn.loc);
    for (size_t i = 0; i < outs.size(); ++i) env[eqn.outputs[i].get()] = outs[i];
  }
  std::vector<Array> out;
  for (auto& o : jaxpr.outvars) out.push_back(read(o));
  return out;
}

PartialEvalEqn checkpoint_partial_eval(const Eqn& eqn, const std::vector<bool>& unknown_in) {
  const ClosedJaxpr& body = get_jaxpr(eqn.params, "jaxpr");
  const std::string& policy = eqn.params.get<std::string>("policy");
  PartialEval pe = partial_eval_jaxpr(body, unknown_in, {});
  const Jaxpr& known = *pe.known.jaxpr;
  const size_t n_known_out = known.outvars.size() - pe.num_residuals;
  // 1. Residuals to save: by policy.
  std::vector<size_t> saved;  // indices into the residual outputs
  std::unordered_set<const VarNode*> dot_outs;
  for (auto& e : known.eqns)
    if (e.prim.name() == "dot_general") dot_outs.insert(e.outputs[0].get());
  for (size_t r = 0; r < static_cast<size_t>(pe.num_residuals); ++r) {
    const VarNode* v = var_of(known.outvars[n_known_out + r]);
    if (policy == "everything_saveable" || (policy == "dots_saveable" && v && dot_outs.count(v))) saved.push_back(r);
  }
  // 2. The known side: a checkpoint of the known part, outputs = known outputs + saved residuals.
  PartialEvalEqn out;
  std::vector<Atom> known_inputs, unknown_inputs;
  for (size_t i = 0; i < unknown_in.size(); ++i) (unknown_in[i] ? unknown_inputs : known_inputs).push_back(eqn.inputs[i]);
  std::vector<Var> known_outs, unknown_outs;
  for (size_t i = 0; i < eqn.outputs.size(); ++i) (pe.out_unknown[i] ? unknown_outs : known_outs).push_back(eqn.outputs[i]);
  std::vector<bool> keep(known.outvars.size(), false);
  for (size_t i = 0; i < n_known_out; ++i) keep[i] = true;
  for (size_t r : saved) keep[n_known_out + r] = true;
  ClosedJaxpr known_body = dce_jaxpr(pe.known, keep);
  std::vector<Var> saved_vars;
  for (size_t r : saved) saved_vars.push_back(new_var(atom_aval(known.outvars[n_known_out + r])));
  if (!known_outs.empty() || !saved_vars.empty()) {
    Eqn k{checkpoint_p, known_inputs, Params{{"jaxpr", jaxpr_param(known_body)}, {"policy", policy}}, known_outs, eqn.loc};
    k.outputs.insert(k.outputs.end(), saved_vars.begin(), saved_vars.end());
    out.known = std::move(k);
  }
  // 3. The unknown side recomputes the unsaved residuals from the known inputs.
  std::vector<AbstractValue> avals;
  for (auto& a : known_inputs) avals.push_back(atom_aval(a));
  for (auto& v : saved_vars) avals.push_back(v->aval);
  for (auto& a : unknown_inputs) avals.push_back(atom_aval(a));
  const size_t nk = known_inputs.size(), ns = saved_vars.size();
  ClosedJaxpr unknown_body = trace_to_jaxpr(
      [&](std::span<const Array> flat) {
        std::unordered_map<const VarNode*, Array> overrides;
        for (size_t s = 0; s < ns; ++s) {
          const VarNode* v = var_of(known.outvars[n_known_out + saved[s]]);
          if (v) overrides[v] = flat[nk + s];
        }
        auto recomputed = eval_with_overrides(known, pe.known.consts, flat.subspan(0, nk), overrides);
        std::vector<Array> lin_in(recomputed.begin() + n_known_out, recomputed.end());
        lin_in.insert(lin_in.end(), flat.begin() + nk + ns, flat.end());
        return eval_jaxpr(*pe.unknown.jaxpr, pe.unknown.consts, lin_in);
      },
      avals, "checkpoint");
  unknown_body = dce_jaxpr(unknown_body);
  // The recompute body may hold concrete constants created while tracing it: it stays closed.
  std::vector<Atom> u_inputs = known_inputs;
  for (auto& v : saved_vars) u_inputs.push_back(v);
  u_inputs.insert(u_inputs.end(), unknown_inputs.begin(), unknown_inputs.end());
  out.unknown = Eqn{checkpoint_p, u_inputs, Params{{"jaxpr", jaxpr_param(unknown_body)}, {"policy", policy}},
                    unknown_outs, eqn.loc};
  return out;
}

}  // namespace

const Primitive checkpoint_p =
    PrimitiveBuilder("checkpoint")
        .num_outputs(-1)
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) { return call_shape_rule("checkpoint", in, p, "jaxpr"); })
        .impl([](std::span<const Array> args, const Params& p) { return call_impl(args, p, "jaxpr"); })
        .jvp_full([](std::span<const Array> primals, std::span<const Array> tangents, const Params& p) {
          const ClosedJaxpr& body = get_jaxpr(p, "jaxpr");
          std::vector<bool> nonzero;
          std::vector<Array> ins(primals.begin(), primals.end());
          for (auto& t : tangents) {
            nonzero.push_back(t.defined());
            if (t.defined()) ins.push_back(t);
          }
          ClosedJaxpr jvp = jvp_jaxpr(body, nonzero);
          auto outs = bind_call(checkpoint_p, jvp, ins, Params{{"policy", p.get<std::string>("policy")}}, "jaxpr");
          size_t n = outs.size() / 2;
          return std::pair{std::vector<Array>(outs.begin(), outs.begin() + n), std::vector<Array>(outs.begin() + n, outs.end())};
        })
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                      const Params& p) {
          const ClosedJaxpr& body = get_jaxpr(p, "jaxpr");
          std::vector<bool> lin(linear.begin(), linear.end());
          auto lin_cts = backward_pass(*body.jaxpr, body.consts, args, lin, cts);
          std::vector<Array> out(args.size());
          for (size_t i = 0, k = 0; i < args.size(); ++i)
            if (lin[i]) out[i] = lin_cts[k++];
          return out;
        })
        .batch([](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
          ClosedJaxpr body = batch_body(get_jaxpr(p, "jaxpr"), args, dims);
          auto outs = jx::bind(checkpoint_p, args, Params{{"jaxpr", jaxpr_param(body)}, {"policy", p.get<std::string>("policy")}});
          return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
        })
        .build();

namespace detail {

std::vector<Array> bind_custom_jvp(const ClosedJaxpr& f, std::span<const Array> args, FlatJvp jvp) {
  return bind_call(custom_jvp_call_p, f, args,
                   Params{{"jvp", std::shared_ptr<const ParamObject>(std::make_shared<FunctionParam<FlatJvp>>(std::move(jvp), "jvp"))}});
}

std::vector<Array> bind_custom_vjp(const ClosedJaxpr& f, std::span<const Array> args, FlatVjp vjp) {
  // fwd/bwd see only the arguments; the call's leading constants are skipped by the rules.
  return bind_call(custom_vjp_call_p, f, args,
                   Params{{"vjp", std::shared_ptr<const ParamObject>(std::make_shared<FunctionParam<FlatVjp>>(std::move(vjp), "fwd/bwd"))}});
}

std::vector<Array> bind_checkpoint(const ClosedJaxpr& f, std::span<const Array> args, const std::string& policy) {
  static const bool registered = [] {
    register_partial_eval_rule(checkpoint_p, checkpoint_partial_eval);
    return true;
  }();
  (void)registered;
  return bind_call(checkpoint_p, f, args, Params{{"policy", policy}}, "jaxpr");
}

}  // namespace detail
}  // namespace jx
