// Eager CPU kernels for the linear-algebra primitives (core/prims/linalg.h), on LAPACK through
// LAPACKE's column-major *_work entry points: every workspace is a std::vector sized by LAPACK's
// own query, so nothing is allocated behind our back. jx arrays are row-major; a row-major
// buffer read column-major is the transpose, which the kernels use instead of copying where
// the algebra allows (symmetric inputs, right-side solves, the SVD of the transpose).
//
// Leading dimensions are a batch: the kernel runs one LAPACK call per matrix, spread over jx's
// thread pool. OpenBLAS's own threads are switched off (set to one) so they never spin against
// that pool. Numerical failures follow JAX: a factorization that does not exist (cholesky of a
// matrix that is not positive definite) or does not converge (eigh, svd) gives NaNs.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include <lapacke.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/linalg.h"

// OpenBLAS's thread setting, when the LAPACK in use is OpenBLAS's (weak: absent otherwise).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace jx::cpu {
namespace {

using lint = lapack_int;

// ---- LAPACK by element type --------------------------------------------------------------------

lint potrf(char uplo, lint n, float* a, lint lda) { return LAPACKE_spotrf_work(LAPACK_COL_MAJOR, uplo, n, a, lda); }
lint potrf(char uplo, lint n, double* a, lint lda) { return LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, uplo, n, a, lda); }
lint trtrs(char uplo, char trans, char diag, lint n, lint nrhs, const float* a, lint lda, float* b, lint ldb) {
  return LAPACKE_strtrs_work(LAPACK_COL_MAJOR, uplo, trans, diag, n, nrhs, a, lda, b, ldb);
}
lint trtrs(char uplo, char trans, char diag, lint n, lint nrhs, const double* a, lint lda, double* b, lint ldb) {
  return LAPACKE_dtrtrs_work(LAPACK_COL_MAJOR, uplo, trans, diag, n, nrhs, a, lda, b, ldb);
}
lint getrf(lint m, lint n, float* a, lint lda, lint* ipiv) {
  return LAPACKE_sgetrf_work(LAPACK_COL_MAJOR, m, n, a, lda, ipiv);
}
lint getrf(lint m, lint n, double* a, lint lda, lint* ipiv) {
  return LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, m, n, a, lda, ipiv);
}
lint geqrf(lint m, lint n, float* a, lint lda, float* tau, float* work, lint lwork) {
  return LAPACKE_sgeqrf_work(LAPACK_COL_MAJOR, m, n, a, lda, tau, work, lwork);
}
lint geqrf(lint m, lint n, double* a, lint lda, double* tau, double* work, lint lwork) {
  return LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, n, a, lda, tau, work, lwork);
}
lint orgqr(lint m, lint n, lint k, float* a, lint lda, const float* tau, float* work, lint lwork) {
  return LAPACKE_sorgqr_work(LAPACK_COL_MAJOR, m, n, k, a, lda, tau, work, lwork);
}
lint orgqr(lint m, lint n, lint k, double* a, lint lda, const double* tau, double* work, lint lwork) {
  return LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, m, n, k, a, lda, tau, work, lwork);
}
lint syevd(lint n, float* a, lint lda, float* w, float* work, lint lwork, lint* iwork, lint liwork) {
  return LAPACKE_ssyevd_work(LAPACK_COL_MAJOR, 'V', 'L', n, a, lda, w, work, lwork, iwork, liwork);
}
lint syevd(lint n, double* a, lint lda, double* w, double* work, lint lwork, lint* iwork, lint liwork) {
  return LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', n, a, lda, w, work, lwork, iwork, liwork);
}
lint gesdd(char jobz, lint m, lint n, float* a, lint lda, float* s, float* u, lint ldu, float* vt, lint ldvt,
           float* work, lint lwork, lint* iwork) {
  return LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork);
}
lint gesdd(char jobz, lint m, lint n, double* a, lint lda, double* s, double* u, lint ldu, double* vt, lint ldvt,
           double* work, lint lwork, lint* iwork) {
  return LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork);
}

// The optimal workspace size LAPACK reports in work[0] after a query (lwork = -1).
template <class T>
lint lwork_from(T query) {
  return std::max<lint>(1, static_cast<lint>(std::ceil(query)));
}

// ---- shared plumbing ---------------------------------------------------------------------------

/// Matrices in a [..., r, c] array and the dims LAPACK sees (checked to fit lapack_int).
struct Stack {
  int64_t batch = 0, r = 0, c = 0;
};
Stack stack_of(const char* op, const Array& x) {
  const int64_t nd = x.ndim();
  Stack s{1, x.shape()[nd - 2], x.shape()[nd - 1]};
  for (int64_t d = 0; d < nd - 2; ++d) s.batch *= x.shape()[d];
  constexpr int64_t max_dim = std::numeric_limits<lint>::max();
  if (s.r > max_dim || s.c > max_dim || s.r * s.c > max_dim) {
    throw_error<BackendError>("[", op, "] the matrices of ", x.aval().str(), " are too large for LAPACK's ",
                              sizeof(lint) * 8, "-bit indices");
  }
  return s;
}

/// Items per parallel chunk: about 2^16 flops' worth of matrices of `work` flops each.
int64_t grain_for(int64_t work) { return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(work, 1)); }

/// Records an unexpected LAPACK status inside a parallel region; thrown after it.
struct Status {
  std::atomic<lint> bad{0};
  void note(lint info) {
    if (info < 0) bad.store(info);
  }
  void check(const char* op, const char* routine) const {
    const lint info = bad.load();
    if (info < 0) {
      throw_error<BackendError>("[", op, "] internal error: LAPACK ", routine, " rejected argument ", -info);
    }
  }
};

/// dst (cols x rows, row-major) = transpose of src (rows x cols, row-major); equivalently, src
/// copied into column-major order.
template <class T>
void transpose_copy(const T* src, T* dst, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 32;  // tiles that stay in L1 on both sides
  for (int64_t i0 = 0; i0 < rows; i0 += kBlock) {
    const int64_t i1 = std::min(rows, i0 + kBlock);
    for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
      const int64_t j1 = std::min(cols, j0 + kBlock);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) dst[j * rows + i] = src[i * cols + j];
    }
  }
}

template <class T>
void fill_nan(T* p, int64_t n) {
  std::fill(p, p + n, std::numeric_limits<T>::quiet_NaN());
}

// ---- cholesky ----------------------------------------------------------------------------------

// The symmetric part is the same matrix in either order, so potrf('U') on it (column-major)
// leaves L = U^T in the lower triangle of the row-major buffer.
void cholesky_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  const Stack st = stack_of("cholesky", in[0]);
  const int64_t n = st.r;
  if (n == 0 || st.batch == 0) return;
  Status status;
  dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* a = in[0].data<T>();
    T* l = out[0].mutable_data<T>();
    parallel_for(st.batch, grain_for(n * n * n / 3), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* x = a + b * n * n;
        T* y = l + b * n * n;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) y[i * n + j] = (x[i * n + j] + x[j * n + i]) * T(0.5);
        const lint info = potrf('U', static_cast<lint>(n), y, static_cast<lint>(n));
        status.note(info);
        if (info != 0) {
          fill_nan(y, n * n);
          continue;
        }
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = i + 1; j < n; ++j) y[i * n + j] = T(0);
      }
    });
  });
  status.check("cholesky", "potrf");
}

// ---- triangular_solve --------------------------------------------------------------------------

// Substitution by hand, used only when trtrs reports an exactly zero pivot (it then refuses to
// solve): this produces the IEEE infinities and NaNs a BLAS trsm would. op(a) is `eff`, lower
// when lower != transpose_a.
template <class T>
void naive_solve(const T* a, T* x, int64_t k, int64_t m, int64_t n, bool left, bool lower, bool trans, bool unit) {
  auto op = [&](int64_t i, int64_t j) { return trans ? a[j * k + i] : a[i * k + j]; };
  const bool eff_lower = lower != trans;
  // Solves M z = rhs in place, z[i] at z0 + i * stride, where M(i, j) = get(i, j) is lower
  // triangular when `low`.
  auto substitute = [&](T* z0, int64_t stride, bool low, auto get) {
    for (int64_t step = 0; step < k; ++step) {
      const int64_t i = low ? step : k - 1 - step;
      const int64_t j0 = low ? 0 : i + 1, j1 = low ? i : k;  // the solved part of z
      T s = z0[i * stride];
      for (int64_t j = j0; j < j1; ++j) s -= get(i, j) * z0[j * stride];
      z0[i * stride] = unit ? s : s / get(i, i);
    }
  };
  if (left) {
    // op(a) x = b, one column of x at a time.
    for (int64_t c = 0; c < n; ++c) substitute(x + c, n, eff_lower, op);
  } else {
    // x op(a) = b: op(a)^T x_row^T = b_row^T, one row at a time.
    for (int64_t r = 0; r < m; ++r) substitute(x + r * n, 1, !eff_lower, [&](int64_t i, int64_t j) { return op(j, i); });
  }
}

// Left: op(a) x = b needs b column-major (a transposed copy, except for one column); a's
// row-major buffer is a^T column-major, so trans and uplo flip. Right: x op(a) = b is
// op(a)^T x^T = b^T, and b's row-major buffer already is b^T column-major.
void triangular_solve_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const bool left = p.get<bool>("left_side"), lower = p.get<bool>("lower");
  const bool trans = p.get<bool>("transpose_a"), unit = p.get<bool>("unit_diagonal");
  const Stack sa = stack_of("triangular_solve", in[0]);
  const Stack sb = stack_of("triangular_solve", in[1]);
  const int64_t k = sa.r, m = sb.r, n = sb.c;
  if (out[0].size() == 0) return;
  const char uplo = lower ? 'U' : 'L';
  const char diag = unit ? 'U' : 'N';
  Status status;
  dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* a = in[0].data<T>();
    const T* b = in[1].data<T>();
    T* x = out[0].mutable_data<T>();
    parallel_for(sa.batch, grain_for(k * k * (left ? n : m)), [&](int64_t b0, int64_t b1) {
      std::vector<T> work;
      for (int64_t i = b0; i < b1; ++i) {
        const T* ai = a + i * k * k;
        const T* bi = b + i * m * n;
        T* xi = x + i * m * n;
        lint info = 0;
        if (!left) {
          std::copy(bi, bi + m * n, xi);
          info = trtrs(uplo, trans ? 'T' : 'N', diag, static_cast<lint>(k), static_cast<lint>(m), ai,
                       static_cast<lint>(k), xi, static_cast<lint>(k));
        } else if (n == 1) {
          std::copy(bi, bi + m, xi);
          info = trtrs(uplo, trans ? 'N' : 'T', diag, static_cast<lint>(k), 1, ai, static_cast<lint>(k), xi,
                       static_cast<lint>(k));
        } else {
          work.resize(static_cast<size_t>(m * n));
          transpose_copy(bi, work.data(), m, n);
          info = trtrs(uplo, trans ? 'N' : 'T', diag, static_cast<lint>(k), static_cast<lint>(n), ai,
                       static_cast<lint>(k), work.data(), static_cast<lint>(k));
          if (info == 0) transpose_copy(work.data(), xi, n, m);
        }
        status.note(info);
        if (info > 0) {
          std::copy(bi, bi + m * n, xi);
          naive_solve(ai, xi, k, m, n, left, lower, trans, unit);
        }
      }
    });
  });
  status.check("triangular_solve", "trtrs");
}

// ---- lu ----------------------------------------------------------------------------------------

void lu_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  const Stack st = stack_of("lu", in[0]);
  const int64_t m = st.r, n = st.c, k = std::min(m, n);
  Status status;
  int32_t* piv = out[1].mutable_data<int32_t>();
  int32_t* perm = out[2].mutable_data<int32_t>();
  dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* a = in[0].data<T>();
    T* lu = out[0].mutable_data<T>();
    parallel_for(st.batch, grain_for(m * n * k), [&](int64_t b0, int64_t b1) {
      std::vector<T> w(static_cast<size_t>(m * n));
      std::vector<lint> ipiv(static_cast<size_t>(std::max<int64_t>(k, 1)));
      for (int64_t b = b0; b < b1; ++b) {
        int32_t* pb = piv + b * k;
        int32_t* qb = perm + b * m;
        std::iota(qb, qb + m, 0);
        if (k == 0) continue;
        transpose_copy(a + b * m * n, w.data(), m, n);
        // info > 0 flags an exactly singular U; the factorization is still complete (as JAX).
        status.note(getrf(static_cast<lint>(m), static_cast<lint>(n), w.data(), static_cast<lint>(m), ipiv.data()));
        transpose_copy(w.data(), lu + b * m * n, n, m);
        for (int64_t i = 0; i < k; ++i) {
          pb[i] = static_cast<int32_t>(ipiv[i] - 1);
          std::swap(qb[i], qb[pb[i]]);
        }
      }
    });
  });
  status.check("lu", "getrf");
}

// ---- qr ----------------------------------------------------------------------------------------

void qr_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const bool full = p.get<bool>("full_matrices");
  const Stack st = stack_of("qr", in[0]);
  const int64_t m = st.r, n = st.c, k = std::min(m, n);
  const int64_t qc = full ? m : k;  // columns of q = rows of r
  Status status;
  dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* a = in[0].data<T>();
    T* q = out[0].mutable_data<T>();
    T* r = out[1].mutable_data<T>();
    parallel_for(st.batch, grain_for(m * n * k), [&](int64_t b0, int64_t b1) {
      // Column-major m x max(n, qc): geqrf's reflectors in the first k columns, then orgqr's q.
      const int64_t wc = std::max(n, qc);
      std::vector<T> w(static_cast<size_t>(std::max<int64_t>(m * wc, 1)));
      std::vector<T> tau(static_cast<size_t>(std::max<int64_t>(k, 1)));
      std::vector<T> work;
      if (k > 0) {
        T q1 = 0, q2 = 0;
        const lint lm = static_cast<lint>(m);
        status.note(geqrf(lm, static_cast<lint>(n), w.data(), lm, tau.data(), &q1, -1));
        status.note(orgqr(lm, static_cast<lint>(qc), static_cast<lint>(k), w.data(), lm, tau.data(), &q2, -1));
        work.resize(static_cast<size_t>(std::max(lwork_from(q1), lwork_from(q2))));
      }
      for (int64_t b = b0; b < b1; ++b) {
        T* qb = q + b * m * qc;
        T* rb = r + b * qc * n;
        if (k == 0) {  // empty: q is the identity (or has no columns), r is zero
          std::fill(qb, qb + m * qc, T(0));
          for (int64_t i = 0; i < std::min(m, qc); ++i) qb[i * qc + i] = T(1);
          std::fill(rb, rb + qc * n, T(0));
          continue;
        }
        transpose_copy(a + b * m * n, w.data(), m, n);
        const lint lm = static_cast<lint>(m), lwork = static_cast<lint>(work.size());
        status.note(geqrf(lm, static_cast<lint>(n), w.data(), lm, tau.data(), work.data(), lwork));
        for (int64_t i = 0; i < qc; ++i)
          for (int64_t j = 0; j < n; ++j) rb[i * n + j] = (j >= i && i < k) ? w[j * m + i] : T(0);
        status.note(orgqr(lm, static_cast<lint>(qc), static_cast<lint>(k), w.data(), lm, tau.data(), work.data(),
                          lwork));
        transpose_copy(w.data(), qb, qc, m);
      }
    });
  });
  status.check("qr", "geqrf/orgqr");
}

// ---- eigh --------------------------------------------------------------------------------------

void eigh_kernel(std::span<const Array> in, std::span<Array> out, const Params&) {
  const Stack st = stack_of("eigh", in[0]);
  const int64_t n = st.r;
  if (n == 0 || st.batch == 0) return;
  Status status;
  dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* a = in[0].data<T>();
    T* w = out[0].mutable_data<T>();
    T* v = out[1].mutable_data<T>();
    parallel_for(st.batch, grain_for(4 * n * n * n), [&](int64_t b0, int64_t b1) {
      std::vector<T> s(static_cast<size_t>(n * n));
      const lint ln = static_cast<lint>(n);
      T wq = 0;
      lint iwq = 0;
      status.note(syevd(ln, s.data(), ln, w, &wq, -1, &iwq, -1));
      std::vector<T> work(static_cast<size_t>(lwork_from(wq)));
      std::vector<lint> iwork(static_cast<size_t>(std::max<lint>(1, iwq)));
      for (int64_t b = b0; b < b1; ++b) {
        const T* x = a + b * n * n;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) s[i * n + j] = (x[i * n + j] + x[j * n + i]) * T(0.5);
        T* wb = w + b * n;
        T* vb = v + b * n * n;
        const lint info = syevd(ln, s.data(), ln, wb, work.data(), static_cast<lint>(work.size()), iwork.data(),
                                static_cast<lint>(iwork.size()));
        status.note(info);
        if (info != 0) {
          fill_nan(wb, n);
          fill_nan(vb, n * n);
          continue;
        }
        transpose_copy(s.data(), vb, n, n);  // eigenvectors are the columns of the column-major s
      }
    });
  });
  status.check("eigh", "syevd");
}

// ---- svd ---------------------------------------------------------------------------------------

// The row-major [m, n] buffer is a^T (n x m) column-major. gesdd of a^T = U' S V'^T gives
// a = V' S U'^T, so u = V' and vt = U'^T, and both come out in row-major order when V'^T is
// written into u's buffer (ld = columns of u) and U' into vt's (ld = n).
void svd_kernel(std::span<const Array> in, std::span<Array> out, const Params& p) {
  const bool full = p.get<bool>("full_matrices"), uv = p.get<bool>("compute_uv");
  const Stack st = stack_of("svd", in[0]);
  const int64_t m = st.r, n = st.c, k = std::min(m, n);
  const int64_t uc = full ? m : k, vr = full ? n : k;
  const char jobz = !uv ? 'N' : full ? 'A' : 'S';
  Status status;
  dispatch(in[0].dtype(), FloatTypes{}, [&](auto t) {
    using T = decltype(t);
    const T* a = in[0].data<T>();
    T* s = out[0].mutable_data<T>();
    T* u = uv ? out[1].mutable_data<T>() : nullptr;
    T* vt = uv ? out[2].mutable_data<T>() : nullptr;
    parallel_for(st.batch, grain_for(4 * m * n * k), [&](int64_t b0, int64_t b1) {
      std::vector<T> w(static_cast<size_t>(std::max<int64_t>(m * n, 1)));
      std::vector<lint> iwork(static_cast<size_t>(std::max<int64_t>(8 * k, 1)));
      std::vector<T> work;
      T dummy_u = 0, dummy_vt = 0;
      const lint lda = static_cast<lint>(std::max<int64_t>(n, 1));
      const lint ldu = uv ? lda : 1, ldvt = uv ? static_cast<lint>(std::max<int64_t>(uc, 1)) : 1;
      if (k > 0) {
        T q = 0;
        status.note(gesdd(jobz, static_cast<lint>(n), static_cast<lint>(m), w.data(), lda, s, uv ? vt : &dummy_vt, ldu,
                          uv ? u : &dummy_u, ldvt, &q, -1, iwork.data()));
        work.resize(static_cast<size_t>(lwork_from(q)));
      }
      for (int64_t b = b0; b < b1; ++b) {
        T* sb = s + b * k;
        T* ub = uv ? u + b * m * uc : &dummy_u;
        T* vb = uv ? vt + b * vr * n : &dummy_vt;
        if (k == 0) {  // empty: the full singular vectors are identities
          if (uv) {
            std::fill(ub, ub + m * uc, T(0));
            for (int64_t i = 0; i < std::min(m, uc); ++i) ub[i * uc + i] = T(1);
            std::fill(vb, vb + vr * n, T(0));
            for (int64_t i = 0; i < std::min(n, vr); ++i) vb[i * n + i] = T(1);
          }
          continue;
        }
        std::copy(a + b * m * n, a + (b + 1) * m * n, w.data());
        const lint info = gesdd(jobz, static_cast<lint>(n), static_cast<lint>(m), w.data(), lda, sb, vb, ldu, ub,
                                ldvt, work.data(), static_cast<lint>(work.size()), iwork.data());
        status.note(info);
        if (info != 0) {
          fill_nan(sb, k);
          if (uv) {
            fill_nan(ub, m * uc);
            fill_nan(vb, vr * n);
          }
        }
      }
    });
  });
  status.check("svd", "gesdd");
}

}  // namespace

void register_lapack_kernels() {
  // One LAPACK call per matrix, spread over jx's pool: OpenBLAS's own pool would spin against it.
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  constexpr auto cpu = DeviceKind::cpu;
  register_kernel(cholesky_p, cpu, cholesky_kernel);
  register_kernel(triangular_solve_p, cpu, triangular_solve_kernel);
  register_kernel(lu_p, cpu, lu_kernel);
  register_kernel(qr_p, cpu, qr_kernel);
  register_kernel(eigh_p, cpu, eigh_kernel);
  register_kernel(svd_p, cpu, svd_kernel);
}

}  // namespace jx::cpu
