#pragma once
// nnlib: random (being written).

#include "core/ops.h"
#include "core/tree.h"
