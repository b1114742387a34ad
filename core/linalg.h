#pragma once
// jx::linalg (numpy.linalg / jax.numpy.linalg / jax.scipy.linalg) and jx::scipy (logsumexp with
// weights, multigammaln, and the special functions under their scipy names).
//
// Every routine takes float32 or float64 matrices with any number of leading batch
// dimensions ([..., m, n]); integer and bool matrices are rejected with a DTypeError (LAPACK has
// no integer routines: convert with .astype). Two-operand routines promote to the wider float
// type. Everything is differentiable (forward and reverse, to any order), batches under vmap
// (one kernel call per batch where LAPACK allows) and traces under jit.
//
// Numerics follow JAX: a matrix that is not positive definite gives a Cholesky factor of NaNs
// (no exception); gradients of eigh need distinct eigenvalues and those of svd (and pinv,
// lstsq, the 2-norm) distinct nonzero singular values; det and slogdet go through an LU
// factorization, so their gradients are NaN at exactly singular matrices. cholesky and eigh
// read the symmetric part (a + aᵀ)/2 of their input.

#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "core/ops.h"
#include "core/prims/special.h"

namespace jx::linalg {

inline constexpr double inf = std::numeric_limits<double>::infinity();

/// The lower Cholesky factor L of a [..., n, n] (a = L Lᵀ), zero above the diagonal; NaNs when
/// (a + aᵀ)/2 is not positive definite. ShapeError for non-square input.
Array cholesky(const Array& a, const Loc& loc = Loc::current());

struct TriangularSolveOptions {
  bool left_side = true;       ///< op(a) x = b (true) or x op(a) = b (false)
  bool lower = false;          ///< read the lower (true) or upper (false) triangle of a
  bool transpose_a = false;    ///< op(a) = aᵀ instead of a
  bool unit_diagonal = false;  ///< take the diagonal of a as ones (it is not read)
};
/// Solves a triangular system, as jax.scipy.linalg.solve_triangular / lax.linalg.triangular_solve:
/// a [..., k, k]; b [..., k, n] (left) or [..., m, k] (right), or a vector [..., k] for a left
/// solve. Batch dims broadcast. Differentiable in a and b (linear in b).
///   triangular_solve(L, b, {.lower = true})                      // L x = b
///   triangular_solve(L, b, {.lower = true, .transpose_a = true}) // Lᵀ x = b
Array triangular_solve(const Array& a, const Array& b, const TriangularSolveOptions& options = {},
                       const Loc& loc = Loc::current());
/// Solves (L Lᵀ) x = b given the lower Cholesky factor L (jax.scipy.linalg.cho_solve).
Array cho_solve(const Array& l, const Array& b, const Loc& loc = Loc::current());

/// Solves a x = b through an LU factorization: a [..., n, n]; b [n] (a vector) or [..., n, k]
/// (batch dims broadcast), as numpy 2's solve.
Array solve(const Array& a, const Array& b, const Loc& loc = Loc::current());
/// The inverse of a [..., n, n] (via solve with the identity).
Array inv(const Array& a, const Loc& loc = Loc::current());
/// The determinant of a [..., n, n] (sign * exp(logabsdet) from slogdet).
Array det(const Array& a, const Loc& loc = Loc::current());
/// (sign, log|det a|) of a [..., n, n]; sign is 0 and logabsdet -inf for a singular matrix.
std::pair<Array, Array> slogdet(const Array& a, const Loc& loc = Loc::current());

/// (w, v): ascending eigenvalues w [..., n] and orthonormal eigenvectors (the columns of
/// v [..., n, n]) of the symmetric part of a; a v = v diag(w).
std::pair<Array, Array> eigh(const Array& a, const Loc& loc = Loc::current());
/// The eigenvalues of eigh alone.
Array eigvalsh(const Array& a, const Loc& loc = Loc::current());

/// (u, s, vt) with a = u diag(s) vt and s descending: u [..., m, m] and vt [..., n, n]
/// (full_matrices) or u [..., m, k] and vt [..., k, n], k = min(m, n). Gradients need
/// full_matrices = false for non-square a.
std::tuple<Array, Array, Array> svd(const Array& a, bool full_matrices = true, const Loc& loc = Loc::current());
/// The singular values alone (descending).
Array svdvals(const Array& a, const Loc& loc = Loc::current());

/// (q, r) with a = q r, q orthonormal columns, r upper triangular. mode "reduced": q [..., m, k],
/// r [..., k, n]; "complete": q [..., m, m], r [..., m, n].
std::pair<Array, Array> qr(const Array& a, const std::string& mode = "reduced", const Loc& loc = Loc::current());

/// (p, l, u) with a = p l u (jax.scipy.linalg.lu): p a permutation matrix [..., m, m], l unit
/// lower triangular [..., m, k], u upper triangular [..., k, n].
std::tuple<Array, Array, Array> lu(const Array& a, const Loc& loc = Loc::current());
/// (lu, pivots, permutation) as jax.lax.linalg.lu: L and U packed in one [..., m, n] matrix,
/// LAPACK's zero-based row interchanges (int32 [..., k]) and the permutation they make
/// (int32 [..., m]) with a[permutation] = L U.
std::tuple<Array, Array, Array> lu_factor(const Array& a, const Loc& loc = Loc::current());

/// The `ord` of norm: unset (Frobenius / 2-norm), a number (inf, -inf, 0, 1, 2, -1, -2, any p
/// for vectors), or "fro" / "nuc" for matrices.
struct NormOrd {
  std::optional<double> p;
  std::string name;
  NormOrd() = default;
  NormOrd(double v) : p(v) {}             // NOLINT: implicit by design
  NormOrd(int v) : p(v) {}                // NOLINT
  NormOrd(const char* s) : name(s) {}     // NOLINT
  NormOrd(std::string s) : name(std::move(s)) {}  // NOLINT
  bool is_set() const { return p.has_value() || !name.empty(); }
};
/// numpy.linalg.norm: with no axes, the 2-norm of the flattened array (no ord), or the vector
/// norm of a 1-d / matrix norm of a 2-d array; one axis: a vector norm; two axes: a matrix
/// norm (1, -1, inf, -inf from row/column sums, 2, -2, "nuc" from singular values, "fro").
Array norm(const Array& x, const NormOrd& ord = {}, const Axes& axes = {}, bool keepdims = false,
           const Loc& loc = Loc::current());

/// The Moore-Penrose pseudo-inverse [..., n, m] of a [..., m, n], from the SVD; singular values
/// at or below rtol * max(s) are treated as zero (default rtol: 10 * max(m, n) * epsilon).
Array pinv(const Array& a, std::optional<double> rtol = std::nullopt, const Loc& loc = Loc::current());

/// Least squares (numpy.linalg.lstsq): x minimizing |a x - b|. a [..., m, n]; b [..., m]
/// (vector) or [..., m, k]. Returns (x, residuals |b - a x|^2 per column, rank (int32),
/// singular values of a). Singular values below rcond * max(s) are dropped (default rcond:
/// max(m, n) * epsilon).
std::tuple<Array, Array, Array, Array> lstsq(const Array& a, const Array& b, std::optional<double> rcond = std::nullopt,
                                             const Loc& loc = Loc::current());

}  // namespace jx::linalg

namespace jx::scipy {

/// log(sum(b * exp(a))) over `axes` (all when empty), stable (the maximum is factored out,
/// without a gradient of its own, as jax.scipy.special.logsumexp). `b` (optional) broadcasts
/// against a; a negative total gives NaN (use logsumexp_with_sign). Call it qualified:
/// jx::logsumexp (without weights) is found by argument-dependent lookup too.
Array logsumexp(const Array& a, const Axes& axes = {}, const Array& b = Array(), bool keepdims = false,
                const Loc& loc = Loc::current());
/// (log|sum(b * exp(a))|, sign of the sum) (return_sign=True in JAX).
std::pair<Array, Array> logsumexp_with_sign(const Array& a, const Axes& axes = {}, const Array& b = Array(),
                                            bool keepdims = false, const Loc& loc = Loc::current());
/// The log of the multivariate gamma function of dimension d >= 1:
/// d(d-1)/4 log(pi) + sum_{j<d} lgamma(a - j/2).
Array multigammaln(const Array& a, int64_t d, const Loc& loc = Loc::current());

// The special functions under their scipy.special names.
inline Array erf(const Array& x, const Loc& loc = Loc::current()) { return jx::erf(x, loc); }
inline Array erfc(const Array& x, const Loc& loc = Loc::current()) { return jx::erfc(x, loc); }
inline Array erfinv(const Array& x, const Loc& loc = Loc::current()) { return jx::erf_inv(x, loc); }
inline Array log_ndtr(const Array& x, const Loc& loc = Loc::current()) { return jx::log_ndtr(x, loc); }
inline Array ndtr(const Array& x, const Loc& loc = Loc::current()) { return jx::ndtr(x, loc); }
inline Array i0e(const Array& x, const Loc& loc = Loc::current()) { return jx::i0e(x, loc); }
inline Array i1e(const Array& x, const Loc& loc = Loc::current()) { return jx::i1e(x, loc); }
inline Array gammaln(const Array& x, const Loc& loc = Loc::current()) { return jx::lgamma(x, loc); }
inline Array digamma(const Array& x, const Loc& loc = Loc::current()) { return jx::digamma(x, loc); }

}  // namespace jx::scipy
