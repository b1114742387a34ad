// Eager CPU kernels for the conv primitives.

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"

namespace jx::cpu {

void register_conv_kernels() {}

}  // namespace jx::cpu
