#pragma once
// Automatic differentiation on jaxprs, as in JAX: jvp (forward mode with symbolic zeros),
// partial evaluation into known and unknown parts (linearize), and transposition of the linear
// part (reverse mode). Every function here maps jaxprs to jaxprs, so the results can be
// evaluated eagerly, staged into an outer trace, or transformed again.

#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/rules.h"
#include "core/trace.h"
#include "trace/jaxpr.h"

namespace jx {

// ---- jaxpr-level transforms ------------------------------------------------------------------

/// The JVP of `jaxpr`. Inputs: primals..., then one tangent per input with nonzeros[i];
/// outputs: primal outputs..., then one tangent per output (zeros instantiated).
ClosedJaxpr jvp_jaxpr(const ClosedJaxpr& jaxpr, const std::vector<bool>& nonzeros);

/// Result of splitting a jaxpr into what is computable from the known inputs and the rest.
struct PartialEval {
  /// known inputs -> known outputs..., residuals...
  ClosedJaxpr known;
  /// residuals..., unknown inputs -> unknown outputs...
  ClosedJaxpr unknown;
  std::vector<bool> out_unknown;
  int num_residuals = 0;
};
/// Splits `jaxpr` given which inputs are unknown. Outputs with instantiate[i] are produced by
/// the unknown jaxpr even when they are known (passed through as residuals).
PartialEval partial_eval_jaxpr(const ClosedJaxpr& jaxpr, const std::vector<bool>& in_unknown,
                               const std::vector<bool>& instantiate);

/// A primitive-specific way to split one equation with some unknown inputs (call primitives
/// such as checkpoint): an equation for the known side (inputs all known) and one for the
/// unknown side (may read known values; they become residuals). Outputs of the original
/// equation must each be defined by exactly one of them.
struct PartialEvalEqn {
  std::optional<Eqn> known;
  std::optional<Eqn> unknown;
};
using PartialEvalRule = std::function<PartialEvalEqn(const Eqn& eqn, const std::vector<bool>& unknown_inputs)>;
void register_partial_eval_rule(const Primitive& prim, PartialEvalRule rule);

/// Removes equations whose outputs are unused, and outputs not in `keep_outputs` (all kept
/// when empty).
ClosedJaxpr dce_jaxpr(const ClosedJaxpr& jaxpr, const std::vector<bool>& keep_outputs = {});

/// Transposes a jaxpr that is linear in the inputs marked `linear`: the result takes the
/// non-linear inputs..., then one cotangent per output, and returns one cotangent per linear
/// input (zeros instantiated).
ClosedJaxpr transpose_jaxpr(const ClosedJaxpr& jaxpr, const std::vector<bool>& linear);

/// Evaluates the transpose directly (the backward pass): cotangents for the linear inputs.
/// `args` holds the non-linear inputs' values and undefined Arrays in the linear positions;
/// `cts` one cotangent per output (undefined = zero).
std::vector<Array> backward_pass(const Jaxpr& jaxpr, std::span<const Array> consts, std::span<const Array> args,
                                 const std::vector<bool>& linear, std::span<const Array> cts);

/// Reverse mode of `jaxpr` w.r.t. the inputs in `diff`, for cotangents on the outputs in
/// `ct_outputs`. fwd: inputs -> outputs..., residuals...; bwd: residuals..., cts -> one
/// cotangent per differentiated input.
struct VjpJaxprs {
  ClosedJaxpr fwd;
  ClosedJaxpr bwd;
  int num_outputs = 0;
  int num_residuals = 0;
};
VjpJaxprs vjp_jaxprs(const ClosedJaxpr& jaxpr, const std::vector<bool>& diff, const std::vector<bool>& ct_outputs);

/// Linearization: the primal outputs and a linear jaxpr residuals..., tangents -> out tangents.
struct LinearizeJaxprs {
  ClosedJaxpr fwd;     // inputs -> outputs..., residuals...
  ClosedJaxpr linear;  // residuals..., tangents (diff inputs) -> output tangents
  int num_outputs = 0;
  int num_residuals = 0;
};
LinearizeJaxprs linearize_jaxprs(const ClosedJaxpr& jaxpr, const std::vector<bool>& diff);

}  // namespace jx
