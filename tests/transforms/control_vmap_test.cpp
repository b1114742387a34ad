// vmap of control flow equals a loop over the examples: cond with batched operands and with a
// batched predicate (a select over both branches), switch_ with a batched index, while_loop with a
// batched predicate (runs until every lane is done), fori_loop, scan with batched xs / carries /
// consts, non-leading axes, nesting with grad and with vmap itself.
#include <functional>

#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using testing::count_substr;

namespace {
Array f64(std::vector<double> v) { return array(v); }


Array collatz_steps(const Array& start) {
  return lax::while_loop([](const std::pair<Array, Array>& s) { return s.first != 1; },
                         [](const std::pair<Array, Array>& s) {
                           Array n = s.first;
                           return std::pair<Array, Array>{where(mod(n, Array(2)) == 0, floor_divide(n, Array(2)), 3 * n + 1),
                                                          s.second + 1};
                         },
                         std::pair<Array, Array>{start, Array(0)})
      .second;
}
}  // namespace

TEST_CASE("vmap(cond): batched operands with a shared predicate, and a batched predicate") {
  testing::VecFnV f = [](const std::vector<Array>& a) {
    return lax::cond(
        a[0], [](const Array& x, const Array& y) { return sin(x) * y; }, [](const Array& x, const Array& y) { return x - y; },
        a[1], a[2]);
  };
  Array preds = array({true, false, true, false}), xs = testing::uniform({4, 3}, -1, 1, float64, 1),
        ys = testing::uniform({4, 3}, -1, 1, float64, 2), y = testing::uniform({3}, -1, 1, float64, 3);
  SUBCASE("unbatched predicate") {
    for (bool p : {true, false}) {
      testing::check_vmap(f, {Array(p), xs, ys}, {std::nullopt, 0, 0});
      testing::check_vmap(f, {Array(p), xs, y}, {std::nullopt, 0, std::nullopt});
      testing::check_vmap(f, {Array(p), transpose(xs), y}, {std::nullopt, 1, std::nullopt});
    }
    // The batched cond is still one cond equation.
    auto bf = vmap([&](const Array& x) { return f({Array(true), x, y}); });
    CHECK(count_substr(make_jaxpr(bf)(xs).str(), "cond[") == 1);
  }
  SUBCASE("batched predicate: both branches run and each lane selects") {
    testing::check_vmap(f, {preds, xs, ys}, {0, 0, 0});
    testing::check_vmap(f, {preds, xs, y}, {0, 0, std::nullopt});
    testing::check_vmap(f, {preds, xs[0], y}, {0, std::nullopt, std::nullopt});
    auto bf = vmap([&](const Array& p, const Array& x) { return f({p, x, y}); });
    std::string s = make_jaxpr(bf)(preds, xs).str();
    CHECK(s.find("cond[") == std::string::npos);
    CHECK(s.find("select") != std::string::npos);
  }
}

TEST_CASE("vmap(switch_): a batched index picks a branch per lane (clamped)") {
  std::vector<std::function<Array(const Array&)>> fs{
      [](const Array& x) { return x + 1.0; }, [](const Array& x) { return x * x; }, [](const Array& x) { return -x; }};
  testing::VecFnV f = [&](const std::vector<Array>& a) { return lax::switch_(a[0], fs, a[1]); };
  Array idx = array(std::vector<int32_t>{2, 0, 1, 5, -1}), xs = testing::uniform({5, 2}, -1, 1, float64, 4);
  testing::check_vmap(f, {idx, xs}, {0, 0});
  testing::check_vmap(f, {idx, xs[0]}, {0, std::nullopt});
  testing::check_vmap(f, {Array(1), xs}, {std::nullopt, 0});
}

TEST_CASE("vmap(while_loop): a batched predicate runs until every lane is done; finished lanes keep their carry") {
  Array starts = array(std::vector<int32_t>{1, 6, 7, 27, 3});
  Array got = vmap(collatz_steps)(starts);
  std::vector<double> ref;
  for (int s : {1, 6, 7, 27, 3}) {
    int c = s, n = 0;
    while (c != 1) c = c % 2 == 0 ? c / 2 : 3 * c + 1, ++n;
    ref.push_back(n);
  }
  CHECK_ALLCLOSE(got, ref);
  // A float carry with per-lane limits (batched predicate) and a shared multiplier.
  testing::VecFnV f = [](const std::vector<Array>& a) {
    return lax::while_loop([&](const Array& v) { return sum(v) < a[1]; }, [&](const Array& v) { return v * a[2] + 1.0; }, a[0]);
  };
  Array x0 = testing::uniform({4, 2}, 0.1, 1, float64, 5), limits = f64({3.0, 50.0, 0.0, 400.0});
  testing::check_vmap(f, {x0, limits, scalar(2.0, float64)}, {0, 0, std::nullopt});
  testing::check_vmap(f, {x0[0], limits, scalar(2.0, float64)}, {std::nullopt, 0, std::nullopt});
  // Forward mode through the batched-predicate loop (a select per lane) matches finite differences.
  testing::check_jvp([&](const std::vector<Array>& a) { return vmap([&](const Array& x, const Array& l) { return f({x, l, a[1]}); })(a[0], limits); },
                     {x0, scalar(2.0, float64)});
  // Unbatched predicate, batched carry: the loop count is shared.
  testing::VecFnV g = [](const std::vector<Array>& a) {
    return lax::while_loop([](const std::pair<Array, Array>& s) { return s.second < 4; },
                           [&](const std::pair<Array, Array>& s) {
                             return std::pair<Array, Array>{sin(s.first) * a[1], s.second + 1};
                           },
                           std::pair<Array, Array>{a[0], Array(0)})
        .first;
  };
  testing::check_vmap(g, {x0, f64({2.0, 3.0})}, {0, std::nullopt});
  testing::check_vmap(g, {x0[0], testing::uniform({4, 2}, 1, 2, float64, 6)}, {std::nullopt, 0});
  auto bg = vmap([&](const Array& x) { return g({x, f64({2.0, 3.0})}); });
  CHECK(count_substr(make_jaxpr(bg)(x0).str(), "while[") == 1);
}

TEST_CASE("vmap(fori_loop): concrete and traced bounds, batched carries") {
  testing::VecFnV f = [](const std::vector<Array>& a) {
    return lax::fori_loop(0, 5, [&](const Array& i, const Array& x) { return x * a[1] + i.astype(float64); }, a[0]);
  };
  Array x0 = testing::uniform({3, 2}, -1, 1, float64, 7), m = testing::uniform({3, 2}, -1, 1, float64, 8);
  testing::check_vmap(f, {x0, m}, {0, 0});
  testing::check_vmap(f, {x0, m[0]}, {0, std::nullopt});
  // Traced, batched upper bounds: the loop runs per lane.
  testing::VecFnV g = [](const std::vector<Array>& a) {
    return lax::fori_loop(0, a[1], [](const Array& i, const Array& x) { return x * 0.5 + i.astype(float64); }, a[0]);
  };
  testing::check_vmap(g, {x0, array(std::vector<int32_t>{0, 3, 6})}, {0, 0});
}

TEST_CASE("vmap(scan): batched xs, carries and consts, non-leading axes, reverse") {
  // a = (w [2], c0 [2], xs [4, 2]).
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    testing::VecFnV f = [reverse](const std::vector<Array>& a) {
      auto [c, ys] = lax::scan(
          [&](const Array& c, const Array& x) {
            Array n = tanh(c * a[0] + x);
            return std::pair{n, sum(n) * x};
          },
          a[1], a[2], std::nullopt, reverse);
      return concatenate({c, reshape(ys, {-1})});
    };
    Array w = testing::uniform({3, 2}, -1, 1, float64, 9), c0 = testing::uniform({3, 2}, -1, 1, float64, 10),
          xs = testing::uniform({3, 4, 2}, -1, 1, float64, 11);
    testing::check_vmap(f, {w, c0, xs}, {0, 0, 0});
    testing::check_vmap(f, {w[0], c0[0], xs}, {std::nullopt, std::nullopt, 0});  // only xs batched
    testing::check_vmap(f, {w, c0[0], xs[0]}, {0, std::nullopt, std::nullopt});  // only the const batched
    testing::check_vmap(f, {w[0], c0, xs[0]}, {std::nullopt, 0, std::nullopt});  // only the carry batched
    testing::check_vmap(f, {w, c0, transpose(xs, {1, 0, 2})}, {0, 0, 1});        // xs batched along axis 1
    testing::check_vmap(f, {w, c0, transpose(xs, {1, 2, 0})}, {0, 0, 2}, 1);     // ... along its last axis
  }
  // A carry that is unbatched on entry but picks up the batch inside the body.
  testing::VecFnV g = [](const std::vector<Array>& a) {
    return lax::scan([&](const std::pair<Array, Array>& c, const Array& x) {
             return std::pair{std::pair<Array, Array>{c.second, c.first + x}, c.first};
           },
           std::pair<Array, Array>{scalar(0.0, float64), scalar(1.0, float64)}, a[0])
        .second;
  };
  testing::check_vmap(g, {testing::uniform({3, 5}, -1, 1, float64, 12)}, {0});
}

TEST_CASE("vmap and grad compose through cond and scan, in both orders; nested vmap") {
  auto loss = [](const Array& w, const Array& xs) {
    auto [c, ys] = lax::scan(
        [&](const Array& c, const Array& x) {
          Array n = lax::cond(sum(x) > 0.0, [&](const Array& v) { return tanh(v * w); }, [&](const Array& v) { return v * 0.5; }, c + x);
          return std::pair{n, sum(n * n)};
        },
        zeros({2}, float64), xs);
    return sum(ys) + sum(c);
  };
  Array w = f64({0.7, -0.4}), batch = testing::uniform({3, 4, 2}, -1, 1, float64, 13);
  // Per-example gradients: vmap(grad) equals the loop of grads.
  Array per = vmap(grad(loss), {none, 0})(w, batch);
  std::vector<Array> rows;
  for (int b = 0; b < 3; ++b) rows.push_back(grad(loss)(w, batch[b]));
  CHECK_ALLCLOSE(per, stack(rows));
  // grad of a vmapped (summed) loss equals the sum of per-example gradients.
  Array total = grad([&](const Array& v) { return sum(vmap(loss, {none, 0})(v, batch)); })(w);
  CHECK_ALLCLOSE_TOL(total, testing::values(sum(stack(rows), {0})), 1e-12, 1e-12);
  testing::check_grads([&](const std::vector<Array>& a) { return vmap(loss, {none, 0})(a[0], a[1]); }, {w, batch}, 1);
  // Nested vmap over a batch of batches of while loops.
  Array starts = array(std::vector<int32_t>{1, 6, 7, 27, 3, 9}, Shape{2, 3});
  Array nested = vmap(vmap(collatz_steps))(starts);
  std::vector<Array> flat;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) flat.push_back(collatz_steps(starts[i][j]));
  CHECK_ALLCLOSE(nested, testing::values(stack(flat)));
}
