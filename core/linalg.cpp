// jx::linalg and jx::scipy: argument checks and promotion, then compositions of the linalg
// primitives (core/prims/linalg.h) with jx ops, so grad, vmap and jit come from the primitives'
// rules.

#include "core/linalg.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "core/prims/elementwise.h"
#include "core/prims/linalg.h"
#include "core/trace.h"

namespace jx {
namespace linalg {

namespace {

int64_t rows(const Array& a) { return a.shape()[a.ndim() - 2]; }
int64_t cols(const Array& a) { return a.shape()[a.ndim() - 1]; }
Shape batch_of(const Array& a, int64_t core_rank) { return Shape(a.shape().begin(), a.shape().end() - core_rank); }

void check_defined(const char* op, const Array& a, const char* what) {
  if (!a.defined()) throw_error<ValueError>("[", op, "] ", what, " is an undefined Array");
}

// A float32/float64 array of rank >= min_rank (square in its last two dims when asked).
void check_float(const char* op, const Array& a, const char* what = "the operand") {
  check_defined(op, a, what);
  if (!is_floating(a.dtype()) || is_half_float(a.dtype())) {
    throw_error<DTypeError>("[", op, "] needs float32 or float64 input (LAPACK has no ", dtype_name(a.dtype()),
                            " routines), got ", what, " ", a.aval().str(), "; convert it with .astype(jx::float32)");
  }
}
void check_matrix(const char* op, const Array& a, bool square, const char* what = "the matrix") {
  check_float(op, a, what);
  if (a.ndim() < 2) {
    throw_error<ShapeError>("[", op, "] needs a matrix (rank >= 2; leading dims are batch dims), got ", what, " ",
                            a.aval().str());
  }
  if (square && rows(a) != cols(a)) {
    throw_error<ShapeError>("[", op, "] needs a square matrix (or a stack of them), got ", a.aval().str());
  }
}

// Both operands in their promoted float dtype.
std::pair<Array, Array> promote_floats(const Array& a, const Array& b) {
  std::vector<Array> args{a, b};
  TypeInfo t = detail::result_type(args);
  t.weak = false;
  return {detail::convert(a, t), detail::convert(b, t)};
}

// Broadcasts the batch dims (all but the last `rank_a` / `rank_b` dims) of a and b together.
std::pair<Array, Array> broadcast_batch(const char* op, const Array& a, int64_t rank_a, const Array& b,
                                        int64_t rank_b) {
  AbstractValue ba{a.dtype(), batch_of(a, rank_a), false}, bb{b.dtype(), batch_of(b, rank_b), false};
  Shape batch = broadcast_shapes(op, ba, bb);
  auto fit = [&](const Array& x, int64_t rank) {
    Shape target = batch;
    target.insert(target.end(), x.shape().end() - rank, x.shape().end());
    return x.shape() == target ? x : broadcast_to(x, target);
  };
  return {fit(a, rank_a), fit(b, rank_b)};
}

Array mT(const Array& x) {
  std::vector<int> perm(static_cast<size_t>(x.ndim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(x, perm);
}
Array diag_part(const Array& x) { return sum(x * detail::eye_constant(cols(x), cols(x), x.dtype()), {-1}); }
Array block(const Array& x, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const size_t nd = static_cast<size_t>(x.ndim());
  std::vector<int64_t> start(nd, 0), stop(x.shape().begin(), x.shape().end());
  start[nd - 2] = r0, stop[nd - 2] = r1, start[nd - 1] = c0, stop[nd - 1] = c1;
  return slice(x, start, stop);
}

Array tsolve(const Array& a, const Array& b, bool left_side, bool lower, bool transpose_a, bool unit_diagonal) {
  return bind1(triangular_solve_p, {a, b},
               Params{{"left_side", left_side},
                      {"lower", lower},
                      {"transpose_a", transpose_a},
                      {"unit_diagonal", unit_diagonal}});
}

std::vector<Array> bind_svd(const Array& a, bool full_matrices, bool compute_uv) {
  return jx::bind(svd_p, std::vector<Array>{a}, Params{{"full_matrices", full_matrices}, {"compute_uv", compute_uv}});
}

double epsilon(DType dtype) {
  return dtype == DType::float64 ? std::numeric_limits<double>::epsilon()
                                 : static_cast<double>(std::numeric_limits<float>::epsilon());
}

// LU solve of a [..., n, n] x = b [..., n, k] (batch dims equal).
Array lu_solve(const Array& a, const Array& b) {
  auto f = jx::bind(lu_p, std::vector<Array>{a});
  const Array &lu = f[0], &perm = f[2];
  Array pb = detail::permute_rows(b, perm);  // rows of b in pivot order
  Array y = tsolve(lu, pb, true, /*lower=*/true, false, /*unit_diagonal=*/true);
  return tsolve(lu, y, true, /*lower=*/false, false, false);
}

}  // namespace

Array cholesky(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("cholesky", a, true);
    return bind1(cholesky_p, {a});
  });
}

Array triangular_solve(const Array& a_in, const Array& b_in, const TriangularSolveOptions& o, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("triangular_solve", a_in, true, "the coefficient matrix a");
    check_float("triangular_solve", b_in, "the right-hand side b");
    auto [a, b] = promote_floats(a_in, b_in);
    const int64_t k = rows(a);
    const bool vector = b.ndim() == a.ndim() - 1;  // as jax.scipy.linalg.solve_triangular
    if (vector && !o.left_side) {
      throw_error<ShapeError>("[triangular_solve] a right solve (x a = b) needs a matrix b [..., m, k], got b ",
                              b_in.aval().str());
    }
    if (!vector && b.ndim() < 2) {
      throw_error<ShapeError>("[triangular_solve] b must be a vector or a matrix, got ", b_in.aval().str());
    }
    const int64_t bk = vector ? b.shape().back() : (o.left_side ? rows(b) : cols(b));
    if (bk != k) {
      throw_error<ShapeError>("[triangular_solve] a ", a_in.aval().str(), " and b ", b_in.aval().str(),
                              " do not match: b needs ", k, o.left_side ? " rows" : " columns", " (got ", bk, ")");
    }
    Array bm = vector ? expand_dims(b, {-1}) : b;
    auto [ab, bb] = broadcast_batch("triangular_solve", a, 2, bm, 2);
    Array x = tsolve(ab, bb, o.left_side, o.lower, o.transpose_a, o.unit_diagonal);
    return vector ? squeeze(x, {-1}) : x;
  });
}

Array cho_solve(const Array& l, const Array& b, const Loc& loc) {
  return at_loc(loc, [&] {
    Array y = triangular_solve(l, b, {.left_side = true, .lower = true});
    return triangular_solve(l, y, {.left_side = true, .lower = true, .transpose_a = true});
  });
}

Array solve(const Array& a_in, const Array& b_in, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("solve", a_in, true, "the coefficient matrix a");
    check_float("solve", b_in, "the right-hand side b");
    auto [a, b] = promote_floats(a_in, b_in);
    const int64_t n = rows(a);
    const bool vector = b.ndim() == 1;
    const int64_t bn = vector ? b.shape()[0] : (b.ndim() >= 2 ? rows(b) : -1);
    if (bn != n) {
      throw_error<ShapeError>("[solve] a ", a_in.aval().str(), " and b ", b_in.aval().str(),
                              " do not match: b must be a vector [", n, "] or a stack of matrices [..., ", n,
                              ", k]");
    }
    Array bm = vector ? expand_dims(b, {-1}) : b;
    auto [ab, bb] = broadcast_batch("solve", a, 2, bm, 2);
    Array x = lu_solve(ab, bb);
    return vector ? squeeze(x, {-1}) : x;
  });
}

Array inv(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("inv", a, true);
    return lu_solve(a, broadcast_to(detail::eye_constant(rows(a), rows(a), a.dtype()), a.shape()));
  });
}

std::pair<Array, Array> slogdet(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("slogdet", a, true);
    auto f = jx::bind(lu_p, std::vector<Array>{a});
    const Array &lu = f[0], &pivots = f[1];
    const int64_t n = rows(a);
    Array d = diag_part(lu);
    Array logabsdet = sum(log(abs(d)), {-1});
    // Each row interchange (pivots[i] != i) flips the sign.
    Array swaps = sum(not_equal(pivots, lax::iota(DType::int32, {n}, 0)).astype(DType::int32), {-1});
    Array parity_sign = (Array(1) - mod(swaps, Array(2)) * 2).astype(a.dtype());
    Array sgn = parity_sign * prod(sign(d), {-1});
    return std::pair{sgn, logabsdet};
  });
}

Array det(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("det", a, true);
    auto [sgn, logabsdet] = slogdet(a);
    return sgn * exp(logabsdet);
  });
}

std::pair<Array, Array> eigh(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("eigh", a, true);
    auto wv = jx::bind(eigh_p, std::vector<Array>{a});
    return std::pair{wv[0], wv[1]};
  });
}

Array eigvalsh(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] { return eigh(a).first; });
}

std::tuple<Array, Array, Array> svd(const Array& a, bool full_matrices, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("svd", a, false);
    auto r = bind_svd(a, full_matrices, true);
    return std::tuple{r[1], r[0], r[2]};
  });
}

Array svdvals(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("svdvals", a, false);
    return bind_svd(a, false, false)[0];
  });
}

std::pair<Array, Array> qr(const Array& a, const std::string& mode, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("qr", a, false);
    if (mode != "reduced" && mode != "complete") {
      throw_error<ValueError>("[qr] mode must be \"reduced\" or \"complete\", got \"", mode, "\"");
    }
    auto qr = jx::bind(qr_p, std::vector<Array>{a}, Params{{"full_matrices", mode == "complete"}});
    return std::pair{qr[0], qr[1]};
  });
}

std::tuple<Array, Array, Array> lu_factor(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("lu_factor", a, false);
    auto f = jx::bind(lu_p, std::vector<Array>{a});
    return std::tuple{f[0], f[1], f[2]};
  });
}

std::tuple<Array, Array, Array> lu(const Array& a, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("lu", a, false);
    auto f = jx::bind(lu_p, std::vector<Array>{a});
    const Array &packed = f[0], &perm = f[2];
    const int64_t m = rows(a), n = cols(a), k = std::min(m, n);
    Array l = detail::tril_constant_mask(block(packed, 0, m, 0, k), -1) + detail::eye_constant(m, k, a.dtype());
    Array u = detail::triu_constant_mask(block(packed, 0, k, 0, n));
    // a[perm] = l u, so a = p l u with p[i, j] = (perm[j] == i).
    Array p = equal(expand_dims(perm, {-2}), expand_dims(lax::iota(DType::int32, {m}, 0), {-1})).astype(a.dtype());
    return std::tuple{p, l, u};
  });
}

Array norm(const Array& x_in, const NormOrd& ord, const Axes& axes_in, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("norm", x_in, "the operand");
    Array x = detail::promote_to_inexact("norm", {x_in})[0];
    const int64_t nd = x.ndim();
    // No ord and no axes: the 2-norm of all elements, whatever the rank.
    if (!ord.is_set() && axes_in.empty()) return sqrt(sum(x * x, {}, keepdims));
    Axes axes = axes_in;
    if (axes.empty()) {
      if (nd != 1 && nd != 2) {
        throw_error<ShapeError>("[norm] an ord needs a 1-d or 2-d array, or explicit axes; got ", x.aval().str());
      }
      axes = nd == 1 ? Axes{0} : Axes{0, 1};
    }
    for (auto& ax : axes) ax = normalize_axis("norm", ax, nd);
    if (axes.size() == 1) {
      const Axes& ax = axes;
      if (!ord.name.empty()) {
        throw_error<ValueError>("[norm] ord \"", ord.name, "\" is a matrix norm; a vector norm takes a number");
      }
      const double p = ord.p.value_or(2.0);
      if (p == 2.0) return sqrt(sum(x * x, ax, keepdims));
      if (p == inf) return max(abs(x), ax, keepdims);
      if (p == -inf) return min(abs(x), ax, keepdims);
      if (p == 0.0) return sum(not_equal(x, Array(0.0)).astype(x.dtype()), ax, keepdims);
      if (p == 1.0) return sum(abs(x), ax, keepdims);
      return power(sum(power(abs(x), Array(p)), ax, keepdims), Array(1.0 / p));
    }
    if (axes.size() != 2 || axes[0] == axes[1]) {
      throw_error<ShapeError>("[norm] axes must name one axis (vector norm) or two different axes (matrix norm), "
                              "got ", axes.size(), " for ", x.aval().str());
    }
    const int r = axes[0], c = axes[1];
    auto finish = [&](const Array& y_kept) {  // y_kept has size-1 dims at r and c
      return keepdims ? y_kept : squeeze(y_kept, {r, c});
    };
    // Singular values of the matrices spanned by (r, c), reduced over with `reduce`.
    auto singular = [&](auto reduce) {
      std::vector<int> perm;
      for (int d = 0; d < nd; ++d)
        if (d != r && d != c) perm.push_back(d);
      perm.push_back(r);
      perm.push_back(c);
      Array s = bind_svd(transpose(x, perm), false, false)[0];
      Array y = reduce(s);  // batch dims only, in x's order
      return keepdims ? expand_dims(y, {std::min(r, c), std::max(r, c)}) : y;
    };
    if (!ord.name.empty()) {
      if (ord.name == "fro") return sqrt(sum(x * x, {r, c}, keepdims));
      if (ord.name == "nuc") return singular([](const Array& s) { return sum(s, {-1}); });
      throw_error<ValueError>("[norm] unknown matrix norm \"", ord.name, "\" (use \"fro\", \"nuc\" or a number)");
    }
    const double p = ord.p.value_or(2.0);
    if (!ord.p) return sqrt(sum(x * x, {r, c}, keepdims));  // Frobenius
    if (p == 2.0) return singular([](const Array& s) { return max(s, {-1}); });
    if (p == -2.0) return singular([](const Array& s) { return min(s, {-1}); });
    if (p == 1.0) return finish(max(sum(abs(x), {r}, true), {c}, true));
    if (p == -1.0) return finish(min(sum(abs(x), {r}, true), {c}, true));
    if (p == inf) return finish(max(sum(abs(x), {c}, true), {r}, true));
    if (p == -inf) return finish(min(sum(abs(x), {c}, true), {r}, true));
    throw_error<ValueError>("[norm] matrix norm ord must be 1, -1, 2, -2, inf, -inf, \"fro\" or \"nuc\", got ", p);
  });
}

Array pinv(const Array& a, std::optional<double> rtol, const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("pinv", a, false);
    const int64_t m = rows(a), n = cols(a), k = std::min(m, n);
    if (k == 0) {
      Shape shape = batch_of(a, 2);
      shape.insert(shape.end(), {n, m});
      return zeros(shape, a.dtype());
    }
    auto usv = bind_svd(a, false, true);
    const Array &s = usv[0], &u = usv[1], &vt = usv[2];
    const double tol = rtol.value_or(10.0 * static_cast<double>(std::max(m, n)) * epsilon(a.dtype()));
    Array cutoff = expand_dims(max(s, {-1}), {-1}) * tol;
    Array keep = greater(s, cutoff);
    Array s_inv = where(keep, 1.0 / where(keep, s, ones_like(s)), zeros_like(s));
    return matmul(mT(vt) * expand_dims(s_inv, {-2}), mT(u));
  });
}

std::tuple<Array, Array, Array, Array> lstsq(const Array& a_in, const Array& b_in, std::optional<double> rcond,
                                             const Loc& loc) {
  return at_loc(loc, [&] {
    check_matrix("lstsq", a_in, false, "the coefficient matrix a");
    check_float("lstsq", b_in, "the right-hand side b");
    auto [a, b] = promote_floats(a_in, b_in);
    const int64_t m = rows(a), n = cols(a);
    const bool vector = b.ndim() == a.ndim() - 1;
    if ((!vector && b.ndim() != a.ndim()) || (vector ? b.shape().back() : rows(b)) != m ||
        batch_of(b, vector ? 1 : 2) != batch_of(a, 2)) {
      throw_error<ShapeError>("[lstsq] a ", a_in.aval().str(), " and b ", b_in.aval().str(),
                              " do not match: b must be [..., ", m, "] or [..., ", m, ", k] with a's batch dims");
    }
    Array bm = vector ? expand_dims(b, {-1}) : b;
    auto usv = bind_svd(a, false, true);
    const Array &s = usv[0], &u = usv[1], &vt = usv[2];
    const double tol = rcond.value_or(static_cast<double>(std::max(m, n)) * epsilon(a.dtype()));
    Array smax = std::min(m, n) == 0 ? zeros(batch_of(a, 2), a.dtype()) : max(s, {-1});
    Array keep = greater_equal(s, expand_dims(smax, {-1}) * tol);
    Array rank = sum(keep.astype(DType::int32), {-1});
    Array s_inv = where(keep, 1.0 / where(keep, s, ones_like(s)), zeros_like(s));
    Array x = matmul(mT(vt), expand_dims(s_inv, {-1}) * matmul(mT(u), bm));
    Array resid = sum(square(bm - matmul(a, x)), {-2});
    if (vector) {
      x = squeeze(x, {-1});
      resid = squeeze(resid, {-1});
    }
    return std::tuple{x, resid, rank, s};
  });
}

}  // namespace linalg

namespace scipy {

namespace {
// The shared body of logsumexp: (log|sum|, sign of the sum), keepdims applied.
std::pair<Array, Array> logsumexp_impl(const Array& a_in, const Axes& axes, const Array& b_in, bool keepdims) {
  if (!a_in.defined()) throw_error<ValueError>("[logsumexp] the operand is an undefined Array");
  Array a = detail::promote_to_inexact("logsumexp", {a_in})[0];
  Array b;
  if (b_in.defined()) {
    auto ab = detail::promote_to_inexact("logsumexp", {a, b_in}, /*keep_scalars=*/false);
    a = ab[0], b = ab[1];
    // Terms with zero weight drop out, even where a is inf (as JAX).
    a = where(not_equal(b, zeros_like(b)), a, full_like(a, -std::numeric_limits<double>::infinity()));
  }
  Array amax = max(a, axes, true);
  amax = lax::stop_gradient(where(isfinite(amax), amax, zeros_like(amax)));
  Array e = exp(a - amax);
  if (b.defined()) e = b * e;
  Array total = sum(e, axes, true);
  Array sgn = sign(total);
  Array out = log(abs(total)) + amax;
  if (!keepdims) {
    const int64_t nd = a.ndim();
    Axes all;
    if (axes.empty()) {
      for (int d = 0; d < nd; ++d) all.push_back(d);
    } else {
      for (int ax : axes) all.push_back(normalize_axis("logsumexp", ax, nd));
    }
    out = squeeze(out, all);
    sgn = squeeze(sgn, all);
  }
  return {out, sgn};
}
}  // namespace

Array logsumexp(const Array& a, const Axes& axes, const Array& b, bool keepdims, const Loc& loc) {
  return at_loc(loc, [&] {
    auto [out, sgn] = logsumexp_impl(a, axes, b, keepdims);
    if (!b.defined()) return out;
    // A negative total has no real log.
    return where(less(sgn, zeros_like(sgn)), full_like(out, std::numeric_limits<double>::quiet_NaN()), out);
  });
}

std::pair<Array, Array> logsumexp_with_sign(const Array& a, const Axes& axes, const Array& b, bool keepdims,
                                            const Loc& loc) {
  return at_loc(loc, [&] { return logsumexp_impl(a, axes, b, keepdims); });
}

Array multigammaln(const Array& a_in, int64_t d, const Loc& loc) {
  return at_loc(loc, [&] {
    if (!a_in.defined()) throw_error<ValueError>("[multigammaln] the operand is an undefined Array");
    if (d < 1) throw_error<ValueError>("[multigammaln] the dimension d must be >= 1, got ", d);
    Array a = detail::promote_to_inexact("multigammaln", {a_in})[0];
    Array acc = lgamma(a);
    for (int64_t j = 1; j < d; ++j) acc = acc + lgamma(a - 0.5 * static_cast<double>(j));
    const double constant = static_cast<double>(d * (d - 1)) / 4.0 * std::log(std::numbers::pi);
    return acc + constant;
  });
}

}  // namespace scipy
}  // namespace jx
