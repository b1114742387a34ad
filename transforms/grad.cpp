// Non-template parts of the autodiff API: signature keys, checks, and the jaxprs behind
// grad / value_and_grad / jvp / vjp / linearize / jacobians.

#include "transforms/grad.h"

#include <functional>

#include "core/log.h"

namespace jx {
namespace detail {

size_t SignatureKeyHash::operator()(const SignatureKey& k) const {
  size_t h = std::hash<std::string>{}(k.structure);
  for (auto& a : k.avals) {
    h = h * 31 + static_cast<size_t>(a.dtype) * 2 + a.weak_type;
    for (auto d : a.shape) h = h * 1000003 + static_cast<size_t>(d);
  }
  return h;
}

SignatureKey signature_key(const std::vector<Array>& leaves, const TreeDef& def) {
  SignatureKey key;
  key.avals.reserve(leaves.size());
  for (auto& l : leaves) key.avals.push_back(l.aval());
  key.structure = def.str();
  return key;
}

bool captures_tracers(const ClosedJaxpr& jaxpr) {
  for (auto& c : jaxpr.consts)
    if (c.is_tracer()) return true;
  return false;
}

std::vector<bool> diff_mask(const char* transform, const std::vector<Array>& leaves,
                            const std::vector<std::pair<size_t, TreeDef>>& defs, const std::vector<int>& argnums) {
  std::vector<bool> diff(leaves.size(), argnums.empty());
  for (int a : argnums) {
    size_t begin = defs[a].first, end = begin + defs[a].second.num_leaves;
    for (size_t i = begin; i < end; ++i) diff[i] = true;
  }
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!diff[i]) continue;
    if (!leaves[i].defined()) throw_error<ValueError>("[", transform, "] an argument is an undefined Array");
    if (!is_floating(leaves[i].dtype())) {
      // Find the argument the leaf belongs to, for the message.
      size_t arg = 0;
      while (arg + 1 < defs.size() && defs[arg + 1].first <= i) ++arg;
      throw_error<DTypeError>("[", transform, "] argument ", arg, " has a leaf of dtype ", leaves[i].aval().str(),
                              "; differentiation needs floating-point inputs (float16, bfloat16, float32 or float64; convert "
                              "with .astype(jx::float32), "
                              "or pass integer values as arguments that are not differentiated)");
    }
  }
  return diff;
}

void check_scalar_output(const char* transform, const ClosedJaxpr& f, const TreeDef& out_def, bool has_aux) {
  auto outs = f.out_avals();
  if (has_aux) {
    if (out_def.kind != TreeDef::Kind::tuple || out_def.children.size() != 2 ||
        out_def.children[0].kind != TreeDef::Kind::leaf) {
      throw_error<ValueError>("[", transform, "] with has_aux the function must return std::pair<Array, Aux>, got ",
                              out_def.str());
    }
  } else if (out_def.kind != TreeDef::Kind::leaf) {
    throw_error<ValueError>("[", transform, "] the function must return one scalar Array, got a tree ", out_def.str(),
                            " (use has_aux for extra outputs, or jacrev/vjp for non-scalar outputs)");
  }
  const AbstractValue& v = outs.at(0);
  if (v.ndim() != 0) {
    throw_error<ShapeError>("[", transform, "] the function must return a scalar (0-d) array, got ", v.str(),
                            "; use jacrev or vjp for non-scalar outputs, or reduce it (e.g. jx::sum)");
  }
  if (!is_floating(v.dtype)) {
    throw_error<DTypeError>("[", transform, "] the function must return a floating-point scalar, got ", v.str());
  }
}

ClosedJaxpr value_and_grad_jaxpr(const ClosedJaxpr& f, const std::vector<bool>& diff, const char* transform) {
  const size_t n_out = f.jaxpr->outvars.size();
  std::vector<bool> ct_outputs(n_out, false);
  ct_outputs[0] = true;
  VjpJaxprs v = vjp_jaxprs(f, diff, ct_outputs);
  const AbstractValue value_aval = f.out_avals()[0];
  return trace_to_jaxpr(
      [&](std::span<const Array> flat) {
        std::vector<Array> fwd = v.fwd(flat);
        std::vector<Array> bwd_in(fwd.begin() + v.num_outputs, fwd.end());
        bwd_in.push_back(full({}, 1.0, value_aval.dtype));
        std::vector<Array> grads = v.bwd(bwd_in);
        std::vector<Array> result(fwd.begin(), fwd.begin() + v.num_outputs);
        result.insert(result.end(), grads.begin(), grads.end());
        return result;
      },
      f.in_avals(), transform);
}

void check_tangents(const char* transform, const std::vector<Array>& primals, const TreeDef& pdef,
                    const std::vector<Array>& tangents, const TreeDef& tdef) {
  if (!(pdef == tdef)) {
    throw_error<ValueError>("[", transform, "] tangents have structure ", tdef.str(), " but the primals have ",
                            pdef.str());
  }
  for (size_t i = 0; i < primals.size(); ++i) {
    if (!tangents[i].defined() || tangents[i].shape() != primals[i].shape() ||
        tangents[i].dtype() != primals[i].dtype()) {
      throw_error<ShapeError>("[", transform, "] tangent ", i, " is ",
                              tangents[i].defined() ? tangents[i].aval().str() : "undefined", " but its primal is ",
                              primals[i].aval().str(), " (tangents must match the primals' shapes and dtypes)");
    }
    if (!is_floating(primals[i].dtype())) {
      throw_error<DTypeError>("[", transform, "] primal ", i, " has dtype ", primals[i].aval().str(),
                              "; forward-mode differentiation needs floating-point inputs (float16, bfloat16, float32 or float64)");
    }
  }
}

std::vector<Array> jvp_flat(const ClosedJaxpr& f, const std::vector<Array>& primals,
                            const std::vector<Array>& tangents) {
  ClosedJaxpr j = jvp_jaxpr(f, std::vector<bool>(primals.size(), true));
  std::vector<Array> args = primals;
  args.insert(args.end(), tangents.begin(), tangents.end());
  return j(args);
}

std::shared_ptr<VjpState> vjp_state(const ClosedJaxpr& f, const std::vector<Array>& leaves, const TreeDef& out_def,
                                    std::vector<Array>& outs) {
  const size_t n_out = f.jaxpr->outvars.size();
  VjpJaxprs v = vjp_jaxprs(f, std::vector<bool>(leaves.size(), true), std::vector<bool>(n_out, true));
  std::vector<Array> fwd = v.fwd(leaves);
  outs.assign(fwd.begin(), fwd.begin() + v.num_outputs);
  auto s = std::make_shared<VjpState>();
  s->bwd = v.bwd;
  s->residuals.assign(fwd.begin() + v.num_outputs, fwd.end());
  s->out_def = out_def;
  s->out_avals = f.out_avals();
  return s;
}

std::vector<Array> vjp_apply(const VjpState& s, const std::vector<Array>& ct_leaves, const TreeDef& ct_def) {
  if (!(ct_def == s.out_def)) {
    throw_error<ValueError>("[vjp] the cotangent has structure ", ct_def.str(), " but the function's output has ",
                            s.out_def.str());
  }
  std::vector<Array> args = s.residuals;
  for (size_t i = 0; i < ct_leaves.size(); ++i) {
    const auto& want = s.out_avals[i];
    if (!ct_leaves[i].defined() || ct_leaves[i].shape() != want.shape) {
      throw_error<ShapeError>("[vjp] cotangent ", i, " is ",
                              ct_leaves[i].defined() ? ct_leaves[i].aval().str() : "undefined",
                              " but the output is ", want.str());
    }
    args.push_back(ct_leaves[i].dtype() == want.dtype ? ct_leaves[i] : ct_leaves[i].astype(want.dtype));
  }
  return s.bwd(args);
}

std::shared_ptr<LinearizeState> linearize_state(const ClosedJaxpr& f, const std::vector<Array>& leaves,
                                                std::vector<Array>& outs) {
  LinearizeJaxprs l = linearize_jaxprs(f, std::vector<bool>(leaves.size(), true));
  std::vector<Array> fwd = l.fwd(leaves);
  outs.assign(fwd.begin(), fwd.begin() + l.num_outputs);
  auto s = std::make_shared<LinearizeState>();
  s->linear = l.linear;
  s->residuals.assign(fwd.begin() + l.num_outputs, fwd.end());
  s->in_avals = f.in_avals();
  return s;
}

std::vector<Array> linearize_apply(const LinearizeState& s, const std::vector<Array>& tangents) {
  std::vector<Array> args = s.residuals;
  for (size_t i = 0; i < tangents.size(); ++i) {
    if (tangents[i].shape() != s.in_avals[i].shape || tangents[i].dtype() != s.in_avals[i].dtype) {
      throw_error<ShapeError>("[linearize] tangent ", i, " is ", tangents[i].aval().str(), " but the primal is ",
                              s.in_avals[i].str());
    }
    args.push_back(tangents[i]);
  }
  return s.linear(args);
}

Array basis_stack(const AbstractValue& aval) {
  int64_t n = aval.size();
  Shape shape{n};
  shape.insert(shape.end(), aval.shape.begin(), aval.shape.end());
  return reshape(eye(n, std::nullopt, 0, aval.dtype), shape);
}

Array jacobian_from_columns(const Array& columns, const Shape& out_shape, const Shape& in_shape) {
  Shape shape = out_shape;
  shape.insert(shape.end(), in_shape.begin(), in_shape.end());
  if (!columns.defined()) return zeros(shape);
  // columns: [n_in] + out_shape -> out_shape + [n_in] -> out_shape + in_shape
  int64_t n_in = shape_size(in_shape), n_out = shape_size(out_shape);
  return reshape(transpose(reshape(columns, {n_in, n_out})), shape);
}

Array jacobian_from_rows(const Array& rows, const Shape& out_shape, const Shape& in_shape) {
  Shape shape = out_shape;
  shape.insert(shape.end(), in_shape.begin(), in_shape.end());
  if (!rows.defined()) return zeros(shape);
  return reshape(rows, shape);
}

}  // namespace detail
}  // namespace jx
