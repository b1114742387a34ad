#pragma once
// jx: JAX for C++. The umbrella header: arrays, operations, trees, tracing and transforms.

#include "core/array.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/ops.h"
#include "core/shape.h"
#include "core/trace.h"
#include "core/tree.h"
#include "core/prims/conv.h"
#include "core/prims/dot.h"
#include "core/prims/elementwise.h"
#include "core/prims/indexing.h"
#include "core/prims/reduce.h"
#include "core/prims/shape.h"
#include "core/prims/window.h"
#include "core/linalg.h"
#include "trace/jaxpr.h"
#include "trace/make_jaxpr.h"
#include "transforms/ad.h"
#include "transforms/grad.h"
#include "transforms/custom.h"
#include "transforms/control.h"
#include "transforms/vmap.h"
#include "jit/jit.h"
#include "nnlib/nn.h"

namespace jx {
/// Threads used by eager kernels (JX_NUM_THREADS or all cores).
void set_num_threads(int n);
}  // namespace jx
