// dot_general: shape rule and lax::dot_general. Kernels: backends/cpu/dot.cpp.

#include "core/prims/dot.h"

#include <algorithm>

#include "core/ops.h"
#include "core/trace.h"

namespace jx {

namespace {

// Checks one operand's dimension list: in range, no dimension listed twice across lists.
void check_dims(const AbstractValue& x, const char* side, const std::vector<int64_t>& contracting,
                const std::vector<int64_t>& batch, std::vector<bool>& used) {
  used.assign(static_cast<size_t>(x.ndim()), false);
  auto check = [&](const std::vector<int64_t>& dims, const char* what) {
    for (auto d : dims) {
      if (d < 0 || d >= x.ndim()) {
        throw_error<ShapeError>("[dot_general] ", side, " ", what, " dimension ", d, " is out of range for ",
                                side, " ", x.str());
      }
      if (used[static_cast<size_t>(d)]) {
        throw_error<ShapeError>("[dot_general] ", side, " dimension ", d, " of ", x.str(),
                                " is listed more than once in the dimension numbers");
      }
      used[static_cast<size_t>(d)] = true;
    }
  };
  check(batch, "batch");
  check(contracting, "contracting");
}

bool same_kind(DType a, DType b) {
  if (is_floating(a) || is_floating(b)) return is_floating(a) && is_floating(b);
  if (a == DType::bool_ || b == DType::bool_) return a == b;
  return true;  // integer -> integer
}

}  // namespace

const Primitive dot_general_p =
    PrimitiveBuilder("dot_general")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 2, "dot_general takes two operands");
          const auto& a = in[0];
          const auto& b = in[1];
          const auto& lc = p.get_ints("lhs_contracting");
          const auto& rc = p.get_ints("rhs_contracting");
          const auto& lb = p.get_ints("lhs_batch");
          const auto& rb = p.get_ints("rhs_batch");
          if (a.dtype != b.dtype) {
            throw_error<DTypeError>("[dot_general] operands must have the same dtype, got lhs ", a.str(), ", rhs ",
                                    b.str());
          }
          if (lc.size() != rc.size()) {
            throw_error<ShapeError>("[dot_general] lhs has ", lc.size(), " contracting dimensions but rhs has ",
                                    rc.size(), ": lhs ", a.str(), ", rhs ", b.str());
          }
          if (lb.size() != rb.size()) {
            throw_error<ShapeError>("[dot_general] lhs has ", lb.size(), " batch dimensions but rhs has ", rb.size(),
                                    ": lhs ", a.str(), ", rhs ", b.str());
          }
          std::vector<bool> lused, rused;
          check_dims(a, "lhs", lc, lb, lused);
          check_dims(b, "rhs", rc, rb, rused);
          for (size_t i = 0; i < lc.size(); ++i) {
            if (a.shape[lc[i]] != b.shape[rc[i]]) {
              throw_error<ShapeError>("[dot_general] contracting dimensions differ: lhs ", a.str(), ", rhs ",
                                      b.str(), " (", a.shape[lc[i]], " vs ", b.shape[rc[i]], ")");
            }
          }
          Shape out;
          for (size_t i = 0; i < lb.size(); ++i) {
            if (a.shape[lb[i]] != b.shape[rb[i]]) {
              throw_error<ShapeError>("[dot_general] batch dimensions differ: lhs ", a.str(), ", rhs ", b.str(),
                                      " (", a.shape[lb[i]], " vs ", b.shape[rb[i]], ")");
            }
            out.push_back(a.shape[lb[i]]);
          }
          for (int64_t d = 0; d < a.ndim(); ++d)
            if (!lused[d]) out.push_back(a.shape[d]);
          for (int64_t d = 0; d < b.ndim(); ++d)
            if (!rused[d]) out.push_back(b.shape[d]);
          DType dt = a.dtype;
          bool weak = a.weak_type && b.weak_type;
          if (p.has("preferred_element_type")) {
            DType pref = p.get<DType>("preferred_element_type");
            if (!same_kind(pref, a.dtype)) {
              throw_error<DTypeError>("[dot_general] preferred_element_type ", dtype_name(pref),
                                      " is not of the operands' kind: lhs ", a.str(), ", rhs ", b.str());
            }
            if (pref != dt) weak = false;
            dt = pref;
          }
          return std::vector<AbstractValue>{{dt, out, weak}};
        })
        .sample({AbstractValue{DType::float32, {3, 4}, false}, AbstractValue{DType::float32, {4, 5}, false}},
                Params{{"lhs_contracting", std::vector<int64_t>{1}},
                       {"rhs_contracting", std::vector<int64_t>{0}},
                       {"lhs_batch", std::vector<int64_t>{}},
                       {"rhs_batch", std::vector<int64_t>{}}})
        .sample({AbstractValue{DType::float64, {2, 4, 3}, false}, AbstractValue{DType::float64, {2, 4, 5}, false}},
                Params{{"lhs_contracting", std::vector<int64_t>{1}},
                       {"rhs_contracting", std::vector<int64_t>{1}},
                       {"lhs_batch", std::vector<int64_t>{0}},
                       {"rhs_batch", std::vector<int64_t>{0}}})
        .build();

namespace lax {

Array dot_general(const Array& lhs, const Array& rhs, const std::pair<Axes, Axes>& contracting,
                  const std::pair<Axes, Axes>& batch, std::optional<DType> preferred, const Loc& loc) {
  return at_loc(loc, [&] {
    auto norm = [&](const Axes& axes, const Array& x) {
      std::vector<int64_t> out;
      for (int d : axes) out.push_back(normalize_axis("dot_general", d, x.ndim()));
      return out;
    };
    Params p{{"lhs_contracting", norm(contracting.first, lhs)},
             {"rhs_contracting", norm(contracting.second, rhs)},
             {"lhs_batch", norm(batch.first, lhs)},
             {"rhs_batch", norm(batch.second, rhs)}};
    if (preferred) p.set("preferred_element_type", *preferred);
    return bind1(dot_general_p, {lhs, rhs}, p);
  });
}

}  // namespace lax
}  // namespace jx
