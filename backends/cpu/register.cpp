// register_cpu_backend: the one place that installs every eager CPU kernel.

#include "backends/cpu/register.h"

namespace jx::detail {

void register_cpu_backend() {
  cpu::configure_threading();
  cpu::register_elementwise_kernels();
  cpu::register_shape_kernels();
  cpu::register_reduce_kernels();
  cpu::register_dot_kernels();
  cpu::register_conv_kernels();
  cpu::register_window_kernels();
  cpu::register_indexing_kernels();
  cpu::register_lapack_kernels();
  cpu::register_special_kernels();
}

}  // namespace jx::detail
