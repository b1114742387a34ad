#pragma once
// The dot primitives. Kernels: backends/cpu/dot.cpp.

#include "core/primitive.h"

namespace jx {}  // namespace jx
