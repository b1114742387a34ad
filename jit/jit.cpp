// jx::jit: the per-signature cache, the `pjit` call primitive and its transformation rules.

#include "jit/jit.h"

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "core/log.h"
#include "core/rules.h"
#include "core/trace.h"
#include "jit/executable.h"
#ifdef JX_WITH_CUDA
#include <map>

#include "backends/cuda/executable.h"
#include "core/device.h"
#endif
#include "transforms/ad.h"
#include "transforms/grad.h"
#include "transforms/vmap.h"

namespace jx {

namespace {

bool log_compiles() {
  static const bool on = [] {
    const char* v = std::getenv("JX_LOG_COMPILES");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void log_compile(const std::string& what) {
  if (log_compiles()) {
    auto* l = detail::logger("jit");
    if (l->level() > spdlog::level::info) l->set_level(spdlog::level::info);
    l->info("{}", what);
  }
}

std::string avals_str(const std::vector<AbstractValue>& avals) {
  std::string s = "(";
  for (size_t i = 0; i < avals.size(); ++i) s += (i ? ", " : "") + avals[i].str();
  return s + ")";
}

// ---- executables of sub-jaxprs (pjit equations evaluated eagerly) ---------------------------------

struct JaxprExeCache {
  std::mutex mu;
  // Keyed by the jaxpr's identity; the entry keeps the jaxpr alive so the key is never reused.
  std::unordered_map<const Jaxpr*, std::pair<std::shared_ptr<const Jaxpr>, std::shared_ptr<const Executable>>> map;
};
JaxprExeCache& jaxpr_exe_cache() {
  static auto* c = new JaxprExeCache;
  return *c;
}

std::shared_ptr<const Executable> executable_for(const ClosedJaxpr& j, const std::string& name) {
  auto& cache = jaxpr_exe_cache();
  {
    std::lock_guard lock(cache.mu);
    auto it = cache.map.find(j.jaxpr.get());
    if (it != cache.map.end()) return it->second.second;
  }
  auto exe = detail::compile_jaxpr(j, name, false);
  log_compile(detail::cat("compiled ", name, avals_str(exe->in_avals), " in ", exe->compile_ms, " ms",
                          exe->cache_hit ? " (object from JX_CACHE_DIR)" : ""));
  std::lock_guard lock(cache.mu);
  // Bounded: a program that keeps creating new sub-jaxprs must not grow this without limit.
  if (cache.map.size() > 4096) cache.map.clear();
  cache.map[j.jaxpr.get()] = {j.jaxpr, exe};
  return exe;
}

}  // namespace

// ---- the pjit primitive -----------------------------------------------------------------------

extern const Primitive pjit_p;

namespace {

const std::string& pjit_name(const Params& p) { return p.get<std::string>("name"); }
PartialEvalEqn pjit_partial_eval(const Eqn& eqn, const std::vector<bool>& unknown_in);

std::vector<Array> bind_pjit(const ClosedJaxpr& body, std::span<const Array> args, const std::string& name) {
  static const bool registered = [] {
    register_partial_eval_rule(pjit_p, pjit_partial_eval);
    return true;
  }();
  (void)registered;
  bool tracer_consts = false;
  for (auto& c : body.consts) tracer_consts |= c.is_tracer();
  if (!tracer_consts) return jx::bind(pjit_p, args, Params{{"jaxpr", jaxpr_param(body)}, {"name", name}});
  // Closure conversion: captured tracers become leading inputs.
  auto [converted, consts] = convert_constvars(body);
  std::vector<Array> ins = consts;
  ins.insert(ins.end(), args.begin(), args.end());
  return jx::bind(pjit_p, ins, Params{{"jaxpr", jaxpr_param(converted)}, {"name", name}});
}

std::vector<AbstractValue> physical_avals(std::span<const Array> args) {
  std::vector<AbstractValue> out;
  for (auto& a : args) out.push_back(a.aval());
  return out;
}

PartialEvalEqn pjit_partial_eval(const Eqn& eqn, const std::vector<bool>& unknown_in) {
  const ClosedJaxpr& body = get_jaxpr(eqn.params, "jaxpr");
  const std::string& name = pjit_name(eqn.params);
  PartialEval pe = partial_eval_jaxpr(body, unknown_in, {});
  PartialEvalEqn out;
  std::vector<Atom> known_inputs, unknown_inputs;
  for (size_t i = 0; i < unknown_in.size(); ++i) (unknown_in[i] ? unknown_inputs : known_inputs).push_back(eqn.inputs[i]);
  std::vector<Var> known_outs, unknown_outs;
  for (size_t i = 0; i < eqn.outputs.size(); ++i) (pe.out_unknown[i] ? unknown_outs : known_outs).push_back(eqn.outputs[i]);
  const Jaxpr& known = *pe.known.jaxpr;
  const size_t n_known_out = known.outvars.size() - pe.num_residuals;
  std::vector<Var> residuals;
  for (size_t r = 0; r < static_cast<size_t>(pe.num_residuals); ++r)
    residuals.push_back(new_var(atom_aval(known.outvars[n_known_out + r])));
  if (!known_outs.empty() || !residuals.empty()) {
    Eqn k{pjit_p, known_inputs, Params{{"jaxpr", jaxpr_param(pe.known)}, {"name", name}}, known_outs, eqn.loc};
    k.outputs.insert(k.outputs.end(), residuals.begin(), residuals.end());
    out.known = std::move(k);
  }
  if (!unknown_outs.empty()) {
    std::vector<Atom> u_inputs(residuals.begin(), residuals.end());
    u_inputs.insert(u_inputs.end(), unknown_inputs.begin(), unknown_inputs.end());
    out.unknown = Eqn{pjit_p, u_inputs, Params{{"jaxpr", jaxpr_param(pe.unknown)}, {"name", name}}, unknown_outs, eqn.loc};
  }
  return out;
}

}  // namespace

const Primitive pjit_p =
    PrimitiveBuilder("pjit")
        .num_outputs(-1)
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const ClosedJaxpr& j = get_jaxpr(p, "jaxpr");
          auto want = j.in_avals();
          if (want.size() != in.size()) throw_error<ShapeError>("[jit] takes ", want.size(), " inputs, got ", in.size());
          for (size_t i = 0; i < in.size(); ++i) {
            if (want[i].shape != in[i].shape || want[i].dtype != in[i].dtype) {
              throw_error<ShapeError>("[jit] input ", i, " should be ", want[i].str(), ", got ", in[i].str());
            }
          }
          return j.out_avals();
        })
        .impl([](std::span<const Array> args, const Params& p) {
          const ClosedJaxpr& j = get_jaxpr(p, "jaxpr");
          return executable_for(j, pjit_name(p))->run(args);
        })
        .jvp_full([](std::span<const Array> primals, std::span<const Array> tangents, const Params& p) {
          const ClosedJaxpr& body = get_jaxpr(p, "jaxpr");
          std::vector<bool> nonzero;
          std::vector<Array> ins(primals.begin(), primals.end());
          for (auto& t : tangents) {
            nonzero.push_back(t.defined());
            if (t.defined()) ins.push_back(t);
          }
          auto outs = bind_pjit(jvp_jaxpr(body, nonzero), ins, "jvp_" + pjit_name(p));
          size_t n = outs.size() / 2;
          return std::pair{std::vector<Array>(outs.begin(), outs.begin() + n), std::vector<Array>(outs.begin() + n, outs.end())};
        })
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                      const Params& p) {
          const ClosedJaxpr& body = get_jaxpr(p, "jaxpr");
          std::vector<bool> lin(linear.begin(), linear.end());
          ClosedJaxpr t = transpose_jaxpr(body, lin);
          std::vector<Array> ins;
          for (size_t i = 0; i < args.size(); ++i)
            if (!lin[i]) ins.push_back(args[i]);
          auto out_avals = body.out_avals();
          for (size_t i = 0; i < cts.size(); ++i) ins.push_back(instantiate(cts[i], out_avals[i]));
          auto lin_cts = bind_pjit(t, ins, "transpose_" + pjit_name(p));
          std::vector<Array> out(args.size());
          for (size_t i = 0, k = 0; i < args.size(); ++i)
            if (lin[i]) out[i] = lin_cts[k++];
          return out;
        })
        .batch([](std::span<const Array> args, std::span<const BatchDim> dims, const Params& p) {
          const ClosedJaxpr& body = get_jaxpr(p, "jaxpr");
          int64_t size = batch_size(args, dims);
          std::vector<std::optional<int>> out_axes(body.jaxpr->outvars.size(), 0);
          ClosedJaxpr batched =
              detail::batch_jaxpr(body, size, std::vector<BatchDim>(dims.begin(), dims.end()), out_axes, physical_avals(args));
          auto outs = bind_pjit(batched, args, "vmap_" + pjit_name(p));
          return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
        })
        .build();

// ---- jit() --------------------------------------------------------------------------------------

namespace detail {

namespace {

size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)); }

size_t treedef_hash(const TreeDef& d) {
  size_t h = static_cast<size_t>(d.kind) + 17 * d.num_leaves;
  for (auto& k : d.keys) h = mix(h, std::hash<std::string>{}(k));
  for (auto& c : d.children) h = mix(h, treedef_hash(c));
  return h;
}

// The signature of a call: leaf avals (with weak types), argument structures, static values.
size_t call_hash(const JitCall& call) {
  size_t h = call.leaves.size();
  for (auto& l : call.leaves) {
    if (!l.defined()) throw ValueError("[jit] an argument is an undefined Array");
    const AbstractValue& a = l.aval();
    h = mix(h, static_cast<size_t>(a.dtype) * 2 + a.weak_type);
    for (auto d : a.shape) h = mix(h, static_cast<size_t>(d));
  }
  for (auto& d : call.arg_defs) h = mix(h, treedef_hash(d));
  for (auto& s : call.statics) h = mix(h, s.hash);
  return h;
}

struct Entry {
  // The signature.
  std::vector<AbstractValue> avals;
  std::vector<TreeDef> arg_defs;
  std::vector<StaticArg> statics;
  // The traced function and its compiled program.
  ClosedJaxpr jaxpr;
  TreeDef out_def;
  bool captures = false;  // some constant is a tracer of an enclosing transform (not cached)
  std::mutex compile_mu;
  std::shared_ptr<const Executable> exe;
#ifdef JX_WITH_CUDA
  std::map<int, std::shared_ptr<const cuda::Executable>> cuda_exes;  // by CUDA device
  int const_device = -1;  // the CUDA device of a captured constant, found once at trace time
#endif

  bool matches(const JitCall& call) const {
    if (avals.size() != call.leaves.size() || arg_defs.size() != call.arg_defs.size()) return false;
    for (size_t i = 0; i < avals.size(); ++i)
      if (!(avals[i] == call.leaves[i].aval())) return false;
    for (size_t i = 0; i < arg_defs.size(); ++i)
      if (!(arg_defs[i] == call.arg_defs[i])) return false;
    return statics == call.statics;
  }
};

}  // namespace

struct JitState {
  JitOptions options;
  Loc loc;
  std::string name;
  std::mutex mu;
  std::unordered_multimap<size_t, std::shared_ptr<Entry>> cache;
  std::vector<bool> donated_args;
};

std::shared_ptr<JitState> make_jit_state(JitOptions options, Loc loc) {
  auto s = std::make_shared<JitState>();
  s->name = options.name.empty() ? "jit" : options.name;
  s->options = std::move(options);
  s->loc = loc;
  return s;
}

const JitOptions& jit_options(const JitState& state) { return state.options; }

void throw_static_arg_not_hashable(int argnum, const char* name) {
  throw ValueError(cat("[", name, "] static argument ", argnum,
                       " must be a C++ value with std::hash and == (int, double, std::string, an enum, ...)"));
}

void throw_not_a_tree(int argnum, const char* name) {
  throw ValueError(cat("[", name, "] argument ", argnum,
                       " is neither an array tree nor marked static: list it in static_argnums, or pass an Array"));
}

void throw_bad_argnum(const char* what, int argnum, size_t nargs, const char* name) {
  throw ValueError(cat("[", name, "] ", what, " contains ", argnum, ", but the function is called with ", nargs,
                       " arguments"));
}

namespace {

std::shared_ptr<Entry> lookup(JitState& state, const JitCall& call, const TracerFactory& factory, bool* traced) {
  const size_t h = call_hash(call);
  {
    std::lock_guard lock(state.mu);
    auto [it, end] = state.cache.equal_range(h);
    for (; it != end; ++it)
      if (it->second->matches(call)) return it->second;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto e = std::make_shared<Entry>();
  for (auto& l : call.leaves) e->avals.push_back(l.aval());
  e->arg_defs = call.arg_defs;
  e->statics = call.statics;
  auto [jaxpr, out_def] = factory()(e->avals);
  e->jaxpr = std::move(jaxpr);
  e->out_def = std::move(out_def);
  *traced = true;
  log_compile(cat("traced ", state.name, avals_str(e->avals), " in ",
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(), " ms: ",
                  e->jaxpr.jaxpr->eqns.size(), " equations"));
  e->captures = captures_tracers(e->jaxpr);
#ifdef JX_WITH_CUDA
  for (size_t i = 0; e->const_device < 0 && i < e->jaxpr.consts.size(); ++i)
    if (jx::detail::on_gpu(e->jaxpr.consts[i])) e->const_device = e->jaxpr.consts[i].device().id;
#endif
  if (!e->captures) {
    std::lock_guard lock(state.mu);
    state.cache.emplace(h, e);
  }
  return e;
}

std::shared_ptr<const Executable> ensure_compiled(JitState& state, Entry& e, bool keep_ir) {
  std::lock_guard lock(e.compile_mu);
  if (e.exe && (!keep_ir || !e.exe->ir.empty() || e.exe->cache_hit)) return e.exe;
  auto exe = compile_jaxpr(e.jaxpr, state.name, keep_ir);
  log_compile(cat("compiled ", state.name, avals_str(exe->in_avals), " in ", exe->compile_ms, " ms (passes ",
                  exe->phase_ms[0], ", fusion ", exe->phase_ms[1], ", LLVM ", exe->phase_ms[2], ")",
                  exe->cache_hit ? " (object from JX_CACHE_DIR)" : ""));
  e.exe = exe;
  return exe;
}

#ifdef JX_WITH_CUDA
std::shared_ptr<const cuda::Executable> ensure_compiled_cuda(JitState& state, Entry& e, int device) {
  std::lock_guard lock(e.compile_mu);
  auto& slot = e.cuda_exes[device];
  if (slot) return slot;
  slot = cuda::compile(e.jaxpr, state.name, device);
  log_compile(cat("compiled ", state.name, avals_str(slot->in_avals), " for cuda:", device, " in ", slot->compile_ms, " ms",
                  slot->cache_hit ? " (CUBIN from cache)" : ""));
  return slot;
}
#endif

}  // namespace

std::pair<std::vector<Array>, std::shared_ptr<const TreeDef>> jit_run(JitState& state, JitCall& call, const TracerFactory& tracer) {
  return at_loc(state.loc, [&] {
    bool traced = false;
    auto entry = lookup(state, call, tracer, &traced);
    bool tracing = trace_depth() > 0;
    for (auto& l : call.leaves) tracing |= l.is_tracer();
    if (tracing || entry->captures) {
      auto outs = bind_pjit(entry->jaxpr, call.leaves, state.name);
      return std::pair{std::move(outs), std::shared_ptr<const TreeDef>(entry, &entry->out_def)};
    }
    if (!traced && log_compiles()) log_compile(cat("cache hit ", state.name, avals_str(entry->jaxpr.in_avals())));
    bool any_donated = false;
    for (bool d : call.donated) any_donated |= d;
#ifdef JX_WITH_CUDA
    // On a CUDA device when an argument lives there, or when JX_PLATFORM=cuda.
    int device = cuda::placement(call.leaves);
    if (device < 0) device = entry->const_device;  // a captured device array
    if (device >= 0) {
      auto cexe = ensure_compiled_cuda(state, *entry, device);
      std::vector<Array> args;
      args.reserve(call.leaves.size());
      for (auto& l : call.leaves) args.push_back(cuda::to_device(l, device));
      auto outs = cexe->run(args, any_donated ? &call.donated : nullptr);
      return std::pair{std::move(outs), std::shared_ptr<const TreeDef>(entry, &entry->out_def)};
    }
#endif
    auto exe = ensure_compiled(state, *entry, false);
    auto outs = exe->run(call.leaves, any_donated ? &call.donated : nullptr);
    return std::pair{std::move(outs), std::shared_ptr<const TreeDef>(entry, &entry->out_def)};
  });
}

std::shared_ptr<const Executable> jit_lower(JitState& state, JitCall& call, const TracerFactory& tracer) {
  return at_loc(state.loc, [&] {
    bool traced = false;
    auto entry = lookup(state, call, tracer, &traced);
    if (entry->captures) {
      throw TraceError(cat("[", state.name, "] lower(): the function captures tracers of an enclosing transform"));
    }
    return ensure_compiled(state, *entry, true);
  });
}

std::string executable_text(const Executable& exe) { return exe.text(); }
const ClosedJaxpr& executable_jaxpr(const Executable& exe) { return exe.program.jaxpr; }

}  // namespace detail

}  // namespace jx
