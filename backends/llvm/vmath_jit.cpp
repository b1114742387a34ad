// The vmath test entry: compiles `for i < n: y[i] = fn(x[i])` with emit_math, runs LLVM's O3
// pipeline for the host CPU (so the loop vectorizes) and JIT-links it in an LLJIT of its own.

#include "backends/llvm/vmath_test_api.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include "backends/llvm/target.h"
#include "backends/llvm/vmath.h"
#include "core/errors.h"

namespace jx::llvmgen {
namespace {

std::string error_text(llvm::Error err) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << err;
  return text;
}

template <class T>
T take(llvm::Expected<T> value, const char* what) {
  if (!value) throw_error<BackendError>("[vmath] ", what, ": ", error_text(value.takeError()));
  return std::move(*value);
}

llvm::orc::JITTargetMachineBuilder host_machine_builder() {
  const HostTarget& host = host_target();
  llvm::orc::JITTargetMachineBuilder builder{llvm::Triple(host.triple)};
  builder.setCPU(host.cpu);
  std::vector<std::string> features;
  std::string rest = host.features;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    features.push_back(rest.substr(0, comma));
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  builder.addFeatures(features);
  builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return builder;
}

struct Compiled {
  std::string ir;     // optimized IR of the loop module
  void* entry = nullptr;
};

/// One JIT for the process; compile() is serialized by the mutex.
class Engine {
 public:
  Engine() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    machine_ = take(host_machine_builder().createTargetMachine(), "creating the target machine");
    jit_ = take(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(host_machine_builder()).create(),
                "creating the JIT");
  }

  const Compiled& get(const std::string& fn, bool f64, int width) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_tuple(fn, f64, width);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    return cache_.emplace(key, compile(fn, f64, width)).first->second;
  }

 private:
  Compiled compile(const std::string& fn, bool f64, int width) {
    int arity = math_arity(fn);
    if (arity == 0) throw_error<ValueError>("[vmath] unknown function '", fn, "'");
    if (width < 0 || width > 64) throw_error<ValueError>("[vmath] bad vector width ", width);
    auto context = std::make_unique<llvm::LLVMContext>();
    std::string name = "vmath_" + fn + (f64 ? "_f64" : "_f32") + (width ? "_x" + std::to_string(width) : "");
    auto module = std::make_unique<llvm::Module>(name, *context);
    module->setDataLayout(machine_->createDataLayout());
    module->setTargetTriple(machine_->getTargetTriple().str());

    // void name(ptr noalias x1, [ptr noalias x2,] ptr noalias y, i64 n)
    llvm::Type* elem = f64 ? llvm::Type::getDoubleTy(*context) : llvm::Type::getFloatTy(*context);
    llvm::Type* ptr = llvm::PointerType::getUnqual(*context);
    llvm::Type* i64 = llvm::Type::getInt64Ty(*context);
    std::vector<llvm::Type*> params(arity + 1, ptr);
    params.push_back(i64);
    auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(*context), params, false);
    auto* func = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, *module);
    func->addFnAttr(llvm::Attribute::NoUnwind);
    for (int i = 0; i <= arity; ++i) func->addParamAttr(i, llvm::Attribute::NoAlias);
    func->addFnAttr("target-cpu", machine_->getTargetCPU());
    func->addFnAttr("target-features", machine_->getTargetFeatureString());

    // for (i = 0; i < n - n % w; i += w) y[i:i+w] = fn(x[i:i+w]) with <w x T> values (w > 0),
    // then for (; i < n; ++i) y[i] = fn(x[i]).
    auto* entry = llvm::BasicBlock::Create(*context, "entry", func);
    auto* vloop = llvm::BasicBlock::Create(*context, "vloop", func);
    auto* tail = llvm::BasicBlock::Create(*context, "tail", func);
    auto* loop = llvm::BasicBlock::Create(*context, "loop", func);
    auto* exit = llvm::BasicBlock::Create(*context, "exit", func);
    llvm::IRBuilder<> b(entry);
    llvm::Value* n = func->getArg(arity + 1);
    int step = width > 0 ? width : 1;
    llvm::Value* nv = width > 0 ? b.CreateMul(b.CreateSDiv(n, b.getInt64(step)), b.getInt64(step))
                                : b.getInt64(0);
    b.CreateCondBr(b.CreateICmpSGT(nv, b.getInt64(0)), vloop, tail);

    auto body = [&](llvm::Type* type, llvm::Value* i) {
      std::vector<llvm::Value*> args;
      for (int k = 0; k < arity; ++k) {
        llvm::Value* p = b.CreateInBoundsGEP(elem, func->getArg(k), i);
        args.push_back(b.CreateAlignedLoad(type, p, llvm::Align(f64 ? 8 : 4)));
      }
      llvm::Value* y = emit_math(b, fn, args);
      JX_CHECK(y != nullptr, "emit_math declined '", fn, "'");
      b.CreateAlignedStore(y, b.CreateInBoundsGEP(elem, func->getArg(arity), i), llvm::Align(f64 ? 8 : 4));
    };

    b.SetInsertPoint(vloop);
    llvm::PHINode* iv = b.CreatePHI(i64, 2, "iv");
    iv->addIncoming(b.getInt64(0), entry);
    if (width > 0) body(llvm::FixedVectorType::get(elem, width), iv);
    llvm::Value* next_v = b.CreateAdd(iv, b.getInt64(step), "", true, true);
    iv->addIncoming(next_v, vloop);
    b.CreateCondBr(b.CreateICmpSLT(next_v, nv), vloop, tail);

    b.SetInsertPoint(tail);
    b.CreateCondBr(b.CreateICmpSLT(nv, n), loop, exit);

    b.SetInsertPoint(loop);
    llvm::PHINode* i = b.CreatePHI(i64, 2, "i");
    i->addIncoming(nv, tail);
    body(elem, i);
    llvm::Value* next = b.CreateAdd(i, b.getInt64(1), "", true, true);
    i->addIncoming(next, loop);
    b.CreateCondBr(b.CreateICmpSLT(next, n), loop, exit);
    b.SetInsertPoint(exit);
    b.CreateRetVoid();

    std::string verify;
    llvm::raw_string_ostream verify_os(verify);
    if (llvm::verifyModule(*module, &verify_os))
      throw_error<BackendError>("[vmath] invalid IR for '", fn, "':\n", verify);

    optimize(*module);
    Compiled out;
    llvm::raw_string_ostream ir_os(out.ir);
    module->print(ir_os, nullptr);

    llvm::orc::ThreadSafeModule tsm(std::move(module), std::move(context));
    if (llvm::Error err = jit_->addIRModule(std::move(tsm)))
      throw_error<BackendError>("[vmath] adding '", name, "' to the JIT: ", error_text(std::move(err)));
    out.entry = take(jit_->lookup(name), "looking up the loop").toPtr<void*>();
    return out;
  }

  void optimize(llvm::Module& module) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(machine_.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
  }

  std::mutex mutex_;
  std::unique_ptr<llvm::TargetMachine> machine_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::map<std::tuple<std::string, bool, int>, Compiled> cache_;
};

Engine& engine() {
  static Engine instance;
  return instance;
}

void* compile_checked(const std::string& fn, bool f64, int arity, int width) {
  int actual = math_arity(fn);
  if (actual != 0 && actual != arity)
    throw_error<ValueError>("[vmath] '", fn, "' takes ", actual, " argument(s), not ", arity);
  return engine().get(fn, f64, width).entry;
}

}  // namespace

UnaryF32 vmath_compile_f32(const std::string& fn, int width) {
  return reinterpret_cast<UnaryF32>(compile_checked(fn, false, 1, width));
}
UnaryF64 vmath_compile_f64(const std::string& fn, int width) {
  return reinterpret_cast<UnaryF64>(compile_checked(fn, true, 1, width));
}
BinaryF32 vmath_compile_binary_f32(const std::string& fn, int width) {
  return reinterpret_cast<BinaryF32>(compile_checked(fn, false, 2, width));
}
BinaryF64 vmath_compile_binary_f64(const std::string& fn, int width) {
  return reinterpret_cast<BinaryF64>(compile_checked(fn, true, 2, width));
}

std::string vmath_loop_ir(const std::string& fn, bool f64, int width) {
  return engine().get(fn, f64, width).ir;
}

}  // namespace jx::llvmgen
