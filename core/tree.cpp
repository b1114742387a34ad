// jx::Tree and TreeDef.

#include "core/tree.h"

#include <sstream>

namespace jx {

bool TreeDef::operator==(const TreeDef& o) const {
  return kind == o.kind && keys == o.keys && children == o.children && num_leaves == o.num_leaves &&
         (kind != Kind::structure || type_name == o.type_name);
}

std::string TreeDef::str() const {
  std::ostringstream os;
  switch (kind) {
    case Kind::leaf: return "*";
    case Kind::none: return "None";
    case Kind::list:
      os << "[";
      for (size_t i = 0; i < children.size(); ++i) os << (i ? ", " : "") << children[i].str();
      os << "]";
      break;
    case Kind::tuple:
      os << "(";
      for (size_t i = 0; i < children.size(); ++i) os << (i ? ", " : "") << children[i].str();
      os << (children.size() == 1 ? ",)" : ")");
      break;
    case Kind::dict:
      os << "{";
      for (size_t i = 0; i < children.size(); ++i) os << (i ? ", " : "") << "'" << keys[i] << "': " << children[i].str();
      os << "}";
      break;
    case Kind::structure:
      os << type_name << "(";
      for (size_t i = 0; i < children.size(); ++i) os << (i ? ", " : "") << keys[i] << "=" << children[i].str();
      os << ")";
      break;
  }
  return os.str();
}

const Array& Tree::array() const {
  if (auto* a = std::get_if<Array>(&node_)) return *a;
  throw ValueError("[Tree] expected an Array leaf, this node is " +
                   std::string(is_none() ? "None" : is_list() ? "a list" : "a dict"));
}
const Tree::List& Tree::as_list() const {
  if (auto* l = std::get_if<List>(&node_)) return *l;
  throw ValueError("[Tree] expected a list node");
}
Tree::List& Tree::as_list() {
  if (is_none()) node_ = List{};
  if (auto* l = std::get_if<List>(&node_)) return *l;
  throw ValueError("[Tree] expected a list node");
}
const Tree::Dict& Tree::as_dict() const {
  if (auto* d = std::get_if<Dict>(&node_)) return *d;
  throw ValueError("[Tree] expected a dict node");
}
Tree::Dict& Tree::as_dict() {
  if (is_none()) node_ = Dict{};
  if (auto* d = std::get_if<Dict>(&node_)) return *d;
  throw ValueError("[Tree] expected a dict node");
}

const Tree& Tree::operator[](const std::string& key) const {
  const Dict& d = as_dict();
  auto it = d.find(key);
  if (it == d.end()) {
    std::string keys;
    for (auto& [k, v] : d) keys += (keys.empty() ? "'" : ", '") + k + "'";
    throw ValueError("[Tree] no key '" + key + "' (keys: " + (keys.empty() ? "none" : keys) + ")");
  }
  return it->second;
}
Tree& Tree::operator[](const std::string& key) { return as_dict()[key]; }
const Tree& Tree::operator[](size_t i) const {
  const List& l = as_list();
  if (i >= l.size()) throw ValueError(detail::cat("[Tree] index ", i, " out of range for a list of ", l.size()));
  return l[i];
}
Tree& Tree::operator[](size_t i) {
  List& l = as_list();
  if (i >= l.size()) throw ValueError(detail::cat("[Tree] index ", i, " out of range for a list of ", l.size()));
  return l[i];
}
size_t Tree::size() const {
  if (is_list()) return as_list().size();
  if (is_dict()) return as_dict().size();
  return is_leaf() ? 1 : 0;
}

std::ostream& operator<<(std::ostream& os, const Tree& t) {
  if (t.is_none()) return os << "None";
  if (t.is_leaf()) return os << t.array();
  if (t.is_list()) {
    os << "[";
    for (size_t i = 0; i < t.size(); ++i) os << (i ? ", " : "") << t[i];
    return os << "]";
  }
  os << "{";
  bool first = true;
  for (auto& [k, v] : t.as_dict()) {
    os << (first ? "" : ", ") << "'" << k << "': " << v;
    first = false;
  }
  return os << "}";
}

namespace detail {

void tree_mismatch(const char* expected, const TreeDef& def) {
  throw ValueError(cat("[tree] structure mismatch: expected ", expected, ", got ", def.str()));
}

TreeDef flatten_dynamic(const Tree& t, std::vector<Array>& leaves) {
  if (t.is_none()) return TreeDef{TreeDef::Kind::none, {}, {}, "None", 0};
  if (t.is_leaf()) {
    leaves.push_back(t.array());
    return TreeDef{};
  }
  TreeDef def{t.is_list() ? TreeDef::Kind::list : TreeDef::Kind::dict, {}, {}, "Tree", 0};
  if (t.is_list()) {
    for (auto& c : t.as_list()) def.children.push_back(flatten_dynamic(c, leaves));
  } else {
    for (auto& [k, c] : t.as_dict()) {
      def.keys.push_back(k);
      def.children.push_back(flatten_dynamic(c, leaves));
    }
  }
  for (auto& c : def.children) def.num_leaves += c.num_leaves;
  return def;
}

Tree unflatten_dynamic(const TreeDef& def, const std::vector<Array>& leaves, size_t& pos) {
  switch (def.kind) {
    case TreeDef::Kind::none: return Tree();
    case TreeDef::Kind::leaf: return Tree(leaves[pos++]);
    case TreeDef::Kind::list:
    case TreeDef::Kind::tuple: {
      Tree::List l;
      for (auto& c : def.children) l.push_back(unflatten_dynamic(c, leaves, pos));
      return Tree(std::move(l));
    }
    case TreeDef::Kind::dict:
    case TreeDef::Kind::structure: {
      Tree::Dict d;
      for (size_t i = 0; i < def.children.size(); ++i) d.emplace(def.keys[i], unflatten_dynamic(def.children[i], leaves, pos));
      return Tree(std::move(d));
    }
  }
  return Tree();
}

std::vector<std::string> split_field_names(const char* names) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* p = names; *p; ++p) {
    if (*p == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (*p != ' ' && *p != '\n' && *p != '\t') {
      cur += *p;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace detail
}  // namespace jx
