// Uses the installed jx through <jx/jx.h>; prints one value and one jaxpr.
#include <iostream>

#include <jx/jx.h>

int main() {
  jx::Array x = jx::array({1.f, 2.f, 3.f});
  jx::Array y = x * 2.0 + 1.0;
  std::cout << y.to_vector<float>()[2] << "\n";
  std::cout << jx::make_jaxpr([](const jx::Array& a) { return jx::sin(a); })(x) << "\n";
  return y.to_vector<float>()[2] == 7.f ? 0 : 1;
}
