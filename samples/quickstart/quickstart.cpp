// quickstart: arrays, numpy-style operations, and a printed jaxpr.
#include <iostream>

#include <jx/jx.h>

int main() {
  jx::Array x = jx::array({1.f, 2.f, 3.f});
  jx::Array y = jx::array({4.f, 5.f, 6.f});
  std::cout << "sin(x) * y = " << jx::sin(x) * y << "\n";
  std::cout << jx::make_jaxpr([](const jx::Array& a, const jx::Array& b) { return jx::sin(a) * b; })(x, y) << "\n";
}
