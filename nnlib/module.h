#pragma once
// nnlib: module (being written).

#include "core/ops.h"
#include "core/tree.h"
