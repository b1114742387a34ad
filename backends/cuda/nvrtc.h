#pragma once
// NVRTC, loaded at run time (dlopen of libnvrtc from the toolkit, so libjx loads without it):
// CUDA C++ -> CUBIN for one GPU architecture. Compiled images are cached in memory and, when
// JX_CACHE_DIR is set, on disk (keyed by a hash of the source, the architecture and NVRTC's
// version), as the CPU backend caches object files.

#include <cstdint>
#include <string>
#include <vector>

namespace jx::cudagen {

/// True when libnvrtc could be loaded; otherwise nvrtc_unavailable_reason() says why.
bool nvrtc_available();
std::string nvrtc_unavailable_reason();
/// NVRTC's version, e.g. {13, 0}.
std::pair<int, int> nvrtc_version();

struct Cubin {
  std::vector<char> image;   // the CUBIN (SASS for `sm`), loadable by cuModuleLoadData
  std::string log;           // NVRTC's log (warnings)
  double compile_ms = 0;
  bool cache_hit = false;    // from the in-memory or JX_CACHE_DIR cache
};

/// Compiles `source` for compute capability `sm` (90 = sm_90) to a CUBIN. Throws jx::Error with
/// NVRTC's log (and the offending source lines) when the source does not compile.
/// Thread-safe.
Cubin compile_cubin(const std::string& source, const std::string& name, int sm);

}  // namespace jx::cudagen
