// Shape primitives and the numpy-level shape ops built on them.

#include "core/prims/shape.h"

#include "core/ops.h"
#include "core/trace.h"

namespace jx {

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
        .build();

namespace lax {
Array broadcast_in_dim(const Array& x, const Shape& shape, const std::vector<int64_t>& dims, const Loc& loc) {
  return at_loc(loc, [&] {
    if (x.shape() == shape) return x;
    return bind1(broadcast_in_dim_p, {x}, Params{{"shape", shape}, {"broadcast_dimensions", dims}});
  });
}
}  // namespace lax

}  // namespace jx
