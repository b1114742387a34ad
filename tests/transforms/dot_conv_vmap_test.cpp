// Batching rules of the contraction and window primitives: dot_general (and the linalg ops built
// on it), conv_general_dilated, reduce_window_{sum,max,min} (and max_pool / avg_pool). vmap
// against the loop over slices (check_vmap) for mapped/unmapped operands at leading, middle and
// trailing axes, nesting, and composition with grad.
#include "testing/check_grads.h"
#include "testing/check_vmap.h"

#include <sstream>

using namespace jx;
using testing::check_vmap;
using testing::uniform;
using Args = std::vector<Array>;
using InAxes = std::vector<std::optional<int>>;

namespace {

constexpr int64_t kB = 3;  // batch size used throughout

// A random operand whose per-example shape is `logical`, with a batch axis of size kB inserted at
// `axis` (negative counts from the end of the batched shape), or `logical` itself when unmapped.
Array batched(Shape logical, std::optional<int> axis, unsigned seed, DType dt = float64) {
  if (axis) {
    int rank = static_cast<int>(logical.size()) + 1;
    int a = *axis < 0 ? *axis + rank : *axis;
    logical.insert(logical.begin() + a, kB);
  }
  return uniform(logical, -1.0, 1.0, dt, seed);
}

// Every combination of the given per-operand axes (a nullopt entry = unmapped) with at least one
// operand mapped. For each operand, the axes are clamped to its batched rank.
std::vector<InAxes> axis_combos(const std::vector<Shape>& shapes, const std::vector<std::optional<int>>& choices) {
  std::vector<InAxes> out{{}};
  for (auto& s : shapes) {
    std::vector<InAxes> next;
    for (auto& prefix : out)
      for (auto c : choices) {
        if (c && (*c > static_cast<int>(s.size()) || *c < -static_cast<int>(s.size()) - 1)) continue;
        auto p = prefix;
        p.push_back(c);
        next.push_back(p);
      }
    out = next;
  }
  std::vector<InAxes> mapped;
  for (auto& c : out) {
    bool any = false;
    for (auto& a : c) any |= a.has_value();
    if (any) mapped.push_back(c);
  }
  return mapped;
}

std::string axes_str(const InAxes& axes) {
  std::string s = "in_axes (";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + (axes[i] ? std::to_string(*axes[i]) : "none");
  return s + ")";
}

// check_vmap of f over every axis combination of operands with the given per-example shapes,
// with out_axis 0 and the last output axis.
void check_all_axes(const testing::VecFnV& f, const std::vector<Shape>& shapes, DType dt = float64,
                    std::vector<std::optional<int>> choices = {std::nullopt, 0, 1, -1}) {
  int out_rank = -1;
  {
    Args example;
    for (size_t i = 0; i < shapes.size(); ++i) example.push_back(batched(shapes[i], std::nullopt, 1, dt));
    out_rank = static_cast<int>(f(example).ndim()) + 1;
  }
  unsigned seed = 10;
  for (auto& axes : axis_combos(shapes, choices)) {
    Args args;
    for (size_t i = 0; i < shapes.size(); ++i) args.push_back(batched(shapes[i], axes[i], seed++, dt));
    for (int out_axis : {0, out_rank - 1}) {
      INFO(axes_str(axes), ", out_axis ", out_axis);
      check_vmap(f, args, axes, out_axis);
    }
  }
}

Array dg(const Array& a, const Array& b, lax::DotDimensionNumbers d) {
  return lax::dot_general(a, b, d.contracting, d.batch);
}

}  // namespace

// ---- dot_general ----------------------------------------------------------------------------

TEST_CASE("dot_general: vmap equals the loop for every layout and mapped axis") {
  struct Case {
    const char* name;
    Shape lhs, rhs;
    lax::DotDimensionNumbers d;
  };
  std::vector<Case> cases = {
      {"matrix . matrix", {3, 4}, {4, 5}, {{{1}, {0}}, {{}, {}}}},
      {"leading batch dims", {2, 4, 3}, {2, 4, 5}, {{{1}, {1}}, {{0}, {0}}}},
      {"two contracting dims in swapped order", {4, 3, 2}, {2, 5, 4}, {{{0, 2}, {2, 0}}, {{}, {}}}},
      {"vector . vector (0-d result)", {4}, {4}, {{{0}, {0}}, {{}, {}}}},
      {"outer product (no contraction)", {3}, {2}, {{{}, {}}, {{}, {}}}},
      {"batch dims not leading", {3, 2, 4}, {4, 5, 2}, {{{2}, {0}}, {{1}, {2}}}},
      {"matrix . vector", {2, 4}, {4}, {{{1}, {0}}, {{}, {}}}},
  };
  for (auto& c : cases) {
    INFO(std::string(c.name));
    check_all_axes([d = c.d](const Args& a) { return dg(a[0], a[1], d); }, {c.lhs, c.rhs});
  }
}

TEST_CASE("dot_general: float32 (oneDNN path) and preferred_element_type batch like the loop") {
  lax::DotDimensionNumbers d{{{1}, {0}}, {{}, {}}};
  check_all_axes([d](const Args& a) { return dg(a[0], a[1], d); }, {{3, 4}, {4, 5}}, float32);
  check_all_axes(
      [](const Args& a) { return lax::dot_general(a[0], a[1], {{1}, {0}}, {{}, {}}, float64); }, {{3, 4}, {4, 2}},
      float32, {std::nullopt, 1});
}

TEST_CASE("dot_general: batching rule puts the batch axis where JAX does, with no transposes") {
  // Only the lhs mapped, at its axis 1 (between free dim 0 and contracting dim): the batch axis
  // is a free dim of the lhs and stays between the lhs free dims in the output.
  Array x = batched({2, 4}, 1, 1), y = batched({4, 5}, std::nullopt, 2);
  auto f = [](const Args& a) { return matmul(a[0], a[1]); };
  auto g = vmap(f, {Axis::list({1, none})}, {Axis(1)});
  Array got = g(Args{x, y});
  CHECK(got.shape() == Shape{2, kB, 5});
  auto jaxpr = make_jaxpr([&](const Array& p, const Array& q) { return g(Args{p, q}); })(x, y);
  std::ostringstream os;
  os << jaxpr;
  std::string text = os.str();
  INFO(text);
  CHECK(text.find("transpose") == std::string::npos);
  CHECK(text.find("broadcast") == std::string::npos);
  CHECK(text.find("dot_general") != std::string::npos);
}

// ---- conv_general_dilated -------------------------------------------------------------------

namespace {

struct ConvCase {
  const char* name;
  Shape lhs, rhs;
  std::vector<int64_t> strides;
  Padding padding;
  std::vector<int64_t> lhs_dilation, rhs_dilation;
  lax::ConvDimensionNumbers dn;
  int64_t groups;
};

testing::VecFnV conv_fn(const ConvCase& c) {
  return [c](const Args& a) {
    return lax::conv_general_dilated(a[0], a[1], c.strides, c.padding, c.lhs_dilation, c.rhs_dilation, c.dn,
                                     c.groups);
  };
}

std::vector<ConvCase> conv_cases() {
  return {
      {"NHWC/HWIO, stride 1, VALID", {2, 4, 4, 2}, {2, 2, 2, 3}, {1, 1}, "VALID", {}, {}, {"NHWC", "HWIO", "NHWC"}, 1},
      {"NCHW/OIHW, strides, explicit padding, lhs and rhs dilation",
       {1, 2, 5, 4},
       {2, 2, 2, 2},
       {2, 1},
       Padding({{1, 0}, {0, 2}}),
       {1, 2},
       {2, 1},
       {"NCHW", "OIHW", "NCHW"},
       1},
      {"feature groups 2, SAME", {2, 3, 3, 4}, {2, 2, 2, 4}, {1, 1}, "SAME", {}, {}, {"NHWC", "HWIO", "NHWC"}, 2},
      {"depthwise (groups = channels), 1-d, odd layouts", {3, 5, 2}, {6, 2, 1}, {1}, "SAME", {}, {}, {"CWN", "OWI", "WNC"}, 3},
  };
}

}  // namespace

TEST_CASE("conv_general_dilated: vmap equals the loop with lhs, rhs or both mapped") {
  for (auto& c : conv_cases()) {
    INFO(std::string(c.name));
    check_all_axes(conv_fn(c), {c.lhs, c.rhs});
  }
}

TEST_CASE("conv_general_dilated: float32 (oneDNN path) batches like the loop") {
  ConvCase c{"float32", {1, 4, 4, 4}, {3, 3, 2, 4}, {1, 1}, "SAME", {}, {}, {"NHWC", "HWIO", "NHWC"}, 2};
  check_all_axes(conv_fn(c), {c.lhs, c.rhs}, float32, {std::nullopt, 0, -1});
}

TEST_CASE("conv: jx::conv (NHWC/HWIO) under vmap with strides and dilation") {
  auto f = [](const Args& a) { return conv(a[0], a[1], {2, 1}, "SAME", {1, 2}); };
  check_all_axes(f, {{1, 5, 5, 2}, {2, 2, 2, 3}}, float64, {std::nullopt, 0, 2});
}

// ---- reduce_window_{sum,max,min}, max_pool, avg_pool ----------------------------------------

namespace {

Array window_with_dilation(const Primitive& prim, const Array& x) {
  return bind1(prim, {x},
               Params{{"window_dimensions", std::vector<int64_t>{2, 2}},
                      {"window_strides", std::vector<int64_t>{1, 2}},
                      {"padding", IntPairs{{1, 0}, {0, 1}}},
                      {"base_dilation", std::vector<int64_t>{2, 1}},
                      {"window_dilation", std::vector<int64_t>{1, 2}}});
}

}  // namespace

TEST_CASE("reduce_window: sum, max and min under vmap equal the loop") {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* name;
    lax::Monoid op;
    double init;
  };
  for (auto c : {Case{"sum", lax::Monoid::add, 0.0}, Case{"max", lax::Monoid::max, -inf},
                 Case{"min", lax::Monoid::min, inf}}) {
    INFO(std::string(c.name));
    check_all_axes(
        [c](const Args& a) {
          return lax::reduce_window(a[0], scalar(c.init, float64), c.op, {2, 3}, {1, 2}, Padding({{0, 1}, {1, 1}}));
        },
        {{4, 5}});
    check_all_axes(
        [c](const Args& a) { return lax::reduce_window(a[0], scalar(c.init, float64), c.op, {2, 1, 2}, {2, 1, 1}, "SAME"); },
        {{3, 2, 4}});
  }
}

TEST_CASE("reduce_window: base and window dilation are kept per example under vmap") {
  for (const Primitive* prim : {&reduce_window_sum_p, &reduce_window_max_p, &reduce_window_min_p}) {
    INFO(prim->name());
    check_all_axes([prim](const Args& a) { return window_with_dilation(*prim, a[0]); }, {{3, 5}});
  }
}

TEST_CASE("max_pool / avg_pool: vmap equals the loop at leading, middle and trailing axes") {
  check_all_axes([](const Args& a) { return max_pool(a[0], {2, 2}, {1, 2}, "SAME"); }, {{2, 4, 5, 2}}, float64,
                 {0, 2, -1});
  check_all_axes([](const Args& a) { return avg_pool(a[0], {2, 2}); }, {{1, 4, 4, 2}}, float64, {0, 1, -1});
  check_all_axes([](const Args& a) { return max_pool(a[0], {3}, {2}, "VALID"); }, {{2, 7, 3}}, float32, {0, -1});
}

// ---- linalg ops built on dot_general (these also use the shape/reduction families' rules) ---

TEST_CASE("matmul: vmap equals the loop for matrix, vector and batched operands") {
  auto f = [](const Args& a) { return matmul(a[0], a[1]); };
  check_all_axes(f, {{2, 3}, {3, 4}});
  check_all_axes(f, {{3}, {3, 4}});
  check_all_axes(f, {{2, 3}, {3}});
  check_all_axes(f, {{2, 2, 3}, {2, 3, 4}}, float64, {std::nullopt, 0, 2, -1});
  check_all_axes(f, {{2, 2, 3}, {3, 4}}, float64, {std::nullopt, 1, -1});
}

TEST_CASE("dot / outer / tensordot: vmap equals the loop") {
  check_all_axes([](const Args& a) { return dot(a[0], a[1]); }, {{2, 3}, {3, 4}});
  check_all_axes([](const Args& a) { return dot(a[0], a[1]); }, {{3}, {3}});
  check_all_axes([](const Args& a) { return outer(a[0], a[1]); }, {{3}, {2}});
  check_all_axes([](const Args& a) { return tensordot(a[0], a[1], 2); }, {{2, 3, 4}, {3, 4, 2}});
  check_all_axes([](const Args& a) { return tensordot(a[0], a[1], std::pair<Axes, Axes>{{0, 2}, {2, 0}}); },
                 {{4, 3, 2}, {2, 5, 4}});
}

TEST_CASE("einsum / trace: vmap equals the loop") {
  check_all_axes([](const Args& a) { return einsum("ij,jk->ik", {a[0], a[1]}); }, {{2, 3}, {3, 4}});
  check_all_axes([](const Args& a) { return einsum("bij,bjk->bki", {a[0], a[1]}); }, {{2, 2, 3}, {2, 3, 4}});
  check_all_axes([](const Args& a) { return einsum("ii->i", {a[0]}); }, {{3, 3}});
  check_all_axes([](const Args& a) { return einsum("ij->", {a[0]}); }, {{3, 2}});
  check_all_axes([](const Args& a) { return trace(a[0]); }, {{3, 3}});
  check_all_axes([](const Args& a) { return trace(a[0], 1, 0, 2); }, {{3, 2, 4}});
}

TEST_CASE("matmul: nested vmap(vmap(matmul)) equals the double loop") {
  // Outer vmap over lhs axis 0 and rhs axis -1; inner over lhs axis 1 (of the per-example lhs)
  // and an unmapped rhs... then both mapped.
  auto inner_one = [](const Args& a) {
    return vmap([](const Args& b) { return matmul(b[0], b[1]); }, {Axis::list({1, none})}, {Axis(-1)})(a);
  };
  check_vmap(inner_one, {batched({2, 4, 3}, 0, 1), batched({3, 5}, -1, 2)}, {0, -1}, 1);
  auto inner_both = [](const Args& a) {
    return vmap([](const Args& b) { return matmul(b[0], b[1]); }, {Axis::list({0, 2})})(a);
  };
  // Per outer example: lhs [4, 2, 3] mapped at 0, rhs [3, 5, 4] mapped at 2.
  check_vmap(inner_both, {batched({4, 2, 3}, 1, 3), batched({3, 5, 4}, 0, 4)}, {1, 0}, 0);
}

// ---- composition with grad --------------------------------------------------------------------

namespace {

// A small MLP's loss on one example x [3]: sum(tanh(tanh(x W1) W2)).
Array mlp_loss(const Array& w1, const Array& w2, const Array& x) {
  return sum(tanh(matmul(tanh(matmul(x, w1)), w2)));
}

}  // namespace

TEST_CASE("dot_general: vmap(grad(f)) gives per-example gradients equal to a loop of grad(f)") {
  Array w1 = batched({3, 4}, std::nullopt, 1), w2 = batched({4, 2}, std::nullopt, 2);
  Array xs = batched({3}, 0, 3);
  auto dw1 = [](const Args& a) { return grad<0>(mlp_loss)(a[0], a[1], a[2]); };
  auto dw2 = [](const Args& a) { return grad<1>(mlp_loss)(a[0], a[1], a[2]); };
  check_vmap(dw1, {w1, w2, xs}, {std::nullopt, std::nullopt, 0});
  check_vmap(dw2, {w1, w2, xs}, {std::nullopt, std::nullopt, 0}, 2);
  // Per-example gradients against per-example weights as well (both operands mapped).
  Array w1s = batched({3, 4}, 2, 4);
  check_vmap(dw1, {w1s, w2, xs}, {2, std::nullopt, 0}, 1);
  // And in float32, where the forward and backward matmuls go to oneDNN.
  check_vmap(dw1, {w1.astype(float32), w2.astype(float32), xs.astype(float32)}, {std::nullopt, std::nullopt, 0});
}

TEST_CASE("dot_general / conv / reduce_window: grad through a function using vmap matches finite differences") {
  // Batched matmul + tanh: derivatives to second order.
  testing::check_grads(
      [](const Args& a) {
        auto per_example = [](const Args& b) { return tanh(matmul(b[0], b[1])); };
        return sum(vmap(per_example, {Axis::list({0, none})})(Args{a[0], a[1]}) * a[0].shape()[0]);
      },
      {batched({2, 3}, 0, 5), batched({3, 2}, std::nullopt, 6)}, 2);
  // Per-example kernels (both conv operands mapped) then a max pool, to first order.
  testing::check_grads(
      [](const Args& a) {
        auto per_example = [](const Args& b) { return max_pool(tanh(conv(b[0], b[1], {1, 1}, "SAME")), {2, 2}); };
        return sum(vmap(per_example, {Axis::list({0, -1})})(Args{a[0], a[1]}));
      },
      {batched({1, 4, 4, 2}, 0, 7), batched({2, 2, 2, 2}, -1, 8)}, 1);
  // A sum window with an unmapped operand mapped by the other (vmap of the product).
  testing::check_grads(
      [](const Args& a) {
        auto per_example = [](const Args& b) { return avg_pool(b[0] * b[1], {2, 2}, {1, 1}); };
        return sum(sin(vmap(per_example, {Axis::list({1, none})})(Args{a[0], a[1]})));
      },
      {batched({1, 3, 3, 2}, 1, 9), batched({1, 3, 3, 2}, std::nullopt, 10)}, 2);
}

TEST_CASE("conv_general_dilated / dot_general / reduce_window: vmap over zero examples gives empty results") {
  auto cv = [](const Args& a) { return conv(a[0], a[1], {1, 1}, "VALID"); };
  Array x0 = zeros({0, 1, 4, 4, 2}, float64), w0 = zeros({2, 2, 2, 3, 0}, float64);
  Array x = batched({1, 4, 4, 2}, std::nullopt, 1), w = batched({2, 2, 2, 3}, std::nullopt, 2);
  CHECK(vmap(cv, {Axis::list({0, none})})(Args{x0, w}).shape() == Shape{0, 1, 3, 3, 3});
  CHECK(vmap(cv, {Axis::list({none, -1})})(Args{x, w0}).shape() == Shape{0, 1, 3, 3, 3});
  CHECK(vmap(cv, {Axis::list({0, -1})}, {Axis(-1)})(Args{x0, w0}).shape() == Shape{1, 3, 3, 3, 0});
  auto mm = [](const Args& a) { return matmul(a[0], a[1]); };
  CHECK(vmap(mm, {Axis::list({0, none})})(Args{zeros({0, 2, 3}, float64), zeros({3, 4}, float64)}).shape() ==
        Shape{0, 2, 4});
  auto mp = [](const Args& a) { return max_pool(a[0], {2, 2}); };
  CHECK(vmap(mp, {Axis::list({1})})(Args{zeros({1, 0, 4, 4, 2}, float64)}).shape() == Shape{0, 1, 2, 2, 2});
}
