#pragma once
// The host CPU as LLVM sees it: the target jit compiles for. No LLVM types in this header.

#include <string>

namespace jx::llvmgen {

struct HostTarget {
  std::string triple;    // e.g. x86_64-pc-linux-gnu
  std::string cpu;       // e.g. skylake-avx512
  std::string features;  // "+avx2,+avx512f,..." (only the enabled ones)
};

/// Detected once per process.
const HostTarget& host_target();

}  // namespace jx::llvmgen
