#pragma once
// The linear-algebra primitives (as jax.lax.linalg): cholesky, triangular_solve, lu, qr, eigh,
// svd. Operands are float32 or float64 stacks of matrices [..., m, n]; every leading dimension
// is a batch dimension the kernel loops over, so vmap keeps a whole batch in one kernel call.
// JVP rules follow JAX's formulas and are written with jx ops (so they differentiate again);
// triangular_solve is linear in its right-hand side and has a transpose rule.
// Public API: core/linalg.h. Kernels: backends/cpu/lapack.cpp (LAPACK through LAPACKE).

#include "core/primitive.h"

namespace jx {

/// cholesky(a [..., n, n]) -> L [..., n, n]: the lower Cholesky factor of the symmetric part
/// (a + aᵀ)/2, zero above the diagonal. A matrix that is not positive definite gives a factor
/// of NaNs (as JAX), not an error.
extern const Primitive cholesky_p;

/// triangular_solve[left_side, lower, transpose_a, unit_diagonal](a [..., k, k], b):
/// left_side: op(a) x = b with b [..., k, n]; else x op(a) = b with b [..., m, k]; op(a) is a
/// or aᵀ (transpose_a). Only the `lower` (or upper) triangle of a is read; unit_diagonal
/// takes its diagonal as ones. a and b share dtype and batch dims. Linear in b.
extern const Primitive triangular_solve_p;

/// lu(a [..., m, n]) -> (lu [..., m, n], pivots i32[..., min(m, n)], permutation i32[..., m]):
/// partial-pivoting LU (LAPACK getrf) packed as L (unit lower, below the diagonal) and U;
/// a[permutation] = L U; pivots are LAPACK's row interchanges, zero-based.
extern const Primitive lu_p;

/// qr[full_matrices](a [..., m, n]) -> (q, r): q [..., m, k] and r [..., k, n] with
/// k = min(m, n), or q [..., m, m] and r [..., m, n] when full_matrices.
extern const Primitive qr_p;

/// eigh(a [..., n, n]) -> (w [..., n], v [..., n, n]): eigenvalues in ascending order and
/// orthonormal eigenvectors (columns of v) of the symmetric part (a + aᵀ)/2.
extern const Primitive eigh_p;

/// svd[full_matrices, compute_uv](a [..., m, n]) -> (s [..., k]) or (s, u, vt) with
/// s descending, u [..., m, k] and vt [..., k, n] (k = min(m, n)), or u [..., m, m] and
/// vt [..., n, n] when full_matrices; a = u diag(s) vt.
extern const Primitive svd_p;

namespace detail {
/// Constants for the linalg rules and composites, built on the host: under a transform they
/// are captured as jaxpr constants, so the identity and triangle masks cost nothing per call.
/// The identity [rows, cols] (ones on the main diagonal).
Array eye_constant(int64_t rows, int64_t cols, DType dtype);
/// bool [rows, cols]: j <= i + k (lower) or j >= i + k (upper).
Array tri_mask_constant(int64_t rows, int64_t cols, int64_t k, bool lower);
/// x with the entries outside tril(k) / triu(k) of its last two dims set to zero.
Array tril_constant_mask(const Array& x, int64_t k = 0);
Array triu_constant_mask(const Array& x, int64_t k = 0);
/// x[..., perm[..., i], :] for x [..., m, c] and int32 perm [..., r] with the same batch dims: one
/// gather of whole rows over the flattened batch.
Array permute_rows(const Array& x, const Array& perm);
}  // namespace detail

}  // namespace jx
