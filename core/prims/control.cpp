// cond, while and scan: shape rules, eager evaluation (the sub-jaxprs interpreted in a C++ loop,
// traced once) and registry samples. The transform rules live in transforms/control.cpp and are
// attached by register_control_rules() below.

#include "core/prims/control.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <sstream>

#include "core/trace.h"

namespace jx {

// ---- the branches parameter -------------------------------------------------------------------

void JaxprListParam::print(std::ostream& os) const {
  os << "(";
  for (auto& j : jaxprs) {
    os << "\n      ";
    print_jaxpr(os, *j.jaxpr, 6);
  }
  os << "\n    )";
}

size_t JaxprListParam::hash() const {
  size_t h = jaxprs.size();
  for (auto& j : jaxprs) h = h * 1000003 + std::hash<const void*>{}(j.jaxpr.get());
  return h;
}

bool JaxprListParam::equals(const ParamObject& other) const {
  auto* o = dynamic_cast<const JaxprListParam*>(&other);
  if (!o || o->jaxprs.size() != jaxprs.size()) return false;
  for (size_t i = 0; i < jaxprs.size(); ++i)
    if (o->jaxprs[i].jaxpr != jaxprs[i].jaxpr) return false;
  return true;
}

std::shared_ptr<const ParamObject> jaxpr_list_param(std::vector<ClosedJaxpr> jaxprs) {
  return std::make_shared<JaxprListParam>(std::move(jaxprs));
}

const std::vector<ClosedJaxpr>& get_jaxpr_list(const Params& params, const std::string& name) {
  auto& obj = params.get<std::shared_ptr<const ParamObject>>(name);
  auto* p = dynamic_cast<const JaxprListParam*>(obj.get());
  JX_CHECK(p, "parameter '", name, "' is not a list of jaxprs");
  return p->jaxprs;
}

namespace {

bool same_type(const AbstractValue& a, const AbstractValue& b) { return a.shape == b.shape && a.dtype == b.dtype; }

std::string types_str(std::span<const AbstractValue> avals) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < avals.size(); ++i) os << (i ? ", " : "") << avals[i].str();
  os << ")";
  return os.str();
}

// Checks that `want` (a sub-jaxpr's inputs) and `got` (the equation's) agree.
void check_inputs(const char* prim, const char* what, std::span<const AbstractValue> want,
                  std::span<const AbstractValue> got) {
  if (want.size() != got.size()) {
    throw_error<ShapeError>("[", prim, "] ", what, " takes ", want.size(), " inputs ", types_str(want), ", got ",
                            got.size(), " ", types_str(got));
  }
  for (size_t i = 0; i < want.size(); ++i) {
    if (!same_type(want[i], got[i])) {
      throw_error<ShapeError>("[", prim, "] ", what, " input ", i, " should be ", want[i].str(), ", got ", got[i].str());
    }
  }
}

std::vector<AbstractValue> concat(std::span<const AbstractValue> a, std::span<const AbstractValue> b) {
  std::vector<AbstractValue> out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// ---- cond ------------------------------------------------------------------------------------------

std::vector<AbstractValue> cond_shape_rule(std::span<const AbstractValue> in, const Params& p) {
  const auto& branches = get_jaxpr_list(p, control_param::branches);
  if (branches.empty()) throw_error<ValueError>("[cond] needs at least one branch");
  if (in.empty() || in[0].dtype != int32 || in[0].ndim() != 0) {
    throw_error<DTypeError>("[cond] the branch index must be an int32 scalar, got ", in.empty() ? "nothing" : in[0].str());
  }
  auto ops = in.subspan(1);
  auto outs = branches[0].out_avals();
  for (size_t b = 0; b < branches.size(); ++b) {
    check_inputs("cond", ("branch " + std::to_string(b)).c_str(), branches[b].in_avals(), ops);
    auto ob = branches[b].out_avals();
    bool same = ob.size() == outs.size();
    for (size_t i = 0; same && i < ob.size(); ++i) same = same_type(ob[i], outs[i]);
    if (!same) {
      throw_error<ShapeError>("[cond] branch 0 returns ", types_str(outs), " but branch ", b, " returns ", types_str(ob));
    }
  }
  return outs;
}

std::vector<Array> cond_impl(std::span<const Array> args, const Params& p) {
  const auto& branches = get_jaxpr_list(p, control_param::branches);
  int64_t index = args[0].item<int32_t>();
  index = std::clamp<int64_t>(index, 0, static_cast<int64_t>(branches.size()) - 1);
  const ClosedJaxpr& branch = branches[static_cast<size_t>(index)];
  return eval_jaxpr(*branch.jaxpr, branch.consts, args.subspan(1));
}

// ---- while -----------------------------------------------------------------------------------------

std::vector<AbstractValue> while_shape_rule(std::span<const AbstractValue> in, const Params& p) {
  const ClosedJaxpr& cond = get_jaxpr(p, control_param::cond_jaxpr);
  const ClosedJaxpr& body = get_jaxpr(p, control_param::body_jaxpr);
  const auto cn = static_cast<size_t>(p.get_int(control_param::cond_nconsts));
  const auto bn = static_cast<size_t>(p.get_int(control_param::body_nconsts));
  if (in.size() < cn + bn) {
    throw_error<ShapeError>("[while] takes ", cn, " + ", bn, " constants and the carries, got ", in.size(), " inputs");
  }
  auto carries = in.subspan(cn + bn);
  check_inputs("while", "cond_jaxpr", cond.in_avals(), concat(in.subspan(0, cn), carries));
  check_inputs("while", "body_jaxpr", body.in_avals(), concat(in.subspan(cn, bn), carries));
  auto pred = cond.out_avals();
  if (pred.size() != 1 || pred[0].dtype != bool_ || pred[0].ndim() != 0) {
    throw_error<DTypeError>("[while] cond_jaxpr must return one bool scalar, got ", types_str(pred));
  }
  auto outs = body.out_avals();
  bool same = outs.size() == carries.size();
  for (size_t i = 0; same && i < outs.size(); ++i) same = same_type(outs[i], carries[i]);
  if (!same) {
    throw_error<ShapeError>("[while] the body maps carries ", types_str(carries), " to ", types_str(outs),
                            "; the carry's type must not change");
  }
  return {carries.begin(), carries.end()};
}

std::vector<Array> while_impl(std::span<const Array> args, const Params& p) {
  const ClosedJaxpr& cond = get_jaxpr(p, control_param::cond_jaxpr);
  const ClosedJaxpr& body = get_jaxpr(p, control_param::body_jaxpr);
  const auto cn = static_cast<size_t>(p.get_int(control_param::cond_nconsts));
  const auto bn = static_cast<size_t>(p.get_int(control_param::body_nconsts));
  const size_t nc = args.size() - cn - bn;
  // Two argument vectors whose carry slots are refreshed in place each iteration.
  std::vector<Array> cond_args(args.begin(), args.begin() + cn), body_args(args.begin() + cn, args.begin() + cn + bn);
  cond_args.insert(cond_args.end(), args.begin() + cn + bn, args.end());
  body_args.insert(body_args.end(), args.begin() + cn + bn, args.end());
  while (eval_jaxpr(*cond.jaxpr, cond.consts, cond_args)[0].item<bool>()) {
    std::vector<Array> next = eval_jaxpr(*body.jaxpr, body.consts, body_args);
    for (size_t i = 0; i < nc; ++i) {
      cond_args[cn + i] = next[i];
      body_args[bn + i] = std::move(next[i]);
    }
  }
  return {body_args.begin() + bn, body_args.end()};
}

// ---- scan ------------------------------------------------------------------------------------------

std::vector<AbstractValue> scan_shape_rule(std::span<const AbstractValue> in, const Params& p) {
  const ClosedJaxpr& body = get_jaxpr(p, control_param::jaxpr);
  const auto nc = static_cast<size_t>(p.get_int(control_param::num_consts));
  const auto ncar = static_cast<size_t>(p.get_int(control_param::num_carry));
  const int64_t length = p.get_int(control_param::length);
  if (length < 0) throw_error<ValueError>("[scan] length must be >= 0, got ", length);
  if (in.size() < nc + ncar) {
    throw_error<ShapeError>("[scan] takes ", nc, " constants and ", ncar, " carries, got ", in.size(), " inputs");
  }
  std::vector<AbstractValue> slices(in.begin(), in.begin() + nc + ncar);
  for (size_t i = nc + ncar; i < in.size(); ++i) {
    if (in[i].ndim() == 0 || in[i].shape[0] != length) {
      throw_error<ShapeError>("[scan] xs input ", i - nc - ncar, " is ", in[i].str(), " but the scan has length ",
                              length, " (every x needs a leading axis of that length)");
    }
    AbstractValue s = in[i];
    s.shape.erase(s.shape.begin());
    slices.push_back(s);
  }
  check_inputs("scan", "the body", body.in_avals(), slices);
  auto outs = body.out_avals();
  if (outs.size() < ncar) throw_error<ShapeError>("[scan] the body returns ", outs.size(), " values for ", ncar, " carries");
  for (size_t i = 0; i < ncar; ++i) {
    if (!same_type(outs[i], in[nc + i])) {
      throw_error<ShapeError>("[scan] the body maps carry ", i, " from ", in[nc + i].str(), " to ", outs[i].str(),
                              "; the carry's type must not change");
    }
  }
  std::vector<AbstractValue> result(in.begin() + nc, in.begin() + nc + ncar);
  for (size_t i = ncar; i < outs.size(); ++i) {
    AbstractValue y = outs[i];
    y.shape.insert(y.shape.begin(), length);
    result.push_back(y);
  }
  return result;
}

std::vector<Array> scan_impl(std::span<const Array> args, const Params& p) {
  const ClosedJaxpr& body = get_jaxpr(p, control_param::jaxpr);
  const auto nc = static_cast<size_t>(p.get_int(control_param::num_consts));
  const auto ncar = static_cast<size_t>(p.get_int(control_param::num_carry));
  const int64_t length = p.get_int(control_param::length);
  const bool reverse = p.get<bool>(control_param::reverse);
  const size_t nx = args.size() - nc - ncar;
  const auto in_avals = body.in_avals();
  const auto out_avals = body.out_avals();
  const size_t ny = out_avals.size() - ncar;
  std::vector<Array> in(args.begin(), args.end());  // consts, carries, then the x slices
  std::vector<size_t> x_bytes(nx), y_bytes(ny);
  for (size_t j = 0; j < nx; ++j) x_bytes[j] = in_avals[nc + ncar + j].size() * itemsize(in_avals[nc + ncar + j].dtype);
  std::vector<Array> ys;
  for (size_t j = 0; j < ny; ++j) {
    AbstractValue y = out_avals[ncar + j];
    y_bytes[j] = y.size() * itemsize(y.dtype);
    y.shape.insert(y.shape.begin(), length);
    ys.push_back(detail::empty_array(y));
  }
  for (int64_t k = 0; k < length; ++k) {
    const int64_t i = reverse ? length - 1 - k : k;
    for (size_t j = 0; j < nx; ++j) {
      Array slice = detail::empty_array(in_avals[nc + ncar + j]);
      if (x_bytes[j]) {
        std::memcpy(slice.raw_data(), static_cast<const char*>(args[nc + ncar + j].raw_data()) + i * x_bytes[j], x_bytes[j]);
      }
      in[nc + ncar + j] = std::move(slice);
    }
    std::vector<Array> outs = eval_jaxpr(*body.jaxpr, body.consts, in);
    for (size_t c = 0; c < ncar; ++c) in[nc + c] = std::move(outs[c]);
    for (size_t j = 0; j < ny; ++j) {
      if (y_bytes[j]) std::memcpy(static_cast<char*>(ys[j].raw_data()) + i * y_bytes[j], outs[ncar + j].raw_data(), y_bytes[j]);
    }
  }
  std::vector<Array> result(in.begin() + nc, in.begin() + nc + ncar);
  result.insert(result.end(), ys.begin(), ys.end());
  return result;
}

// ---- registry samples ------------------------------------------------------------------------------
// Built by hand (no equations: tracing here would run before other primitives exist): bodies that
// forward or swap their inputs, enough for the sweep to run each primitive's every rule.

ClosedJaxpr forwarding_jaxpr(const std::vector<AbstractValue>& in, const std::vector<size_t>& outs) {
  auto j = std::make_shared<Jaxpr>();
  for (auto& a : in) j->invars.push_back(new_var(a));
  for (size_t i : outs) j->outvars.push_back(j->invars[i]);
  return ClosedJaxpr{j, {}};
}

const AbstractValue f32_3{float32, {3}}, i32_0{int32, {}}, b_0{bool_, {}};

}  // namespace

const Primitive cond_p =
    PrimitiveBuilder("cond")
        .num_outputs(-1)
        .shape_rule(cond_shape_rule)
        .impl(cond_impl)
        // index, (a, b): branch 0 returns (a, b), branch 1 (b, a).
        .sample({i32_0, f32_3, f32_3},
                Params{{control_param::branches,
                        jaxpr_list_param({forwarding_jaxpr({f32_3, f32_3}, {0, 1}), forwarding_jaxpr({f32_3, f32_3}, {1, 0})})}})
        .build();

const Primitive while_p =
    PrimitiveBuilder("while")
        .num_outputs(-1)
        .shape_rule(while_shape_rule)
        .impl(while_impl)
        // carries (a, b, x, y) -> (b, b, y, x) while a: runs once when a and not b.
        .sample({b_0, b_0, f32_3, f32_3},
                Params{{control_param::cond_jaxpr, jaxpr_param(forwarding_jaxpr({b_0, b_0, f32_3, f32_3}, {0}))},
                       {control_param::body_jaxpr, jaxpr_param(forwarding_jaxpr({b_0, b_0, f32_3, f32_3}, {1, 1, 3, 2}))},
                       {control_param::cond_nconsts, int64_t{0}},
                       {control_param::body_nconsts, int64_t{0}}})
        .build();

const Primitive scan_p =
    PrimitiveBuilder("scan")
        .num_outputs(-1)
        .shape_rule(scan_shape_rule)
        .impl(scan_impl)
        // const w, carry c, xs: (w, c, x) -> (x, c, w): the carry becomes x, and ys stack c and w.
        .sample({f32_3, f32_3, AbstractValue{float32, {2, 3}}},
                Params{{control_param::jaxpr, jaxpr_param(forwarding_jaxpr({f32_3, f32_3, f32_3}, {2, 1, 0}))},
                       {control_param::length, int64_t{2}},
                       {control_param::reverse, false},
                       {control_param::num_consts, int64_t{1}},
                       {control_param::num_carry, int64_t{1}}})
        .build();

namespace detail {
void register_control_rules();  // transforms/control.cpp: JVP, partial evaluation, transpose, batching
}

namespace {
// After the three primitives above (same translation unit, so they are constructed by now).
[[maybe_unused]] const bool control_rules_registered = (detail::register_control_rules(), true);
}  // namespace

}  // namespace jx
