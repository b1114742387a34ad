#pragma once
// A test and benchmark entry to backends/llvm/vmath: compiles the loop `y[i] = fn(x[i])` (or
// `fn(x1[i], x2[i])`) with emit_math, LLVM's O3 pipeline for the host CPU and an ORC JIT of its
// own. No LLVM types in this header.

#include <cstdint>
#include <string>

namespace jx::llvmgen {

using UnaryF32 = void (*)(const float* x, float* y, int64_t n);
using UnaryF64 = void (*)(const double* x, double* y, int64_t n);
using BinaryF32 = void (*)(const float* x1, const float* x2, float* y, int64_t n);
using BinaryF64 = void (*)(const double* x1, const double* x2, double* y, int64_t n);

/// The compiled loop for `fn` (a name emit_math knows). With width 0 the loop body is scalar
/// and LLVM's loop vectorizer widens it; with width w > 0 emit_math is given <w x T> vectors
/// directly (and scalars for the n % w remainder). Compiled once per (fn, dtype, width) and
/// kept for the life of the process; safe to call from several threads. Throws jx::ValueError
/// for an unknown name or the wrong arity, jx::BackendError when LLVM fails.
UnaryF32 vmath_compile_f32(const std::string& fn, int width = 0);
UnaryF64 vmath_compile_f64(const std::string& fn, int width = 0);
BinaryF32 vmath_compile_binary_f32(const std::string& fn, int width = 0);
BinaryF64 vmath_compile_binary_f64(const std::string& fn, int width = 0);

/// The optimized LLVM IR of that loop (float when f64 is false), to check that it vectorized.
std::string vmath_loop_ir(const std::string& fn, bool f64, int width = 0);

}  // namespace jx::llvmgen
