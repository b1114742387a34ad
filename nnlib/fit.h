#pragma once
// nnlib: fit (being written).

#include "core/ops.h"
#include "core/tree.h"
