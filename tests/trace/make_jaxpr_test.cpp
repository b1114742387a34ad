// make_jaxpr: golden texts in JAX's format, constants and literals, closures over outer tracers,
// trees, evaluation of staged jaxprs, and errors (concretization, escaped tracers, locations).
#include "testing/testing.h"

using namespace jx;

namespace {
[[maybe_unused]] Array f32(std::vector<float> v, Shape s) { return array(v, s); }
}  // namespace

TEST_CASE("make_jaxpr: sum(sin(x) * y) prints as in JAX") {
  Array x = f32({1, 2, 3}, {3}), y = f32({4, 5, 6}, {3});
  auto jp = make_jaxpr([](const Array& a, const Array& b) { return sum(sin(a) * b); })(x, y);
  CHECK(jp.str() ==
        "{ lambda ; a:f32[3] b:f32[3]. let\n"
        "    c:f32[3] = sin a\n"
        "    d:f32[3] = mul c b\n"
        "    e:f32[] = reduce_sum[axes=(0,)] d\n"
        "  in (e,) }");
}

TEST_CASE("make_jaxpr: a C++ double stays weak and inlines as a literal") {
  auto jp = make_jaxpr([](const Array& a) { return a * 2.0; })(f32({1, 2, 3}, {3}));
  CHECK(jp.str() ==
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[3] = mul a 2.0:f32[]\n"
        "  in (b,) }");
}

TEST_CASE("make_jaxpr: int32 plus a double converts to a weak float32, as JAX's lattice (i32 v f* = f*)") {
  auto jp = make_jaxpr([](const Array& a) { return a + 1.5; })(array({1, 2, 3}));
  CHECK(jp.str() ==
        "{ lambda ; a:i32[3]. let\n"
        "    b:f32[3] = convert_element_type[new_dtype=float32 weak_type=True] a\n"
        "    c:f32[3] = add b 1.5:f32[]\n"
        "  in (c,) }");
}

TEST_CASE("make_jaxpr: numpy broadcasting stages broadcast_in_dim") {
  auto jp = make_jaxpr([](const Array& a, const Array& b) { return a + b; })(zeros({4, 3}), zeros({3}));
  CHECK(jp.str() ==
        "{ lambda ; a:f32[4,3] b:f32[3]. let\n"
        "    c:f32[4,3] = broadcast_in_dim[broadcast_dimensions=(1,) shape=(4, 3)] b\n"
        "    d:f32[4,3] = add a c\n"
        "  in (d,) }");
}

TEST_CASE("make_jaxpr: captured concrete arrays become constvars") {
  Array c = f32({1, 2, 3}, {3});
  auto jp = make_jaxpr([&](const Array& a) { return a + c; })(f32({0, 0, 0}, {3}));
  CHECK(jp.str() ==
        "{ lambda a:f32[3]; b:f32[3]. let\n"
        "    c:f32[3] = add b a\n"
        "  in (c,) }");
  REQUIRE(jp.consts.size() == 1);
  CHECK(jp.consts[0].to_vector<float>() == std::vector<float>{1, 2, 3});
}

TEST_CASE("make_jaxpr: identity, several outputs, and unused inputs") {
  auto id = make_jaxpr([](const Array& a) { return a; })(f32({1, 2}, {2}));
  CHECK(id.str() == "{ lambda ; a:f32[2]. let  in (a,) }");
  auto two = make_jaxpr([](const Array& a, const Array& b) { return std::pair{exp(a), -a}; })(
      f32({1}, {1}), f32({2}, {1}));
  CHECK(two.str() ==
        "{ lambda ; a:f32[1] b:f32[1]. let\n"
        "    c:f32[1] = exp a\n"
        "    d:f32[1] = neg a\n"
        "  in (c, d) }");
}

TEST_CASE("make_jaxpr: mean is a sum and a division, as jnp.mean") {
  auto jp = make_jaxpr([](const Array& a) { return mean(a); })(zeros({2, 3}));
  CHECK(jp.str().find("reduce_sum[axes=(0, 1)] a") != std::string::npos);
  CHECK(jp.str().find("div b 6.0:f32[]") != std::string::npos);
}

TEST_CASE("make_jaxpr: tree arguments flatten in key order") {
  std::map<std::string, Array> params{{"w", zeros({2, 3})}, {"b", zeros({3})}};
  auto jp = make_jaxpr([](const std::map<std::string, Array>& p, const Array& x) {
    return matmul(x, p.at("w")) + p.at("b");
  })(params, zeros({4, 2}));
  // Invars: b (the bias, key order), w, x.
  CHECK(jp.str().rfind("{ lambda ; a:f32[3] b:f32[2,3] c:f32[4,2]. let", 0) == 0);
  CHECK(jp.str().find("dot_general") != std::string::npos);
}

TEST_CASE("make_jaxpr: ops on constants inside the function are staged too") {
  auto jp = make_jaxpr([](const Array& a) { return a + exp(ones({3})); })(zeros({3}));
  CHECK(jp.str().find("exp") != std::string::npos);
  CHECK(jp.jaxpr->eqns.size() >= 2);
}

TEST_CASE("make_jaxpr: a nested trace captures the outer tracer as a constant") {
  std::string inner_text;
  auto outer = make_jaxpr([&](const Array& x) {
    auto inner = make_jaxpr([&](const Array& y) { return sin(x) * y; })(x);
    inner_text = inner.str();
    // The inner jaxpr's constant is the outer tracer; evaluating it stages into the outer trace.
    return inner(std::vector<Array>{x})[0];
  })(zeros({2}));
  // Omnistaging: sin of the captured outer value is staged into the inner jaxpr too.
  CHECK(inner_text ==
        "{ lambda a:f32[2]; b:f32[2]. let\n"
        "    c:f32[2] = sin a\n"
        "    d:f32[2] = mul c b\n"
        "  in (d,) }");
  CHECK(outer.str() ==
        "{ lambda ; a:f32[2]. let\n"
        "    b:f32[2] = sin a\n"
        "    c:f32[2] = mul b a\n"
        "  in (c,) }");
}

TEST_CASE("eval_jaxpr: a staged jaxpr evaluates to the eager result") {
  auto f = [](const Array& a, const Array& b) { return sum(sin(a) * b + exp(-a)); };
  Array x = f32({0.5f, -1, 2}, {3}), y = f32({1, 2, 3}, {3});
  auto jp = make_jaxpr(f)(x, y);
  check_jaxpr(*jp.jaxpr);
  auto out = jp(std::vector<Array>{x, y});
  REQUIRE(out.size() == 1);
  double expected = 0;
  std::vector<double> xs{0.5, -1, 2}, ys{1, 2, 3};
  for (int i = 0; i < 3; ++i) expected += std::sin(xs[i]) * ys[i] + std::exp(-xs[i]);
  CHECK_ALLCLOSE(out[0], std::vector<double>{expected});
  CHECK_THROWS_WITH_AS(jp(std::vector<Array>{x}), doctest::Contains("takes 0 constants and 2 arguments"), ValueError);
  CHECK_THROWS_WITH_AS(jp(std::vector<Array>{x, zeros({4})}), doctest::Contains("should be f32[3], got f32[4]"),
                       ShapeError);
}

TEST_CASE("make_jaxpr: reading a traced value raises a ConcretizationError that suggests where/cond") {
  Array x = f32({1, 2}, {2});
  CHECK_THROWS_WITH_AS(make_jaxpr([](const Array& a) { return a * a.item<float>(); })(zeros({})),
                       doctest::Contains("jx::where"), ConcretizationError);
  CHECK_THROWS_WITH_AS(make_jaxpr([](const Array& a) { return a.to_vector<float>().size() ? a : a; })(x),
                       doctest::Contains("cannot read the value of a traced array f32[2]"), ConcretizationError);
  auto branchy = [](const Array& a) {
    if (sum(a) > 0.0) return a;
    return -a;
  };
  CHECK_THROWS_WITH_AS(make_jaxpr(branchy)(x), doctest::Contains("lax::cond"), ConcretizationError);
  CHECK(trace_depth() == 0);
}

TEST_CASE("make_jaxpr: after an error the trace stack is clean and tracing works again") {
  auto bad = [](const Array& a, const Array& b) { return a + b; };
  CHECK_THROWS_AS(make_jaxpr(bad)(zeros({2}), zeros({3})), ShapeError);
  CHECK(trace_depth() == 0);
  auto jp = make_jaxpr(bad)(zeros({2}), zeros({2}));
  CHECK(jp.jaxpr->eqns.size() == 1);
  CHECK_ALLCLOSE(bad(ones({2}), ones({2})), std::vector<double>{2, 2});
}

TEST_CASE("make_jaxpr: errors inside the traced function name the user's line") {
  auto bad = [](const Array& a, const Array& b) {
    return a * b;  // the line the error must point at
  };
  int line = __LINE__ - 2;
  try {
    make_jaxpr(bad)(zeros({2}), zeros({3}));
    FAIL("no error");
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    CHECK(msg.find("[multiply] shapes do not broadcast: f32[2] and f32[3]") != std::string::npos);
    CHECK(msg.find("make_jaxpr_test.cpp:" + std::to_string(line)) != std::string::npos);
  }
}

TEST_CASE("make_jaxpr: equations remember the user's source line") {
  auto jp = make_jaxpr([](const Array& a) {
    return sin(a);
  })(zeros({2}));
  REQUIRE(jp.jaxpr->eqns.size() == 1);
  CHECK(std::string(jp.jaxpr->eqns[0].loc.file_name()).find("make_jaxpr_test.cpp") != std::string::npos);
  CHECK(jp.jaxpr->eqns[0].loc.line() == static_cast<unsigned>(__LINE__ - 4));
}

TEST_CASE("make_jaxpr: an escaped tracer is reported when used later") {
  Array leaked;
  make_jaxpr([&](const Array& a) {
    leaked = sin(a);
    return a;
  })(zeros({2}));
  CHECK(leaked.is_tracer());
  CHECK_THROWS_WITH_AS(sin(leaked), doctest::Contains("escaped tracer"), TraceError);
  CHECK_THROWS_WITH_AS(leaked + 1.0, doctest::Contains("escaped tracer"), TraceError);
  CHECK_THROWS_AS(leaked.item<float>(), ConcretizationError);
  CHECK(trace_depth() == 0);
}
