// Batching of the elementwise primitives (core/prims/elementwise.h), through the public ops that
// bind them: vmap equals the loop over slices (check_vmap) with leading, middle, trailing and
// unmapped axes mixed across the operands, per-example 0-d operands (mapped and unmapped), output
// axes other than 0, several dtypes; select_n in every predicate/case combination; where the
// rules leave the batch axis (read from the rules directly); nested vmap against a double loop;
// vmap(grad) against a loop of grad, and grad through vmap against finite differences.
#include <array>
#include <functional>
#include <string>

#include "core/prims/elementwise.h"
#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using jx::testing::check_vmap;
using jx::testing::slice_along;
using jx::testing::VecFnV;

namespace {

constexpr int64_t kBatch = 4;

Array rnd(const Shape& shape, unsigned seed, DType dtype = float32, double lo = -2.0, double hi = 2.0) {
  if (dtype == DType::bool_) return jx::testing::uniform(shape, 0.0, 2.0, int32, seed).astype(DType::bool_);
  return jx::testing::uniform(shape, lo, hi, dtype, seed);
}

// A batched operand: per-example shape `example`, with a batch axis of kBatch inserted at `axis`
// (negative counts from the end of the batched shape), or the per-example value when unmapped.
Array operand(const Shape& example, std::optional<int> axis, unsigned seed, DType dtype, double lo, double hi) {
  Shape shape = example;
  if (axis) {
    int pos = *axis < 0 ? *axis + static_cast<int>(example.size()) + 1 : *axis;
    shape.insert(shape.begin() + pos, kBatch);
  }
  return rnd(shape, seed, dtype, lo, hi);
}

struct Range {
  double lo = -2.0, hi = 2.0;
};

// One layout of a binary op's operands: batch axis of each (nullopt: unmapped), whether each is
// 0-d per example, and the output batch axis.
struct BinaryCase {
  std::optional<int> ax, ay;
  bool x0d, y0d;
  int out;
};
const BinaryCase kBinaryCases[] = {
    {0, 0, false, false, 0},              // shared leading axis
    {1, 1, false, false, 1},              // shared middle axis, output there too
    {-1, -1, false, false, -1},           // shared trailing axis
    {0, 1, false, false, 0},              // different axes
    {-1, 0, false, false, 1},             //
    {1, std::nullopt, false, false, 0},   // y unmapped, same per-example shape
    {std::nullopt, -1, false, false, -1}, // x unmapped
    {std::nullopt, 1, false, false, 0},   //
    {1, 0, false, true, 1},               // y mapped, 0-d per example
    {-1, std::nullopt, false, true, 0},   // y unmapped 0-d
    {std::nullopt, 0, false, true, 0},    // x unmapped, y mapped 0-d
    {0, std::nullopt, true, false, -1},   // x mapped 0-d, y unmapped
    {0, 0, true, true, 0},                // both mapped 0-d
    {std::nullopt, 0, true, true, 0},     // x unmapped 0-d, y mapped 0-d
};

using BinaryOp = std::function<Array(const Array&, const Array&)>;
using UnaryOp = std::function<Array(const Array&)>;

void check_binary(const BinaryOp& op, DType dtype, Range rx = {}, Range ry = {}) {
  VecFnV f = [op](const std::vector<Array>& a) { return op(a[0], a[1]); };
  const Shape example{2, 3};
  unsigned seed = 10;
  for (const auto& c : kBinaryCases) {
    Array x = operand(c.x0d ? Shape{} : example, c.ax, seed++, dtype, rx.lo, rx.hi);
    Array y = operand(c.y0d ? Shape{} : example, c.ay, seed++, dtype, ry.lo, ry.hi);
    CAPTURE(x.aval().str());
    CAPTURE(y.aval().str());
    CAPTURE(c.out);
    check_vmap(f, {x, y}, {c.ax, c.ay}, c.out);
  }
}

// x per-example [2, 3] batched at axes 0, 1, -1 (outputs at 0 and -1), and per-example 0-d.
void check_unary(const UnaryOp& op, DType dtype, Range r = {}) {
  VecFnV f = [op](const std::vector<Array>& a) { return op(a[0]); };
  unsigned seed = 30;
  for (int in_axis : {0, 1, -1}) {
    for (int out_axis : {0, -1}) {
      Array x = operand({2, 3}, in_axis, seed++, dtype, r.lo, r.hi);
      CAPTURE(in_axis);
      CAPTURE(out_axis);
      check_vmap(f, {x}, {in_axis}, out_axis);
    }
  }
  check_vmap(f, {operand({}, 0, seed, dtype, r.lo, r.hi)}, {0});
}

// vmap(vmap(f, inner, {inner_out}), outer, {outer_out})(x, y) against the double loop over slices.
void check_nested(const BinaryOp& f, const Array& x, const Array& y, std::array<std::optional<int>, 2> outer,
                  std::array<std::optional<int>, 2> inner, int inner_out, int outer_out) {
  auto ax = [](std::optional<int> a) { return a ? Axis(*a) : Axis(none); };
  auto at = [](const Array& v, std::optional<int> a, int64_t i) { return a ? slice_along(v, *a, i) : v; };
  auto size = [](const Array& v, int a) { return v.shape()[a < 0 ? a + v.ndim() : a]; };
  auto inner_fn = vmap(f, {ax(inner[0]), ax(inner[1])}, {Axis(inner_out)});
  Array got = vmap(inner_fn, {ax(outer[0]), ax(outer[1])}, {Axis(outer_out)})(x, y);
  const int64_t n_out = outer[0] ? size(x, *outer[0]) : size(y, *outer[1]);
  std::vector<Array> rows;
  for (int64_t i = 0; i < n_out; ++i) {
    Array xi = at(x, outer[0], i), yi = at(y, outer[1], i);
    const int64_t n_in = inner[0] ? size(xi, *inner[0]) : size(yi, *inner[1]);
    std::vector<Array> cols;
    for (int64_t j = 0; j < n_in; ++j) cols.push_back(f(at(xi, inner[0], j), at(yi, inner[1], j)));
    rows.push_back(stack(cols, inner_out));
  }
  Array expected = stack(rows, outer_out);
  CAPTURE(got.aval().str());
  CAPTURE(expected.aval().str());
  REQUIRE(got.shape() == expected.shape());
  CHECK(got.dtype() == expected.dtype());
  auto [rtol, atol] = jx::testing::tolerance(expected.dtype());
  CHECK_ALLCLOSE_TOL(got, jx::testing::values(expected), rtol * 10, atol * 10);
}

// Calls a primitive's batching rule directly.
std::pair<std::vector<Array>, std::vector<BatchDim>> run_rule(const Primitive& prim, std::vector<Array> args,
                                                              std::vector<BatchDim> dims, const Params& params = {}) {
  return prim.def().batch(args, dims, params);
}

}  // namespace

// ---- where the rules leave the batch axis ----------------------------------------------------------

TEST_CASE("add: a shared batch axis stays where it is, unmapped 0-d operands are used as they are") {
  Array x = rnd({2, kBatch, 3}, 1), y = rnd({2, kBatch, 3}, 2), s = rnd({}, 3);
  auto [outs, dims] = run_rule(add_p, {x, y}, {1, 1});
  REQUIRE(outs.size() == 1);
  CHECK(outs[0].shape() == Shape{2, kBatch, 3});
  CHECK(dims[0] == BatchDim(1));
  CHECK_ALLCLOSE(outs[0], x + y);
  auto [outs2, dims2] = run_rule(add_p, {s, x}, {std::nullopt, 1});
  CHECK(outs2[0].shape() == Shape{2, kBatch, 3});
  CHECK(dims2[0] == BatchDim(1));
  CHECK_ALLCLOSE(outs2[0], x + s);
}

TEST_CASE("mul: operands with different batch axes meet at the front") {
  Array x = rnd({2, kBatch, 3}, 4), y = rnd({kBatch, 2, 3}, 5), u = rnd({2, 3}, 6), b = rnd({kBatch}, 7);
  auto [outs, dims] = run_rule(mul_p, {x, y}, {1, 0});
  CHECK(outs[0].shape() == Shape{kBatch, 2, 3});
  CHECK(dims[0] == BatchDim(0));
  CHECK_ALLCLOSE(outs[0], transpose(x, {1, 0, 2}) * y);
  // A mapped per-example 0-d operand meets an unmapped [2, 3] one: both gain the batch axis.
  auto [outs2, dims2] = run_rule(mul_p, {b, u}, {0, std::nullopt});
  CHECK(outs2[0].shape() == Shape{kBatch, 2, 3});
  CHECK(dims2[0] == BatchDim(0));
}

TEST_CASE("select_n: the rule keeps the cases' batch axis and broadcasts only what select_n needs") {
  Array a = rnd({2, 3, kBatch}, 8), b = rnd({2, 3, kBatch}, 9);
  Array p0 = Array(true), pb = rnd({kBatch}, 10, DType::bool_), pu = rnd({2, 3}, 11, DType::bool_);
  // Unmapped 0-d predicate, cases at axis 2: nothing moves.
  auto [o1, d1] = run_rule(select_n_p, {p0, a, b}, {std::nullopt, 2, 2});
  CHECK(o1[0].shape() == Shape{2, 3, kBatch});
  CHECK(d1[0] == BatchDim(2));
  CHECK_ALLCLOSE(o1[0], b);
  // Mapped 0-d predicate: broadcast along the cases' axis 2.
  auto [o2, d2] = run_rule(select_n_p, {pb, a, b}, {0, 2, 2});
  CHECK(o2[0].shape() == Shape{2, 3, kBatch});
  CHECK(d2[0] == BatchDim(2));
  // Unmapped [2, 3] predicate with the second case unmapped: batch axis of the first case.
  auto [o3, d3] = run_rule(select_n_p, {pu, a, rnd({2, 3}, 12)}, {std::nullopt, 2, std::nullopt});
  CHECK(o3[0].shape() == Shape{2, 3, kBatch});
  CHECK(d3[0] == BatchDim(2));
  // Mapped predicate of the cases' shape: its axis wins.
  auto [o4, d4] = run_rule(select_n_p, {rnd({2, kBatch, 3}, 13, DType::bool_), a, b}, {1, 2, 2});
  CHECK(o4[0].shape() == Shape{2, kBatch, 3});
  CHECK(d4[0] == BatchDim(1));
}

TEST_CASE("convert_element_type: the batch axis stays in place and the dtype changes") {
  Array x = rnd({2, 3, kBatch}, 14);
  auto [outs, dims] =
      run_rule(convert_element_type_p, {x}, {2}, Params{{"new_dtype", DType::int32}, {"weak_type", false}});
  CHECK(outs[0].shape() == Shape{2, 3, kBatch});
  CHECK(outs[0].dtype() == DType::int32);
  CHECK(dims[0] == BatchDim(2));
}

// ---- binary primitives --------------------------------------------------------------------------

TEST_CASE("add: vmap equals the loop for every mix of axes") {
  auto op = [](const Array& a, const Array& b) { return add(a, b); };
  for (DType dt : {float32, float64, int32}) {
    CAPTURE(std::string(dtype_name(dt)));
    check_binary(op, dt);
  }
}
TEST_CASE("sub: vmap equals the loop for every mix of axes") {
  auto op = [](const Array& a, const Array& b) { return subtract(a, b); };
  for (DType dt : {float32, int32}) check_binary(op, dt);
}
TEST_CASE("mul: vmap equals the loop for every mix of axes") {
  auto op = [](const Array& a, const Array& b) { return multiply(a, b); };
  for (DType dt : {float32, float64, int32}) check_binary(op, dt);
}
TEST_CASE("div: vmap equals the loop for every mix of axes") {
  check_binary([](const Array& a, const Array& b) { return divide(a, b); }, float32, {}, {0.5, 3.0});
  // Integer division truncates (lax level).
  check_binary([](const Array& a, const Array& b) { return bind1(div_p, {a, b}); }, int32, {-9, 9}, {1, 4});
}
TEST_CASE("rem: vmap equals the loop for every mix of axes") {
  auto op = [](const Array& a, const Array& b) { return bind1(rem_p, {a, b}); };
  check_binary(op, float32, {-5, 5}, {0.5, 3.0});
  check_binary(op, int32, {-9, 9}, {1, 4});
  check_binary([](const Array& a, const Array& b) { return mod(a, b); }, float64, {-5, 5}, {0.5, 3.0});
}
TEST_CASE("max: vmap equals the loop for every mix of axes") {
  for (DType dt : {float32, int32}) check_binary([](const Array& a, const Array& b) { return maximum(a, b); }, dt);
}
TEST_CASE("min: vmap equals the loop for every mix of axes") {
  for (DType dt : {float64, int32}) check_binary([](const Array& a, const Array& b) { return minimum(a, b); }, dt);
}
TEST_CASE("pow: vmap equals the loop for every mix of axes") {
  check_binary([](const Array& a, const Array& b) { return power(a, b); }, float32, {0.5, 2.0}, {-2.0, 2.0});
}
TEST_CASE("atan2: vmap equals the loop for every mix of axes") {
  check_binary([](const Array& a, const Array& b) { return arctan2(a, b); }, float64);
}

TEST_CASE("eq, ne, lt, le, gt, ge: vmap equals the loop with bool outputs") {
  const std::pair<const char*, BinaryOp> ops[] = {
      {"eq", [](const Array& a, const Array& b) { return equal(a, b); }},
      {"ne", [](const Array& a, const Array& b) { return not_equal(a, b); }},
      {"lt", [](const Array& a, const Array& b) { return less(a, b); }},
      {"le", [](const Array& a, const Array& b) { return less_equal(a, b); }},
      {"gt", [](const Array& a, const Array& b) { return greater(a, b); }},
      {"ge", [](const Array& a, const Array& b) { return greater_equal(a, b); }},
  };
  for (const auto& [name, op] : ops) {
    CAPTURE(name);
    // Small integers so that equal values occur.
    check_binary(op, int32, {-2, 2}, {-2, 2});
    check_binary(op, float32);
    check_binary(op, DType::bool_);
  }
}

TEST_CASE("and, or: vmap equals the loop on bools and (bitwise) integers") {
  for (DType dt : {DType::bool_, int32}) {
    CAPTURE(std::string(dtype_name(dt)));
    check_binary([](const Array& a, const Array& b) { return logical_and(a, b); }, dt, {-8, 8}, {-8, 8});
    check_binary([](const Array& a, const Array& b) { return logical_or(a, b); }, dt, {-8, 8}, {-8, 8});
  }
}

// ---- unary primitives ---------------------------------------------------------------------------

TEST_CASE("exp, log, ..., logistic: vmap equals the loop at axes 0, 1, -1 and for 0-d examples") {
  const Range any{-2, 2}, pos{0.5, 3.0}, unit{-0.9, 0.9};
  const std::tuple<const char*, UnaryOp, Range> ops[] = {
      {"exp", [](const Array& x) { return exp(x); }, any},
      {"log", [](const Array& x) { return log(x); }, pos},
      {"log1p", [](const Array& x) { return log1p(x); }, pos},
      {"expm1", [](const Array& x) { return expm1(x); }, any},
      {"sin", [](const Array& x) { return sin(x); }, any},
      {"cos", [](const Array& x) { return cos(x); }, any},
      {"tan", [](const Array& x) { return tan(x); }, unit},
      {"tanh", [](const Array& x) { return tanh(x); }, any},
      {"sinh", [](const Array& x) { return sinh(x); }, any},
      {"cosh", [](const Array& x) { return cosh(x); }, any},
      {"asin", [](const Array& x) { return arcsin(x); }, unit},
      {"acos", [](const Array& x) { return arccos(x); }, unit},
      {"atan", [](const Array& x) { return arctan(x); }, any},
      {"sqrt", [](const Array& x) { return sqrt(x); }, pos},
      {"rsqrt", [](const Array& x) { return rsqrt(x); }, pos},
      {"floor", [](const Array& x) { return floor(x); }, any},
      {"ceil", [](const Array& x) { return ceil(x); }, any},
      {"erf", [](const Array& x) { return erf(x); }, any},
      {"lgamma", [](const Array& x) { return lgamma(x); }, pos},
      {"digamma", [](const Array& x) { return digamma(x); }, pos},
      {"logistic", [](const Array& x) { return sigmoid(x); }, any},
  };
  for (const auto& [name, op, range] : ops) {
    CAPTURE(name);
    for (DType dt : {float32, float64}) {
      CAPTURE(std::string(dtype_name(dt)));
      check_unary(op, dt, range);
    }
  }
}

TEST_CASE("neg, abs, sign, square: vmap equals the loop on floats and integers") {
  const std::pair<const char*, UnaryOp> ops[] = {
      {"neg", [](const Array& x) { return negative(x); }},
      {"abs", [](const Array& x) { return abs(x); }},
      {"sign", [](const Array& x) { return sign(x); }},
      {"square", [](const Array& x) { return square(x); }},
  };
  for (const auto& [name, op] : ops) {
    CAPTURE(name);
    for (DType dt : {float32, int32}) check_unary(op, dt, {-5, 5});
  }
}

TEST_CASE("not: vmap equals the loop on bools and (bitwise) integers") {
  check_unary([](const Array& x) { return logical_not(x); }, DType::bool_);
  check_unary([](const Array& x) { return logical_not(x); }, int32, {-8, 8});
}

TEST_CASE("round: vmap equals the loop for both rounding methods") {
  // Halves occur: values on a 0.5 grid.
  auto halves = [](const UnaryOp& r) { return [r](const Array& x) { return r(floor(x * 4.0) * 0.5); }; };
  check_unary(halves([](const Array& x) { return round(x); }), float32, {-4, 4});  // half to even
  check_unary(halves([](const Array& x) { return bind1(round_p, {x}, Params{{"rounding_method", int64_t{0}}}); }),
              float64, {-4, 4});
}

TEST_CASE("is_finite: vmap equals the loop with infinities and NaNs present") {
  // log of values in [-1, 2) is NaN for negatives; floor(x + 1) is 0 on [-1, 0), so +-inf occur too.
  auto op = [](const Array& x) { return isfinite(log(x) / floor(x + 1.0)); };
  check_unary(op, float32, {-1, 2});
  check_unary(op, float64, {-1, 2});
}

TEST_CASE("integer_pow: vmap equals the loop for positive, zero and negative exponents") {
  for (int n : {3, 0, -2}) {
    CAPTURE(n);
    check_unary([n](const Array& x) { return lax::integer_pow(x, n); }, float32, {0.5, 2});
  }
  check_unary([](const Array& x) { return lax::integer_pow(x, 2); }, int32, {-5, 5});
}

TEST_CASE("convert_element_type: vmap equals the loop between float, integer and bool") {
  check_unary([](const Array& x) { return lax::convert_element_type(x, DType::int32); }, float32, {-5, 5});
  check_unary([](const Array& x) { return lax::convert_element_type(x, float64); }, int32, {-5, 5});
  check_unary([](const Array& x) { return lax::convert_element_type(x, float32); }, DType::bool_);
  check_unary([](const Array& x) { return lax::convert_element_type(x, DType::bool_); }, int32, {-2, 2});
}

TEST_CASE("stop_gradient: vmap equals the loop") {
  check_unary([](const Array& x) { return lax::stop_gradient(x); }, float32);
  check_unary([](const Array& x) { return lax::stop_gradient(x); }, int32, {-5, 5});
}

// ---- select_n ----------------------------------------------------------------------------------

TEST_CASE("select_n: vmap equals the loop for every predicate and case layout") {
  VecFnV sel = [](const std::vector<Array>& a) { return lax::select(a[0], a[1], a[2]); };
  const Shape ex{2, 3};
  struct Case {
    std::optional<int> ap, aa, ab;
    bool p0d, c0d;
    int out;
  };
  const std::optional<int> N = std::nullopt;
  const Case cases[] = {
      {0, 0, 0, false, false, 0},    // all at the front
      {1, 1, 1, false, false, -1},   // all in the middle
      {-1, 0, 1, false, false, 1},   // three different axes
      {N, 0, 0, true, false, 0},     // unmapped 0-d predicate, cases share the axis
      {N, -1, -1, true, false, 1},   //
      {N, 1, 0, true, false, 0},     // unmapped 0-d predicate, cases at different axes
      {N, N, -1, true, false, 0},    // unmapped 0-d predicate, one case unmapped
      {N, 1, N, false, false, -1},   // unmapped [2, 3] predicate
      {0, N, N, false, false, 1},    // only the predicate mapped
      {0, 1, 1, true, false, 0},     // mapped 0-d predicate, mapped cases
      {0, N, 0, true, false, -1},    // mapped 0-d predicate, one case unmapped
      {0, N, N, true, false, 1},     // mapped 0-d predicate, unmapped cases
      {0, N, N, true, true, 0},      // mapped 0-d predicate, unmapped 0-d cases
      {0, 0, N, true, true, 0},      // everything 0-d
      {N, 0, 0, true, true, 0},      // unmapped 0-d predicate, mapped 0-d cases
  };
  unsigned seed = 50;
  for (DType dt : {float32, int32, DType::bool_}) {
    CAPTURE(std::string(dtype_name(dt)));
    for (const auto& c : cases) {
      Array p = operand(c.p0d ? Shape{} : ex, c.ap, seed++, DType::bool_, 0, 1);
      Array a = operand(c.c0d ? Shape{} : ex, c.aa, seed++, dt, -5, 5);
      Array b = operand(c.c0d ? Shape{} : ex, c.ab, seed++, dt, -5, 5);
      CAPTURE(p.aval().str());
      CAPTURE(a.aval().str());
      CAPTURE(b.aval().str());
      CAPTURE(c.out);
      check_vmap(sel, {p, a, b}, {c.ap, c.aa, c.ab}, c.out);
    }
  }
}

TEST_CASE("select_n: int32 predicates choose among three cases (out-of-range clamped) under vmap") {
  VecFnV sel = [](const std::vector<Array>& a) { return bind1(select_n_p, {a[0], a[1], a[2], a[3]}); };
  Array p = rnd({3, kBatch}, 60, int32, -2, 4);  // -1 and 3 are clamped
  Array a = rnd({kBatch, 3}, 61), b = rnd({3}, 62), c = rnd({3, kBatch}, 63);
  check_vmap(sel, {p, a, b, c}, {1, 0, std::nullopt, -1});
  check_vmap(sel, {Array(int32_t{2}), a, b, c}, {std::nullopt, 0, std::nullopt, 1}, 1);
  check_vmap(sel, {rnd({kBatch}, 64, int32, 0, 3), a, b, c}, {0, 0, std::nullopt, 1}, -1);
}

TEST_CASE("select_n: where with a comparison predicate and a scalar constant equals the loop") {
  VecFnV f = [](const std::vector<Array>& a) { return where(a[0] > a[1], a[0] * 2.0, a[1]); };
  Array x = rnd({2, kBatch, 3}, 65), y = rnd({2, 3}, 66), ys = rnd({2, 3, kBatch}, 67);
  check_vmap(f, {x, y}, {1, std::nullopt}, 0);
  check_vmap(f, {x, ys}, {1, -1}, -1);
}

// ---- composition ---------------------------------------------------------------------------------

TEST_CASE("mul, sin, select_n: nested vmap equals the double loop") {
  // Per example x [2], y [2]; the outer vmap maps x at axis 1 and y at axis -1, the inner one both at 0.
  auto f = [](const Array& x, const Array& y) { return where(x > 0.0, sin(x) * y, x - y); };
  for (DType dt : {float32, float64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Array xs = rnd({5, 3, 2}, 70, dt), ys = rnd({5, 2, 3}, 71, dt);
    check_nested(f, xs, ys, {1, -1}, {0, 0}, 0, 0);
    check_nested(f, xs, ys, {1, -1}, {0, 0}, 0, -1);
  }
  auto g = [](const Array& x, const Array& y) { return maximum(x * y, x) - y; };
  check_nested(g, rnd({5, 3, 2}, 72, int32, -5, 5), rnd({5, 2, 3}, 73, int32, -5, 5), {1, -1}, {0, 0}, 0, 1);
}

TEST_CASE("mul, sin, select_n: nested vmap with an unmapped inner operand and inner out_axes 1") {
  // Needs the shape family's rules too: the inner batched jaxpr broadcasts the unmapped y and
  // moves its output axis (broadcast_in_dim, transpose under the outer vmap).
  auto f = [](const Array& x, const Array& y) { return where(x > 0.0, sin(x) * y, x - y); };
  Array xs = rnd({5, 3, 2}, 74, float64), ys = rnd({3, 2}, 75, float64);
  check_nested(f, xs, ys, {1, 0}, {0, std::nullopt}, 1, 0);
}

TEST_CASE("convert_element_type, integer_pow: nested vmap equals the double loop") {
  auto f = [](const Array& x, const Array&) {
    return lax::integer_pow(lax::convert_element_type(x, float64), 3) + 1.0;
  };
  // x [3, 2, 4]: outer axis -1 (4), inner axis 0 (3) of the [3, 2] rest; y is unused and unmapped.
  check_nested(f, rnd({3, 2, 4}, 76, float32), Array(1.0f), {-1, std::nullopt}, {0, std::nullopt}, 0, -1);
}

TEST_CASE("sin, mul, integer_pow: vmap(grad) equals a loop of grad") {
  // Per-example scalar functions, so the per-example gradient needs no reduction.
  auto f = [](const Array& x, const Array& w) { return sin(w * x) * x + lax::integer_pow(x, 3) / w; };
  VecFnV per_example = [f](const std::vector<Array>& a) { return grad(f)(a[0], a[1]); };
  Array xs = rnd({6}, 80, float64), w = rnd({}, 81, float64, 0.5, 2.0), ws = rnd({6}, 82, float64, 0.5, 2.0);
  check_vmap(per_example, {xs, w}, {0, std::nullopt});
  check_vmap(per_example, {xs, ws}, {0, 0});
  check_vmap(per_example, {w, ws}, {std::nullopt, 0});
  // Hand-computed: d/dx = w cos(w x) x + sin(w x) + 3 x^2 / w.
  Array g = vmap([f](const Array& x, const Array& v) { return grad(f)(x, v); }, {Axis(0), Axis(none)})(xs, w);
  CHECK_ALLCLOSE_TOL(g, jx::testing::values(w * cos(w * xs) * xs + sin(w * xs) + xs * xs * 3.0 / w), 1e-12, 1e-12);
}

TEST_CASE("select_n, max: vmap(grad) equals a loop of grad") {
  auto f = [](const Array& x, const Array& y) { return where(x > y, x * y, maximum(x, y * 0.5)) + tanh(y); };
  VecFnV gx = [f](const std::vector<Array>& a) { return std::get<0>(grad<0, 1>(f)(a[0], a[1])); };
  VecFnV gy = [f](const std::vector<Array>& a) { return std::get<1>(grad<0, 1>(f)(a[0], a[1])); };
  Array xs = rnd({7}, 83, float64), ys = rnd({7}, 84, float64), y = rnd({}, 85, float64);
  check_vmap(gx, {xs, ys}, {0, 0});
  check_vmap(gy, {xs, ys}, {0, 0});
  check_vmap(gx, {xs, y}, {0, std::nullopt});
  check_vmap(gy, {y, ys}, {std::nullopt, 0});
}

TEST_CASE("sin, mul, select_n: grad of a function that uses vmap inside matches finite differences") {
  // g(x, y) per example of x [3] and y [3]; x batched at axis 1, y at axis 0; the sum is outside.
  auto g = [](const Array& x, const Array& y) { return where(x > y, sin(x) * y, x * x - exp(y)); };
  jx::testing::VecFn F = [g](const std::vector<Array>& a) {
    return sum(vmap(g, {Axis(1), Axis(0)}, {Axis(-1)})(a[0], a[1]) * a[2]);
  };
  Array x = rnd({3, 4}, 90, float64), y = rnd({4, 3}, 91, float64), c = rnd({3, 4}, 92, float64);
  jx::testing::check_grads(F, {x, y, c}, /*order=*/2);
  // An unmapped operand gathers the gradient of every example.
  jx::testing::VecFn H = [](const std::vector<Array>& a) {
    return sum(vmap([](const Array& x, const Array& w) { return tanh(x * w) / (w * w + 1.0); },
                    {Axis(0), Axis(none)})(a[0], a[1]));
  };
  jx::testing::check_grads(H, {rnd({5, 3}, 93, float64), rnd({3}, 94, float64)}, /*order=*/2);
}
