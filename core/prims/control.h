#pragma once
// The control-flow primitives cond, while and scan (JAX's cond_p, while_p, scan_p): each is one
// equation holding sub-jaxprs. Shape rules, eager evaluation (the sub-jaxprs interpreted in a C++
// loop) and registry samples: core/prims/control.cpp. Their JVP, partial-evaluation, transpose
// and batching rules: transforms/control.cpp. Public API (jx::lax::cond, switch_, while_loop,
// fori_loop, scan): transforms/control.h.
//
// Every sub-jaxpr is a ClosedJaxpr whose constants, if any, are concrete arrays (never tracers):
// values the user's functions capture are passed as leading inputs of the equation (closure
// conversion), so they can be traced, differentiated and batched like any other input.
//
// Equation layouts (what a lowering needs):
//
//   cond     inputs:  index:i32[], ops...                  outputs: outs...
//            params:  branches   (JaxprListParam, >= 1 jaxprs; get_jaxpr_list(params, "branches"))
//            Each branch takes ops... and returns outs... (same types in every branch). The index
//            is clamped into [0, #branches - 1]; lax::cond binds index = int32(pred) with
//            branches = (false_fn, true_fn), as JAX.
//
//   while    inputs:  cond_consts[cond_nconsts], body_consts[body_nconsts], carries...
//            outputs: carries... (final values)
//            params:  cond_jaxpr  (cond_consts..., carries...) -> bool[]
//                     body_jaxpr  (body_consts..., carries...) -> carries...
//                     cond_nconsts, body_nconsts (int)
//
//   scan     inputs:  consts[num_consts], carries[num_carry], xs...   (each x: [length, ...])
//            outputs: carries... (final values), ys... (each y: [length, ...])
//            params:  jaxpr  (consts..., carries..., x slices...) -> (carries..., y slices...)
//                     length (int), reverse (bool), num_consts, num_carry (int)
//            Iteration k (k = 0..length-1) processes i = k, or i = length-1-k when reverse: it
//            reads xs[i] and writes ys[i].
//
// The consts of a loop (loop-invariant inputs) are the natural candidates for hoisting.

#include <memory>
#include <vector>

#include "core/primitive.h"
#include "trace/jaxpr.h"

namespace jx {

extern const Primitive cond_p;
extern const Primitive while_p;
extern const Primitive scan_p;

/// Parameter names of the control-flow primitives.
namespace control_param {
inline constexpr const char* branches = "branches";
inline constexpr const char* cond_jaxpr = "cond_jaxpr";
inline constexpr const char* body_jaxpr = "body_jaxpr";
inline constexpr const char* cond_nconsts = "cond_nconsts";
inline constexpr const char* body_nconsts = "body_nconsts";
inline constexpr const char* jaxpr = "jaxpr";
inline constexpr const char* length = "length";
inline constexpr const char* reverse = "reverse";
inline constexpr const char* num_consts = "num_consts";
inline constexpr const char* num_carry = "num_carry";
}  // namespace control_param

/// A list of sub-jaxprs held in one parameter (cond's branches). Compared by identity.
class JaxprListParam : public ParamObject {
 public:
  explicit JaxprListParam(std::vector<ClosedJaxpr> jaxprs) : jaxprs(std::move(jaxprs)) {}
  void print(std::ostream& os) const override;
  size_t hash() const override;
  bool equals(const ParamObject& other) const override;
  std::vector<ClosedJaxpr> jaxprs;
};
std::shared_ptr<const ParamObject> jaxpr_list_param(std::vector<ClosedJaxpr> jaxprs);
/// The jaxprs stored under `name`.
const std::vector<ClosedJaxpr>& get_jaxpr_list(const Params& params, const std::string& name);

}  // namespace jx
