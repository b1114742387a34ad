// Rule helpers shared by the primitives' JVP and transpose rules.

#include "core/rules.h"

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"

namespace jx {

Array add_tangents(const Array& a, const Array& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return bind1(add_p, {a, b});
}

Array zeros_for(const AbstractValue& aval) { return zeros(aval.shape, aval.dtype); }

Array instantiate(const Array& t, const AbstractValue& aval) { return t.defined() ? t : zeros_for(aval); }

Array unbroadcast(const Array& ct, const AbstractValue& aval) {
  if (!ct.defined() || ct.shape() == aval.shape) return ct;
  JX_CHECK(aval.ndim() == 0, "unbroadcast to ", aval.str(), " from ", ct.aval().str());
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < ct.ndim(); ++i) axes.push_back(i);
  return lax::reduce_sum(ct, axes);
}

JvpRule linear_jvp(const Primitive& prim) {
  return [prim](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array>,
                const Params& params) {
    std::vector<Array> ts;
    for (size_t i = 0; i < primals.size(); ++i) ts.push_back(instantiate(tangents[i], primals[i].aval()));
    return jx::bind(prim, ts, params);
  };
}

int64_t batch_size(std::span<const Array> args, std::span<const BatchDim> dims) {
  for (size_t i = 0; i < args.size(); ++i)
    if (dims[i]) return args[i].shape()[*dims[i]];
  JX_CHECK(false, "batch_size: no argument is mapped");
  return 0;
}

Array move_batch_axis(const Array& x, BatchDim from, int64_t to, int64_t size) {
  if (!from) {
    Shape shape = x.shape();
    shape.insert(shape.begin() + to, size);
    std::vector<int64_t> dims;
    for (int64_t i = 0; i < x.ndim(); ++i) dims.push_back(i < to ? i : i + 1);
    return lax::broadcast_in_dim(x, shape, dims);
  }
  if (*from == to) return x;
  std::vector<int> perm;
  for (int64_t i = 0; i < x.ndim(); ++i)
    if (i != *from) perm.push_back(static_cast<int>(i));
  perm.insert(perm.begin() + to, static_cast<int>(*from));
  return transpose(x, perm);
}

std::vector<Array> batch_at_front(std::span<const Array> args, std::span<const BatchDim> dims, int64_t size) {
  std::vector<Array> out;
  for (size_t i = 0; i < args.size(); ++i) out.push_back(move_batch_axis(args[i], dims[i], 0, size));
  return out;
}

BatchRule elementwise_batch_rule(const Primitive& prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& params) {
    const int64_t size = batch_size(args, dims);
    // 1. Fast path: every mapped operand has the same rank and batch axis, and the unmapped ones
    //    are 0-d (which the elementwise primitives broadcast themselves).
    std::optional<int64_t> shared;
    int64_t rank = -1;
    bool fast = true;
    for (size_t i = 0; i < args.size() && fast; ++i) {
      if (dims[i]) {
        if (shared && (*shared != *dims[i] || rank != args[i].ndim())) fast = false;
        shared = dims[i];
        rank = args[i].ndim();
      } else if (args[i].ndim() != 0) {
        fast = false;
      }
    }
    if (fast && rank > 0) {
      // All mapped operands must also agree on the other extents (guaranteed for mapped operands
      // of equal logical shape).
      auto outs = jx::bind(prim, args, params);
      return std::pair{outs, std::vector<BatchDim>(outs.size(), shared)};
    }
    // 2. General path: batch axes to the front; logical shapes of the mapped and unmapped
    //    non-0-d operands agree (the primitive's contract), 0-d mapped operands broadcast.
    Shape logical;
    for (size_t i = 0; i < args.size(); ++i) {
      Shape s = args[i].shape();
      if (dims[i]) s.erase(s.begin() + *dims[i]);
      if (!s.empty()) logical = s;
    }
    Shape full = logical;
    full.insert(full.begin(), size);
    std::vector<Array> moved;
    for (size_t i = 0; i < args.size(); ++i) {
      if (!dims[i] && args[i].ndim() == 0) {
        moved.push_back(args[i]);
        continue;
      }
      Array x = move_batch_axis(args[i], dims[i], 0, size);
      if (x.shape() != full) {
        // A mapped 0-d operand ([B]) meeting non-0-d operands: broadcast along the batch axis.
        x = lax::broadcast_in_dim(x, full, {0});
      }
      moved.push_back(x);
    }
    auto outs = jx::bind(prim, moved, params);
    return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
  };
}

namespace {
// The input avals of the equation whose transpose rule is running (see transpose_input_aval).
thread_local const std::vector<AbstractValue>* current_input_avals = nullptr;
}  // namespace

const AbstractValue& transpose_input_aval(size_t i) {
  JX_CHECK(current_input_avals != nullptr && i < current_input_avals->size(),
           "transpose_input_aval(", i, ") called outside a transpose rule or out of range");
  return (*current_input_avals)[i];
}

namespace detail {
TransposeInputAvalsScope::TransposeInputAvalsScope(const std::vector<AbstractValue>* avals)
    : saved_(current_input_avals) {
  current_input_avals = avals;
}
TransposeInputAvalsScope::~TransposeInputAvalsScope() { current_input_avals = saved_; }
}  // namespace detail

}  // namespace jx
