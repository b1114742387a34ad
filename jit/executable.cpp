// Running compiled programs: buffers for every slot (inputs, constants, fresh outputs or donated
// buffers, one arena for the temporaries), then the entry function, which calls back here for
// parallel loops and library calls.

#include "jit/executable.h"

#include <chrono>
#include <exception>
#include <optional>
#include <set>
#include <functional>
#include <sstream>

#include "jit/passes.h"
#include "backends/cpu/register.h"
#include "backends/cpu/thread_pool.h"
#include "backends/llvm/codegen.h"
#ifdef JX_WITH_CUDA
#include "backends/cuda/executable.h"
#include "backends/cuda/render.h"
#include "core/device.h"
#endif
#include "core/log.h"
#include "core/prims/control.h"
#include "core/trace.h"
#include "transforms/ad.h"

namespace jx {

namespace {

struct RunContext {
  const Executable* exe;
  std::span<const Array> args;
  std::vector<Array>* outputs;           // per output slot index (slot -> array), see below
  const int* out_index;                  // slot -> position in outputs (or -1)
  std::shared_ptr<Buffer> arena;
  std::exception_ptr error;
};

void rt_parallel_for(void* ctx, llvmgen::KernelFn kernel, void** bufs, int64_t items, int64_t grain) {
  (void)ctx;
  cpu::parallel_for(items, grain, [&](int64_t b, int64_t e) { kernel(bufs, b, e); });
}

// A view of slot `s` as an Array, for the eager kernels.
Array slot_array(RunContext& c, int s, void** bufs) {
  const jitc::Program& p = c.exe->program;
  const jitc::Slot& slot = p.slots[s];
  if (slot.kind == jitc::Slot::Kind::input && !c.args.empty()) return c.args[slot.index];
  if (slot.kind == jitc::Slot::Kind::constant) return p.consts[slot.index];
  if (slot.kind == jitc::Slot::Kind::output && c.out_index) {
    int o = c.out_index[s];
    if (o >= 0) return (*c.outputs)[o];
  }
  auto buf = std::make_shared<Buffer>(bufs[s], slot.nbytes(), Device{}, c.arena);
  return Array(std::make_shared<ArrayImpl>(slot.aval, std::move(buf)));
}

// Storage for a loop: carries (two sets) and the bodies' arena, allocated once per loop.
struct LoopStorage {
  std::shared_ptr<Buffer> buffer;
  std::vector<void*> a, b;
  void* arena = nullptr;
  LoopStorage(const std::vector<size_t>& carry_bytes, int64_t arena_bytes) {
    auto round = [](size_t n) { return (n + 63) / 64 * 64; };
    size_t total = static_cast<size_t>(arena_bytes);
    for (size_t n : carry_bytes) total += 2 * round(n);
    if (total == 0) return;
    buffer = std::make_shared<Buffer>(total, Device{});
    char* p = static_cast<char*>(buffer->data());
    for (size_t n : carry_bytes) a.push_back(p), p += round(n);
    for (size_t n : carry_bytes) b.push_back(p), p += round(n);
    arena = arena_bytes > 0 ? p : nullptr;
  }
};

size_t aval_bytes(const AbstractValue& a) { return static_cast<size_t>(a.size()) * itemsize(a.dtype); }

// The hoisted loop invariants, computed once from the loop's invariant inputs.
struct HoistedValues {
  std::shared_ptr<Buffer> buffer;
  std::vector<const void*> ptrs;
  HoistedValues(const ControlFlow& cf, const std::vector<const void*>& invariant_inputs) {
    if (!cf.pre) return;
    const Executable& pre = *cf.pre;
    auto round = [](size_t n) { return (n + 63) / 64 * 64; };
    size_t total = static_cast<size_t>(pre.program.arena_bytes);
    for (auto& a : pre.out_avals) total += round(aval_bytes(a));
    buffer = std::make_shared<Buffer>(std::max<size_t>(total, 64), Device{});
    char* p = static_cast<char*>(buffer->data());
    std::vector<void*> outs;
    for (auto& a : pre.out_avals) outs.push_back(p), p += round(aval_bytes(a));
    pre.run_into(invariant_inputs.data(), outs.data(), pre.program.arena_bytes ? p : nullptr);
    ptrs.assign(outs.begin(), outs.end());
  }
};

void run_control(const ControlFlow& cf, std::vector<const void*> ins, const std::vector<void*>& outs) {
  switch (cf.kind) {
    case ControlFlow::Kind::cond: {
      const int32_t raw = *static_cast<const int32_t*>(ins[0]);
      const int64_t n = static_cast<int64_t>(cf.subs.size());
      const Executable& branch = *cf.subs[raw < 0 ? 0 : (raw >= n ? n - 1 : raw)];
      LoopStorage st({}, branch.program.arena_bytes);
      branch.run_into(ins.data() + 1, outs.data(), st.arena);
      return;
    }
    case ControlFlow::Kind::scan: {
      const Executable& body = *cf.subs[0];
      HoistedValues hv(cf, std::vector<const void*>(ins.begin(), ins.begin() + cf.num_consts));
      ins.insert(ins.begin() + cf.num_consts, hv.ptrs.begin(), hv.ptrs.end());
      const size_t nc = cf.num_consts + cf.num_hoisted, nk = cf.num_carry, nx = ins.size() - nc - nk, ny = outs.size() - nk;
      std::vector<size_t> carry_bytes, x_bytes, y_bytes;
      for (size_t k = 0; k < nk; ++k) carry_bytes.push_back(aval_bytes(body.in_avals[nc + k]));
      for (size_t j = 0; j < nx; ++j) x_bytes.push_back(aval_bytes(body.in_avals[nc + nk + j]));
      for (size_t j = 0; j < ny; ++j) y_bytes.push_back(aval_bytes(body.out_avals[nk + j]));
      LoopStorage st(carry_bytes, body.program.arena_bytes);
      std::vector<const void*> bin(ins.begin(), ins.end());   // consts, carries, x slices
      std::vector<void*> bout(nk + ny);                        // carries, y slices
      std::vector<void*> next = st.a, spare = st.b;
      for (int64_t it = 0; it < cf.length; ++it) {
        const int64_t i = cf.reverse ? cf.length - 1 - it : it;
        for (size_t j = 0; j < nx; ++j) bin[nc + nk + j] = static_cast<const char*>(ins[nc + nk + j]) + i * x_bytes[j];
        for (size_t k = 0; k < nk; ++k) bout[k] = next[k];
        for (size_t j = 0; j < ny; ++j) bout[nk + j] = static_cast<char*>(outs[nk + j]) + i * y_bytes[j];
        body.run_into(bin.data(), bout.data(), st.arena);
        for (size_t k = 0; k < nk; ++k) bin[nc + k] = next[k];
        std::swap(next, spare);
      }
      for (size_t k = 0; k < nk; ++k)
        if (carry_bytes[k]) std::memcpy(outs[k], bin[nc + k], carry_bytes[k]);
      return;
    }
    case ControlFlow::Kind::while_loop: {
      const Executable& cond = *cf.subs[0];
      const Executable& body = *cf.subs[1];
      HoistedValues hv(cf, std::vector<const void*>(ins.begin() + cf.cond_nconsts, ins.begin() + cf.cond_nconsts + cf.body_nconsts));
      ins.insert(ins.begin() + cf.cond_nconsts + cf.body_nconsts, hv.ptrs.begin(), hv.ptrs.end());
      const size_t cc = cf.cond_nconsts, bc = cf.body_nconsts + cf.num_hoisted, nk = ins.size() - cc - bc;
      std::vector<size_t> carry_bytes;
      for (size_t k = 0; k < nk; ++k) carry_bytes.push_back(aval_bytes(body.in_avals[bc + k]));
      LoopStorage st(carry_bytes, std::max(cond.program.arena_bytes, body.program.arena_bytes));
      std::vector<const void*> cin(cc + nk), bin(bc + nk);
      for (size_t i = 0; i < cc; ++i) cin[i] = ins[i];
      for (size_t i = 0; i < bc; ++i) bin[i] = ins[cc + i];
      std::vector<const void*> cur(ins.begin() + cc + bc, ins.end());
      std::vector<void*> next = st.a, spare = st.b;
      uint8_t flag = 0;
      void* flag_out[1] = {&flag};
      for (;;) {
        for (size_t k = 0; k < nk; ++k) cin[cc + k] = bin[bc + k] = cur[k];
        cond.run_into(cin.data(), flag_out, st.arena);
        if (!flag) break;
        body.run_into(bin.data(), next.data(), st.arena);
        for (size_t k = 0; k < nk; ++k) cur[k] = next[k];
        std::swap(next, spare);
      }
      for (size_t k = 0; k < nk; ++k)
        if (carry_bytes[k]) std::memcpy(outs[k], cur[k], carry_bytes[k]);
      return;
    }
  }
}

void rt_library_call(void* ctx, int64_t index, void** bufs) {
  auto& c = *static_cast<RunContext*>(ctx);
  if (c.error) return;  // an earlier step failed: skip the rest, the error is rethrown
  try {
    const jitc::LibraryCall& call = c.exe->program.calls[index];
    if (auto it = c.exe->control.find(static_cast<int>(index)); it != c.exe->control.end()) {
      std::vector<const void*> ins;
      std::vector<void*> outs;
      for (size_t i = 0; i < call.in_slots.size(); ++i)
        ins.push_back(call.in_slots[i] >= 0 ? bufs[call.in_slots[i]] : call.literals[i].raw_data());
      for (int s : call.out_slots) outs.push_back(bufs[s]);
      run_control(it->second, std::move(ins), outs);
      return;
    }
    std::vector<Array> in, out;
    for (size_t i = 0; i < call.in_slots.size(); ++i)
      in.push_back(call.in_slots[i] >= 0 ? slot_array(c, call.in_slots[i], bufs) : call.literals[i]);
    for (int s : call.out_slots) out.push_back(slot_array(c, s, bufs));
    if (call.fused_epilogue()) {
      Array bias = call.bias_slot >= 0 ? slot_array(c, call.bias_slot, bufs) : Array();
      cpu::dot_general_fused(in[0], in[1], bias, call.activation, out[0], call.params);
      return;
    }
    const PrimitiveDef& def = call.prim.def();
    if (def.impl) {
      // Call primitives (control flow, nested calls): evaluate, then copy into the planned slots.
      auto r = eval_primitive(call.prim, in, call.params);
      for (size_t i = 0; i < r.size(); ++i) {
        if (out[i].size() > 0) std::memcpy(out[i].raw_data(), r[i].raw_data(), c.exe->program.slots[call.out_slots[i]].nbytes());
      }
      return;
    }
    const Kernel& kernel = def.kernels[static_cast<int>(DeviceKind::cpu)];
    if (!kernel) throw MissingRule(detail::cat("[", call.prim.name(), "] has no eager kernel on cpu"));
    kernel(in, out, call.params);
  } catch (Error& e) {
    e.add_location(c.exe->program.calls[index].loc);
    c.error = std::current_exception();
  } catch (...) {
    c.error = std::current_exception();
  }
}

const llvmgen::RuntimeHooks& hooks() {
  static const llvmgen::RuntimeHooks h{&rt_parallel_for, &rt_library_call};
  return h;
}

}  // namespace

std::vector<Array> Executable::run(std::span<const Array> args, const std::vector<bool>* donated) const {
  const jitc::Program& p = program;
  const size_t nslots = p.slots.size();
  // Small programs keep their tables on the stack (dispatch is on the hot path).
  constexpr size_t kInline = 32;
  void* inline_bufs[kInline];
  int inline_index[kInline];
  std::vector<void*> heap_bufs;
  std::vector<int> heap_index;
  void** bufs = inline_bufs;
  int* out_index = inline_index;
  if (nslots > kInline) {
    heap_bufs.resize(nslots);
    heap_index.resize(nslots);
    bufs = heap_bufs.data();
    out_index = heap_index.data();
  }
  std::fill(bufs, bufs + nslots, nullptr);
  std::fill(out_index, out_index + nslots, -1);
  if (args.size() != in_avals.size()) {
    throw ValueError(detail::cat("[jit] the program takes ", in_avals.size(), " arguments, got ", args.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].is_tracer() || !(args[i].shape() == in_avals[i].shape) || args[i].dtype() != in_avals[i].dtype) {
      throw ValueError(detail::cat("[jit] argument ", i, " should be ", in_avals[i].str(), ", got ", args[i].aval().str()));
    }
    bufs[p.input_slots[i]] = args[i].raw_data();
  }
  RunContext c{this, args, nullptr, nullptr, nullptr, nullptr};
  for (size_t s = 0; s < nslots; ++s)
    if (p.slots[s].kind == jitc::Slot::Kind::constant) bufs[s] = p.consts[p.slots[s].index].raw_data();
  if (p.arena_bytes > 0) {
    c.arena = std::make_shared<Buffer>(static_cast<size_t>(p.arena_bytes), Device{});
    char* base = static_cast<char*>(c.arena->data());
    for (size_t s = 0; s < nslots; ++s)
      if (p.slots[s].kind == jitc::Slot::Kind::temp) bufs[s] = base + p.slots[s].offset;
  }
  // Outputs: a donated argument's buffer where the plan allows, else a fresh buffer.
  std::vector<Array> out_arrays;
  detail::allocate_outputs(p, args, donated, Device{}, bufs, out_index, out_arrays);
  for (size_t s = 0; s < nslots; ++s)
    if (p.slots[s].kind == jitc::Slot::Kind::alias) bufs[s] = bufs[p.slots[s].alias_of];
  c.outputs = &out_arrays;
  c.out_index = out_index;
  entry(bufs, &c);
  if (c.error) std::rethrow_exception(c.error);
  return detail::collect_outputs(p, args, donated, out_arrays, out_index, p.consts, p.output_literals);
}

void Executable::prepare() {
  const jitc::Program& p = program;
  const size_t nslots = p.slots.size();
  table_template.assign(nslots, nullptr);
  for (size_t s = 0; s < nslots; ++s) {
    const jitc::Slot& slot = p.slots[s];
    if (slot.kind == jitc::Slot::Kind::constant) table_template[s] = p.consts[slot.index].raw_data();
    else if (slot.kind == jitc::Slot::Kind::temp) temp_slots.emplace_back(static_cast<int>(s), slot.offset);
    else if (slot.kind == jitc::Slot::Kind::alias) alias_slots.emplace_back(static_cast<int>(s), slot.alias_of);
  }
  std::vector<bool> seen(nslots, false);
  for (size_t o = 0; o < p.output_slots.size(); ++o) {
    const int s = p.output_slots[o];
    if (s >= 0 && p.slots[s].kind == jitc::Slot::Kind::output && !seen[s]) {
      seen[s] = true;
      output_targets.emplace_back(s, static_cast<int>(o));
    } else if (aval_bytes(out_avals[o]) > 0) {
      copied_outputs.push_back(static_cast<int>(o));
    }
  }
}

void Executable::run_into(const void* const* in, void* const* out, void* arena) const {
  const jitc::Program& p = program;
  const size_t nslots = p.slots.size();
  constexpr size_t kInline = 64;
  void* inline_bufs[kInline];
  std::vector<void*> heap_bufs;
  void** bufs = inline_bufs;
  if (nslots > kInline) {
    heap_bufs.resize(nslots);
    bufs = heap_bufs.data();
  }
  if (nslots) std::memcpy(bufs, table_template.data(), nslots * sizeof(void*));
  for (size_t i = 0; i < p.input_slots.size(); ++i) bufs[p.input_slots[i]] = const_cast<void*>(in[i]);
  for (auto [s, offset] : temp_slots) bufs[s] = static_cast<char*>(arena) + offset;
  for (auto [s, o] : output_targets) bufs[s] = out[o];
  for (auto [s, root] : alias_slots) bufs[s] = bufs[root];
  RunContext c{this, {}, nullptr, nullptr, nullptr, nullptr};
  entry(bufs, &c);
  if (c.error) std::rethrow_exception(c.error);
  // Outputs that are arguments, constants, literals or repeated values are copied.
  for (int o : copied_outputs) {
    const int s = p.output_slots[o];
    const void* src = s < 0 ? p.output_literals[o].raw_data() : bufs[s];
    if (src != out[o]) std::memcpy(out[o], src, aval_bytes(out_avals[o]));
  }
}

std::string Executable::text() const {
  std::ostringstream os;
  os << "# optimized jaxpr\n" << program.jaxpr << "\n\n# fusion plan\n" << program.report;
  // Compiled bodies of control flow.
  std::function<void(const Executable&, const std::string&)> nested = [&](const Executable& e, const std::string& indent) {
    for (auto& [index, cf] : e.control) {
      for (size_t i = 0; i < cf.subs.size(); ++i) {
        os << indent << "  step call " << index << ", compiled body " << i
           << (cf.num_hoisted ? " (" + std::to_string(cf.num_hoisted) + " loop invariants hoisted)" : "") << ":\n";
        std::istringstream lines(cf.subs[i]->program.report);
        for (std::string line; std::getline(lines, line);) os << indent << "    " << line << "\n";
        nested(*cf.subs[i], indent + "    ");
      }
    }
  };
  nested(*this, "");
  os << "\n# LLVM IR\n";
  os << (ir.empty() ? "(not kept)\n" : ir);
  return os.str();
}

namespace {

const VarNode* atom_var(const Atom& a) {
  auto* v = std::get_if<Var>(&a);
  return v ? v->get() : nullptr;
}

// Splits a loop body into the equations that depend only on its first `n_invariant` inputs (and
// constants), computed once before the loop, and the rest. The new body takes the invariant
// inputs, then the hoisted values, then the other inputs.
struct Hoisted {
  ClosedJaxpr pre, body;
  int num_hoisted = 0;
};
std::optional<Hoisted> hoist_invariants(const ClosedJaxpr& body, size_t n_invariant) {
  const Jaxpr& j = *body.jaxpr;
  std::set<const VarNode*> inv;
  for (auto& c : j.constvars) inv.insert(c.get());
  for (size_t i = 0; i < n_invariant; ++i) inv.insert(j.invars[i].get());
  std::vector<const Eqn*> hoist, keep;
  for (auto& e : j.eqns) {
    bool invariant = !e.prim.def().impl;  // nested calls stay in the body
    for (auto& a : e.inputs)
      if (auto* v = atom_var(a)) invariant &= inv.count(v) > 0;
    // Broadcasts of literals and iotas are free inside fused loops: not worth a buffer.
    if (invariant && (e.prim.name() == "iota" ||
                      (e.prim.name() == "broadcast_in_dim" && std::holds_alternative<Literal>(e.inputs[0]))))
      invariant = false;
    if (invariant) {
      for (auto& o : e.outputs) inv.insert(o.get());
      hoist.push_back(&e);
    } else {
      keep.push_back(&e);
    }
  }
  if (hoist.empty()) return std::nullopt;
  // Hoisted values the rest of the body (or its outputs) reads.
  std::set<const VarNode*> defined_by_hoist;
  for (auto* e : hoist)
    for (auto& o : e->outputs) defined_by_hoist.insert(o.get());
  std::vector<Var> needed;
  std::set<const VarNode*> seen;
  auto need = [&](const Atom& a) {
    auto* v = std::get_if<Var>(&a);
    if (v && defined_by_hoist.count(v->get()) && seen.insert(v->get()).second) needed.push_back(*v);
  };
  for (auto* e : keep)
    for (auto& a : e->inputs) need(a);
  for (auto& o : j.outvars) need(o);
  if (needed.empty()) return std::nullopt;
  auto pre = std::make_shared<Jaxpr>();
  pre->constvars = j.constvars;
  pre->invars.assign(j.invars.begin(), j.invars.begin() + n_invariant);
  for (auto* e : hoist) pre->eqns.push_back(*e);
  pre->outvars.assign(needed.begin(), needed.end());
  auto rest = std::make_shared<Jaxpr>();
  rest->constvars = j.constvars;
  rest->invars.assign(j.invars.begin(), j.invars.begin() + n_invariant);
  rest->invars.insert(rest->invars.end(), needed.begin(), needed.end());
  rest->invars.insert(rest->invars.end(), j.invars.begin() + n_invariant, j.invars.end());
  for (auto* e : keep) rest->eqns.push_back(*e);
  rest->outvars = j.outvars;
  return Hoisted{ClosedJaxpr{pre, body.consts}, ClosedJaxpr{rest, body.consts}, static_cast<int>(needed.size())};
}

}  // namespace

namespace detail {

std::optional<ControlPlan> plan_control(const jitc::LibraryCall& call) {
  const std::string& n = call.prim.name();
  ControlPlan plan;
  ControlFlow& cf = plan.header;
  auto loop_body = [&](const ClosedJaxpr& body, size_t n_invariant) {
    if (auto h = hoist_invariants(body, n_invariant)) {
      plan.pre = h->pre;
      cf.num_hoisted = h->num_hoisted;
      plan.subs.push_back(h->body);
    } else {
      plan.subs.push_back(body);
    }
    plan.sub_names.push_back("_body");
  };
  if (n == "cond") {
    cf.kind = ControlFlow::Kind::cond;
    const auto& branches = get_jaxpr_list(call.params, control_param::branches);
    for (size_t b = 0; b < branches.size(); ++b) {
      plan.subs.push_back(branches[b]);
      plan.sub_names.push_back("_branch" + std::to_string(b));
    }
  } else if (n == "while") {
    cf.kind = ControlFlow::Kind::while_loop;
    cf.cond_nconsts = static_cast<int>(call.params.get_int(control_param::cond_nconsts));
    cf.body_nconsts = static_cast<int>(call.params.get_int(control_param::body_nconsts));
    plan.subs.push_back(get_jaxpr(call.params, control_param::cond_jaxpr));
    plan.sub_names.push_back("_cond");
    loop_body(get_jaxpr(call.params, control_param::body_jaxpr), static_cast<size_t>(cf.body_nconsts));
  } else if (n == "scan") {
    cf.kind = ControlFlow::Kind::scan;
    cf.length = call.params.get_int(control_param::length);
    cf.reverse = call.params.get<bool>(control_param::reverse);
    cf.num_consts = static_cast<int>(call.params.get_int(control_param::num_consts));
    cf.num_carry = static_cast<int>(call.params.get_int(control_param::num_carry));
    loop_body(get_jaxpr(call.params, control_param::jaxpr), static_cast<size_t>(cf.num_consts));
  } else {
    return std::nullopt;
  }
  return plan;
}

void allocate_outputs(const jitc::Program& p, std::span<const Array> args, const std::vector<bool>* donated,
                      Device device, void** bufs, int* out_index, std::vector<Array>& out_arrays) {
  out_arrays.reserve(p.output_slots.size());
  std::vector<bool> taken(donated ? args.size() : 0, false);
  for (size_t o = 0; o < p.output_slots.size(); ++o) {
    int s = p.output_slots[o];
    if (s < 0 || p.slots[s].kind != jitc::Slot::Kind::output || out_index[s] >= 0) continue;
    std::shared_ptr<Buffer> buffer;
    if (donated) {
      for (int a : p.donation_candidates[o]) {
        if (!(*donated)[a] || taken[a]) continue;
        const auto& impl = args[a].impl_ptr();
        if (impl.use_count() < 1 || !impl->buffer() || impl->buffer().use_count() != 1) continue;
        // The same array passed twice (or another argument on the same memory): not reusable.
        bool shared = false;
        for (size_t b = 0; b < args.size(); ++b)
          shared |= b != static_cast<size_t>(a) && args[b].impl_ptr() && args[b].impl_ptr()->buffer() == impl->buffer();
        if (shared) continue;
        taken[a] = true;
        buffer = impl->buffer();
        break;
      }
    }
    Array arr = buffer ? Array(std::make_shared<ArrayImpl>(p.slots[s].aval, buffer)) : detail::empty_array(p.slots[s].aval, device);
    out_index[s] = static_cast<int>(out_arrays.size());
    bufs[s] = arr.size() > 0 ? arr.raw_data() : nullptr;
    out_arrays.push_back(std::move(arr));
  }
}

std::vector<Array> collect_outputs(const jitc::Program& p, std::span<const Array> args, const std::vector<bool>* donated,
                                   const std::vector<Array>& out_arrays, const int* out_index,
                                   std::span<const Array> consts, std::span<const Array> output_literals) {
  std::vector<Array> outs;
  outs.reserve(p.output_slots.size());
  std::vector<bool> returned(donated ? args.size() : 0, false);
  for (size_t o = 0; o < p.output_slots.size(); ++o) {
    int s = p.output_slots[o];
    if (s < 0) {
      outs.push_back(output_literals[o]);
      continue;
    }
    const jitc::Slot& slot = p.slots[s];
    switch (slot.kind) {
      case jitc::Slot::Kind::input:
        if (donated) returned[slot.index] = true;
        outs.push_back(args[slot.index]);
        break;
      case jitc::Slot::Kind::constant: outs.push_back(consts[slot.index]); break;
      default: outs.push_back(out_arrays[out_index[s]]); break;
    }
  }
  // Donated arguments are deleted (unless the program returns them unchanged).
  if (donated) {
    for (size_t a = 0; a < args.size(); ++a)
      if ((*donated)[a] && !returned[a] && args[a].impl_ptr()) args[a].impl_ptr()->take_buffer_for_donation();
  }
  return outs;
}

std::shared_ptr<const Executable> compile_jaxpr(const ClosedJaxpr& jaxpr, const std::string& name, bool keep_ir) {
  auto t0 = std::chrono::steady_clock::now();
  ensure_runtime_initialized();  // library calls run the backends' kernels
#ifdef JX_WITH_CUDA
  cuda::HostScope host;  // constant folding computes on host values whatever the default device
#endif
  for (auto& c : jaxpr.consts) JX_CHECK(!c.is_tracer(), "jit: compiling a jaxpr whose constants are tracers");
  ClosedJaxpr optimized = passes::optimize(jaxpr);
  auto t1 = std::chrono::steady_clock::now();
  auto exe = std::make_shared<Executable>();
  exe->in_avals = jaxpr.in_avals();
  exe->out_avals = jaxpr.out_avals();
  // Symbol names: letters, digits and underscores.
  std::string sym = name;
  for (auto& ch : sym)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  exe->program = jitc::plan_program(optimized, sym);
#ifdef JX_WITH_CUDA
  // Values that live on a GPU (captured device arrays) are read by the CPU code through host copies.
  for (auto& c : exe->program.consts)
    if (detail::on_gpu(c)) c = device_put(c, Device{});
  for (auto& call : exe->program.calls)
    for (auto& l : call.literals)
      if (l.defined() && detail::on_gpu(l)) l = device_put(l, Device{});
  for (auto& l : exe->program.output_literals)
    if (l.defined() && detail::on_gpu(l)) l = device_put(l, Device{});
#endif
#ifdef JX_WITH_CUDA
  cudagen::codegen_check(exe->program);  // JX_CUDA_CODEGEN_CHECK=<sm>: render and compile for CUDA too
#endif
  // Control flow: the sub-jaxprs are compiled too.
  for (size_t i = 0; i < exe->program.calls.size(); ++i) {
    auto plan = plan_control(exe->program.calls[i]);
    if (!plan) continue;
    ControlFlow cf = plan->header;
    for (size_t k = 0; k < plan->subs.size(); ++k) cf.subs.push_back(compile_jaxpr(plan->subs[k], sym + plan->sub_names[k], false));
    if (plan->pre) cf.pre = compile_jaxpr(*plan->pre, sym + "_invariants", false);
    exe->control[static_cast<int>(i)] = std::move(cf);
  }
  auto t2 = std::chrono::steady_clock::now();
  auto code = llvmgen::compile_program(exe->program, hooks(), keep_ir);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  exe->phase_ms = {ms(t0, t1), ms(t1, t2), ms(t2, std::chrono::steady_clock::now())};
  exe->entry = code.entry;
  exe->code = code.resources;
  exe->ir = std::move(code.ir);
  exe->cache_hit = code.cache_hit;
  exe->prepare();
  exe->compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return exe;
}

}  // namespace detail

}  // namespace jx
