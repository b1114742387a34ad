// Programs on CUDA devices (see executable.h): compile (passes, plan, render, NVRTC, module load),
// run (buffer table of device pointers, kernel launches and library calls in program order on
// the device's stream), control flow driven from the host, and eager single-op programs.

#include "backends/cuda/executable.h"

#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "backends/cpu/register.h"
#include "backends/cuda/nvrtc.h"
#include "backends/cuda/render.h"
#include "backends/cuda/runtime.h"
#include "core/device.h"
#include "core/log.h"
#include "core/trace.h"
#include "jit/executable.h"
#include "jit/passes.h"

namespace jx::cuda {

namespace {

size_t aval_bytes(const AbstractValue& a) { return static_cast<size_t>(a.size()) * itemsize(a.dtype); }
size_t round_up(size_t n) { return (n + 255) / 256 * 256; }

// Device memory owned for the duration of a scope (stream-ordered: freeing is safe while work
// that uses it is still queued, since later allocations are ordered after that work).
struct DeviceBlock {
  void* ptr = nullptr;
  size_t nbytes = 0;
  int device = 0;
  DeviceBlock(size_t n, int dev) : nbytes(n), device(dev) {
    if (n) ptr = device_alloc(n, dev);
  }
  ~DeviceBlock() {
    if (ptr) device_free(ptr, nbytes, device);
  }
  DeviceBlock(const DeviceBlock&) = delete;
  DeviceBlock& operator=(const DeviceBlock&) = delete;
};

// The bias + activation epilogue of a fused dot_general (the CPU runs it as oneDNN post-ops).
constexpr const char* kEpilogueSource = R"(
extern "C" __global__ void jx_bias_act_f32(float* __restrict__ out, const float* __restrict__ bias,
                                           long long rows, long long cols, int act) {
  const long long n = rows * cols;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float v = out[i];
    if (bias) v = v + bias[i % cols];
    if (act == 1) v = (v != v || v > 0.f) ? v : 0.f;
    else if (act == 2) v = tanhf(v);
    else if (act == 3) v = 1.f / (1.f + expf(-v));
    out[i] = v;
  }
}
)";

int activation_code(const std::string& a) {
  if (a.empty()) return 0;
  if (a == "relu") return 1;
  if (a == "tanh") return 2;
  if (a == "logistic") return 3;
  throw Error(detail::cat("[jit/cuda] unknown dot_general epilogue activation '", a, "'"));
}

std::array<unsigned, 3> grid_for(int64_t n, unsigned block) {
  int64_t g = (n + block - 1) / block;
  g = std::max<int64_t>(1, std::min<int64_t>(g, int64_t{1} << 20));
  return {static_cast<unsigned>(g), 1, 1};
}

bool contiguous_run(const std::vector<int64_t>& dims) {
  for (size_t i = 1; i < dims.size(); ++i)
    if (dims[i] != dims[i - 1] + 1) return false;
  return true;
}

}  // namespace

std::optional<GemmArgs> gemm_for_dot(const AbstractValue& lhs, const AbstractValue& rhs, const AbstractValue& out,
                                     const Params& params) {
  if (lhs.dtype != rhs.dtype || lhs.dtype != out.dtype) return std::nullopt;
  if (lhs.dtype != DType::float32 && lhs.dtype != DType::float64) return std::nullopt;
  const auto& lc = params.get_ints("lhs_contracting");
  const auto& rc = params.get_ints("rhs_contracting");
  const auto& lb = params.get_ints("lhs_batch");
  const auto& rb = params.get_ints("rhs_batch");
  const int64_t nb = static_cast<int64_t>(lb.size());
  for (int64_t i = 0; i < nb; ++i)
    if (lb[i] != i || rb[i] != i) return std::nullopt;
  if (!contiguous_run(lc) || !contiguous_run(rc)) return std::nullopt;
  auto split = [&](const AbstractValue& x, const std::vector<int64_t>& c, int64_t* free_size, int64_t* k_size,
                   bool* contract_first) {
    const int64_t nd = x.ndim();
    *free_size = 1, *k_size = 1;
    for (int64_t d = nb; d < nd; ++d) {
      const bool is_c = std::find(c.begin(), c.end(), d) != c.end();
      (is_c ? *k_size : *free_size) *= x.shape[d];
    }
    if (c.empty() || nd == nb) {
      *contract_first = false;
      return true;
    }
    // Either [free..., contract...] or [contract..., free...] after the batch dims.
    if (c.back() == nd - 1) {
      *contract_first = false;
      return true;
    }
    if (c.front() == nb) {
      *contract_first = true;
      return true;
    }
    return false;
  };
  int64_t m = 1, k = 1, n = 1, k2 = 1;
  bool l_cf = false, r_cf = false;
  if (!split(lhs, lc, &m, &k, &l_cf) || !split(rhs, rc, &n, &k2, &r_cf) || k != k2) return std::nullopt;
  int64_t batch = 1;
  for (int64_t i = 0; i < nb; ++i) batch *= lhs.shape[i];
  // Row-major out[b] (m x n) = lhs[b] (m x k) . rhs[b] (k x n), as column-major
  // out^T (n x m) = rhs^T (n x k) . lhs^T (k x m): cuBLAS's A is rhs, B is lhs.
  GemmArgs g;
  g.dtype = lhs.dtype;
  g.m = n, g.n = m, g.k = k;
  g.trans_a = !r_cf;  // rhs stored [free, contract] (n x k row-major) is k x n column-major
  g.lda = g.trans_a ? k : n;
  g.trans_b = l_cf;   // lhs stored [contract, free] (k x m row-major) is m x k column-major
  g.ldb = g.trans_b ? m : k;
  g.ldc = n;
  g.stride_a = n * k, g.stride_b = m * k, g.stride_c = m * n;
  g.batch = batch;
  return g;
}

namespace {

std::once_flag& host_fallback_logged(const std::string& name) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::unique_ptr<std::once_flag>> flags;
  std::lock_guard lock(mu);
  auto& f = flags[name];
  if (!f) f = std::make_unique<std::once_flag>();
  return *f;
}

}  // namespace

struct ControlFlowCuda {
  ControlFlow header;  // kind and counts (header.subs unused)
  std::vector<std::shared_ptr<const Executable>> subs;
  std::shared_ptr<const Executable> pre;
};

struct Executable::Impl {
  std::shared_ptr<Module> module;
  std::vector<cudagen::LaunchSpec> specs;  // per program kernel
  std::vector<void*> functions;            // per program kernel
  void* epilogue = nullptr;
  std::map<int, GemmArgs> gemms;           // by call index
  std::map<int, ControlFlowCuda> control;  // by call index
  std::vector<Array> consts;               // device copies of program.consts
  std::vector<std::vector<Array>> literals;  // per call: device copies of its literal inputs
  std::vector<Array> output_literals;      // device copies
};

namespace {

void launch_kernel(const Executable& exe, size_t k, void** bufs) {
  const auto& spec = exe.impl->specs[k];
  if (spec.grid[0] == 0 || spec.grid[1] == 0 || spec.grid[2] == 0) return;
  constexpr size_t kInline = 32;
  void* vals_inline[kInline];
  void* argv_inline[kInline];
  std::vector<void*> vals_heap, argv_heap;
  void** vals = vals_inline;
  void** argv = argv_inline;
  if (spec.params.size() > kInline) {
    vals_heap.resize(spec.params.size());
    argv_heap.resize(spec.params.size());
    vals = vals_heap.data(), argv = argv_heap.data();
  }
  for (size_t i = 0; i < spec.params.size(); ++i) {
    vals[i] = bufs[spec.params[i]];
    argv[i] = &vals[i];
  }
  launch(exe.impl->functions[k], spec.grid, spec.block, spec.shared_bytes, argv, exe.device);
}

void run_control(const ControlFlowCuda& cf, int dev, std::vector<const void*> ins, const std::vector<void*>& outs);

// A library call with no CUDA implementation: its CPU kernel on host copies of its operands.
void host_call(const Executable& exe, int index, void** bufs) {
  const jitc::Program& p = exe.program;
  const jitc::LibraryCall& call = p.calls[index];
  std::call_once(host_fallback_logged(call.prim.name()), [&] {
    detail::logger("jit")->info("[jit/cuda] {} has no CUDA kernel yet: it runs on the host (with copies)",
                                call.prim.name());
  });
  std::vector<Array> in, out;
  auto host_copy = [&](int s) {
    Array h = detail::empty_array(p.slots[s].aval);
    if (h.size() > 0) copy_d2h(h.raw_data(), bufs[s], p.slots[s].nbytes(), exe.device);
    return h;
  };
  for (size_t i = 0; i < call.in_slots.size(); ++i)
    in.push_back(call.in_slots[i] >= 0 ? host_copy(call.in_slots[i]) : device_put(call.literals[i], Device{}));
  for (int s : call.out_slots) out.push_back(detail::empty_array(p.slots[s].aval));
  const PrimitiveDef& def = call.prim.def();
  if (call.fused_epilogue()) {
    Array bias = call.bias_slot >= 0 ? host_copy(call.bias_slot) : Array();
    cpu::dot_general_fused(in[0], in[1], bias, call.activation, out[0], call.params);
  } else if (def.impl) {
    out = jx::eval_primitive(call.prim, in, call.params);
  } else {
    const Kernel& kernel = def.kernels[static_cast<int>(DeviceKind::cpu)];
    if (!kernel) throw MissingRule(detail::cat("[", call.prim.name(), "] has no kernel on cpu or cuda"));
    kernel(in, out, call.params);
  }
  for (size_t i = 0; i < call.out_slots.size(); ++i) {
    const int s = call.out_slots[i];
    if (p.slots[s].nbytes()) copy_h2d(bufs[s], out[i].raw_data(), p.slots[s].nbytes(), exe.device);
  }
}

void library_call(const Executable& exe, int index, void** bufs) {
  const jitc::LibraryCall& call = exe.program.calls[index];
  try {
    if (auto it = exe.impl->control.find(index); it != exe.impl->control.end()) {
      std::vector<const void*> ins;
      std::vector<void*> outs;
      for (size_t i = 0; i < call.in_slots.size(); ++i)
        ins.push_back(call.in_slots[i] >= 0 ? bufs[call.in_slots[i]] : exe.impl->literals[index][i].raw_data());
      for (int s : call.out_slots) outs.push_back(bufs[s]);
      run_control(it->second, exe.device, std::move(ins), outs);
      return;
    }
    if (auto it = exe.impl->gemms.find(index); it != exe.impl->gemms.end()) {
      auto ptr = [&](size_t i) -> const void* {
        return call.in_slots[i] >= 0 ? bufs[call.in_slots[i]] : exe.impl->literals[index][i].raw_data();
      };
      GemmArgs g = it->second;
      g.a = ptr(1), g.b = ptr(0), g.c = bufs[call.out_slots[0]];
      const AbstractValue& out = exe.program.slots[call.out_slots[0]].aval;
      if (out.size() == 0) return;
      if (g.k == 0) {
        memset_zero(g.c, aval_bytes(out), exe.device);
      } else {
        gemm(g, exe.device);
      }
      if (call.fused_epilogue()) {
        void* o = g.c;
        const void* bias = call.bias_slot >= 0 ? bufs[call.bias_slot] : nullptr;
        long long rows = out.shape[0], cols = out.shape[1];
        int act = activation_code(call.activation);
        void* argv[] = {&o, &bias, &rows, &cols, &act};
        launch(exe.impl->epilogue, grid_for(rows * cols, 256), {256, 1, 1}, 0, argv, exe.device);
      }
      return;
    }
    host_call(exe, index, bufs);
  } catch (Error& e) {
    e.add_location(call.loc);
    throw;
  }
}

void execute(const Executable& exe, void** bufs) {
  for (const jitc::Step& step : exe.program.steps) {
    if (step.kind == jitc::Step::Kind::kernel) {
      launch_kernel(exe, static_cast<size_t>(step.index), bufs);
    } else {
      library_call(exe, step.index, bufs);
    }
  }
}

void run_control(const ControlFlowCuda& cf, int dev, std::vector<const void*> ins, const std::vector<void*>& outs) {
  const ControlFlow& h = cf.header;
  auto hoisted = [&](size_t first, size_t count, std::unique_ptr<DeviceBlock>& storage) {
    std::vector<const void*> ptrs;
    if (!cf.pre) return ptrs;
    const Executable& pre = *cf.pre;
    size_t total = round_up(static_cast<size_t>(pre.program.arena_bytes));
    for (auto& a : pre.out_avals) total += round_up(aval_bytes(a));
    storage = std::make_unique<DeviceBlock>(std::max<size_t>(total, 256), dev);
    char* p = static_cast<char*>(storage->ptr);
    std::vector<void*> o;
    for (auto& a : pre.out_avals) o.push_back(p), p += round_up(aval_bytes(a));
    std::vector<const void*> inv(ins.begin() + static_cast<long>(first), ins.begin() + static_cast<long>(first + count));
    pre.run_into(inv.data(), o.data(), pre.program.arena_bytes ? p : nullptr);
    ptrs.assign(o.begin(), o.end());
    return ptrs;
  };
  // Two sets of carries and an arena, in one block.
  auto loop_storage = [&](const std::vector<size_t>& carry_bytes, int64_t arena_bytes, std::vector<void*>& a,
                          std::vector<void*>& b, void** arena) {
    size_t total = round_up(static_cast<size_t>(arena_bytes)) + 256;
    for (size_t n : carry_bytes) total += 2 * round_up(n);
    auto block = std::make_unique<DeviceBlock>(total, dev);
    char* p = static_cast<char*>(block->ptr);
    for (size_t n : carry_bytes) a.push_back(p), p += round_up(n);
    for (size_t n : carry_bytes) b.push_back(p), p += round_up(n);
    *arena = p;
    return block;
  };
  switch (h.kind) {
    case ControlFlow::Kind::cond: {
      int32_t raw = 0;
      copy_d2h(&raw, ins[0], sizeof(raw), dev);
      const int64_t n = static_cast<int64_t>(cf.subs.size());
      const Executable& branch = *cf.subs[raw < 0 ? 0 : (raw >= n ? n - 1 : raw)];
      DeviceBlock arena(static_cast<size_t>(branch.program.arena_bytes), dev);
      branch.run_into(ins.data() + 1, outs.data(), arena.ptr);
      return;
    }
    case ControlFlow::Kind::scan: {
      const Executable& body = *cf.subs[0];
      std::unique_ptr<DeviceBlock> hstore;
      auto hv = hoisted(0, static_cast<size_t>(h.num_consts), hstore);
      ins.insert(ins.begin() + h.num_consts, hv.begin(), hv.end());
      const size_t nc = h.num_consts + h.num_hoisted, nk = h.num_carry, nx = ins.size() - nc - nk, ny = outs.size() - nk;
      std::vector<size_t> carry_bytes, x_bytes, y_bytes;
      for (size_t k = 0; k < nk; ++k) carry_bytes.push_back(aval_bytes(body.in_avals[nc + k]));
      for (size_t j = 0; j < nx; ++j) x_bytes.push_back(aval_bytes(body.in_avals[nc + nk + j]));
      for (size_t j = 0; j < ny; ++j) y_bytes.push_back(aval_bytes(body.out_avals[nk + j]));
      std::vector<void*> next, spare;
      void* arena = nullptr;
      auto store = loop_storage(carry_bytes, body.program.arena_bytes, next, spare, &arena);
      std::vector<const void*> bin(ins.begin(), ins.end());
      std::vector<void*> bout(nk + ny);
      for (int64_t it = 0; it < h.length; ++it) {
        const int64_t i = h.reverse ? h.length - 1 - it : it;
        for (size_t j = 0; j < nx; ++j) bin[nc + nk + j] = static_cast<const char*>(ins[nc + nk + j]) + i * x_bytes[j];
        for (size_t k = 0; k < nk; ++k) bout[k] = next[k];
        for (size_t j = 0; j < ny; ++j) bout[nk + j] = static_cast<char*>(outs[nk + j]) + i * y_bytes[j];
        body.run_into(bin.data(), bout.data(), arena);
        for (size_t k = 0; k < nk; ++k) bin[nc + k] = next[k];
        std::swap(next, spare);
      }
      for (size_t k = 0; k < nk; ++k)
        if (carry_bytes[k]) copy_d2d(outs[k], bin[nc + k], carry_bytes[k], dev);
      return;
    }
    case ControlFlow::Kind::while_loop: {
      const Executable& cond = *cf.subs[0];
      const Executable& body = *cf.subs[1];
      std::unique_ptr<DeviceBlock> hstore;
      auto hv = hoisted(static_cast<size_t>(h.cond_nconsts), static_cast<size_t>(h.body_nconsts), hstore);
      ins.insert(ins.begin() + h.cond_nconsts + h.body_nconsts, hv.begin(), hv.end());
      const size_t cc = h.cond_nconsts, bc = h.body_nconsts + h.num_hoisted, nk = ins.size() - cc - bc;
      std::vector<size_t> carry_bytes;
      for (size_t k = 0; k < nk; ++k) carry_bytes.push_back(aval_bytes(body.in_avals[bc + k]));
      std::vector<void*> next, spare;
      void* arena = nullptr;
      auto store = loop_storage(carry_bytes, std::max(cond.program.arena_bytes, body.program.arena_bytes), next, spare,
                                &arena);
      DeviceBlock flag_dev(256, dev);
      std::vector<const void*> cin(cc + nk), bin(bc + nk);
      for (size_t i = 0; i < cc; ++i) cin[i] = ins[i];
      for (size_t i = 0; i < bc; ++i) bin[i] = ins[cc + i];
      std::vector<const void*> cur(ins.begin() + static_cast<long>(cc + bc), ins.end());
      void* flag_out[1] = {flag_dev.ptr};
      for (;;) {
        for (size_t k = 0; k < nk; ++k) cin[cc + k] = bin[bc + k] = cur[k];
        cond.run_into(cin.data(), flag_out, arena);
        uint8_t flag = 0;
        copy_d2h(&flag, flag_dev.ptr, 1, dev);  // the host decides: one synchronization per iteration
        if (!flag) break;
        body.run_into(bin.data(), next.data(), arena);
        for (size_t k = 0; k < nk; ++k) cur[k] = next[k];
        std::swap(next, spare);
      }
      for (size_t k = 0; k < nk; ++k)
        if (carry_bytes[k]) copy_d2d(outs[k], cur[k], carry_bytes[k], dev);
      return;
    }
  }
}

}  // namespace

std::vector<Array> Executable::run(std::span<const Array> args, const std::vector<bool>* donated) const {
  const jitc::Program& p = program;
  const size_t nslots = p.slots.size();
  std::vector<void*> bufs(nslots, nullptr);
  std::vector<int> out_index(nslots, -1);
  if (args.size() != in_avals.size()) {
    throw ValueError(detail::cat("[jit/cuda] the program takes ", in_avals.size(), " arguments, got ", args.size()));
  }
  const Device here{DeviceKind::cuda, device};
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].is_tracer() || !(args[i].shape() == in_avals[i].shape) || args[i].dtype() != in_avals[i].dtype) {
      throw ValueError(detail::cat("[jit/cuda] argument ", i, " should be ", in_avals[i].str(), ", got ", args[i].aval().str()));
    }
    if (!(args[i].device() == here)) {
      throw ValueError(detail::cat("[jit/cuda] argument ", i, " is on ", args[i].device().str(), ", the program runs on ",
                                   here.str()));
    }
    bufs[p.input_slots[i]] = args[i].size() ? args[i].raw_data() : nullptr;
  }
  for (size_t s = 0; s < nslots; ++s)
    if (p.slots[s].kind == jitc::Slot::Kind::constant) bufs[s] = impl->consts[p.slots[s].index].raw_data();
  std::shared_ptr<Buffer> arena;
  if (p.arena_bytes > 0) {
    arena = std::make_shared<Buffer>(static_cast<size_t>(p.arena_bytes), here);
    char* base = static_cast<char*>(arena->data());
    for (size_t s = 0; s < nslots; ++s)
      if (p.slots[s].kind == jitc::Slot::Kind::temp) bufs[s] = base + p.slots[s].offset;
  }
  std::vector<Array> out_arrays;
  jx::detail::allocate_outputs(p, args, donated, here, bufs.data(), out_index.data(), out_arrays);
  for (size_t s = 0; s < nslots; ++s)
    if (p.slots[s].kind == jitc::Slot::Kind::alias) bufs[s] = bufs[p.slots[s].alias_of];
  execute(*this, bufs.data());
  return jx::detail::collect_outputs(p, args, donated, out_arrays, out_index.data(), impl->consts, impl->output_literals);
}

void Executable::run_into(const void* const* in, void* const* out, void* arena) const {
  const jitc::Program& p = program;
  const size_t nslots = p.slots.size();
  std::vector<void*> bufs(nslots, nullptr);
  std::vector<bool> is_target(nslots, false);
  for (size_t s = 0; s < nslots; ++s) {
    const jitc::Slot& slot = p.slots[s];
    if (slot.kind == jitc::Slot::Kind::constant) bufs[s] = impl->consts[slot.index].raw_data();
    else if (slot.kind == jitc::Slot::Kind::temp) bufs[s] = static_cast<char*>(arena) + slot.offset;
  }
  for (size_t i = 0; i < p.input_slots.size(); ++i) bufs[p.input_slots[i]] = const_cast<void*>(in[i]);
  std::vector<int> copied;
  for (size_t o = 0; o < p.output_slots.size(); ++o) {
    const int s = p.output_slots[o];
    if (s >= 0 && p.slots[s].kind == jitc::Slot::Kind::output && !is_target[s]) {
      is_target[s] = true;
      bufs[s] = out[o];
    } else if (aval_bytes(out_avals[o]) > 0) {
      copied.push_back(static_cast<int>(o));
    }
  }
  for (size_t s = 0; s < nslots; ++s)
    if (p.slots[s].kind == jitc::Slot::Kind::alias) bufs[s] = bufs[p.slots[s].alias_of];
  execute(*this, bufs.data());
  for (int o : copied) {
    const int s = p.output_slots[o];
    const void* src = s < 0 ? impl->output_literals[o].raw_data() : bufs[s];
    if (src != out[o]) copy_d2d(out[o], src, aval_bytes(out_avals[o]), device);
  }
}

std::string Executable::text() const {
  std::ostringstream os;
  os << "# optimized jaxpr\n" << program.jaxpr << "\n\n# fusion plan (cuda:" << device << ")\n" << program.report;
  os << "\n# CUDA C++\n" << source;
  return os.str();
}

std::shared_ptr<const Executable> compile(const ClosedJaxpr& jaxpr, const std::string& name, int device) {
  auto t0 = std::chrono::steady_clock::now();
  ensure_runtime_initialized();
  HostScope host;  // constant folding and planning compute on host values
  const DeviceProps& dp = props(device);  // throws when the device is not available
  ClosedJaxpr optimized = passes::optimize(jaxpr);
  auto exe = std::make_shared<Executable>();
  exe->device = device;
  exe->in_avals = jaxpr.in_avals();
  exe->out_avals = jaxpr.out_avals();
  exe->impl = std::make_shared<Executable::Impl>();
  Executable::Impl& impl = *exe->impl;
  std::string sym = name;
  for (auto& ch : sym)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  exe->program = jitc::plan_program(optimized, sym);
  const jitc::Program& p = exe->program;
  bool needs_epilogue = false;
  for (size_t i = 0; i < p.calls.size(); ++i) {
    const jitc::LibraryCall& call = p.calls[i];
    if (auto plan = jx::detail::plan_control(call)) {
      ControlFlowCuda cf;
      cf.header = plan->header;
      for (size_t k = 0; k < plan->subs.size(); ++k) cf.subs.push_back(compile(plan->subs[k], sym + plan->sub_names[k], device));
      if (plan->pre) cf.pre = compile(*plan->pre, sym + "_invariants", device);
      impl.control[static_cast<int>(i)] = std::move(cf);
    } else if (call.prim.name() == "dot_general" && call.in_slots.size() == 2) {
      auto aval = [&](size_t k) { return call.in_slots[k] >= 0 ? p.slots[call.in_slots[k]].aval : call.literals[k].aval(); };
      if (auto g = gemm_for_dot(aval(0), aval(1), p.slots[call.out_slots[0]].aval, call.params)) {
        if (call.fused_epilogue()) needs_epilogue = true;
        impl.gemms[static_cast<int>(i)] = *g;
      }
    }
  }
  cudagen::RenderedProgram rendered = cudagen::render_program(p);
  exe->source = rendered.source;
  if (needs_epilogue) exe->source += kEpilogueSource;
  impl.specs = std::move(rendered.kernels);
  if (!impl.specs.empty() || needs_epilogue) {
    cudagen::Cubin cubin = cudagen::compile_cubin(exe->source, sym, dp.sm());
    exe->cache_hit = cubin.cache_hit;
    impl.module = load_module(cubin.image, device);
    for (auto& spec : impl.specs) impl.functions.push_back(impl.module->function(spec.name));
    if (needs_epilogue) impl.epilogue = impl.module->function("jx_bias_act_f32");
  }
  for (auto& c : p.consts) impl.consts.push_back(to_device(c, device));
  impl.literals.resize(p.calls.size());
  for (size_t i = 0; i < p.calls.size(); ++i)
    for (size_t k = 0; k < p.calls[i].literals.size(); ++k)
      impl.literals[i].push_back(p.calls[i].in_slots[k] < 0 ? to_device(p.calls[i].literals[k], device) : Array());
  for (auto& l : p.output_literals) impl.output_literals.push_back(l.defined() ? to_device(l, device) : Array());
  exe->compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return exe;
}

// ---- placement and eager evaluation ------------------------------------------------------------------

namespace {

int cuda_device_of(const Array& a) {
  if (!a.defined() || a.is_tracer()) return -1;
  const auto& b = a.impl().buffer();
  return b && b->device().kind == DeviceKind::cuda ? b->device().id : -1;
}

}  // namespace

int placement(std::span<const Array> args) {
  for (auto& a : args)
    if (int d = cuda_device_of(a); d >= 0) return d;
  const Device d = default_device();
  return d.kind == DeviceKind::cuda ? d.id : -1;
}

namespace {
thread_local int host_scope_depth = 0;
}  // namespace

HostScope::HostScope() { ++host_scope_depth; }
HostScope::~HostScope() { --host_scope_depth; }

int eager_placement(std::span<const Array> args) {
  for (auto& a : args)
    if (int d = cuda_device_of(a); d >= 0) return d;
  if (host_scope_depth > 0) return -1;
  const Device d = default_device();
  return d.kind == DeviceKind::cuda ? d.id : -1;
}

Array place_new_array(const Array& x) {
  if (host_scope_depth > 0) return x;
  const Device d = default_device();
  return d.kind == DeviceKind::cuda ? to_device(x, d.id) : x;
}

Array to_device(const Array& x, int device) {
  if (cuda_device_of(x) == device) return x;
  return device_put(x, Device{DeviceKind::cuda, device});
}

namespace {

struct EagerKey {
  const PrimitiveDef* def;
  Params params;
  std::vector<AbstractValue> avals;
  int device;
  bool operator==(const EagerKey& o) const {
    return def == o.def && device == o.device && avals == o.avals && params == o.params;
  }
};
struct EagerKeyHash {
  size_t operator()(const EagerKey& k) const {
    size_t h = std::hash<const void*>()(k.def) ^ (k.params.hash() * 0x9e3779b97f4a7c15ULL) ^ static_cast<size_t>(k.device);
    for (auto& a : k.avals) {
      h = h * 31 + static_cast<size_t>(a.dtype) * 7 + (a.weak_type ? 1 : 0);
      for (auto d : a.shape) h = h * 131 + static_cast<size_t>(d);
    }
    return h;
  }
};

struct EagerCache {
  std::mutex mu;
  std::unordered_map<EagerKey, std::shared_ptr<const Executable>, EagerKeyHash> map;
};
EagerCache& eager_cache() {
  static auto* c = new EagerCache;  // leaked: executables may be used by static arrays' destructors
  return *c;
}

}  // namespace

std::vector<Array> eval_primitive(const Primitive& prim, std::span<const Array> args, const Params& params, int device) {
  EagerKey key{&prim.def(), params, {}, device};
  key.avals.reserve(args.size());
  for (auto& a : args) key.avals.push_back(a.aval());
  std::shared_ptr<const Executable> exe;
  auto& cache = eager_cache();
  {
    std::lock_guard lock(cache.mu);
    if (auto it = cache.map.find(key); it != cache.map.end()) exe = it->second;
  }
  if (!exe) {
    ClosedJaxpr j = trace_to_jaxpr(
        [&](std::span<const Array> xs) { return bind(prim, xs, params); }, key.avals, prim.name());
    exe = compile(j, prim.name(), device);
    std::lock_guard lock(cache.mu);
    if (cache.map.size() > 8192) cache.map.clear();
    cache.map.emplace(std::move(key), exe);
  }
  std::vector<Array> on_device;
  on_device.reserve(args.size());
  for (auto& a : args) on_device.push_back(to_device(a, device));
  return exe->run(on_device);
}

}  // namespace jx::cuda
