#pragma once
// nnlib: init (being written).

#include "core/ops.h"
#include "core/tree.h"
