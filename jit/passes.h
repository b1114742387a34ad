#pragma once
// Backend-independent optimization passes on closed jaxprs, run by jit before fusion: inlining of
// call primitives, algebraic simplification, constant folding, common-subexpression elimination
// and dead-code elimination. Each pass is a pure function ClosedJaxpr -> ClosedJaxpr.
//
// Contract shared by every pass:
//  - Evaluation is preserved exactly: for every input, eval_jaxpr of the result gives the same
//    values as eval_jaxpr of the argument, bit for bit (IEEE corner cases included: -0.0, NaN,
//    inf), with the same output avals (shape, dtype and weak type) and the same signature.
//  - Differentiation rules are not preserved: inlining drops custom_jvp/custom_vjp rules and
//    checkpoint policies, and stop_gradient is removed. Run the passes on the jaxpr that will be
//    executed, after grad/vmap have transformed it.
//    (A signalling NaN input may come out quiet where an identity like x * 1 was removed.)
//  - Equations keep their source location (Eqn::loc); an equation created by a rewrite takes
//    the location of the equation it replaces. The result passes check_jaxpr.
//  - A pass given nothing to do returns its argument itself. The optional `num_*` argument
//    receives the number of changes it made (optimize sums them in OptimizeStats).

#include <cstdint>
#include <string>

#include "trace/jaxpr.h"

namespace jx::passes {

/// Replaces call equations by the equations of the jaxprs they hold, recursively: pjit (param
/// "jaxpr"), custom_jvp_call and custom_vjp_call (their primal function, "call_jaxpr"),
/// checkpoint ("jaxpr"). The constants of inlined jaxprs become constants of the result.
/// Other primitives holding jaxprs are kept, with the calls inside those jaxprs inlined.
ClosedJaxpr inline_calls(const ClosedJaxpr& jaxpr, int64_t* num_inlined = nullptr);

/// Algebraic identities that are exact in IEEE arithmetic and keep every aval:
///   x * 1, 1 * x, x / 1, x - 0, x + (-0.0) (floats; x + 0 for integers)  -> x
///   x / 2^k -> x * 2^-k (floats, when 2^-k is exact)     neg(neg x), not(not x) -> x
///   and(x, true / all ones), or(x, false / 0), xor(x, 0), shifts by 0 -> x
///   select_n(not p, a, b) -> select_n(p, b, a)      integers: x * -1, 0 - x -> neg x
///   abs(abs x), abs(neg x) -> abs x        integer_pow(x, 1) -> x        max(x, x), min(x, x) -> x
///   convert_element_type to x's own dtype and weak type -> x, and a lossless round trip
///   (f32 -> f64 -> f32, i32 -> i64 -> i32, ...) -> x
///   reshape / squeeze / rank-only broadcast_in_dim to x's own shape -> x, and chains of them
///   -> one reshape;  transpose with the identity permutation -> x, transpose of transpose ->
///   one transpose;  broadcast_in_dim to x's shape with identity dims -> x, broadcast of
///   broadcast -> one broadcast;  slice of the full range -> x, slice of slice -> one slice;
///   rev of rev (same dims) -> x;  pad with zero padding, concatenate of one operand, a
///   reduction over no axes, stop_gradient -> x;  select_n whose cases are all the same value,
///   or whose predicate is a known value -> that case.
/// A "value" above is a literal, a constant with all elements equal (up to 4096 elements), or a
/// broadcast or weak-type-only conversion of one.
/// Rewrites that would change an output's aval (a weak type, a 0-d operand broadcast) are
/// skipped. x + 0.0 is kept for floats: it turns -0.0 into +0.0. pow(x, 2.0) is not turned into
/// x * x: the eager pow kernel is not correctly rounded, so the bits would differ.
ClosedJaxpr simplify(const ClosedJaxpr& jaxpr, int64_t* num_rewrites = nullptr);

/// Evaluates equations whose inputs are all known (literals and concrete constants) with the
/// eager kernels and replaces them by a literal (0-d results) or a new constant. Skipped: call
/// primitives, results with more than `max_elements` elements, and results larger than their
/// inputs unless tiny (a broadcast or an iota stays an equation: folding it would trade a cheap
/// computation for a large constant). 0-d concrete constants become literals.
ClosedJaxpr fold_constants(const ClosedJaxpr& jaxpr, int64_t max_elements = int64_t{1} << 16,
                           int64_t* num_folded = nullptr);

/// Common-subexpression elimination: an equation with the same primitive, params and inputs
/// (variables by identity, literals by dtype, weak type and bits) as an earlier one reuses its
/// outputs. Constants that are the same array, or equal arrays of the same aval (compared
/// bitwise, up to 2^16 elements), are merged first.
ClosedJaxpr cse(const ClosedJaxpr& jaxpr, int64_t* num_eliminated = nullptr);

/// Removes equations whose outputs are unused and constants nothing reads (transforms/ad.h's
/// dce_jaxpr, keeping every output).
ClosedJaxpr dce(const ClosedJaxpr& jaxpr, int64_t* num_removed = nullptr);

struct OptimizeOptions {
  bool inline_calls = true;
  bool simplify = true;
  bool fold_constants = true;
  bool cse = true;
  bool dce = true;
  /// The pipeline runs until a round changes nothing, at most this many rounds.
  int max_rounds = 4;
  /// fold_constants' limit on the size of a folded result.
  int64_t fold_max_elements = int64_t{1} << 16;
  /// Also optimize the jaxprs held by equations that stay calls (primitives inline_calls does
  /// not know, or all calls when inlining is off); their signatures are kept.
  bool nested = true;
};

/// What optimize did: counts per pass summed over the rounds (and over nested jaxprs).
struct OptimizeStats {
  int64_t inlined = 0;     // call equations inlined
  int64_t simplified = 0;  // algebraic rewrites
  int64_t folded = 0;      // equations evaluated at compile time
  int64_t cse = 0;         // equations and constants merged
  int64_t dce = 0;         // equations removed as dead
  int rounds = 0;
  int64_t eqns_before = 0, eqns_after = 0;
  int64_t consts_before = 0, consts_after = 0;
  /// "passes: 2 rounds, 31 -> 12 equations, 2 -> 1 constants (inline 2, simplify 5, fold 3,
  /// cse 4, dce 11)".
  std::string str() const;
};

/// The pipeline inline -> simplify -> fold -> cse -> dce, repeated to a fixpoint (bounded by
/// max_rounds), then the same on nested jaxprs. Passes switched off in `options` are skipped.
/// `stats`, when given, receives the counts (for jit's log). Returns `jaxpr` itself when
/// nothing changed.
ClosedJaxpr optimize(const ClosedJaxpr& jaxpr, const OptimizeOptions& options = {}, OptimizeStats* stats = nullptr);

}  // namespace jx::passes
