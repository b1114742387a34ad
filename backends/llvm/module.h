#pragma once
// Internal to backends/llvm: the IR module of a program (codegen.cpp), compiled by orc.cpp.

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>

#include "backends/llvm/codegen.h"

namespace jx::llvmgen {

/// The kernels and the entry function of `program`; `entry_name` receives the entry's symbol.
std::unique_ptr<llvm::Module> emit_module(llvm::LLVMContext& ctx, const jitc::Program& program, const RuntimeHooks& hooks,
                                          std::string* entry_name);

}  // namespace jx::llvmgen
