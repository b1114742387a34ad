// Reverse mode and linearization from jvp + partial evaluation + transposition.

#include "core/log.h"
#include "transforms/ad.h"

namespace jx {

namespace {

// The JVP jaxpr of `jaxpr` (tangents for `diff` inputs) split into the primal part (known) and
// the linear part (unknown), keeping only the output tangents in `tangent_outputs`.
struct Split {
  PartialEval pe;
  int num_outputs = 0;
};

Split split_jvp(const ClosedJaxpr& jaxpr, const std::vector<bool>& diff, const std::vector<bool>& tangent_outputs) {
  const int n_in = static_cast<int>(jaxpr.jaxpr->invars.size());
  const int n_out = static_cast<int>(jaxpr.jaxpr->outvars.size());
  ClosedJaxpr jvp = jvp_jaxpr(jaxpr, diff);
  // Keep every primal output and the selected tangent outputs.
  std::vector<bool> keep(2 * n_out, true);
  for (int i = 0; i < n_out; ++i) keep[n_out + i] = tangent_outputs[i];
  jvp = dce_jaxpr(jvp, keep);
  int n_diff = 0;
  for (bool d : diff) n_diff += d;
  std::vector<bool> in_unknown(n_in + n_diff, false);
  for (int i = n_in; i < n_in + n_diff; ++i) in_unknown[i] = true;
  std::vector<bool> instantiate(jvp.jaxpr->outvars.size(), false);
  for (size_t i = n_out; i < instantiate.size(); ++i) instantiate[i] = true;
  Split s;
  s.pe = partial_eval_jaxpr(jvp, in_unknown, instantiate);
  s.num_outputs = n_out;
  // Primal outputs are known unless they depend on a tangent, which a correct JVP never does.
  for (int i = 0; i < n_out; ++i) {
    JX_CHECK(!s.pe.out_unknown[i], "a primal output depends on a tangent input");
  }
  s.pe.known = dce_jaxpr(s.pe.known);
  return s;
}

}  // namespace

LinearizeJaxprs linearize_jaxprs(const ClosedJaxpr& jaxpr, const std::vector<bool>& diff) {
  std::vector<bool> all(jaxpr.jaxpr->outvars.size(), true);
  Split s = split_jvp(jaxpr, diff, all);
  LinearizeJaxprs out;
  out.fwd = s.pe.known;
  out.linear = s.pe.unknown;
  out.num_outputs = s.num_outputs;
  out.num_residuals = s.pe.num_residuals;
  return out;
}

VjpJaxprs vjp_jaxprs(const ClosedJaxpr& jaxpr, const std::vector<bool>& diff, const std::vector<bool>& ct_outputs) {
  Split s = split_jvp(jaxpr, diff, ct_outputs);
  // The linear jaxpr takes residuals..., tangents...; transpose w.r.t. the tangents.
  const size_t n_lin_in = s.pe.unknown.jaxpr->invars.size();
  std::vector<bool> linear(n_lin_in, false);
  for (size_t i = s.pe.num_residuals; i < n_lin_in; ++i) linear[i] = true;
  VjpJaxprs out;
  out.fwd = s.pe.known;
  out.bwd = transpose_jaxpr(s.pe.unknown, linear);
  out.num_outputs = s.num_outputs;
  out.num_residuals = s.pe.num_residuals;
  SPDLOG_LOGGER_DEBUG(detail::logger("transforms"), "vjp: fwd {} eqns, bwd {} eqns, {} residuals",
                      out.fwd.jaxpr->eqns.size(), out.bwd.jaxpr->eqns.size(), out.num_residuals);
  return out;
}

}  // namespace jx
