// CUDA C++ for jit programs (see render.h). Each fused kernel becomes one extern "C" __global__
// function whose parameters are the slot pointers it touches (LaunchSpec::params). Values are
// computed at a multi-index, as in the LLVM renderer (backends/llvm/codegen.cpp): loads read
// through the index maps of broadcasts, reshapes, transposes, slices, pads and concatenations,
// so those cost nothing but index arithmetic. Elementwise semantics follow the eager kernels
// (backends/cpu/elementwise.cpp): IEEE floats (no fast math, no FMA contraction: nvrtc.cpp),
// wrapping integers, no traps, saturating float->int conversions, NaN-propagating max/min.
//
// Launch shapes:
//   elementwise       grid-stride loop over the domain, 256 threads per block
//   row reduction     (reduced axes trailing) a thread per output when the reduced extent is tiny,
//                     a group of 8/16/32 lanes per output (warp shuffles) for moderate extents,
//                     a block per output (shuffles, then shared memory across warps) for large ones,
//                     and for a few outputs with very large extents, several blocks per output
//                     whose partial results the last block to finish combines
//   column reduction  (outputs contiguous) 2-D blocks: x over 32 consecutive outputs (coalesced),
//                     y over reduction rows, combined through shared memory
// The reduction order is fixed by the launch shape, so results are deterministic.

#include "backends/cuda/render.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "backends/cuda/nvrtc.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/half.h"
#include "core/log.h"

namespace jx::cudagen {

namespace {

using Idx = std::vector<std::string>;

constexpr int64_t kMaxGrid = 65535;
constexpr int64_t kSharedBudget = 40 * 1024;  // static shared memory per block (48 KiB at most)   // blocks per kernel (grid-stride loops cover the rest)
constexpr int64_t kBlock = 256;       // threads per block of elementwise and most reduction kernels
constexpr int64_t kTinyExtent = 8;    // below: a thread per output
constexpr int64_t kBlockExtent = 1024;  // from here: a block per output
// Split reductions: too few outputs to fill the GPU with a block each (rows: fewer than
// kSplitMaxOutputs; columns: fewer than kSplitMaxTiles tiles of 32) and long reductions (rows:
// kSplitMinExtent; columns: kSplitMinRows) use several blocks per output (tile), each reducing
// at least kSplitChunk (kSplitChunkRows) elements (rows), about kSplitTargetBlocks blocks in all.
constexpr int64_t kSplitMaxOutputs = 256;
constexpr int64_t kSplitMinExtent = int64_t{1} << 16;
constexpr int64_t kSplitChunk = int64_t{1} << 14;
constexpr int64_t kSplitMaxTiles = 64;
constexpr int64_t kSplitMinRows = 4096;
constexpr int64_t kSplitChunkRows = 1024;
constexpr int64_t kSplitTargetBlocks = 1024;
constexpr int64_t kSplitMaxBlocks = 256;  // per output (tile)

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- types ---------------------------------------------------------------------------------------

/// The CUDA types of a dtype: in registers and in memory (bool is a byte in memory).
struct CType {
  std::string reg, mem;
};

CType ctype(DType d) {
  switch (d) {
    case DType::bool_: return {"bool", "unsigned char"};
    case DType::int32: return {"int", "int"};
    case DType::int64: return {"long long", "long long"};
    case DType::uint32: return {"unsigned", "unsigned"};
    case DType::float32: return {"float", "float"};
    case DType::float64: return {"double", "double"};
    // 16-bit floats: their bits in memory, their exact float value in registers.
    case DType::float16:
    case DType::bfloat16: return {"float", "unsigned short"};
    default: break;
  }
  throw BackendError(detail::cat("[jit/cuda] no CUDA type for dtype ", dtype_name(d)));
}

std::string reg(DType d) { return ctype(d).reg; }

int64_t reg_bytes(DType d) {
  const std::string r = reg(d);
  return r == "bool" ? 1 : (r == "double" || r == "long long" ? 8 : 4);
}

// float32 and the 16-bit floats compute in float: single-precision literals and math functions.
bool single(DType d) { return d == DType::float32 || is_half_float(d); }

// The unsigned type of the same width (signed integer arithmetic wraps through it).
std::string unsigned_of(DType d) { return d == DType::int64 ? "unsigned long long" : "unsigned"; }

int bits_of(DType d) { return d == DType::int64 || d == DType::float64 ? 64 : 32; }

// Short type tags for helper names.
std::string tag(DType d) { return dtype_short_name(d); }

// ---- literals ------------------------------------------------------------------------------------

std::string int_lit(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min()) return "(-9223372036854775807LL - 1)";
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return v < 0 ? "(" + std::to_string(v) + "LL)" : std::to_string(v) + "LL";
  }
  if (v == std::numeric_limits<int32_t>::min()) return "(-2147483647 - 1)";
  return v < 0 ? "(" + std::to_string(v) + ")" : std::to_string(v);
}

std::string float_lit(double v, bool single) {
  char buf[64];
  if (std::isnan(v) || std::isinf(v)) {
    if (single) {
      float f = static_cast<float>(v);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      std::snprintf(buf, sizeof(buf), "__uint_as_float(0x%08xu)", bits);
    } else {
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      std::snprintf(buf, sizeof(buf), "__longlong_as_double((long long)0x%016llxULL)", static_cast<unsigned long long>(bits));
    }
    return buf;
  }
  // Shortest form that reads back exactly (the C++ parser rounds correctly).
  for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (single ? std::strtof(buf, nullptr) == static_cast<float>(v) : std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  if (std::signbit(v) && v == 0) s = "-0.0";
  if (single) s += "f";
  return s[0] == '-' ? "(" + s + ")" : s;
}

std::string literal_of(const Array& v) {
  // A literal computed on a GPU (eager work under JX_PLATFORM=cuda) is read through a host copy.
  const Array x = jx::detail::on_gpu(v) ? device_put(v, Device{}) : v;
  switch (x.dtype()) {
    case DType::bool_: return *x.data<bool>() ? "true" : "false";
    case DType::int32: return int_lit(*x.data<int32_t>());
    case DType::uint32: return std::to_string(*x.data<uint32_t>()) + "u";
    case DType::int64: return int_lit(*x.data<int64_t>());
    case DType::float32: return float_lit(*x.data<float>(), true);
    case DType::float64: return float_lit(*x.data<double>(), false);
    case DType::float16: return float_lit(static_cast<float>(*x.data<float16_t>()), true);
    case DType::bfloat16: return float_lit(static_cast<float>(*x.data<bfloat16_t>()), true);
    default: break;
  }
  (void)ctype(x.dtype());  // throws for dtypes without a CUDA type
  return {};
}

std::string inf_lit(DType d, bool negative) {
  const double inf = std::numeric_limits<double>::infinity();
  return float_lit(negative ? -inf : inf, single(d));
}

bool is_simple(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// ---- device helper functions -----------------------------------------------------------------------

/// The helper functions a program uses, each defined once at the top of the source.
class Helpers {
 public:
  std::string use(const std::string& name, const std::function<std::string()>& define) {
    if (!defs_.count(name)) {
      defs_[name] = define();
      order_.push_back(name);
    }
    return name;
  }
  /// The definitions that `code` (or a helper it uses) calls, in the order they were made.
  std::string text(const std::string& code) const {
    std::set<std::string> used;
    auto mentions = [](const std::string& text, const std::string& name) {
      for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
        const size_t end = at + name.size();
        if (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) continue;
        return true;
      }
      return false;
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (auto& n : order_) {
        if (used.count(n)) continue;
        bool needed = mentions(code, n);
        for (auto& u : used) needed = needed || mentions(defs_.at(u), n);
        if (needed) used.insert(n), changed = true;
      }
    }
    std::string s;
    for (auto& n : order_)
      if (used.count(n)) s += defs_.at(n) + "\n";
    return s;
  }

 private:
  std::map<std::string, std::string> defs_;
  std::vector<std::string> order_;
};

const char* kInline = "static __device__ __forceinline__ ";

// NaN-propagating max/min of floats (the first NaN operand wins), as the eager kernels.
std::string fminmax_helper(Helpers& h, bool max, DType d) {
  const std::string t = reg(d);
  return h.use(std::string("jx_") + (max ? "max_" : "min_") + tag(d), [&] {
    const std::string name = std::string("jx_") + (max ? "max_" : "min_") + tag(d);
    return detail::cat(kInline, t, " ", name, "(", t, " a, ", t, " b) { return a != a ? a : (b != b ? b : (",
                       max ? "a < b ? b : a" : "b < a ? b : a", ")); }");
  });
}

// Integer division and remainder without traps: x / 0 = x % 0 = 0, INT_MIN / -1 wraps.
std::string idiv_helper(Helpers& h, bool div, DType d) {
  const std::string t = reg(d), u = unsigned_of(d);
  const std::string name = std::string("jx_") + (div ? "div_" : "rem_") + tag(d);
  return h.use(name, [&] {
    std::string body;
    if (is_signed_integer(d)) {
      body = div ? "if (b == 0) return 0; if (b == -1) return (" + t + ")((" + u + ")0 - (" + u + ")a); return a / b;"
                 : "if (b == 0 || b == -1) return 0; return a % b;";
    } else {
      body = div ? "return b == 0 ? 0 : a / b;" : "return b == 0 ? 0 : a % b;";
    }
    return detail::cat(kInline, t, " ", name, "(", t, " a, ", t, " b) { ", body, " }");
  });
}

// Shifts: amounts read as unsigned; >= the bit width shifts every bit out.
std::string shift_helper(Helpers& h, const std::string& op, DType d) {
  const std::string t = reg(d), u = unsigned_of(d);
  const std::string s = d == DType::int64 ? "long long" : "int";
  const std::string bits = std::to_string(bits_of(d));
  const std::string name = "jx_" + op + "_" + tag(d);
  return h.use(name, [&] {
    std::string body;
    if (op == "shift_left") body = "(" + u + ")b >= " + bits + "u ? (" + t + ")0 : (" + t + ")((" + u + ")a << (" + u + ")b)";
    else if (op == "shift_right_logical") body = "(" + u + ")b >= " + bits + "u ? (" + t + ")0 : (" + t + ")((" + u + ")a >> (" + u + ")b)";
    else body = "(" + u + ")b >= " + bits + "u ? (" + t + ")((" + s + ")a < 0 ? (" + s + ")-1 : (" + s + ")0) : (" + t + ")((" + s + ")a >> (" + u + ")b)";
    return detail::cat(kInline, t, " ", name, "(", t, " a, ", t, " b) { return ", body, "; }");
  });
}

// Saturating float -> integer conversion; NaN -> 0 (C++ leaves out-of-range undefined).
std::string f2i_helper(Helpers& h, DType from, DType to) {
  const std::string f = reg(from), t = reg(to);
  const std::string name = "jx_cvt_" + tag(from) + "_" + tag(to);
  return h.use(name, [&] {
    const bool single = from == DType::float32;
    int64_t hi = 0, lo = 0;
    std::string hi_t, lo_t;
    switch (to) {
      case DType::int32: hi = std::numeric_limits<int32_t>::max(), lo = std::numeric_limits<int32_t>::min(); break;
      case DType::uint32: hi = std::numeric_limits<uint32_t>::max(), lo = 0; break;
      default: hi = std::numeric_limits<int64_t>::max(), lo = std::numeric_limits<int64_t>::min(); break;
    }
    // The bounds as the source float type rounds them (as the eager kernel compares).
    const double hi_f = single ? static_cast<double>(static_cast<float>(hi)) : static_cast<double>(hi);
    const double lo_f = single ? static_cast<double>(static_cast<float>(lo)) : static_cast<double>(lo);
    const std::string hi_v = to == DType::uint32 ? std::to_string(hi) + "u" : int_lit(hi);
    const std::string lo_v = to == DType::uint32 ? "0u" : int_lit(lo);
    return detail::cat(kInline, t, " ", name, "(", f, " v) { if (v != v) return 0; if (v >= ", float_lit(hi_f, single),
                       ") return ", hi_v, "; if (v <= ", float_lit(lo_f, single), ") return ", lo_v, "; return (", t,
                       ")v; }");
  });
}

// 16-bit floats, bit for bit as core/half.h and the LLVM renderer (integer code, no CUDA headers):
// the exact float of the bits, and float -> bits rounded to nearest even (NaN rules included).
std::string half_helper(Helpers& h, const std::string& what, DType d) {
  const bool bf = d == DType::bfloat16;
  const std::string t = bf ? "bf16" : "f16";
  if (what == "to_float") {
    return h.use("jx_" + t + "_to_f32", [&] {
      if (bf) return std::string(kInline) + "float jx_bf16_to_f32(unsigned short b) { return __uint_as_float((unsigned)b << 16); }";
      return std::string(kInline) +
             "float jx_f16_to_f32(unsigned short h) {\n"
             "  const unsigned em = h & 0x7fffu, o = em << 13;\n"
             "  const unsigned sub = __float_as_uint((float)em * 5.9604644775390625e-8f);  // em * 2^-24\n"
             "  unsigned r = em >= 0x7c00u ? o + 0x70000000u : (em >= 0x0400u ? o + 0x38000000u : sub);\n"
             "  r |= (unsigned)(h & 0x8000u) << 16;\n"
             "  return __uint_as_float(r);\n"
             "}";
    });
  }
  if (what == "to_bits") {
    return h.use("jx_f32_to_" + t, [&] {
      if (bf)
        return std::string(kInline) +
               "unsigned short jx_f32_to_bf16(float f) {\n"
               "  const unsigned x = __float_as_uint(f), ax = x & 0x7fffffffu;\n"
               "  if (ax > 0x7f800000u) return (unsigned short)((int)x < 0 ? 0xffc0u : 0x7fc0u);\n"
               "  return (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);\n"
               "}";
      return std::string(kInline) +
             "unsigned short jx_f32_to_f16(float f) {\n"
             "  const unsigned x = __float_as_uint(f), ax = x & 0x7fffffffu;\n"
             "  const unsigned normal = (ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13;\n"
             "  const unsigned sub = __float_as_uint(__uint_as_float(ax) + 0.5f) - 0x3f000000u;\n"
             "  unsigned nan = 0x7c00u | ((ax & 0x7fffffu) >> 13);\n"
             "  if (nan == 0x7c00u) nan = 0x7c01u;\n"
             "  unsigned r = ax < 0x38800000u ? sub : normal;\n"
             "  if (ax >= 0x47800000u) r = 0x7c00u;\n"
             "  if (ax > 0x7f800000u) r = nan;\n"
             "  return (unsigned short)(r | ((x >> 16) & 0x8000u));\n"
             "}";
    });
  }
  // "round": a float rounded to the nearest value of the 16-bit type.
  const std::string to_f = half_helper(h, "to_float", d), to_b = half_helper(h, "to_bits", d);
  return h.use("jx_round_" + t, [&] {
    return detail::cat(kInline, "float jx_round_", t, "(float f) { return ", to_f, "(", to_b, "(f)); }");
  });
}

// double -> float rounded to odd: a later rounding to 16 bits is then the correct rounding of the
// double (24 >= 11 + 2 bits), with no double-rounding error.
std::string double_to_float_odd_helper(Helpers& h) {
  return h.use("jx_f64_to_f32_odd", [] {
    return std::string(kInline) +
           "float jx_f64_to_f32_odd(double d) {\n"
           "  const float f = (float)d;\n"
           "  const double back = (double)f;\n"
           "  const unsigned bits = __float_as_uint(f);\n"
           "  if (!(back < d || back > d) || (bits & 1u)) return f;  // exact (or NaN), or odd already\n"
           "  return __uint_as_float(fabs(back) > fabs(d) ? bits - 1u : bits + 1u);\n"
           "}";
  });
}

// An integer -> float rounded to odd at 24 bits (see double_to_float_odd_helper).
std::string integer_to_float_odd_helper(Helpers& h) {
  return h.use("jx_i_to_f32_odd", [] {
    return std::string(kInline) +
           "float jx_i_to_f32_odd(long long v, bool is_signed) {\n"
           "  const bool neg = is_signed && v < 0;\n"
           "  const unsigned long long a = neg ? 0ull - (unsigned long long)v : (unsigned long long)v;\n"
           "  const int width = 64 - __clzll((long long)a);\n"
           "  const int shift = width > 24 ? width - 24 : 0;\n"
           "  unsigned long long t = a >> shift;\n"
           "  t |= (a & ((1ull << shift) - 1ull)) != 0ull ? 1ull : 0ull;\n"
           "  const float f = (float)t * __uint_as_float((unsigned)(shift + 127) << 23);  // exact\n"
           "  return neg ? -f : f;\n"
           "}";
  });
}

// ---- one kernel ------------------------------------------------------------------------------------

bool is_reduce_node(const jitc::KNode& n) {
  return n.kind == jitc::KNode::Kind::op && n.prim.name().rfind("reduce_", 0) == 0;
}

enum class Strategy { elementwise, thread, group, block, split, columns, column_split };

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::elementwise: return "elementwise, grid-stride";
    case Strategy::thread: return "reduction, a thread per output";
    case Strategy::group: return "reduction, a lane group per output (warp shuffles)";
    case Strategy::block: return "reduction, a block per output (warp shuffles + shared memory)";
    case Strategy::split: return "reduction, several blocks per output (last block combines)";
    case Strategy::columns: return "column reduction, 2-D blocks (outputs along x, rows along y)";
    case Strategy::column_split: return "column reduction, 2-D blocks, several blocks per tile of outputs (last block combines)";
  }
  return "";
}

class KernelRenderer {
 public:
  KernelRenderer(const jitc::Program& prog, const jitc::Kernel& k, Helpers& helpers)
      : prog_(prog), k_(k), h_(helpers) {}

  std::string render(LaunchSpec& spec) {
    std::string fname = prog_.name + "_" + k_.name;
    for (auto& ch : fname)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) ch = '_';
    if (fname.empty() || std::isdigit(static_cast<unsigned char>(fname[0]))) fname = "k_" + fname;
    spec.name = fname;
    collect_params(spec);
    choose_launch(spec);
    wide_ = needs_64bit_indices();
    depth_ = 1;
    // Scalars read by every iteration are loaded once.
    for (size_t i = 0; i < k_.nodes.size(); ++i)
      if (k_.nodes[i].kind == jitc::KNode::Kind::load && k_.nodes[i].aval.shape.empty()) value(static_cast<int>(i), {});
    const std::string hoisted = os_.str();
    os_.str("");
    switch (strategy_) {
      case Strategy::elementwise: emit_elementwise(); break;
      case Strategy::thread:
      case Strategy::group:
      case Strategy::block:
      case Strategy::split: emit_row_like(); break;
      case Strategy::columns:
      case Strategy::column_split: emit_columns(); break;
    }
    std::ostringstream out;
    const unsigned threads = spec.block[0] * spec.block[1] * spec.block[2];
    out << "// " << k_.name << ": domain " << shape_str(k_.domain);
    if (k_.is_reduction()) out << ", reduce axes " << shape_str(k_.reduce_axes);
    out << "; " << strategy_name(strategy_) << "; grid (" << spec.grid[0] << "," << spec.grid[1] << "," << spec.grid[2]
        << "), block (" << spec.block[0] << "," << spec.block[1] << "," << spec.block[2] << ")\n";
    out << globals_;
    out << "extern \"C\" __global__ void __launch_bounds__(" << threads << ") " << fname << "(";
    for (size_t i = 0; i < spec.params.size(); ++i) out << (i ? ", " : "") << param_decl_[i];
    out << ") {\n";
    out << (wide_ ? "  typedef long long ix;\n  typedef unsigned long long ux;\n" : "  typedef int ix;\n  typedef unsigned ux;\n");
    out << shared_ << drop_unused(hoisted + os_.str()) << "}\n";
    return out.str();
  }

 private:
  // ---- parameters and launch shape --------------------------------------------------------------
  int root(int s) const { return prog_.slots[s].kind == jitc::Slot::Kind::alias ? prog_.slots[s].alias_of : s; }

  void collect_params(LaunchSpec& spec) {
    std::vector<int> loads, outs;
    for (auto& n : k_.nodes)
      if (n.kind == jitc::KNode::Kind::load && std::find(loads.begin(), loads.end(), n.slot) == loads.end())
        loads.push_back(n.slot);
    for (auto& o : k_.outputs)
      if (std::find(outs.begin(), outs.end(), o.slot) == outs.end()) outs.push_back(o.slot);
    // Inputs that a donated output of this kernel may share memory with: no __restrict__ on
    // either pointer.
    std::set<int> shared;
    for (int s : outs) {
      for (size_t o = 0; o < prog_.output_slots.size(); ++o) {
        if (prog_.output_slots[o] != s || o >= prog_.donation_candidates.size()) continue;
        for (int a : prog_.donation_candidates[o]) {
          const int in = prog_.input_slots[static_cast<size_t>(a)];
          for (int l : loads)
            if (root(l) == in) shared.insert(l), shared.insert(s);
        }
      }
    }
    for (int s : loads) {
      const CType t = ctype(prog_.slots[s].aval.dtype);
      spec.params.push_back(s);
      param_decl_.push_back("const " + t.mem + "* " + (shared.count(s) ? "" : "__restrict__ ") + "p" + std::to_string(s));
    }
    for (int s : outs) {
      const CType t = ctype(prog_.slots[s].aval.dtype);
      spec.params.push_back(s);
      param_decl_.push_back(t.mem + "* " + (shared.count(s) ? "" : "__restrict__ ") + "p" + std::to_string(s));
    }
  }

  void choose_launch(LaunchSpec& spec) {
    const int64_t nd = static_cast<int64_t>(k_.domain.size());
    out_shape_.clear();
    red_shape_.clear();
    for (int64_t d = 0; d < nd; ++d) {
      if (std::binary_search(k_.reduce_axes.begin(), k_.reduce_axes.end(), d)) red_shape_.push_back(k_.domain[d]);
      else out_shape_.push_back(k_.domain[d]);
    }
    M_ = shape_size(out_shape_);
    R_ = shape_size(red_shape_);
    auto u = [](int64_t v) { return static_cast<unsigned>(v); };
    if (!k_.is_reduction()) {
      strategy_ = Strategy::elementwise;
      const int64_t n = shape_size(k_.domain);
      const int64_t block = std::min<int64_t>(kBlock, std::max<int64_t>(32, ceil_div(n, 32) * 32));
      spec.block = {u(block), 1, 1};
      spec.grid = {u(std::clamp<int64_t>(ceil_div(n, block), 1, kMaxGrid)), 1, 1};
      return;
    }
    for (auto& o : k_.outputs)
      if (is_reduce_node(k_.nodes[o.node]) && std::find(reds_.begin(), reds_.end(), o.node) == reds_.end())
        reds_.push_back(o.node);
    // Reduced axes trailing (rows), or outputs contiguous (columns): a 2-D block when there
    // are enough outputs for a row of 32 threads and enough reduced rows to split.
    const bool rows = k_.row_reduction;
    // Shared memory per reduction and row of 32 threads (blocks combine warps or rows through it).
    int64_t row_bytes = 0;
    for (int r : reds_) row_bytes += 32 * reg_bytes(k_.nodes[r].aval.dtype);
    if (R_ < kTinyExtent) {
      strategy_ = Strategy::thread;
    } else if (!rows && M_ >= 32) {
      strategy_ = Strategy::columns;
    } else if (R_ < kBlockExtent || row_bytes > kSharedBudget) {
      strategy_ = Strategy::group;
    } else if (M_ < kSplitMaxOutputs && R_ >= kSplitMinExtent) {
      strategy_ = Strategy::split;
    } else {
      strategy_ = Strategy::block;
    }
    if (strategy_ == Strategy::columns) {
      // Rows per block: more when there are few tiles of 32 outputs and long columns, fewer when
      // many reductions share the block's memory (none fit: a thread per output).
      rows_ = (ceil_div(M_, 32) < 128 && R_ >= 256) ? 32 : (R_ >= 64 ? 16 : 8);
      while (rows_ > 2 && rows_ * row_bytes > kSharedBudget) rows_ /= 2;
      if (rows_ * row_bytes > kSharedBudget) strategy_ = Strategy::thread;
    }
    switch (strategy_) {
      case Strategy::thread: {
        const int64_t block = std::min<int64_t>(kBlock, std::max<int64_t>(32, ceil_div(M_, 32) * 32));
        spec.block = {u(block), 1, 1};
        spec.grid = {u(std::clamp<int64_t>(ceil_div(M_, block), 1, kMaxGrid)), 1, 1};
        break;
      }
      case Strategy::group: {
        group_ = R_ < 64 ? 8 : (R_ < 256 ? 16 : 32);
        spec.block = {u(kBlock), 1, 1};
        spec.grid = {u(std::clamp<int64_t>(ceil_div(M_, kBlock / group_), 1, kMaxGrid)), 1, 1};
        break;
      }
      case Strategy::block: {
        const int64_t block = R_ >= 16384 ? 512 : 256;
        spec.block = {u(block), 1, 1};
        spec.grid = {u(std::min<int64_t>(M_, kMaxGrid)), 1, 1};
        break;
      }
      case Strategy::split: {
        const int64_t block = 512;
        split_ = std::clamp<int64_t>(std::min(ceil_div(R_, kSplitChunk), ceil_div(kSplitTargetBlocks, M_)), 2,
                                     kSplitMaxBlocks);
        spec.block = {u(block), 1, 1};
        spec.grid = {u(split_), u(M_), 1};
        break;
      }
      case Strategy::columns: {
        const int64_t tiles = ceil_div(M_, 32);
        spec.block = {32, u(rows_), 1};
        spec.grid = {u(std::clamp<int64_t>(tiles, 1, kMaxGrid)), 1, 1};
        // Few tiles and long columns: several blocks per tile along the rows (blockIdx.y).
        if (tiles < kSplitMaxTiles && R_ >= kSplitMinRows) {
          split_ = std::clamp<int64_t>(std::min(ceil_div(R_, kSplitChunkRows), ceil_div(kSplitTargetBlocks, tiles)), 2,
                                       kSplitMaxBlocks);
          spec.grid[1] = u(split_);
          strategy_ = Strategy::column_split;
        }
        break;
      }
      case Strategy::column_split:
      case Strategy::elementwise: break;
    }
  }

  // 32-bit index arithmetic when every size involved (and a grid-stride step past it) fits.
  bool needs_64bit_indices() const {
    int64_t biggest = std::max<int64_t>(shape_size(k_.domain), M_ * R_);
    for (auto& n : k_.nodes) biggest = std::max(biggest, n.aval.size());
    for (auto& n : k_.nodes)
      if (n.kind == jitc::KNode::Kind::load) biggest = std::max(biggest, prog_.slots[n.slot].aval.size());
    for (auto& o : k_.outputs) biggest = std::max(biggest, prog_.slots[o.slot].aval.size());
    // Pads and slices index their operands at offsets up to the operand's extent.
    return biggest >= (int64_t{1} << 31) - (int64_t{1} << 26);
  }

  // Removes the declarations of values nothing reads (indices that unravel computes for every
  // dimension, loads a branch made redundant), until none is left: clean code, no NVRTC warnings.
  static std::string drop_unused(const std::string& body) {
    std::vector<std::string> lines;
    {
      std::istringstream is(body);
      for (std::string l; std::getline(is, l);) lines.push_back(l);
    }
    auto declared = [](const std::string& l) -> std::string {
      const size_t start = l.find_first_not_of(' ');
      if (start == std::string::npos || l.compare(start, 6, "const ") != 0) return {};
      const size_t eq = l.find(" = ");
      if (eq == std::string::npos || l.find(" = ", eq + 3) != std::string::npos) return {};  // one declaration only
      const size_t b = l.rfind(' ', eq - 1);
      return l.substr(b + 1, eq - b - 1);
    };
    auto is_word = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
    for (bool changed = true; changed;) {
      changed = false;
      std::map<std::string, int> uses;
      for (auto& l : lines) {
        for (size_t i = 0; i < l.size();) {
          if (!is_word(l[i])) {
            ++i;
            continue;
          }
          size_t j = i;
          while (j < l.size() && is_word(l[j])) ++j;
          ++uses[l.substr(i, j - i)];
          i = j;
        }
      }
      std::vector<std::string> kept;
      for (auto& l : lines) {
        const std::string name = declared(l);
        if (!name.empty() && uses[name] == 1) {
          changed = true;
          continue;
        }
        kept.push_back(l);
      }
      lines = std::move(kept);
    }
    std::string out;
    for (auto& l : lines) out += l + "\n";
    return out;
  }

  // ---- text ----------------------------------------------------------------------------------------
  void line(const std::string& s) { os_ << std::string(static_cast<size_t>(2 * depth_), ' ') << s << "\n"; }
  void open(const std::string& s) {
    line(s + " {");
    ++depth_;
  }
  void close(const std::string& tail = "") {
    --depth_;
    line("}" + tail);
  }
  std::string fresh(const char* prefix) { return prefix + std::to_string(counter_++); }
  std::string let(const std::string& type, const std::string& expr, const char* prefix = "v") {
    std::string n = fresh(prefix);
    line("const " + type + " " + n + " = " + expr + ";");
    return n;
  }
  std::string ix(const std::string& expr) { return is_simple(expr) ? expr : let("ix", expr, "i"); }
  static std::string c(int64_t v) { return int_lit(v); }

  // Values computed in a C++ block are not visible after it: the memo is restored on the way out.
  struct State {
    std::map<std::pair<int, Idx>, std::string> memo;
    std::map<std::pair<Idx, Shape>, std::string> lin;  // known linear indices
  };
  template <class F>
  void scoped(F&& body) {
    State saved = st_;
    body();
    st_ = std::move(saved);
  }

  // ---- indices -------------------------------------------------------------------------------------
  std::string linear(const Idx& idx, const Shape& shape) {
    if (auto it = st_.lin.find({idx, shape}); it != st_.lin.end()) {
      if (!is_simple(it->second)) it->second = ix(it->second);
      return it->second;
    }
    auto st = strides_of(shape);
    std::vector<std::string> terms;
    for (size_t d = 0; d < idx.size(); ++d) {
      if (shape[d] == 1 || idx[d] == "0") continue;
      terms.push_back(st[d] == 1 ? idx[d] : idx[d] + " * " + c(st[d]));
    }
    if (terms.empty()) return "0";
    std::string e = terms[0];
    for (size_t i = 1; i < terms.size(); ++i) e += " + " + terms[i];
    std::string v = ix(e);
    st_.lin[{idx, shape}] = v;
    return v;
  }

  Idx unravel(const std::string& lin, const Shape& shape) {
    Idx idx(shape.size());
    auto st = strides_of(shape);
    bool leading = true;  // every dimension so far has extent 1: no modulo needed
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) {
        idx[d] = "0";
        continue;
      }
      std::string q = st[d] == 1 ? lin : "(ux)" + lin + " / " + c(st[d]);
      if (!leading) q = "(" + (st[d] == 1 ? "(ux)" + lin : q) + ") % " + c(shape[d]);
      idx[d] = is_simple(q) ? q : let("ix", "(ix)(" + q + ")", "i");
      leading = false;
    }
    st_.lin[{idx, shape}] = lin;
    return idx;
  }

  // Index of the domain from output and reduction multi-indices (reduced axes interleaved).
  Idx compose(const Idx& oi, const Idx& ri) const {
    Idx idx;
    size_t ko = 0, kr = 0;
    for (int64_t d = 0; d < static_cast<int64_t>(k_.domain.size()); ++d)
      idx.push_back(std::binary_search(k_.reduce_axes.begin(), k_.reduce_axes.end(), d) ? ri[kr++] : oi[ko++]);
    return idx;
  }

  // ---- memory --------------------------------------------------------------------------------------
  std::string load_at(int slot, DType dtype, const std::string& lin) {
    std::string e = "p" + std::to_string(slot) + "[" + lin + "]";
    if (dtype == DType::bool_) e = "(" + e + " != 0)";
    if (is_half_float(dtype)) e = half_helper(h_, "to_float", dtype) + "(" + e + ")";
    return let(reg(dtype), e);
  }

  void store_at(int slot, DType dtype, const std::string& lin, const std::string& v) {
    std::string e = v;
    if (dtype == DType::bool_) e = "(unsigned char)" + v;
    if (is_half_float(dtype)) e = half_helper(h_, "to_bits", dtype) + "(" + v + ")";
    line("p" + std::to_string(slot) + "[" + lin + "] = " + e + ";");
  }

  // Domain-shaped outputs at `idx` (and, for elementwise kernels, every output).
  void store_outputs(const Idx& idx, bool domain_only) {
    for (auto& o : k_.outputs) {
      const auto& n = k_.nodes[o.node];
      if (domain_only && is_reduce_node(n)) continue;
      std::string v = value(o.node, idx);
      store_at(o.slot, n.aval.dtype, linear(idx, n.aval.shape), v);
    }
  }

  // ---- values --------------------------------------------------------------------------------------
  std::string value(int id, const Idx& idx) {
    auto key = std::make_pair(id, idx);
    if (auto it = st_.memo.find(key); it != st_.memo.end()) return it->second;
    std::string v = compute(id, idx);
    st_.memo[key] = v;
    return v;
  }

  Idx operand_idx(const Shape& xs, const Idx& idx) { return xs.empty() ? Idx{} : idx; }

  // A scalar index operand (dynamic_slice, dynamic_update_slice start), clamped to [0, hi].
  std::string start_index(int node, int64_t hi) {
    std::string s = value(node, {});
    std::string w = let("long long", "(long long)" + s, "s");
    return let("ix", "(ix)(" + w + " < 0 ? 0LL : (" + w + " > " + std::to_string(hi) + "LL ? " + std::to_string(hi) +
                         "LL : " + w + "))",
               "i");
  }

  std::string compute(int id, const Idx& idx) {
    const jitc::KNode& n = k_.nodes[id];
    switch (n.kind) {
      case jitc::KNode::Kind::load: return load_at(n.slot, n.aval.dtype, linear(idx, n.aval.shape));
      case jitc::KNode::Kind::literal: return literal_of(n.literal);
      case jitc::KNode::Kind::op: break;
    }
    const std::string& op = n.prim.name();
    auto operand_shape = [&](size_t i) -> const Shape& { return k_.nodes[n.operands[i]].aval.shape; };
    if (op == "broadcast_in_dim") {
      const auto& dims = n.params.get_ints("broadcast_dimensions");
      const Shape& xs = operand_shape(0);
      Idx xi(xs.size());
      for (size_t j = 0; j < xs.size(); ++j) xi[j] = xs[j] == 1 ? "0" : idx[static_cast<size_t>(dims[j])];
      return value(n.operands[0], xi);
    }
    if (op == "reshape" || op == "squeeze") {
      const Shape& xs = operand_shape(0);
      if (xs == n.aval.shape) return value(n.operands[0], idx);
      std::string lin = linear(idx, n.aval.shape);
      const auto& x = k_.nodes[n.operands[0]];
      if (x.kind == jitc::KNode::Kind::load) return load_at(x.slot, x.aval.dtype, lin);
      return value(n.operands[0], unravel(lin, xs));
    }
    if (op == "transpose") {
      const auto& perm = n.params.get_ints("permutation");
      Idx xi(idx.size());
      for (size_t i = 0; i < perm.size(); ++i) xi[static_cast<size_t>(perm[i])] = idx[i];
      return value(n.operands[0], xi);
    }
    if (op == "rev") {
      Idx xi = idx;
      for (auto d : n.params.get_ints("dimensions")) {
        const size_t du = static_cast<size_t>(d);
        xi[du] = n.aval.shape[du] == 1 ? "0" : ix(c(n.aval.shape[du] - 1) + " - " + idx[du]);
      }
      return value(n.operands[0], xi);
    }
    if (op == "slice") {
      const auto& start = n.params.get_ints("start_indices");
      const auto& strides = n.params.get_ints("strides");
      Idx xi(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        const int64_t s = strides.empty() ? 1 : strides[d];
        std::string v = s == 1 || idx[d] == "0" ? idx[d] : idx[d] + " * " + c(s);
        if (start[d] != 0) v = idx[d] == "0" ? c(start[d]) : v + " + " + c(start[d]);
        xi[d] = ix(v);
      }
      return value(n.operands[0], xi);
    }
    if (op == "dynamic_slice") {
      // Start indices are scalars read at run time, clamped as the eager kernel does.
      const auto& sizes = n.params.get_ints("slice_sizes");
      const Shape& xs = operand_shape(0);
      Idx xi(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        std::string s = start_index(n.operands[1 + d], xs[d] - sizes[d]);
        xi[d] = idx[d] == "0" ? s : ix(idx[d] + " + " + s);
      }
      return value(n.operands[0], xi);
    }
    if (op == "dynamic_update_slice") {
      // Inside the update's window: the update; elsewhere the operand.
      const Shape& xs = operand_shape(0);
      const Shape& us = operand_shape(1);
      std::vector<std::string> conds;
      Idx ui(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        std::string s = start_index(n.operands[2 + d], xs[d] - us[d]);
        std::string rel = ix(idx[d] + " - " + s);
        conds.push_back(rel + " >= 0 && " + rel + " < " + c(us[d]));
        ui[d] = us[d] == 1 ? "0" : rel;
      }
      std::string inside = conds.empty() ? "true" : let("bool", join(conds, " && "), "b");
      std::string v = fresh("v");
      line(reg(n.aval.dtype) + " " + v + ";");
      open("if (" + inside + ")");
      scoped([&] { line(v + " = " + value(n.operands[1], ui) + ";"); });
      close();
      open("else");
      scoped([&] { line(v + " = " + value(n.operands[0], idx) + ";"); });
      close();
      return v;
    }
    if (op == "pad") {
      // Output index i reads operand (i - lo) / (interior + 1) where that is a whole in-range index.
      const auto& cfg = n.params.get_ints("padding_config");
      const Shape& xs = operand_shape(0);
      std::vector<std::string> conds;
      Idx xi(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        const int64_t lo = cfg[3 * d], step = cfg[3 * d + 2] + 1;
        std::string j = lo == 0 ? idx[d] : ix(idx[d] + " - " + c(lo));
        std::string q = step == 1 ? j : ix(j + " / " + c(step));
        std::string cond = j + " >= 0";
        if (step != 1) cond += " && " + j + " % " + c(step) + " == 0";
        cond += " && " + q + " < " + c(xs[d]);
        conds.push_back(cond);
        xi[d] = xs[d] == 1 ? "0" : q;
      }
      std::string inside = conds.empty() ? "true" : let("bool", join(conds, " && "), "b");
      std::string v = fresh("v");
      line(reg(n.aval.dtype) + " " + v + " = " + value(n.operands[1], {}) + ";");
      open("if (" + inside + ")");
      scoped([&] { line(v + " = " + value(n.operands[0], xi) + ";"); });
      close();
      return v;
    }
    if (op == "concatenate") {
      // The operand whose range holds idx[dim], read at its local index.
      const size_t dim = static_cast<size_t>(n.params.get_int("dimension"));
      std::string v = fresh("v");
      line(reg(n.aval.dtype) + " " + v + ";");
      int64_t offset = 0;
      for (size_t k = 0; k < n.operands.size(); ++k) {
        const int64_t size = operand_shape(k)[dim];
        const bool last = k + 1 == n.operands.size();
        const std::string head = k == 0 ? "if (" : (last ? "else" : "else if (");
        open(last ? head : head + idx[dim] + " < " + c(offset + size) + ")");
        scoped([&] {
          Idx xi = idx;
          xi[dim] = size == 1 ? "0" : (offset == 0 ? idx[dim] : ix(idx[dim] + " - " + c(offset)));
          line(v + " = " + value(n.operands[k], xi) + ";");
        });
        close();
        offset += size;
      }
      return v;
    }
    if (op == "iota") {
      const std::string i = idx[static_cast<size_t>(n.params.get_int("dimension"))];
      return let(reg(n.aval.dtype), convert(i, DType::int64, n.aval.dtype));
    }
    std::vector<std::string> a;
    std::vector<DType> ad;
    for (int o : n.operands) {
      a.push_back(value(o, operand_idx(k_.nodes[o].aval.shape, idx)));
      ad.push_back(k_.nodes[o].aval.dtype);
    }
    std::string v = elementwise(n, a, ad);
    // A 16-bit float result is rounded where it is produced, as the eager kernels (ops that only
    // select, negate or convert their operands' values are exact already).
    if (is_half_float(n.aval.dtype) && op != "select_n" && op != "stop_gradient" && op != "convert_element_type" &&
        op != "bitcast_convert_type" && op != "neg" && op != "abs" && op != "max" && op != "min")
      v = let("float", half_helper(h_, "round", n.aval.dtype) + "(" + v + ")");
    return v;
  }

  static std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string s;
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? sep : "") + parts[i];
    return s;
  }

  std::string convert(const std::string& x, DType from, DType to) {
    if (from == to) return x;
    if (is_half_float(from)) from = DType::float32;  // a 16-bit float register holds its exact float value
    if (is_half_float(to)) {
      // One rounding from the source value, as the eager conversion (core/half.h).
      const std::string round = half_helper(h_, "round", to);
      if (from == DType::float32) return round + "(" + x + ")";
      if (from == DType::float64) return round + "(" + double_to_float_odd_helper(h_) + "(" + x + "))";
      if (from == DType::bool_) return "(float)" + x;
      return round + "(" + integer_to_float_odd_helper(h_) + "((long long)" + x + ", " +
             (is_signed_integer(from) ? "true" : "false") + "))";
    }
    const std::string t = reg(to);
    if (to == DType::bool_) return "(" + x + " != 0)";
    if (is_floating(from) && !is_floating(to) && from != DType::bool_) return f2i_helper(h_, from, to) + "(" + x + ")";
    return "(" + t + ")" + x;
  }

  std::string math(const std::string& name, DType d, const std::vector<std::string>& a) {
    std::string f = name + (single(d) ? "f" : "");
    return f + "(" + join(a, ", ") + ")";
  }

  std::string elementwise(const jitc::KNode& n, const std::vector<std::string>& a, const std::vector<DType>& ad) {
    const std::string& op = n.prim.name();
    const DType d = ad.empty() ? n.aval.dtype : ad[0];
    const DType rd = n.aval.dtype;
    const std::string rt = reg(rd);
    auto out = [&](const std::string& e) { return let(rt, e); };
    const bool fl = is_floating(d);
    const bool sg = is_signed_integer(d);
    const std::string t = reg(d);
    const std::string u = unsigned_of(d);
    auto wrap2 = [&](const char* o) {
      // Signed integers wrap through the unsigned type (no undefined overflow).
      if (sg) return "(" + t + ")((" + u + ")" + a[0] + " " + o + " (" + u + ")" + a[1] + ")";
      return a[0] + " " + o + " " + a[1];
    };
    auto one = [&] { return fl ? float_lit(1.0, single(d)) : std::string("1"); };
    if (op == "add") return out(wrap2("+"));
    if (op == "sub") return out(wrap2("-"));
    if (op == "mul") return out(wrap2("*"));
    if (op == "div" || op == "rem") {
      if (fl) return out(op == "div" ? a[0] + " / " + a[1] : math("fmod", d, a));
      if (d == DType::bool_) return out(op == "div" ? a[0] : "false");
      return out(idiv_helper(h_, op == "div", d) + "(" + a[0] + ", " + a[1] + ")");
    }
    if (op == "neg") {
      if (fl) return out("-" + a[0]);
      return out("(" + t + ")((" + u + ")0 - (" + u + ")" + a[0] + ")");
    }
    if (op == "max" || op == "min") return out(minmax(op == "max", d, a[0], a[1]));
    if (op == "pow" || op == "atan2") return out(math(op, d, a));
    if (op == "exp" || op == "log" || op == "log1p" || op == "expm1" || op == "sin" || op == "cos" || op == "tan" ||
        op == "tanh" || op == "sinh" || op == "cosh" || op == "asin" || op == "acos" || op == "atan" || op == "erf" ||
        op == "sqrt" || op == "floor" || op == "ceil")
      return out(math(op, d, a));
    if (op == "logistic") {
      // 1 / (1 + exp(-x)): exp overflows to inf for very negative x, giving exactly 0.
      return out(one() + " / (" + one() + " + " + math("exp", d, {"-" + a[0]}) + ")");
    }
    if (op == "rsqrt") return out(one() + " / " + math("sqrt", d, a));
    if (op == "square") {
      if (fl) return out(a[0] + " * " + a[0]);
      if (sg) return out("(" + t + ")((" + u + ")" + a[0] + " * (" + u + ")" + a[0] + ")");
      return out(a[0] + " * " + a[0]);
    }
    if (op == "abs") {
      if (fl) return out(math("fabs", d, a));
      if (!sg) return out(a[0]);
      return out(a[0] + " < 0 ? (" + t + ")((" + u + ")0 - (" + u + ")" + a[0] + ") : " + a[0]);
    }
    if (op == "sign") {
      // NaN and signed zeros come back unchanged.
      if (d == DType::bool_) return out(a[0]);
      if (!fl && !sg) return out(a[0] + " > 0u ? 1u : 0u");
      const std::string p1 = fl ? one() : "1", m1 = fl ? "-" + one() : "-1", zero = fl ? "0" : "0";
      return out(a[0] + " > " + zero + " ? (" + t + ")" + p1 + " : (" + a[0] + " < " + zero + " ? (" + t + ")(" + m1 +
                 ") : " + a[0] + ")");
    }
    if (op == "round") {
      // Half to even (nearbyint under the default rounding mode), or half away from zero.
      return out(math(n.params.get_int("rounding_method") == 1 ? "rint" : "round", d, a));
    }
    if (op == "is_finite") return out(math("fabs", d, a) + " < " + inf_lit(d, false));
    if (op == "integer_pow") return integer_pow(n, a[0], d);
    if (op == "eq" || op == "ne" || op == "lt" || op == "le" || op == "gt" || op == "ge") {
      static const std::map<std::string, std::string> sym = {{"eq", "=="}, {"ne", "!="}, {"lt", "<"},
                                                             {"le", "<="}, {"gt", ">"},  {"ge", ">="}};
      return out(a[0] + " " + sym.at(op) + " " + a[1]);
    }
    if (op == "and" || op == "or" || op == "xor") {
      if (d == DType::bool_) return out(a[0] + (op == "and" ? " && " : op == "or" ? " || " : " != ") + a[1]);
      return out(a[0] + (op == "and" ? " & " : op == "or" ? " | " : " ^ ") + a[1]);
    }
    if (op == "not") return out(d == DType::bool_ ? "!" + a[0] : "~" + a[0]);
    if (op == "shift_left" || op == "shift_right_logical" || op == "shift_right_arithmetic")
      return out(shift_helper(h_, op, d) + "(" + a[0] + ", " + a[1] + ")");
    if (op == "select_n") {
      const size_t ncases = a.size() - 1;
      if (ad[0] == DType::bool_) return out(a[0] + " ? " + a[ncases >= 2 ? 2 : 1] + " : " + a[1]);
      // An int32 predicate picks case clamp(p, 0, n - 1).
      std::string r = a[1];
      for (size_t k = 1; k < ncases; ++k) r = "(" + a[0] + " >= " + std::to_string(k) + " ? " + a[k + 1] + " : " + r + ")";
      return out(r);
    }
    if (op == "convert_element_type") return out(convert(a[0], ad[0], rd));
    if (op == "bitcast_convert_type") {
      const DType from = ad[0];
      if (from == rd) return a[0];
      // float16 <-> bfloat16 (the only 16-bit types): the same 16 bits read as the other format.
      if (is_half_float(from) && is_half_float(rd))
        return out(half_helper(h_, "to_float", rd) + "(" + half_helper(h_, "to_bits", from) + "(" + a[0] + "))");
      if (from == DType::float32 && rd == DType::int32) return out("__float_as_int(" + a[0] + ")");
      if (from == DType::float32 && rd == DType::uint32) return out("__float_as_uint(" + a[0] + ")");
      if (from == DType::int32 && rd == DType::float32) return out("__int_as_float(" + a[0] + ")");
      if (from == DType::uint32 && rd == DType::float32) return out("__uint_as_float(" + a[0] + ")");
      if (from == DType::float64 && rd == DType::int64) return out("__double_as_longlong(" + a[0] + ")");
      if (from == DType::int64 && rd == DType::float64) return out("__longlong_as_double(" + a[0] + ")");
      if (is_integer(from) && is_integer(rd) && bits_of(from) == bits_of(rd)) return out("(" + rt + ")" + a[0]);
      throw BackendError(detail::cat("[jit/cuda] cannot render bitcast_convert_type from ", dtype_name(from), " to ",
                                     dtype_name(rd)));
    }
    if (op == "stop_gradient") return a[0];
    throw BackendError("[jit/cuda] cannot render primitive " + op);
  }

  std::string minmax(bool max, DType d, const std::string& a, const std::string& b) {
    if (is_floating(d)) return fminmax_helper(h_, max, d) + "(" + a + ", " + b + ")";
    return max ? a + " < " + b + " ? " + b + " : " + a : b + " < " + a + " ? " + b + " : " + a;
  }

  // x^y by repeated squaring, in the eager kernel's order of operations.
  std::string integer_pow(const jitc::KNode& n, const std::string& x, DType d) {
    const int64_t y = n.params.get_int("y");
    const bool fl = is_floating(d);
    const std::string t = reg(d), u = unsigned_of(d);
    auto mul = [&](const std::string& p, const std::string& q) {
      if (fl) return p + " * " + q;
      if (is_signed_integer(d)) return "(" + t + ")((" + u + ")" + p + " * (" + u + ")" + q + ")";
      return p + " * " + q;
    };
    uint64_t e = y < 0 ? static_cast<uint64_t>(-(y + 1)) + 1 : static_cast<uint64_t>(y);
    std::string acc = fl ? float_lit(1.0, single(d)) : std::string("(" + t + ")1");
    std::string base = x;
    bool first = true;
    while (e) {
      if (e & 1) {
        acc = let(t, first && !fl ? base : mul(acc, base));
        first = false;
      }
      e >>= 1;
      if (e) base = let(t, mul(base, base));
    }
    if (fl && y < 0) acc = let(t, float_lit(1.0, single(d)) + " / " + acc);
    if (!is_simple(acc)) acc = let(t, acc);
    return acc;
  }

  // ---- elementwise kernels -------------------------------------------------------------------------
  void emit_elementwise() {
    const int64_t n = shape_size(k_.domain);
    open("for (ix lin = (ix)blockIdx.x * (ix)blockDim.x + (ix)threadIdx.x; lin < " + c(n) +
         "; lin += (ix)gridDim.x * (ix)blockDim.x)");
    scoped([&] {
      Idx idx = unravel("lin", k_.domain);
      store_outputs(idx, false);
    });
    close();
  }

  // ---- reductions ----------------------------------------------------------------------------------
  std::string acc_name(int node) const {
    return "acc" + std::to_string(std::find(reds_.begin(), reds_.end(), node) - reds_.begin());
  }

  std::string reduce_init(const jitc::KNode& n) {
    const std::string& op = n.prim.name();
    const DType d = n.aval.dtype;
    const bool fl = is_floating(d);
    const bool sgl = single(d);
    if (op == "reduce_sum") return fl ? float_lit(0.0, sgl) : (d == DType::bool_ ? "false" : "(" + reg(d) + ")0");
    if (op == "reduce_prod") return fl ? float_lit(1.0, sgl) : (d == DType::bool_ ? "true" : "(" + reg(d) + ")1");
    if (op == "reduce_and") return d == DType::bool_ ? "true" : "(" + reg(d) + ")~(" + unsigned_of(d) + ")0";
    if (op == "reduce_or") return d == DType::bool_ ? "false" : "(" + reg(d) + ")0";
    const bool mx = op == "reduce_max";
    if (op != "reduce_max" && op != "reduce_min") throw BackendError("[jit/cuda] cannot render primitive " + op);
    if (fl) return inf_lit(d, mx);
    if (d == DType::bool_) return mx ? "false" : "true";
    if (d == DType::uint32) return mx ? "0u" : "4294967295u";
    if (d == DType::int32) return mx ? int_lit(std::numeric_limits<int32_t>::min()) : int_lit(std::numeric_limits<int32_t>::max());
    return mx ? int_lit(std::numeric_limits<int64_t>::min()) : int_lit(std::numeric_limits<int64_t>::max());
  }

  std::string combine(const jitc::KNode& n, const std::string& acc, const std::string& v) {
    const std::string& op = n.prim.name();
    const DType d = n.aval.dtype;
    const bool fl = is_floating(d);
    const std::string t = reg(d), u = unsigned_of(d);
    if (op == "reduce_sum" || op == "reduce_prod") {
      const char* o = op == "reduce_sum" ? " + " : " * ";
      if (fl || d == DType::uint32) return acc + o + v;
      // bool: i1 arithmetic, as the LLVM renderer (sum = xor, product = and).
      if (d == DType::bool_) return op == "reduce_sum" ? acc + " != " + v : acc + " && " + v;
      return "(" + t + ")((" + u + ")" + acc + o + "(" + u + ")" + v + ")";
    }
    if (op == "reduce_and") return d == DType::bool_ ? acc + " && " + v : acc + " & " + v;
    if (op == "reduce_or") return d == DType::bool_ ? acc + " || " + v : acc + " | " + v;
    return minmax(op == "reduce_max", d, acc, v);
  }

  std::string shfl_down(DType d, const std::string& v, const std::string& off) {
    if (d == DType::bool_) return "(__shfl_down_sync(0xffffffffu, (int)" + v + ", " + off + ") != 0)";
    return "__shfl_down_sync(0xffffffffu, " + v + ", " + off + ")";
  }

  void init_accs() {
    for (int r : reds_) line(reg(k_.nodes[r].aval.dtype) + " " + acc_name(r) + " = " + reduce_init(k_.nodes[r]) + ";");
  }

  // Folds the values at `idx` into the accumulators and stores the domain-shaped outputs.
  void accumulate(const Idx& idx) {
    for (int r : reds_) {
      const auto& n = k_.nodes[r];
      std::string v = value(n.operands[0], idx);
      line(acc_name(r) + " = " + combine(n, acc_name(r), v) + ";");
    }
    store_outputs(idx, true);
  }

  // Tree over the lanes of groups of `width` lanes (the group's first lane gets the result);
  // every lane of the warp takes part.
  void shuffle_reduce(int64_t width) {
    if (width <= 1) return;
    line("#pragma unroll");
    open("for (int off = " + std::to_string(width / 2) + "; off > 0; off >>= 1)");
    for (int r : reds_) {
      // The shuffle on its own line: every lane must execute it (never inside a ?: branch).
      const auto& n = k_.nodes[r];
      std::string t = let(reg(n.aval.dtype), shfl_down(n.aval.dtype, acc_name(r), "off"), "t");
      line(acc_name(r) + " = " + combine(n, acc_name(r), t) + ";");
    }
    close();
  }

  void store_accs(const std::string& o) {
    for (auto& out : k_.outputs)
      if (is_reduce_node(k_.nodes[out.node])) store_at(out.slot, k_.nodes[out.node].aval.dtype, o, acc_name(out.node));
  }

  // The loop over reduced elements r = start, start + step, ... < R, at output multi-index oi.
  void reduce_loop(const Idx& oi, const std::string& o, const std::string& start, const std::string& step) {
    if (R_ < kTinyExtent && start == "0" && step == "1") line("#pragma unroll");
    open("for (ix r = " + start + "; r < " + c(R_) + "; r += " + step + ")");
    scoped([&] {
      Idx ri = unravel("r", red_shape_);
      Idx idx = compose(oi, ri);
      // Reduced axes trailing: the domain's linear index is o * R + r.
      if (k_.row_reduction) st_.lin[{idx, k_.domain}] = R_ == 1 ? o : (o == "0" ? "r" : o + " * " + c(R_) + " + r");
      accumulate(idx);
    });
    close();
  }

  // Shared memory for combining across warps or rows, one array per reduction.
  std::string shared_array(int r, int64_t size) {
    const std::string name = "sh" + acc_name(r).substr(3);
    shared_ += "  __shared__ " + reg(k_.nodes[r].aval.dtype) + " " + name + "[" + std::to_string(size) + "];\n";
    return name;
  }

  void emit_row_like() {
    switch (strategy_) {
      case Strategy::thread: {
        open("for (ix o = (ix)blockIdx.x * (ix)blockDim.x + (ix)threadIdx.x; o < " + c(M_) +
             "; o += (ix)gridDim.x * (ix)blockDim.x)");
        scoped([&] {
          Idx oi = unravel("o", out_shape_);
          init_accs();
          reduce_loop(oi, "o", "0", "1");
          store_accs("o");
        });
        close();
        break;
      }
      case Strategy::group: {
        // Groups of G lanes per output; the loop runs over warps so that every lane of a warp
        // takes part in the shuffles (lanes past the last output add the identity).
        const int64_t per_warp = 32 / group_;
        line("const ix lane = (ix)(threadIdx.x & 31u);");
        line("const ix sub = lane % " + c(group_) + ";");
        line("const ix warp = ((ix)blockIdx.x * (ix)blockDim.x + (ix)threadIdx.x) >> 5;");
        line("const ix nwarps = ((ix)gridDim.x * (ix)blockDim.x) >> 5;");
        open("for (ix ob = warp * " + c(per_warp) + "; ob < " + c(M_) + "; ob += nwarps * " + c(per_warp) + ")");
        scoped([&] {
          line("const ix o = ob + lane / " + c(group_) + ";");
          init_accs();
          open("if (o < " + c(M_) + ")");
          scoped([&] {
            Idx oi = unravel("o", out_shape_);
            reduce_loop(oi, "o", "sub", c(group_));
          });
          close();
          shuffle_reduce(group_);
          open("if (o < " + c(M_) + " && sub == 0)");
          store_accs("o");
          close();
        });
        close();
        break;
      }
      case Strategy::block: {
        std::vector<std::string> sh;
        for (int r : reds_) sh.push_back(shared_array(r, 32));
        line("const int lane = (int)(threadIdx.x & 31u), wid = (int)(threadIdx.x >> 5);");
        open("for (ix o = (ix)blockIdx.x; o < " + c(M_) + "; o += (ix)gridDim.x)");
        scoped([&] {
          init_accs();
          scoped([&] {
            Idx oi = unravel("o", out_shape_);
            reduce_loop(oi, "o", "(ix)threadIdx.x", "(ix)blockDim.x");
          });
          block_combine(sh, [&] { store_accs("o"); });
        });
        close();
        break;
      }
      case Strategy::split: emit_split(); break;
      default: break;
    }
  }

  // Reduces the accumulators across the block (warp shuffles, then shared memory across warps,
  // then the first warp); `finish` runs on thread 0 with the block's results in the accumulators.
  template <class F>
  void block_combine(const std::vector<std::string>& sh, F&& finish) {
    shuffle_reduce(32);
    open("if (lane == 0)");
    for (size_t i = 0; i < reds_.size(); ++i) line(sh[i] + "[wid] = " + acc_name(reds_[i]) + ";");
    close();
    line("__syncthreads();");
    open("if (wid == 0)");
    for (size_t i = 0; i < reds_.size(); ++i)
      line(acc_name(reds_[i]) + " = lane < (int)(blockDim.x >> 5) ? " + sh[i] + "[lane] : " +
           reduce_init(k_.nodes[reds_[i]]) + ";");
    shuffle_reduce(32);
    open("if (lane == 0)");
    finish();
    close();
    close();
    line("__syncthreads();");
  }

  // Several blocks per output (blockIdx.y): each reduces an interleaved share of the reduced
  // elements into a partial result in module-global scratch; the last block of an output to
  // finish (a counter, also in module-global scratch and reset by that block) combines the
  // partials in a fixed order. The kernel must not run concurrently with itself.
  void emit_split() {
    std::vector<std::string> sh, partials;
    for (int r : reds_) sh.push_back(shared_array(r, 32));
    const std::string base = spec_name_safe();
    for (size_t i = 0; i < reds_.size(); ++i) {
      partials.push_back(base + "_part" + std::to_string(i));
      globals_ += "__device__ " + reg(k_.nodes[reds_[i]].aval.dtype) + " " + partials.back() + "[" +
                  std::to_string(M_ * split_) + "];\n";
    }
    const std::string counter = base + "_count";
    globals_ += "__device__ unsigned " + counter + "[" + std::to_string(M_) + "];\n";
    shared_ += "  __shared__ bool last_block;\n";
    line("const int lane = (int)(threadIdx.x & 31u), wid = (int)(threadIdx.x >> 5);");
    line("const ix o = (ix)blockIdx.y;");
    init_accs();
    scoped([&] {
      Idx oi = unravel("o", out_shape_);
      reduce_loop(oi, "o", "(ix)blockIdx.x * (ix)blockDim.x + (ix)threadIdx.x", "(ix)gridDim.x * (ix)blockDim.x");
    });
    block_combine(sh, [&] {
      for (size_t i = 0; i < reds_.size(); ++i)
        line(partials[i] + "[o * " + c(split_) + " + (ix)blockIdx.x] = " + acc_name(reds_[i]) + ";");
      line("__threadfence();");
      line("last_block = atomicAdd(&" + counter + "[o], 1u) == " + std::to_string(split_ - 1) + "u;");
    });
    open("if (last_block)");
    // Partials written by other blocks: read through L2 (__ldcg), not a stale L1 line.
    line("__threadfence();");
    init_accs();
    open("for (ix s = (ix)threadIdx.x; s < " + c(split_) + "; s += (ix)blockDim.x)");
    for (size_t i = 0; i < reds_.size(); ++i) {
      const auto& n = k_.nodes[reds_[i]];
      std::string p = "&" + partials[i] + "[o * " + c(split_) + " + s]";
      std::string v = let(reg(n.aval.dtype), n.aval.dtype == DType::bool_ ? "*(volatile bool*)(" + p + ")" : "__ldcg(" + p + ")", "t");
      line(acc_name(reds_[i]) + " = " + combine(n, acc_name(reds_[i]), v) + ";");
    }
    close();
    block_combine(sh, [&] {
      store_accs("o");
      line(counter + "[o] = 0u;");
    });
    close();
  }

  std::string spec_name_safe() const {
    std::string s = prog_.name + "_" + k_.name;
    for (auto& ch : s)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) ch = '_';
    return "jx_" + s;
  }

  // Outputs contiguous: threadIdx.x runs along 32 consecutive outputs (coalesced reads of each
  // reduced row), threadIdx.y over the reduced rows; rows combine through shared memory. Split
  // (blockIdx.y): each block reduces an interleaved share of the rows into partial results in
  // module-global scratch, and the last block of a tile to finish combines them in a fixed order.
  void emit_columns() {
    const int64_t bx = 32, by = rows_;
    const bool split = strategy_ == Strategy::column_split;
    std::vector<std::string> sh, partials;
    for (int r : reds_) sh.push_back(shared_array(r, bx * by));
    const std::string base = spec_name_safe(), counter = base + "_count";
    if (split) {
      for (size_t i = 0; i < reds_.size(); ++i) {
        partials.push_back(base + "_part" + std::to_string(i));
        globals_ += "__device__ " + reg(k_.nodes[reds_[i]].aval.dtype) + " " + partials.back() + "[" +
                    std::to_string(split_ * M_) + "];\n";
      }
      globals_ += "__device__ unsigned " + counter + "[" + std::to_string(ceil_div(M_, bx)) + "];\n";
      shared_ += "  __shared__ bool last_block;\n";
    }
    line("const ix tx = (ix)threadIdx.x, ty = (ix)threadIdx.y;");
    open("for (ix ob = (ix)blockIdx.x * " + c(bx) + "; ob < " + c(M_) + "; ob += (ix)gridDim.x * " + c(bx) + ")");
    scoped([&] {
      line("const ix o = ob + tx;");
      init_accs();
      open("if (o < " + c(M_) + ")");
      scoped([&] {
        Idx oi = unravel("o", out_shape_);
        if (split) reduce_loop(oi, "o", "(ix)blockIdx.y * " + c(by) + " + ty", "(ix)gridDim.y * " + c(by));
        else reduce_loop(oi, "o", "ty", c(by));
      });
      close();
      column_tree(sh);
      if (!split) {
        store_column(sh);
        line("__syncthreads();");
        return;
      }
      open("if (ty == 0 && o < " + c(M_) + ")");
      for (size_t i = 0; i < reds_.size(); ++i) line(partials[i] + "[(ix)blockIdx.y * " + c(M_) + " + o] = " + sh[i] + "[tx];");
      line("__threadfence();");
      close();
      line("__syncthreads();");
      open("if (tx == 0 && ty == 0)");
      line("last_block = atomicAdd(&" + counter + "[ob / " + c(bx) + "], 1u) == " + std::to_string(split_ - 1) + "u;");
      close();
      line("__syncthreads();");
      open("if (last_block)");
      // Partials written by other blocks: read through L2 (__ldcg), not a stale L1 line.
      line("__threadfence();");
      init_accs();
      open("if (o < " + c(M_) + ")");
      open("for (ix s = ty; s < " + c(split_) + "; s += " + c(by) + ")");
      for (size_t i = 0; i < reds_.size(); ++i) {
        const auto& n = k_.nodes[reds_[i]];
        const std::string p = "&" + partials[i] + "[s * " + c(M_) + " + o]";
        std::string v = let(reg(n.aval.dtype), n.aval.dtype == DType::bool_ ? "*(volatile bool*)(" + p + ")" : "__ldcg(" + p + ")", "t");
        line(acc_name(reds_[i]) + " = " + combine(n, acc_name(reds_[i]), v) + ";");
      }
      close();
      close();
      column_tree(sh);
      store_column(sh);
      open("if (tx == 0 && ty == 0)");
      line(counter + "[ob / " + c(bx) + "] = 0u;");
      close();
      close();
      line("__syncthreads();");
    });
    close();
  }

  // The accumulators of the block's rows combined down the y axis: the result for output tx is
  // in sh[tx].
  void column_tree(const std::vector<std::string>& sh) {
    const int64_t bx = 32, by = rows_;
    for (size_t i = 0; i < reds_.size(); ++i) line(sh[i] + "[ty * " + c(bx) + " + tx] = " + acc_name(reds_[i]) + ";");
    line("__syncthreads();");
    for (int64_t s = by / 2; s > 0; s /= 2) {
      open("if (ty < " + c(s) + ")");
      for (size_t i = 0; i < reds_.size(); ++i) {
        const std::string here = sh[i] + "[ty * " + c(bx) + " + tx]";
        const std::string there = sh[i] + "[(ty + " + c(s) + ") * " + c(bx) + " + tx]";
        line(here + " = " + combine(k_.nodes[reds_[i]], here, there) + ";");
      }
      close();
      line("__syncthreads();");
    }
  }

  void store_column(const std::vector<std::string>& sh) {
    open("if (ty == 0 && o < " + c(M_) + ")");
    for (auto& out : k_.outputs) {
      if (!is_reduce_node(k_.nodes[out.node])) continue;
      const size_t i = static_cast<size_t>(std::find(reds_.begin(), reds_.end(), out.node) - reds_.begin());
      store_at(out.slot, k_.nodes[out.node].aval.dtype, "o", sh[i] + "[tx]");
    }
    close();
  }

  const jitc::Program& prog_;
  const jitc::Kernel& k_;
  Helpers& h_;
  std::ostringstream os_;
  std::string shared_, globals_;
  std::vector<std::string> param_decl_;
  int depth_ = 1;
  int counter_ = 0;
  bool wide_ = false;
  State st_;
  Strategy strategy_ = Strategy::elementwise;
  Shape out_shape_, red_shape_;
  int64_t M_ = 1, R_ = 1;
  int64_t group_ = 32, rows_ = 8, split_ = 1;
  std::vector<int> reds_;  // reduce nodes that are outputs, in output order
};

}  // namespace

RenderedProgram render_program(const jitc::Program& program) {
  Helpers helpers;
  std::string kernels;
  RenderedProgram out;
  for (auto& k : program.kernels) {
    LaunchSpec spec;
    kernels += KernelRenderer(program, k, helpers).render(spec) + "\n";
    out.kernels.push_back(std::move(spec));
  }
  const std::string defs = helpers.text(kernels);
  // IEEE division by a literal zero (x / 0.0f = +-inf or NaN) is intended: no warning for it.
  out.source = "// jx program " + program.name + ": " + std::to_string(program.kernels.size()) +
               " kernels (CUDA C++ rendered by backends/cuda/render.cpp)\n#pragma nv_diag_suppress 39\n\n" + defs +
               (defs.empty() ? "" : "\n") + kernels;
  detail::logger("cuda")->debug("CUDA C++ of program {}:\n{}", program.name, out.source);
  return out;
}

// ---- JX_CUDA_CODEGEN_CHECK -----------------------------------------------------------------------

namespace {

struct CheckStats {
  int sm = 0;
  std::atomic<int64_t> programs{0}, kernels{0}, compiled{0}, warned{0};
  std::atomic<int64_t> nvrtc_us{0};
  ~CheckStats() {
    if (!sm) return;
    std::fprintf(stderr,
                 "[jit/cuda] JX_CUDA_CODEGEN_CHECK=%d: %lld programs checked, %lld kernels rendered, %lld sources "
                 "compiled by NVRTC for sm_%d (%.1f s; the rest were cache hits), %lld with NVRTC warnings\n",
                 sm, static_cast<long long>(programs.load()), static_cast<long long>(kernels.load()),
                 static_cast<long long>(compiled.load()), sm, static_cast<double>(nvrtc_us.load()) / 1e6,
                 static_cast<long long>(warned.load()));
  }
};

CheckStats& check_stats() {
  static CheckStats s;
  return s;
}

}  // namespace

int codegen_check_sm() {
  static const int sm = [] {
    const char* v = std::getenv("JX_CUDA_CODEGEN_CHECK");
    if (!v || !*v) return 0;
    char* end = nullptr;
    const long s = std::strtol(v, &end, 10);
    if (*end || s <= 0)
      throw ValueError(detail::cat("[jit/cuda] JX_CUDA_CODEGEN_CHECK should be a compute capability such as 90, got '",
                                   v, "'"));
    return static_cast<int>(s);
  }();
  return sm;
}

void codegen_check(const jitc::Program& program) {
  const int sm = codegen_check_sm();
  if (!sm) return;
  CheckStats& stats = check_stats();
  stats.sm = sm;
  if (!nvrtc_available())
    throw BackendError("[jit/cuda] JX_CUDA_CODEGEN_CHECK is set but NVRTC is not available: " +
                       nvrtc_unavailable_reason());
  ++stats.programs;
  if (program.kernels.empty()) return;
  RenderedProgram r = render_program(program);
  stats.kernels += static_cast<int64_t>(r.kernels.size());
  Cubin c = compile_cubin(r.source, program.name, sm);
  if (!c.cache_hit) {
    ++stats.compiled;
    stats.nvrtc_us += static_cast<int64_t>(c.compile_ms * 1000);
    if (!c.log.empty()) {
      ++stats.warned;
      detail::logger("cuda")->warn("NVRTC warnings for program {}:\n{}\n{}", program.name, c.log, r.source);
    }
  }
}

}  // namespace jx::cudagen
