#pragma once
// The reduce primitives. Kernels: backends/cpu/reduce.cpp.

#include "core/primitive.h"

namespace jx {}  // namespace jx
