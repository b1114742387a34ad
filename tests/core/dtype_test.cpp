// Type promotion: promote_types against JAX's table (written out by hand from the lattice in
// jax._src.dtypes, restricted to jx's types, float16 and bfloat16 included), and the dtypes that
// binary ops produce.
#include <array>

#include "testing/testing.h"

using namespace jx;

namespace {

// The ten lattice nodes: eight strong dtypes, then the weak int (i*) and weak float (f*).
constexpr int kN = 10;
const std::array<TypeInfo, kN> kTypes = {{{bool_, false},
                                          {int32, false},
                                          {int64, false},
                                          {uint32, false},
                                          {float32, false},
                                          {float64, false},
                                          {float16, false},
                                          {bfloat16, false},
                                          {int32, true},
                                          {float32, true}}};
const char* kNames[kN] = {"b", "i32", "i64", "u32", "f32", "f64", "f16", "bf16", "i*", "f*"};

// JAX's promotion table (docs: "Type promotion semantics"), row type + column type, in kTypes
// order: b < i* < {u32, i32} < i64 < f* < {f16, bf16} < f32 < f64, with u32 < i64 (so u32 + i32
// = i64) and f16 + bf16 = f32.
const char* kTable[kN][kN] = {
    //  b      i32    i64    u32    f32    f64    f16    bf16    i*      f*
    {"b", "i32", "i64", "u32", "f32", "f64", "f16", "bf16", "i*", "f*"},            // b
    {"i32", "i32", "i64", "i64", "f32", "f64", "f16", "bf16", "i32", "f*"},         // i32
    {"i64", "i64", "i64", "i64", "f32", "f64", "f16", "bf16", "i64", "f*"},         // i64
    {"u32", "i64", "i64", "u32", "f32", "f64", "f16", "bf16", "u32", "f*"},         // u32
    {"f32", "f32", "f32", "f32", "f32", "f64", "f32", "f32", "f32", "f32"},         // f32
    {"f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64"},         // f64
    {"f16", "f16", "f16", "f16", "f32", "f64", "f16", "f32", "f16", "f16"},         // f16
    {"bf16", "bf16", "bf16", "bf16", "f32", "f64", "f32", "bf16", "bf16", "bf16"},  // bf16
    {"i*", "i32", "i64", "u32", "f32", "f64", "f16", "bf16", "i*", "f*"},           // i*
    {"f*", "f*", "f*", "f*", "f32", "f64", "f16", "bf16", "f*", "f*"},              // f*
};

TypeInfo parse(const std::string& name) {
  for (int i = 0; i < kN; ++i)
    if (name == kNames[i]) return kTypes[i];
  FAIL("bad table entry " << name);
  return {};
}

// A value of the given type: a 2-element array for strong types, a C++ literal for weak ones.
Array sample(TypeInfo t) {
  if (t.weak) return is_floating(t.dtype) ? Array(1.5) : Array(2);
  return array({1.0, 0.0}).astype(t.dtype);
}

}  // namespace

TEST_CASE("promote_types: every pair matches JAX's table, and is symmetric") {
  for (int i = 0; i < kN; ++i) {
    for (int j = 0; j < kN; ++j) {
      CAPTURE(kNames[i]);
      CAPTURE(kNames[j]);
      TypeInfo expected = parse(kTable[i][j]);
      TypeInfo got = promote_types(kTypes[i], kTypes[j]);
      CHECK(got.dtype == expected.dtype);
      CHECK(got.weak == expected.weak);
      CHECK(kTable[i][j] == std::string(kTable[j][i]));
    }
  }
}

TEST_CASE("promote_types: strong-dtype overload and documented examples") {
  CHECK(promote_types(uint32, int32) == int64);
  CHECK(promote_types(int64, float32) == float32);
  CHECK(promote_types(bool_, bool_) == bool_);
  CHECK(promote_types(uint32, float32) == float32);
  CHECK(promote_types(float16, bfloat16) == float32);  // neither holds the other
  CHECK(promote_types(int32, float16) == float16);     // JAX: i32 + f16 -> f16 (not f32 as numpy)
  CHECK(promote_types(int64, bfloat16) == bfloat16);
  CHECK(promote_types(float16, float64) == float64);
  TypeInfo t = promote_types(TypeInfo{float32, true}, TypeInfo{int32, false});
  CHECK(t.dtype == float32);
  CHECK(t.weak);
  t = promote_types(TypeInfo{int32, true}, TypeInfo{uint32, false});
  CHECK(t.dtype == uint32);
  CHECK_FALSE(t.weak);
}

TEST_CASE("promotion: binary ops produce the table's dtype and weak type") {
  for (int i = 0; i < kN; ++i) {
    for (int j = 0; j < kN; ++j) {
      CAPTURE(kNames[i]);
      CAPTURE(kNames[j]);
      TypeInfo expected = parse(kTable[i][j]);
      Array a = sample(kTypes[i]), b = sample(kTypes[j]);
      Array sum = a + b;
      CHECK(sum.dtype() == expected.dtype);
      CHECK(sum.weak_type() == expected.weak);
      Array mx = maximum(a, b);
      CHECK(mx.dtype() == expected.dtype);
      CHECK(mx.weak_type() == expected.weak);
      CHECK((a < b).dtype() == bool_);
      // true division: the promoted type, with integers and bools going to float32
      Array q = a / b;
      CHECK(q.dtype() == (is_floating(expected.dtype) ? expected.dtype : float32));
      CHECK(q.weak_type() == expected.weak);
    }
  }
}

TEST_CASE("promotion: values survive promotion") {
  Array x = array({1, 2, 3});
  Array y = x + 2.5;
  CHECK(y.dtype() == float32);
  CHECK(y.weak_type());
  CHECK_ALLCLOSE(y, std::vector<double>{3.5, 4.5, 5.5});
  Array big = array(std::vector<uint32_t>{4000000000u}) + array({-1});
  CHECK(big.dtype() == int64);
  CHECK(big.to_vector<int64_t>() == std::vector<int64_t>{3999999999});
  Array f = array(std::vector<int64_t>{3}) * array({0.5f});
  CHECK(f.dtype() == float32);
  CHECK_ALLCLOSE(f, std::vector<double>{1.5});
  CHECK((array({1.f}) * 2).dtype() == float32);
  CHECK_FALSE((array({1.f}) * 2).weak_type());
  CHECK((array(std::vector<double>{1.0}) + 1.5).dtype() == float64);
  CHECK((array(std::vector<uint32_t>{1}) + 1).dtype() == uint32);
}
