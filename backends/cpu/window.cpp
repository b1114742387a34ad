// Eager CPU kernels for the window primitives.

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"

namespace jx::cpu {

void register_window_kernels() {}

}  // namespace jx::cpu
