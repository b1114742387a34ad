// Host CPU detection for code generation.

#include "backends/llvm/target.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>

namespace jx::llvmgen {

const HostTarget& host_target() {
  static const HostTarget target = [] {
    HostTarget t;
    t.triple = llvm::sys::getProcessTriple();
    t.cpu = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    for (auto& f : features) {
      if (!f.second) continue;
      if (!t.features.empty()) t.features += ",";
      t.features += "+" + f.first().str();
    }
    return t;
  }();
  return target;
}

}  // namespace jx::llvmgen
