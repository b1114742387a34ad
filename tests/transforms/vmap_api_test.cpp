// vmap's API: in_axes/out_axes (ints, negative, none, trees), axis_size, nesting, caching,
// composition with grad, and errors.
#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;

TEST_CASE("vmap: elementwise and reductions over a leading axis equal the loop") {
  Array x = testing::uniform({4, 3}, -1, 1, float64, 1), y = testing::uniform({4, 3}, -1, 1, float64, 2);
  testing::check_vmap([](const std::vector<Array>& a) { return sin(a[0]) * a[1]; }, {x, y}, {0, 0});
  testing::check_vmap([](const std::vector<Array>& a) { return sin(a[0]) * a[1]; }, {x, y}, {0, 1 - 1});
}
