#pragma once
// nnlib: losses (being written).

#include "core/ops.h"
#include "core/tree.h"
