#pragma once
// The conv primitives: conv_general_dilated (as XLA's ConvGeneralDilated). Public ops:
// lax::conv_general_dilated and jx::conv (NHWC / HWIO). Kernels: backends/cpu/conv.cpp.

#include <string>
#include <vector>

#include "core/primitive.h"

namespace jx {

/// conv_general_dilated[window_strides, padding, lhs_dilation, rhs_dilation, lhs_spec, rhs_spec,
/// out_spec, feature_group_count]: the specs are layout strings ("NHWC", "HWIO", "NHWC"); the
/// spatial dims are ordered as they appear in rhs_spec (as JAX). Operands of one numeric dtype.
extern const Primitive conv_general_dilated_p;

namespace detail {

/// Where the batch/feature and spatial dims sit in each operand, from the three spec strings.
struct ConvLayout {
  int64_t lhs_n = 0, lhs_c = 0, rhs_o = 0, rhs_i = 0, out_n = 0, out_c = 0;
  std::vector<int64_t> lhs_spatial, rhs_spatial, out_spatial;  // in rhs_spec's spatial order
};
/// Parses the specs for operands of rank `rank`; throws ValueError for malformed specs.
ConvLayout conv_layout(const std::string& lhs_spec, const std::string& rhs_spec, const std::string& out_spec,
                       int64_t rank);

/// JAX's padtype_to_pads: "SAME" pads so out = ceil(in / stride) (extra on the high side),
/// "VALID" pads nothing. `op` names the caller in errors.
std::vector<std::pair<int64_t, int64_t>> padtype_to_pads(const char* op, const std::vector<int64_t>& in_shape,
                                                         const std::vector<int64_t>& window,
                                                         const std::vector<int64_t>& strides,
                                                         const std::string& mode);

}  // namespace detail
}  // namespace jx
