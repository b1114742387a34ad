// Params: printing, hashing and equality.

#include "core/params.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace jx {

Params::Params(std::initializer_list<std::pair<std::string, ParamValue>> items) {
  for (auto& [k, v] : items) set(k, v);
}

Params& Params::set(const std::string& name, ParamValue value) {
  for (auto& [k, v] : items_) {
    if (k == name) {
      v = std::move(value);
      return *this;
    }
  }
  items_.emplace_back(name, std::move(value));
  return *this;
}

bool Params::has(const std::string& name) const {
  for (auto& [k, v] : items_)
    if (k == name) return true;
  return false;
}

const ParamValue& Params::at(const std::string& name) const {
  for (auto& [k, v] : items_)
    if (k == name) return v;
  JX_CHECK(false, "missing parameter '", name, "'");
  __builtin_unreachable();
}

namespace {
size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)); }

size_t hash_value(const ParamValue& v) {
  return std::visit(
      [](const auto& x) -> size_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          size_t h = 17;
          for (auto i : x) h = mix(h, std::hash<int64_t>{}(i));
          return h;
        } else if constexpr (std::is_same_v<T, IntPairs>) {
          size_t h = 19;
          for (auto [a, b] : x) h = mix(mix(h, std::hash<int64_t>{}(a)), std::hash<int64_t>{}(b));
          return h;
        } else if constexpr (std::is_same_v<T, std::shared_ptr<const ParamObject>>) {
          return x ? x->hash() : 0;
        } else if constexpr (std::is_same_v<T, DType>) {
          return std::hash<int>{}(static_cast<int>(x));
        } else {
          return std::hash<T>{}(x);
        }
      },
      v);
}

bool values_equal(const ParamValue& a, const ParamValue& b) {
  if (a.index() != b.index()) return false;
  if (auto* pa = std::get_if<std::shared_ptr<const ParamObject>>(&a)) {
    auto& pb = std::get<std::shared_ptr<const ParamObject>>(b);
    if (!*pa || !pb) return *pa == pb;
    return (*pa)->equals(*pb);
  }
  if (auto* da = std::get_if<double>(&a)) {  // bitwise, so NaN parameters still hash-cons
    double db = std::get<double>(b);
    return std::memcmp(da, &db, sizeof(double)) == 0;
  }
  return a == b;
}
}  // namespace

size_t Params::hash() const {
  size_t h = items_.size();
  for (auto& [k, v] : items_) h = mix(mix(h, std::hash<std::string>{}(k)), hash_value(v));
  return h;
}

bool Params::operator==(const Params& other) const {
  if (items_.size() != other.items_.size()) return false;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].first != other.items_[i].first) return false;
    if (!values_equal(items_[i].second, other.items_[i].second)) return false;
  }
  return true;
}

void print_param_value(std::ostream& os, const ParamValue& value) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          os << (x ? "True" : "False");
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          os << "(";
          for (size_t i = 0; i < x.size(); ++i) os << (i ? ", " : "") << x[i];
          os << (x.size() == 1 ? ",)" : ")");
        } else if constexpr (std::is_same_v<T, IntPairs>) {
          os << "(";
          for (size_t i = 0; i < x.size(); ++i) os << (i ? ", " : "") << "(" << x[i].first << ", " << x[i].second << ")";
          os << (x.size() == 1 ? ",)" : ")");
        } else if constexpr (std::is_same_v<T, std::shared_ptr<const ParamObject>>) {
          if (x) x->print(os); else os << "None";
        } else if constexpr (std::is_same_v<T, DType>) {
          os << dtype_name(x);
        } else {
          os << x;
        }
      },
      value);
}

void Params::print(std::ostream& os) const {
  // Sorted by name, as JAX prints its params dict.
  std::vector<const std::pair<std::string, ParamValue>*> sorted;
  for (auto& item : items_) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) os << " ";
    os << sorted[i]->first << "=";
    print_param_value(os, sorted[i]->second);
  }
}

}  // namespace jx
