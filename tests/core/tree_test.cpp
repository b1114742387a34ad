// Trees: flatten/unflatten round trips for every supported container, JX_TREE structs,
// tree_map, and structure mismatches.
#include "testing/testing.h"

using namespace jx;

namespace user {
struct Layer {
  Array w;
  Array b;
};
JX_TREE(Layer, w, b)

struct Model {
  std::vector<Layer> layers;
  Array scale;
};
JX_TREE(Model, layers, scale)
}  // namespace user

TEST_CASE("tree: std containers flatten in order and round-trip") {
  Array a = array({1.f}), b = array({2.f}), c = array({3.f});
  std::tuple<Array, std::vector<Array>, std::pair<Array, NoneType>> t{a, {b, c}, {a, none}};
  auto [leaves, def] = tree_flatten(t);
  REQUIRE(leaves.size() == 4);
  CHECK(leaves[1].item<float>() == 2.f);
  CHECK(def.str() == "(*, [*, *], (*, None))");
  auto back = tree_unflatten<decltype(t)>(def, leaves);
  CHECK(std::get<1>(back)[1].item<float>() == 3.f);

  std::array<Array, 2> arr{a, b};
  CHECK(tree_leaves(arr).size() == 2);
  std::map<std::string, Array> m{{"z", a}, {"a", b}};
  auto [ml, md] = tree_flatten(m);
  CHECK(md.str() == "{'a': *, 'z': *}");
  CHECK(ml[0].item<float>() == 2.f);  // sorted keys, as JAX
}

TEST_CASE("tree: jx::Tree dicts and lists") {
  Tree params{{"w", zeros({2, 2})}, {"b", ones({2})}};
  params["layers"] = Tree::list({Tree(ones({1})), Tree(zeros({1}))});
  auto [leaves, def] = tree_flatten(params);
  CHECK(leaves.size() == 4);
  CHECK(def.str() == "{'b': *, 'layers': [*, *], 'w': *}");
  Tree back = tree_unflatten(def, leaves);
  CHECK(back["layers"][0].array().item<float>() == 1.f);
  CHECK_THROWS_WITH_AS(params["missing"].array(), doctest::Contains("expected an Array leaf"), ValueError);
  const Tree& cp = params;
  CHECK_THROWS_WITH_AS(cp["nope"], doctest::Contains("no key 'nope'"), ValueError);
}

TEST_CASE("tree: JX_TREE structs flatten field by field") {
  user::Model m{{{ones({2, 2}), zeros({2})}, {ones({2, 1}), zeros({1})}}, array({0.5f})};
  auto [leaves, def] = tree_flatten(m);
  CHECK(leaves.size() == 5);
  CHECK(def.str() == "Model(layers=[Layer(w=*, b=*), Layer(w=*, b=*)], scale=*)");
  auto doubled = tree_map([](const Array& x) { return x * 2.0; }, m);
  CHECK(doubled.scale.item<float>() == 1.f);
  CHECK(doubled.layers[1].w.shape() == Shape{2, 1});
  auto summed = tree_map([](const Array& x, const Array& y) { return x + y; }, m, doubled);
  CHECK(summed.layers[0].w.to_vector<float>() == std::vector<float>{3, 3, 3, 3});
}

TEST_CASE("tree: mismatched structures are reported with both structures") {
  std::vector<Array> two{ones({1}), ones({1})}, three{ones({1}), ones({1}), ones({1})};
  CHECK_THROWS_WITH_AS(tree_map([](const Array& x, const Array& y) { return x + y; }, two, three),
                       doctest::Contains("[*, *] vs [*, *, *]"), ValueError);
  auto [leaves, def] = tree_flatten(two);
  leaves.pop_back();
  CHECK_THROWS_WITH_AS(tree_unflatten<std::vector<Array>>(def, leaves), doctest::Contains("has 2 leaves, got 1"),
                       ValueError);
}
