// The linear-algebra primitives: shape rules, JVP rules (JAX's formulas, written with jx ops so
// that they differentiate again), triangular_solve's transpose, batching rules and sweep
// samples. Kernels: backends/cpu/lapack.cpp.

#include "core/prims/linalg.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/ops.h"
#include "core/rules.h"
#include "core/trace.h"

namespace jx {

namespace {

// ---- shape checks -----------------------------------------------------------------------------

int64_t rows(const AbstractValue& a) { return a.shape[a.ndim() - 2]; }
int64_t cols(const AbstractValue& a) { return a.shape[a.ndim() - 1]; }
Shape batch_shape(const AbstractValue& a) { return Shape(a.shape.begin(), a.shape.end() - 2); }

void check_matrix(const char* op, const AbstractValue& a, bool square, const char* what = "") {
  if (!is_floating(a.dtype) || is_half_float(a.dtype)) {
    throw_error<DTypeError>("[", op, "] needs a float32 or float64 ", what, "matrix (LAPACK has no ",
                            dtype_name(a.dtype), " routines), got ", a.str(), "; convert it with .astype(jx::float32)");
  }
  if (a.ndim() < 2) {
    throw_error<ShapeError>("[", op, "] needs a ", what, "matrix (rank >= 2; leading dims are batch dims), got ",
                            a.str());
  }
  if (square && rows(a) != cols(a)) {
    throw_error<ShapeError>("[", op, "] needs a square ", what, "matrix (or a stack of them), got ", a.str());
  }
}

bool flag(const Params& p, const char* name) { return p.get<bool>(name); }

// ---- helpers for the rules (jx ops, so every rule is differentiable and batchable) -------------

// Swaps the last two axes.
Array mT(const Array& x) {
  std::vector<int> perm(static_cast<size_t>(x.ndim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(x, perm);
}
Array eye_like(int64_t n, const Array& like) { return detail::eye_constant(n, n, like.dtype()); }
Array tril_m(const Array& x, int64_t k = 0) { return detail::tril_constant_mask(x, k); }
Array triu_m(const Array& x, int64_t k = 0) { return detail::triu_constant_mask(x, k); }
// x [..., n, n] -> its diagonal [..., n].
Array diag_part(const Array& x) { return sum(x * eye_like(x.shape().back(), x), {-1}); }
Array symmetrize(const Array& x) { return (x + mT(x)) * 0.5; }
// x[..., r0:r1, c0:c1].
Array block(const Array& x, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const size_t nd = static_cast<size_t>(x.ndim());
  std::vector<int64_t> start(nd, 0), stop(x.shape().begin(), x.shape().end());
  start[nd - 2] = r0, stop[nd - 2] = r1, start[nd - 1] = c0, stop[nd - 1] = c1;
  return slice(x, start, stop);
}
// Zero padding of the last two axes.
Array pad2(const Array& x, std::pair<int64_t, int64_t> r, std::pair<int64_t, int64_t> c) {
  std::vector<std::pair<int64_t, int64_t>> widths(static_cast<size_t>(x.ndim()), {0, 0});
  widths[widths.size() - 2] = r;
  widths[widths.size() - 1] = c;
  return pad(x, widths);
}

Params solve_params(bool left_side, bool lower, bool transpose_a, bool unit_diagonal) {
  return Params{{"left_side", left_side},
                {"lower", lower},
                {"transpose_a", transpose_a},
                {"unit_diagonal", unit_diagonal}};
}
Array tsolve(const Array& a, const Array& b, bool left_side, bool lower, bool transpose_a = false,
             bool unit_diagonal = false) {
  return bind1(triangular_solve_p, {a, b}, solve_params(left_side, lower, transpose_a, unit_diagonal));
}

// The batching rule of a primitive that takes one stack of matrices: the batch axis moves to
// the front and becomes one more leading dimension the kernel loops over (one call).
BatchRule leading_batch_rule(const Primitive* prim) {
  return [prim](std::span<const Array> args, std::span<const BatchDim> dims, const Params& params) {
    auto moved = batch_at_front(args, dims, batch_size(args, dims));
    auto outs = jx::bind(*prim, moved, params);
    return std::pair{outs, std::vector<BatchDim>(outs.size(), BatchDim(0))};
  };
}

AbstractValue aval(DType dtype, Shape shape) { return AbstractValue{dtype, std::move(shape), false}; }

// ---- cholesky ---------------------------------------------------------------------------------

// Forward mode (Murray, arXiv:1602.07527, as JAX): with S = sym(dA),
// dL = L phi(L^-1 S L^-T), phi = the lower triangle with its diagonal halved.
std::vector<Array> cholesky_jvp(std::span<const Array>, std::span<const Array> tangents,
                                std::span<const Array> outputs, const Params&) {
  const Array& L = outputs[0];
  Array s = symmetrize(tangents[0]);
  Array tmp = tsolve(L, s, /*left_side=*/false, /*lower=*/true, /*transpose_a=*/true);  // S L^-T
  Array inner = tsolve(L, tmp, /*left_side=*/true, /*lower=*/true);                      // L^-1 S L^-T
  Array phi = tril_m(inner) - inner * eye_like(L.shape().back(), L) * 0.5;
  return {matmul(L, phi)};
}

// ---- triangular_solve -------------------------------------------------------------------------

// As JAX's _triangular_solve_jvp_rule_a: only the triangle the solve reads has a tangent;
// dx = -op(a)^-1 op(da) x (left) or -x op(da) op(a)^-1 (right), multiplying in the cheaper
// order. Linear in b: dx = solve(a, db).
std::vector<Array> triangular_solve_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                                        std::span<const Array> outputs, const Params& p) {
  const bool left = flag(p, "left_side"), lower = flag(p, "lower");
  const bool trans = flag(p, "transpose_a"), unit = flag(p, "unit_diagonal");
  const Array& a = primals[0];
  const Array& x = outputs[0];
  Array out;
  if (tangents[1].defined()) out = tsolve(a, tangents[1], left, lower, trans, unit);
  if (tangents[0].defined()) {
    Array g = lower ? tril_m(tangents[0], unit ? -1 : 0) : triu_m(tangents[0], unit ? 1 : 0);
    g = -g;
    if (trans) g = mT(g);
    const int64_t m = x.shape()[x.ndim() - 2], n = x.shape()[x.ndim() - 1];
    Array dx;
    if (left) {
      dx = m > n ? tsolve(a, matmul(g, x), left, lower, trans, unit) : matmul(tsolve(a, g, left, lower, trans, unit), x);
    } else {
      dx = m < n ? tsolve(a, matmul(x, g), left, lower, trans, unit) : matmul(x, tsolve(a, g, left, lower, trans, unit));
    }
    out = add_tangents(out, dx);
  }
  return {out};
}

// x = op(a)^-1 b is linear in b; its transpose solves with op(a)^T.
std::vector<Array> triangular_solve_transpose(std::span<const Array> cts, std::span<const Array> args,
                                              std::span<const bool> linear, const Params& p) {
  if (linear[0]) {
    throw_error<ValueError>("[triangular_solve] transpose: the matrix a is a linear input, but the solve is "
                            "linear only in its right-hand side b");
  }
  std::vector<Array> out(2);
  if (!cts[0].defined()) return out;
  out[1] = tsolve(args[0], cts[0], flag(p, "left_side"), flag(p, "lower"), !flag(p, "transpose_a"),
                  flag(p, "unit_diagonal"));
  return out;
}

// As JAX's _triangular_solve_batching_rule: with an unmapped a, the batch axis of b joins the
// right-hand sides (columns for a left solve, rows for a right solve), so the whole batch is
// one solve with a; otherwise both batch axes move to the front.
std::pair<std::vector<Array>, std::vector<BatchDim>> triangular_solve_batch(std::span<const Array> args,
                                                                            std::span<const BatchDim> dims,
                                                                            const Params& p) {
  const Array& a = args[0];
  const Array& b = args[1];
  if (!dims[0]) {
    const bool left = flag(p, "left_side");
    const int64_t nd = b.ndim();
    // Batch axis to -1 (left: [..., k, n, B]) or -2 (right: [..., m, B, k]).
    const int64_t to = left ? nd - 1 : nd - 2;
    Array moved = move_batch_axis(b, dims[1], to, 0);
    Shape shape = moved.shape();
    Shape flat(shape.begin(), shape.end());
    if (left) {
      flat.pop_back();
      flat.back() *= shape.back();  // [..., k, n * B]
    } else {
      flat.erase(flat.end() - 2);
      flat[flat.size() - 2] *= shape[shape.size() - 2];  // [..., m * B, k]
    }
    Array x = bind1(triangular_solve_p, {a, reshape(moved, flat)}, p);
    return {{reshape(x, shape)}, {BatchDim(to)}};
  }
  auto moved = batch_at_front(args, dims, batch_size(args, dims));
  return {{bind1(triangular_solve_p, moved, p)}, {BatchDim(0)}};
}

// ---- lu ---------------------------------------------------------------------------------------

// De Hoog, Anderssen and Lukas (as JAX's _lu_jvp_rule): with P A = L U and
// X = L^-1 P dA U^-1, dL = L tril(X, -1) and dU = triu(X) U; for m != n, L is completed to
// m x m and U to n x n with identity blocks.
std::vector<Array> lu_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                          std::span<const Array> outputs, const Params&) {
  const Array& a = primals[0];
  const Array& lu = outputs[0];
  const Array& perm = outputs[2];
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape()[a.ndim() - 1], k = std::min(m, n);
  Array x = detail::permute_rows(tangents[0], perm);  // P dA
  Array l = tril_m(block(lu, 0, m, 0, k), -1);
  if (m > k) l = pad2(l, {0, 0}, {0, m - k});
  l = l + eye_like(m, a);
  Array u = triu_m(block(lu, 0, k, 0, n));
  if (n > k) u = pad2(u, {0, n - k}, {0, 0}) + pad2(eye_like(n - k, a), {k, 0}, {k, 0});
  Array la = tsolve(l, x, /*left_side=*/true, /*lower=*/true, false, /*unit_diagonal=*/true);
  Array lau = tsolve(u, la, /*left_side=*/false, /*lower=*/false);
  Array lu_dot = matmul(l, tril_m(lau, -1)) + matmul(triu_m(lau), u);
  return {lu_dot, Array(), Array()};
}

// ---- qr ---------------------------------------------------------------------------------------

// Square or tall (m >= n) reduced QR (J. Townsend, "Differentiating the QR decomposition", as
// JAX): with C = Q^T dA R^-1 and Omega = tril(C, -1) - tril(C, -1)^T,
// dQ = Q (Omega - C) + dA R^-1 and dR = (C - Omega) R.
std::pair<Array, Array> qr_jvp_tall(const Array& q, const Array& r, const Array& da) {
  Array da_rinv = tsolve(r, da, /*left_side=*/false, /*lower=*/false);
  Array c = matmul(mT(q), da_rinv);
  Array low = tril_m(c, -1);
  Array omega = low - mT(low);
  Array dq = matmul(q, omega - c) + da_rinv;
  Array dr = matmul(c - omega, r);
  return {dq, dr};
}

// Wide matrices (m < n), which JAX leaves unimplemented: A = [X | Y] with X square gives
// X = Q U (a square QR) and Y = Q V, so dQ, dU follow from the square rule on dX and
// dV = dQ^T Y + Q^T dY.
std::vector<Array> qr_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                          std::span<const Array> outputs, const Params& p) {
  const Array& a = primals[0];
  const Array& q = outputs[0];
  const Array& r = outputs[1];
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape()[a.ndim() - 1];
  if (flag(p, "full_matrices") && m > n) {
    throw_error<ValueError>("[qr] the derivative of a complete QR decomposition of a tall matrix ", a.aval().str(),
                            " is not defined (the last ", m - n, " columns of q are not unique); use the reduced "
                            "decomposition (full_matrices = false)");
  }
  if (m >= n) {
    auto [dq, dr] = qr_jvp_tall(q, r, tangents[0]);
    return {dq, dr};
  }
  auto [dq, du] = qr_jvp_tall(q, block(r, 0, m, 0, m), block(tangents[0], 0, m, 0, m));
  Array dv = matmul(mT(dq), block(a, 0, m, m, n)) + matmul(mT(q), block(tangents[0], 0, m, m, n));
  return {dq, concatenate({du, dv}, -1)};
}

// ---- eigh -------------------------------------------------------------------------------------

// As JAX's _eigh_jvp_rule (distinct eigenvalues): with S = V^T sym(dA) V,
// dw = diag(S) and dV = V (F o S), F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it.
std::vector<Array> eigh_jvp(std::span<const Array>, std::span<const Array> tangents,
                            std::span<const Array> outputs, const Params&) {
  const Array& w = outputs[0];
  const Array& v = outputs[1];
  Array eye_n = eye_like(w.shape().back(), w);
  Array s = matmul(matmul(mT(v), symmetrize(tangents[0])), v);
  Array f = reciprocal(eye_n + expand_dims(w, {-2}) - expand_dims(w, {-1})) - eye_n;
  return {diag_part(s), matmul(v, f * s)};
}

// ---- svd --------------------------------------------------------------------------------------

// As JAX's _svd_jvp_rule for real matrices (distinct nonzero singular values for u, vt):
// with dS = U^T dA V, ds = diag(dS), F_ij = 1 / (s_j^2 - s_i^2) (0 on the diagonal),
// dU = U (F o (dS S + S dS^T)) and dV = V (F o (S dS + dS^T S)), plus the components outside
// the span of U (m > n) or V (n > m). (JAX's extra diagonal term vanishes for real inputs.)
std::vector<Array> svd_jvp(std::span<const Array> primals, std::span<const Array> tangents,
                           std::span<const Array> outputs, const Params& p) {
  const Array& a = primals[0];
  const Array& da = tangents[0];
  const bool compute_uv = flag(p, "compute_uv");
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape()[a.ndim() - 1];
  if (compute_uv && flag(p, "full_matrices") && m != n) {
    throw_error<ValueError>("[svd] the derivative of the full singular vectors of a non-square matrix ",
                            a.aval().str(), " is not defined (the extra vectors are not unique); use "
                            "full_matrices = false");
  }
  std::vector<Array> usv;
  if (compute_uv) {
    usv.assign(outputs.begin(), outputs.end());
  } else {
    usv = jx::bind(svd_p, std::vector<Array>{a}, Params{{"full_matrices", false}, {"compute_uv", true}});
  }
  const Array &s = usv[0], &u = usv[1], &vt = usv[2];
  Array ut = mT(u), v = mT(vt);
  Array ds_mat = matmul(matmul(ut, da), v);
  Array ds = diag_part(ds_mat);
  if (!compute_uv) return {ds};
  Array s_row = expand_dims(s, {-2});  // [..., 1, k]: s_j along columns
  Array s_col = mT(s_row);             // [..., k, 1]: s_i along rows
  Array eye_k = eye_like(s.shape().back(), s);
  Array f = reciprocal((s_row + s_col) * (s_row - s_col) + eye_k) - eye_k;
  Array dss = s_row * ds_mat;  // dS diag(s)
  Array sds = s_col * ds_mat;  // diag(s) dS
  Array du = matmul(u, f * (dss + mT(dss)));
  Array dv = matmul(v, f * (sds + mT(sds)));
  if (m > n) {
    Array dav = matmul(da, v);
    du = du + (dav - matmul(u, matmul(ut, dav))) / s_row;
  }
  if (n > m) {
    Array dau = matmul(mT(da), u);
    dv = dv + (dau - matmul(v, matmul(vt, dau))) / s_row;
  }
  return {ds, du, mT(dv)};
}

}  // namespace

namespace detail {

Array eye_constant(int64_t rows, int64_t cols, DType dtype) {
  auto build = [&](auto one) {
    std::vector<decltype(one)> v(static_cast<size_t>(rows * cols), decltype(one)(0));
    for (int64_t i = 0; i < std::min(rows, cols); ++i) v[static_cast<size_t>(i * cols + i)] = one;
    return array_from_host(v.data(), dtype, {rows, cols});
  };
  if (dtype == DType::float32) return build(1.0f);
  JX_CHECK(dtype == DType::float64, "eye_constant of ", dtype_name(dtype));
  return build(1.0);
}

Array tri_mask_constant(int64_t rows, int64_t cols, int64_t k, bool lower) {
  std::vector<uint8_t> v(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) v[static_cast<size_t>(i * cols + j)] = lower ? j <= i + k : j >= i + k;
  return array_from_host(v.data(), DType::bool_, {rows, cols});
}

Array tril_constant_mask(const Array& x, int64_t k) {
  const int64_t nd = x.ndim();
  return where(tri_mask_constant(x.shape()[nd - 2], x.shape()[nd - 1], k, true), x, Array(0.0));
}
Array triu_constant_mask(const Array& x, int64_t k) {
  const int64_t nd = x.ndim();
  return where(tri_mask_constant(x.shape()[nd - 2], x.shape()[nd - 1], k, false), x, Array(0.0));
}

Array permute_rows(const Array& x, const Array& perm) {
  const int64_t nd = x.ndim(), m = x.shape()[nd - 2], c = x.shape()[nd - 1], r = perm.shape().back();
  if (nd == 2) return take(x, perm, 0);
  const Shape batch(x.shape().begin(), x.shape().end() - 2);
  const int64_t b = shape_size(batch);
  // Row i of matrix j is row j * m + i of the flattened stack; the offsets are a host constant.
  auto offsets = [&](auto zero) {
    std::vector<decltype(zero)> v(static_cast<size_t>(b));
    for (int64_t j = 0; j < b; ++j) v[static_cast<size_t>(j)] = static_cast<decltype(zero)>(j * m);
    return array(v, Shape{b, 1});
  };
  Array p = reshape(perm, {b, r});
  Array index = b * m > std::numeric_limits<int32_t>::max() ? p.astype(DType::int64) + offsets(int64_t{0})
                                                            : p + offsets(int32_t{0});
  Array rows = take(reshape(x, {b * m, c}), reshape(index, {b * r}), 0);
  Shape out = batch;
  out.insert(out.end(), {r, c});
  return reshape(rows, out);
}

}  // namespace detail

const Primitive cholesky_p =
    PrimitiveBuilder("cholesky")
        .shape_rule([](std::span<const AbstractValue> in, const Params&) {
          JX_CHECK(in.size() == 1, "cholesky takes one operand");
          check_matrix("cholesky", in[0], true);
          return std::vector<AbstractValue>{aval(in[0].dtype, in[0].shape)};
        })
        .jvp(cholesky_jvp)
        .batch(leading_batch_rule(&cholesky_p))
        // 1x1 stacks: the sweep draws entries from (0.1, 0.9), which are positive definite only
        // at n = 1 (larger matrices are covered by tests/core/linalg_test.cpp).
        .sample({aval(DType::float32, {1, 1})})
        .sample({aval(DType::float64, {3, 1, 1})})
        .build();

const Primitive triangular_solve_p =
    PrimitiveBuilder("triangular_solve")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 2, "triangular_solve takes two operands");
          const auto& a = in[0];
          const auto& b = in[1];
          check_matrix("triangular_solve", a, true, "coefficient ");
          check_matrix("triangular_solve", b, false, "right-hand side ");
          if (a.dtype != b.dtype) {
            throw_error<DTypeError>("[triangular_solve] a and b must have the same dtype, got a ", a.str(), ", b ",
                                    b.str());
          }
          const bool left = flag(p, "left_side");
          const int64_t k = rows(a), bk = left ? rows(b) : cols(b);
          if (batch_shape(a) != batch_shape(b) || k != bk) {
            throw_error<ShapeError>("[triangular_solve] a ", a.str(), " does not match the right-hand side ", b.str(),
                                    left ? " (a left solve needs b [..., k, n] with a [..., k, k])"
                                         : " (a right solve needs b [..., m, k] with a [..., k, k])",
                                    "; the batch dims must be equal");
          }
          return std::vector<AbstractValue>{aval(b.dtype, b.shape)};
        })
        .jvp(triangular_solve_jvp)
        .transpose(triangular_solve_transpose)
        .batch(triangular_solve_batch)
        .sample({aval(DType::float32, {3, 3}), aval(DType::float32, {3, 2})}, solve_params(true, true, false, false))
        .sample({aval(DType::float64, {2, 3, 3}), aval(DType::float64, {2, 4, 3})},
                solve_params(false, false, true, false))
        .sample({aval(DType::float64, {3, 3}), aval(DType::float64, {3, 1})}, solve_params(true, false, false, true))
        .sample({aval(DType::float64, {4, 4}), aval(DType::float64, {2, 4})}, solve_params(false, true, false, false))
        .build();

const Primitive lu_p =
    PrimitiveBuilder("lu")
        .num_outputs(3)
        .shape_rule([](std::span<const AbstractValue> in, const Params&) {
          JX_CHECK(in.size() == 1, "lu takes one operand");
          const auto& a = in[0];
          check_matrix("lu", a, false);
          Shape piv = batch_shape(a), perm = batch_shape(a);
          piv.push_back(std::min(rows(a), cols(a)));
          perm.push_back(rows(a));
          return std::vector<AbstractValue>{aval(a.dtype, a.shape), aval(DType::int32, piv), aval(DType::int32, perm)};
        })
        .jvp(lu_jvp)
        .batch(leading_batch_rule(&lu_p))
        .sample({aval(DType::float32, {3, 3})})
        .sample({aval(DType::float64, {3, 4})})
        .sample({aval(DType::float64, {2, 4, 3})})
        .build();

const Primitive qr_p =
    PrimitiveBuilder("qr")
        .num_outputs(2)
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 1, "qr takes one operand");
          const auto& a = in[0];
          check_matrix("qr", a, false);
          const int64_t m = rows(a), n = cols(a), k = flag(p, "full_matrices") ? m : std::min(m, n);
          Shape q = batch_shape(a), r = batch_shape(a);
          q.insert(q.end(), {m, k});
          r.insert(r.end(), {k, n});
          return std::vector<AbstractValue>{aval(a.dtype, q), aval(a.dtype, r)};
        })
        .jvp(qr_jvp)
        .batch(leading_batch_rule(&qr_p))
        .sample({aval(DType::float32, {4, 3})}, Params{{"full_matrices", false}})
        .sample({aval(DType::float64, {3, 3})}, Params{{"full_matrices", true}})
        .sample({aval(DType::float64, {2, 3, 5})}, Params{{"full_matrices", false}})
        .build();

const Primitive eigh_p =
    PrimitiveBuilder("eigh")
        .num_outputs(2)
        .shape_rule([](std::span<const AbstractValue> in, const Params&) {
          JX_CHECK(in.size() == 1, "eigh takes one operand");
          const auto& a = in[0];
          check_matrix("eigh", a, true);
          Shape w = batch_shape(a);
          w.push_back(rows(a));
          return std::vector<AbstractValue>{aval(a.dtype, w), aval(a.dtype, a.shape)};
        })
        .jvp(eigh_jvp)
        .batch(leading_batch_rule(&eigh_p))
        .sample({aval(DType::float32, {3, 3})})
        .sample({aval(DType::float64, {2, 4, 4})})
        .build();

const Primitive svd_p =
    PrimitiveBuilder("svd")
        .num_outputs(-1)
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.size() == 1, "svd takes one operand");
          const auto& a = in[0];
          check_matrix("svd", a, false);
          const int64_t m = rows(a), n = cols(a), k = std::min(m, n);
          Shape s = batch_shape(a);
          s.push_back(k);
          std::vector<AbstractValue> out{aval(a.dtype, s)};
          if (flag(p, "compute_uv")) {
            const bool full = flag(p, "full_matrices");
            Shape u = batch_shape(a), vt = batch_shape(a);
            u.insert(u.end(), {m, full ? m : k});
            vt.insert(vt.end(), {full ? n : k, n});
            out.push_back(aval(a.dtype, u));
            out.push_back(aval(a.dtype, vt));
          }
          return out;
        })
        .jvp(svd_jvp)
        .batch(leading_batch_rule(&svd_p))
        .sample({aval(DType::float32, {4, 3})}, Params{{"full_matrices", false}, {"compute_uv", true}})
        .sample({aval(DType::float64, {3, 4})}, Params{{"full_matrices", false}, {"compute_uv", false}})
        .sample({aval(DType::float64, {2, 3, 3})}, Params{{"full_matrices", true}, {"compute_uv", true}})
        .build();

}  // namespace jx
