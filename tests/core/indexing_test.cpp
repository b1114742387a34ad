// Indexing: dynamic_slice, dynamic_update_slice, gather, the scatter family, x[i], x.at(i),
// take and take_along_axis, against naive C++ references written from the XLA/numpy specs.
#include <algorithm>
#include <functional>

#include "testing/testing.h"

using namespace jx;

namespace {

const std::vector<DType> kAllTypes = {bool_, int32, int64, uint32, float32, float64};

/// Values 0..n-1 scaled to fit the dtype (bool: alternating), as doubles.
std::vector<double> iota_values(int64_t n, DType dt) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = dt == bool_ ? (i % 3 == 1 ? 1.0 : 0.0) : static_cast<double>(i + 1);
  return v;
}

Array make(const std::vector<double>& v, const Shape& shape, DType dt) { return array(v, shape).astype(dt); }

Array ints(const std::vector<int64_t>& v, const Shape& shape, DType dt = int32) {
  std::vector<double> d(v.begin(), v.end());
  return make(d, shape, dt);
}

using testing::unravel;

using testing::ravel;

bool has(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

/// XLA gather, one output element at a time, as the operation semantics spell it out.
std::vector<double> ref_gather(const std::vector<double>& x, const Shape& xs, const std::vector<int64_t>& idx,
                               const Shape& is, const lax::GatherDimensionNumbers& dn,
                               const std::vector<int64_t>& sizes, const Shape& out_shape) {
  std::vector<double> out(static_cast<size_t>(shape_size(out_shape)));
  const int64_t k = is.back();
  for (int64_t o = 0; o < static_cast<int64_t>(out.size()); ++o) {
    auto oi = unravel(o, out_shape);
    std::vector<int64_t> batch, offs;
    for (int64_t d = 0; d < static_cast<int64_t>(oi.size()); ++d) (has(dn.offset_dims, d) ? offs : batch).push_back(oi[d]);
    batch.push_back(0);
    std::vector<int64_t> in(xs.size(), 0);
    for (int64_t j = 0; j < k; ++j) {
      batch.back() = j;
      int64_t m = dn.start_index_map[j];
      in[m] = std::clamp<int64_t>(idx[ravel(batch, is)], 0, xs[m] - sizes[m]);
    }
    for (int64_t d = 0, w = 0; d < static_cast<int64_t>(xs.size()); ++d)
      if (!has(dn.collapsed_slice_dims, d)) in[d] += offs[w++];
    out[o] = x[ravel(in, xs)];
  }
  return out;
}

/// XLA scatter with out-of-bounds windows dropped, update elements applied in row-major order.
std::vector<double> ref_scatter(std::vector<double> x, const Shape& xs, const std::vector<int64_t>& idx,
                                const Shape& is, const std::vector<double>& u, const Shape& us,
                                const lax::ScatterDimensionNumbers& dn,
                                const std::function<double(double, double)>& combine) {
  const int64_t k = is.back();
  for (int64_t e = 0; e < static_cast<int64_t>(u.size()); ++e) {
    auto ui = unravel(e, us);
    std::vector<int64_t> batch, win;
    for (int64_t d = 0; d < static_cast<int64_t>(ui.size()); ++d) (has(dn.update_window_dims, d) ? win : batch).push_back(ui[d]);
    batch.push_back(0);
    std::vector<int64_t> start(xs.size(), 0), wsize(xs.size(), 1);
    for (int64_t j = 0; j < k; ++j) {
      batch.back() = j;
      start[dn.scatter_dims_to_operand_dims[j]] = idx[ravel(batch, is)];
    }
    bool ok = true;
    std::vector<int64_t> in(xs.size());
    for (int64_t d = 0, w = 0; d < static_cast<int64_t>(xs.size()); ++d) {
      int64_t off = 0;
      if (!has(dn.inserted_window_dims, d)) {
        wsize[d] = us[dn.update_window_dims[w]];
        off = win[w++];
      }
      ok = ok && start[d] >= 0 && start[d] + wsize[d] <= xs[d];
      in[d] = start[d] + off;
    }
    if (ok) x[ravel(in, xs)] = combine(x[ravel(in, xs)], u[e]);
  }
  return x;
}

std::string jaxpr_of(const std::function<Array(Array, Array)>& f, const Array& a, const Array& b) {
  return make_jaxpr(f)(a, b).str();
}

}  // namespace

// ---- dynamic_slice / dynamic_update_slice -------------------------------------------------

TEST_CASE("dynamic_slice: matches a naive slice with negative and clamped starts") {
  struct Case {
    Shape shape;
    std::vector<int64_t> starts, sizes;
  };
  std::vector<Case> cases = {{{6}, {2}, {3}},         {{6}, {-2}, {2}},       {{6}, {5}, {3}},
                             {{6}, {-10}, {2}},       {{3, 4}, {1, 1}, {2, 3}}, {{3, 4}, {2, -1}, {2, 2}},
                             {{2, 3, 4}, {1, 0, 3}, {1, 3, 2}}, {{3, 4}, {0, 0}, {0, 2}}, {{}, {}, {}}};
  for (DType dt : kAllTypes) {
    for (const auto& c : cases) {
      std::string dtype_str = dtype_name(dt);
      CAPTURE(dtype_str);
      CAPTURE(shape_str(c.shape));
      CAPTURE(shape_str(c.starts));
      auto xv = iota_values(shape_size(c.shape), dt);
      Array x = make(xv, c.shape, dt);
      std::vector<Array> starts;
      std::vector<int64_t> clamped;
      for (size_t d = 0; d < c.shape.size(); ++d) {
        starts.push_back(scalar(static_cast<double>(c.starts[d]), d % 2 ? int64 : int32));
        int64_t s = c.starts[d] < 0 ? c.starts[d] + c.shape[d] : c.starts[d];
        clamped.push_back(std::clamp<int64_t>(s, 0, c.shape[d] - c.sizes[d]));
      }
      Array y = lax::dynamic_slice(x, starts, c.sizes);
      CHECK(y.shape() == Shape(c.sizes));
      CHECK(y.dtype() == dt);
      std::vector<double> expected;
      for (int64_t o = 0; o < shape_size(c.sizes); ++o) {
        auto oi = unravel(o, c.sizes);
        for (size_t d = 0; d < oi.size(); ++d) oi[d] += clamped[d];
        expected.push_back(xv[ravel(oi, c.shape)]);
      }
      CHECK_ALLCLOSE(y, expected);
    }
  }
}

TEST_CASE("dynamic_update_slice: matches a naive update with clamped starts") {
  struct Case {
    Shape shape, ushape;
    std::vector<int64_t> starts;
  };
  std::vector<Case> cases = {{{5}, {2}, {1}},          {{5}, {2}, {4}},          {{5}, {3}, {-1}},
                             {{3, 4}, {2, 2}, {2, 3}}, {{3, 4}, {1, 4}, {-1, 0}}, {{2, 3, 2}, {1, 2, 2}, {1, 1, 0}},
                             {{3, 4}, {0, 2}, {1, 1}}, {{}, {}, {}}};
  for (DType dt : kAllTypes) {
    for (const auto& c : cases) {
      std::string dtype_str = dtype_name(dt);
      CAPTURE(dtype_str);
      CAPTURE(shape_str(c.shape));
      auto xv = iota_values(shape_size(c.shape), dt);
      std::vector<double> uv(static_cast<size_t>(shape_size(c.ushape)));
      for (size_t i = 0; i < uv.size(); ++i) uv[i] = dt == bool_ ? 1.0 : 100.0 + static_cast<double>(i);
      std::vector<Array> starts;
      std::vector<int64_t> clamped;
      for (size_t d = 0; d < c.shape.size(); ++d) {
        starts.push_back(Array(static_cast<int>(c.starts[d])));
        int64_t s = c.starts[d] < 0 ? c.starts[d] + c.shape[d] : c.starts[d];
        clamped.push_back(std::clamp<int64_t>(s, 0, c.shape[d] - c.ushape[d]));
      }
      Array y = lax::dynamic_update_slice(make(xv, c.shape, dt), make(uv, c.ushape, dt), starts);
      auto expected = xv;
      for (int64_t i = 0; i < shape_size(c.ushape); ++i) {
        auto ui = unravel(i, c.ushape);
        for (size_t d = 0; d < ui.size(); ++d) ui[d] += clamped[d];
        expected[ravel(ui, c.shape)] = uv[i];
      }
      CHECK(y.shape() == c.shape);
      CHECK_ALLCLOSE(y, expected);
    }
  }
}

TEST_CASE("dynamic_slice: traced starts are normalized with array ops and staged") {
  Array x = array({1.f, 2.f, 3.f, 4.f, 5.f});
  auto f = [](Array a, Array i) { return lax::dynamic_slice(a, {i}, {2}); };
  CHECK_ALLCLOSE(f(x, scalar(-2, int32)), std::vector<double>{4, 5});
  std::string jp = jaxpr_of(f, x, scalar(1, int32));
  CHECK(jp.find("dynamic_slice[slice_sizes=(2,)]") != std::string::npos);
  CHECK(jp.find("select_n") != std::string::npos);  // where(i < 0, i + 5, i)
  auto g = [](Array a, Array i) { return lax::dynamic_update_slice(a, array({9.f}), {i}); };
  CHECK(jaxpr_of(g, x, scalar(1, int32)).find("dynamic_update_slice") != std::string::npos);
}

TEST_CASE("dynamic_slice: bad inputs are rejected with shapes and dtypes") {
  Array x = zeros({2, 4});
  CHECK_THROWS_WITH_AS(lax::dynamic_slice(x, {Array(0), Array(0)}, {3, 4}),
                       doctest::Contains("slice sizes [3,4] do not fit operand f32[2,4]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::dynamic_slice(x, {Array(0)}, {1, 1}), doctest::Contains("1 start indices"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::dynamic_slice(x, {Array(0.5), Array(0)}, {1, 1}), doctest::Contains("integers"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(lax::dynamic_slice(x, {array({0, 1}), Array(0)}, {1, 1}), doctest::Contains("0-d"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::dynamic_update_slice(x, zeros({3, 1}), {Array(0), Array(0)}),
                       doctest::Contains("f32[3,1] does not fit operand f32[2,4]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::dynamic_update_slice(x, zeros({1, 1}, int32), {Array(0), Array(0)}),
                       doctest::Contains("i32[1,1]"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::dynamic_update_slice(x, zeros({1, 1}), {Array(0)}), doctest::Contains("rank 2"),
                       ShapeError);
  // The primitive itself demands one index dtype.
  CHECK_THROWS_WITH_AS(bind1(dynamic_slice_p, {x, scalar(0, int32), scalar(0, int64)},
                             Params{{"slice_sizes", std::vector<int64_t>{1, 1}}}),
                       doctest::Contains("one integer dtype"), DTypeError);
}

// ---- gather / scatter ---------------------------------------------------------------------

TEST_CASE("gather: general dimension numbers match the XLA definition, starts clamped") {
  struct Case {
    Shape xs, is;
    std::vector<int64_t> idx;
    lax::GatherDimensionNumbers dn;
    std::vector<int64_t> sizes;
    Shape out;
  };
  std::vector<Case> cases = {
      // rows of a matrix (x[idx]), with out-of-range and negative (clamped) indices
      {{4, 3}, {5, 1}, {0, 3, 9, -2, 1}, {{1}, {0}, {0}}, {1, 3}, {5, 3}},
      // 2-d point gather
      {{3, 4}, {2, 2, 2}, {0, 0, 2, 3, 1, 2, 5, -1}, {{}, {0, 1}, {0, 1}}, {1, 1}, {2, 2}},
      // windows of size 2 along dim 1, offset dim leading the output
      {{2, 5, 3}, {3, 1}, {0, 4, 2}, {{0, 2}, {1}, {1}}, {2, 1, 3}, {2, 3, 3}},
      // index map in reverse order, no collapsed dims
      {{3, 4}, {2, 2}, {1, 2, 0, 0}, {{1, 2}, {}, {1, 0}}, {2, 2}, {2, 2, 2}},
      // empty batch
      {{4, 3}, {0, 1}, {}, {{1}, {0}, {0}}, {1, 3}, {0, 3}},
      // empty index vector: the whole operand
      {{2, 3}, {0}, {}, {{0, 1}, {}, {}}, {2, 3}, {2, 3}},
  };
  for (DType dt : {int32, float32, float64, bool_}) {
    for (DType it : {int32, int64, uint32}) {
      for (const auto& c : cases) {
        CAPTURE(shape_str(c.xs));
        CAPTURE(shape_str(c.is));
        if (it == uint32 && std::any_of(c.idx.begin(), c.idx.end(), [](int64_t v) { return v < 0; })) continue;
        auto xv = iota_values(shape_size(c.xs), dt);
        Array y = lax::gather(make(xv, c.xs, dt), ints(c.idx, c.is, it), c.dn, c.sizes);
        REQUIRE(y.shape() == c.out);
        CHECK(y.dtype() == dt);
        CHECK_ALLCLOSE(y, ref_gather(xv, c.xs, c.idx, c.is, c.dn, c.sizes, c.out));
      }
    }
  }
  // a hand-computed case as an anchor for the reference itself
  Array m = array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, Shape{3, 2});
  CHECK_ALLCLOSE(lax::gather(m, array({2, -1, 7}, Shape{3, 1}), {{1}, {0}, {0}}, {1, 2}),
                 std::vector<double>{5, 6, 1, 2, 5, 6});
}

TEST_CASE("gather: bad dimension numbers and index dtypes are rejected") {
  Array x = zeros({4, 3});
  Array i = array({0, 1}, Shape{2, 1});
  CHECK_THROWS_WITH_AS(lax::gather(x, array({0.f, 1.f}, Shape{2, 1}), {{1}, {0}, {0}}, {1, 3}),
                       doctest::Contains("integer dtype"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, i, {{1}, {0}, {0}}, {1, 4}),
                       doctest::Contains("slice sizes [1,4] do not fit operand f32[4,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, i, {{1}, {0}, {0, 1}}, {1, 3}), doctest::Contains("start_index_map"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, i, {{1}, {0}, {2}}, {1, 3}), doctest::Contains("out of range"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, i, {{1}, {0}, {0}}, {2, 3}), doctest::Contains("slice size 1"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, i, {{1, 2}, {0}, {0}}, {1, 3}), doctest::Contains("offset_dims"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, array({0, 1}, Shape{1, 2}), {{}, {1, 0}, {0, 1}}, {1, 1}),
                       doctest::Contains("must be sorted"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::gather(x, scalar(0, int32), {{0, 1}, {}, {}}, {4, 3}),
                       doctest::Contains("index-vector"), ShapeError);
}

TEST_CASE("scatter: every combiner matches the XLA definition, duplicates combine, out-of-range dropped") {
  struct Case {
    Shape xs, is, us;
    std::vector<int64_t> idx;
    lax::ScatterDimensionNumbers dn;
  };
  std::vector<Case> cases = {
      // rows, with duplicates (0 twice), an out-of-range row and a negative one (both dropped)
      {{4, 3}, {5, 1}, {5, 3}, {0, 2, 0, 7, -1}, {{1}, {0}, {0}}},
      // points with a duplicate
      {{3, 4}, {3, 2}, {3}, {1, 1, 2, 3, 1, 1}, {{}, {0, 1}, {0, 1}}},
      // windows of width 2 along dim 1; the window at 4 does not fit and is dropped whole
      {{2, 5}, {3, 1}, {2, 3, 2}, {0, 4, 3}, {{0, 2}, {}, {1}}},
      // updates with the window dim first, and an index map in reverse order
      {{3, 4}, {2, 2}, {2, 2}, {0, 2, 3, 1}, {{0}, {1}, {1, 0}}},
      // empty updates
      {{4, 3}, {0, 1}, {0, 3}, {}, {{1}, {0}, {0}}},
  };
  using Combine = std::function<double(double, double)>;
  struct Kind {
    const char* name;
    std::function<Array(const Array&, const Array&, const Array&, const lax::ScatterDimensionNumbers&)> op;
    Combine combine;
  };
  auto wrap = [](auto f) {
    return [f](const Array& a, const Array& i, const Array& u, const lax::ScatterDimensionNumbers& d) {
      return f(a, i, u, d, Loc::current());
    };
  };
  std::vector<Kind> kinds = {
      {"scatter_add", wrap(lax::scatter_add), [](double a, double b) { return a + b; }},
      {"scatter_mul", wrap(lax::scatter_mul), [](double a, double b) { return a * b; }},
      {"scatter_min", wrap(lax::scatter_min), [](double a, double b) { return std::min(a, b); }},
      {"scatter_max", wrap(lax::scatter_max), [](double a, double b) { return std::max(a, b); }},
  };
  for (DType dt : {int32, int64, uint32, float32, float64}) {
    for (const auto& kind : kinds) {
      for (const auto& c : cases) {
        std::string dtype_str = dtype_name(dt);
      CAPTURE(dtype_str);
        std::string kind_str = kind.name;
        CAPTURE(kind_str);
        CAPTURE(shape_str(c.xs));
        auto xv = iota_values(shape_size(c.xs), dt);
        std::vector<double> uv(static_cast<size_t>(shape_size(c.us)));
        for (size_t i = 0; i < uv.size(); ++i) uv[i] = static_cast<double>((i * 7) % 5 + 1);
        Array y = kind.op(make(xv, c.xs, dt), ints(c.idx, c.is), make(uv, c.us, dt), c.dn);
        CHECK(y.shape() == c.xs);
        CHECK(y.dtype() == dt);
        CHECK_ALLCLOSE(y, ref_scatter(xv, c.xs, c.idx, c.is, uv, c.us, c.dn, kind.combine));
      }
    }
  }
  // scatter (set) on cases without duplicates, every dtype
  for (DType dt : kAllTypes) {
    auto xv = iota_values(12, dt);
    std::vector<double> uv = {1, 0, 1, 1, 1, 0};
    lax::ScatterDimensionNumbers dn{{1}, {0}, {0}};
    Array y = lax::scatter(make(xv, {4, 3}, dt), ints({3, 5}, {2, 1}), make(uv, {2, 3}, dt), dn);
    auto expected = xv;
    expected[9] = 1, expected[10] = 0, expected[11] = 1;  // row 3 replaced, row 5 dropped
    CHECK_ALLCLOSE(y, expected);
  }
  // hand-computed anchors: duplicates accumulate; bool add is or
  CHECK_ALLCLOSE(lax::scatter_add(zeros({3}), array({1, 1, 1, 0}, Shape{4, 1}), array({1.f, 2.f, 3.f, 4.f}),
                                  {{}, {0}, {0}}),
                 std::vector<double>{4, 6, 0});
  CHECK_ALLCLOSE(lax::scatter_add(make({0, 1, 0}, {3}, bool_), array({2, 2}, Shape{2, 1}),
                                  make({1, 0}, {2}, bool_), {{}, {0}, {0}}),
                 std::vector<double>{0, 1, 1});
}

TEST_CASE("scatter: min/max propagate NaN and large windows split across threads stay exact") {
  double nan = std::nan("");
  CHECK_ALLCLOSE(lax::scatter_max(array({1.0, 2.0}), array({0}, Shape{1, 1}), array({nan}), {{}, {0}, {0}}),
                 std::vector<double>{nan, 2});
  CHECK_ALLCLOSE(lax::scatter_min(array({nan, 2.0}), array({0}, Shape{1, 1}), array({0.0}), {{}, {0}, {0}}),
                 std::vector<double>{nan, 2});
  // 3 x 100000 window rows added to row 1 three times.
  const int64_t n = 100000;
  Array big = lax::scatter_add(zeros({2, n}, int32), array({1, 1, 1}, Shape{3, 1}), ones({3, n}, int32),
                               {{1}, {0}, {0}});
  auto v = big.to_vector<int32_t>();
  CHECK(std::count(v.begin(), v.begin() + n, 0) == n);
  CHECK(std::count(v.begin() + n, v.end(), 3) == n);
}

TEST_CASE("scatter: bad inputs are rejected") {
  Array x = zeros({4, 3});
  Array i = array({0, 1}, Shape{2, 1});
  lax::ScatterDimensionNumbers dn{{1}, {0}, {0}};
  CHECK_THROWS_WITH_AS(lax::scatter_add(x, array({0.f, 1.f}, Shape{2, 1}), zeros({2, 3}), dn),
                       doctest::Contains("integer dtype"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::scatter_add(x, i, zeros({2, 3}, int32), dn), doctest::Contains("i32[2,3]"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::scatter(x, i, zeros({3, 3}), dn), doctest::Contains("has size 3"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::scatter_mul(x, i, zeros({2, 4}), dn), doctest::Contains("does not fit"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::scatter_min(x, i, zeros({2, 3}), {{1}, {}, {0}}), doctest::Contains("cover"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::scatter_max(x, i, zeros({2, 3}), {{1}, {0}, {3}}), doctest::Contains("out of range"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::scatter_add(x, i, zeros({2, 3, 1}), dn), doctest::Contains("rank"), ShapeError);
  CHECK_THROWS_WITH_AS(lax::scatter_add(x, array({0, 1}, Shape{1, 2}), zeros({1, 3}), dn),
                       doctest::Contains("scatter_dims_to_operand_dims"), ShapeError);
}

// ---- x[i] and x.at(i) ---------------------------------------------------------------------

TEST_CASE("getitem: integer indices select leading axes, negative from the end, out-of-range clamped") {
  for (DType dt : kAllTypes) {
    std::string dtype_str = dtype_name(dt);
      CAPTURE(dtype_str);
    auto xv = iota_values(24, dt);
    Array x = make(xv, {2, 3, 4}, dt);
    auto row = [&](int64_t a, int64_t b) {
      std::vector<double> r;
      for (int64_t c = 0; c < 4; ++c) r.push_back(xv[(a * 3 + b) * 4 + c]);
      return r;
    };
    Array y = x[1];
    CHECK(y.shape() == Shape{3, 4});
    CHECK(y.dtype() == dt);
    std::vector<double> expected;
    for (int64_t b = 0; b < 3; ++b)
      for (double v : row(1, b)) expected.push_back(v);
    CHECK_ALLCLOSE(y, expected);
    CHECK_ALLCLOSE((x[{Array(1), Array(-1)}]), row(1, 2));
    CHECK_ALLCLOSE((x[{Array(-2), Array(1)}]), row(0, 1));
    CHECK_ALLCLOSE((x[{Array(5), Array(-7)}]), row(1, 0));  // clamped
    CHECK_ALLCLOSE((x[{scalar(1, int64), scalar(2, uint32)}]), row(1, 2));
    CHECK_ALLCLOSE((x[{scalar(-1, int32), Array(0), Array(3)}]), std::vector<double>{xv[15]});
    CHECK((x[{scalar(-1, int32), Array(0), Array(3)}]).ndim() == 0);
  }
  CHECK_ALLCLOSE(array({1.f, 2.f, 3.f}).at(-1).get(), std::vector<double>{3});
  Array x = array({1.f, 2.f, 3.f});
  CHECK(x[{}].shape() == Shape{3});
}

TEST_CASE("getitem: integer arrays gather like numpy (index shape + remaining axes)") {
  Array x = make(iota_values(12, float32), {4, 3}, float32);  // 1..12
  Array y = x[array({3, 0, -1, 9, -9}, Shape{5})];
  CHECK(y.shape() == Shape{5, 3});
  CHECK_ALLCLOSE(y, std::vector<double>{10, 11, 12, 1, 2, 3, 10, 11, 12, 10, 11, 12, 1, 2, 3});
  Array z = x[array({0, 2, 1, 3}, Shape{2, 2})];
  CHECK(z.shape() == Shape{2, 2, 3});
  CHECK_ALLCLOSE(z, std::vector<double>{1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12});
  // Two index arrays broadcast together: points.
  Array p = x[{array({0, 3, 1}), array({2})}];
  CHECK(p.shape() == Shape{3});
  CHECK_ALLCLOSE(p, std::vector<double>{3, 12, 6});
  Array q = x[{array({1, 2}), Array(-1)}];
  CHECK_ALLCLOSE(q, std::vector<double>{6, 9});
  Array e = x[array(std::vector<int32_t>{}, Shape{0})];
  CHECK(e.shape() == Shape{0, 3});
}

TEST_CASE("getitem: traced indices stage dynamic_slice or gather") {
  Array x = array({1.f, 2.f, 3.f, 4.f, 5.f});
  auto f = [](Array a, Array i) { return a[i]; };
  CHECK_ALLCLOSE(f(x, scalar(-1, int32)), std::vector<double>{5});
  std::string jp = jaxpr_of(f, x, scalar(2, int32));
  CHECK(jp.find("dynamic_slice[slice_sizes=(1,)]") != std::string::npos);
  CHECK(jp.find("squeeze") != std::string::npos);
  CHECK(jp.find("lt") != std::string::npos);
  std::string jg = jaxpr_of(f, x, array({1, 2}));
  CHECK(jg.find("gather") != std::string::npos);
  // Under make_jaxpr the staged program still computes the right values.
  auto closed = make_jaxpr(f)(x, scalar(0, int32));
  std::vector<Array> args{x, scalar(-2, int32)};
  CHECK_ALLCLOSE(closed(args)[0], std::vector<double>{4});
}

TEST_CASE("getitem: bad indices are rejected") {
  Array x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(x[array({0.5f})], doctest::Contains("integers"), DTypeError);
  CHECK_THROWS_WITH_AS(x[Array(true)], doctest::Contains("boolean"), DTypeError);
  CHECK_THROWS_WITH_AS((x[{Array(0), Array(0), Array(0)}]), doctest::Contains("too many indices: 3 indices for array f32[2,3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS((x[{array({0, 1}), array({0, 1, 2})}]), doctest::Contains("[getitem]"), ShapeError);
  CHECK_THROWS_WITH_AS(zeros({0, 3})[0], doctest::Contains("size 0"), ShapeError);
  CHECK_THROWS_WITH_AS(x.at(array({0.5f})).get(), doctest::Contains("indexing_test.cpp:"), DTypeError);
}

TEST_CASE("at: set/add/mul/min/max update the indexed elements, negative from the end, out-of-range dropped") {
  for (DType dt : {int32, int64, uint32, float32, float64}) {
    std::string dtype_str = dtype_name(dt);
      CAPTURE(dtype_str);
    auto xv = iota_values(6, dt);  // 1..6
    Array x = make(xv, {3, 2}, dt);
    auto with_row = [&](int64_t r, auto f) {
      auto e = xv;
      for (int64_t c = 0; c < 2; ++c) e[r * 2 + c] = f(e[r * 2 + c], c);
      return e;
    };
    CHECK_ALLCLOSE(x.at(1).set(9), with_row(1, [](double, int64_t) { return 9.0; }));
    CHECK_ALLCLOSE(x.at(-1).add(array({1, 2})), with_row(2, [](double v, int64_t c) { return v + 1 + c; }));
    CHECK_ALLCLOSE(x.at(0).mul(3), with_row(0, [](double v, int64_t) { return v * 3; }));
    CHECK_ALLCLOSE(x.at(2).min(5.0), with_row(2, [](double v, int64_t) { return std::min(v, 5.0); }));
    CHECK_ALLCLOSE(x.at(0).max(2), with_row(0, [](double v, int64_t) { return std::max(v, 2.0); }));
    CHECK_ALLCLOSE((x.at({Array(1), Array(-1)}).set(0)), with_row(1, [](double v, int64_t c) { return c ? 0.0 : v; }));
    CHECK_ALLCLOSE(x.at(3).set(0), xv);    // dropped
    CHECK_ALLCLOSE(x.at(-4).add(1), xv);   // -4 + 3 = -1: dropped
    CHECK(x.at(1).set(9).dtype() == dt);
  }
  // Duplicate array indices accumulate.
  Array z = zeros({4});
  CHECK_ALLCLOSE(z.at(array({1, 1, 3, -1, 7})).add(array({1.f, 2.f, 3.f, 4.f, 5.f})),
                 std::vector<double>{0, 3, 0, 7});
  CHECK_ALLCLOSE(ones({3}).at(array({0, 0})).mul(array({2.f, 5.f})), std::vector<double>{10, 1, 1});
  CHECK_ALLCLOSE(array({4.f, 4.f}).at(array({0, 0, 1})).min(array({3.f, 1.f, 9.f})), std::vector<double>{1, 4});
  CHECK_ALLCLOSE(array({4.f, 4.f}).at(array({1, 1})).max(array({7.f, 5.f})), std::vector<double>{4, 7});
  // Values broadcast to the indexed shape and are cast to x's dtype.
  Array m = zeros({2, 3}, int32);
  Array s = m.at(array({1, 0})).set(array({1.7f, 2.2f, 3.9f}));
  CHECK(s.dtype() == int32);
  CHECK_ALLCLOSE(s, std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK_ALLCLOSE(m.at({}).add(1), std::vector<double>{1, 1, 1, 1, 1, 1});
  // bool arrays: set
  CHECK_ALLCLOSE(make({0, 0, 0}, {3}, bool_).at(-1).set(true), std::vector<double>{0, 0, 1});
  // 0-d values at a 0-d position
  CHECK_ALLCLOSE(array({1.0, 2.0}).at(0).add(0.5), std::vector<double>{1.5, 2});
  // empty index arrays change nothing
  CHECK_ALLCLOSE(array({1.f, 2.f}).at(array(std::vector<int32_t>{}, Shape{0})).set(5), std::vector<double>{1, 2});
}

TEST_CASE("at: traced updates stage the scatter family") {
  Array x = array({1.f, 2.f, 3.f});
  auto f = [](Array a, Array i) { return a.at(i).add(10); };
  std::string jp = jaxpr_of(f, x, scalar(1, int32));
  CHECK(jp.find("scatter_add[") != std::string::npos);
  CHECK(jaxpr_of([](Array a, Array i) { return a.at(i).set(0); }, x, scalar(1, int32)).find("scatter[") !=
        std::string::npos);
  CHECK(jaxpr_of([](Array a, Array i) { return a.at(i).max(0); }, x, scalar(1, int32)).find("scatter_max") !=
        std::string::npos);
  auto closed = make_jaxpr(f)(x, scalar(0, int32));
  std::vector<Array> args{x, scalar(-1, int32)};
  CHECK_ALLCLOSE(closed(args)[0], std::vector<double>{1, 2, 13});
}

TEST_CASE("at: bad updates are rejected") {
  Array x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(x.at(0).set(zeros({2})), doctest::Contains("indexed shape [3]"), ShapeError);
  CHECK_THROWS_WITH_AS(x.at(array({0, 1})).add(zeros({3, 3})), doctest::Contains("[at.add]"), ShapeError);
  CHECK_THROWS_WITH_AS(x.at(Array(1.5)).set(1), doctest::Contains("integers"), DTypeError);
  CHECK_THROWS_WITH_AS((x.at({Array(0), Array(0), Array(0)}).mul(2)), doctest::Contains("too many indices"),
                       ShapeError);
}

// ---- take / take_along_axis ---------------------------------------------------------------

TEST_CASE("take: matches numpy's take with indices clamped") {
  Shape xs{3, 4};
  auto xv = iota_values(12, float64);
  Array x = make(xv, xs, float64);
  std::vector<int64_t> idxv = {2, -1, 0, 7, -9, 1};
  for (DType it : {int32, int64}) {
    Array idx = ints(idxv, {2, 3}, it);
    // axis = nullopt: flattened
    Array f = take(x, idx);
    REQUIRE(f.shape() == Shape{2, 3});
    std::vector<double> ef;
    for (auto i : idxv) ef.push_back(xv[std::clamp<int64_t>(i < 0 ? i + 12 : i, 0, 11)]);
    CHECK_ALLCLOSE(f, ef);
    for (int axis : {0, 1, -1}) {
      CAPTURE(axis);
      int ax = axis < 0 ? axis + 2 : axis;
      Array y = take(x, idx, axis);
      Shape out = ax == 0 ? Shape{2, 3, 4} : Shape{3, 2, 3};
      REQUIRE(y.shape() == out);
      std::vector<double> e;
      for (int64_t o = 0; o < shape_size(out); ++o) {
        auto oi = unravel(o, out);
        int64_t n = xs[ax];
        int64_t raw = ax == 0 ? idxv[oi[0] * 3 + oi[1]] : idxv[oi[1] * 3 + oi[2]];
        int64_t i = std::clamp<int64_t>(raw < 0 ? raw + n : raw, 0, n - 1);
        e.push_back(ax == 0 ? xv[i * 4 + oi[2]] : xv[oi[0] * 4 + i]);
      }
      CHECK_ALLCLOSE(y, e);
    }
  }
  CHECK_ALLCLOSE(take(array({5, 6, 7}), Array(-1)), std::vector<double>{7});
  CHECK(take(array({5, 6, 7}), Array(-1)).ndim() == 0);
  CHECK(take(zeros({0, 2}), array(std::vector<int32_t>{}, Shape{0}), 0).shape() == Shape{0, 2});
  CHECK_THROWS_WITH_AS(take(x, array({0.f})), doctest::Contains("integers"), DTypeError);
  CHECK_THROWS_WITH_AS(take(x, array({0}), 2), doctest::Contains("take"), ShapeError);
  CHECK_THROWS_WITH_AS(take(zeros({0, 2}), array({0}), 0), doctest::Contains("size 0"), ShapeError);
}

TEST_CASE("take_along_axis: matches numpy, with broadcasting and clamping") {
  Shape xs{3, 4};
  auto xv = iota_values(12, float32);
  Array x = make(xv, xs, float32);
  // axis 1: one label per row (the cross-entropy case), negative and out-of-range included
  std::vector<int64_t> labels = {3, -1, 9};
  Array y = take_along_axis(x, ints(labels, {3, 1}), 1);
  CHECK(y.shape() == Shape{3, 1});
  CHECK_ALLCLOSE(y, std::vector<double>{xv[3], xv[7], xv[11]});
  // axis 0 with a [2,4] index
  std::vector<int64_t> iv = {0, 1, 2, -3, 2, 2, 0, 1};
  Array z = take_along_axis(x, ints(iv, {2, 4}, int64), 0);
  REQUIRE(z.shape() == Shape{2, 4});
  std::vector<double> e;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 4; ++c) {
      int64_t i = iv[r * 4 + c];
      i = i < 0 ? i + 3 : i;
      e.push_back(xv[i * 4 + c]);
    }
  CHECK_ALLCLOSE(z, e);
  // broadcasting: x [3,1] against indices [3,2] along axis 0 -> [3,2]
  Array col = array({1.f, 2.f, 3.f}, Shape{3, 1});
  Array b = take_along_axis(col, array({2, 0, 1, 1, 0, 2}, Shape{3, 2}), 0);
  CHECK(b.shape() == Shape{3, 2});
  CHECK_ALLCLOSE(b, std::vector<double>{3, 1, 2, 2, 1, 3});
  // 1-d
  CHECK_ALLCLOSE(take_along_axis(array({5, 6, 7}), array({2, 2, 0}), 0), std::vector<double>{7, 7, 5});
  CHECK_THROWS_WITH_AS(take_along_axis(x, array({0}), 0), doctest::Contains("same rank"), ShapeError);
  CHECK_THROWS_WITH_AS(take_along_axis(x, array({0, 1}, Shape{1, 2}), 0), doctest::Contains("do not broadcast"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(take_along_axis(x, array({0.f}, Shape{1, 1}), 0), doctest::Contains("integers"), DTypeError);
  std::string jp = jaxpr_of([](Array a, Array i) { return take_along_axis(a, i, 1); }, x, ints(labels, {3, 1}));
  CHECK(jp.find("gather") != std::string::npos);
}
