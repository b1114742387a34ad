// Eager CPU kernels for the reduce primitives: monoid reductions, argmax/argmin, cumsum/cumprod.
// Every reduction is done as passes over a contiguous [outer, reduced, inner] view: the shape is
// simplified (size-1 dims dropped, neighbouring dims of the same kind merged), then each block
// of reduced dims is folded away in turn, innermost first, without transposing the input.
// Sums are pairwise (float32 accumulates in float32 with O(log n) error growth).

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/reduce.h"

namespace jx::cpu {

namespace {

// ---- monoids -----------------------------------------------------------------------------------

// Signed integer sums and products wrap (as XLA) instead of being undefined on overflow.
template <class T>
struct SumOp {
  static T identity() { return T(0); }
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    } else {
      return static_cast<T>(a + b);
    }
  }
};
template <class T>
struct ProdOp {
  static T identity() { return T(1); }
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    } else {
      return static_cast<T>(a * b);
    }
  }
};
// max/min propagate NaN: a NaN on either side wins.
template <class T>
struct MaxOp {
  static T identity() {
    if constexpr (std::is_same_v<T, bool>) return false;
    else if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::lowest();
  }
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) return (a > b || a != a) ? a : b;
    else return a > b ? a : b;
  }
  // NaN-ignoring form (one maxps); callers track NaNs separately.
  static T plain(T a, T b) { return a > b ? a : b; }
};
template <class T>
struct MinOp {
  static T identity() {
    if constexpr (std::is_same_v<T, bool>) return true;
    else if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::max();
  }
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) return (a < b || a != a) ? a : b;
    else return a < b ? a : b;
  }
  static T plain(T a, T b) { return a < b ? a : b; }
};
// and/or: logical on bool, bitwise on integers.
template <class T>
struct AndOp {
  static T identity() {
    if constexpr (std::is_same_v<T, bool>) return true;
    else return static_cast<T>(~T(0));
  }
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) return a && b;
    else return static_cast<T>(a & b);
  }
};
template <class T>
struct OrOp {
  static T identity() { return T(0); }
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) return a || b;
    else return static_cast<T>(a | b);
  }
};

// ---- one pass: [outer, R, inner] -> [outer, inner] --------------------------------------------

constexpr int64_t kLeaf = 256;       // contiguous elements reduced directly (8 running accumulators)
constexpr int64_t kRowLeaf = 16;     // rows reduced directly in the strided case
constexpr int64_t kTile = 128;       // columns processed together in the strided case
constexpr int64_t kTaskWork = 1 << 15;  // elements per parallel task, roughly

// Pairwise reduction of n contiguous elements.
template <class T, class Op>
T reduce_contiguous(const T* x, int64_t n, Op op) {
  if constexpr (std::is_floating_point_v<T> && requires { Op::plain(T{}, T{}); }) {
    // max/min of floats: a vectorizable compare-select, and a separate NaN check.
    T acc[8];
    int nan[8] = {};
    for (auto& a : acc) a = Op::identity();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int k = 0; k < 8; ++k) {
        acc[k] = Op::plain(acc[k], x[i + k]);
        nan[k] |= x[i + k] != x[i + k];
      }
    }
    T r = Op::identity();
    bool any_nan = false;
    for (int k = 0; k < 8; ++k) {
      r = Op::plain(r, acc[k]);
      any_nan |= nan[k] != 0;
    }
    for (; i < n; ++i) {
      r = Op::plain(r, x[i]);
      any_nan |= x[i] != x[i];
    }
    return any_nan ? std::numeric_limits<T>::quiet_NaN() : r;
  } else if (n <= kLeaf) {
    T acc[8];
    for (auto& a : acc) a = Op::identity();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int k = 0; k < 8; ++k) acc[k] = op(acc[k], x[i + k]);
    }
    T r = op(op(op(acc[0], acc[1]), op(acc[2], acc[3])), op(op(acc[4], acc[5]), op(acc[6], acc[7])));
    for (; i < n; ++i) r = op(r, x[i]);
    return r;
  }
  int64_t half = (n / 2 + 7) / 8 * 8;
  return op(reduce_contiguous(x, half, op), reduce_contiguous(x + half, n - half, op));
}

// Pairwise reduction over R rows (row stride `stride`) of `width` <= kTile columns into y.
template <class T, class Op>
void reduce_rows(const T* x, int64_t rows, int64_t stride, int64_t width, T* y, Op op) {
  if (rows <= kRowLeaf) {
    for (int64_t j = 0; j < width; ++j) y[j] = Op::identity();
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * stride;
      for (int64_t j = 0; j < width; ++j) y[j] = op(y[j], row[j]);
    }
    return;
  }
  int64_t half = rows / 2;
  T tmp[kTile];
  reduce_rows(x, half, stride, width, y, op);
  reduce_rows(x + half * stride, rows - half, stride, width, tmp, op);
  for (int64_t j = 0; j < width; ++j) y[j] = op(y[j], tmp[j]);
}

// Reduces the [outer, R, inner] array x into the [outer, inner] array y.
template <class T, class Op>
void reduce_pass(const T* x, T* y, int64_t outer, int64_t R, int64_t inner, Op op) {
  const int64_t n_out = outer * inner;
  if (n_out == 0) return;
  if (R == 0) {
    parallel_for(n_out, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = Op::identity();
    });
    return;
  }
  const int64_t tiles = (inner + kTile - 1) / kTile;
  const int64_t tasks = outer * tiles;
  const int64_t threads = num_threads();
  // Few independent outputs but a long reduced axis: split R into chunks, reduce each chunk into
  // a partial result, then reduce the partials (a second, short pass).
  int64_t chunks = 1;
  if (threads > 1 && tasks < 2 * threads && R * std::min(inner, kTile) >= 2 * kTaskWork) {
    chunks = std::min<int64_t>((2 * threads + tasks - 1) / tasks * 2, R / kRowLeaf);
    chunks = std::max<int64_t>(chunks, 1);
  }
  if (chunks > 1) {
    std::unique_ptr<T[]> partial(new T[outer * chunks * inner]);
    T* p = partial.get();
    const int64_t per = (R + chunks - 1) / chunks;
    const int64_t n_tasks = outer * chunks * tiles;
    parallel_for(n_tasks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t tile = t % tiles, c = (t / tiles) % chunks, o = t / (tiles * chunks);
        const int64_t r0 = std::min(R, c * per), r1 = std::min(R, r0 + per);
        const int64_t j0 = tile * kTile, w = std::min(kTile, inner - j0);
        const T* src = x + (o * R + r0) * inner + j0;
        T* dst = p + (o * chunks + c) * inner + j0;
        if (inner == 1) {
          *dst = reduce_contiguous(src, r1 - r0, op);
        } else {
          reduce_rows(src, r1 - r0, inner, w, dst, op);
        }
      }
    });
    reduce_pass(static_cast<const T*>(p), y, outer, chunks, inner, op);
    return;
  }
  const int64_t work_per_task = R * std::min(inner, kTile);
  const int64_t grain = std::max<int64_t>(1, kTaskWork / std::max<int64_t>(work_per_task, 1));
  parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t tile = t % tiles, o = t / tiles;
      const int64_t j0 = tile * kTile, w = std::min(kTile, inner - j0);
      const T* src = x + o * R * inner + j0;
      T* dst = y + o * inner + j0;
      if (inner == 1) {
        *dst = reduce_contiguous(src, R, op);
      } else {
        reduce_rows(src, R, inner, w, dst, op);
      }
    }
  });
}

// ---- whole reduction ---------------------------------------------------------------------------

struct Block {
  int64_t size;
  bool reduced;
};

// Drops size-1 dims and merges neighbours of the same kind.
std::vector<Block> simplify(const Shape& shape, const std::vector<int64_t>& axes) {
  std::vector<Block> blocks;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (shape[d] == 1) continue;
    bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!blocks.empty() && blocks.back().reduced == reduced) {
      blocks.back().size *= shape[d];
    } else {
      blocks.push_back({shape[d], reduced});
    }
  }
  return blocks;
}

template <class T, class Op>
void reduce_all_passes(const Array& in, Array& out, const std::vector<int64_t>& axes, Op op) {
  const T* x = in.data<T>();
  T* y = out.mutable_data<T>();
  const int64_t n_out = out.size();
  if (n_out == 0) return;
  if (in.size() == 0) {  // some reduced dim is empty
    reduce_pass<T>(x, y, n_out, 0, 1, op);
    return;
  }
  auto blocks = simplify(in.shape(), axes);
  auto n_reduced = std::count_if(blocks.begin(), blocks.end(), [](const Block& b) { return b.reduced; });
  if (n_reduced == 0) {  // only size-1 dims reduced: a copy
    parallel_for(n_out, kElementwiseGrain, [&](int64_t b, int64_t e) { std::copy(x + b, x + e, y + b); });
    return;
  }
  std::unique_ptr<T[]> current;  // intermediate results between passes
  const T* src = x;
  while (n_reduced > 0) {
    // Fold the innermost reduced block: everything after it is kept.
    int64_t k = static_cast<int64_t>(blocks.size()) - 1;
    while (!blocks[k].reduced) --k;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < k; ++i) outer *= blocks[i].size;
    for (int64_t i = k + 1; i < static_cast<int64_t>(blocks.size()); ++i) inner *= blocks[i].size;
    const int64_t R = blocks[k].size;
    --n_reduced;
    if (n_reduced == 0) {
      reduce_pass<T>(src, y, outer, R, inner, op);
    } else {
      std::unique_ptr<T[]> next(new T[outer * inner]);
      reduce_pass<T>(src, next.get(), outer, R, inner, op);
      current = std::move(next);
      src = current.get();
      // Remove the block and merge the kept neighbours.
      blocks.erase(blocks.begin() + k);
      if (k > 0 && k < static_cast<int64_t>(blocks.size()) && !blocks[k - 1].reduced && !blocks[k].reduced) {
        blocks[k - 1].size *= blocks[k].size;
        blocks.erase(blocks.begin() + k);
      }
    }
  }
}

template <class Types, template <class> class Op>
Kernel monoid_kernel() {
  return [](std::span<const Array> in, std::span<Array> out, const Params& p) {
    const auto& axes = p.get_ints("axes");
    dispatch(in[0].dtype(), Types{}, [&](auto t) {
      using T = decltype(t);
      reduce_all_passes<T>(in[0], out[0], axes, Op<T>{});
    });
  };
}

using BoolIntTypes = TypeList<bool, int32_t, int64_t, uint32_t>;

// ---- argmax / argmin ---------------------------------------------------------------------------

// Whether v replaces the current best (strictly better, or the first NaN; the earliest index
// wins ties, and a NaN once taken is kept).
template <bool IsMax, class T>
inline bool better(T v, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return false;
    if (v != v) return true;
  }
  if constexpr (IsMax) return v > best;
  else return v < best;
}

// Splits `shape` at `axis` into [outer, n, inner].
void split_at(const Shape& shape, int64_t axis, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[d];
  n = shape[axis];
  for (int64_t d = axis + 1; d < static_cast<int64_t>(shape.size()); ++d) inner *= shape[d];
}

template <bool IsMax>
Kernel arg_kernel() {
  return [](std::span<const Array> in, std::span<Array> out, const Params& p) {
    int64_t outer, n, inner;
    split_at(in[0].shape(), p.get_ints("axes")[0], outer, n, inner);
    if (out[0].size() == 0 || n == 0) return;
    dispatch(in[0].dtype(), AllTypes{}, [&](auto t) {
      using T = decltype(t);
      dispatch(out[0].dtype(), TypeList<int32_t, int64_t>{}, [&](auto it) {
        using I = decltype(it);
        const T* x = in[0].data<T>();
        I* y = out[0].mutable_data<I>();
        const int64_t tiles = (inner + kTile - 1) / kTile;
        const int64_t grain = std::max<int64_t>(1, kTaskWork / (n * std::min(inner, kTile)));
        parallel_for(outer * tiles, grain, [&](int64_t b, int64_t e) {
          for (int64_t task = b; task < e; ++task) {
            const int64_t o = task / tiles, j0 = (task % tiles) * kTile, w = std::min(kTile, inner - j0);
            const T* src = x + o * n * inner + j0;
            I* dst = y + o * inner + j0;
            if (inner == 1) {
              T best = src[0];
              int64_t at = 0;
              for (int64_t r = 1; r < n; ++r) {
                if (better<IsMax>(src[r], best)) {
                  best = src[r];
                  at = r;
                }
              }
              *dst = static_cast<I>(at);
            } else {
              T best[kTile];
              for (int64_t j = 0; j < w; ++j) {
                best[j] = src[j];
                dst[j] = 0;
              }
              for (int64_t r = 1; r < n; ++r) {
                const T* row = src + r * inner;
                for (int64_t j = 0; j < w; ++j) {
                  if (better<IsMax>(row[j], best[j])) {
                    best[j] = row[j];
                    dst[j] = static_cast<I>(r);
                  }
                }
              }
            }
          }
        });
      });
    });
  };
}

// ---- cumsum / cumprod --------------------------------------------------------------------------

template <template <class> class Op>
Kernel cumulative_kernel() {
  return [](std::span<const Array> in, std::span<Array> out, const Params& p) {
    int64_t outer, n, inner;
    split_at(in[0].shape(), p.get_int("axis"), outer, n, inner);
    const bool reverse = p.get<bool>("reverse");
    if (out[0].size() == 0) return;
    dispatch(in[0].dtype(), NumericTypes{}, [&](auto t) {
      using T = decltype(t);
      Op<T> op;
      const T* x = in[0].data<T>();
      T* y = out[0].mutable_data<T>();
      const int64_t tiles = (inner + kTile - 1) / kTile;
      const int64_t grain = std::max<int64_t>(1, kTaskWork / (n * std::min(inner, kTile)));
      parallel_for(outer * tiles, grain, [&](int64_t b, int64_t e) {
        for (int64_t task = b; task < e; ++task) {
          const int64_t o = task / tiles, j0 = (task % tiles) * kTile, w = std::min(kTile, inner - j0);
          const T* src = x + o * n * inner + j0;
          T* dst = y + o * n * inner + j0;
          if (inner == 1) {  // one contiguous row: a plain running total
            T total = Op<T>::identity();
            if (reverse) {
              for (int64_t r = n - 1; r >= 0; --r) dst[r] = total = op(total, src[r]);
            } else {
              for (int64_t r = 0; r < n; ++r) dst[r] = total = op(total, src[r]);
            }
            continue;
          }
          T acc[kTile];
          for (int64_t j = 0; j < w; ++j) acc[j] = Op<T>::identity();
          for (int64_t i = 0; i < n; ++i) {
            const int64_t r = reverse ? n - 1 - i : i;
            const T* row = src + r * inner;
            T* orow = dst + r * inner;
            for (int64_t j = 0; j < w; ++j) {
              acc[j] = op(acc[j], row[j]);
              orow[j] = acc[j];
            }
          }
        }
      });
    });
  };
}

}  // namespace

void register_reduce_kernels() {
  register_kernel(reduce_sum_p, DeviceKind::cpu, monoid_kernel<NumericTypes, SumOp>());
  register_kernel(reduce_prod_p, DeviceKind::cpu, monoid_kernel<NumericTypes, ProdOp>());
  register_kernel(reduce_max_p, DeviceKind::cpu, monoid_kernel<AllTypes, MaxOp>());
  register_kernel(reduce_min_p, DeviceKind::cpu, monoid_kernel<AllTypes, MinOp>());
  register_kernel(reduce_and_p, DeviceKind::cpu, monoid_kernel<BoolIntTypes, AndOp>());
  register_kernel(reduce_or_p, DeviceKind::cpu, monoid_kernel<BoolIntTypes, OrOp>());
  register_kernel(argmax_p, DeviceKind::cpu, arg_kernel<true>());
  register_kernel(argmin_p, DeviceKind::cpu, arg_kernel<false>());
  register_kernel(cumsum_p, DeviceKind::cpu, cumulative_kernel<SumOp>());
  register_kernel(cumprod_p, DeviceKind::cpu, cumulative_kernel<ProdOp>());
}

}  // namespace jx::cpu
