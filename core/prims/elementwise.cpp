// Elementwise primitives: shape/dtype rules, and the numpy-level ops built on them
// (promotion, broadcasting, operators). Kernels: backends/cpu/elementwise.cpp.

#include "core/prims/elementwise.h"

#include "core/ops.h"
#include "core/trace.h"
#include "core/rules.h"

namespace jx {
namespace detail {

bool any_dtype(DType) { return true; }
bool numeric_dtype(DType d) { return d != DType::bool_; }
bool float_dtype(DType d) { return is_floating(d); }
bool int_or_bool_dtype(DType d) { return !is_floating(d); }
bool signed_or_float_dtype(DType d) { return is_floating(d) || is_signed_integer(d); }

PrimitiveBuilder elementwise_unary(const std::string& name, DTypePredicate allowed, const char* what) {
  PrimitiveBuilder b(name);
  b.shape_rule([name, allowed, what](std::span<const AbstractValue> in, const Params&) {
    JX_CHECK(in.size() == 1, name, " takes one operand");
    if (!allowed(in[0].dtype)) {
      throw_error<DTypeError>("[", name, "] needs ", what, " operand, got ", in[0].str());
    }
    return std::vector<AbstractValue>{in[0]};
  });
  // Registry sweep samples in the first dtype family the primitive accepts.
  DType d = allowed(DType::float32) ? DType::float32 : allowed(DType::int32) ? DType::int32 : DType::bool_;
  b.sample({AbstractValue{d, {5}}});
  b.sample({AbstractValue{d == DType::float32 ? DType::float64 : d, {2, 3}}});
  b.sample({AbstractValue{d, {}}});
  return b;
}

PrimitiveBuilder elementwise_binary(const std::string& name, DTypePredicate allowed, const char* what,
                                    std::optional<DType> out_dtype) {
  PrimitiveBuilder b(name);
  b.shape_rule([name, allowed, what, out_dtype](std::span<const AbstractValue> in, const Params&) {
    JX_CHECK(in.size() == 2, name, " takes two operands");
    const auto& a = in[0];
    const auto& c = in[1];
    if (a.dtype != c.dtype) {
      throw_error<DTypeError>("[", name, "] operands must have the same dtype, got ", a.str(), " and ", c.str());
    }
    if (!allowed(a.dtype)) {
      throw_error<DTypeError>("[", name, "] needs ", what, " operands, got ", a.str(), " and ", c.str());
    }
    if (a.shape != c.shape && a.ndim() != 0 && c.ndim() != 0) {
      throw_error<ShapeError>("[", name, "] operands must have the same shape (or one be 0-d), got ", a.str(),
                              " and ", c.str());
    }
    AbstractValue out{out_dtype.value_or(a.dtype), a.ndim() == 0 ? c.shape : a.shape,
                      !out_dtype && a.weak_type && c.weak_type};
    return std::vector<AbstractValue>{out};
  });
  // Registry sweep samples: equal shapes, and a 0-d operand on either side.
  DType d = allowed(DType::float32) ? DType::float32 : allowed(DType::int32) ? DType::int32 : DType::bool_;
  DType d64 = d == DType::float32 ? DType::float64 : d;
  b.sample({AbstractValue{d, {4}}, AbstractValue{d, {4}}});
  b.sample({AbstractValue{d64, {2, 3}}, AbstractValue{d64, {}}});
  b.sample({AbstractValue{d64, {}}, AbstractValue{d64, {3}}});
  return b;
}

TypeInfo result_type(std::span<const Array> args) {
  JX_CHECK(!args.empty(), "result_type of no arguments");
  TypeInfo t{args[0].dtype(), args[0].weak_type()};
  for (size_t i = 1; i < args.size(); ++i) t = promote_types(t, TypeInfo{args[i].dtype(), args[i].weak_type()});
  return t;
}

Array convert(const Array& x, TypeInfo t) {
  if (x.dtype() == t.dtype && x.weak_type() == t.weak) return x;
  Params params{{"new_dtype", t.dtype}, {"weak_type", t.weak}};
  // A concrete weak scalar (a C++ number) converts on the host, as JAX converts a Python
  // scalar with numpy: `x_f32 * 2.0` stages `mul a 2.0:f32[]`, not a convert equation.
  if (!x.is_tracer() && x.weak_type() && x.ndim() == 0) {
    return detail::convert_weak_scalar(x, t.dtype, t.weak);
  }
  return bind1(convert_element_type_p, {x}, params);
}

Array broadcast_to_shape(const Array& x, const Shape& shape, bool keep_scalars) {
  if (x.shape() == shape || (keep_scalars && x.ndim() == 0)) return x;
  std::vector<int64_t> dims;
  int64_t offset = static_cast<int64_t>(shape.size()) - x.ndim();
  for (int64_t i = 0; i < x.ndim(); ++i) dims.push_back(i + offset);
  // broadcast_in_dim allows size-1 input dims to expand.
  return lax::broadcast_in_dim(x, shape, dims);
}

std::vector<Array> promote_and_broadcast(const char* op, std::vector<Array> args, bool keep_scalars) {
  for (auto& a : args) {
    if (!a.defined()) throw_error<ValueError>("[", op, "] an operand is an undefined Array");
  }
  TypeInfo t = result_type(args);
  AbstractValue acc = args[0].aval();
  for (size_t i = 1; i < args.size(); ++i) acc.shape = broadcast_shapes(op, acc, args[i].aval());
  for (auto& a : args) a = broadcast_to_shape(convert(a, t), acc.shape, keep_scalars);
  return args;
}

std::vector<Array> promote_to_inexact(const char* op, std::vector<Array> args, bool keep_scalars) {
  args = promote_and_broadcast(op, std::move(args), keep_scalars);
  if (!is_floating(args[0].dtype())) {
    bool weak = args[0].weak_type();
    for (auto& a : args) a = convert(a, TypeInfo{default_float, weak});
  }
  return args;
}

std::vector<Array> promote_numeric(const char* op, std::vector<Array> args, bool keep_scalars) {
  args = promote_and_broadcast(op, std::move(args), keep_scalars);
  if (args[0].dtype() == DType::bool_) {
    for (auto& a : args) a = convert(a, TypeInfo{default_int, false});
  }
  return args;
}

}  // namespace detail

using namespace detail;

// ---- primitives ------------------------------------------------------------------------------

namespace {
PrimitiveBuilder float_unary(const std::string& name) { return elementwise_unary(name, float_dtype, "a floating-point"); }
PrimitiveBuilder numeric_unary(const std::string& name) { return elementwise_unary(name, numeric_dtype, "a numeric"); }
PrimitiveBuilder comparison(const std::string& name) {
  return elementwise_binary(name, any_dtype, "any", DType::bool_);
}

// ---- helpers for the AD rules: lax-level binds on operands of one dtype (0-d operands
// broadcast), so every rule is itself differentiable and traceable. An undefined Array is a
// symbolic zero.

// A 0-d constant with the dtype (and weakness) of `like`.
Array cst(double v, const Array& like) { return scalar_array(v, like.dtype(), like.weak_type()); }
Array ladd(const Array& a, const Array& b) { return bind1(add_p, {a, b}); }
Array lsub(const Array& a, const Array& b) { return bind1(sub_p, {a, b}); }
Array lmul(const Array& a, const Array& b) { return bind1(mul_p, {a, b}); }
Array ldiv(const Array& a, const Array& b) { return bind1(div_p, {a, b}); }
Array lneg(const Array& a) { return bind1(neg_p, {a}); }
Array lsquare(const Array& a) { return bind1(square_p, {a}); }
Array leq(const Array& a, const Array& b) { return bind1(eq_p, {a, b}); }
Array lipow(const Array& a, int64_t y) { return bind1(integer_pow_p, {a}, Params{{"y", y}}); }
// `t` broadcast to `shape` (a 0-d operand of a binary primitive meets a full-shape one).
Array fit(const Array& t, const Shape& shape) {
  if (!t.defined() || t.shape() == shape) return t;
  return lax::broadcast_in_dim(t, shape, {});
}
// select_n(pred, on_false, on_true) with 0-d cases broadcast to the common shape.
Array lselect(const Array& pred, const Array& on_false, const Array& on_true) {
  Shape shape = pred.shape();
  if (on_false.ndim() != 0) shape = on_false.shape();
  if (on_true.ndim() != 0) shape = on_true.shape();
  return bind1(select_n_p, {pred, fit(on_false, shape), fit(on_true, shape)});
}
// 1.0 where the bool `p` holds, else 0.0, in `like`'s dtype.
Array indicator(const Array& p, const Array& like) { return convert(p, TypeInfo{like.dtype(), like.weak_type()}); }
// x with zeros replaced by ones (JAX's _replace_zero: keeps the untaken branch of a select finite).
Array replace_zero(const Array& x) { return lselect(leq(x, cst(0, x)), x, cst(1, x)); }

std::vector<Array> zero_tangents(std::span<const Array> outputs) { return std::vector<Array>(outputs.size()); }
// JVP of an integer-valued (or bool-valued) primitive: a zero tangent for every output.
JvpRule zero_jvp() {
  return [](std::span<const Array>, std::span<const Array>, std::span<const Array> outputs, const Params&) {
    return zero_tangents(outputs);
  };
}
// JVP of a unary primitive from (t, x, y = f(x)); integer outputs get a zero tangent.
using UnaryJvp = std::function<Array(const Array& t, const Array& x, const Array& y)>;
JvpRule unary_jvp(UnaryJvp rule) {
  return [rule](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params&) -> std::vector<Array> {
    if (!is_floating(outputs[0].dtype()) || !tangents[0].defined()) return zero_tangents(outputs);
    return {rule(tangents[0], primals[0], outputs[0])};
  };
}
// JVP of a binary primitive: the sum of the contributions rule_x(tx, x, y, z) and
// rule_y(ty, x, y, z) of the defined tangents, at the output's shape.
using BinaryJvp = std::function<Array(const Array& t, const Array& x, const Array& y, const Array& z)>;
JvpRule binary_jvp(BinaryJvp rule_x, BinaryJvp rule_y) {
  return [rule_x, rule_y](std::span<const Array> primals, std::span<const Array> tangents,
                          std::span<const Array> outputs, const Params&) -> std::vector<Array> {
    const Array& z = outputs[0];
    if (!is_floating(z.dtype())) return zero_tangents(outputs);
    Array dx, dy;
    if (tangents[0].defined()) dx = fit(rule_x(tangents[0], primals[0], primals[1], z), z.shape());
    if (tangents[1].defined()) dy = fit(rule_y(tangents[1], primals[0], primals[1], z), z.shape());
    return {add_tangents(dx, dy)};
  };
}
// The cotangent of linear input i of a binary primitive, summed back to a 0-d operand's shape.
Array ct_for_input(const Array& ct, size_t i) { return unbroadcast(ct, transpose_input_aval(i)); }

// max/min: the gradient goes to the operand equal to the result, split evenly on ties (JAX's
// _balanced_eq): [x == z] / (1 + [y == z]).
Array balanced_eq(const Array& x, const Array& z, const Array& y) {
  return ldiv(indicator(leq(x, z), z), ladd(cst(1, z), indicator(leq(y, z), z)));
}

// polygamma(1, x), from jx ops so that it is differentiable itself: for x >= 0.5, shift by 8
// with psi1(x) = psi1(x + 1) + 1/x^2 and use the asymptotic series
// psi1(w) ~ 1/w + 1/(2w^2) + sum_k B_2k / w^(2k+1) (relative error ~1e-12 for w >= 8.5);
// for x < 0.5 the reflection psi1(x) = pi^2 / sin^2(pi x) - psi1(1 - x).
Array trigamma(const Array& x) {
  constexpr double pi = 3.14159265358979323846;
  Array reflect = bind1(lt_p, {x, cst(0.5, x)});
  Array z = lselect(reflect, x, lsub(cst(1, x), x));  // z >= 0.5
  Array acc = lipow(z, -2);
  for (int k = 1; k < 8; ++k) acc = ladd(acc, lipow(ladd(z, cst(k, x)), -2));
  Array r = lipow(ladd(z, cst(8, x)), -1);
  Array r2 = lsquare(r);
  const double bernoulli[] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730};
  Array poly = cst(bernoulli[5], x);
  for (int k = 4; k >= 0; --k) poly = ladd(cst(bernoulli[k], x), lmul(r2, poly));
  Array series = ladd(ladd(r, lmul(cst(0.5, x), r2)), lmul(lmul(r, r2), poly));
  Array psi1_z = ladd(acc, series);
  // The reflected branch at a safe point where it is not taken (keeps its derivatives finite).
  Array x_safe = lselect(reflect, cst(0.25, x), x);
  Array s = bind1(sin_p, {lmul(cst(pi, x), x_safe)});
  Array reflected = lsub(ldiv(cst(pi * pi, x), lsquare(s)), psi1_z);
  return lselect(reflect, psi1_z, reflected);
}

// ---- batching rules (vmap) --------------------------------------------------------------------

// The generic elementwise batching rule (core/rules.h) of the primitive at `prim`, looked up when
// the rule runs: a primitive's own builder chain names it before it is constructed.
BatchRule ew_batch(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& params) {
    return elementwise_batch_rule(*prim)(args, dims, params);
  };
}

// select_n(pred, *cases), as JAX's _select_batch_rule: per example, pred is 0-d or has the cases'
// shape. An unmapped 0-d predicate is used as it is. The output keeps the batch axis of the
// predicate when it has the cases' per-example shape, else that of the first mapped case; the
// other operands move there (unmapped ones are broadcast, as select_n needs operands of one
// shape). A mapped predicate of 0-d examples meeting non-0-d cases is broadcast along that axis.
std::pair<std::vector<Array>, std::vector<BatchDim>> select_n_batch_rule(std::span<const Array> args,
                                                                        std::span<const BatchDim> dims,
                                                                        const Params& params) {
  const int64_t size = batch_size(args, dims);
  const int64_t pred_rank = args[0].ndim() - (dims[0] ? 1 : 0);  // per-example ranks
  const int64_t case_rank = args[1].ndim() - (dims[1] ? 1 : 0);
  BatchDim d;
  if (dims[0] && pred_rank == case_rank) d = dims[0];
  for (size_t i = 1; i < args.size() && !d; ++i) d = dims[i];
  const int64_t to = d.value_or(0);
  std::vector<Array> moved{args[0]};
  for (size_t i = 1; i < args.size(); ++i) moved.push_back(move_batch_axis(args[i], dims[i], to, size));
  if (dims[0] && pred_rank == 0 && case_rank > 0) {
    moved[0] = lax::broadcast_in_dim(args[0], moved[1].shape(), {to});
  } else if (dims[0] || args[0].ndim() != 0) {
    moved[0] = move_batch_axis(args[0], dims[0], to, size);
  }
  return {jx::bind(select_n_p, moved, params), {BatchDim(to)}};
}
}  // namespace

// Binary arithmetic (lax.add, lax.sub, ...): numeric operands of one dtype.
// add and sub are linear: d(x + y) = dx + dy; the transpose hands the cotangent to both.
const Primitive add_p =
    elementwise_binary("add", numeric_dtype, "numeric")
        .jvp(binary_jvp([](const Array& t, const Array&, const Array&, const Array&) { return t; },
                        [](const Array& t, const Array&, const Array&, const Array&) { return t; }))
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool> linear,
                      const Params&) {
          std::vector<Array> out(2);
          for (size_t i = 0; i < 2; ++i)
            if (linear[i]) out[i] = ct_for_input(cts[0], i);
          return out;
        })
        .batch(ew_batch(&add_p)).build();
const Primitive sub_p =
    elementwise_binary("sub", numeric_dtype, "numeric")
        .jvp([](std::span<const Array>, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params&) -> std::vector<Array> {
          const Array& z = outputs[0];
          if (!is_floating(z.dtype())) return zero_tangents(outputs);
          if (tangents[0].defined() && tangents[1].defined()) return {lsub(tangents[0], tangents[1])};
          return {tangents[0].defined() ? fit(tangents[0], z.shape()) : fit(lneg(tangents[1]), z.shape())};
        })
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool> linear,
                      const Params&) {
          std::vector<Array> out(2);
          if (!cts[0].defined()) return out;
          if (linear[0]) out[0] = ct_for_input(cts[0], 0);
          if (linear[1]) out[1] = ct_for_input(lneg(cts[0]), 1);
          return out;
        })
        .batch(ew_batch(&sub_p)).build();
// d(x y) = dx y + x dy; linear in either operand (never both, in a linear jaxpr).
const Primitive mul_p =
    elementwise_binary("mul", numeric_dtype, "numeric")
        .jvp(binary_jvp([](const Array& t, const Array&, const Array& y, const Array&) { return lmul(t, y); },
                        [](const Array& t, const Array& x, const Array&, const Array&) { return lmul(x, t); }))
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                      const Params&) {
          JX_CHECK(!(linear[0] && linear[1]), "mul transposed with both operands linear");
          std::vector<Array> out(2);
          if (!cts[0].defined()) return out;
          if (linear[0]) out[0] = ct_for_input(lmul(cts[0], args[1]), 0);
          if (linear[1]) out[1] = ct_for_input(lmul(args[0], cts[0]), 1);
          return out;
        })
        .batch(ew_batch(&mul_p)).build();
// Integer division truncates toward zero (C and XLA); x / 0 gives 0 instead of trapping.
// d(x / y) = dx / y - dy x / y^2; linear in the numerator.
const Primitive div_p =
    elementwise_binary("div", numeric_dtype, "numeric")
        .jvp(binary_jvp([](const Array& t, const Array&, const Array& y, const Array&) { return ldiv(t, y); },
                        [](const Array& t, const Array& x, const Array& y, const Array&) {
                          return lmul(lmul(lneg(t), x), lipow(y, -2));
                        }))
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                      const Params&) {
          JX_CHECK(!linear[1], "div transposed with a linear denominator (div is not linear in it)");
          std::vector<Array> out(2);
          if (cts[0].defined() && linear[0]) out[0] = ct_for_input(ldiv(cts[0], args[1]), 0);
          return out;
        })
        .batch(ew_batch(&div_p)).build();
// Remainder with the sign of the dividend (C fmod / XLA rem); integer x % 0 gives 0.
// rem(x, y) = x - y trunc(x / y): d = dx - dy trunc(x / y), as JAX.
const Primitive rem_p =
    elementwise_binary("rem", numeric_dtype, "numeric")
        .jvp(binary_jvp([](const Array& t, const Array&, const Array&, const Array&) { return t; },
                        [](const Array& t, const Array& x, const Array& y, const Array&) {
                          Array q = ldiv(x, y);
                          Array trunc = lmul(bind1(sign_p, {q}), bind1(floor_p, {bind1(abs_p, {q})}));
                          return lmul(lneg(t), trunc);
                        }))
        .batch(ew_batch(&rem_p)).build();
// max/min propagate NaN, as XLA. The gradient is split evenly between equal operands (JAX).
const Primitive max_p =
    elementwise_binary("max", any_dtype, "any")
        .jvp(binary_jvp(
            [](const Array& t, const Array& x, const Array& y, const Array& z) { return lmul(t, balanced_eq(x, z, y)); },
            [](const Array& t, const Array& x, const Array& y, const Array& z) { return lmul(t, balanced_eq(y, z, x)); }))
        .batch(ew_batch(&max_p)).build();
const Primitive min_p =
    elementwise_binary("min", any_dtype, "any")
        .jvp(binary_jvp(
            [](const Array& t, const Array& x, const Array& y, const Array& z) { return lmul(t, balanced_eq(x, z, y)); },
            [](const Array& t, const Array& x, const Array& y, const Array& z) { return lmul(t, balanced_eq(y, z, x)); }))
        .batch(ew_batch(&min_p)).build();
// d x^y = dx (y == 0 ? 0 : y x^(y-1)) + dy log(x) x^y, with log(0) read as log(1) (JAX).
const Primitive pow_p =
    elementwise_binary("pow", float_dtype, "floating-point")
        .jvp(binary_jvp(
            [](const Array& t, const Array& x, const Array& y, const Array&) {
              Array jac = lmul(replace_zero(y), bind1(pow_p, {x, lsub(y, cst(1, y))}));
              return lmul(t, lselect(leq(y, cst(0, y)), jac, cst(0, y)));
            },
            [](const Array& t, const Array& x, const Array&, const Array& z) {
              return lmul(t, lmul(bind1(log_p, {replace_zero(x)}), z));
            }))
        .batch(ew_batch(&pow_p)).build();
// d atan2(x, y) = (y dx - x dy) / (x^2 + y^2).
const Primitive atan2_p =
    elementwise_binary("atan2", float_dtype, "floating-point")
        .jvp(binary_jvp(
            [](const Array& t, const Array& x, const Array& y, const Array&) {
              return lmul(t, ldiv(y, ladd(lsquare(x), lsquare(y))));
            },
            [](const Array& t, const Array& x, const Array& y, const Array&) {
              return lmul(t, ldiv(lneg(x), ladd(lsquare(x), lsquare(y))));
            }))
        .batch(ew_batch(&atan2_p)).build();

// Comparisons and logical ops have bool (or integer) outputs: zero tangents.
const Primitive eq_p = comparison("eq").jvp(zero_jvp()).batch(ew_batch(&eq_p)).build();
const Primitive ne_p = comparison("ne").jvp(zero_jvp()).batch(ew_batch(&ne_p)).build();
const Primitive lt_p = comparison("lt").jvp(zero_jvp()).batch(ew_batch(&lt_p)).build();
const Primitive le_p = comparison("le").jvp(zero_jvp()).batch(ew_batch(&le_p)).build();
const Primitive gt_p = comparison("gt").jvp(zero_jvp()).batch(ew_batch(&gt_p)).build();
const Primitive ge_p = comparison("ge").jvp(zero_jvp()).batch(ew_batch(&ge_p)).build();
const Primitive and_p = elementwise_binary("and", int_or_bool_dtype, "bool or integer").jvp(zero_jvp()).batch(ew_batch(&and_p)).build();
const Primitive or_p = elementwise_binary("or", int_or_bool_dtype, "bool or integer").jvp(zero_jvp()).batch(ew_batch(&or_p)).build();
const Primitive not_p = elementwise_unary("not", int_or_bool_dtype, "a bool or integer").jvp(zero_jvp()).batch(ew_batch(&not_p)).build();

// Bit operations (lax.bitwise_xor, lax.shift_*): integer results, so zero tangents.
namespace {
bool integer_dtype(DType d) { return !is_floating(d) && d != DType::bool_; }
}  // namespace
const Primitive xor_p = elementwise_binary("xor", int_or_bool_dtype, "bool or integer").jvp(zero_jvp()).batch(ew_batch(&xor_p))
                            .sample({AbstractValue{DType::uint32, {4}, false}, AbstractValue{DType::uint32, {4}, false}})
                            .build();
const Primitive shift_left_p = elementwise_binary("shift_left", integer_dtype, "integer").jvp(zero_jvp()).batch(ew_batch(&shift_left_p))
                                   .sample({AbstractValue{DType::int32, {4}, false}, AbstractValue{DType::int32, {}, false}})
                                   .build();
const Primitive shift_right_logical_p =
    elementwise_binary("shift_right_logical", integer_dtype, "integer").jvp(zero_jvp()).batch(ew_batch(&shift_right_logical_p))
        .sample({AbstractValue{DType::uint32, {2, 3}, false}, AbstractValue{DType::uint32, {2, 3}, false}})
        .build();
const Primitive shift_right_arithmetic_p =
    elementwise_binary("shift_right_arithmetic", integer_dtype, "integer").jvp(zero_jvp()).batch(ew_batch(&shift_right_arithmetic_p))
        .sample({AbstractValue{DType::int64, {3}, false}, AbstractValue{DType::int64, {3}, false}})
        .build();

// bitcast_convert_type: same shape, new dtype of the same width. Its "derivative" would relate
// bit patterns, so the tangent is zero (as JAX, whose JVP is zero for integer outputs and which
// we extend to float outputs: a bitcast float is not a smooth function of its input).
const Primitive bitcast_convert_type_p =
    PrimitiveBuilder("bitcast_convert_type")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 1, "bitcast_convert_type takes one operand");
          const DType to = p.get<DType>("new_dtype");
          if (in[0].dtype == DType::bool_ || to == DType::bool_) {
            throw_error<DTypeError>("[bitcast_convert_type] bool cannot be bitcast, got ", in[0].str(), " to ",
                                    dtype_name(to));
          }
          if (itemsize(in[0].dtype) != itemsize(to)) {
            throw_error<DTypeError>("[bitcast_convert_type] needs types of the same bit width, got ", in[0].str(),
                                    " (", 8 * itemsize(in[0].dtype), " bits) to ", dtype_name(to), " (",
                                    8 * itemsize(to), " bits)");
          }
          return std::vector<AbstractValue>{AbstractValue{to, in[0].shape, false}};
        })
        .jvp(zero_jvp())
        .batch(ew_batch(&bitcast_convert_type_p))
        .sample({AbstractValue{DType::float32, {4}, false}}, Params{{"new_dtype", DType::uint32}})
        .sample({AbstractValue{DType::float64, {2, 2}, false}}, Params{{"new_dtype", DType::int64}})
        .build();

// neg is linear: d(-x) = -dx, and its transpose is itself.
const Primitive neg_p = numeric_unary("neg")
                            .jvp(unary_jvp([](const Array& t, const Array&, const Array&) { return lneg(t); }))
                            .transpose([](std::span<const Array> cts, std::span<const Array>,
                                          std::span<const bool>, const Params&) {
                              return std::vector<Array>{cts[0].defined() ? lneg(cts[0]) : Array()};
                            })
                            .batch(ew_batch(&neg_p)).build();
// sign is piecewise constant: zero tangent (as JAX).
const Primitive sign_p = numeric_unary("sign").jvp(zero_jvp()).batch(ew_batch(&sign_p)).build();
// d x^2 = 2 x dx.
const Primitive square_p =
    numeric_unary("square")
        .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) { return lmul(t, lmul(cst(2, x), x)); }))
        .batch(ew_batch(&square_p)).build();
// d |x| = (x >= 0 ? dx : -dx), so the derivative at 0 is 1 (as JAX).
const Primitive abs_p =
    elementwise_unary("abs", signed_or_float_dtype, "a signed integer or floating-point")
        .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
          return lselect(bind1(ge_p, {x, cst(0, x)}), lneg(t), t);
        }))
        .batch(ew_batch(&abs_p)).build();

// d exp x = exp(x) dx.
const Primitive exp_p =
    float_unary("exp").jvp(unary_jvp([](const Array& t, const Array&, const Array& y) { return lmul(t, y); })).batch(ew_batch(&exp_p)).build();
// d log x = dx / x (inf at 0, as JAX).
const Primitive log_p =
    float_unary("log").jvp(unary_jvp([](const Array& t, const Array& x, const Array&) { return ldiv(t, x); })).batch(ew_batch(&log_p)).build();
// d log1p x = dx / (1 + x).
const Primitive log1p_p = float_unary("log1p")
                              .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                                return ldiv(t, ladd(x, cst(1, x)));
                              }))
                              .batch(ew_batch(&log1p_p)).build();
// d expm1 x = (expm1(x) + 1) dx.
const Primitive expm1_p = float_unary("expm1")
                              .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                                return lmul(t, ladd(y, cst(1, x)));
                              }))
                              .batch(ew_batch(&expm1_p)).build();
// d sin x = cos x dx.
const Primitive sin_p = float_unary("sin")
                            .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                              return lmul(t, bind1(cos_p, {x}));
                            }))
                            .batch(ew_batch(&sin_p)).build();
// d cos x = -sin x dx.
const Primitive cos_p = float_unary("cos")
                            .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                              return lneg(lmul(t, bind1(sin_p, {x})));
                            }))
                            .batch(ew_batch(&cos_p)).build();
// d tan x = (1 + tan^2 x) dx.
const Primitive tan_p = float_unary("tan")
                            .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                              return lmul(t, ladd(cst(1, x), lsquare(y)));
                            }))
                            .batch(ew_batch(&tan_p)).build();
// d tanh x = (1 + tanh x)(1 - tanh x) dx.
const Primitive tanh_p = float_unary("tanh")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                               return lmul(t, lmul(ladd(cst(1, x), y), lsub(cst(1, x), y)));
                             }))
                             .batch(ew_batch(&tanh_p)).build();
// d sinh x = cosh x dx; d cosh x = sinh x dx.
const Primitive sinh_p = float_unary("sinh")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                               return lmul(t, bind1(cosh_p, {x}));
                             }))
                             .batch(ew_batch(&sinh_p)).build();
const Primitive cosh_p = float_unary("cosh")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                               return lmul(t, bind1(sinh_p, {x}));
                             }))
                             .batch(ew_batch(&cosh_p)).build();
// d asin x = dx / sqrt(1 - x^2); d acos x = -dx / sqrt(1 - x^2); d atan x = dx / (1 + x^2).
const Primitive asin_p = float_unary("asin")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                               return lmul(t, bind1(rsqrt_p, {lsub(cst(1, x), lsquare(x))}));
                             }))
                             .batch(ew_batch(&asin_p)).build();
const Primitive acos_p = float_unary("acos")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                               return lmul(t, lneg(bind1(rsqrt_p, {lsub(cst(1, x), lsquare(x))})));
                             }))
                             .batch(ew_batch(&acos_p)).build();
const Primitive atan_p = float_unary("atan")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                               return ldiv(t, ladd(cst(1, x), lsquare(x)));
                             }))
                             .batch(ew_batch(&atan_p)).build();
// d sqrt x = dx / (2 sqrt x) (inf at 0, as JAX).
const Primitive sqrt_p = float_unary("sqrt")
                             .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                               return lmul(t, ldiv(cst(0.5, x), y));
                             }))
                             .batch(ew_batch(&sqrt_p)).build();
// d x^(-1/2) = -x^(-1/2) / (2 x) dx.
const Primitive rsqrt_p = float_unary("rsqrt")
                              .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                                return lmul(t, lmul(cst(-0.5, x), ldiv(y, x)));
                              }))
                              .batch(ew_batch(&rsqrt_p)).build();
// floor, ceil and round are piecewise constant: zero tangents.
const Primitive floor_p = float_unary("floor").jvp(zero_jvp()).batch(ew_batch(&floor_p)).build();
const Primitive ceil_p = float_unary("ceil").jvp(zero_jvp()).batch(ew_batch(&ceil_p)).build();
// d erf x = 2 / sqrt(pi) exp(-x^2) dx.
const Primitive erf_p = float_unary("erf")
                            .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                              constexpr double two_over_sqrt_pi = 1.12837916709551257390;
                              return lmul(t, lmul(cst(two_over_sqrt_pi, x), bind1(exp_p, {lneg(lsquare(x))})));
                            }))
                            .batch(ew_batch(&erf_p)).build();
// d lgamma x = digamma(x) dx.
const Primitive lgamma_p = float_unary("lgamma")
                               .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) {
                                 return lmul(t, bind1(digamma_p, {x}));
                               }))
                               .batch(ew_batch(&lgamma_p)).build();
// d digamma x = polygamma(1, x) dx (trigamma above, built from jx ops).
const Primitive digamma_p =
    float_unary("digamma")
        .jvp(unary_jvp([](const Array& t, const Array& x, const Array&) { return lmul(t, trigamma(x)); }))
        .batch(ew_batch(&digamma_p)).build();
// d logistic x = y (1 - y) dx.
const Primitive logistic_p = float_unary("logistic")
                                 .jvp(unary_jvp([](const Array& t, const Array& x, const Array& y) {
                                   return lmul(t, lmul(y, lsub(cst(1, x), y)));
                                 }))
                                 .batch(ew_batch(&logistic_p)).build();

const Primitive round_p =
    PrimitiveBuilder("round")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          if (!is_floating(in[0].dtype)) {
            throw_error<DTypeError>("[round] needs a floating-point operand, got ", in[0].str());
          }
          int64_t method = p.get_int("rounding_method");
          if (method != 0 && method != 1) {
            throw_error<ValueError>("[round] rounding_method must be 0 (away from zero) or 1 (to nearest even), got ",
                                    method);
          }
          return std::vector<AbstractValue>{in[0]};
        })
        .jvp(zero_jvp())
        .batch(ew_batch(&round_p)).build();

const Primitive is_finite_p =
    PrimitiveBuilder("is_finite")
        .shape_rule([](std::span<const AbstractValue> in, const Params&) {
          if (!is_floating(in[0].dtype)) {
            throw_error<DTypeError>("[is_finite] needs a floating-point operand, got ", in[0].str());
          }
          return std::vector<AbstractValue>{{DType::bool_, in[0].shape, false}};
        })
        .jvp(zero_jvp())
        .batch(ew_batch(&is_finite_p)).build();

// d x^n = n x^(n-1) dx (zero for n = 0).
const Primitive integer_pow_p =
    PrimitiveBuilder("integer_pow")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          if (!numeric_dtype(x.dtype)) {
            throw_error<DTypeError>("[integer_pow] needs a numeric operand, got ", x.str());
          }
          int64_t y = p.get_int("y");
          if (y < 0 && !is_floating(x.dtype)) {
            throw_error<DTypeError>("[integer_pow] integers cannot be raised to a negative power, got ", x.str(),
                                    " and y=", y);
          }
          return std::vector<AbstractValue>{x};
        })
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params& p) -> std::vector<Array> {
          int64_t y = p.get_int("y");
          if (y == 0 || !is_floating(outputs[0].dtype())) return zero_tangents(outputs);
          const Array& x = primals[0];
          return {lmul(tangents[0], lmul(cst(static_cast<double>(y), x), lipow(x, y - 1)))};
        })
        .batch(ew_batch(&integer_pow_p)).build();

const Primitive select_n_p =
    PrimitiveBuilder("select_n")
        .shape_rule([](std::span<const AbstractValue> in, const Params&) {
          if (in.size() < 2) {
            throw_error<ValueError>("[select_n] needs a predicate and at least one case, got ", in.size(),
                                    " operands");
          }
          const auto& pred = in[0];
          const auto& c0 = in[1];
          if (pred.dtype != DType::bool_ && pred.dtype != DType::int32) {
            throw_error<DTypeError>("[select_n] predicate must be bool or int32, got ", pred.str());
          }
          if (pred.dtype == DType::bool_ && in.size() > 3) {
            throw_error<ValueError>("[select_n] a bool predicate selects between at most 2 cases, got ",
                                    in.size() - 1);
          }
          bool weak = true;
          for (size_t i = 1; i < in.size(); ++i) {
            if (in[i].dtype != c0.dtype) {
              throw_error<DTypeError>("[select_n] cases must have the same dtype, got ", c0.str(), " and ",
                                      in[i].str());
            }
            if (in[i].shape != c0.shape) {
              throw_error<ShapeError>("[select_n] cases must have the same shape, got ", c0.str(), " and ",
                                      in[i].str());
            }
            weak = weak && in[i].weak_type;
          }
          if (pred.ndim() != 0 && pred.shape != c0.shape) {
            throw_error<ShapeError>("[select_n] predicate must be 0-d or have the cases' shape, got ", pred.str(),
                                    " and ", c0.str());
          }
          return std::vector<AbstractValue>{{c0.dtype, c0.shape, weak}};
        })
        // d select_n(p, x0, x1, ...) = select_n(p, dx0, dx1, ...); linear in the cases.
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params&) -> std::vector<Array> {
          bool any = false;
          for (size_t i = 1; i < tangents.size(); ++i) any |= tangents[i].defined();
          if (!any || !is_floating(outputs[0].dtype())) return zero_tangents(outputs);
          std::vector<Array> args{primals[0]};
          for (size_t i = 1; i < tangents.size(); ++i) args.push_back(instantiate(tangents[i], primals[i].aval()));
          return {bind1(select_n_p, args)};
        })
        // Case i receives the cotangent where it was selected, zeros elsewhere.
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                      const Params&) {
          JX_CHECK(!linear[0], "select_n transposed with a linear predicate");
          std::vector<Array> out(args.size());
          if (!cts[0].defined()) return out;
          Array zeros = zeros_for(cts[0].aval());
          for (size_t i = 1; i < args.size(); ++i) {
            if (!linear[i]) continue;
            std::vector<Array> sel{args[0]};
            for (size_t j = 1; j < args.size(); ++j) sel.push_back(j == i ? cts[0] : zeros);
            out[i] = bind1(select_n_p, sel);
          }
          return out;
        })
        .batch(select_n_batch_rule).build();

// stop_gradient: the identity with a zero tangent.
const Primitive stop_gradient_p = elementwise_unary("stop_gradient", any_dtype, "any").jvp(zero_jvp()).batch(ew_batch(&stop_gradient_p)).build();

const Primitive convert_element_type_p =
    PrimitiveBuilder("convert_element_type")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          AbstractValue out = in[0];
          out.dtype = p.get<DType>("new_dtype");
          out.weak_type = p.get<bool>("weak_type");
          return std::vector<AbstractValue>{out};
        })
        // Between floating types the tangent is converted too (linear); to or from an integer or
        // bool type the tangent is zero.
        .jvp([](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outputs,
                const Params& p) -> std::vector<Array> {
          if (!tangents[0].defined() || !is_floating(primals[0].dtype()) || !is_floating(outputs[0].dtype())) {
            return zero_tangents(outputs);
          }
          return {bind1(convert_element_type_p, {tangents[0]}, p)};
        })
        // The cotangent is converted back to the input's type.
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params&) {
          const AbstractValue& in = transpose_input_aval(0);
          if (!cts[0].defined() || !is_floating(in.dtype)) return std::vector<Array>(1);
          if (cts[0].dtype() == in.dtype && cts[0].weak_type() == in.weak_type) return std::vector<Array>{cts[0]};
          return std::vector<Array>{
              bind1(convert_element_type_p, {cts[0]}, Params{{"new_dtype", in.dtype}, {"weak_type", in.weak_type}})};
        })
        .batch(ew_batch(&convert_element_type_p)).build();

// ---- numpy-level ops -------------------------------------------------------------------------

namespace {
Array binary(const Primitive& prim, const char* op, const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_and_broadcast(op, {a, b});
    return bind1(prim, args);
  });
}
Array binary_float(const Primitive& prim, const char* op, const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(prim, promote_to_inexact(op, {a, b})); });
}
Array unary_float(const Primitive& prim, const char* op, const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_to_inexact(op, {x});
    return bind1(prim, args);
  });
}
void check_defined(const char* op, const Array& x) {
  if (!x.defined()) throw_error<ValueError>("[", op, "] the operand is an undefined Array");
}
// An all-`value` bool array shaped like x (numpy's isnan/isfinite on non-floats).
Array bool_like(const Array& x, bool value) {
  return lax::broadcast_in_dim(Array(value), x.shape(), {});
}
Array rem(const Array& a, const Array& b) { return bind1(rem_p, {a, b}); }
Array select(const Array& pred, const Array& on_true, const Array& on_false) {
  return bind1(select_n_p, {pred, on_false, on_true});
}
}  // namespace

// numpy treats + and * on bools as logical or / and (jnp does the same with bitwise ops).
Array add(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_and_broadcast("add", {a, b});
    return bind1(args[0].dtype() == DType::bool_ ? or_p : add_p, args);
  });
}
Array subtract(const Array& a, const Array& b, const Loc& loc) { return binary(sub_p, "subtract", a, b, loc); }
Array multiply(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_and_broadcast("multiply", {a, b});
    return bind1(args[0].dtype() == DType::bool_ ? and_p : mul_p, args);
  });
}
Array divide(const Array& a, const Array& b, const Loc& loc) { return binary_float(div_p, "divide", a, b, loc); }

// As jnp.floor_divide: integers correct the truncated quotient where the signs differ and the
// division is inexact; floats go through JAX's divmod (exact where floor(a / b) is not).
Array floor_divide(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_numeric("floor_divide", {a, b});
    const Array& x1 = args[0];
    const Array& y = args[1];
    DType dt = x1.dtype();
    if (is_unsigned_integer(dt)) return bind1(div_p, {x1, y});
    if (is_signed_integer(dt)) {
      Array quotient = bind1(div_p, {x1, y});
      Array adjust = logical_and(not_equal(sign(x1), sign(y)), not_equal(rem(x1, y), 0));
      return where(adjust, quotient - 1, quotient);
    }
    Array m = rem(x1, y);
    Array d = bind1(div_p, {x1 - m, y});
    Array ind = logical_and(not_equal(m, 0), not_equal(sign(y), sign(m)));
    d = where(ind, d - 1, d);
    return bind1(round_p, {d}, Params{{"rounding_method", int64_t{0}}});
  });
}

// As jnp.remainder: the truncated remainder, moved by one divisor where its sign differs from
// the divisor's (result has the sign of the divisor).
Array mod(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_numeric("mod", {a, b});
    Array trunc_mod = rem(args[0], args[1]);
    if (is_unsigned_integer(trunc_mod.dtype())) return trunc_mod;
    Array do_plus = logical_and(not_equal(less(trunc_mod, 0), less(args[1], 0)), not_equal(trunc_mod, 0));
    return where(do_plus, trunc_mod + args[1], trunc_mod);
  });
}

Array negative(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("negative", x);
    return bind1(neg_p, {x});
  });
}

// As jnp.power: floats (and ints mixed with floats) use pow; integer powers use binary
// exponentiation over the low 6 bits of the exponent (larger powers overflow anyway).
// Negative integer exponents give 0 (numpy raises; a traced exponent cannot be checked).
Array power(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_numeric("power", {a, b});
    if (is_floating(args[0].dtype())) return bind1(pow_p, args);
    Array x = args[0], y = args[1];
    const TypeInfo t{x.dtype(), x.weak_type()};
    const Array zero = convert(Array(0), t), one = convert(Array(1), t), two = convert(Array(2), t);
    // pow(0, y) is 0 for y != 0.
    Array acc = where(logical_and(equal(x, zero), not_equal(y, zero)), zero, one);
    const Array y0 = y;
    for (int bit = 0; bit < 6; ++bit) {
      acc = where(not_equal(logical_and(y, one), zero), acc * x, acc);
      x = x * x;
      y = bind1(div_p, {y, two});
    }
    if (is_signed_integer(t.dtype)) acc = where(less(y0, zero), zero, acc);
    return acc;
  });
}

Array maximum(const Array& a, const Array& b, const Loc& loc) { return binary(max_p, "maximum", a, b, loc); }
Array minimum(const Array& a, const Array& b, const Loc& loc) { return binary(min_p, "minimum", a, b, loc); }
Array arctan2(const Array& y, const Array& x, const Loc& loc) { return binary_float(atan2_p, "arctan2", y, x, loc); }

// Stable log(exp(a) + exp(b)) = max + log1p(exp(-|a - b|)); a - b is NaN only for equal
// infinities (or NaN inputs), where a + b is the answer.
Array logaddexp(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_to_inexact("logaddexp", {a, b});
    const Array &x1 = args[0], &x2 = args[1];
    Array amax = bind1(max_p, {x1, x2});
    Array delta = bind1(sub_p, {x1, x2});
    Array is_nan = bind1(ne_p, {delta, delta});
    Array stable = amax + bind1(log1p_p, {bind1(exp_p, {bind1(neg_p, {bind1(abs_p, {delta})})})});
    return select(is_nan, bind1(add_p, {x1, x2}), stable);
  });
}

Array exp(const Array& x, const Loc& loc) { return unary_float(exp_p, "exp", x, loc); }
Array log(const Array& x, const Loc& loc) { return unary_float(log_p, "log", x, loc); }
Array log1p(const Array& x, const Loc& loc) { return unary_float(log1p_p, "log1p", x, loc); }
Array expm1(const Array& x, const Loc& loc) { return unary_float(expm1_p, "expm1", x, loc); }
Array sin(const Array& x, const Loc& loc) { return unary_float(sin_p, "sin", x, loc); }
Array cos(const Array& x, const Loc& loc) { return unary_float(cos_p, "cos", x, loc); }
Array tan(const Array& x, const Loc& loc) { return unary_float(tan_p, "tan", x, loc); }
Array tanh(const Array& x, const Loc& loc) { return unary_float(tanh_p, "tanh", x, loc); }
Array sinh(const Array& x, const Loc& loc) { return unary_float(sinh_p, "sinh", x, loc); }
Array cosh(const Array& x, const Loc& loc) { return unary_float(cosh_p, "cosh", x, loc); }
Array arcsin(const Array& x, const Loc& loc) { return unary_float(asin_p, "arcsin", x, loc); }
Array arccos(const Array& x, const Loc& loc) { return unary_float(acos_p, "arccos", x, loc); }
Array arctan(const Array& x, const Loc& loc) { return unary_float(atan_p, "arctan", x, loc); }
Array sqrt(const Array& x, const Loc& loc) { return unary_float(sqrt_p, "sqrt", x, loc); }
Array rsqrt(const Array& x, const Loc& loc) { return unary_float(rsqrt_p, "rsqrt", x, loc); }
Array erf(const Array& x, const Loc& loc) { return unary_float(erf_p, "erf", x, loc); }
Array lgamma(const Array& x, const Loc& loc) { return unary_float(lgamma_p, "lgamma", x, loc); }
Array digamma(const Array& x, const Loc& loc) { return unary_float(digamma_p, "digamma", x, loc); }
Array sigmoid(const Array& x, const Loc& loc) { return unary_float(logistic_p, "sigmoid", x, loc); }

Array square(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(square_p, promote_numeric("square", {x})); });
}
Array reciprocal(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    return bind1(integer_pow_p, promote_to_inexact("reciprocal", {x}), Params{{"y", int64_t{-1}}});
  });
}
// Unsigned and bool values are their own absolute value (as jnp.abs).
Array abs(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("abs", x);
    if (x.dtype() == DType::bool_ || is_unsigned_integer(x.dtype())) return x;
    return bind1(abs_p, {x});
  });
}
Array sign(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("sign", x);
    return bind1(sign_p, {x});
  });
}
// floor/ceil/round of integers and bools are the values themselves (as jnp).
Array floor(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("floor", x);
    return is_floating(x.dtype()) ? bind1(floor_p, {x}) : x;
  });
}
Array ceil(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("ceil", x);
    return is_floating(x.dtype()) ? bind1(ceil_p, {x}) : x;
  });
}
Array round(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("round", x);
    return is_floating(x.dtype()) ? bind1(round_p, {x}, Params{{"rounding_method", int64_t{1}}}) : x;
  });
}

// jax.nn.softplus is logaddexp(x, 0).
Array softplus(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] { return logaddexp(x, 0.0); });
}
Array isnan(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("isnan", x);
    return is_floating(x.dtype()) ? bind1(ne_p, {x, x}) : bool_like(x, false);
  });
}
Array isfinite(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("isfinite", x);
    return is_floating(x.dtype()) ? bind1(is_finite_p, {x}) : bool_like(x, true);
  });
}
// As jnp.clip: maximum(lo, x), then minimum(hi, .).
Array clip(const Array& x, const Array& lo, const Array& hi, const Loc& loc) {
  return at_loc(loc, [&] { return minimum(hi, maximum(lo, x)); });
}

// As jnp.where: a and b promote together; a non-bool condition means cond != 0; all three
// broadcast to one shape, then lax.select.
Array where(const Array& cond, const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("where", cond);
    auto ab = promote_and_broadcast("where", {a, b}, /*keep_scalars=*/true);
    Array c = cond;
    if (c.dtype() != DType::bool_) c = not_equal(c, 0);
    AbstractValue acc = c.aval();
    acc.shape = broadcast_shapes("where", acc, ab[0].aval());
    acc.shape = broadcast_shapes("where", acc, ab[1].aval());
    c = broadcast_to_shape(c, acc.shape, false);
    Array x = broadcast_to_shape(ab[0], acc.shape, false);
    Array y = broadcast_to_shape(ab[1], acc.shape, false);
    return select(c, x, y);
  });
}

Array equal(const Array& a, const Array& b, const Loc& loc) { return binary(eq_p, "equal", a, b, loc); }
Array not_equal(const Array& a, const Array& b, const Loc& loc) { return binary(ne_p, "not_equal", a, b, loc); }
Array less(const Array& a, const Array& b, const Loc& loc) { return binary(lt_p, "less", a, b, loc); }
Array less_equal(const Array& a, const Array& b, const Loc& loc) { return binary(le_p, "less_equal", a, b, loc); }
Array greater(const Array& a, const Array& b, const Loc& loc) { return binary(gt_p, "greater", a, b, loc); }
Array greater_equal(const Array& a, const Array& b, const Loc& loc) {
  return binary(ge_p, "greater_equal", a, b, loc);
}
Array logical_and(const Array& a, const Array& b, const Loc& loc) { return binary(and_p, "logical_and", a, b, loc); }
Array logical_or(const Array& a, const Array& b, const Loc& loc) { return binary(or_p, "logical_or", a, b, loc); }
Array logical_not(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("logical_not", x);
    return bind1(not_p, {x});
  });
}

namespace {
// Integer operands for the shift ops: promoted and broadcast, bools counted as int32 (numpy).
std::vector<Array> shift_operands(const char* op, const Array& a, const Array& b) {
  check_defined(op, a);
  check_defined(op, b);
  if (is_floating(a.dtype()) || is_floating(b.dtype())) {
    throw_error<DTypeError>("[", op, "] needs integer operands, got ", a.aval().str(), " and ", b.aval().str());
  }
  return promote_numeric(op, {a, b});
}
}  // namespace

Array bitwise_xor(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("bitwise_xor", a);
    check_defined("bitwise_xor", b);
    if (is_floating(a.dtype()) || is_floating(b.dtype())) {
      throw_error<DTypeError>("[bitwise_xor] needs bool or integer operands, got ", a.aval().str(), " and ",
                              b.aval().str());
    }
    return bind1(xor_p, promote_and_broadcast("bitwise_xor", {a, b}));
  });
}
Array left_shift(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(shift_left_p, shift_operands("left_shift", a, b)); });
}
Array right_shift(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = shift_operands("right_shift", a, b);
    return bind1(is_signed_integer(args[0].dtype()) ? shift_right_arithmetic_p : shift_right_logical_p, args);
  });
}
namespace lax {
Array shift_left(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(shift_left_p, shift_operands("shift_left", a, b)); });
}
Array shift_right_logical(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(shift_right_logical_p, shift_operands("shift_right_logical", a, b)); });
}
Array shift_right_arithmetic(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(shift_right_arithmetic_p, shift_operands("shift_right_arithmetic", a, b)); });
}
Array bitcast_convert_type(const Array& x, DType new_dtype, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("bitcast_convert_type", x);
    if (x.dtype() == new_dtype) return x;
    return bind1(bitcast_convert_type_p, {x}, Params{{"new_dtype", new_dtype}});
  });
}
}  // namespace lax

Array operator+(const Array& a, const ArrayArg& b) { return add(a, b.value, b.loc); }
Array operator-(const Array& a, const ArrayArg& b) { return subtract(a, b.value, b.loc); }
Array operator*(const Array& a, const ArrayArg& b) { return multiply(a, b.value, b.loc); }
Array operator/(const Array& a, const ArrayArg& b) { return divide(a, b.value, b.loc); }
Array operator-(const ArrayArg& x) { return negative(x.value, x.loc); }
Array operator==(const Array& a, const ArrayArg& b) { return equal(a, b.value, b.loc); }
Array operator!=(const Array& a, const ArrayArg& b) { return not_equal(a, b.value, b.loc); }
Array operator<(const Array& a, const ArrayArg& b) { return less(a, b.value, b.loc); }
Array operator<=(const Array& a, const ArrayArg& b) { return less_equal(a, b.value, b.loc); }
Array operator>(const Array& a, const ArrayArg& b) { return greater(a, b.value, b.loc); }
Array operator>=(const Array& a, const ArrayArg& b) { return greater_equal(a, b.value, b.loc); }
Array operator&&(const Array& a, const ArrayArg& b) { return logical_and(a, b.value, b.loc); }
Array operator||(const Array& a, const ArrayArg& b) { return logical_or(a, b.value, b.loc); }
Array operator!(const ArrayArg& x) { return logical_not(x.value, x.loc); }
Array operator!(const Array& x) { return logical_not(x); }
Array operator&&(const Array& a, bool b) { return logical_and(a, Array(b)); }
Array operator||(const Array& a, bool b) { return logical_or(a, Array(b)); }
Array& operator+=(Array& a, const ArrayArg& b) { return a = add(a, b.value, b.loc); }
Array& operator-=(Array& a, const ArrayArg& b) { return a = subtract(a, b.value, b.loc); }
Array& operator*=(Array& a, const ArrayArg& b) { return a = multiply(a, b.value, b.loc); }
Array& operator/=(Array& a, const ArrayArg& b) { return a = divide(a, b.value, b.loc); }

Array Array::astype(DType dtype, const Loc& loc) const {
  return at_loc(loc, [&] { return lax::convert_element_type(*this, dtype); });
}

namespace lax {
Array convert_element_type(const Array& x, DType dtype, const Loc& loc) {
  return at_loc(loc, [&] { return detail::convert(x, TypeInfo{dtype, false}); });
}
// lax.select is select_n with the cases swapped (case 0 is taken where pred is false).
Array select(const Array& pred, const Array& on_true, const Array& on_false, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("select", pred);
    if (pred.dtype() != DType::bool_) {
      throw_error<DTypeError>("[select] predicate must be bool, got ", pred.aval().str());
    }
    return bind1(select_n_p, {pred, on_false, on_true});
  });
}
Array stop_gradient(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("stop_gradient", x);
    return bind1(stop_gradient_p, {x});
  });
}
Array integer_pow(const Array& x, int n, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("integer_pow", x);
    return bind1(integer_pow_p, {x}, Params{{"y", int64_t{n}}});
  });
}
}  // namespace lax

}  // namespace jx
