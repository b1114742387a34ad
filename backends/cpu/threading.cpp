// Threading configuration shared with oneDNN (built on OpenMP in Debian).

#include "backends/cpu/register.h"
#include "backends/cpu/thread_pool.h"

namespace jx::cpu {

void configure_threading() {
  // The first call reads JX_NUM_THREADS and sets the OpenMP thread count that jx's kernels and
  // oneDNN share (see thread_pool.cpp).
  (void)num_threads();
}

}  // namespace jx::cpu
