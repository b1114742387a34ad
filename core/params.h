#pragma once
// Primitive parameters: a small ordered map from names to values, printable, hashable and
// comparable, as JAX's `params` dict. Sub-jaxprs and other structured values go through
// ParamObject.

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/errors.h"

namespace jx {

/// A structured parameter value (a sub-jaxpr, a callable): printable, hashable, comparable.
class ParamObject {
 public:
  virtual ~ParamObject() = default;
  virtual void print(std::ostream& os) const = 0;
  virtual size_t hash() const = 0;
  virtual bool equals(const ParamObject& other) const = 0;
};

using IntPairs = std::vector<std::pair<int64_t, int64_t>>;
using ParamValue = std::variant<bool, int64_t, double, std::string, DType, std::vector<int64_t>,
                                IntPairs, std::shared_ptr<const ParamObject>>;

class Params {
 public:
  Params() = default;
  Params(std::initializer_list<std::pair<std::string, ParamValue>> items);

  Params& set(const std::string& name, ParamValue value);
  bool has(const std::string& name) const;
  const ParamValue& at(const std::string& name) const;

  template <class T>
  const T& get(const std::string& name) const {
    const ParamValue& v = at(name);
    if (auto* p = std::get_if<T>(&v)) return *p;
    JX_CHECK(false, "parameter '", name, "' has another type");
    __builtin_unreachable();
  }
  int64_t get_int(const std::string& name) const { return get<int64_t>(name); }
  const std::vector<int64_t>& get_ints(const std::string& name) const {
    return get<std::vector<int64_t>>(name);
  }

  const std::vector<std::pair<std::string, ParamValue>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  size_t hash() const;
  bool operator==(const Params& other) const;
  /// "axes=(0,1) keepdims=False", as in a jaxpr's brackets.
  void print(std::ostream& os) const;

 private:
  std::vector<std::pair<std::string, ParamValue>> items_;
};

void print_param_value(std::ostream& os, const ParamValue& value);

}  // namespace jx
