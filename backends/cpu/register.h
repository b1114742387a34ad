#pragma once
// The per-family kernel registration functions of the CPU backend.

#include <string>

#include "core/array.h"
#include "core/params.h"

namespace jx::cpu {
/// Keeps oneDNN's OpenMP threads from spinning against jx's pool (passive waiting).
void configure_threading();
void register_elementwise_kernels();  // backends/cpu/elementwise.cpp
void register_shape_kernels();        // backends/cpu/shape.cpp
void register_reduce_kernels();       // backends/cpu/reduce.cpp
void register_dot_kernels();          // backends/cpu/dot.cpp
void register_conv_kernels();         // backends/cpu/conv.cpp
void register_window_kernels();       // backends/cpu/window.cpp
void register_indexing_kernels();     // backends/cpu/indexing.cpp
void register_lapack_kernels();       // backends/cpu/lapack.cpp
void register_special_kernels();      // backends/cpu/special.cpp

/// dot_general with a fused epilogue (jit's library calls): out = act(dot(x, y) + bias), bias
/// (optional: an undefined Array) of shape [N] broadcast along the output's last dimension, act
/// one of "", "relu", "tanh", "logistic". float32 runs as one oneDNN matmul with bias and an
/// eltwise post-op; other dtypes compute the same in two passes.
void dot_general_fused(const Array& x, const Array& y, const Array& bias, const std::string& activation, Array& out,
                       const Params& dot_params);
}  // namespace jx::cpu
