// Elementwise primitives: shape/dtype rules, and the numpy-level ops built on them
// (promotion, broadcasting, operators). Kernels: backends/cpu/elementwise.cpp.

#include "core/prims/elementwise.h"

#include "core/ops.h"
#include "core/trace.h"

namespace jx {
namespace detail {

bool any_dtype(DType) { return true; }
bool numeric_dtype(DType d) { return d != DType::bool_; }
bool float_dtype(DType d) { return is_floating(d); }
bool int_or_bool_dtype(DType d) { return !is_floating(d); }

PrimitiveBuilder elementwise_unary(const std::string& name, DTypePredicate allowed, const char* what) {
  PrimitiveBuilder b(name);
  b.shape_rule([name, allowed, what](std::span<const AbstractValue> in, const Params&) {
    JX_CHECK(in.size() == 1, name, " takes one operand");
    if (!allowed(in[0].dtype)) {
      throw_error<DTypeError>("[", name, "] needs ", what, " operand, got ", in[0].str());
    }
    return std::vector<AbstractValue>{in[0]};
  });
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
  return bind1(convert_element_type_p, {x}, Params{{"new_dtype", t.dtype}, {"weak_type", t.weak}});
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

}  // namespace detail

using namespace detail;

// ---- primitives ------------------------------------------------------------------------------

const Primitive add_p = elementwise_binary("add", numeric_dtype, "numeric").build();
const Primitive sub_p = elementwise_binary("sub", numeric_dtype, "numeric").build();
const Primitive mul_p = elementwise_binary("mul", numeric_dtype, "numeric").build();
const Primitive div_p = elementwise_binary("div", numeric_dtype, "numeric").build();
const Primitive neg_p = elementwise_unary("neg", numeric_dtype, "a numeric").build();
const Primitive sin_p = elementwise_unary("sin", float_dtype, "a floating-point").build();
const Primitive exp_p = elementwise_unary("exp", float_dtype, "a floating-point").build();

const Primitive convert_element_type_p =
    PrimitiveBuilder("convert_element_type")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          AbstractValue out = in[0];
          out.dtype = p.get<DType>("new_dtype");
          out.weak_type = p.get<bool>("weak_type");
          return std::vector<AbstractValue>{out};
        })
        .build();

// ---- numpy-level ops -------------------------------------------------------------------------

namespace {
Array binary(const Primitive& prim, const char* op, const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_and_broadcast(op, {a, b});
    return bind1(prim, args);
  });
}
Array unary_float(const Primitive& prim, const char* op, const Array& x, const Loc& loc) {
  return at_loc(loc, [&] {
    auto args = promote_to_inexact(op, {x});
    return bind1(prim, args);
  });
}
}  // namespace

Array add(const Array& a, const Array& b, const Loc& loc) { return binary(add_p, "add", a, b, loc); }
Array subtract(const Array& a, const Array& b, const Loc& loc) { return binary(sub_p, "subtract", a, b, loc); }
Array multiply(const Array& a, const Array& b, const Loc& loc) { return binary(mul_p, "multiply", a, b, loc); }
Array divide(const Array& a, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(div_p, promote_to_inexact("divide", {a, b})); });
}
Array negative(const Array& x, const Loc& loc) {
  return at_loc(loc, [&] { return bind1(neg_p, {x}); });
}
Array sin(const Array& x, const Loc& loc) { return unary_float(sin_p, "sin", x, loc); }
Array exp(const Array& x, const Loc& loc) { return unary_float(exp_p, "exp", x, loc); }

Array operator+(const Array& a, const ArrayArg& b) { return add(a, b.value, b.loc); }
Array operator-(const Array& a, const ArrayArg& b) { return subtract(a, b.value, b.loc); }
Array operator*(const Array& a, const ArrayArg& b) { return multiply(a, b.value, b.loc); }
Array operator/(const Array& a, const ArrayArg& b) { return divide(a, b.value, b.loc); }
Array operator-(const ArrayArg& x) { return negative(x.value, x.loc); }
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
}  // namespace lax

}  // namespace jx
