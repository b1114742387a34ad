#pragma once
// nnlib: losses and metrics (namespace jx::nn), as optax's: built from jx ops
// only, so they work under grad, vmap and jit. Losses are per example (reduce
// with jx::mean), except mse.

#include "core/ops.h"
#include "core/tree.h"

namespace jx::nn {

/// Cross entropy between `logits` [..., C] and a distribution `labels` [..., C]
/// (one-hot or soft) over the last axis: -sum(labels * log_softmax(logits),
/// -1). Returns one loss per example, shape [...] (as
/// optax.softmax_cross_entropy). Stable for large |logits|. Both must be
/// floating with the same shape.
Array softmax_cross_entropy(const Array &logits, const Array &labels,
                            const Loc &loc = Loc::current());

/// Cross entropy with integer class labels: logits [..., C] floating, labels
/// [...] int32/int64 in [0, C). Returns logsumexp(logits) - logits[label],
/// shape [...] (as optax.softmax_cross_entropy_with_integer_labels). A label
/// outside [0, C) picks no class (its loss is logsumexp(logits)). The gradient
/// w.r.t. logits is softmax - onehot(label).
Array softmax_cross_entropy_with_integer_labels(
    const Array &logits, const Array &labels, const Loc &loc = Loc::current());

/// Elementwise (predictions - targets)^2 (as optax.squared_error); shapes must
/// match.
Array squared_error(const Array &predictions, const Array &targets,
                    const Loc &loc = Loc::current());

/// Mean squared error over all elements: mean((predictions - targets)^2), a 0-d
/// array. Shapes must match exactly (no broadcasting, to catch [N] vs [N, 1]
/// mistakes).
Array mse(const Array &predictions, const Array &targets,
          const Loc &loc = Loc::current());

/// Sigmoid binary cross entropy from logits, elementwise (as
/// optax.sigmoid_binary_cross_entropy): -labels * log(sigmoid(logits)) - (1 -
/// labels) * log(1 - sigmoid(logits)), computed with softplus so it is finite
/// for |logits| up to the dtype's range. labels in [0, 1], floating, same shape
/// as logits. Returns the per-element loss.
Array binary_cross_entropy(const Array &logits, const Array &labels,
                           const Loc &loc = Loc::current());

/// Fraction of examples whose argmax over the last axis of `logits` [..., C]
/// equals the label: integer labels [...] or one-hot labels [..., C] of any
/// dtype (their argmax is taken). Returns a float32 0-d array. Not
/// differentiable (its gradient is zero).
Array accuracy(const Array &logits, const Array &labels,
               const Loc &loc = Loc::current());

} // namespace jx::nn
