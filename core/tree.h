#pragma once
// Trees of arrays: jx::Tree (dynamic lists, string-keyed dicts, arrays, None), the std
// containers (vector, array, tuple, pair, map<string, T>), and user structs registered with
// JX_TREE(Struct, fields...). Transforms flatten trees to leaves and rebuild them with
// tree_unflatten, so results have the caller's types.

#include <array>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/array.h"

namespace jx {

/// The structure of a flattened tree.
struct TreeDef {
  enum class Kind : uint8_t { leaf, none, list, dict, tuple, structure };
  Kind kind = Kind::leaf;
  std::vector<std::string> keys;  // dict keys (sorted) or struct field names
  std::vector<TreeDef> children;
  std::string type_name;  // for messages: "vector", "Params", ...
  size_t num_leaves = 1;

  bool operator==(const TreeDef& other) const;
  /// "{'b': *, 'w': *}", "[*, *]", "(*, (*, *))", "Params(w=*, b=*)".
  std::string str() const;
};

struct NoneType {
  bool operator==(const NoneType&) const = default;
};
/// No value: an empty tree node (and "not mapped" in vmap's in_axes).
inline constexpr NoneType none{};

/// A dynamic tree: None, an Array leaf, a list of trees, or a string-keyed dict of trees.
class Tree {
 public:
  using List = std::vector<Tree>;
  using Dict = std::map<std::string, Tree>;

  Tree() : node_(NoneType{}) {}
  Tree(NoneType) : node_(NoneType{}) {}            // NOLINT
  Tree(Array leaf) : node_(std::move(leaf)) {}     // NOLINT
  Tree(List list) : node_(std::move(list)) {}      // NOLINT
  Tree(Dict dict) : node_(std::move(dict)) {}      // NOLINT
  template <class T>
    requires std::is_arithmetic_v<T>
  Tree(T value) : node_(Array(value)) {}  // NOLINT
  /// A dict from {"key", value} pairs: Tree{{"w", w}, {"b", b}}.
  Tree(std::initializer_list<std::pair<const std::string, Tree>> items) : node_(Dict(items)) {}

  static Tree list(List items = {}) { return Tree(std::move(items)); }
  static Tree dict(Dict items = {}) { return Tree(std::move(items)); }

  bool is_none() const { return std::holds_alternative<NoneType>(node_); }
  bool is_leaf() const { return std::holds_alternative<Array>(node_); }
  bool is_list() const { return std::holds_alternative<List>(node_); }
  bool is_dict() const { return std::holds_alternative<Dict>(node_); }

  /// The leaf; throws ValueError if this node is not a leaf.
  const Array& array() const;
  const List& as_list() const;
  List& as_list();
  const Dict& as_dict() const;
  Dict& as_dict();
  /// Dict access; throws ValueError naming the missing key and the keys present.
  const Tree& operator[](const std::string& key) const;
  Tree& operator[](const std::string& key);
  const Tree& operator[](size_t i) const;
  Tree& operator[](size_t i);
  size_t size() const;
  operator const Array&() const { return array(); }  // NOLINT: a leaf converts to its Array

 private:
  std::variant<NoneType, Array, List, Dict> node_;
};

std::ostream& operator<<(std::ostream& os, const Tree& tree);

// ---- traits ------------------------------------------------------------------------------------

/// Customization point: flatten(x, leaves) appends leaves and returns the structure;
/// unflatten(def, leaves, pos) rebuilds a T from leaves starting at pos.
template <class T, class Enable = void>
struct TreeTraits;

namespace detail {
[[noreturn]] void tree_mismatch(const char* expected, const TreeDef& def);
TreeDef flatten_dynamic(const Tree& t, std::vector<Array>& leaves);
Tree unflatten_dynamic(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos);
std::vector<std::string> split_field_names(const char* names);
}  // namespace detail

template <>
struct TreeTraits<Array> {
  static TreeDef flatten(const Array& x, std::vector<Array>& leaves) {
    leaves.push_back(x);
    return TreeDef{};
  }
  static Array unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::leaf) detail::tree_mismatch("an Array leaf", def);
    return leaves[pos++];
  }
};

template <>
struct TreeTraits<Tree> {
  static TreeDef flatten(const Tree& x, std::vector<Array>& leaves) { return detail::flatten_dynamic(x, leaves); }
  static Tree unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    return detail::unflatten_dynamic(def, leaves, pos);
  }
};

template <>
struct TreeTraits<NoneType> {
  static TreeDef flatten(const NoneType&, std::vector<Array>&) {
    return TreeDef{TreeDef::Kind::none, {}, {}, "None", 0};
  }
  static NoneType unflatten(const TreeDef&, const std::vector<Array>&, size_t&) { return {}; }
};

template <class T>
struct TreeTraits<std::vector<T>> {
  static TreeDef flatten(const std::vector<T>& x, std::vector<Array>& leaves) {
    TreeDef def{TreeDef::Kind::list, {}, {}, "vector", 0};
    for (auto& e : x) {
      def.children.push_back(TreeTraits<T>::flatten(e, leaves));
      def.num_leaves += def.children.back().num_leaves;
    }
    return def;
  }
  static std::vector<T> unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::list) detail::tree_mismatch("a list", def);
    std::vector<T> out;
    out.reserve(def.children.size());
    for (auto& c : def.children) out.push_back(TreeTraits<T>::unflatten(c, leaves, pos));
    return out;
  }
};

template <class T, size_t N>
struct TreeTraits<std::array<T, N>> {
  static TreeDef flatten(const std::array<T, N>& x, std::vector<Array>& leaves) {
    TreeDef def{TreeDef::Kind::list, {}, {}, "array", 0};
    for (auto& e : x) {
      def.children.push_back(TreeTraits<T>::flatten(e, leaves));
      def.num_leaves += def.children.back().num_leaves;
    }
    return def;
  }
  static std::array<T, N> unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::list || def.children.size() != N) detail::tree_mismatch("a fixed-size list", def);
    std::array<T, N> out;
    for (size_t i = 0; i < N; ++i) out[i] = TreeTraits<T>::unflatten(def.children[i], leaves, pos);
    return out;
  }
};

template <class... Ts>
struct TreeTraits<std::tuple<Ts...>> {
  static TreeDef flatten(const std::tuple<Ts...>& x, std::vector<Array>& leaves) {
    TreeDef def{TreeDef::Kind::tuple, {}, {}, "tuple", 0};
    std::apply(
        [&](const auto&... e) {
          ((def.children.push_back(TreeTraits<std::decay_t<decltype(e)>>::flatten(e, leaves)),
            def.num_leaves += def.children.back().num_leaves),
           ...);
        },
        x);
    return def;
  }
  static std::tuple<Ts...> unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::tuple || def.children.size() != sizeof...(Ts)) {
      detail::tree_mismatch("a tuple", def);
    }
    return unflatten_impl(def, leaves, pos, std::index_sequence_for<Ts...>{});
  }
  template <size_t... I>
  static std::tuple<Ts...> unflatten_impl(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos,
                                          std::index_sequence<I...>) {
    // Braced init evaluates in order.
    return std::tuple<Ts...>{TreeTraits<Ts>::unflatten(def.children[I], leaves, pos)...};
  }
};

template <class A, class B>
struct TreeTraits<std::pair<A, B>> {
  static TreeDef flatten(const std::pair<A, B>& x, std::vector<Array>& leaves) {
    TreeDef def{TreeDef::Kind::tuple, {}, {}, "pair", 0};
    def.children.push_back(TreeTraits<A>::flatten(x.first, leaves));
    def.children.push_back(TreeTraits<B>::flatten(x.second, leaves));
    def.num_leaves = def.children[0].num_leaves + def.children[1].num_leaves;
    return def;
  }
  static std::pair<A, B> unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::tuple || def.children.size() != 2) detail::tree_mismatch("a pair", def);
    A a = TreeTraits<A>::unflatten(def.children[0], leaves, pos);
    B b = TreeTraits<B>::unflatten(def.children[1], leaves, pos);
    return {std::move(a), std::move(b)};
  }
};

template <class T>
struct TreeTraits<std::map<std::string, T>> {
  static TreeDef flatten(const std::map<std::string, T>& x, std::vector<Array>& leaves) {
    TreeDef def{TreeDef::Kind::dict, {}, {}, "map", 0};
    for (auto& [k, v] : x) {
      def.keys.push_back(k);
      def.children.push_back(TreeTraits<T>::flatten(v, leaves));
      def.num_leaves += def.children.back().num_leaves;
    }
    return def;
  }
  static std::map<std::string, T> unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::dict) detail::tree_mismatch("a dict", def);
    std::map<std::string, T> out;
    for (size_t i = 0; i < def.children.size(); ++i) out.emplace(def.keys[i], TreeTraits<T>::unflatten(def.children[i], leaves, pos));
    return out;
  }
};

/// Structs registered with JX_TREE: the macro defines jx_tree_fields(s) (a tuple of references)
/// and jx_tree_field_names(s*) found by argument-dependent lookup.
template <class T>
concept RegisteredStruct = requires(T& t) {
  jx_tree_fields(t);
  jx_tree_field_names(static_cast<const T*>(nullptr));
};

template <class T>
  requires RegisteredStruct<T>
struct TreeTraits<T> {
  static TreeDef flatten(const T& x, std::vector<Array>& leaves) {
    TreeDef def{TreeDef::Kind::structure, {}, {}, "", 0};
    static const std::vector<std::string> names = detail::split_field_names(jx_tree_field_names(static_cast<const T*>(nullptr)));
    def.keys = names;
    def.type_name = names.empty() ? "struct" : std::string(jx_tree_type_name(static_cast<const T*>(nullptr)));
    std::apply(
        [&](const auto&... f) {
          ((def.children.push_back(TreeTraits<std::decay_t<decltype(f)>>::flatten(f, leaves)),
            def.num_leaves += def.children.back().num_leaves),
           ...);
        },
        jx_tree_fields(const_cast<T&>(x)));
    return def;
  }
  static T unflatten(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
    if (def.kind != TreeDef::Kind::structure) detail::tree_mismatch("a registered struct", def);
    T out{};
    size_t i = 0;
    std::apply(
        [&](auto&... f) {
          ((f = TreeTraits<std::decay_t<decltype(f)>>::unflatten(def.children[i++], leaves, pos)), ...);
        },
        jx_tree_fields(out));
    return out;
  }
};

template <class T>
concept TreeLike = requires(const T& t, std::vector<Array>& leaves) {
  { TreeTraits<std::decay_t<T>>::flatten(t, leaves) } -> std::same_as<TreeDef>;
};

// ---- utilities ---------------------------------------------------------------------------------

/// Leaves in order, and the structure.
template <class T>
std::pair<std::vector<Array>, TreeDef> tree_flatten(const T& tree) {
  std::vector<Array> leaves;
  TreeDef def = TreeTraits<T>::flatten(tree, leaves);
  return {std::move(leaves), std::move(def)};
}

template <class T>
std::vector<Array> tree_leaves(const T& tree) {
  return tree_flatten(tree).first;
}

/// Rebuilds a T with the structure `def` from `leaves`; throws ValueError when the counts differ.
template <class T = Tree>
T tree_unflatten(const TreeDef& def, const std::vector<Array>& leaves) {
  if (leaves.size() != def.num_leaves) {
    throw ValueError(detail::cat("[tree_unflatten] the structure ", def.str(), " has ", def.num_leaves,
                                 " leaves, got ", leaves.size()));
  }
  size_t pos = 0;
  return TreeTraits<T>::unflatten(def, leaves, pos);
}

/// Applies f leafwise over trees of the same structure; the result has the first tree's type.
template <class F, class T, class... Rest>
T tree_map(F&& f, const T& tree, const Rest&... rest) {
  auto [leaves, def] = tree_flatten(tree);
  std::vector<std::vector<Array>> others;
  (
      [&] {
        auto [l, d] = tree_flatten(rest);
        if (!(d == def)) {
          throw ValueError(detail::cat("[tree_map] tree structures differ: ", def.str(), " vs ", d.str()));
        }
        others.push_back(std::move(l));
      }(),
      ...);
  std::vector<Array> out(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) {
    if constexpr (sizeof...(Rest) == 0) {
      out[i] = f(leaves[i]);
    } else {
      size_t k = 0;
      auto pick = [&](const auto&) -> const Array& { return others[k++][i]; };
      out[i] = f(leaves[i], pick(rest)...);
    }
  }
  return tree_unflatten<T>(def, out);
}

/// Blocks until every leaf is computed (GPU work is asynchronous; cpu arrays are ready); returns
/// the tree.
template <class T>
const T& block_until_ready(const T& tree) {
  if (!detail::device_buffers_exist()) return tree;
  for (const Array& x : tree_leaves(tree)) {
    if (x.defined()) x.block_until_ready();
  }
  return tree;
}

}  // namespace jx

// ---- JX_TREE ---------------------------------------------------------------------------------

#define JX_TREE_EXPAND(x) x
#define JX_TREE_FE_1(m, x) m(x)
#define JX_TREE_FE_2(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_1(m, __VA_ARGS__))
#define JX_TREE_FE_3(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_2(m, __VA_ARGS__))
#define JX_TREE_FE_4(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_3(m, __VA_ARGS__))
#define JX_TREE_FE_5(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_4(m, __VA_ARGS__))
#define JX_TREE_FE_6(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_5(m, __VA_ARGS__))
#define JX_TREE_FE_7(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_6(m, __VA_ARGS__))
#define JX_TREE_FE_8(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_7(m, __VA_ARGS__))
#define JX_TREE_FE_9(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_8(m, __VA_ARGS__))
#define JX_TREE_FE_10(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_9(m, __VA_ARGS__))
#define JX_TREE_FE_11(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_10(m, __VA_ARGS__))
#define JX_TREE_FE_12(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_11(m, __VA_ARGS__))
#define JX_TREE_FE_13(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_12(m, __VA_ARGS__))
#define JX_TREE_FE_14(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_13(m, __VA_ARGS__))
#define JX_TREE_FE_15(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_14(m, __VA_ARGS__))
#define JX_TREE_FE_16(m, x, ...) m(x), JX_TREE_EXPAND(JX_TREE_FE_15(m, __VA_ARGS__))
#define JX_TREE_PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
#define JX_TREE_FOR_EACH(m, ...)                                                                       \
  JX_TREE_EXPAND(JX_TREE_PICK(__VA_ARGS__, JX_TREE_FE_16, JX_TREE_FE_15, JX_TREE_FE_14, JX_TREE_FE_13,  \
                              JX_TREE_FE_12, JX_TREE_FE_11, JX_TREE_FE_10, JX_TREE_FE_9, JX_TREE_FE_8,  \
                              JX_TREE_FE_7, JX_TREE_FE_6, JX_TREE_FE_5, JX_TREE_FE_4, JX_TREE_FE_3,     \
                              JX_TREE_FE_2, JX_TREE_FE_1)(m, __VA_ARGS__))
#define JX_TREE_FIELD_REF(f) jx_tree_self_.f

/// Registers a struct as a tree node (at namespace scope, after the struct; up to 16 fields).
/// The struct must be default-constructible; fields are trees themselves (Array, vectors, ...).
#define JX_TREE(Struct, ...)                                                                 \
  [[maybe_unused]] inline auto jx_tree_fields(Struct& jx_tree_self_) {                       \
    return std::tie(JX_TREE_FOR_EACH(JX_TREE_FIELD_REF, __VA_ARGS__));                       \
  }                                                                                          \
  [[maybe_unused]] inline const char* jx_tree_field_names(const Struct*) { return #__VA_ARGS__; } \
  [[maybe_unused]] inline const char* jx_tree_type_name(const Struct*) { return #Struct; }
