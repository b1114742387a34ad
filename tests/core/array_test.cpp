// Array basics: creation from host data, dtypes, weak scalars, printing, host copies.
#include "testing/testing.h"

using namespace jx;

TEST_CASE("array: creation from host data keeps values, shape and dtype") {
  Array x = array({1.f, 2.f, 3.f, 4.f}, Shape{2, 2});
  CHECK(x.dtype() == float32);
  CHECK(x.shape() == Shape{2, 2});
  CHECK(x.ndim() == 2);
  CHECK(x.size() == 4);
  CHECK(x.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
  CHECK(array(std::vector<double>{1.5}).dtype() == float64);
  CHECK(array({1, 2, 3}).dtype() == int32);
  CHECK(array(std::vector<int64_t>{1, 2}).dtype() == int64);
  CHECK(array(std::vector<uint32_t>{7}).dtype() == uint32);
  CHECK(array(std::vector<bool>{true, false}).dtype() == bool_);
  CHECK(array(std::vector<bool>{true, false}).to_vector<int>() == std::vector<int>{1, 0});
}

TEST_CASE("array: C++ numbers make weakly typed scalars") {
  Array s = 2.0;
  CHECK(s.dtype() == float32);
  CHECK(s.weak_type());
  CHECK(s.ndim() == 0);
  Array i = 3;
  CHECK(i.dtype() == int32);
  CHECK(i.weak_type());
  Array b = true;
  CHECK(b.dtype() == bool_);
  CHECK_FALSE(b.weak_type());
  CHECK(s.item<double>() == 2.0);
}

TEST_CASE("array: bad shapes are rejected with the sizes involved") {
  CHECK_THROWS_WITH_AS(array({1.f, 2.f, 3.f}, Shape{2, 2}), doctest::Contains("3 values do not fill shape [2,2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(array({1.f, 2.f}, Shape{1, 2}).item<float>(), doctest::Contains("f32[1,2]"), ShapeError);
  CHECK_THROWS_AS(Array().shape(), ValueError);
}

TEST_CASE("array: errors name the caller's source line") {
  try {
    array({1.f, 2.f, 3.f}, Shape{2, 2});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("array_test.cpp:") != std::string::npos);
  }
}

TEST_CASE("array: numpy-like printing") {
  CHECK(to_string(array({1.f, 2.f, 3.f, 4.f}, Shape{2, 2})) == "Array([[1., 2.],\n       [3., 4.]], dtype=float32)");
  CHECK(to_string(array({1, -2})) == "Array([ 1, -2], dtype=int32)");
  CHECK(to_string(Array(2.5)) == "Array(2.5, dtype=float32, weak_type=True)");
  CHECK(to_string(array(std::vector<bool>{true, false})) == "Array([ True, False], dtype=bool)");
}

TEST_CASE("array: truth value of arrays") {
  CHECK(static_cast<bool>(Array(true)));
  CHECK_FALSE(static_cast<bool>(Array(0.0)));
  CHECK_THROWS_WITH_AS(static_cast<bool>(array({1.f, 2.f})), doctest::Contains("ambiguous"), ValueError);
}

TEST_CASE("array: C++ numbers keep their exact value when promoted to float64") {
  Array x = array(std::vector<double>{1.0});
  // 0.01 is not representable in float32: a float32 round trip would give 0.00999999977648258.
  CHECK((x * 0.01).item<double>() == 0.01);
  CHECK((x + 1e-10).item<double>() == 1.0 + 1e-10);
  CHECK((x * 0.01).dtype() == float64);
  CHECK((array({1.f}) * 0.01).dtype() == float32);
  // Integers beyond int32 become weak int64.
  Array big = int64_t{5000000000};
  CHECK(big.dtype() == int64);
  CHECK(big.item<int64_t>() == 5000000000);
  CHECK(Array(3).dtype() == int32);
}
