// The autodiff API: grad, value_and_grad, has_aux, jvp, vjp, linearize, jacobians, caching,
// composition and errors.
#include "testing/check_grads.h"

using namespace jx;

TEST_CASE("grad: d/dx sum(x * x) = 2x") {
  Array x = array(std::vector<double>{1.0, -2.0, 3.5});
  auto g = grad([](const Array& a) { return sum(a * a); })(x);
  CHECK(g.dtype() == float64);
  CHECK_ALLCLOSE(g, std::vector<double>{2.0, -4.0, 7.0});
}
