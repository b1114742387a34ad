// vmap: the batching trace, batch_jaxpr, and the checks behind the public vmap.

#include "transforms/vmap.h"

#include <sstream>

namespace jx {

std::string Axis::str() const {
  std::ostringstream os;
  if (is_list_) {
    os << "[";
    for (size_t i = 0; i < list_.size(); ++i) os << (i ? ", " : "") << list_[i].str();
    os << "]";
  } else if (is_dict_) {
    os << "{";
    bool first = true;
    for (auto& [k, v] : dict_) {
      os << (first ? "" : ", ") << "'" << k << "': " << v.str();
      first = false;
    }
    os << "}";
  } else if (axis_) {
    os << *axis_;
  } else {
    os << "None";
  }
  return os.str();
}

namespace {

class BatchTracer : public Tracer {
 public:
  BatchTracer(std::shared_ptr<Trace> trace, Array value, BatchDim dim, AbstractValue aval)
      : Tracer(std::move(trace), std::move(aval)), value_(std::move(value)), dim_(dim) {}
  const Array& value() const { return value_; }
  BatchDim dim() const { return dim_; }

 private:
  Array value_;
  BatchDim dim_;
};

class BatchTrace : public Trace {
 public:
  explicit BatchTrace(int64_t size) : size_(size) {}
  std::string name() const override { return "vmap"; }
  int64_t size() const { return size_; }

  Array make(const Array& value, BatchDim dim) {
    AbstractValue aval = value.aval();
    if (dim) aval.shape.erase(aval.shape.begin() + *dim);  // the tracer shows the per-example type
    return Array(std::make_shared<BatchTracer>(shared_from_this(), value, dim, aval));
  }
  Array pure(const Array& x) override { return make(x, std::nullopt); }
  Array lift(const Array& x) override { return make(x, std::nullopt); }

  std::vector<Array> process_primitive(const Primitive& prim, std::span<const Array> args, const Params& params,
                                       const Loc& loc) override {
    std::vector<Array> vals;
    std::vector<BatchDim> dims;
    bool any = false;
    for (auto& a : args) {
      auto* t = static_cast<BatchTracer*>(a.tracer());
      vals.push_back(t->value());
      dims.push_back(t->dim());
      any |= t->dim().has_value();
    }
    std::vector<Array> outs;
    std::vector<BatchDim> out_dims;
    if (!any) {
      outs = jx::bind(prim, vals, params, loc);
      out_dims.assign(outs.size(), std::nullopt);
    } else {
      const auto& def = prim.def();
      if (!def.batch) {
        auto gap = def.gaps.find("vmap");
        throw MissingRule(detail::cat("[vmap] '", prim.name(), "' has no batching rule",
                                      gap != def.gaps.end() ? ": " + gap->second : std::string()));
      }
      std::tie(outs, out_dims) = def.batch(vals, dims, params);
      JX_CHECK(outs.size() == out_dims.size(), "batching rule of ", prim.name(), " returned ", outs.size(),
               " outputs and ", out_dims.size(), " batch dims");
      for (size_t i = 0; i < outs.size(); ++i) {
        JX_CHECK(!out_dims[i] || (*out_dims[i] >= 0 && *out_dims[i] < outs[i].ndim() &&
                                  outs[i].shape()[*out_dims[i]] == size_),
                 "batching rule of ", prim.name(), " returned ", outs[i].aval().str(), " with batch dim ",
                 out_dims[i] ? std::to_string(*out_dims[i]) : "none", " for batch size ", size_);
      }
    }
    std::vector<Array> result;
    for (size_t i = 0; i < outs.size(); ++i) result.push_back(make(outs[i], out_dims[i]));
    return result;
  }

 private:
  int64_t size_;
};

void expand_axis(const Axis& a, const TreeDef& d, std::vector<std::optional<int>>& out, const std::string& where) {
  if (a.is_leaf()) {
    out.insert(out.end(), d.num_leaves, a.axis());
    return;
  }
  if (!a.items().empty() || a.dict().empty()) {
    if ((d.kind != TreeDef::Kind::list && d.kind != TreeDef::Kind::tuple) || d.children.size() != a.items().size()) {
      throw_error<ValueError>("[vmap] ", where, " is the list ", a.str(), " but the value has structure ", d.str());
    }
    for (size_t i = 0; i < d.children.size(); ++i) expand_axis(a.items()[i], d.children[i], out, where);
    return;
  }
  if (d.kind != TreeDef::Kind::dict && d.kind != TreeDef::Kind::structure) {
    throw_error<ValueError>("[vmap] ", where, " is the dict ", a.str(), " but the value has structure ", d.str());
  }
  for (size_t i = 0; i < d.children.size(); ++i) {
    auto it = a.dict().find(d.keys[i]);
    if (it == a.dict().end()) {
      throw_error<ValueError>("[vmap] ", where, " ", a.str(), " has no entry for key '", d.keys[i], "' of ", d.str());
    }
    expand_axis(it->second, d.children[i], out, where);
  }
}

}  // namespace

namespace detail {

std::vector<std::optional<int>> leaf_axes(const std::vector<Axis>& axes, const std::vector<std::pair<size_t, TreeDef>>& defs,
                                          size_t num_leaves, const char* what) {
  if (axes.size() != defs.size()) {
    throw_error<ValueError>("[vmap] ", what, " has ", axes.size(), " entries but the function is called with ",
                            defs.size(), " arguments");
  }
  std::vector<std::optional<int>> out;
  for (size_t i = 0; i < defs.size(); ++i) expand_axis(axes[i], defs[i].second, out, std::string(what) + " entry " + std::to_string(i));
  JX_CHECK(out.size() == num_leaves, "leaf_axes count");
  return out;
}

std::vector<std::optional<int>> output_leaf_axes(const std::vector<Axis>& axes, const TreeDef& out_def) {
  std::vector<std::optional<int>> out;
  if (axes.size() == 1) {
    expand_axis(axes[0], out_def, out, "out_axes");
    return out;
  }
  bool multi = out_def.kind == TreeDef::Kind::tuple || out_def.kind == TreeDef::Kind::list;
  if (!multi || out_def.children.size() != axes.size()) {
    throw_error<ValueError>("[vmap] out_axes has ", axes.size(), " entries but the function's output has structure ",
                            out_def.str());
  }
  for (size_t i = 0; i < axes.size(); ++i) expand_axis(axes[i], out_def.children[i], out, "out_axes entry " + std::to_string(i));
  return out;
}

VmapPlan plan_vmap(const std::vector<Array>& leaves, const std::vector<std::pair<size_t, TreeDef>>& defs,
                   const std::vector<std::optional<int>>& axes, std::optional<int64_t> axis_size) {
  VmapPlan plan;
  auto arg_of = [&](size_t leaf) {
    size_t a = 0;
    while (a + 1 < defs.size() && defs[a + 1].first <= leaf) ++a;
    return a;
  };
  std::optional<int64_t> size = axis_size;
  std::string first_desc;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Array& x = leaves[i];
    if (!x.defined()) throw_error<ValueError>("[vmap] argument ", arg_of(i), " has an undefined Array");
    AbstractValue aval = x.aval();
    if (!axes[i]) {
      plan.in_dims.push_back(std::nullopt);
      plan.example_avals.push_back(aval);
      continue;
    }
    int64_t ax = *axes[i];
    if (ax < -x.ndim() || ax >= x.ndim()) {
      throw_error<ShapeError>("[vmap] in_axes ", ax, " is out of range for argument ", arg_of(i), " of type ",
                              aval.str());
    }
    if (ax < 0) ax += x.ndim();
    int64_t n = x.shape()[ax];
    std::string desc = detail::cat("argument ", arg_of(i), " (", aval.str(), ") has size ", n, " along axis ", ax);
    if (size && *size != n) {
      throw_error<ShapeError>("[vmap] inconsistent sizes for the mapped axes: ",
                              first_desc.empty() ? detail::cat("axis_size is ", *size) : first_desc, ", but ", desc);
    }
    if (!size) size = n;
    if (first_desc.empty()) first_desc = desc;
    plan.in_dims.push_back(ax);
    aval.shape.erase(aval.shape.begin() + ax);
    plan.example_avals.push_back(aval);
  }
  if (!size) {
    throw ValueError("[vmap] no argument is mapped (every in_axes entry is none): pass axis_size to say how many "
                     "times to map");
  }
  plan.axis_size = *size;
  return plan;
}

Array vmap_unary(const std::function<Array(const Array&)>& f, const Array& xs) { return vmap(f)(xs); }

ClosedJaxpr batch_jaxpr(const ClosedJaxpr& jaxpr, int64_t axis_size, const std::vector<BatchDim>& in_dims,
                        const std::vector<std::optional<int>>& out_axes, const std::vector<AbstractValue>& batched_avals) {
  return trace_to_jaxpr(
      [&](std::span<const Array> flat) {
        auto trace = std::make_shared<BatchTrace>(axis_size);
        std::vector<Array> vals;
        std::vector<BatchDim> dims;
        {
          TraceScope scope(trace, /*dynamic=*/false);
          std::vector<Array> args;
          for (size_t i = 0; i < flat.size(); ++i) args.push_back(in_dims[i] ? trace->make(flat[i], in_dims[i]) : flat[i]);
          auto outs = eval_jaxpr(*jaxpr.jaxpr, jaxpr.consts, args);
          for (auto& o : outs) {
            auto* t = dynamic_cast<BatchTracer*>(o.tracer());
            if (t && &t->trace() == trace.get()) {
              vals.push_back(t->value());
              dims.push_back(t->dim());
            } else {
              vals.push_back(o);
              dims.push_back(std::nullopt);
            }
          }
        }
        std::vector<Array> result;
        for (size_t i = 0; i < vals.size(); ++i) {
          if (!out_axes[i]) {
            if (dims[i]) {
              throw_error<ValueError>("[vmap] out_axes is none for output ", i, " but it depends on a mapped input");
            }
            result.push_back(vals[i]);
            continue;
          }
          int64_t rank = vals[i].ndim() + (dims[i] ? 0 : 1);
          int64_t ax = *out_axes[i];
          if (ax < -rank || ax >= rank) {
            throw_error<ShapeError>("[vmap] out_axes ", ax, " is out of range for output ", i, " of batched rank ", rank);
          }
          if (ax < 0) ax += rank;
          result.push_back(move_batch_axis(vals[i], dims[i], ax, axis_size));
        }
        return result;
      },
      batched_avals, "vmap");
}

}  // namespace detail
}  // namespace jx
