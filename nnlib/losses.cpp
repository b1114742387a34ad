// nnlib: losses and metrics, written with jx's public ops (so grad/vmap/jit
// apply as they are).
#include "nnlib/losses.h"

namespace jx::nn {
namespace {

template <class E, class... Ts>
[[noreturn]] void fail(const Loc &loc, const Ts &...parts) {
  E e(detail::cat(parts...));
  e.add_location(loc);
  throw e;
}

void expect_floating(const char *fn, const char *what, const Array &x,
                     const Loc &loc) {
  if (!x.defined())
    fail<ValueError>(loc, "[", fn, "] ", what, " is an undefined array");
  if (!is_floating(x.dtype())) {
    fail<DTypeError>(loc, "[", fn, "] ", what, " must be floating, got ",
                     x.aval().str());
  }
}

void expect_same_shape(const char *fn, const char *a_name, const Array &a,
                       const char *b_name, const Array &b, const Loc &loc) {
  if (a.shape() != b.shape()) {
    fail<ShapeError>(loc, "[", fn, "] ", a_name, " and ", b_name,
                     " must have the same shape, got ", a_name, " ",
                     a.aval().str(), ", ", b_name, " ", b.aval().str());
  }
}

// Integer labels [...] for logits [..., C].
void expect_integer_labels(const char *fn, const Array &logits,
                           const Array &labels, const Loc &loc) {
  if (!labels.defined())
    fail<ValueError>(loc, "[", fn, "] labels is an undefined array");
  if (!is_integer(labels.dtype())) {
    fail<DTypeError>(
        loc, "[", fn,
        "] labels must be integer class indices (int32/int64), got ",
        labels.aval().str(), " with logits ", logits.aval().str());
  }
  Shape batch(logits.shape().begin(), logits.shape().end() - 1);
  if (labels.shape() != batch) {
    fail<ShapeError>(
        loc, "[", fn,
        "] labels must have the logits' shape without the class axis: logits ",
        logits.aval().str(), ", labels ", labels.aval().str());
  }
}

void expect_classes(const char *fn, const Array &logits, const Loc &loc) {
  if (logits.ndim() < 1) {
    fail<ShapeError>(loc, "[", fn,
                     "] logits need a class axis (rank >= 1), got ",
                     logits.aval().str());
  }
}

// onehot(labels)[..., c] = (labels == c), in `dtype`; labels [...] -> [..., C].
Array one_hot(const Array &labels, int64_t classes, DType dtype) {
  Shape shape = labels.shape();
  shape.push_back(classes);
  Array cls =
      lax::iota(labels.dtype(), shape, static_cast<int64_t>(shape.size()) - 1);
  return (expand_dims(labels, {-1}) == cls).astype(dtype);
}

} // namespace

Array softmax_cross_entropy(const Array &logits, const Array &labels,
                            const Loc &loc) {
  const char *fn = "softmax_cross_entropy";
  expect_floating(fn, "logits", logits, loc);
  expect_floating(fn, "labels", labels, loc);
  expect_classes(fn, logits, loc);
  expect_same_shape(fn, "logits", logits, "labels", labels, loc);
  return -sum(labels * log_softmax(logits, -1), {-1});
}

Array softmax_cross_entropy_with_integer_labels(const Array &logits,
                                                const Array &labels,
                                                const Loc &loc) {
  const char *fn = "softmax_cross_entropy_with_integer_labels";
  expect_floating(fn, "logits", logits, loc);
  expect_classes(fn, logits, loc);
  expect_integer_labels(fn, logits, labels, loc);
  // logsumexp(x) - x[label] = -log_softmax(x)[label]; the label is picked by a
  // one-hot mask (elementwise + reduce), which differentiates and batches like
  // any other op.
  Array onehot = one_hot(labels, logits.shape().back(), logits.dtype());
  return -sum(onehot * log_softmax(logits, -1), {-1});
}

Array squared_error(const Array &predictions, const Array &targets,
                    const Loc &loc) {
  const char *fn = "squared_error";
  expect_floating(fn, "predictions", predictions, loc);
  expect_floating(fn, "targets", targets, loc);
  expect_same_shape(fn, "predictions", predictions, "targets", targets, loc);
  return square(predictions - targets);
}

Array mse(const Array &predictions, const Array &targets, const Loc &loc) {
  const char *fn = "mse";
  expect_floating(fn, "predictions", predictions, loc);
  expect_floating(fn, "targets", targets, loc);
  expect_same_shape(fn, "predictions", predictions, "targets", targets, loc);
  return mean(square(predictions - targets));
}

Array binary_cross_entropy(const Array &logits, const Array &labels,
                           const Loc &loc) {
  const char *fn = "binary_cross_entropy";
  expect_floating(fn, "logits", logits, loc);
  expect_floating(fn, "labels", labels, loc);
  expect_same_shape(fn, "logits", logits, "labels", labels, loc);
  // log sigmoid(x) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x):
  // loss = labels * softplus(-x) + (1 - labels) * softplus(x).
  return labels * softplus(-logits) + (1.0 - labels) * softplus(logits);
}

Array accuracy(const Array &logits, const Array &labels, const Loc &loc) {
  const char *fn = "accuracy";
  if (!logits.defined() || !labels.defined())
    fail<ValueError>(loc, "[", fn, "] undefined array argument");
  expect_classes(fn, logits, loc);
  Array predicted = argmax(lax::stop_gradient(logits), -1);
  Array target;
  if (labels.shape() == logits.shape()) {
    target = argmax(lax::stop_gradient(labels), -1); // one-hot (or soft) labels
  } else {
    expect_integer_labels(fn, logits, labels, loc);
    target = labels.astype(int32);
  }
  return mean((predicted == target).astype(float32));
}

} // namespace jx::nn
