// Shape primitives and the numpy-level shape ops built on them.

#include "core/prims/shape.h"

#include <algorithm>
#include <numeric>

#include "core/ops.h"
#include "core/prims/elementwise.h"
#include "core/prims/reduce.h"
#include "core/trace.h"
#include "core/rules.h"

namespace jx {

namespace {

std::string ints_str(const std::vector<int64_t>& v) { return shape_str(v); }

std::vector<int64_t> to_ints(const std::vector<int>& v) { return std::vector<int64_t>(v.begin(), v.end()); }

// ---- binding helpers -------------------------------------------------------------------------
// Every bind in this file (public ops and rules) goes through these helpers. The params are
// JAX's: a transpose rule reads the shapes of its linear (valueless) inputs from
// transpose_input_aval, so no operand shape is recorded on the equations.

Array bind_reshape(const Array& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return bind1(reshape_p, {x}, Params{{"new_sizes", shape}});
}

Array bind_broadcast(const Array& x, const Shape& shape, const std::vector<int64_t>& dims) {
  return bind1(broadcast_in_dim_p, {x}, Params{{"shape", shape}, {"broadcast_dimensions", dims}});
}

Array bind_slice(const Array& x, const std::vector<int64_t>& start, const std::vector<int64_t>& limit,
                 const std::vector<int64_t>& strides) {
  return bind1(slice_p, {x}, Params{{"start_indices", start}, {"limit_indices", limit}, {"strides", strides}});
}

Array bind_pad(const Array& x, const Array& v, const std::vector<int64_t>& cfg) {
  return bind1(pad_p, {x, v}, Params{{"padding_config", cfg}});
}

Array bind_concat(std::span<const Array> xs, int64_t dim) {
  return bind1(concatenate_p, xs, Params{{"dimension", dim}});
}

Array bind_transpose(const Array& x, const std::vector<int64_t>& perm) {
  return bind1(transpose_p, {x}, Params{{"permutation", perm}});
}

// The JVP of a primitive linear in all its inputs. Takes the primitive's address: the rule is
// built while the primitive itself is being initialized.
JvpRule linear_self_jvp(const Primitive* prim) {
  return [prim](std::span<const Array> primals, std::span<const Array> tangents, std::span<const Array> outs,
                const Params& params) { return linear_jvp(*prim)(primals, tangents, outs, params); };
}

}  // namespace

// ---- primitives ------------------------------------------------------------------------------

// broadcast_in_dim: operand dim i goes to output dim dims[i]; its extent must be 1 or equal.
const Primitive broadcast_in_dim_p =
    PrimitiveBuilder("broadcast_in_dim")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& shape = p.get_ints("shape");
          const auto& dims = p.get_ints("broadcast_dimensions");
          if (static_cast<int64_t>(dims.size()) != x.ndim()) {
            throw_error<ShapeError>("[broadcast_in_dim] operand ", x.str(), " has rank ", x.ndim(), " but ",
                                    dims.size(), " broadcast dimensions were given");
          }
          for (size_t i = 0; i < dims.size(); ++i) {
            if (dims[i] < 0 || dims[i] >= static_cast<int64_t>(shape.size()) || (i > 0 && dims[i] <= dims[i - 1])) {
              throw_error<ShapeError>("[broadcast_in_dim] broadcast dimensions must be strictly increasing and "
                                      "within the output rank ", shape.size(), ", got dimension ", dims[i]);
            }
            if (x.shape[i] != 1 && x.shape[i] != shape[dims[i]]) {
              throw_error<ShapeError>("[broadcast_in_dim] cannot broadcast ", x.str(), " to ", shape_str(shape),
                                      ": operand dimension ", i, " (", x.shape[i], ") vs output dimension ",
                                      dims[i], " (", shape[dims[i]], ")");
            }
          }
          for (auto d : shape)
            if (d < 0) throw_error<ShapeError>("[broadcast_in_dim] negative dimension in ", shape_str(shape));
          return std::vector<AbstractValue>{{x.dtype, shape, x.weak_type}};
        })
        .jvp(linear_self_jvp(&broadcast_in_dim_p))
        // Sum over the broadcast dims; operand dims of extent 1 are summed too, then put back.
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params& p) {
          const Array& ct = cts[0];
          if (!ct.defined()) return std::vector<Array>{Array()};
          const auto& shape = p.get_ints("shape");
          const auto& dims = p.get_ints("broadcast_dimensions");
          const Shape& operand = transpose_input_aval(0).shape;
          std::vector<bool> kept(shape.size(), false);
          for (size_t i = 0; i < dims.size(); ++i)
            if (operand[i] != 1) kept[dims[i]] = true;
          std::vector<int64_t> axes;
          for (size_t d = 0; d < shape.size(); ++d)
            if (!kept[d]) axes.push_back(static_cast<int64_t>(d));
          Array summed = axes.empty() ? ct : lax::reduce_sum(ct, axes);
          return std::vector<Array>{bind_reshape(summed, operand)};
        })
        // The batch axis stays with the operand: it lands in the output right after the output dim
        // of the operand dim before it (at 0 when it leads), so the broadcast dims stay increasing
        // and no transpose is needed.
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const Array& x = args[0];
          const int64_t b = *bd[0];
          const auto& dims = p.get_ints("broadcast_dimensions");
          const int64_t out_b = b == 0 ? 0 : dims[b - 1] + 1;
          Shape shape = p.get_ints("shape");
          shape.insert(shape.begin() + out_b, x.shape()[b]);
          std::vector<int64_t> new_dims;
          for (int64_t i = 0; i < b; ++i) new_dims.push_back(dims[i]);
          new_dims.push_back(out_b);
          for (size_t i = static_cast<size_t>(b); i < dims.size(); ++i) new_dims.push_back(dims[i] + 1);
          return std::pair{std::vector<Array>{bind_broadcast(x, shape, new_dims)}, std::vector<BatchDim>{out_b}};
        })
        .sample({AbstractValue{DType::float32, {3}}}, Params{{"shape", Shape{2, 3}}, {"broadcast_dimensions", std::vector<int64_t>{1}}})
        .build();

const Primitive reshape_p =
    PrimitiveBuilder("reshape")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& sizes = p.get_ints("new_sizes");
          for (auto d : sizes) {
            if (d < 0) throw_error<ShapeError>("[reshape] negative dimension in new sizes ", shape_str(sizes));
          }
          if (shape_size(sizes) != x.size()) {
            throw_error<ShapeError>("[reshape] cannot reshape ", x.str(), " to ", shape_str(sizes), " (", x.size(),
                                    " vs ", shape_size(sizes), " elements)");
          }
          return std::vector<AbstractValue>{{x.dtype, sizes, x.weak_type}};
        })
        .jvp(linear_self_jvp(&reshape_p))
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params&) {
          if (!cts[0].defined()) return std::vector<Array>{Array()};
          return std::vector<Array>{bind_reshape(cts[0], transpose_input_aval(0).shape)};
        })
        // As JAX: a row-major reshape can only carry a leading batch axis, so it is moved to the
        // front first (a no-op when it already leads); the output's batch axis is 0.
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const int64_t size = batch_size(args, bd);
          Shape shape = p.get_ints("new_sizes");
          shape.insert(shape.begin(), size);
          Array x = move_batch_axis(args[0], bd[0], 0, size);
          return std::pair{std::vector<Array>{bind_reshape(x, shape)}, std::vector<BatchDim>{0}};
        })
        .sample({AbstractValue{DType::float32, {2, 3}}}, Params{{"new_sizes", Shape{3, 2}}})
        .build();

const Primitive transpose_p =
    PrimitiveBuilder("transpose")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& perm = p.get_ints("permutation");
          std::vector<bool> seen(static_cast<size_t>(x.ndim()), false);
          bool ok = static_cast<int64_t>(perm.size()) == x.ndim();
          for (size_t i = 0; ok && i < perm.size(); ++i) {
            if (perm[i] < 0 || perm[i] >= x.ndim() || seen[perm[i]]) ok = false;
            else seen[perm[i]] = true;
          }
          if (!ok) {
            throw_error<ShapeError>("[transpose] permutation ", ints_str(perm), " is not a permutation of the ",
                                    x.ndim(), " axes of ", x.str());
          }
          Shape out(perm.size());
          for (size_t i = 0; i < perm.size(); ++i) out[i] = x.shape[perm[i]];
          return std::vector<AbstractValue>{{x.dtype, out, x.weak_type}};
        })
        .jvp(linear_self_jvp(&transpose_p))
        // The inverse permutation.
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params& p) {
          if (!cts[0].defined()) return std::vector<Array>{Array()};
          const auto& perm = p.get_ints("permutation");
          std::vector<int64_t> inv(perm.size());
          for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
          return std::vector<Array>{bind_transpose(cts[0], inv)};
        })
        // The permutation is extended so that the batch axis keeps its position b in the output:
        // output dim b is operand dim b, the other dims are permuted as before (shifted past b).
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const int64_t b = *bd[0];
          const auto& perm = p.get_ints("permutation");
          std::vector<int64_t> new_perm;
          for (auto d : perm) new_perm.push_back(d < b ? d : d + 1);
          new_perm.insert(new_perm.begin() + b, b);
          return std::pair{std::vector<Array>{bind_transpose(args[0], new_perm)}, std::vector<BatchDim>{b}};
        })
        .sample({AbstractValue{DType::float32, {2, 3, 4}}}, Params{{"permutation", std::vector<int64_t>{2, 0, 1}}})
        .build();

const Primitive squeeze_p =
    PrimitiveBuilder("squeeze")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& dims = p.get_ints("dimensions");
          for (size_t i = 0; i < dims.size(); ++i) {
            if (dims[i] < 0 || dims[i] >= x.ndim() || (i > 0 && dims[i] <= dims[i - 1])) {
              throw_error<ShapeError>("[squeeze] dimensions ", ints_str(dims),
                                      " must be sorted, distinct and within the rank of ", x.str());
            }
            if (x.shape[dims[i]] != 1) {
              throw_error<ShapeError>("[squeeze] cannot squeeze dimension ", dims[i], " of ", x.str(),
                                      ": its extent is ", x.shape[dims[i]], ", not 1");
            }
          }
          Shape out;
          for (int64_t d = 0; d < x.ndim(); ++d)
            if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(x.shape[d]);
          return std::vector<AbstractValue>{{x.dtype, out, x.weak_type}};
        })
        .jvp(linear_self_jvp(&squeeze_p))
        // Reshape back, the squeezed dims as 1s.
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params& p) {
          const Array& ct = cts[0];
          if (!ct.defined()) return std::vector<Array>{Array()};
          const auto& dims = p.get_ints("dimensions");
          Shape operand;
          size_t k = 0;
          const int64_t n = ct.ndim() + static_cast<int64_t>(dims.size());
          for (int64_t d = 0; d < n; ++d)
            operand.push_back(std::binary_search(dims.begin(), dims.end(), d) ? 1 : ct.shape()[k++]);
          return std::vector<Array>{bind_reshape(ct, operand)};
        })
        // The squeezed dims are shifted past the batch axis, which stays (moved left by the number
        // of squeezed dims before it).
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const int64_t b = *bd[0];
          std::vector<int64_t> dims;
          int64_t before = 0;
          for (auto d : p.get_ints("dimensions")) {
            dims.push_back(d < b ? d : d + 1);
            if (d < b) ++before;
          }
          return std::pair{std::vector<Array>{bind1(squeeze_p, {args[0]}, Params{{"dimensions", dims}})},
                           std::vector<BatchDim>{b - before}};
        })
        .sample({AbstractValue{DType::float32, {2, 1, 3}}}, Params{{"dimensions", std::vector<int64_t>{1}}})
        .build();

const Primitive slice_p =
    PrimitiveBuilder("slice")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& start = p.get_ints("start_indices");
          const auto& limit = p.get_ints("limit_indices");
          const auto& strides = p.get_ints("strides");
          const auto n = static_cast<size_t>(x.ndim());
          if (start.size() != n || limit.size() != n || strides.size() != n) {
            throw_error<ShapeError>("[slice] operand ", x.str(), " has rank ", n, " but got start ",
                                    ints_str(start), ", limit ", ints_str(limit), ", strides ", ints_str(strides));
          }
          Shape out(n);
          for (size_t d = 0; d < n; ++d) {
            if (strides[d] < 1) {
              throw_error<ShapeError>("[slice] strides must be positive, got ", ints_str(strides));
            }
            if (start[d] < 0 || start[d] > limit[d] || limit[d] > x.shape[d]) {
              throw_error<ShapeError>("[slice] start ", ints_str(start), " and limit ", ints_str(limit),
                                      " do not fit ", x.str(), " (need 0 <= start <= limit <= extent in dimension ",
                                      d, ")");
            }
            out[d] = (limit[d] - start[d] + strides[d] - 1) / strides[d];
          }
          return std::vector<AbstractValue>{{x.dtype, out, x.weak_type}};
        })
        .jvp(linear_self_jvp(&slice_p))
        // Pad the cotangent with zeros back to the operand's shape; a stride s leaves s - 1 zeros
        // between the taken elements.
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params& p) {
          const Array& ct = cts[0];
          if (!ct.defined()) return std::vector<Array>{Array()};
          const Shape& operand = transpose_input_aval(0).shape;
          const auto& start = p.get_ints("start_indices");
          const auto& strides = p.get_ints("strides");
          std::vector<int64_t> cfg;
          for (size_t d = 0; d < operand.size(); ++d) {
            const int64_t n = ct.shape()[d];
            const int64_t real_limit = start[d] + (n == 0 ? 0 : 1 + (n - 1) * strides[d]);
            cfg.insert(cfg.end(), {start[d], operand[d] - real_limit, strides[d] - 1});
          }
          return std::vector<Array>{bind_pad(ct, zeros({}, ct.dtype()), cfg)};
        })
        // The batch axis is sliced whole ([0, size), stride 1) and stays in place.
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const Array& x = args[0];
          const int64_t b = *bd[0];
          auto start = p.get_ints("start_indices"), limit = p.get_ints("limit_indices"), strides = p.get_ints("strides");
          start.insert(start.begin() + b, 0);
          limit.insert(limit.begin() + b, x.shape()[b]);
          strides.insert(strides.begin() + b, 1);
          return std::pair{std::vector<Array>{bind_slice(x, start, limit, strides)}, std::vector<BatchDim>{b}};
        })
        .sample({AbstractValue{DType::float32, {5, 4}}}, Params{{"start_indices", std::vector<int64_t>{1, 0}}, {"limit_indices", std::vector<int64_t>{5, 3}}, {"strides", std::vector<int64_t>{2, 1}}})
        .build();

const Primitive pad_p =
    PrimitiveBuilder("pad")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& v = in[1];
          const auto& cfg = p.get_ints("padding_config");
          if (v.ndim() != 0) {
            throw_error<ShapeError>("[pad] padding value must be 0-d, got ", v.str());
          }
          if (v.dtype != x.dtype) {
            throw_error<DTypeError>("[pad] padding value ", v.str(), " must have the operand's dtype, operand ",
                                    x.str());
          }
          if (static_cast<int64_t>(cfg.size()) != 3 * x.ndim()) {
            throw_error<ShapeError>("[pad] operand ", x.str(), " has rank ", x.ndim(), " but the padding config has ",
                                    cfg.size() / 3, " (low, high, interior) entries");
          }
          Shape out(x.shape.size());
          for (size_t d = 0; d < out.size(); ++d) {
            int64_t lo = cfg[3 * d], hi = cfg[3 * d + 1], interior = cfg[3 * d + 2];
            if (interior < 0) {
              throw_error<ShapeError>("[pad] interior padding must be non-negative, got ", interior, " in dimension ",
                                      d, " of ", x.str());
            }
            int64_t n = x.shape[d];
            int64_t core = n == 0 ? 0 : n + (n - 1) * interior;
            out[d] = lo + hi + core;
            if (out[d] < 0) {
              throw_error<ShapeError>("[pad] padding (", lo, ", ", hi, ", ", interior, ") of dimension ", d, " of ",
                                      x.str(), " gives a negative extent ", out[d]);
            }
          }
          return std::vector<AbstractValue>{{x.dtype, out, x.weak_type && v.weak_type}};
        })
        .jvp(linear_self_jvp(&pad_p))
        // Operand: undo the low/high padding (negative padding: pad back with zeros), then take
        // every (interior + 1)-th element. Padding value: the sum over the padded positions, i.e.
        // the total minus the operand's part.
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool> linear,
                      const Params& p) {
          const Array& ct = cts[0];
          if (!ct.defined()) return std::vector<Array>{Array(), Array()};
          const auto& cfg = p.get_ints("padding_config");
          const size_t n = cfg.size() / 3;
          std::vector<int64_t> unpad, start(n, 0), limit(n), strides(n);
          bool any_unpad = false, any_stride = false;
          for (size_t d = 0; d < n; ++d) {
            unpad.insert(unpad.end(), {-cfg[3 * d], -cfg[3 * d + 1], 0});
            any_unpad = any_unpad || cfg[3 * d] != 0 || cfg[3 * d + 1] != 0;
            limit[d] = ct.shape()[d] - cfg[3 * d] - cfg[3 * d + 1];
            strides[d] = cfg[3 * d + 2] + 1;
            any_stride = any_stride || strides[d] != 1;
          }
          Array t_operand = any_unpad ? bind_pad(ct, zeros({}, ct.dtype()), unpad) : ct;
          if (any_stride) t_operand = bind_slice(t_operand, start, limit, strides);
          Array t_value;
          if (linear[1]) {
            std::vector<int64_t> all(n);
            std::iota(all.begin(), all.end(), int64_t{0});
            t_value = bind1(sub_p, {lax::reduce_sum(ct, all), lax::reduce_sum(t_operand, all)});
          }
          return std::vector<Array>{linear[0] ? t_operand : Array(), t_value};
        })
        // An unmapped padding value: the operand's batch axis is left unpadded and stays in place.
        // A mapped padding value (as JAX): pad with zeros, then select each example's value where a
        // padded mask is false; an unmapped operand is broadcast (at 0) only in that case.
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const int64_t size = batch_size(args, bd);
          const int64_t b = bd[0].value_or(0);
          std::vector<int64_t> cfg = p.get_ints("padding_config");
          cfg.insert(cfg.begin() + 3 * b, {0, 0, 0});
          if (!bd[1]) {
            return std::pair{std::vector<Array>{bind_pad(args[0], args[1], cfg)}, std::vector<BatchDim>{b}};
          }
          Array x = move_batch_axis(args[0], bd[0], b, size);
          Array padded = bind_pad(x, zeros({}, x.dtype()), cfg);
          Array mask = bind_pad(ones(x.shape(), DType::bool_), zeros({}, DType::bool_), cfg);
          Array fill = lax::broadcast_in_dim(args[1], padded.shape(), {b});  // args[1]: [size]
          return std::pair{std::vector<Array>{lax::select(mask, padded, fill)}, std::vector<BatchDim>{b}};
        })
        .sample({AbstractValue{DType::float32, {2, 3}}, AbstractValue{DType::float32, {}}}, Params{{"padding_config", std::vector<int64_t>{1, -1, 1, 0, 2, 0}}})
        .build();

const Primitive concatenate_p =
    PrimitiveBuilder("concatenate")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          if (in.empty()) throw_error<ValueError>("[concatenate] needs at least one operand");
          const int64_t dim = p.get_int("dimension");
          const auto& first = in[0];
          if (first.ndim() == 0) {
            throw_error<ShapeError>("[concatenate] 0-d operands cannot be concatenated, got ", first.str());
          }
          if (dim < 0 || dim >= first.ndim()) {
            throw_error<ShapeError>("[concatenate] dimension ", dim, " is out of range for ", first.str());
          }
          Shape out = first.shape;
          bool weak = first.weak_type;
          for (size_t i = 1; i < in.size(); ++i) {
            const auto& a = in[i];
            if (a.dtype != first.dtype) {
              throw_error<DTypeError>("[concatenate] operands must have the same dtype, got ", first.str(), " and ",
                                      a.str());
            }
            bool ok = a.ndim() == first.ndim();
            for (int64_t d = 0; ok && d < a.ndim(); ++d)
              if (d != dim && a.shape[d] != first.shape[d]) ok = false;
            if (!ok) {
              throw_error<ShapeError>("[concatenate] operand ", i, " ", a.str(), " does not match ", first.str(),
                                      " outside dimension ", dim);
            }
            out[dim] += a.shape[dim];
            weak = weak && a.weak_type;
          }
          return std::vector<AbstractValue>{{first.dtype, out, weak}};
        })
        .jvp(linear_self_jvp(&concatenate_p))
        // Slices of the cotangent, one per linear operand.
        .transpose([](std::span<const Array> cts, std::span<const Array> args, std::span<const bool> linear,
                      const Params& p) {
          std::vector<Array> result(args.size());
          const Array& ct = cts[0];
          if (!ct.defined()) return result;
          const int64_t dim = p.get_int("dimension");
          std::vector<int64_t> sizes;
          for (size_t i = 0; i < args.size(); ++i) sizes.push_back(transpose_input_aval(i).shape[dim]);
          std::vector<int64_t> start(ct.ndim(), 0), limit(ct.shape().begin(), ct.shape().end()),
              strides(ct.ndim(), 1);
          int64_t offset = 0;
          for (size_t i = 0; i < args.size(); ++i) {
            if (linear[i]) {
              start[dim] = offset;
              limit[dim] = offset + sizes[i];
              result[i] = bind_slice(ct, start, limit, strides);
            }
            offset += sizes[i];
          }
          return result;
        })
        // The batch axis of the first mapped operand is kept; other mapped operands are moved to
        // it and unmapped ones broadcast there (concatenate needs equal ranks), the dimension
        // shifted past it.
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const int64_t size = batch_size(args, bd);
          int64_t b = 0;
          for (auto d : bd) {
            if (d) {
              b = *d;
              break;
            }
          }
          std::vector<Array> xs;
          for (size_t i = 0; i < args.size(); ++i) xs.push_back(move_batch_axis(args[i], bd[i], b, size));
          const int64_t dim = p.get_int("dimension");
          return std::pair{std::vector<Array>{bind_concat(xs, dim < b ? dim : dim + 1)}, std::vector<BatchDim>{b}};
        })
        .sample({AbstractValue{DType::float32, {2, 3}}, AbstractValue{DType::float32, {2, 1}}}, Params{{"dimension", int64_t{1}}})
        .build();

const Primitive rev_p =
    PrimitiveBuilder("rev")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          const auto& x = in[0];
          const auto& dims = p.get_ints("dimensions");
          for (size_t i = 0; i < dims.size(); ++i) {
            if (dims[i] < 0 || dims[i] >= x.ndim() || (i > 0 && dims[i] <= dims[i - 1])) {
              throw_error<ShapeError>("[rev] dimensions ", ints_str(dims),
                                      " must be sorted, distinct and within the rank of ", x.str());
            }
          }
          return std::vector<AbstractValue>{x};
        })
        .jvp(linear_self_jvp(&rev_p))
        .transpose([](std::span<const Array> cts, std::span<const Array>, std::span<const bool>, const Params& p) {
          if (!cts[0].defined()) return std::vector<Array>{Array()};
          return std::vector<Array>{bind1(rev_p, {cts[0]}, p)};
        })
        // The reversed dims are shifted past the batch axis, which stays in place.
        .batch([](std::span<const Array> args, std::span<const BatchDim> bd, const Params& p) {
          const int64_t b = *bd[0];
          std::vector<int64_t> dims;
          for (auto d : p.get_ints("dimensions")) dims.push_back(d < b ? d : d + 1);
          return std::pair{std::vector<Array>{bind1(rev_p, {args[0]}, Params{{"dimensions", dims}})},
                           std::vector<BatchDim>{b}};
        })
        .sample({AbstractValue{DType::float32, {2, 3}}}, Params{{"dimensions", std::vector<int64_t>{0, 1}}})
        .build();

const Primitive iota_p =
    PrimitiveBuilder("iota")
        .shape_rule([](std::span<const AbstractValue> in, const Params& p) {
          JX_CHECK(in.empty(), "iota takes no operands");
          DType dtype = p.get<DType>("dtype");
          const auto& shape = p.get_ints("shape");
          int64_t dim = p.get_int("dimension");
          if (dtype == DType::bool_) throw_error<DTypeError>("[iota] needs a numeric dtype, got bool");
          for (auto d : shape)
            if (d < 0) throw_error<ShapeError>("[iota] negative dimension in shape ", shape_str(shape));
          if (dim < 0 || dim >= static_cast<int64_t>(shape.size())) {
            throw_error<ShapeError>("[iota] dimension ", dim, " is out of range for shape ", shape_str(shape));
          }
          return std::vector<AbstractValue>{{dtype, shape, false}};
        })
        // No operands: never called with a nonzero tangent; the output's tangent is zero.
        .jvp([](std::span<const Array>, std::span<const Array>, std::span<const Array>, const Params&) {
          return std::vector<Array>{Array()};
        })
        .no_rule("vmap", "iota has no operands, so it is never mapped")
        .sample({}, Params{{"dtype", DType::int32}, {"shape", Shape{2, 3}}, {"dimension", int64_t{1}}})
        .build();

// ---- lax -------------------------------------------------------------------------------------

namespace lax {

Array broadcast_in_dim(const Array& x, const Shape& shape, const std::vector<int64_t>& dims, const Loc& loc) {
  return at_loc(loc, [&] {
    if (x.shape() == shape && dims.size() == shape.size()) return x;
    return bind_broadcast(x, shape, dims);
  });
}

Array iota(DType dtype, const Shape& shape, int64_t dimension, const Loc& loc) {
  return at_loc(loc, [&] {
    return bind1(iota_p, std::span<const Array>(), Params{{"dtype", dtype}, {"shape", shape}, {"dimension", dimension}});
  });
}

Array slice(const Array& x, const std::vector<int64_t>& start, const std::vector<int64_t>& limit,
            const std::vector<int64_t>& strides, const Loc& loc) {
  return at_loc(loc, [&] {
    std::vector<int64_t> s = strides.empty() ? std::vector<int64_t>(start.size(), 1) : strides;
    return bind_slice(x, start, limit, s);
  });
}

Array pad(const Array& x, const Array& padding_value, const std::vector<std::array<int64_t, 3>>& config,
          const Loc& loc) {
  return at_loc(loc, [&] {
    std::vector<int64_t> flat;
    for (const auto& c : config) flat.insert(flat.end(), c.begin(), c.end());
    return bind_pad(x, padding_value, flat);
  });
}

Array rev(const Array& x, const std::vector<int64_t>& dims, const Loc& loc) {
  return at_loc(loc, [&] {
    if (dims.empty()) return x;
    return bind1(rev_p, {x}, Params{{"dimensions", dims}});
  });
}

}  // namespace lax

// ---- numpy-level ops -------------------------------------------------------------------------

namespace {

Array reshape_raw(const Array& x, const Shape& shape) { return bind_reshape(x, shape); }

// The slice of x along one axis, [start, stop) (JAX's slice_in_dim).
Array slice_in_dim(const Array& x, int64_t start, int64_t stop, int64_t axis) {
  std::vector<int64_t> s(x.ndim(), 0), l(x.shape().begin(), x.shape().end()), st(x.ndim(), 1);
  s[axis] = start;
  l[axis] = stop;
  return bind_slice(x, s, l, st);
}

Array concat_raw(const std::vector<Array>& xs, int64_t axis) {
  if (xs.size() == 1) return xs[0];
  return bind_concat(xs, axis);
}

void check_defined(const char* op, const Array& x) {
  if (!x.defined()) throw_error<ValueError>("[", op, "] the operand is an undefined Array");
}

}  // namespace

Array reshape(const Array& x, const Shape& shape, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("reshape", x);
    Shape out = shape;
    int64_t infer = -1, known = 1;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == -1) {
        if (infer >= 0) throw_error<ShapeError>("[reshape] only one dimension may be -1, got ", shape_str(shape));
        infer = static_cast<int64_t>(i);
      } else if (out[i] < 0) {
        throw_error<ShapeError>("[reshape] negative dimension in ", shape_str(shape), " for ", x.aval().str());
      } else {
        known *= out[i];
      }
    }
    if (infer >= 0) {
      if (known == 0 || x.size() % known != 0) {
        throw_error<ShapeError>("[reshape] cannot reshape ", x.aval().str(), " to ", shape_str(shape), " (",
                                x.size(), " elements do not divide into ", known, ")");
      }
      out[infer] = x.size() / known;
    }
    if (shape_size(out) != x.size()) {
      throw_error<ShapeError>("[reshape] cannot reshape ", x.aval().str(), " to ", shape_str(shape), " (",
                              x.size(), " vs ", shape_size(out), " elements)");
    }
    return reshape_raw(x, out);
  });
}

Array transpose(const Array& x, const std::vector<int>& perm, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("transpose", x);
    const int64_t n = x.ndim();
    std::vector<int64_t> p;
    if (perm.empty()) {
      for (int64_t i = n - 1; i >= 0; --i) p.push_back(i);
    } else {
      if (static_cast<int64_t>(perm.size()) != n) {
        throw_error<ShapeError>("[transpose] permutation ", shape_str(to_ints(perm)), " has ", perm.size(),
                                " entries but the operand ", x.aval().str(), " has rank ", n);
      }
      for (int a : perm) {
        if (a < -n || a >= n) {
          throw_error<ShapeError>("[transpose] axis ", a, " in permutation ", shape_str(to_ints(perm)),
                                  " is out of range for ", x.aval().str());
        }
        p.push_back(a < 0 ? a + n : a);
      }
    }
    bool identity = true;
    for (int64_t i = 0; i < n; ++i) identity = identity && p[i] == i;
    if (identity) return x;
    return bind_transpose(x, p);
  });
}

Array expand_dims(const Array& x, const Axes& axes, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("expand_dims", x);
    const int64_t out_ndim = x.ndim() + static_cast<int64_t>(axes.size());
    auto norm = normalize_axes("expand_dims", axes, out_ndim, false);
    Shape out;
    std::vector<int64_t> dims;
    int64_t k = 0;
    for (int64_t d = 0; d < out_ndim; ++d) {
      if (std::binary_search(norm.begin(), norm.end(), d)) {
        out.push_back(1);
      } else {
        dims.push_back(d);
        out.push_back(x.shape()[k++]);
      }
    }
    if (axes.empty()) return x;
    return bind1(broadcast_in_dim_p, {x}, Params{{"shape", out}, {"broadcast_dimensions", dims}});
  });
}

Array squeeze(const Array& x, const Axes& axes, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("squeeze", x);
    std::vector<int64_t> dims;
    if (axes.empty()) {
      for (int64_t d = 0; d < x.ndim(); ++d)
        if (x.shape()[d] == 1) dims.push_back(d);
    } else {
      dims = normalize_axes("squeeze", axes, x.ndim(), false);
      for (auto d : dims) {
        if (x.shape()[d] != 1) {
          throw_error<ShapeError>("[squeeze] cannot squeeze axis ", d, " of ", x.aval().str(), ": its extent is ",
                                  x.shape()[d], ", not 1");
        }
      }
    }
    if (dims.empty()) return x;
    return bind1(squeeze_p, {x}, Params{{"dimensions", dims}});
  });
}

Array broadcast_to(const Array& x, const Shape& shape, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("broadcast_to", x);
    const int64_t n = static_cast<int64_t>(shape.size());
    for (auto d : shape) {
      if (d < 0) throw_error<ShapeError>("[broadcast_to] negative dimension in ", shape_str(shape));
    }
    if (x.ndim() > n) {
      throw_error<ShapeError>("[broadcast_to] cannot broadcast ", x.aval().str(), " to the lower-rank shape ",
                              shape_str(shape));
    }
    std::vector<int64_t> dims;
    const int64_t offset = n - x.ndim();
    for (int64_t i = 0; i < x.ndim(); ++i) {
      int64_t xd = x.shape()[i], od = shape[i + offset];
      if (xd != 1 && xd != od) {
        throw_error<ShapeError>("[broadcast_to] cannot broadcast ", x.aval().str(), " to ", shape_str(shape),
                                " (axis ", i, ": ", xd, " vs ", od, ")");
      }
      dims.push_back(i + offset);
    }
    return lax::broadcast_in_dim(x, shape, dims);
  });
}

Array concatenate(const std::vector<Array>& xs, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    if (xs.empty()) throw_error<ValueError>("[concatenate] needs at least one array");
    for (const auto& x : xs) check_defined("concatenate", x);
    const int64_t n = xs[0].ndim();
    if (n == 0) throw_error<ShapeError>("[concatenate] 0-d arrays cannot be concatenated, got ", xs[0].aval().str());
    const int64_t ax = normalize_axis("concatenate", axis, n);
    for (size_t i = 1; i < xs.size(); ++i) {
      bool ok = xs[i].ndim() == n;
      for (int64_t d = 0; ok && d < n; ++d)
        if (d != ax && xs[i].shape()[d] != xs[0].shape()[d]) ok = false;
      if (!ok) {
        throw_error<ShapeError>("[concatenate] array ", i, " ", xs[i].aval().str(), " does not match ",
                                xs[0].aval().str(), " outside axis ", ax);
      }
    }
    TypeInfo t = detail::result_type(xs);
    std::vector<Array> conv;
    conv.reserve(xs.size());
    for (const auto& x : xs) conv.push_back(detail::convert(x, t));
    return concat_raw(conv, ax);
  });
}

Array stack(const std::vector<Array>& xs, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    if (xs.empty()) throw_error<ValueError>("[stack] needs at least one array");
    for (const auto& x : xs) check_defined("stack", x);
    for (size_t i = 1; i < xs.size(); ++i) {
      if (xs[i].shape() != xs[0].shape()) {
        throw_error<ShapeError>("[stack] all arrays must have the same shape, got ", xs[0].aval().str(), " and ",
                                xs[i].aval().str());
      }
    }
    const int ax = normalize_axis("stack", axis, xs[0].ndim() + 1);
    std::vector<Array> expanded;
    expanded.reserve(xs.size());
    for (const auto& x : xs) expanded.push_back(expand_dims(x, {ax}));
    return concatenate(expanded, ax);
  });
}

namespace {
std::vector<Array> split_at(const Array& x, const std::vector<int64_t>& bounds, int64_t ax) {
  std::vector<Array> out;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) out.push_back(slice_in_dim(x, bounds[i], bounds[i + 1], ax));
  return out;
}
}  // namespace

std::vector<Array> split(const Array& x, int64_t sections, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("split", x);
    if (x.ndim() == 0) throw_error<ShapeError>("[split] cannot split a 0-d array ", x.aval().str());
    const int64_t ax = normalize_axis("split", axis, x.ndim());
    if (sections <= 0) throw_error<ValueError>("[split] number of sections must be positive, got ", sections);
    const int64_t size = x.shape()[ax];
    if (size % sections != 0) {
      throw_error<ShapeError>("[split] axis ", ax, " of ", x.aval().str(), " (extent ", size,
                              ") does not divide into ", sections, " equal sections");
    }
    std::vector<int64_t> bounds;
    for (int64_t i = 0; i <= sections; ++i) bounds.push_back(i * (size / sections));
    return split_at(x, bounds, ax);
  });
}

std::vector<Array> split(const Array& x, const std::vector<int64_t>& indices, int axis, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("split", x);
    if (x.ndim() == 0) throw_error<ShapeError>("[split] cannot split a 0-d array ", x.aval().str());
    const int64_t ax = normalize_axis("split", axis, x.ndim());
    const int64_t size = x.shape()[ax];
    // numpy: indices are python slice bounds (negative from the end, clamped; a decreasing
    // index gives an empty piece).
    auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
    std::vector<int64_t> bounds{0};
    for (auto i : indices) bounds.push_back(clamp(i));
    bounds.push_back(size);
    std::vector<Array> out;
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      int64_t lo = bounds[i], hi = std::max(bounds[i], bounds[i + 1]);
      out.push_back(slice_in_dim(x, lo, hi, ax));
    }
    return out;
  });
}

Array slice(const Array& x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
            const std::vector<int64_t>& strides, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("slice", x);
    const int64_t n = x.ndim();
    if (static_cast<int64_t>(start.size()) > n || stop.size() != start.size() ||
        (!strides.empty() && strides.size() != start.size())) {
      throw_error<ShapeError>("[slice] start ", shape_str(start), ", stop ", shape_str(stop), " and strides ",
                              shape_str(strides), " must have the same length, at most the rank of ",
                              x.aval().str());
    }
    std::vector<int64_t> s(n, 0), l(x.shape().begin(), x.shape().end()), st(n, 1);
    bool identity = true;
    for (size_t d = 0; d < start.size(); ++d) {
      const int64_t size = x.shape()[d];
      int64_t stride = strides.empty() ? 1 : strides[d];
      if (stride <= 0) throw_error<ValueError>("[slice] strides must be positive, got ", shape_str(strides));
      auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
      s[d] = clamp(start[d]);
      l[d] = std::max(s[d], clamp(stop[d]));
      st[d] = stride;
      identity = identity && s[d] == 0 && l[d] == size && (stride == 1 || size <= 1);
    }
    if (identity) return x;
    return bind_slice(x, s, l, st);
  });
}

Array flip(const Array& x, const Axes& axes, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("flip", x);
    auto dims = normalize_axes("flip", axes, x.ndim(), true);
    return lax::rev(x, dims);
  });
}

Array roll(const Array& x, int64_t shift, std::optional<int> axis, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("roll", x);
    if (!axis) return reshape(roll(reshape(x, {-1}), shift, 0), x.shape());
    const int64_t ax = normalize_axis("roll", *axis, x.ndim());
    const int64_t size = x.shape()[ax];
    if (size == 0) return x;
    int64_t i = ((-shift) % size + size) % size;
    // As JAX's _roll_static: [i:] ++ [:i].
    return concat_raw({slice_in_dim(x, i, size, ax), slice_in_dim(x, 0, i, ax)}, ax);
  });
}

Array pad(const Array& x, const std::vector<std::pair<int64_t, int64_t>>& pad_width, const Array& constant_value,
          const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("pad", x);
    check_defined("pad", constant_value);
    const int64_t n = x.ndim();
    if (static_cast<int64_t>(pad_width.size()) != n && !(pad_width.size() == 1 && n > 0)) {
      throw_error<ShapeError>("[pad] pad_width has ", pad_width.size(), " (before, after) pairs but ",
                              x.aval().str(), " has rank ", n);
    }
    if (constant_value.ndim() != 0) {
      throw_error<ShapeError>("[pad] constant_value must be 0-d, got ", constant_value.aval().str());
    }
    std::vector<int64_t> cfg;
    for (int64_t d = 0; d < n; ++d) {
      const auto& pw = pad_width.size() == 1 ? pad_width[0] : pad_width[d];
      if (pw.first < 0 || pw.second < 0) {
        throw_error<ValueError>("[pad] pad widths must be non-negative, got (", pw.first, ", ", pw.second,
                                ") for axis ", d);
      }
      cfg.insert(cfg.end(), {pw.first, pw.second, 0});
    }
    Array v = detail::convert(constant_value, TypeInfo{x.dtype(), x.weak_type()});
    bool zero = std::all_of(cfg.begin(), cfg.end(), [](int64_t c) { return c == 0; });
    if (zero) return x;
    return bind_pad(x, v, cfg);
  });
}

Array tile(const Array& x, const std::vector<int64_t>& reps, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("tile", x);
    for (auto r : reps) {
      if (r < 0) throw_error<ValueError>("[tile] repetitions must be non-negative, got ", shape_str(reps));
    }
    // As JAX: reshape to [1, a0, 1, a1, ...], broadcast to [r0, a0, r1, a1, ...], reshape.
    Shape a(x.shape());
    std::vector<int64_t> r(reps);
    while (a.size() < r.size()) a.insert(a.begin(), 1);
    while (r.size() < a.size()) r.insert(r.begin(), 1);
    Shape inter, target, result;
    for (size_t i = 0; i < a.size(); ++i) {
      inter.insert(inter.end(), {1, a[i]});
      target.insert(target.end(), {r[i], a[i]});
      result.push_back(a[i] * r[i]);
    }
    return reshape(broadcast_to(reshape(x, inter), target), result);
  });
}

Array repeat(const Array& x, int64_t repeats, std::optional<int> axis, const Loc& loc) {
  return at_loc(loc, [&] {
    check_defined("repeat", x);
    if (repeats < 0) throw_error<ValueError>("[repeat] repeats must be non-negative, got ", repeats);
    Array a = axis ? x : reshape(x, {-1});
    const int64_t ax = normalize_axis("repeat", axis.value_or(0), a.ndim());
    // [.., n, ..] -> [.., n, 1, ..] -> [.., n, repeats, ..] -> [.., n * repeats, ..]
    Shape expanded(a.shape()), target(a.shape()), result(a.shape());
    expanded.insert(expanded.begin() + ax + 1, 1);
    target.insert(target.begin() + ax + 1, repeats);
    result[ax] *= repeats;
    return reshape(broadcast_to(reshape(a, expanded), target), result);
  });
}

namespace {
// As JAX's tri: true where row + k >= column, over the last two dims of x.
Array tri_mask(const char* op, const Array& x, int64_t k) {
  check_defined(op, x);
  if (x.ndim() < 2) throw_error<ShapeError>("[", op, "] needs an array of rank >= 2, got ", x.aval().str());
  Shape s{x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]};
  return greater_equal(lax::iota(int32, s, 0) + Array(k), lax::iota(int32, s, 1));
}
}  // namespace

Array tril(const Array& x, int64_t k, const Loc& loc) {
  return at_loc(loc, [&] { return where(tri_mask("tril", x, k), x, zeros_like(x)); });
}

Array triu(const Array& x, int64_t k, const Loc& loc) {
  return at_loc(loc, [&] { return where(tri_mask("triu", x, k - 1), zeros_like(x), x); });
}

}  // namespace jx
