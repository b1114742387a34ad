#pragma once
// The window primitives. Kernels: backends/cpu/window.cpp.

#include "core/primitive.h"

namespace jx {}  // namespace jx
