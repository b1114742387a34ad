// jx::jit: compiled results equal the eager interpreter; caching, static arguments, donation,
// threads, the on-disk cache, lower(), and composition with grad and vmap.
#include <atomic>
#include <cstdlib>
#include <thread>

#include "testing/check_grads.h"
#include "testing/testing.h"

using namespace jx;
using jx::testing::uniform;

namespace {

void check_same(const Array& a, const Array& b) {
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.dtype() == b.dtype());
  CHECK_ALLCLOSE(a, b);
}

}  // namespace

TEST_CASE("jit: x*2+1 equals eager and is compiled once per signature") {
  int traces = 0;
  auto f = [&](const Array& x) {
    ++traces;
    return x * 2 + 1;
  };
  auto jf = jit(f);
  Array x = uniform({8}, -1, 1, float32, 1);
  Array y = jf(x);
  CHECK(traces == 1);
  check_same(y, x * 2 + 1);
  jf(x + 1.0);
  CHECK(traces == 1);  // same signature: cache hit
  jf(uniform({8}, -1, 1, float64, 2));
  CHECK(traces == 2);  // new dtype: traced again
  jf(uniform({3, 4}, -1, 1, float32, 2));
  CHECK(traces == 3);  // new shape
}

TEST_CASE("jit: fused elementwise with broadcasts, reductions and mixed dtypes") {
  Array x = uniform({64, 33}, -2, 2, float32, 3);
  Array y = uniform({64, 33}, -2, 2, float32, 4);
  Array b = uniform({33}, -1, 1, float32, 5);
  auto f = [](const Array& x, const Array& y, const Array& b) {
    Array z = tanh(x) * y + exp(-x * x) + b;
    return std::tuple{z, sum(z, {1}), max(z, {0}), mean(z), sum(z * z, {0})};
  };
  auto eager = f(x, y, b);
  auto comp = jit(f)(x, y, b);
  check_same(std::get<0>(comp), std::get<0>(eager));
  check_same(std::get<1>(comp), std::get<1>(eager));
  check_same(std::get<2>(comp), std::get<2>(eager));
  check_same(std::get<3>(comp), std::get<3>(eager));
  check_same(std::get<4>(comp), std::get<4>(eager));
  // Integers, comparisons, selects and conversions.
  Array i = reshape(arange(0, 60), {6, 10});
  auto g = [](const Array& i, const Array& x) {
    Array m = where(mod(i, Array(3)) == 0, i * 7 - 5, floor_divide(i, Array(2)));
    return std::tuple{m, sum(m, {0}), m.astype(float32) * x, (i > 20).astype(int32) + i};
  };
  Array xf = uniform({6, 10}, -1, 1, float32, 6);
  auto ge = g(i, xf);
  auto gc = jit(g)(i, xf);
  CHECK(testing::mismatch(std::get<0>(gc), std::get<0>(ge)) == "");
  CHECK(testing::mismatch(std::get<1>(gc), std::get<1>(ge)) == "");
  check_same(std::get<2>(gc), std::get<2>(ge));
  CHECK(testing::mismatch(std::get<3>(gc), std::get<3>(ge)) == "");
}

TEST_CASE("jit: IEEE special values behave as in eager (no fast-math)") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Array x = array<double>({0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 1e-310, 88.0, -104.0}).astype(float32);
  auto f = [](const Array& x) {
    return std::tuple{exp(x), log(x), tanh(x), maximum(x, 0.0), minimum(x, 1.0), sqrt(x), x / 0.0, max(x), sign(x),
                      sigmoid(x)};
  };
  auto e = f(x);
  auto c = jit(f)(x);
  auto ev = tree_leaves(e), cv = tree_leaves(c);
  REQUIRE(ev.size() == cv.size());
  for (size_t k = 0; k < ev.size(); ++k) {
    CAPTURE(k);
    CHECK(testing::mismatch(cv[k], ev[k]) == "");
  }
}

TEST_CASE("jit: matmul + bias + relu, transposes and reshapes through library calls and fused kernels") {
  Array x = uniform({16, 24}, -1, 1, float32, 7);
  Array w = uniform({24, 8}, -1, 1, float32, 8);
  Array b = uniform({8}, -1, 1, float32, 9);
  auto f = [](const Array& x, const Array& w, const Array& b) {
    Array h = relu(matmul(x, w) + b);
    return sum(reshape(transpose(h), {4, 32}) * 2.0, {1});
  };
  check_same(jit(f)(x, w, b), f(x, w, b));
}

TEST_CASE("jit: lower().as_text() shows the optimized jaxpr, the fusion plan and the LLVM IR") {
  auto f = [](const Array& x, const Array& y) { return tanh(x) * y + exp(-x * x); };
  Array x = uniform({1024}, -1, 1, float32, 10);
  std::string text = jit(f).lower(x, x).as_text();
  CHECK(text.find("# optimized jaxpr") != std::string::npos);
  CHECK(text.find("tanh") != std::string::npos);
  CHECK(text.find("1 fused kernels") != std::string::npos);  // one loop for the whole expression
  CHECK(text.find("define void") != std::string::npos);
}

TEST_CASE("jit: static arguments are C++ values; a new value recompiles") {
  int traces = 0;
  auto f = [&](const Array& x, int n, const std::string& mode) {
    ++traces;
    Array y = x;
    for (int i = 0; i < n; ++i) y = y * 2;
    return mode == "neg" ? -y : y;
  };
  auto jf = jit(f, {.static_argnums = {1, 2}});
  Array x = ones({3});
  CHECK(jf(x, 2, std::string("neg")).to_vector<float>() == std::vector<float>{-4, -4, -4});
  CHECK(jf(x, 2, std::string("neg")).to_vector<float>() == std::vector<float>{-4, -4, -4});
  CHECK(traces == 1);
  CHECK(jf(x, 3, std::string("neg")).to_vector<float>() == std::vector<float>{-8, -8, -8});
  CHECK(traces == 2);
  CHECK(jf(x, 3, std::string("pos")).to_vector<float>() == std::vector<float>{8, 8, 8});
  CHECK(traces == 3);
  CHECK_THROWS_AS(jit(f, {.static_argnums = {5}})(x, 1, std::string("a")), ValueError);
  // A non-array argument that is not static is an error naming it.
  CHECK_THROWS_WITH_AS(jit(f)(x, 1, std::string("a")), doctest::Contains("static_argnums"), ValueError);
}

TEST_CASE("jit: a donated argument's buffer is reused and the argument is deleted") {
  auto step = [](const Array& p, const Array& g) { return p - 0.1 * g; };
  auto js = jit(step, {.donate_argnums = {0}});
  Array p = uniform({1000}, -1, 1, float32, 11);
  Array g = uniform({1000}, -1, 1, float32, 12);
  Array expected = step(p, g);
  const void* before = p.raw_data();
  Array q = js(p, g);
  CHECK(q.raw_data() == before);  // the output lives in the donated buffer
  CHECK(testing::mismatch(q, expected) == "");
  CHECK_THROWS_WITH_AS(p.to_vector<float>(), doctest::Contains("donated"), ValueError);
  CHECK_THROWS_AS(p + 1.0, ValueError);
  // g was not donated: still usable.
  CHECK(g.to_vector<float>().size() == 1000);
  // Without donation the inputs survive.
  Array p2 = uniform({1000}, -1, 1, float32, 11);
  Array q2 = jit(step)(p2, g);
  CHECK(q2.raw_data() != p2.raw_data());
  CHECK(p2.to_vector<float>().size() == 1000);
}

TEST_CASE("jit: calls from several threads at once") {
  auto jf = jit([](const Array& x) { return sum(sin(x) * x, {0}); });
  Array x = uniform({257, 5}, -1, 1, float32, 13);
  Array expected = sum(sin(x) * x, {0});
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        Array y = jf(x);
        if (testing::mismatch(y, expected) != "") ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(bad == 0);
}

TEST_CASE("jit composes with grad and vmap") {
  auto f = [](const Array& x) { return sum(tanh(x) * x + exp(-x * x)); };
  Array x = uniform({6}, -1, 1, float64, 14);
  Array g_eager = grad(f)(x);
  CHECK(testing::mismatch(grad(jit(f))(x), g_eager) == "");
  CHECK(testing::mismatch(jit(grad(f))(x), g_eager) == "");
  CHECK(testing::mismatch(grad(grad([&](const Array& s) { return jit(f)(x * s); }))(Array(1.5)),
                          grad(grad([&](const Array& s) { return f(x * s); }))(Array(1.5))) == "");
  Array xs = uniform({4, 6}, -1, 1, float64, 15);
  Array per_eager = vmap(grad(f))(xs);
  CHECK(testing::mismatch(jit(vmap(grad(f)))(xs), per_eager) == "");
  CHECK(testing::mismatch(vmap(jit(grad(f)))(xs), per_eager) == "");
  CHECK(testing::mismatch(vmap(grad(jit(f)))(xs), per_eager) == "");
  // jacfwd(jacrev) through a jitted function.
  Array H = jacfwd(jacrev(jit(f)))(x);
  CHECK(testing::mismatch(H, hessian(f)(x)) == "");
  // A jitted function appears as one pjit equation under make_jaxpr.
  std::string text = make_jaxpr(jit(f))(x).str();
  CHECK(text.find("pjit") != std::string::npos);
  // Finite differences through the compiled gradient.
  testing::check_grads([&](const std::vector<Array>& a) { return jit(f)(a[0]); }, {x}, 2);
}

TEST_CASE("jit: closures over outer tracers and concrete constants") {
  Array w = uniform({5}, -1, 1, float64, 16);
  auto outer = [&](const Array& s) {
    // The jitted function captures the outer tracer `s` and the constant `w`.
    auto inner = jit([&](const Array& x) { return sum(x * s * w); });
    return inner(w * 2.0);
  };
  Array g = grad(outer)(Array(0.7).astype(float64));
  CHECK(g.item<double>() == doctest::Approx(sum(w * 2.0 * w).item<double>()).epsilon(1e-12));
}

TEST_CASE("jit: errors name the operation and the user's line") {
  auto f = [](const Array& x, const Array& y) { return x + y; };
  CHECK_THROWS_WITH_AS(jit(f)(ones({3}), ones({4})), doctest::Contains("jit_test.cpp"), ShapeError);
  // Asking for a value while tracing: a concretization error suggesting where/cond.
  auto g = [](const Array& x) -> Array { return x.item<float>() > 0 ? x : -x; };
  CHECK_THROWS_AS(jit(g)(ones({1})), ConcretizationError);
}

TEST_CASE("jit: the on-disk cache (JX_CACHE_DIR) lets a second process skip compilation") {
  if (std::getenv("JX_JIT_CACHE_CHILD")) return;  // the child's own run of this case
  testing::TempDir dir("jx_jit_cache");
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  REQUIRE(n > 0);
  exe[n] = 0;
  auto run = [&](const char* expect) {
    std::string cmd = "JX_JIT_CACHE_CHILD=1 JX_EXPECT_CACHE_HIT=" + std::string(expect) + " JX_CACHE_DIR=" +
                      dir.dir.string() + " '" + exe + "' --test-case='jit: cache child' --no-version > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  CHECK(run("0") == 0);  // first process compiles and writes the object
  CHECK(!std::filesystem::is_empty(dir.dir));
  CHECK(run("1") == 0);  // second process loads it
}

TEST_CASE("jit: cache child") {
  const char* expect = std::getenv("JX_EXPECT_CACHE_HIT");
  if (!expect) return;  // only meaningful when started by the on-disk cache test
  auto f = [](const Array& x) { return exp(x) * 3.0 + 1.0; };
  Array x = uniform({100}, -1, 1, float32, 17);
  auto lowered = jit(f).lower(x);
  const bool hit = lowered.as_text().find("loaded from JX_CACHE_DIR") != std::string::npos;
  CHECK(hit == (std::string(expect) == "1"));
  CHECK(testing::mismatch(jit(f)(x), f(x)) == "");
}

TEST_CASE("jit: dot_general with a bias and an activation becomes one oneDNN call with post-ops") {
  Array x = uniform({32, 20}, -1, 1, float32, 18);
  Array w = uniform({20, 16}, -1, 1, float32, 19);
  Array b = uniform({16}, -1, 1, float32, 20);
  auto layer_tanh = [](const Array& x, const Array& w, const Array& b) { return tanh(matmul(x, w) + b); };
  auto layer_relu = [](const Array& x, const Array& w, const Array& b) { return maximum(matmul(x, w) + b, 0.0); };
  auto layer_bias = [](const Array& x, const Array& w, const Array& b) { return sum(matmul(x, w) + b, {1}); };
  std::string t = jit(layer_tanh).lower(x, w, b).as_text();
  CHECK(t.find("call dot_general+bias+tanh") != std::string::npos);
  CHECK(jit(layer_relu).lower(x, w, b).as_text().find("call dot_general+bias+relu") != std::string::npos);
  CHECK(jit(layer_bias).lower(x, w, b).as_text().find("call dot_general+bias(") != std::string::npos);
  CHECK(testing::mismatch(jit(layer_tanh)(x, w, b), layer_tanh(x, w, b)) == "");
  CHECK(testing::mismatch(jit(layer_relu)(x, w, b), layer_relu(x, w, b)) == "");
  CHECK(testing::mismatch(jit(layer_bias)(x, w, b), layer_bias(x, w, b)) == "");
  // Transposed operands and float64 (no oneDNN) give the same values.
  auto tr = [](const Array& x, const Array& w, const Array& b) { return tanh(matmul(transpose(transpose(x)), w) + b); };
  Array x64 = x.astype(float64), w64 = w.astype(float64), b64 = b.astype(float64);
  CHECK(testing::mismatch(jit(tr)(x64, w64, b64), tr(x64, w64, b64)) == "");
  // The pre-activation is not fused away when something else reads it.
  auto both = [](const Array& x, const Array& w, const Array& b) {
    Array z = matmul(x, w) + b;
    return std::pair{tanh(z), z};
  };
  auto [y1, z1] = jit(both)(x, w, b);
  auto [y2, z2] = both(x, w, b);
  CHECK(testing::mismatch(y1, y2) == "");
  CHECK(testing::mismatch(z1, z2) == "");
}

TEST_CASE("jit: a transposed matmul result is computed in the transposed layout") {
  Array x = uniform({16, 12}, -1, 1, float32, 21);
  Array w = uniform({12, 8}, -1, 1, float32, 22);
  auto f = [](const Array& w, const Array& x) { return sum(tanh(matmul(x, w))); };
  auto g = grad(f);  // dW = x^T (dy): a dot_general whose result reverse mode transposes
  std::string text = jit(g).lower(w, x).as_text();
  auto plan = text.substr(text.find("# fusion plan"));
  plan = plan.substr(0, plan.find("# LLVM IR"));
  CHECK(plan.find("transpose") == std::string::npos);
  CHECK(testing::mismatch(jit(g)(w, x), g(w, x)) == "");
  auto h = [](const Array& a, const Array& b) { return transpose(matmul(a, b)) * 2.0; };
  CHECK(testing::mismatch(jit(h)(x, w), h(x, w)) == "");
}

TEST_CASE("jit: a lone iota and random bits inside jit; the same donated array passed twice") {
  auto f = [](const Array& s) { return reshape(lax::iota(float32, {25}), {5, 5}) + s; };
  CHECK(testing::mismatch(jit(f)(Array(5.0f)), f(Array(5.0f))) == "");
  auto bits = [](const Array& k) { return random::bits(k, {8, 8}); };
  CHECK(testing::mismatch(jit(bits)(random::key(3)), bits(random::key(3))) == "");
  // The same buffer as two arguments, one donated: it must not be overwritten while read.
  auto g = [](const Array& p, const Array& q) { return std::pair{p * 2.0f, sum(q)}; };
  Array p = ones({1000});
  auto [a, s] = jit(g, {.donate_argnums = {0}})(p, p);
  CHECK(s.item<float>() == 1000.0f);
  CHECK(a.to_vector<float>()[0] == 2.0f);
  Array r = ones({100});
  auto h = [](const Array& x, const Array& y) { return std::pair{x + 1.0f, y * 3.0f}; };
  auto [b, c] = jit(h, {.donate_argnums = {0, 1}})(r, r);
  CHECK(b.to_vector<float>()[5] == 2.0f);
  CHECK(c.to_vector<float>()[5] == 3.0f);
}

TEST_CASE("jit: a donated argument that the program also returns keeps its values") {
  // Found by the CUDA emulation harness: the plan offered the returned input's buffer to x * 2.
  auto f = jit([](const Array& x) { return std::tuple{x * 2.0f, x}; }, {.donate_argnums = {0}});
  auto [doubled, same] = f(array({1.f, 2.f, 3.f}));
  CHECK(doubled.to_vector<float>() == std::vector<float>{2, 4, 6});
  CHECK(same.to_vector<float>() == std::vector<float>{1, 2, 3});
  // Returned reshaped (an alias of the input's buffer).
  auto g = jit([](const Array& x) { return std::tuple{x * 2.0f, reshape(x, {1, 3})}; }, {.donate_argnums = {0}});
  auto [doubled2, row] = g(array({1.f, 2.f, 3.f}));
  CHECK(doubled2.to_vector<float>() == std::vector<float>{2, 4, 6});
  CHECK(row.to_vector<float>() == std::vector<float>{1, 2, 3});
}
