// The primitive registry: every primitive has an eager CPU kernel (or an interpreter, for call
// primitives), a JVP rule and a batching rule (or a recorded reason why not), and its declared
// samples agree between eager evaluation, a staged jaxpr, vmap over a stack of samples, and
// (for floating outputs) finite differences and the transpose identity; floating samples also
// run in float16 and bfloat16 (float32 rounded once) or are rejected naming the dtype.
#include <cmath>
#include <set>

#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;

namespace {


bool has_rule_or_gap(const PrimitiveDef& def, const std::string& transform, bool has_rule) {
  return has_rule || def.gaps.count(transform) > 0;
}

}  // namespace

TEST_CASE("registry: every primitive has a unique name, an eager kernel, and JVP and batching rules") {
  ensure_runtime_initialized();
  std::set<std::string> names;
  REQUIRE(all_primitives().size() > 40);
  for (const Primitive& p : all_primitives()) {
    CAPTURE(p.name());
    const PrimitiveDef& def = p.def();
    CHECK(names.insert(p.name()).second);
    // Call primitives (custom_jvp, custom_vjp, checkpoint, ...) are interpreted, not kernels.
    CHECK((static_cast<bool>(def.kernels[static_cast<int>(DeviceKind::cpu)]) || static_cast<bool>(def.impl)));
    CHECK(find_primitive(p.name()) == p);
    CHECK(has_rule_or_gap(def, "jvp", def.jvp || def.jvp_full));
    CHECK(has_rule_or_gap(def, "vmap", static_cast<bool>(def.batch)));
  }
}

TEST_CASE("registry: declared samples agree between eager evaluation and a staged jaxpr") {
  int checked = 0;
  for (const Primitive& p : all_primitives()) {
    for (const PrimitiveSample& s : p.def().samples) {
      CAPTURE(p.name());
      std::vector<Array> args;
      unsigned seed = 1;
      for (auto& aval : s.args) args.push_back(testing::sample_arg(aval, seed++));
      auto eager = jx::bind(p, args, s.params);
      std::vector<AbstractValue> avals;
      for (auto& a : args) avals.push_back(a.aval());
      auto jp = trace_to_jaxpr([&](std::span<const Array> xs) { return jx::bind(p, xs, s.params); }, avals);
      auto staged = jp(args);
      REQUIRE(staged.size() == eager.size());
      for (size_t i = 0; i < eager.size(); ++i) CHECK_ALLCLOSE(staged[i], eager[i]);
      ++checked;
    }
  }
  MESSAGE("samples checked: " << checked);
  CHECK(checked >= 150);  // every family declares samples
}

TEST_CASE("registry: vmap of every sample over a stack of 3 examples equals the loop") {
  int checked = 0;
  for (const Primitive& p : all_primitives()) {
    if (!p.def().batch) continue;
    for (const PrimitiveSample& s : p.def().samples) {
      CAPTURE(p.name());
      std::vector<Array> batched;
      std::vector<std::optional<int>> axes;
      for (size_t i = 0; i < s.args.size(); ++i) {
        std::vector<Array> rows;
        for (unsigned b = 0; b < 3; ++b) rows.push_back(testing::sample_arg(s.args[i], 10 * static_cast<unsigned>(i) + b + 1));
        batched.push_back(stack(rows));
        axes.push_back(0);
      }
      testing::check_vmap([&](const std::vector<Array>& xs) { return jx::bind(p, xs, s.params)[0]; }, batched, axes);
      ++checked;
    }
  }
  MESSAGE("vmap samples checked: " << checked);
  CHECK(checked >= 30);
}

TEST_CASE("registry: first-order derivatives of every floating sample match finite differences") {
  int checked = 0;
  for (const Primitive& p : all_primitives()) {
    if (!p.def().jvp && !p.def().jvp_full) continue;
    // stop_gradient is the identity with a zero derivative by definition: finite differences
    // see the identity, so it is checked by its own tests instead.
    if (p.name() == "stop_gradient") continue;
    for (const PrimitiveSample& s : p.def().samples) {
      CAPTURE(p.name());
      std::vector<Array> args;
      std::vector<size_t> float_args;
      for (size_t i = 0; i < s.args.size(); ++i) {
        args.push_back(testing::sample_arg(s.args[i], static_cast<unsigned>(i) + 3));
        if (is_floating(s.args[i].dtype)) float_args.push_back(i);
      }
      // Finite differences in float64 (float32 steps can straddle the kinks of min/max); keep
      // the sample's dtype when the primitive's params pin it.
      std::vector<Array> args64 = args;
      for (size_t i : float_args) args64[i] = args[i].astype(float64);
      try {
        jx::bind(p, args64, s.params);
        args = args64;
      } catch (const Error&) {
      }
      auto outs = jx::bind(p, args, s.params);
      if (float_args.empty() || !is_floating(outs[0].dtype())) continue;
      // Differentiate w.r.t. the floating arguments; integer arguments (indices) stay fixed.
      testing::VecFn f = [&](const std::vector<Array>& xs) {
        std::vector<Array> full = args;
        for (size_t k = 0; k < float_args.size(); ++k) full[float_args[k]] = xs[k];
        return jx::bind(p, full, s.params)[0];
      };
      std::vector<Array> xs;
      for (size_t i : float_args) xs.push_back(args[i]);
      testing::check_jvp(f, xs);
      testing::check_vjp(f, xs);
      ++checked;
    }
  }
  MESSAGE("derivative samples checked: " << checked);
  CHECK(checked >= 20);
}

TEST_CASE("registry: every floating sample runs in float16 and bfloat16 as float32 rounded once") {
  // 16-bit floats are storage types: eager evaluation widens them to float32 (exactly), runs the
  // float32 kernel and rounds 16-bit results to nearest even. A primitive that does not take
  // them (LAPACK routines, call primitives typed for float32) must say so, naming the dtype.
  int checked = 0, rejected = 0;
  for (const Primitive& p : all_primitives()) {
    for (const PrimitiveSample& s : p.def().samples) {
      bool has_float = false;
      for (auto& aval : s.args) has_float |= is_floating(aval.dtype);
      if (!has_float) continue;
      for (DType h : {float16, bfloat16}) {
        CAPTURE(p.name());
        CAPTURE(dtype_name(h));
        std::vector<Array> args16, args32;
        unsigned seed = 1;
        for (auto& aval : s.args) {
          Array a = testing::sample_arg(aval, seed++);
          if (is_floating(aval.dtype)) a = a.astype(h);
          args16.push_back(a);
          args32.push_back(is_half_float(a.dtype()) ? a.astype(float32) : a);
        }
        std::vector<Array> out16;
        try {
          out16 = jx::bind(p, args16, s.params);
        } catch (const Error& e) {
          const std::string msg = e.what();
          CHECK_MESSAGE((msg.find(dtype_short_name(h)) != std::string::npos || msg.find(dtype_name(h)) != std::string::npos), msg);
          ++rejected;
          continue;
        }
        auto out32 = jx::bind(p, args32, s.params);
        REQUIRE(out16.size() == out32.size());
        for (size_t i = 0; i < out16.size(); ++i) {
          Array want = is_half_float(out16[i].dtype()) ? out32[i].astype(out16[i].dtype()) : out32[i];
          REQUIRE(out16[i].aval() == want.aval());
          auto g = out16[i].to_vector<double>(), w = want.to_vector<double>();
          for (size_t k = 0; k < g.size(); ++k) CHECK(((std::isnan(g[k]) && std::isnan(w[k])) || g[k] == w[k]));
        }
        ++checked;
      }
    }
  }
  MESSAGE("16-bit float samples checked: " << checked << ", rejected with the dtype named: " << rejected);
  CHECK(checked >= 150);
}
