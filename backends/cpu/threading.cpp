// Threading configuration shared with oneDNN (built on OpenMP in Debian).

#include <cstdlib>

#include "backends/cpu/register.h"

namespace jx::cpu {

void configure_threading() {
  // oneDNN's OpenMP workers must not spin against jx's pool on a 2-core machine: make them
  // wait passively unless the user chose otherwise. Takes effect if OpenMP has not started yet.
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
}

}  // namespace jx::cpu
