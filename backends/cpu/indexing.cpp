// Eager CPU kernels for the indexing primitives.

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"

namespace jx::cpu {

void register_indexing_kernels() {}

}  // namespace jx::cpu
