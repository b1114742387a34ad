// ORC LLJIT for jit programs: one LLJIT per process, one JITDylib per program (removed when the
// program's executable goes away). The IR compiler optimizes with LLVM's O3 pipeline for the
// host CPU (no fast-math) and keeps objects in JX_CACHE_DIR when it is set, keyed by a hash of
// the unoptimized IR, the CPU and its features, so a second process skips compilation.

#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/IRCompileLayer.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/IPO/GlobalDCE.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/IndVarSimplify.h>
#include <llvm/Transforms/Scalar/LICM.h>
#include <llvm/Transforms/Scalar/LoopPassManager.h>
#include <llvm/Transforms/Scalar/LoopRotation.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Transforms/Vectorize/LoopVectorize.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <unistd.h>

#include "backends/llvm/codegen.h"
#include "backends/llvm/module.h"
#include "backends/llvm/target.h"
#include "core/errors.h"

namespace jx::llvmgen {

namespace {

namespace orc = llvm::orc;

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

// What the compiler reports back to compile_program (compiles are serialized by a mutex).
struct CompileRequest {
  bool keep_ir = false;
  std::string ir;
  bool cache_hit = false;
};
CompileRequest* g_request = nullptr;

class OptimizingCompiler : public orc::IRCompileLayer::IRCompiler {
 public:
  explicit OptimizingCompiler(std::unique_ptr<llvm::TargetMachine> tm)
      : IRCompiler(orc::irManglingOptionsFromTargetOptions(tm->Options)), tm_(std::move(tm)) {
    if (const char* dir = std::getenv("JX_CACHE_DIR"); dir && *dir) cache_dir_ = dir;
  }

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& m) override {
    std::string key_path;
    if (!cache_dir_.empty()) {
      std::string text;
      llvm::raw_string_ostream os(text);
      m.print(os, nullptr);
      const HostTarget& t = host_target();
      uint64_t h = fnv1a(text, fnv1a(t.cpu + "|" + t.features + "|jx-llvm-1|" LLVM_VERSION_STRING));
      char name[40];
      std::snprintf(name, sizeof(name), "%016llx.o", static_cast<unsigned long long>(h));
      key_path = (std::filesystem::path(cache_dir_) / name).string();
      auto buf = llvm::MemoryBuffer::getFile(key_path);
      if (buf) {
        if (g_request) {
          g_request->cache_hit = true;
          if (g_request->keep_ir) g_request->ir = text + "\n; (object code loaded from JX_CACHE_DIR)\n";
        }
        return std::move(*buf);
      }
    }
    optimize(m);
    if (g_request && g_request->keep_ir) {
      llvm::raw_string_ostream os(g_request->ir);
      m.print(os, nullptr);
    }
    orc::SimpleCompiler compile(*tm_);
    auto obj = compile(m);
    if (!obj) return obj.takeError();
    if (!key_path.empty()) store(key_path, **obj);
    return obj;
  }

 private:
  void optimize(llvm::Module& m) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions pto;
    // The kernels are simple counted loops: the loop vectorizer is what matters. Interleaving,
    // unrolling and SLP multiply code size (and compile time) for little gain on them.
    static const bool lean = [] {
      const char* v = std::getenv("JX_JIT_LEAN");
      return !(v && std::string(v) == "0");
    }();
    pto.LoopVectorization = true;
    pto.SLPVectorization = !lean;
    pto.LoopInterleaving = !lean;
    pto.LoopUnrolling = !lean;
    llvm::PassBuilder pb(tm_.get(), pto);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    if (fast_pipeline()) {
      run_fast_pipeline(m, pb, lam, fam, cgam, mam);
      return;
    }
    static const int level = [] {
      const char* v = std::getenv("JX_JIT_OPT_LEVEL");
      return v && *v ? std::atoi(v) : 3;
    }();
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(
        level <= 1 ? llvm::OptimizationLevel::O1 : level == 2 ? llvm::OptimizationLevel::O2 : llvm::OptimizationLevel::O3);
    mpm.run(m, mam);
  }

  // JX_JIT_PIPELINE=fast: a short function pipeline for jx's kernels (simple counted loops):
  // promote allocas, clean up, canonicalize and vectorize the loops, clean up again.
  static bool fast_pipeline() {
    static const bool fast = [] {
      const char* v = std::getenv("JX_JIT_PIPELINE");
      return !(v && std::string(v) == "o3");
    }();
    return fast;
  }

  static void run_fast_pipeline(llvm::Module& m, llvm::PassBuilder& pb, llvm::LoopAnalysisManager& lam,
                                llvm::FunctionAnalysisManager& fam, llvm::CGSCCAnalysisManager& cgam,
                                llvm::ModuleAnalysisManager& mam) {
    (void)pb, (void)lam, (void)cgam;
    llvm::FunctionPassManager fpm;
    fpm.addPass(llvm::SROAPass(llvm::SROAOptions::ModifyCFG));
    fpm.addPass(llvm::EarlyCSEPass(true));
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::SimplifyCFGPass());
    {
      llvm::LoopPassManager lpm;
      lpm.addPass(llvm::LoopRotatePass());
      lpm.addPass(llvm::LICMPass(llvm::LICMOptions()));
      fpm.addPass(llvm::createFunctionToLoopPassAdaptor(std::move(lpm), /*UseMemorySSA=*/true));
    }
    fpm.addPass(llvm::SimplifyCFGPass());
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::IndVarSimplifyPass()));
    fpm.addPass(llvm::LoopVectorizePass(llvm::LoopVectorizeOptions(/*InterleaveOnlyWhenForced=*/true,
                                                                   /*VectorizeOnlyWhenForced=*/false)));
    fpm.addPass(llvm::EarlyCSEPass());
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::SimplifyCFGPass());
    llvm::ModulePassManager mpm;
    mpm.addPass(llvm::AlwaysInlinerPass());
    mpm.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(fpm)));
    mpm.addPass(llvm::GlobalDCEPass());
    mpm.run(m, mam);
    (void)fam;
  }

  static void store(const std::string& path, const llvm::MemoryBuffer& obj) {
    // Write to a temporary name, then rename: concurrent processes never see a partial file.
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    std::string tmp = path + ".tmp" + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::binary);
      if (!out) return;
      out.write(obj.getBufferStart(), static_cast<std::streamsize>(obj.getBufferSize()));
      if (!out) return;
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) std::filesystem::remove(tmp, ec);
  }

  std::unique_ptr<llvm::TargetMachine> tm_;
  std::string cache_dir_;
};

struct Jit {
  std::unique_ptr<orc::LLJIT> lljit;
  std::mutex mu;
  std::atomic<uint64_t> counter{0};
};

orc::JITTargetMachineBuilder host_jtmb() {
  const HostTarget& t = host_target();
  orc::JITTargetMachineBuilder jtmb{llvm::Triple(t.triple)};
  jtmb.setCPU(t.cpu);
  std::vector<std::string> features;
  for (size_t pos = 0; pos < t.features.size();) {
    size_t comma = t.features.find(',', pos);
    if (comma == std::string::npos) comma = t.features.size();
    features.push_back(t.features.substr(pos, comma - pos));
    pos = comma + 1;
  }
  jtmb.addFeatures(features);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  jtmb.getOptions().UnsafeFPMath = false;
  jtmb.getOptions().NoInfsFPMath = false;
  jtmb.getOptions().NoNaNsFPMath = false;
  return jtmb;
}

Jit& jit() {
  static Jit* j = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto* out = new Jit;
    auto builder = orc::LLJITBuilder();
    builder.setJITTargetMachineBuilder(host_jtmb());
    builder.setCompileFunctionCreator([](orc::JITTargetMachineBuilder jtmb)
                                          -> llvm::Expected<std::unique_ptr<orc::IRCompileLayer::IRCompiler>> {
      auto tm = jtmb.createTargetMachine();
      if (!tm) return tm.takeError();
      return std::make_unique<OptimizingCompiler>(std::move(*tm));
    });
    auto lljit = builder.create();
    if (!lljit) throw BackendError("[jit] cannot start LLVM ORC LLJIT: " + error_text(lljit.takeError()));
    out->lljit = std::move(*lljit);
    return out;
  }();
  return *j;
}

}  // namespace

CompiledCode compile_program(const jitc::Program& program, const RuntimeHooks& hooks, bool keep_ir) {
  Jit& j = jit();
  std::lock_guard lock(j.mu);
  auto t0 = std::chrono::steady_clock::now();
  CompileRequest request;
  request.keep_ir = keep_ir;
  g_request = &request;
  struct Reset {
    ~Reset() { g_request = nullptr; }
  } reset;

  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::string entry_name;
  auto module = emit_module(*ctx, program, hooks, &entry_name);
  const std::string jd_name = program.name + "#" + std::to_string(j.counter++);
  auto jd = j.lljit->createJITDylib(jd_name);
  if (!jd) throw BackendError("[jit] cannot create a JITDylib: " + error_text(jd.takeError()));
  auto& es = j.lljit->getExecutionSession();
  orc::SymbolMap rt;
  rt[es.intern("jx_rt_parallel_for")] = {orc::ExecutorAddr::fromPtr(hooks.parallel_for), llvm::JITSymbolFlags::Exported};
  rt[es.intern("jx_rt_library_call")] = {orc::ExecutorAddr::fromPtr(hooks.library_call), llvm::JITSymbolFlags::Exported};
  auto process = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(j.lljit->getDataLayout().getGlobalPrefix());
  if (!process) throw BackendError("[jit] cannot search the process's symbols: " + error_text(process.takeError()));
  jd->addGenerator(std::move(*process));
  if (auto err = jd->define(orc::absoluteSymbols(std::move(rt))))
    throw BackendError("[jit] cannot define runtime symbols: " + error_text(std::move(err)));
  if (auto err = j.lljit->addIRModule(*jd, orc::ThreadSafeModule(std::move(module), std::move(ctx))))
    throw BackendError("[jit] cannot add the module: " + error_text(std::move(err)));
  auto sym = j.lljit->lookup(*jd, entry_name);
  if (!sym) throw BackendError("[jit] compiling " + program.name + " failed: " + error_text(sym.takeError()));

  CompiledCode out;
  out.entry = sym->toPtr<void (*)(void**, void*)>();
  out.ir = std::move(request.ir);
  out.cache_hit = request.cache_hit;
  out.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  orc::JITDylib* jdp = &*jd;
  out.resources = std::shared_ptr<void>(jdp, [](void* p) {
    Jit& jj = jit();
    std::lock_guard l(jj.mu);
    if (auto err = jj.lljit->getExecutionSession().removeJITDylib(*static_cast<orc::JITDylib*>(p)))
      llvm::consumeError(std::move(err));
  });
  return out;
}

}  // namespace jx::llvmgen
