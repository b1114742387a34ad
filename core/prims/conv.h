#pragma once
// The conv primitives. Kernels: backends/cpu/conv.cpp.

#include "core/primitive.h"

namespace jx {}  // namespace jx
