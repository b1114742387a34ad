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
