// Fusion and buffer planning: an optimized jaxpr becomes fused loop nests, library calls and a
// buffer plan (see program.h).
//
// Fusion is greedy in program order. A fusible equation joins an open group whose domain matches
// (elementwise: its output shape; reduction: its operand's shape), merging every open group it
// reads from with that domain; values read from anywhere else are materialized buffers, read
// through index maps (broadcasts, reshapes, transposes are free at a load). A group closes when
// one of its values is read outside it, which keeps the step order acyclic: a kernel runs at the
// position of its last equation, after everything it reads.

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/log.h"
#include "core/prims/elementwise.h"
#include "core/prims/reduce.h"
#include "core/prims/shape.h"
#include "jit/program.h"

namespace jx::jitc {

namespace {

const std::set<std::string>& elementwise_names() {
  static const std::set<std::string> names = {
      "add", "sub", "mul", "div", "rem", "neg", "max", "min", "pow", "atan2", "exp", "log", "log1p", "expm1",
      "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "sqrt", "rsqrt", "square", "abs",
      "sign", "floor", "ceil", "round", "erf", "logistic", "is_finite", "integer_pow", "eq", "ne", "lt", "le",
      "gt", "ge", "and", "or", "not", "xor", "select_n", "convert_element_type", "stop_gradient",
      "shift_left", "shift_right_logical", "shift_right_arithmetic", "bitcast_convert_type"};
  return names;
}

const std::set<std::string>& shape_names() {
  static const std::set<std::string> names = {"broadcast_in_dim", "reshape", "transpose", "squeeze", "iota",
                                              "rev", "slice", "dynamic_slice", "concatenate",
                                              "dynamic_update_slice", "pad"};
  return names;
}

const std::set<std::string>& reduce_names() {
  static const std::set<std::string> names = {"reduce_sum", "reduce_prod", "reduce_max",
                                              "reduce_min", "reduce_and", "reduce_or"};
  return names;
}

bool is_reduce(const Primitive& p) { return reduce_names().count(p.name()) > 0; }
bool is_reshape_like(const Primitive& p) { return p.name() == "reshape" || p.name() == "squeeze"; }

const VarNode* var_of(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

struct Group {
  int id = -1;
  Shape domain;
  std::vector<int64_t> axes;  // reduction axes (empty: elementwise)
  std::vector<size_t> eqns;   // indices into the jaxpr, in order
  bool open = true;
  int merged_into = -1;
};

}  // namespace

bool fusible(const Primitive& prim) {
  const std::string& n = prim.name();
  return elementwise_names().count(n) || shape_names().count(n) || reduce_names().count(n);
}

namespace {

class Planner {
 public:
  Planner(const ClosedJaxpr& jaxpr, const std::string& name) : jaxpr_(*jaxpr.jaxpr), closed_(jaxpr) {
    prog_.name = name;
    prog_.jaxpr = jaxpr;
  }

  Program run() {
    define_io();
    group_equations();
    materialize_outputs();
    build_steps();
    plan_buffers();
    find_donation_candidates();
    write_report();
    return std::move(prog_);
  }

 private:
  // ---- slots ------------------------------------------------------------------------------------
  int new_slot(Slot::Kind kind, const AbstractValue& aval, int index = -1) {
    Slot s;
    s.kind = kind;
    s.aval = aval;
    s.index = index;
    prog_.slots.push_back(s);
    return static_cast<int>(prog_.slots.size()) - 1;
  }

  void define_io() {
    for (size_t i = 0; i < jaxpr_.invars.size(); ++i) {
      int s = new_slot(Slot::Kind::input, jaxpr_.invars[i]->aval, static_cast<int>(i));
      prog_.input_slots.push_back(s);
      slot_of_[jaxpr_.invars[i].get()] = s;
    }
    for (size_t i = 0; i < jaxpr_.constvars.size(); ++i) {
      int s = new_slot(Slot::Kind::constant, jaxpr_.constvars[i]->aval, static_cast<int>(i));
      prog_.consts.push_back(closed_.consts[i]);
      slot_of_[jaxpr_.constvars[i].get()] = s;
    }
    for (auto& o : jaxpr_.outvars)
      if (auto* v = var_of(o)) is_output_.insert(v);
  }

  // ---- grouping ---------------------------------------------------------------------------------
  int find(int g) {
    while (groups_[g].merged_into >= 0) g = groups_[g].merged_into;
    return g;
  }

  int group_of(const VarNode* v) {
    auto it = group_of_var_.find(v);
    return it == group_of_var_.end() ? -1 : find(it->second);
  }

  // Broadcasts of literals and iotas cost nothing to recompute: a fused reader computes them
  // itself instead of reading a materialized buffer.
  bool clonable(const VarNode* v) const {
    auto it = def_eqn_.find(v);
    if (it == def_eqn_.end()) return false;
    const Eqn& e = jaxpr_.eqns[it->second];
    if (e.prim.name() == "iota") return true;
    if (e.prim.name() != "broadcast_in_dim") return false;
    return std::holds_alternative<Literal>(e.inputs[0]);
  }

  // A value read outside its group must be written by that group, and the group closes.
  void read_outside(const VarNode* v, int reader_group) {
    int g = group_of(v);
    if (g < 0 || g == reader_group) return;
    if (reader_group >= 0 && clonable(v)) return;
    groups_[g].open = false;
    materialized_.insert(v);
  }

  static bool compatible(const Group& g, const Shape& domain, const std::vector<int64_t>& axes) {
    if (g.domain != domain) return false;
    if (g.axes.empty() || axes.empty()) return true;
    return g.axes == axes;
  }

  // ---- dot_general epilogues -----------------------------------------------------------------------
  struct Epilogue {
    const VarNode* bias = nullptr;  // [N]
    std::string activation;
    Var out;                        // the value the fused call produces
  };

  // A float32 2-D dot_general whose only reader adds a broadcast bias row, optionally followed by
  // an activation that is that value's only reader, becomes one library call.
  void find_epilogues() {
    std::unordered_map<const VarNode*, std::vector<size_t>> readers;
    for (size_t i = 0; i < jaxpr_.eqns.size(); ++i)
      for (auto& a : jaxpr_.eqns[i].inputs)
        if (auto* v = var_of(a)) readers[v].push_back(i);
    auto only_reader = [&](const VarNode* v) -> long {
      if (is_output_.count(v)) return -1;
      auto it = readers.find(v);
      if (it == readers.end() || it->second.size() != 1) return -1;
      return static_cast<long>(it->second[0]);
    };
    auto is_zero_literal = [&](const Atom& a) {
      if (auto* l = std::get_if<Literal>(&a)) return l->value.size() == 1 && l->value.astype(DType::float64).item<double>() == 0.0;
      auto* v = var_of(a);
      auto it = v ? def_eqn_all_.find(v) : def_eqn_all_.end();
      if (it == def_eqn_all_.end()) return false;
      const Eqn& b = jaxpr_.eqns[it->second];
      return b.prim.name() == "broadcast_in_dim" && std::holds_alternative<Literal>(b.inputs[0]) &&
             std::get<Literal>(b.inputs[0]).value.astype(DType::float64).item<double>() == 0.0;
    };
    for (size_t i = 0; i < jaxpr_.eqns.size(); ++i) {
      const Eqn& d = jaxpr_.eqns[i];
      if (d.prim.name() != "dot_general" || d.outputs[0]->aval.dtype != DType::float32 ||
          d.outputs[0]->aval.ndim() != 2 || !d.params.get_ints("lhs_batch").empty() ||
          atom_aval(d.inputs[0]).dtype != DType::float32 || atom_aval(d.inputs[1]).dtype != DType::float32)
        continue;
      const VarNode* dv = d.outputs[0].get();
      long ai = only_reader(dv);
      if (ai < 0) continue;
      const Eqn& add = jaxpr_.eqns[ai];
      if (add.prim.name() != "add") continue;
      const Atom& other = var_of(add.inputs[0]) == dv ? add.inputs[1] : add.inputs[0];
      auto* bv = var_of(other);
      auto bit = bv ? def_eqn_all_.find(bv) : def_eqn_all_.end();
      if (bit == def_eqn_all_.end()) continue;
      const Eqn& bc = jaxpr_.eqns[bit->second];
      auto* bias = bc.prim.name() == "broadcast_in_dim" ? var_of(bc.inputs[0]) : nullptr;
      if (!bias || bias->aval.dtype != DType::float32 || bias->aval.shape != Shape{dv->aval.shape[1]} ||
          bc.params.get_ints("broadcast_dimensions") != std::vector<int64_t>{1})
        continue;
      Epilogue ep;
      ep.bias = bias;
      ep.out = add.outputs[0];
      std::vector<size_t> absorbed{static_cast<size_t>(ai)};
      long ui = only_reader(ep.out.get());
      if (ui >= 0) {
        const Eqn& u = jaxpr_.eqns[ui];
        const std::string& n = u.prim.name();
        if (n == "tanh" || n == "logistic") ep.activation = n;
        else if (n == "max" && ((var_of(u.inputs[0]) == ep.out.get() && is_zero_literal(u.inputs[1])) ||
                                (var_of(u.inputs[1]) == ep.out.get() && is_zero_literal(u.inputs[0]))))
          ep.activation = "relu";
        if (!ep.activation.empty()) {
          ep.out = u.outputs[0];
          absorbed.push_back(static_cast<size_t>(ui));
        }
      }
      epilogue_[i] = ep;
      for (size_t a : absorbed) absorbed_.insert(a);
    }
  }

  void group_equations() {
    for (size_t i = 0; i < jaxpr_.eqns.size(); ++i)
      for (auto& o : jaxpr_.eqns[i].outputs) def_eqn_all_[o.get()] = i;
    find_epilogues();
    eqn_group_.assign(jaxpr_.eqns.size(), -1);
    for (size_t i = 0; i < jaxpr_.eqns.size(); ++i) {
      const Eqn& e = jaxpr_.eqns[i];
      if (absorbed_.count(i)) continue;
      if (epilogue_.count(i)) {
        for (auto& a : e.inputs)
          if (auto* v = var_of(a)) read_outside(v, -1);
        read_outside(epilogue_[i].bias, -1);
        continue;
      }
      bool fuse = fusible(e.prim);
      for (auto& o : e.outputs) fuse = fuse && o->aval.size() > 0;
      for (auto& a : e.inputs) fuse = fuse && atom_aval(a).size() > 0;
      if (!fuse) {
        for (auto& a : e.inputs)
          if (auto* v = var_of(a)) read_outside(v, -1);
        continue;
      }
      Shape domain = is_reduce(e.prim) ? atom_aval(e.inputs[0]).shape : e.outputs[0]->aval.shape;
      std::vector<int64_t> axes;
      if (is_reduce(e.prim)) axes = e.params.get_ints("axes");
      // Candidates: open groups of the inputs, with this domain, whose values are read at the
      // domain's index (elementwise use, or a reduction's operand).
      const bool index_preserving = elementwise_names().count(e.prim.name()) || is_reduce(e.prim);
      int target = -1;
      std::vector<int> merge;
      if (index_preserving) {
        for (auto& a : e.inputs) {
          auto* v = var_of(a);
          if (!v) continue;
          int g = group_of(v);
          if (g < 0 || !groups_[g].open || v->aval.shape != domain) continue;
          if (!compatible(groups_[g], domain, axes)) continue;
          if (target < 0) target = g;
          else if (g != target && std::find(merge.begin(), merge.end(), g) == merge.end()) merge.push_back(g);
        }
        // Merged groups must agree on the reduction axes among themselves too.
        std::vector<int64_t> acc_axes = axes.empty() && target >= 0 ? groups_[target].axes : axes;
        std::vector<int> ok;
        for (int g : merge) {
          if (compatible(groups_[g], domain, acc_axes)) {
            if (acc_axes.empty()) acc_axes = groups_[g].axes;
            ok.push_back(g);
          }
        }
        merge = ok;
      }
      if (target < 0) {
        Group g;
        g.id = static_cast<int>(groups_.size());
        g.domain = domain;
        groups_.push_back(g);
        target = g.id;
      }
      for (int g : merge) {
        Group& src = groups_[g];
        Group& dst = groups_[target];
        dst.eqns.insert(dst.eqns.end(), src.eqns.begin(), src.eqns.end());
        if (dst.axes.empty()) dst.axes = src.axes;
        src.merged_into = target;
        src.eqns.clear();
      }
      if (!axes.empty()) groups_[target].axes = axes;
      groups_[target].eqns.push_back(i);
      // Inputs from other groups (or of another shape) are materialized.
      for (auto& a : e.inputs)
        if (auto* v = var_of(a)) read_outside(v, target);
      for (auto& o : e.outputs) group_of_var_[o.get()] = target, def_eqn_[o.get()] = i;
      eqn_group_[i] = target;
    }
    for (auto& g : groups_)
      if (g.merged_into < 0) std::sort(g.eqns.begin(), g.eqns.end());
  }

  void materialize_outputs() {
    for (auto& o : jaxpr_.outvars)
      if (auto* v = var_of(o); v && group_of(v) >= 0) materialized_.insert(v);
  }

  // ---- steps ------------------------------------------------------------------------------------
  // The slot for a value defined by a step: an output slot when the program returns it.
  int def_slot(const Var& v) {
    auto it = slot_of_.find(v.get());
    if (it != slot_of_.end()) return it->second;
    int s;
    if (is_output_.count(v.get())) {
      s = new_slot(Slot::Kind::output, v->aval);
    } else {
      s = new_slot(Slot::Kind::temp, v->aval);
    }
    slot_of_[v.get()] = s;
    return s;
  }

  int use_slot(const VarNode* v) {
    auto it = slot_of_.find(v);
    JX_CHECK(it != slot_of_.end(), "jit plan: a value is read before it is written");
    return it->second;
  }

  void build_steps() {
    // Steps in program order: a library call at its equation, a kernel at its last equation.
    std::map<size_t, int> kernel_at;  // last eqn index -> group
    for (auto& g : groups_)
      if (g.merged_into < 0 && !g.eqns.empty()) kernel_at[g.eqns.back()] = g.id;
    for (size_t i = 0; i < jaxpr_.eqns.size(); ++i) {
      if (absorbed_.count(i)) continue;
      if (eqn_group_[i] < 0) {
        add_library_call(jaxpr_.eqns[i], epilogue_.count(i) ? &epilogue_[i] : nullptr);
      } else if (auto it = kernel_at.find(i); it != kernel_at.end()) {
        add_group(groups_[it->second]);
      }
    }
  }

  void add_library_call(const Eqn& e, const Epilogue* ep) {
    LibraryCall c;
    c.prim = e.prim;
    c.params = e.params;
    c.loc = e.loc;
    for (auto& a : e.inputs) {
      if (auto* v = var_of(a)) {
        c.in_slots.push_back(use_slot(v));
        c.literals.emplace_back();
      } else {
        c.in_slots.push_back(-1);
        c.literals.push_back(std::get<Literal>(a).value);
      }
    }
    if (ep) {
      c.bias_slot = use_slot(ep->bias);
      c.activation = ep->activation;
      c.out_slots.push_back(def_slot(ep->out));
    } else {
      for (auto& o : e.outputs) c.out_slots.push_back(def_slot(o));
    }
    prog_.calls.push_back(std::move(c));
    prog_.steps.push_back({Step::Kind::library, static_cast<int>(prog_.calls.size()) - 1});
  }

  void add_group(const Group& g) {
    // A lone reshape of a materialized value that the program does not return: reinterpret the
    // buffer instead of copying it.
    if (g.eqns.size() == 1) {
      const Eqn& e = jaxpr_.eqns[g.eqns[0]];
      auto* in = e.inputs.empty() ? nullptr : var_of(e.inputs[0]);
      if (is_reshape_like(e.prim) && in && !is_output_.count(e.outputs[0].get())) {
        int src = use_slot(in);
        int s = new_slot(Slot::Kind::alias, e.outputs[0]->aval);
        prog_.slots[s].alias_of = prog_.slots[src].kind == Slot::Kind::alias ? prog_.slots[src].alias_of : src;
        slot_of_[e.outputs[0].get()] = s;
        return;
      }
    }
    Kernel k;
    k.name = "k" + std::to_string(prog_.kernels.size());
    k.domain = g.domain;
    k.reduce_axes = g.axes;
    std::unordered_map<const VarNode*, int> node_of;
    auto literal_node = [&](const Array& value) {
      KNode n;
      n.kind = KNode::Kind::literal;
      n.aval = value.aval();
      n.literal = value;
      k.nodes.push_back(n);
      return static_cast<int>(k.nodes.size()) - 1;
    };
    std::function<int(const Atom&)> operand = [&](const Atom& a) -> int {
      if (auto* l = std::get_if<Literal>(&a)) return literal_node(l->value);
      const VarNode* v = var_of(a);
      if (auto it = node_of.find(v); it != node_of.end()) return it->second;
      if (!slot_of_.count(v) && clonable(v)) {
        // Recomputed here (see clonable).
        const Eqn& e = jaxpr_.eqns[def_eqn_.at(v)];
        KNode n;
        n.kind = KNode::Kind::op;
        n.prim = e.prim;
        n.params = e.params;
        n.aval = v->aval;
        for (auto& in : e.inputs) n.operands.push_back(operand(in));
        k.nodes.push_back(n);
        node_of[v] = static_cast<int>(k.nodes.size()) - 1;
        return node_of[v];
      }
      KNode n;
      n.kind = KNode::Kind::load;
      n.aval = v->aval;
      n.slot = use_slot(v);
      k.nodes.push_back(n);
      int id = static_cast<int>(k.nodes.size()) - 1;
      node_of[v] = id;
      return id;
    };
    for (size_t i : g.eqns) {
      const Eqn& e = jaxpr_.eqns[i];
      KNode n;
      n.kind = KNode::Kind::op;
      n.prim = e.prim;
      n.params = e.params;
      n.aval = e.outputs[0]->aval;
      for (auto& a : e.inputs) n.operands.push_back(operand(a));
      k.nodes.push_back(n);
      node_of[e.outputs[0].get()] = static_cast<int>(k.nodes.size()) - 1;
    }
    for (size_t i : g.eqns) {
      const Var& out = jaxpr_.eqns[i].outputs[0];
      if (materialized_.count(out.get())) k.outputs.push_back({node_of.at(out.get()), def_slot(out)});
    }
    if (k.outputs.empty()) return;  // everything it computes is recomputed by its readers
    if (k.is_reduction()) {
      // Reduced axes trailing: one accumulator per output element.
      const int64_t nd = static_cast<int64_t>(k.domain.size());
      const int64_t na = static_cast<int64_t>(k.reduce_axes.size());
      k.row_reduction = true;
      for (int64_t j = 0; j < na; ++j) k.row_reduction &= k.reduce_axes[j] == nd - na + j;
      int64_t out_size = 1, red_size = 1;
      for (int64_t d = 0; d < nd; ++d)
        (std::binary_search(k.reduce_axes.begin(), k.reduce_axes.end(), d) ? red_size : out_size) *= k.domain[d];
      k.parallel_items = out_size;
      k.grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, red_size));
      if (!k.row_reduction) k.grain = std::max<int64_t>(k.grain, 256);
    } else {
      k.parallel_items = shape_size(k.domain);
      k.grain = int64_t{1} << 14;
    }
    prog_.kernels.push_back(std::move(k));
    prog_.steps.push_back({Step::Kind::kernel, static_cast<int>(prog_.kernels.size()) - 1});
  }

  // ---- buffers ----------------------------------------------------------------------------------
  int root(int s) const { return prog_.slots[s].kind == Slot::Kind::alias ? prog_.slots[s].alias_of : s; }

  std::vector<int> step_reads(const Step& st) const {
    std::vector<int> r;
    if (st.kind == Step::Kind::library) {
      for (int s : prog_.calls[st.index].in_slots)
        if (s >= 0) r.push_back(root(s));
      if (prog_.calls[st.index].bias_slot >= 0) r.push_back(root(prog_.calls[st.index].bias_slot));
    } else {
      for (auto& n : prog_.kernels[st.index].nodes)
        if (n.kind == KNode::Kind::load) r.push_back(root(n.slot));
    }
    return r;
  }
  std::vector<int> step_writes(const Step& st) const {
    std::vector<int> w;
    if (st.kind == Step::Kind::library) {
      for (int s : prog_.calls[st.index].out_slots) w.push_back(s);
    } else {
      for (auto& o : prog_.kernels[st.index].outputs) w.push_back(o.slot);
    }
    return w;
  }

  void plan_buffers() {
    // Live range of each temp: [step that writes it, last step that reads it].
    const size_t n = prog_.slots.size();
    std::vector<int> first(n, -1), last(n, -1);
    for (size_t i = 0; i < prog_.steps.size(); ++i) {
      for (int s : step_writes(prog_.steps[i]))
        if (first[s] < 0) first[s] = static_cast<int>(i), last[s] = std::max(last[s], static_cast<int>(i));
      for (int s : step_reads(prog_.steps[i])) last[s] = std::max(last[s], static_cast<int>(i));
    }
    struct Placed {
      int64_t offset, size;
      int last;
    };
    std::vector<Placed> placed;
    int64_t arena = 0;
    for (size_t i = 0; i < prog_.steps.size(); ++i) {
      for (int s : step_writes(prog_.steps[i])) {
        Slot& slot = prog_.slots[s];
        if (slot.kind != Slot::Kind::temp || first[s] != static_cast<int>(i)) continue;
        const int64_t size = (static_cast<int64_t>(slot.nbytes()) + 63) / 64 * 64;
        // First fit among blocks of values dead before this step (a step never writes over
        // what it reads).
        std::sort(placed.begin(), placed.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
        int64_t offset = 0;
        for (auto& p : placed) {
          const bool dead = p.last < static_cast<int>(i);
          if (dead) continue;
          if (offset + size <= p.offset) break;
          offset = std::max(offset, p.offset + p.size);
        }
        slot.offset = offset;
        placed.push_back({offset, size, std::max(last[s], static_cast<int>(i))});
        arena = std::max(arena, offset + size);
      }
    }
    prog_.arena_bytes = arena;
    // Outputs of the program.
    for (auto& o : jaxpr_.outvars) {
      if (auto* l = std::get_if<Literal>(&o)) {
        prog_.output_slots.push_back(-1);
        prog_.output_literals.push_back(l->value);
      } else {
        prog_.output_slots.push_back(use_slot(var_of(o)));
        prog_.output_literals.emplace_back();
      }
    }
    last_read_ = last;
  }

  // An output may take over a donated input's buffer when they have the same type, nothing
  // reads the input after the output's step, and that step (an elementwise kernel) reads the
  // input only at the index it writes.
  void find_donation_candidates() {
    prog_.donation_candidates.assign(prog_.output_slots.size(), {});
    // An input the program also returns (as it is, or reshaped) keeps its buffer.
    std::set<int> returned;
    for (int s : prog_.output_slots)
      if (s >= 0) returned.insert(root(s));
    std::map<int, int> step_of_slot;
    for (size_t i = 0; i < prog_.steps.size(); ++i)
      for (int s : step_writes(prog_.steps[i])) step_of_slot[s] = static_cast<int>(i);
    for (size_t o = 0; o < prog_.output_slots.size(); ++o) {
      int s = prog_.output_slots[o];
      if (s < 0 || prog_.slots[s].kind != Slot::Kind::output) continue;
      auto it = step_of_slot.find(s);
      if (it == step_of_slot.end()) continue;
      const Step& st = prog_.steps[it->second];
      for (size_t a = 0; a < prog_.input_slots.size(); ++a) {
        int in = prog_.input_slots[a];
        if (returned.count(in)) continue;
        if (!(prog_.slots[in].aval.shape == prog_.slots[s].aval.shape) ||
            prog_.slots[in].aval.dtype != prog_.slots[s].aval.dtype)
          continue;
        if (last_read_[in] > it->second) continue;
        if (last_read_[in] == it->second && !reads_only_in_place(st, in, s)) continue;
        prog_.donation_candidates[o].push_back(static_cast<int>(a));
      }
    }
  }

  bool reads_only_in_place(const Step& st, int in_slot, int out_slot) const {
    if (st.kind != Step::Kind::kernel) return false;
    const Kernel& k = prog_.kernels[st.index];
    if (k.is_reduction()) return false;
    // Marks: 1 = read at the domain index, 2 = read elsewhere.
    std::vector<int> mark(k.nodes.size(), 0);
    for (auto& o : k.outputs) mark[o.node] |= 1;
    for (int i = static_cast<int>(k.nodes.size()) - 1; i >= 0; --i) {
      const KNode& n = k.nodes[i];
      if (!mark[i] || n.kind != KNode::Kind::op) continue;
      const bool ew = elementwise_names().count(n.prim.name()) > 0;
      for (int op : n.operands) {
        const bool same = ew && k.nodes[op].aval.shape == n.aval.shape;
        mark[op] |= same ? mark[i] : 2;
      }
    }
    for (size_t i = 0; i < k.nodes.size(); ++i) {
      const KNode& n = k.nodes[i];
      if (n.kind == KNode::Kind::load && root(n.slot) == in_slot && (mark[i] & 2)) return false;
    }
    (void)out_slot;
    return true;
  }

  void write_report() {
    std::ostringstream os;
    auto slot_str = [&](int s) {
      const Slot& sl = prog_.slots[s];
      std::ostringstream o;
      o << "%" << s << ":" << sl.aval.str();
      switch (sl.kind) {
        case Slot::Kind::input: o << "(arg" << sl.index << ")"; break;
        case Slot::Kind::constant: o << "(const" << sl.index << ")"; break;
        case Slot::Kind::output: o << "(out)"; break;
        case Slot::Kind::temp: o << "(arena+" << sl.offset << ")"; break;
        case Slot::Kind::alias: o << "(view of %" << sl.alias_of << ")"; break;
      }
      return o.str();
    };
    os << "program " << prog_.name << ": " << prog_.steps.size() << " steps, " << prog_.kernels.size()
       << " fused kernels, " << prog_.calls.size() << " library calls, arena " << prog_.arena_bytes << " bytes\n";
    for (auto& st : prog_.steps) {
      if (st.kind == Step::Kind::library) {
        const LibraryCall& c = prog_.calls[st.index];
        os << "  call " << c.prim.name();
        if (c.fused_epilogue()) os << "+" << (c.bias_slot >= 0 ? "bias" : "") << (c.activation.empty() ? "" : "+" + c.activation);
        os << "(";
        for (size_t i = 0; i < c.in_slots.size(); ++i)
          os << (i ? ", " : "") << (c.in_slots[i] >= 0 ? slot_str(c.in_slots[i]) : c.literals[i].aval().str() + " literal");
        if (c.bias_slot >= 0) os << ", " << slot_str(c.bias_slot);
        os << ") -> ";
        for (size_t i = 0; i < c.out_slots.size(); ++i) os << (i ? ", " : "") << slot_str(c.out_slots[i]);
        os << "\n";
      } else {
        const Kernel& k = prog_.kernels[st.index];
        os << "  kernel " << k.name << " domain " << shape_str(k.domain);
        if (k.is_reduction()) os << " reduce axes " << shape_str(k.reduce_axes) << (k.row_reduction ? " (rows)" : " (columns)");
        os << ": ";
        int ops = 0;
        for (auto& n : k.nodes)
          if (n.kind == KNode::Kind::op) os << (ops++ ? " " : "") << n.prim.name();
        os << " -> ";
        for (size_t i = 0; i < k.outputs.size(); ++i) os << (i ? ", " : "") << slot_str(k.outputs[i].slot);
        os << "\n";
      }
    }
    prog_.report = os.str();
  }

  const Jaxpr& jaxpr_;
  const ClosedJaxpr& closed_;
  Program prog_;
  std::vector<Group> groups_;
  std::vector<int> eqn_group_;
  std::unordered_map<const VarNode*, int> group_of_var_;
  std::unordered_map<const VarNode*, size_t> def_eqn_;
  std::unordered_map<const VarNode*, size_t> def_eqn_all_;
  std::map<size_t, Epilogue> epilogue_;
  std::set<size_t> absorbed_;
  std::unordered_map<const VarNode*, int> slot_of_;
  std::set<const VarNode*> materialized_;
  std::set<const VarNode*> is_output_;
  std::vector<int> last_read_;
};

}  // namespace

// Layout choice: transpose(dot_general(a, b)) of 2-D operands is dot_general(b, a) with the
// contractions swapped, computed directly in the transposed layout (a reverse-mode weight
// gradient otherwise reads its [K, N] result column by column).
ClosedJaxpr choose_layouts(const ClosedJaxpr& in) {
  const Jaxpr& j = *in.jaxpr;
  std::unordered_map<const VarNode*, int> uses;
  for (auto& e : j.eqns)
    for (auto& a : e.inputs)
      if (auto* v = var_of(a)) ++uses[v];
  for (auto& o : j.outvars)
    if (auto* v = var_of(o)) uses[v] += 2;
  std::unordered_map<const VarNode*, size_t> producer;
  for (size_t i = 0; i < j.eqns.size(); ++i)
    for (auto& o : j.eqns[i].outputs) producer[o.get()] = i;
  std::map<size_t, size_t> swap;  // dot eqn -> transpose eqn
  for (size_t i = 0; i < j.eqns.size(); ++i) {
    const Eqn& t = j.eqns[i];
    if (t.prim.name() != "transpose" || t.params.get_ints("permutation") != std::vector<int64_t>{1, 0}) continue;
    auto* v = var_of(t.inputs[0]);
    if (!v || uses[v] != 1 || !producer.count(v)) continue;
    const Eqn& d = j.eqns[producer[v]];
    if (d.prim.name() != "dot_general" || !d.params.get_ints("lhs_batch").empty() || v->aval.ndim() != 2 ||
        atom_aval(d.inputs[0]).ndim() != 2 || atom_aval(d.inputs[1]).ndim() != 2)
      continue;
    swap[producer[v]] = i;
  }
  if (swap.empty()) return in;
  auto out = std::make_shared<Jaxpr>(j);
  std::set<size_t> drop;
  for (auto [di, ti] : swap) {
    Eqn& d = out->eqns[di];
    Params p = d.params;
    p.set("lhs_contracting", d.params.get_ints("rhs_contracting"));
    p.set("rhs_contracting", d.params.get_ints("lhs_contracting"));
    d = Eqn{d.prim, {d.inputs[1], d.inputs[0]}, p, {j.eqns[ti].outputs[0]}, d.loc};
    drop.insert(ti);
  }
  std::vector<Eqn> eqns;
  for (size_t i = 0; i < out->eqns.size(); ++i)
    if (!drop.count(i)) eqns.push_back(std::move(out->eqns[i]));
  out->eqns = std::move(eqns);
  return ClosedJaxpr{out, in.consts};
}

// float16/bfloat16 sums and products accumulate in float32 and round once, as the eager kernels
// do (core/half_eval.h); a column reduction accumulates in its output buffer, which holds only
// 16 bits: reduce_sum(x:f16) -> convert(reduce_sum(convert(x, f32)), f16). The converts fuse.
ClosedJaxpr widen_half_reductions(const ClosedJaxpr& in) {
  const Jaxpr& j = *in.jaxpr;
  auto widens = [](const Eqn& e) {
    return (e.prim == reduce_sum_p || e.prim == reduce_prod_p) && is_half_float(e.outputs[0]->aval.dtype);
  };
  if (std::none_of(j.eqns.begin(), j.eqns.end(), widens)) return in;
  auto out = std::make_shared<Jaxpr>(j);
  out->eqns.clear();
  auto to = [](const AbstractValue& a) { return Params{{"new_dtype", a.dtype}, {"weak_type", a.weak_type}}; };
  for (const Eqn& e : j.eqns) {
    if (!widens(e)) {
      out->eqns.push_back(e);
      continue;
    }
    AbstractValue x32 = atom_aval(e.inputs[0]), r32 = e.outputs[0]->aval;
    x32.dtype = r32.dtype = DType::float32;
    x32.weak_type = r32.weak_type = false;
    Var x = new_var(x32), r = new_var(r32);
    out->eqns.push_back(Eqn{convert_element_type_p, {e.inputs[0]}, to(x32), {x}, e.loc});
    out->eqns.push_back(Eqn{e.prim, {x}, e.params, {r}, e.loc});
    out->eqns.push_back(Eqn{convert_element_type_p, {r}, to(e.outputs[0]->aval), e.outputs, e.loc});
  }
  return ClosedJaxpr{out, in.consts};
}

Program plan_program(const ClosedJaxpr& jaxpr, const std::string& name) {
  ClosedJaxpr laid_out = choose_layouts(widen_half_reductions(jaxpr));
  return Planner(laid_out, name).run();
}

}  // namespace jx::jitc
