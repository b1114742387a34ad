// quickstart: the first program to run. It shows jx arrays and numpy-style operations
// (broadcasting, reductions, matmul, indexing), JAX's type promotion with weak C++ scalars,
// a function traced into a jaxpr and evaluated again, gradients and vectorization (grad,
// hessian, vmap of grad), and an error that points at this file.
#include <iostream>

#include <jx/jx.h>

int main() {
  // 1. Arrays from host data; numpy-like printing.
  jx::Array x = jx::array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, jx::Shape{2, 3});
  jx::Array b = jx::array({0.5f, -1.f, 2.f});
  std::cout << "x =\n" << x << "\n\n";

  // 2. numpy-style operations: broadcasting, reductions, matmul, indexing.
  std::cout << "x + b          = " << x + b << "\n";
  std::cout << "sum(x, {1})    = " << jx::sum(x, {1}) << "\n";
  std::cout << "mean(x)        = " << jx::mean(x) << "\n";
  std::cout << "x @ x.T        = " << jx::matmul(x, jx::transpose(x)) << "\n";
  std::cout << "softmax(x[1])  = " << jx::softmax(x[1]) << "\n";
  std::cout << "x.at(0).set(0) = " << x.at(0).set(0.0) << "\n\n";

  // 3. Type promotion with weak C++ scalars, as in JAX: float32 stays float32.
  std::cout << "dtype of x * 2.0            : " << (x * 2.0).dtype() << "\n";
  std::cout << "dtype of int32 array + 1.5  : " << (jx::arange(3) + 1.5).dtype() << "\n";
  std::cout << "dtype of float64 array * 2.0: " << (x.astype(jx::float64) * 2.0).dtype() << "\n\n";

  // 4. Trace a function into a jaxpr, print it in JAX's format, and evaluate it.
  auto f = [](const jx::Array& a, const jx::Array& w) { return jx::sum(jx::tanh(jx::matmul(a, w)) * 2.0); };
  jx::Array w = jx::ones({3, 2});
  jx::ClosedJaxpr jaxpr = jx::make_jaxpr(f)(x, w);
  std::cout << "make_jaxpr(f) =\n" << jaxpr << "\n";
  std::cout << "f(x, w) eager = " << f(x, w) << ", via the jaxpr = " << jaxpr(std::vector<jx::Array>{x, w})[0]
            << "\n\n";

  // 5. Transformations compose: the gradient w.r.t. w, a Hessian, per-example gradients.
  auto df_dw = jx::grad<1>(f);
  std::cout << "grad<1>(f)(x, w) =\n" << df_dw(x, w) << "\n";
  auto cubic = [](const jx::Array& v) { return jx::sum(v * v * v); };
  std::cout << "hessian(sum(v^3)) at [1, 2] = " << jx::hessian(cubic)(jx::array({1.f, 2.f})) << "\n";
  auto row_loss = [](const jx::Array& row, const jx::Array& wv) { return jx::sum(jx::tanh(jx::matmul(row, wv))); };
  std::cout << "per-row gradients vmap(grad<1>)(x rows, w): shape "
            << jx::shape_str(jx::vmap(jx::grad<1>(row_loss), {0, jx::none})(x, w).shape()) << "\n\n";

  // 6. jit: compiled with LLVM (one fused loop for the elementwise tail, oneDNN for the matmul),
  //    cached per signature; it composes with the transforms (here: a compiled gradient).
  auto fast_grad = jx::jit(jx::grad<1>(f));
  std::cout << "jit(grad<1>(f))(x, w) equals the eager gradient: "
            << (jx::all(jx::abs(fast_grad(x, w) - df_dw(x, w)) < 1e-6).item<bool>() ? "yes" : "no") << "\n";
  std::string plan = jx::jit(f).lower(x, w).as_text();
  plan = plan.substr(plan.find("# fusion plan"));
  std::cout << plan.substr(0, plan.find("\n\n")) << "\n\n";

  // 7. Errors name the operation, the shapes and your line.
  try {
    jx::matmul(x, x);
  } catch (const jx::Error& e) {
    std::cout << "error: " << e.what() << "\n";
  }
  return 0;
}
