#pragma once
// The indexing primitives. Kernels: backends/cpu/indexing.cpp.

#include "core/primitive.h"

namespace jx {}  // namespace jx
