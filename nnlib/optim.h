#pragma once
// nnlib: optim (being written).

#include "core/ops.h"
#include "core/tree.h"
