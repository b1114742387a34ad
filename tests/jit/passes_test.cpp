// jit/passes: each pass on jaxprs traced with make_jaxpr, before and after: the rewrite shows in
// the printed jaxpr or the equation counts, the result type-checks, and evaluation gives the
// same bits on inputs full of IEEE corner cases (-0.0, NaN, inf, subnormals). Ends with a
// random-program property test of the whole pipeline.
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <set>

#include "jit/jit.h"
#include "jit/passes.h"
#include "testing/testing.h"

using namespace jx;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// n float32 values that start with the IEEE corner cases, then random ones in [-4, 4).
std::vector<float> special_values(int64_t n, unsigned seed) {
  std::vector<float> v = {-0.0f, 0.0f, kNaN, kInf, -kInf, 1e-40f, -1e-40f, 1.0f, -1.0f, 3e38f, -2.5f, 0.5f};
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  while (static_cast<int64_t>(v.size()) < n) v.push_back(dist(gen));
  v.resize(static_cast<size_t>(n));
  std::shuffle(v.begin(), v.end(), gen);
  return v;
}

Array specials(const Shape& shape, unsigned seed = 0) { return array(special_values(shape_size(shape), seed), shape); }

Array specials64(const Shape& shape, unsigned seed = 0) { return specials(shape, seed).astype(float64); }

bool bits_equal(const Array& a, const Array& b) {
  if (!(a.aval() == b.aval())) return false;
  return std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.size()) * itemsize(a.dtype())) == 0;
}

int64_t count(const ClosedJaxpr& j, const std::string& prim) {
  int64_t n = 0;
  for (auto& e : j.jaxpr->eqns) n += e.prim.name() == prim;
  return n;
}
int64_t num_eqns(const ClosedJaxpr& j) { return static_cast<int64_t>(j.jaxpr->eqns.size()); }

// `after` type-checks, keeps the signature, and evaluates to the same bits as `before`.
void check_equivalent(const ClosedJaxpr& before, const ClosedJaxpr& after, const std::vector<Array>& args) {
  INFO("before:\n", before.str(), "\nafter:\n", after.str());
  REQUIRE_NOTHROW(check_jaxpr(*after.jaxpr));
  CHECK(before.in_avals() == after.in_avals());
  CHECK(before.out_avals() == after.out_avals());
  auto x = before(args);
  auto y = after(args);
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("output ", i, ": ", x[i], " vs ", y[i]);
    CHECK(bits_equal(x[i], y[i]));
  }
}

template <class F>
ClosedJaxpr trace(F f, const std::vector<Array>& args) {
  return make_jaxpr(f)(args[0]);
}

Array ints(std::vector<int32_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return array(v, Shape{n});
}

Array convert_raw(const Array& x, DType dtype, bool weak = false) {
  return bind1(convert_element_type_p, {x}, Params{{"new_dtype", dtype}, {"weak_type", weak}});
}
Array reshape_raw(const Array& x, Shape shape) { return bind1(reshape_p, {x}, Params{{"new_sizes", shape}}); }
Array transpose_raw(const Array& x, std::vector<int64_t> perm, const Loc& loc = Loc::current()) {
  return bind1(transpose_p, {x}, Params{{"permutation", perm}}, loc);
}
Array slice_raw(const Array& x, std::vector<int64_t> start, std::vector<int64_t> limit, std::vector<int64_t> strides) {
  return bind1(slice_p, {x}, Params{{"start_indices", start}, {"limit_indices", limit}, {"strides", strides}});
}

}  // namespace

// ---- simplify -------------------------------------------------------------------------------------

TEST_CASE("simplify: x * 1, 1 * x, x / 1, x - 0.0 and x + (-0.0) are removed, bit-exactly") {
  Array x = specials({4, 8});
  auto f = [](const Array& a) {
    Array b = a * 1.0;
    Array c = 1.0 * b;
    Array d = c / 1.0;
    Array e = d - 0.0;
    Array g = e + (-0.0);
    return (-0.0) + g;
  };
  ClosedJaxpr before = trace(f, {x});
  REQUIRE(num_eqns(before) == 6);
  int64_t n = 0;
  ClosedJaxpr after = passes::simplify(before, &n);
  CHECK(n == 6);
  CHECK(after.str() == "{ lambda ; a:f32[4,8]. let  in (a,) }");
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: x + 0.0 stays for floats (it turns -0.0 into +0.0); x + 0 goes for integers") {
  Array x = specials({16});
  ClosedJaxpr before = trace([](const Array& a) { return a + 0.0; }, {x});
  ClosedJaxpr after = passes::simplify(before);
  CHECK(count(after, "add") == 1);
  check_equivalent(before, after, {x});
  // 0.0 - x is not -x either (0 - 0 = +0, -(+0) = -0)
  ClosedJaxpr sub0 = trace([](const Array& a) { return 0.0 - a; }, {x});
  CHECK(count(passes::simplify(sub0), "sub") == 1);
  // x - (-0.0) = x + 0.0: kept
  ClosedJaxpr subm0 = trace([](const Array& a) { return a - (-0.0); }, {x});
  CHECK(count(passes::simplify(subm0), "sub") == 1);
  check_equivalent(subm0, passes::simplify(subm0), {x});

  Array i = ints({-3, 0, 7, INT32_MIN, INT32_MAX});
  ClosedJaxpr ints = trace([](const Array& a) { return (a + 0) - 0; }, {i});
  ClosedJaxpr ints_after = passes::simplify(ints);
  CHECK(num_eqns(ints_after) == 0);
  check_equivalent(ints, ints_after, {i});
}

TEST_CASE("simplify: integer x * -1 and 0 - x become neg x (same wrap-around at INT_MIN)") {
  Array i = ints({-3, 0, 7, INT32_MIN, INT32_MAX});
  ClosedJaxpr before = trace([](const Array& a) { return (a * -1) + (0 - a) + (-1 * a); }, {i});
  ClosedJaxpr after = passes::simplify(before);
  CHECK(count(after, "mul") == 0);
  CHECK(count(after, "sub") == 0);
  CHECK(count(after, "neg") == 3);
  check_equivalent(before, after, {i});
}

TEST_CASE("simplify: a rewrite that would change the output's weak type is skipped") {
  // a + 1.5 is a weak f32 (i32 + a C++ double); a strongly typed 1.0 makes the product strong.
  // (jx::multiply would convert the weak operand first; the primitive takes them as they are.)
  Array i = ints({1, 2, 3});
  ClosedJaxpr before = trace([](const Array& a) { return bind1(mul_p, {a + 1.5, scalar(1.0, float32)}); }, {i});
  REQUIRE(count(before, "mul") == 1);
  REQUIRE(before.out_avals()[0].weak_type == false);
  ClosedJaxpr after = passes::simplify(before);
  CHECK(count(after, "mul") == 1);
  check_equivalent(before, after, {i});
  // ... while a weak 1.0 keeps the product weak, so it goes.
  ClosedJaxpr weak = trace([](const Array& a) { return (a + 1.5) * 1.0; }, {i});
  CHECK(count(passes::simplify(weak), "mul") == 0);
  check_equivalent(weak, passes::simplify(weak), {i});
}

TEST_CASE("simplify: a 0-d x times a broadcast 1 is kept (the output has the broadcast shape)") {
  Array s = scalar(3.0, float32);
  ClosedJaxpr before = trace([](const Array& a) { return a * ones({3}); }, {s});
  ClosedJaxpr after = passes::simplify(before);
  CHECK(count(after, "mul") == 1);
  check_equivalent(before, after, {s});
}

TEST_CASE("simplify: x * ones-constant and x * broadcast(1) are recognized as x * 1") {
  Array x = specials({2, 3});
  Array c = ones({2, 3});
  ClosedJaxpr before = trace(
      [c](const Array& a) { return lax::broadcast_in_dim(Array(1.0f), {2, 3}, {}) * (a * c); }, {x});
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(num_eqns(after) == 0);
  CHECK(after.consts.empty());
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: division by a power of two becomes an exact multiplication") {
  for (DType dt : {float32, float64}) {
    CAPTURE(dt);
    Array x = dt == float32 ? specials({64}) : specials64({64});
    // include values whose quotient is subnormal
    ClosedJaxpr before = trace([](const Array& a) { return (a / 4.0) / 0.125 + (a * 1e-38) / 1024.0; }, {x});
    ClosedJaxpr after = passes::simplify(before);
    CHECK(count(after, "div") == 0);
    check_equivalent(before, after, {x});
    // not a power of two, or a reciprocal that overflows: kept
    ClosedJaxpr three = trace([](const Array& a) { return a / 3.0; }, {x});
    CHECK(count(passes::simplify(three), "div") == 1);
    ClosedJaxpr tiny = trace([dt](const Array& a) { return a / scalar(dt == float32 ? 1e-45 : 5e-324, dt); }, {x});
    CHECK(count(passes::simplify(tiny), "div") == 1);
  }
}

TEST_CASE("simplify: neg(neg x), abs(abs x), abs(neg x), max(x, x), integer_pow(x, 1), stop_gradient") {
  Array x = specials({5, 4});
  auto f = [](const Array& a) {
    Array b = -(-a);
    Array c = abs(abs(b));
    Array d = abs(-c);
    Array e = maximum(d, d) + minimum(b, b);
    return lax::stop_gradient(lax::integer_pow(e, 1));
  };
  ClosedJaxpr before = trace(f, {x});
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(count(after, "neg") == 0);
  CHECK(count(after, "abs") == 1);
  CHECK(count(after, "max") == 0);
  CHECK(count(after, "min") == 0);
  CHECK(count(after, "integer_pow") == 0);
  CHECK(count(after, "stop_gradient") == 0);
  CHECK(count(after, "add") == 1);
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: convert_element_type to the same type, and lossless round trips") {
  Array x = specials({12}), y = specials64({12}, 1) * 1.1;  // y: values f32 cannot hold
  auto f = [](const Array& a, const Array& b) {
    Array same = convert_raw(a, float32);
    Array trip = convert_raw(convert_raw(same, float64), float32);  // f32 -> f64 -> f32: exact
    Array lossy = convert_raw(convert_raw(b, float32), float64);     // f64 -> f32 -> f64: rounds
    // f64 -> f32 -> f64 of a value that came from f32 is exact too
    Array from32 = convert_raw(convert_raw(convert_raw(trip, float64), float32), float64);
    return std::vector<Array>{trip, lossy, from32};
  };
  ClosedJaxpr before = make_jaxpr(f)(x, y);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(after.str() ==
        "{ lambda ; a:f32[12] b:f64[12]. let\n"
        "    c:f32[12] = convert_element_type[new_dtype=float32 weak_type=False] b\n"
        "    d:f64[12] = convert_element_type[new_dtype=float64 weak_type=False] c\n"
        "    e:f64[12] = convert_element_type[new_dtype=float64 weak_type=False] a\n"
        "  in (a, d, e) }");
  check_equivalent(before, after, {x, y});
  // a weak-type change is a real conversion of the aval: kept
  ClosedJaxpr weak = make_jaxpr([](const Array& a) { return convert_raw(a, float32, true); })(x);
  CHECK(count(passes::simplify(weak), "convert_element_type") == 1);
  Array i = ints({INT32_MIN, -1, 0, 5, INT32_MAX});
  ClosedJaxpr ints = make_jaxpr([](const Array& a) {
    return std::vector<Array>{convert_raw(convert_raw(a, int64), int32), convert_raw(convert_raw(a, float64), int32),
                              convert_raw(convert_raw(a, float32), int32)};
  })(i);
  ClosedJaxpr ints_after = passes::dce(passes::simplify(ints));
  CHECK(count(ints_after, "convert_element_type") == 2);  // i32 -> f32 -> i32 rounds
  check_equivalent(ints, ints_after, {i});
}

TEST_CASE("simplify: reshape, squeeze and expand_dims chains become one reshape, or nothing") {
  Array x = specials({2, 3, 4});
  auto f = [](const Array& a) {
    Array r = reshape_raw(reshape_raw(reshape_raw(a, {6, 4}), {24}), {4, 6});
    Array same = reshape_raw(a, {2, 3, 4});
    Array e = squeeze(expand_dims(same, {0, 2}), {0, 2});
    Array m = expand_dims(reshape_raw(a, {4, 6}), {1});
    return std::vector<Array>{r, e, m};
  };
  ClosedJaxpr before = make_jaxpr(f)(x);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(after.str() ==
        "{ lambda ; a:f32[2,3,4]. let\n"
        "    b:f32[4,6] = reshape[new_sizes=(4, 6)] a\n"
        "    c:f32[4,1,6] = reshape[new_sizes=(4, 1, 6)] a\n"
        "  in (b, a, c) }");
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: transposes compose, and cancel when inverse") {
  Array x = specials({2, 3, 4});
  auto f = [](const Array& a) {
    Array t = transpose_raw(transpose_raw(a, {2, 0, 1}), {1, 2, 0});  // inverse pair
    Array u = transpose_raw(transpose_raw(a, {1, 0, 2}), {0, 2, 1});
    Array id = transpose_raw(a, {0, 1, 2});
    return std::vector<Array>{t, u, id};
  };
  ClosedJaxpr before = make_jaxpr(f)(x);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(after.str() ==
        "{ lambda ; a:f32[2,3,4]. let\n"
        "    b:f32[3,4,2] = transpose[permutation=(1, 2, 0)] a\n"
        "  in (a, b, a) }");
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: broadcasts compose; a broadcast to the same shape is removed") {
  Array x = specials({3});
  auto f = [](const Array& a) {
    Array b = lax::broadcast_in_dim(a, {2, 3}, {1});
    Array c = lax::broadcast_in_dim(b, {4, 2, 3}, {1, 2});
    Array d = bind1(broadcast_in_dim_p, {a}, Params{{"shape", Shape{3}}, {"broadcast_dimensions", std::vector<int64_t>{0}}});
    Array e = lax::broadcast_in_dim(lax::broadcast_in_dim(a, {3, 1}, {0}), {3, 5}, {0, 1});
    return std::vector<Array>{c, d, e};
  };
  ClosedJaxpr before = make_jaxpr(f)(x);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(after.str() ==
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[4,2,3] = broadcast_in_dim[broadcast_dimensions=(2,) shape=(4, 2, 3)] a\n"
        "    c:f32[3,5] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(3, 5)] a\n"
        "  in (b, a, c) }");
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: slices compose; the full slice is removed") {
  Array x = specials({10, 7});
  auto f = [](const Array& a) {
    Array full = slice_raw(a, {0, 0}, {10, 7}, {1, 1});
    Array s = slice_raw(slice_raw(full, {1, 0}, {10, 7}, {2, 3}), {1, 1}, {5, 3}, {2, 1});
    Array empty = slice_raw(slice_raw(a, {9, 0}, {10, 7}, {1, 1}), {1, 0}, {1, 7}, {1, 1});
    return std::vector<Array>{full, s, empty};
  };
  ClosedJaxpr before = make_jaxpr(f)(x);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(count(after, "slice") == 2);
  for (auto& e : after.jaxpr->eqns) CHECK(e.inputs.size() == 1);
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: rev of rev, zero padding, concatenate of one, reductions over no axes") {
  Array x = specials({3, 4});
  auto f = [](const Array& a) {
    Array r = flip(flip(a, {1}), {1});
    Array p = bind1(pad_p, {r, Array(0.0f)}, Params{{"padding_config", std::vector<int64_t>(6, 0)}});
    Array c = bind1(concatenate_p, {p}, Params{{"dimension", int64_t{0}}});
    return bind1(reduce_sum_p, {c}, Params{{"axes", std::vector<int64_t>{}}});
  };
  ClosedJaxpr before = trace(f, {x});
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(num_eqns(after) == 0);
  check_equivalent(before, after, {x});
}

TEST_CASE("simplify: select_n with equal cases or a literal predicate picks the case") {
  Array x = specials({6}), y = specials({6}, 1);
  auto f = [](const Array& a, const Array& b) {
    Array p = a > b;
    Array same = where(p, a, a);
    Array lit_true = lax::select(Array(true), a, b);
    Array idx = bind1(select_n_p, {scalar(7, int32), a, b}, {});  // clamped to the last case
    Array splat = where(full({6}, Array(false)), a, b);             // a broadcast predicate
    return std::vector<Array>{same, lit_true, idx, splat};
  };
  ClosedJaxpr before = make_jaxpr(f)(x, y);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  CHECK(after.str() == "{ lambda ; a:f32[6] b:f32[6]. let  in (a, a, b, b) }");
  check_equivalent(before, after, {x, y});
}

TEST_CASE("simplify: logical and bitwise identities: and with true / -1, or / xor with 0, shifts by 0, select of not") {
  Array x = specials({6}), y = specials({6}, 1);
  Array i = ints({INT32_MIN, -7, -1, 0, 1, INT32_MAX});
  auto f = [](const Array& a, const Array& b, const Array& k) {
    Array p = a > b;
    Array q = logical_or(logical_and(p, Array(true)), Array(false));
    Array sel = where(logical_not(q), a, b);
    Array bits = bitwise_xor(bind1(or_p, {bind1(and_p, {k, Array(-1)}), Array(0)}), Array(0));
    Array shifted = right_shift(left_shift(bits, 0), 0);
    Array u = k.astype(uint32);
    Array ubits = bind1(and_p, {u, scalar(4294967295.0, uint32)});
    return std::vector<Array>{sel, shifted, ubits};
  };
  ClosedJaxpr before = make_jaxpr(f)(x, y, i);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  for (const char* prim : {"and", "or", "xor", "not", "shift_left", "shift_right_arithmetic"}) {
    CAPTURE(prim);
    CHECK(count(after, prim) == 0);
  }
  CHECK(count(after, "select_n") == 1);
  check_equivalent(before, after, {x, y, i});
}

TEST_CASE("simplify: new equations keep the source line of the equation they replace") {
  Array x = specials({2, 3, 4});
  int line = 0;
  ClosedJaxpr before = make_jaxpr([&](const Array& a) {
    Array t = transpose_raw(a, {1, 0, 2});
    line = __LINE__ + 1;
    return transpose_raw(t, {0, 2, 1});
  })(x);
  ClosedJaxpr after = passes::dce(passes::simplify(before));
  REQUIRE(num_eqns(after) == 1);
  CHECK(after.jaxpr->eqns[0].loc.line() == static_cast<unsigned>(line));
}

// ---- fold_constants ------------------------------------------------------------------------------

TEST_CASE("fold_constants: operations on constants and literals are evaluated; 0-d results become literals") {
  Array c = array({1.0f, 2.0f, 3.0f}, Shape{3});
  Array x = specials({3});
  auto f = [c](const Array& a) {
    Array k = exp(c) * 2.0;        // constant
    Array s = sum(c);              // 0-d constant -> literal
    Array t = scalar(2.0, float32) * scalar(3.0, float32);  // literals
    return a * k + s * t;
  };
  ClosedJaxpr before = trace(f, {x});
  int64_t n = 0;
  ClosedJaxpr after = passes::dce(passes::fold_constants(before, int64_t{1} << 16, &n));
  CHECK(n >= 4);
  CHECK(count(after, "exp") == 0);
  CHECK(count(after, "reduce_sum") == 0);
  CHECK(num_eqns(after) == 2);  // mul a k, add (s * t folded into a literal)
  REQUIRE(after.consts.size() == 1);
  check_equivalent(before, after, {x});
  // the literal the folded scalar chain became
  bool has_literal = false;
  for (auto& e : after.jaxpr->eqns)
    for (auto& in : e.inputs)
      if (auto* lit = std::get_if<Literal>(&in)) has_literal |= lit->value.item<float>() == 6.0f * 6.0f;
  CHECK(has_literal);
}

TEST_CASE("fold_constants: folded values are the eager kernels' own bits, IEEE corner cases included") {
  Array c = specials({32}, 3);
  Array x = specials({32}, 4);
  auto f = [c](const Array& a) { return a + (c * 0.0 + sqrt(c) / 3.0 + tanh(c)); };
  ClosedJaxpr before = trace(f, {x});
  ClosedJaxpr after = passes::dce(passes::fold_constants(before));
  CHECK(num_eqns(after) == 1);
  check_equivalent(before, after, {x});
}

TEST_CASE("fold_constants: broadcasts and iotas that would make large constants stay equations") {
  Array x = specials({64, 64});
  auto g = [](const Array& a) {
    Array z = zeros({64, 64});
    Array i = reshape(arange(4096).astype(float32), {64, 64});
    Array small = reshape(arange(4).astype(float32), {2, 2});  // tiny: folded
    return std::vector<Array>{a + z + i, small};
  };
  ClosedJaxpr before = make_jaxpr(g)(x);
  ClosedJaxpr after = passes::dce(passes::fold_constants(before));
  CHECK(count(after, "broadcast_in_dim") == count(before, "broadcast_in_dim"));
  CHECK(count(after, "iota") == 1);
  CHECK(after.consts.size() == 1);  // the small one
  CHECK(after.consts[0].size() == 4);
  check_equivalent(before, after, {x});
}

TEST_CASE("fold_constants: results over max_elements stay equations") {
  Array c = specials({100}, 5);
  Array x = specials({100}, 6);
  ClosedJaxpr before = trace([c](const Array& a) { return a * exp(c); }, {x});
  CHECK(count(passes::fold_constants(before, 50), "exp") == 1);
  CHECK(count(passes::fold_constants(before, 100), "exp") == 0);
  check_equivalent(before, passes::dce(passes::fold_constants(before, 100)), {x});
}

TEST_CASE("fold_constants: constants that are tracers of an outer trace are not folded") {
  Array x = specials({4});
  int64_t folded = -1;
  std::string inner_text;
  make_jaxpr([&](const Array& outer) {
    // `outer` is a tracer: the inner jaxpr closes over it as a constant.
    ClosedJaxpr inner = make_jaxpr([&](const Array& a) { return a + exp(outer); })(x);
    ClosedJaxpr after = passes::fold_constants(inner, int64_t{1} << 16, &folded);
    inner_text = after.str();
    return outer;
  })(x);
  CHECK(folded == 0);
  CHECK(inner_text.find("exp") != std::string::npos);
}

// ---- cse --------------------------------------------------------------------------------------------

TEST_CASE("cse: duplicate subexpressions are computed once") {
  Array x = specials({3, 4}), y = specials({3, 4}, 1);
  auto f = [](const Array& a, const Array& b) {
    Array s1 = sin(a) * b;
    Array s2 = sin(a) * b;           // same chain
    Array t1 = sum(s1, {1});
    Array t2 = sum(s2, {1});
    Array u = sum(s2, {0});           // other params: kept
    return std::vector<Array>{t1 + t2, u, a * 2.0 + a * 2.0};
  };
  ClosedJaxpr before = make_jaxpr(f)(x, y);
  int64_t n = 0;
  ClosedJaxpr after = passes::dce(passes::cse(before, &n));
  CHECK(n == 4);
  CHECK(count(after, "sin") == 1);
  CHECK(count(after, "reduce_sum") == 2);
  CHECK(count(after, "mul") == 2);
  check_equivalent(before, after, {x, y});
}

TEST_CASE("cse: literals match by dtype, weak type and bits (-0.0 is not 0.0)") {
  Array x = specials({8});
  auto f = [](const Array& a) {
    // (jx::multiply makes the weak 0.0 a strong literal; the primitive keeps it weak)
    return std::vector<Array>{a * 0.0, a * -0.0, bind1(mul_p, {a, Array(0.0)}), a * 0.0, a + kNaN, a + kNaN};
  };
  ClosedJaxpr before = make_jaxpr(f)(x);
  ClosedJaxpr after = passes::dce(passes::cse(before));
  // a * 0.0 twice -> once; a * -0.0 and a * (weak 0.0) stay distinct; the NaN additions merge
  CHECK(count(after, "mul") == 3);
  CHECK(count(after, "add") == 1);
  check_equivalent(before, after, {x});
}

TEST_CASE("cse: constants that are the same array or equal arrays are merged") {
  Array x = specials({3});
  Array c1 = array({1.0f, 2.0f, 3.0f}, Shape{3});
  Array c2 = array({1.0f, 2.0f, 3.0f}, Shape{3});
  Array c3 = array({1.0, 2.0, 3.0}, Shape{3});     // float64: another aval
  Array c4 = array({1.0f, 2.0f, -0.0f}, Shape{3});  // differs in one sign bit from c5
  Array c5 = array({1.0f, 2.0f, 0.0f}, Shape{3});
  auto f = [&](const Array& a) {
    return std::vector<Array>{a * c1, a * c2, a.astype(float64) * c3, a * c4, a * c5};
  };
  ClosedJaxpr before = make_jaxpr(f)(x);
  REQUIRE(before.consts.size() == 5);
  ClosedJaxpr after = passes::dce(passes::cse(before));
  CHECK(after.consts.size() == 4);
  CHECK(count(after, "mul") == 4);  // a * c1 and a * c2 became one equation
  check_equivalent(before, after, {x});
  // the same Array under two constvars (as inlining can produce)
  auto j = std::make_shared<Jaxpr>(*before.jaxpr);
  ClosedJaxpr shared{j, {c1, c1, c3, c4, c4}};
  ClosedJaxpr merged = passes::dce(passes::cse(shared));
  CHECK(merged.consts.size() == 3);
  check_equivalent(shared, merged, {x});
}

// ---- inline_calls ------------------------------------------------------------------------------------

TEST_CASE("inline_calls: custom_jvp around checkpoint is inlined recursively") {
  Array x = specials({5});
  Array c = array({1.0f, 2.0f, 3.0f, 4.0f, 5.0f}, Shape{5});
  auto inner = checkpoint([c](const Array& a) { return sin(a) * c; });
  auto f = custom_jvp([inner](const Array& a) { return inner(a) + inner(a * 2.0); },
                      [](const std::tuple<Array>& p, const std::tuple<Array>& t) {
                        return std::pair{std::get<0>(p), std::get<0>(t)};
                      });
  ClosedJaxpr before = make_jaxpr([f](const Array& a) { return f(a) * 3.0; })(x);
  REQUIRE(count(before, "custom_jvp_call") == 1);
  int64_t n = 0;
  ClosedJaxpr after = passes::inline_calls(before, &n);
  CHECK(n == 3);  // custom_jvp_call and both checkpoints
  CHECK(count(after, "custom_jvp_call") == 0);
  CHECK(count(after, "checkpoint") == 0);
  CHECK(count(after, "sin") == 2);
  check_equivalent(before, after, {x});
}

TEST_CASE("inline_calls: custom_vjp's primal function is inlined; equations keep their lines") {
  Array x = specials({4});
  auto f = custom_vjp([](const Array& a) { return tanh(a) * 2.0; },
                      [](const Array& a) { return std::pair{tanh(a) * 2.0, a}; },
                      [](const Array& a, const Array& ct) { return std::tuple{ct * a}; });
  ClosedJaxpr before = make_jaxpr([f](const Array& a) { return f(a) + 1.0; })(x);
  REQUIRE(count(before, "custom_vjp_call") == 1);
  const Eqn& call = before.jaxpr->eqns[0];
  REQUIRE(call.prim.name() == "custom_vjp_call");
  const ClosedJaxpr& callee = get_jaxpr(call.params, "call_jaxpr");
  ClosedJaxpr after = passes::inline_calls(before);
  CHECK(count(after, "custom_vjp_call") == 0);
  REQUIRE(num_eqns(after) == num_eqns(callee) + 1);
  for (int64_t i = 0; i < num_eqns(callee); ++i) {
    CHECK(after.jaxpr->eqns[i].prim == callee.jaxpr->eqns[i].prim);
    CHECK(after.jaxpr->eqns[i].loc.line() == callee.jaxpr->eqns[i].loc.line());
    CHECK(std::string(after.jaxpr->eqns[i].loc.file_name()) == callee.jaxpr->eqns[i].loc.file_name());
  }
  CHECK(after.jaxpr->eqns.back().loc.line() == before.jaxpr->eqns.back().loc.line());
  check_equivalent(before, after, {x});
}

namespace {
// A jaxpr with parameters of `in_avals` and the equations `eqns(invars)` makes; outputs are the
// last equation's outputs.
ClosedJaxpr build(const std::vector<AbstractValue>& in_avals,
                  const std::function<std::vector<Eqn>(const std::vector<Var>&)>& eqns) {
  auto j = std::make_shared<Jaxpr>();
  for (auto& aval : in_avals) j->invars.push_back(new_var(aval));
  j->eqns = eqns(j->invars);
  for (auto& o : j->eqns.back().outputs) j->outvars.push_back(o);
  return ClosedJaxpr{j, {}};
}

// An equation of the call primitive `prim` holding `callee` under `key`.
Eqn call_eqn(const Primitive& prim, const std::string& key, const ClosedJaxpr& callee, std::vector<Atom> args,
             Params params = {}) {
  params.set(key, jaxpr_param(callee));
  Eqn e{prim, std::move(args), std::move(params), {}, Loc::current()};
  for (auto& aval : callee.out_avals()) e.outputs.push_back(new_var(aval));
  return e;
}

Primitive checkpoint_prim() {
  Primitive p = find_primitive("checkpoint");
  REQUIRE(p.valid());
  return p;
}
}  // namespace

TEST_CASE("inline_calls: a callee's constants become constants; a callee inlined twice gets fresh variables") {
  Array x = specials({3});
  Array c = array({2.0f, 3.0f, 4.0f}, Shape{3});
  ClosedJaxpr callee = make_jaxpr([c](const Array& a) { return a * c + 1.0; })(x);
  REQUIRE(callee.consts.size() == 1);
  const Params policy{{"policy", std::string("nothing_saveable")}};
  ClosedJaxpr before = build({x.aval()}, [&](const std::vector<Var>& in) {
    Eqn first = call_eqn(checkpoint_prim(), "jaxpr", callee, {in[0]}, policy);
    Eqn second = call_eqn(checkpoint_prim(), "jaxpr", callee, {first.outputs[0]}, policy);
    return std::vector<Eqn>{first, second};
  });
  REQUIRE_NOTHROW(check_jaxpr(*before.jaxpr));
  int64_t n = 0;
  ClosedJaxpr after = passes::inline_calls(before, &n);
  CHECK(n == 2);
  CHECK(count(after, "checkpoint") == 0);
  CHECK(count(after, "mul") == 2);
  CHECK(after.consts.size() == 1);  // the one array, once
  check_equivalent(before, after, {x});
}

TEST_CASE("inline_calls: arguments whose weak type differs from the callee's parameters are converted") {
  const AbstractValue weak{float32, {}, true};
  ClosedJaxpr callee = make_jaxpr([](const Array& a) { return a * 3.0; })(scalar(2.0, float32));
  REQUIRE(callee.in_avals()[0].weak_type == false);
  const Params policy{{"policy", std::string("nothing_saveable")}};
  ClosedJaxpr before = build({weak}, [&](const std::vector<Var>& in) {
    Eqn a = call_eqn(checkpoint_prim(), "jaxpr", callee, {in[0]}, policy);
    Eqn b = call_eqn(checkpoint_prim(), "jaxpr", callee, {Literal{Array(1.5)}}, policy);
    Eqn sum{add_p, {a.outputs[0], b.outputs[0]}, {}, {new_var(AbstractValue{float32, {}, false})}, Loc::current()};
    return std::vector<Eqn>{a, b, sum};
  });
  REQUIRE_NOTHROW(check_jaxpr(*before.jaxpr));
  ClosedJaxpr after = passes::inline_calls(before);
  CHECK(count(after, "checkpoint") == 0);
  // the variable argument gets a conversion; the literal is converted in place
  CHECK(count(after, "convert_element_type") == 1);
  // the inlined equations see the callee's (strong) types
  for (auto& e : after.jaxpr->eqns)
    if (e.prim.name() == "mul") CHECK(atom_aval(e.inputs[0]).weak_type == false);
  check_equivalent(before, after, {Array(2.5)});
}

namespace {
// A call primitive the passes do not know: its body is inlined into in place.
const Primitive& opaque_call_p() {
  static const Primitive p = PrimitiveBuilder("passes_test_opaque_call")
                                 .num_outputs(-1)
                                 .shape_rule([](std::span<const AbstractValue>, const Params& params) {
                                   return get_jaxpr(params, "body").out_avals();
                                 })
                                 .impl([](std::span<const Array> args, const Params& params) {
                                   const ClosedJaxpr& body = get_jaxpr(params, "body");
                                   return eval_jaxpr(*body.jaxpr, body.consts, args);
                                 })
                                 .build();
  return p;
}
}  // namespace

TEST_CASE("inline_calls: other call primitives stay, with the calls inside their jaxprs inlined") {
  Array x = specials({4});
  auto remat = checkpoint([](const Array& a) { return cos(a) * 2.0; });
  ClosedJaxpr body = make_jaxpr([remat](const Array& a) { return remat(a) + 1.0; })(x);
  REQUIRE(count(body, "checkpoint") == 1);
  ClosedJaxpr before = build({x.aval()}, [&](const std::vector<Var>& in) {
    return std::vector<Eqn>{call_eqn(opaque_call_p(), "body", body, {in[0]})};
  });
  int64_t n = 0;
  ClosedJaxpr after = passes::inline_calls(before, &n);
  CHECK(n == 1);
  REQUIRE(count(after, "passes_test_opaque_call") == 1);
  const ClosedJaxpr& new_body = get_jaxpr(after.jaxpr->eqns[0].params, "body");
  CHECK(count(new_body, "checkpoint") == 0);
  CHECK(count(new_body, "cos") == 1);
  check_equivalent(before, after, {x});
}

TEST_CASE("optimize: the jaxprs of calls that stay calls are optimized too") {
  Array x = specials({4});
  ClosedJaxpr body = make_jaxpr([](const Array& a) { return (cos(a) + cos(a)) * 1.0; })(x);
  ClosedJaxpr before = build({x.aval()}, [&](const std::vector<Var>& in) {
    Eqn first = call_eqn(opaque_call_p(), "body", body, {in[0]});
    Eqn second = call_eqn(opaque_call_p(), "body", body, {first.outputs[0]});
    return std::vector<Eqn>{first, second};
  });
  passes::OptimizeStats stats;
  ClosedJaxpr after = passes::optimize(before, {}, &stats);
  REQUIRE(count(after, "passes_test_opaque_call") == 2);
  const ClosedJaxpr& b0 = get_jaxpr(after.jaxpr->eqns[0].params, "body");
  const ClosedJaxpr& b1 = get_jaxpr(after.jaxpr->eqns[1].params, "body");
  CHECK(b0.jaxpr == b1.jaxpr);  // one jaxpr, optimized once
  CHECK(b0.str() ==
        "{ lambda ; a:f32[4]. let\n"
        "    b:f32[4] = cos a\n"
        "    c:f32[4] = add b b\n"
        "  in (c,) }");
  CHECK(stats.cse == 1);
  CHECK(stats.simplified == 1);
  check_equivalent(before, after, {x});
  ClosedJaxpr flat = passes::optimize(before, {.nested = false});
  CHECK(get_jaxpr(flat.jaxpr->eqns[0].params, "body").jaxpr == body.jaxpr);
  // with inlining off, the known call primitives keep their (optimized) callees
  auto remat = checkpoint([](const Array& a) { return sin(a) * 1.0; });
  ClosedJaxpr calls = make_jaxpr([remat](const Array& a) { return remat(a); })(x);
  ClosedJaxpr kept = passes::optimize(calls, {.inline_calls = false});
  REQUIRE(count(kept, "checkpoint") == 1);
  CHECK(count(get_jaxpr(kept.jaxpr->eqns[0].params, "jaxpr"), "mul") == 0);
  check_equivalent(calls, kept, {x});
}

TEST_CASE("inline_calls: pjit equations are inlined") {
  Primitive pjit = find_primitive("pjit");
  if (!pjit.valid()) {
    MESSAGE("pjit is not registered in this build; skipped");
    return;
  }
  Array x = specials({6});
  Array c = array({1.0f, -2.0f, 3.0f, -4.0f, 5.0f, -6.0f}, Shape{6});
  ClosedJaxpr callee = make_jaxpr([c](const Array& a) { return exp(a) * c; })(x);
  const Params name{{"name", std::string("f")}};
  ClosedJaxpr before = build({x.aval()}, [&](const std::vector<Var>& in) {
    Eqn first = call_eqn(pjit, "jaxpr", callee, {in[0]}, name);
    Eqn second = call_eqn(pjit, "jaxpr", callee, {first.outputs[0]}, name);
    return std::vector<Eqn>{first, second};
  });
  ClosedJaxpr after = passes::inline_calls(before);
  CHECK(count(after, "pjit") == 0);
  CHECK(count(after, "exp") == 2);
  CHECK(after.consts.size() == 1);
  check_equivalent(before, after, {x});
}

// ---- dce and optimize ------------------------------------------------------------------------------

TEST_CASE("dce: unused equations and constants go; the signature stays") {
  Array x = specials({3}), y = specials({3}, 1);
  Array c = array({1.0f, 2.0f, 3.0f}, Shape{3});
  ClosedJaxpr before = make_jaxpr([c](const Array& a, const Array& b) {
    Array unused = exp(b) * c;
    (void)unused;
    return sin(a);
  })(x, y);
  int64_t n = 0;
  ClosedJaxpr after = passes::dce(before, &n);
  CHECK(n == 2);
  CHECK(after.consts.empty());
  CHECK(after.str() == "{ lambda ; a:f32[3] b:f32[3]. let\n    c:f32[3] = sin a\n  in (c,) }");
  check_equivalent(before, after, {x, y});
}

TEST_CASE("optimize: the passes feed each other until nothing changes") {
  Array x = specials({4, 3}), y = specials({4, 3}, 1);
  Array c = array({0.5f, 1.0f, 2.0f}, Shape{3});
  auto inner = checkpoint([](const Array& a) { return tanh(a); });
  auto f = [&](const Array& a, const Array& b) {
    Array scale = exp(c * 0.0) * 1.0;                 // folds to ones, then x * 1 goes
    Array t = inner(a) * scale;                       // inlined
    Array m = maximum(sin(b), sin(b));                // cse, then max(x, x) -> x
    Array r = reshape(reshape(transpose(transpose(t, {1, 0}), {1, 0}), {12}), {4, 3});
    return r + m * 1.0;
  };
  ClosedJaxpr before = make_jaxpr(f)(x, y);
  passes::OptimizeStats stats;
  ClosedJaxpr after = passes::optimize(before, {}, &stats);
  CHECK(after.str() ==
        "{ lambda ; a:f32[4,3] b:f32[4,3]. let\n"
        "    c:f32[4,3] = tanh a\n"
        "    d:f32[4,3] = sin b\n"
        "    e:f32[4,3] = add c d\n"
        "  in (e,) }");
  CHECK(after.consts.empty());
  CHECK(stats.inlined == 1);
  CHECK(stats.simplified > 0);
  CHECK(stats.folded > 0);
  CHECK(stats.cse > 0);
  CHECK(stats.dce > 0);
  CHECK(stats.rounds >= 2);
  CHECK(stats.eqns_before == num_eqns(before));
  CHECK(stats.eqns_after == 3);
  CHECK(stats.consts_before == 1);
  CHECK(stats.consts_after == 0);
  CHECK(stats.str().find("3 equations") != std::string::npos);
  MESSAGE(stats.str());
  check_equivalent(before, after, {x, y});
  // a fixpoint: optimizing again changes nothing
  passes::OptimizeStats again;
  ClosedJaxpr twice = passes::optimize(after, {}, &again);
  CHECK(twice.str() == after.str());
  CHECK(again.rounds == 1);
  CHECK(again.simplified + again.folded + again.cse + again.dce + again.inlined == 0);
}

TEST_CASE("optimize: passes can be switched off") {
  Array x = specials({5});
  auto inner = checkpoint([](const Array& a) { return sin(a) + sin(a); });
  auto f = [&](const Array& a) { return inner(a) * 1.0; };
  ClosedJaxpr before = make_jaxpr(f)(x);
  ClosedJaxpr none = passes::optimize(
      before, {.inline_calls = false, .simplify = false, .fold_constants = false, .cse = false, .dce = false});
  CHECK(none.jaxpr == before.jaxpr);
  ClosedJaxpr no_inline = passes::optimize(before, {.inline_calls = false, .nested = false});
  CHECK(count(no_inline, "checkpoint") == 1);
  CHECK(count(no_inline, "mul") == 0);
  CHECK(count(get_jaxpr(no_inline.jaxpr->eqns[0].params, "jaxpr"), "sin") == 2);
  ClosedJaxpr no_cse = passes::optimize(before, {.cse = false});
  CHECK(count(no_cse, "sin") == 2);
  ClosedJaxpr all = passes::optimize(before);
  CHECK(count(all, "sin") == 1);
  CHECK(count(all, "mul") == 0);
  for (auto* j : {&none, &no_inline, &no_cse, &all}) check_equivalent(before, *j, {x});
}

// ---- random programs ----------------------------------------------------------------------------------

namespace {

// A random program over [4,6] values of one dtype: elementwise ops with other values and with
// literals chosen to trigger the identities (0, -0.0, 1, -1, 2, 0.5, 0.25; weak or strong),
// shape round trips (reshape, transpose, expand_dims/squeeze, slices and concatenate, flips),
// reductions broadcast back, selects, conversions, stop_gradient, and repeated computations
// (for CSE). The constants in the pool make constant-only chains (for folding).
struct RandomProgram {
  unsigned seed;
  std::vector<Array> consts;

  std::vector<Array> operator()(const Array& a, const Array& b) const {
    std::mt19937 gen(seed);
    auto rnd = [&](size_t n) { return static_cast<size_t>(gen() % n); };
    const DType dt = a.dtype();
    const bool integer = is_integer(dt);
    std::vector<Array> pool{a, b};
    for (auto& c : consts) pool.push_back(c);
    auto pick = [&] { return pool[rnd(pool.size())]; };
    auto literal = [&]() -> Array {
      if (integer) {
        const int v[] = {0, 1, -1, 2, 3};
        int k = v[rnd(5)];
        return rnd(4) == 0 ? scalar(k, dt) : Array(k);
      }
      const double v[] = {0.0, -0.0, 1.0, 2.0, 0.5, 3.0, -1.0, 0.25};
      double k = v[rnd(8)];
      return rnd(4) == 0 ? scalar(k, dt) : Array(k);
    };
    auto apply = [&](int op, const Array& x, const Array& y) -> Array {
      switch (op) {
        case 0: return integer ? x * 3 : sin(x);
        case 1: return -x;
        case 2: return integer ? x - 2 : tanh(x);
        case 3: return abs(x);
        case 4: return x + y;
        case 5: return x - y;
        case 6: return x * y;
        case 7: return integer ? maximum(y, x) : x / y;
        case 8: return maximum(x, y);
        case 9: return minimum(x, x);
        case 10: return reshape(reshape(reshape(x, {6, 4}), {24}), {4, 6});
        case 11: return transpose(transpose(x) * transpose(y));
        case 12: return reshape(squeeze(expand_dims(x, {0, 2}), {0}), {4, 6});
        case 13: return broadcast_to(sum(x, {1}, true), {4, 6});
        case 14: return broadcast_to(max(x, {0}, true), {4, 6});
        case 15: return concatenate({slice(x, {0, 0}, {2, 6}), slice(slice(x, {1, 0}, {4, 6}), {1, 0}, {3, 6})}, 0);
        case 16: return where(x > y, x, y);
        case 17: return where(x > y, y, y);
        case 18: return integer ? x.astype(int64).astype(dt) : x.astype(float64).astype(float32).astype(dt);
        case 19: return lax::stop_gradient(-(-x));
        case 20: return lax::integer_pow(x, 1) + lax::integer_pow(y, 2);
        case 21: return flip(flip(x, {1}), {1}) * ones({4, 6}, dt);
        case 22: return x + zeros({4, 6}, dt);
        case 23: return reshape(transpose(reshape(x, {24, 1})), {4, 6});
        case 24: return integer ? bind1(and_p, {x, y}) : where(logical_not(x > y), x, y);
        case 25: return integer ? bind1(or_p, {x, y}) : where(logical_and(x > y, Array(true)), y, x);
        case 26: return integer ? bitwise_xor(x, y) : where(Array(false), x, y);
        default: return x;
      }
    };
    constexpr int kOps = 27;
    const std::set<int> unary = {0, 1, 2, 3, 9, 10, 12, 13, 14, 15, 18, 19, 21, 22, 23};
    struct Step {
      int op;
      Array x, y;
    };
    std::vector<Step> history;
    const int steps = 10 + static_cast<int>(rnd(20));
    for (int s = 0; s < steps; ++s) {
      Step step;
      if (!history.empty() && rnd(6) == 0) {
        step = history[rnd(history.size())];  // the same computation again
      } else {
        step.op = static_cast<int>(rnd(kOps));
        step.x = pick();
        // binary ops take another value or a literal (either side)
        step.y = unary.count(step.op) ? step.x : (rnd(2) ? pick() : literal());
        if ((step.op == 4 || step.op == 6) && step.y.ndim() == 0 && rnd(2)) std::swap(step.x, step.y);
      }
      Array r = apply(step.op, step.x, step.y);
      if (r.shape() != Shape{4, 6}) r = broadcast_to(r, {4, 6});
      if (r.dtype() != dt) r = r.astype(dt);
      history.push_back(step);
      pool.push_back(r);
    }
    const size_t n = pool.size();
    return {pool[n - 1], pool[n - 2], pool[n - 3], pick()};
  }
};

Array random_ints(unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> v = {INT32_MIN, INT32_MAX, 0, -1, 1};
  while (v.size() < 24) v.push_back(static_cast<int32_t>(gen() % 11) - 5);
  std::shuffle(v.begin(), v.end(), gen);
  return array(v, Shape{4, 6});
}

}  // namespace

TEST_CASE("optimize: random programs give the same bits before and after") {
  int64_t total_before = 0, total_after = 0;
  for (DType dt : {float32, float64, int32}) {
    for (unsigned seed = 0; seed < 40; ++seed) {
      CAPTURE(dt);
      CAPTURE(seed);
      auto value = [&](unsigned k) {
        if (dt == int32) return random_ints(seed * 7 + k);
        return specials({4, 6}, seed * 7 + k).astype(dt);
      };
      RandomProgram program{seed, {value(1), ones({4, 6}, dt), value(2)}};
      ClosedJaxpr before = make_jaxpr(program)(value(3), value(4));
      ClosedJaxpr after = passes::optimize(before);
      total_before += num_eqns(before), total_after += num_eqns(after);
      check_equivalent(before, after, {value(3), value(4)});
      check_equivalent(before, after, {value(5), value(6)});
    }
  }
  MESSAGE("random programs: ", total_before, " equations before, ", total_after, " after");
  CHECK(total_after < total_before);
}

// ---- with jx::jit ---------------------------------------------------------------------------------------

TEST_CASE("inline_calls: jitted functions nested in make_jaxpr, custom_jvp and each other are inlined") {
  Array x = specials({2, 3});
  auto inner = jit([](const Array& a) { return sin(a) * 2.0; });
  auto rule = [](const std::tuple<Array>& p, const std::tuple<Array>& t) {
    return std::pair{std::get<0>(p), std::get<0>(t)};
  };
  auto with_rule = custom_jvp([inner](const Array& a) { return inner(a) + inner(-a); }, rule);
  auto outer = jit([with_rule](const Array& a) { return with_rule(a) * 1.0; });
  ClosedJaxpr before = make_jaxpr([outer](const Array& a) { return outer(a) - 0.0; })(x);
  REQUIRE(count(before, "pjit") == 1);
  int64_t n = 0;
  ClosedJaxpr after = passes::inline_calls(before, &n);
  CHECK(n == 4);  // outer pjit, custom_jvp_call, two inner pjits
  CHECK(count(after, "pjit") == 0);
  CHECK(count(after, "custom_jvp_call") == 0);
  CHECK(count(after, "sin") == 2);
  REQUIRE_NOTHROW(check_jaxpr(*after.jaxpr));
  CHECK(before.out_avals() == after.out_avals());
  // `before` evaluates its pjit with compiled code: compare with the function run eagerly.
  auto eager = [](const Array& a) { return ((sin(a) * 2.0 + sin(-a) * 2.0) * 1.0) - 0.0; };
  CHECK(bits_equal(after(std::vector<Array>{x})[0], eager(x)));
  ClosedJaxpr optimized = passes::optimize(before);
  CHECK(optimized.str() ==
        "{ lambda ; a:f32[2,3]. let\n"
        "    b:f32[2,3] = neg a\n"
        "    c:f32[2,3] = sin b\n"
        "    d:f32[2,3] = mul c 2.0:f32[]\n"
        "    e:f32[2,3] = sin a\n"
        "    f:f32[2,3] = mul e 2.0:f32[]\n"
        "    g:f32[2,3] = add f d\n"
        "  in (g,) }");
  CHECK(bits_equal(optimized(std::vector<Array>{x})[0], eager(x)));
}

TEST_CASE("optimize: jit compiles the optimized jaxpr and still gives eager's bits") {
  Array x = specials({3, 4}), y = specials({3, 4}, 1);
  Array c = array(std::vector<float>(12, 1.0f), Shape{4, 3});
  auto f = [c](const Array& a, const Array& b) {
    Array t = transpose(transpose(a * 1.0 + (-0.0)) * c);
    Array u = reshape(reshape(b / 4.0, {12}), {3, 4}) - 0.0;
    return std::vector<Array>{t + 0.0, u * t, where(a > b, u, u), -(-a) / 1.0};
  };
  auto jf = jit(f);
  const ClosedJaxpr& lowered = jf.lower(x, y).jaxpr();
  CHECK(count(lowered, "transpose") == 0);
  CHECK(count(lowered, "reshape") == 0);
  CHECK(count(lowered, "div") == 0);
  CHECK(count(lowered, "select_n") == 0);
  CHECK(count(lowered, "neg") == 0);
  CHECK(count(lowered, "add") == 1);  // t + 0.0 stays
  auto eager = f(x, y);
  auto compiled = jf(x, y);
  REQUIRE(eager.size() == compiled.size());
  // Bits, except that a NaN may come out with another sign or payload: which operand's NaN an
  // operation on two NaNs returns is the code generator's choice, not the passes'.
  auto same = [](const Array& a, const Array& b) {
    if (!(a.aval() == b.aval())) return false;
    auto va = a.to_vector<float>(), vb = b.to_vector<float>();
    for (size_t i = 0; i < va.size(); ++i) {
      if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
      if (std::memcmp(&va[i], &vb[i], sizeof(float)) != 0) return false;
    }
    return true;
  };
  for (size_t i = 0; i < eager.size(); ++i) {
    INFO("output ", i, ": eager ", eager[i], " jit ", compiled[i]);
    CHECK(same(eager[i], compiled[i]));
  }
}
