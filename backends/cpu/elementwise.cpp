// Eager CPU kernels for the elementwise primitives.

#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/register.h"
#include "core/prims/elementwise.h"

namespace jx::cpu {

void register_elementwise_kernels() {
  register_kernel(add_p, DeviceKind::cpu, map_binary<NumericTypes>([](auto a, auto b) { return a + b; }));
  register_kernel(sub_p, DeviceKind::cpu, map_binary<NumericTypes>([](auto a, auto b) { return a - b; }));
  register_kernel(mul_p, DeviceKind::cpu, map_binary<NumericTypes>([](auto a, auto b) { return a * b; }));
  register_kernel(div_p, DeviceKind::cpu, map_binary<NumericTypes>([](auto a, auto b) {
                    using T = decltype(a);
                    if constexpr (std::is_integral_v<T>) {
                      return b == 0 ? T(0) : T(a / b);  // lax.div on ints truncates; x/0 -> 0, no trap
                    } else {
                      return a / b;
                    }
                  }));
  register_kernel(neg_p, DeviceKind::cpu, map_unary<NumericTypes>([](auto x) { return -x; }));
  register_kernel(sin_p, DeviceKind::cpu, map_unary<FloatTypes>([](auto x) { return std::sin(x); }));
  register_kernel(exp_p, DeviceKind::cpu, map_unary<FloatTypes>([](auto x) { return std::exp(x); }));
  register_kernel(convert_element_type_p, DeviceKind::cpu,
                  [](std::span<const Array> in, std::span<Array> out, const Params&) {
                    dispatch(in[0].dtype(), AllTypes{}, [&](auto s) {
                      using S = decltype(s);
                      dispatch(out[0].dtype(), AllTypes{}, [&](auto d) {
                        using D = decltype(d);
                        const S* x = in[0].data<S>();
                        D* y = out[0].mutable_data<D>();
                        parallel_for(in[0].size(), kElementwiseGrain, [&](int64_t b, int64_t e) {
                          for (int64_t i = b; i < e; ++i) {
                            if constexpr (std::is_same_v<D, bool>) {
                              y[i] = x[i] != S(0);
                            } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
                              // Saturating float->int (C++ leaves out-of-range undefined); NaN -> 0.
                              S v = x[i];
                              if (std::isnan(v)) y[i] = 0;
                              else if (v >= static_cast<S>(std::numeric_limits<D>::max())) y[i] = std::numeric_limits<D>::max();
                              else if (v <= static_cast<S>(std::numeric_limits<D>::min())) y[i] = std::numeric_limits<D>::min();
                              else y[i] = static_cast<D>(v);
                            } else {
                              y[i] = static_cast<D>(x[i]);
                            }
                          }
                        });
                      });
                    });
                  });
}

}  // namespace jx::cpu
