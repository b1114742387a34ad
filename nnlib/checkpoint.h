#pragma once
// nnlib: checkpoint (being written).

#include "core/ops.h"
#include "core/tree.h"
