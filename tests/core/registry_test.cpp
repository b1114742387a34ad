// The primitive registry: every primitive has an eager CPU kernel, a unique name, and its
// declared samples evaluate eagerly and through make_jaxpr + eval_jaxpr to the same result.
#include <set>

#include "testing/testing.h"

using namespace jx;

TEST_CASE("registry: every primitive has a unique name and an eager cpu kernel") {
  ensure_runtime_initialized();
  std::set<std::string> names;
  REQUIRE(all_primitives().size() > 40);
  for (const Primitive& p : all_primitives()) {
    CAPTURE(p.name());
    CHECK(names.insert(p.name()).second);
    // Call primitives (custom_jvp, custom_vjp, checkpoint, ...) are interpreted, not kernels.
    CHECK((static_cast<bool>(p.def().kernels[static_cast<int>(DeviceKind::cpu)]) || static_cast<bool>(p.def().impl)));
    CHECK(find_primitive(p.name()) == p);
  }
}

TEST_CASE("registry: declared samples agree between eager evaluation and a staged jaxpr") {
  int checked = 0;
  for (const Primitive& p : all_primitives()) {
    for (const PrimitiveSample& s : p.def().samples) {
      CAPTURE(p.name());
      std::vector<Array> args;
      unsigned seed = 1;
      for (auto& aval : s.args) {
        args.push_back(is_floating(aval.dtype) ? testing::uniform(aval.shape, 0.1, 0.9, aval.dtype, seed++)
                                               : zeros(aval.shape, aval.dtype));
      }
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
  CHECK(checked >= 30);  // every family declares samples
}
