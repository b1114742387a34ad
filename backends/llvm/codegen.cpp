// LLVM IR for jit programs (see codegen.h). Each kernel walks its work items in rows: the
// innermost dimension is a simple counted loop (what LLVM's loop vectorizer wants); the row's
// outer indices come from one division per row. A value is emitted at a multi-index; loads
// compute addresses through the index maps of broadcasts, reshapes, transposes, slices and
// reversals, so those cost nothing at run time. Elementwise semantics follow the eager kernels
// (backends/cpu/elementwise.cpp) exactly: IEEE floats, wrapping integers, no traps. float16 and
// bfloat16 are 16-bit in memory and float in registers; every computed 16-bit float value is
// rounded to nearest even where its primitive produces it (as the eager kernels, which compute
// each primitive in float32 and round). The conversions are integer IR, not fptrunc/fpext to
// half/bfloat (those may lower to libgcc calls the JIT would have to resolve).

#include "backends/llvm/codegen.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "backends/llvm/module.h"
#include "backends/llvm/target.h"
#include "backends/llvm/vmath.h"
#include "core/device.h"
#include "core/errors.h"

namespace jx::llvmgen {

namespace {

using llvm::IRBuilder;
using llvm::Type;
using llvm::Value;
using Idx = std::vector<Value*>;

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

class KernelEmitter {
 public:
  KernelEmitter(llvm::Module& m, const jitc::Program& prog, const jitc::Kernel& k)
      : m_(m), ctx_(m.getContext()), prog_(prog), k_(k), b_(ctx_) {}

  llvm::Function* emit() {
    auto* ptr = llvm::PointerType::getUnqual(ctx_);
    auto* i64 = Type::getInt64Ty(ctx_);
    auto* fty = llvm::FunctionType::get(Type::getVoidTy(ctx_), {ptr, i64, i64}, false);
    fn_ = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, prog_.name + "_" + k_.name, m_);
    fn_->addFnAttr(llvm::Attribute::NoUnwind);
    const HostTarget& t = host_target();
    fn_->addFnAttr("target-cpu", t.cpu);
    fn_->addFnAttr("target-features", t.features);
    bufs_ = fn_->getArg(0);
    Value* begin = fn_->getArg(1);
    Value* end = fn_->getArg(2);
    auto* entry = llvm::BasicBlock::Create(ctx_, "entry", fn_);
    b_.SetInsertPoint(entry);
    // Buffer pointers, loaded once.
    for (auto& n : k_.nodes)
      if (n.kind == jitc::KNode::Kind::load) base(n.slot);
    for (auto& o : k_.outputs) base(o.slot);
    if (!k_.is_reduction()) {
      emit_rows(k_.domain, begin, end, [&](const Idx& idx) { store_outputs(idx, false); });
    } else if (k_.row_reduction) {
      emit_row_reduction(begin, end);
    } else {
      emit_column_reduction(begin, end);
    }
    b_.CreateRetVoid();
    return fn_;
  }

 private:
  // ---- types and buffers --------------------------------------------------------------------
  Type* reg_type(DType d) {
    switch (d) {
      case DType::bool_: return Type::getInt1Ty(ctx_);
      case DType::int32:
      case DType::uint32: return Type::getInt32Ty(ctx_);
      case DType::int64: return Type::getInt64Ty(ctx_);
      case DType::float32:
      case DType::float16:
      case DType::bfloat16: return Type::getFloatTy(ctx_);
      case DType::float64: return Type::getDoubleTy(ctx_);
    }
    return nullptr;
  }
  Type* mem_type(DType d) {
    if (is_half_float(d)) return Type::getInt16Ty(ctx_);
    return d == DType::bool_ ? Type::getInt8Ty(ctx_) : reg_type(d);
  }
  Value* i64c(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }

  Value* base(int slot) {
    auto it = base_.find(slot);
    if (it != base_.end()) return it->second;
    auto* ptr = llvm::PointerType::getUnqual(ctx_);
    Value* p = b_.CreateLoad(ptr, b_.CreateConstInBoundsGEP1_64(ptr, bufs_, static_cast<uint64_t>(slot)),
                             "buf" + std::to_string(slot));
    base_[slot] = p;
    return p;
  }

  Value* linear(const Idx& idx, const Shape& shape) {
    auto st = strides_of(shape);
    Value* lin = nullptr;
    for (size_t d = 0; d < idx.size(); ++d) {
      if (shape[d] == 1) continue;
      Value* term = st[d] == 1 ? idx[d] : b_.CreateMul(idx[d], i64c(st[d]), "", true, true);
      lin = lin ? b_.CreateAdd(lin, term, "", true, true) : term;
    }
    return lin ? lin : i64c(0);
  }

  Idx unravel(Value* lin, const Shape& shape) {
    Idx idx(shape.size());
    auto st = strides_of(shape);
    for (size_t d = 0; d < shape.size(); ++d) {
      Value* q = st[d] == 1 ? lin : b_.CreateUDiv(lin, i64c(st[d]));
      idx[d] = d == 0 ? q : (shape[d] == 1 ? i64c(0) : b_.CreateURem(q, i64c(shape[d])));
      if (shape[d] == 1) idx[d] = i64c(0);
    }
    return idx;
  }

  Value* load_at(int slot, DType dtype, Value* lin) {
    Type* mt = mem_type(dtype);
    Value* v = b_.CreateLoad(mt, b_.CreateInBoundsGEP(mt, base(slot), lin));
    if (dtype == DType::bool_) v = b_.CreateICmpNE(v, b_.getInt8(0));
    if (is_half_float(dtype)) v = half_to_float(v, dtype);
    return v;
  }

  void store_at(int slot, DType dtype, Value* lin, Value* v) {
    Type* mt = mem_type(dtype);
    if (dtype == DType::bool_) v = b_.CreateZExt(v, mt);
    if (is_half_float(dtype)) v = float_to_half_bits(v, dtype);
    b_.CreateStore(v, b_.CreateInBoundsGEP(mt, base(slot), lin));
  }

  // ---- 16-bit floats -----------------------------------------------------------------------------
  Value* i32c(uint32_t v) { return b_.getInt32(v); }

  // The exact float of 16 bits (i16) of `dtype`; as detail::float16_bits_to_float (core/half.h).
  Value* half_to_float(Value* bits16, DType dtype) {
    Type* f32 = Type::getFloatTy(ctx_);
    Value* h = b_.CreateZExt(bits16, b_.getInt32Ty());
    if (dtype == DType::bfloat16) return b_.CreateBitCast(b_.CreateShl(h, 16), f32);
    Value* em = b_.CreateAnd(h, i32c(0x7fff));
    Value* o = b_.CreateShl(em, 13);
    Value* sub = b_.CreateBitCast(b_.CreateFMul(b_.CreateUIToFP(em, f32), llvm::ConstantFP::get(f32, 5.9604644775390625e-8)),
                                  b_.getInt32Ty());  // em * 2^-24
    Value* r = b_.CreateSelect(b_.CreateICmpUGE(em, i32c(0x7c00)), b_.CreateAdd(o, i32c(0x70000000)),
                               b_.CreateSelect(b_.CreateICmpUGE(em, i32c(0x0400)), b_.CreateAdd(o, i32c(0x38000000)), sub));
    r = b_.CreateOr(r, b_.CreateShl(b_.CreateAnd(h, i32c(0x8000)), 16));
    return b_.CreateBitCast(r, f32);
  }

  // float -> 16 bits (i16) of `dtype`, round to nearest even; as detail::float_to_float16_bits and
  // float_to_bfloat16_bits (core/half.h), NaN rules included.
  Value* float_to_half_bits(Value* f, DType dtype) {
    Value* x = b_.CreateBitCast(f, b_.getInt32Ty());
    Value* ax = b_.CreateAnd(x, i32c(0x7fffffff));
    Value* is_nan = b_.CreateICmpUGT(ax, i32c(0x7f800000));
    Value* r;
    if (dtype == DType::bfloat16) {
      Value* odd = b_.CreateAnd(b_.CreateLShr(x, 16), i32c(1));
      Value* rounded = b_.CreateLShr(b_.CreateAdd(b_.CreateAdd(x, i32c(0x7fff)), odd), 16);
      Value* nan = b_.CreateSelect(b_.CreateICmpSLT(x, i32c(0)), i32c(0xffc0), i32c(0x7fc0));
      r = b_.CreateSelect(is_nan, nan, rounded);
    } else {
      Value* odd = b_.CreateAnd(b_.CreateLShr(ax, 13), i32c(1));
      Value* normal = b_.CreateLShr(b_.CreateAdd(b_.CreateAdd(ax, i32c(0xc8000fff)), odd), 13);
      Type* f32 = Type::getFloatTy(ctx_);
      Value* sum = b_.CreateFAdd(b_.CreateBitCast(ax, f32), llvm::ConstantFP::get(f32, 0.5));
      Value* sub = b_.CreateSub(b_.CreateBitCast(sum, b_.getInt32Ty()), i32c(0x3f000000));
      Value* nan = b_.CreateOr(i32c(0x7c00), b_.CreateLShr(b_.CreateAnd(ax, i32c(0x7fffff)), 13));
      nan = b_.CreateSelect(b_.CreateICmpEQ(nan, i32c(0x7c00)), i32c(0x7c01), nan);
      r = b_.CreateSelect(b_.CreateICmpULT(ax, i32c(0x38800000)), sub, normal);
      r = b_.CreateSelect(b_.CreateICmpUGE(ax, i32c(0x47800000)), i32c(0x7c00), r);
      r = b_.CreateSelect(is_nan, nan, r);
      r = b_.CreateOr(r, b_.CreateAnd(b_.CreateLShr(x, 16), i32c(0x8000)));
    }
    return b_.CreateTrunc(r, b_.getInt16Ty());
  }

  // A float rounded to the nearest `dtype` value (the float holding it exactly).
  Value* round_half(Value* f, DType dtype) { return half_to_float(float_to_half_bits(f, dtype), dtype); }

  // double -> float rounded to odd: a later rounding to 16 bits is then the correct rounding of
  // the double (24 >= 11 + 2 bits), with no double-rounding error.
  Value* double_to_float_odd(Value* d) {
    Type* f32 = Type::getFloatTy(ctx_);
    Value* f = b_.CreateFPTrunc(d, f32);
    Value* back = b_.CreateFPExt(f, d->getType());
    Value* inexact = b_.CreateFCmpONE(back, d);
    Value* bits = b_.CreateBitCast(f, b_.getInt32Ty());
    Value* even = b_.CreateICmpEQ(b_.CreateAnd(bits, i32c(1)), i32c(0));
    Value* too_big = b_.CreateFCmpOGT(b_.CreateIntrinsic(llvm::Intrinsic::fabs, {d->getType()}, {back}),
                                      b_.CreateIntrinsic(llvm::Intrinsic::fabs, {d->getType()}, {d}));
    // The odd neighbour on the other side of d (sign-magnitude: -1 shrinks the magnitude).
    Value* adjusted = b_.CreateSelect(too_big, b_.CreateSub(bits, i32c(1)), b_.CreateAdd(bits, i32c(1)));
    return b_.CreateBitCast(b_.CreateSelect(b_.CreateAnd(inexact, even), adjusted, bits), f32);
  }

  // An integer of dtype `from` -> float rounded to odd at 24 bits (see double_to_float_odd).
  Value* integer_to_float_odd(Value* x, DType from) {
    Type* f32 = Type::getFloatTy(ctx_);
    Type* i64 = b_.getInt64Ty();
    const bool sg = is_signed_integer(from);
    Value* v = sg ? b_.CreateSExtOrTrunc(x, i64) : b_.CreateZExtOrTrunc(x, i64);
    Value* neg = sg ? b_.CreateICmpSLT(v, i64c(0)) : b_.getInt1(false);
    Value* a = b_.CreateSelect(neg, b_.CreateSub(i64c(0), v), v);  // |v| as unsigned (INT64_MIN too)
    Value* width = b_.CreateSub(i64c(64), b_.CreateIntrinsic(llvm::Intrinsic::ctlz, {i64}, {a, b_.getInt1(false)}));
    Value* shift = b_.CreateSelect(b_.CreateICmpSGT(width, i64c(24)), b_.CreateSub(width, i64c(24)), i64c(0));
    Value* t = b_.CreateLShr(a, shift);
    Value* lost = b_.CreateAnd(a, b_.CreateSub(b_.CreateShl(i64c(1), shift), i64c(1)));
    t = b_.CreateOr(t, b_.CreateZExt(b_.CreateICmpNE(lost, i64c(0)), i64));
    Value* scale = b_.CreateBitCast(b_.CreateTrunc(b_.CreateShl(b_.CreateAdd(shift, i64c(127)), 23), b_.getInt32Ty()), f32);
    Value* f = b_.CreateFMul(b_.CreateUIToFP(t, f32), scale);  // exact: t < 2^24, scale = 2^shift
    return b_.CreateSelect(neg, b_.CreateFNeg(f), f);
  }

  // ---- loops --------------------------------------------------------------------------------
  // for (iv = lo; iv < hi; ++iv) body(iv); hi > lo is not assumed.
  template <class Body>
  void counted_loop(Value* lo, Value* hi, const char* name, Body&& body) {
    auto* pre = b_.GetInsertBlock();
    auto* loop = llvm::BasicBlock::Create(ctx_, std::string(name) + ".body", fn_);
    auto* exit = llvm::BasicBlock::Create(ctx_, std::string(name) + ".exit", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(lo, hi), loop, exit);
    b_.SetInsertPoint(loop);
    auto* iv = b_.CreatePHI(b_.getInt64Ty(), 2, name);
    iv->addIncoming(lo, pre);
    body(static_cast<Value*>(iv));
    Value* next = b_.CreateAdd(iv, i64c(1), "", true, true);
    iv->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpSLT(next, hi), loop, exit);
    b_.SetInsertPoint(exit);
  }

  // Visits the elements [begin, end) of `shape` (row-major) in rows: body(multi-index).
  template <class Body>
  void emit_rows(const Shape& shape, Value* begin, Value* end, Body&& body) {
    const int64_t nd = static_cast<int64_t>(shape.size());
    const int64_t inner = nd ? shape.back() : 1;
    Shape outer_shape(shape.begin(), shape.end() - (nd ? 1 : 0));
    auto* pre = b_.GetInsertBlock();
    auto* row = llvm::BasicBlock::Create(ctx_, "row", fn_);
    auto* done = llvm::BasicBlock::Create(ctx_, "rows.done", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(begin, end), row, done);
    b_.SetInsertPoint(row);
    auto* pos = b_.CreatePHI(b_.getInt64Ty(), 2, "pos");
    pos->addIncoming(begin, pre);
    Value* r = inner == 1 ? static_cast<Value*>(pos) : b_.CreateUDiv(pos, i64c(inner));
    Value* j0 = inner == 1 ? i64c(0) : b_.CreateURem(pos, i64c(inner));
    Value* left = b_.CreateSub(end, pos);
    Value* room = b_.CreateSub(i64c(inner), j0);
    Value* len = b_.CreateSelect(b_.CreateICmpSLT(left, room), left, room);
    Value* j1 = b_.CreateAdd(j0, len);
    Idx outer = unravel(r, outer_shape);
    if (nd == 0) {
      memo_.clear();
      body(Idx{});
    } else {
      counted_loop(j0, j1, "j", [&](Value* j) {
        Idx idx = outer;
        idx.push_back(shape.back() == 1 ? i64c(0) : j);
        memo_.clear();
        body(idx);
      });
    }
    Value* next = b_.CreateAdd(pos, len);
    pos->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpSLT(next, end), row, done);
    b_.SetInsertPoint(done);
    memo_.clear();
  }

  // Nested loops over `dims` (each 0..shape[d]): body(indices), innermost = last.
  template <class Body>
  void nested(const std::vector<int64_t>& extents, size_t level, Idx& ivs, Body&& body) {
    if (level == extents.size()) {
      memo_.clear();
      body(ivs);
      return;
    }
    if (extents[level] == 1) {
      ivs.push_back(i64c(0));
      nested(extents, level + 1, ivs, body);
      ivs.pop_back();
      return;
    }
    counted_loop(i64c(0), i64c(extents[level]), "r", [&](Value* iv) {
      ivs.push_back(iv);
      nested(extents, level + 1, ivs, body);
      ivs.pop_back();
    });
  }

  // ---- reductions -----------------------------------------------------------------------------
  bool is_reduce_node(int n) const {
    const auto& node = k_.nodes[n];
    return node.kind == jitc::KNode::Kind::op && node.prim.name().rfind("reduce_", 0) == 0;
  }

  Value* reduce_init(const jitc::KNode& n) {
    const std::string& op = n.prim.name();
    DType d = n.aval.dtype;
    Type* t = reg_type(d);
    const bool fl = is_floating(d);
    if (op == "reduce_sum") return fl ? llvm::ConstantFP::get(t, 0.0) : llvm::ConstantInt::get(t, 0);
    if (op == "reduce_prod") return fl ? llvm::ConstantFP::get(t, 1.0) : llvm::ConstantInt::get(t, 1);
    if (op == "reduce_and") return llvm::ConstantInt::getAllOnesValue(t);
    if (op == "reduce_or") return llvm::ConstantInt::get(t, 0);
    const bool mx = op == "reduce_max";
    if (fl) return llvm::ConstantFP::getInfinity(t, mx);
    if (d == DType::bool_) return b_.getInt1(!mx);
    if (d == DType::uint32) return mx ? llvm::ConstantInt::get(t, 0) : llvm::ConstantInt::getAllOnesValue(t);
    return mx ? llvm::ConstantInt::get(t, llvm::APInt::getSignedMinValue(t->getIntegerBitWidth()))
              : llvm::ConstantInt::get(t, llvm::APInt::getSignedMaxValue(t->getIntegerBitWidth()));
  }

  Value* reduce_combine(const jitc::KNode& n, Value* acc, Value* v) {
    const std::string& op = n.prim.name();
    DType d = n.aval.dtype;
    const bool fl = is_floating(d);
    if (op == "reduce_sum") {
      if (!fl) return b_.CreateAdd(acc, v);
      auto* r = b_.CreateFAdd(acc, v);
      // Summation order is not part of the contract (as in XLA): let the vectorizer reassociate.
      if (auto* inst = llvm::dyn_cast<llvm::Instruction>(r)) inst->setHasAllowReassoc(true);
      return r;
    }
    if (op == "reduce_prod") {
      if (!fl) return b_.CreateMul(acc, v);
      auto* r = b_.CreateFMul(acc, v);
      if (auto* inst = llvm::dyn_cast<llvm::Instruction>(r)) inst->setHasAllowReassoc(true);
      return r;
    }
    if (op == "reduce_and") return b_.CreateAnd(acc, v);
    if (op == "reduce_or") return b_.CreateOr(acc, v);
    return minmax(op == "reduce_max", d, acc, v);
  }

  void emit_row_reduction(Value* begin, Value* end) {
    const int64_t nd = static_cast<int64_t>(k_.domain.size());
    const int64_t na = static_cast<int64_t>(k_.reduce_axes.size());
    Shape out_shape(k_.domain.begin(), k_.domain.end() - na);
    std::vector<int64_t> red(k_.domain.end() - na, k_.domain.end());
    (void)nd;
    // Accumulators live in allocas (promoted to registers by mem2reg).
    std::map<int, llvm::AllocaInst*> acc;
    {
      llvm::IRBuilder<> eb(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
      for (auto& o : k_.outputs)
        if (is_reduce_node(o.node) && !acc.count(o.node))
          acc[o.node] = eb.CreateAlloca(reg_type(k_.nodes[o.node].aval.dtype));
    }
    counted_loop(begin, end, "o", [&](Value* o) {
      Idx out_idx = unravel(o, out_shape);
      for (auto& [node, a] : acc) b_.CreateStore(reduce_init(k_.nodes[node]), a);
      Idx ivs;
      nested(red, 0, ivs, [&](const Idx& r) {
        Idx idx = out_idx;
        idx.insert(idx.end(), r.begin(), r.end());
        for (auto& [node, a] : acc) {
          const auto& n = k_.nodes[node];
          Value* v = value(n.operands[0], idx);
          b_.CreateStore(reduce_combine(n, b_.CreateLoad(a->getAllocatedType(), a), v), a);
        }
        store_outputs(idx, true);
      });
      for (auto& out : k_.outputs)
        if (is_reduce_node(out.node))
          store_at(out.slot, k_.nodes[out.node].aval.dtype, o,
                   b_.CreateLoad(acc[out.node]->getAllocatedType(), acc[out.node]));
    });
  }

  void emit_column_reduction(Value* begin, Value* end) {
    const int64_t nd = static_cast<int64_t>(k_.domain.size());
    Shape out_shape;
    std::vector<int64_t> red;
    for (int64_t d = 0; d < nd; ++d) {
      if (std::binary_search(k_.reduce_axes.begin(), k_.reduce_axes.end(), d)) red.push_back(k_.domain[d]);
      else out_shape.push_back(k_.domain[d]);
    }
    // Initialize this chunk of every reduced output, then accumulate in memory with the
    // reduced axes outermost (the inner loop runs along contiguous outputs).
    counted_loop(begin, end, "init", [&](Value* o) {
      for (auto& out : k_.outputs)
        if (is_reduce_node(out.node)) store_at(out.slot, k_.nodes[out.node].aval.dtype, o, reduce_init(k_.nodes[out.node]));
    });
    Idx ivs;
    nested(red, 0, ivs, [&](const Idx& r) {
      Idx rr = r;
      emit_rows(out_shape, begin, end, [&](const Idx& oi) {
        Idx idx;
        size_t ko = 0, kr = 0;
        for (int64_t d = 0; d < nd; ++d)
          idx.push_back(std::binary_search(k_.reduce_axes.begin(), k_.reduce_axes.end(), d) ? rr[kr++] : oi[ko++]);
        Value* lin = linear(oi, out_shape);
        for (auto& out : k_.outputs) {
          if (!is_reduce_node(out.node)) continue;
          const auto& n = k_.nodes[out.node];
          Value* v = value(n.operands[0], idx);
          Value* a = load_at(out.slot, n.aval.dtype, lin);
          store_at(out.slot, n.aval.dtype, lin, reduce_combine(n, a, v));
        }
        store_outputs(idx, true);
      });
    });
  }

  // Domain-shaped outputs at `idx` (and, for elementwise kernels, every output).
  void store_outputs(const Idx& idx, bool domain_only) {
    for (auto& o : k_.outputs) {
      if (domain_only && is_reduce_node(o.node)) continue;
      const auto& n = k_.nodes[o.node];
      store_at(o.slot, n.aval.dtype, linear(idx, n.aval.shape), value(o.node, idx));
    }
  }

  // ---- values ---------------------------------------------------------------------------------
  Value* value(int id, const Idx& idx) {
    auto key = std::make_pair(id, idx);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    Value* v = compute(id, idx);
    memo_[key] = v;
    return v;
  }

  // The index of operand `x` (of shape xs) read by elementwise node at idx: scalars at [].
  Idx operand_idx(const Shape& xs, const Idx& idx) { return xs.empty() ? Idx{} : idx; }

  Value* compute(int id, const Idx& idx) {
    const jitc::KNode& n = k_.nodes[id];
    switch (n.kind) {
      case jitc::KNode::Kind::load: return load_at(n.slot, n.aval.dtype, linear(idx, n.aval.shape));
      case jitc::KNode::Kind::literal: return literal(n.literal);
      case jitc::KNode::Kind::op: break;
    }
    const std::string& op = n.prim.name();
    auto operand_shape = [&](int i) -> const Shape& { return k_.nodes[n.operands[i]].aval.shape; };
    if (op == "broadcast_in_dim") {
      const auto& dims = n.params.get_ints("broadcast_dimensions");
      const Shape& xs = operand_shape(0);
      Idx xi(xs.size());
      for (size_t j = 0; j < xs.size(); ++j) xi[j] = xs[j] == 1 ? i64c(0) : idx[dims[j]];
      return value(n.operands[0], xi);
    }
    if (op == "reshape" || op == "squeeze") {
      const Shape& xs = operand_shape(0);
      if (xs == n.aval.shape) return value(n.operands[0], idx);
      Value* lin = linear(idx, n.aval.shape);
      const auto& x = k_.nodes[n.operands[0]];
      if (x.kind == jitc::KNode::Kind::load) return load_at(x.slot, x.aval.dtype, lin);
      return value(n.operands[0], unravel(lin, xs));
    }
    if (op == "transpose") {
      const auto& perm = n.params.get_ints("permutation");
      Idx xi(idx.size());
      for (size_t i = 0; i < perm.size(); ++i) xi[perm[i]] = idx[i];
      return value(n.operands[0], xi);
    }
    if (op == "rev") {
      Idx xi = idx;
      for (auto d : n.params.get_ints("dimensions")) xi[d] = b_.CreateSub(i64c(n.aval.shape[d] - 1), idx[d]);
      return value(n.operands[0], xi);
    }
    if (op == "slice") {
      const auto& start = n.params.get_ints("start_indices");
      const auto& strides = n.params.get_ints("strides");
      Idx xi(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        int64_t s = strides.empty() ? 1 : strides[d];
        Value* v = s == 1 ? idx[d] : b_.CreateMul(idx[d], i64c(s));
        xi[d] = start[d] == 0 ? v : b_.CreateAdd(v, i64c(start[d]));
      }
      return value(n.operands[0], xi);
    }
    if (op == "dynamic_slice") {
      // Start indices are scalars read at run time, clamped as the eager kernel does.
      const auto& sizes = n.params.get_ints("slice_sizes");
      const Shape& xs = operand_shape(0);
      Idx xi(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        const auto& in = k_.nodes[n.operands[1 + d]];
        Value* s = value(n.operands[1 + d], {});
        s = is_unsigned_integer(in.aval.dtype) ? b_.CreateZExt(s, b_.getInt64Ty()) : b_.CreateSExtOrTrunc(s, b_.getInt64Ty());
        s = b_.CreateSelect(b_.CreateICmpSLT(s, i64c(0)), i64c(0), s);
        Value* hi = i64c(xs[d] - sizes[d]);
        s = b_.CreateSelect(b_.CreateICmpSGT(s, hi), hi, s);
        xi[d] = b_.CreateAdd(idx[d], s);
      }
      return value(n.operands[0], xi);
    }
    if (op == "dynamic_update_slice") {
      // Inside the update's window: the update; elsewhere the operand.
      const Shape& us = operand_shape(1);
      const Shape& xs = operand_shape(0);
      Value* inside = b_.getInt1(true);
      Idx ui(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        const auto& in = k_.nodes[n.operands[2 + d]];
        Value* s = value(n.operands[2 + d], {});
        s = is_unsigned_integer(in.aval.dtype) ? b_.CreateZExt(s, b_.getInt64Ty()) : b_.CreateSExtOrTrunc(s, b_.getInt64Ty());
        s = b_.CreateSelect(b_.CreateICmpSLT(s, i64c(0)), i64c(0), s);
        Value* hi = i64c(xs[d] - us[d]);
        s = b_.CreateSelect(b_.CreateICmpSGT(s, hi), hi, s);
        Value* rel = b_.CreateSub(idx[d], s);
        inside = b_.CreateAnd(inside, b_.CreateAnd(b_.CreateICmpSGE(rel, i64c(0)), b_.CreateICmpSLT(rel, i64c(us[d]))));
        Value* c = b_.CreateSelect(b_.CreateICmpSLT(rel, i64c(0)), i64c(0), rel);
        ui[d] = us[d] == 1 ? i64c(0) : b_.CreateSelect(b_.CreateICmpSGT(c, i64c(us[d] - 1)), i64c(us[d] - 1), c);
      }
      Value* u = value(n.operands[1], ui);
      Value* x = value(n.operands[0], idx);
      return b_.CreateSelect(inside, u, x);
    }
    if (op == "pad") {
      // Output index i reads operand (i - lo) / (interior + 1) where that is a whole in-range index.
      const auto& cfg = n.params.get_ints("padding_config");
      const Shape& xs = operand_shape(0);
      Value* inside = b_.getInt1(true);
      Idx xi(idx.size());
      for (size_t d = 0; d < idx.size(); ++d) {
        const int64_t lo = cfg[3 * d], step = cfg[3 * d + 2] + 1;
        Value* j = b_.CreateSub(idx[d], i64c(lo));
        Value* ok = b_.CreateICmpSGE(j, i64c(0));
        Value* jc = b_.CreateSelect(ok, j, i64c(0));
        Value* q = step == 1 ? jc : b_.CreateUDiv(jc, i64c(step));
        if (step != 1) ok = b_.CreateAnd(ok, b_.CreateICmpEQ(b_.CreateURem(jc, i64c(step)), i64c(0)));
        ok = b_.CreateAnd(ok, b_.CreateICmpSLT(q, i64c(xs[d])));
        inside = b_.CreateAnd(inside, ok);
        xi[d] = xs[d] == 1 ? i64c(0) : b_.CreateSelect(b_.CreateICmpSLT(q, i64c(xs[d])), q, i64c(xs[d] - 1));
      }
      Value* x = value(n.operands[0], xi);
      Value* pad = value(n.operands[1], {});
      return b_.CreateSelect(inside, x, pad);
    }
    if (op == "concatenate") {
      // Every operand at its clamped index, then the one whose range holds idx[dim] is selected.
      const int64_t dim = n.params.get_int("dimension");
      Value* result = nullptr;
      int64_t offset = 0;
      for (size_t k = 0; k < n.operands.size(); ++k) {
        const int64_t size = operand_shape(static_cast<int>(k))[dim];
        Idx xi = idx;
        Value* local = offset == 0 ? idx[dim] : b_.CreateSub(idx[dim], i64c(offset));
        local = b_.CreateSelect(b_.CreateICmpSLT(local, i64c(0)), i64c(0), local);
        local = b_.CreateSelect(b_.CreateICmpSGT(local, i64c(size - 1)), i64c(size - 1), local);
        xi[dim] = size == 1 ? i64c(0) : local;
        Value* v = value(n.operands[k], xi);
        result = result ? b_.CreateSelect(b_.CreateICmpSGE(idx[dim], i64c(offset)), v, result) : v;
        offset += size;
      }
      return result;
    }
    if (op == "iota") {
      Value* i = idx[n.params.get_int("dimension")];
      return convert(i, DType::int64, n.aval.dtype);
    }
    std::vector<Value*> a;
    std::vector<DType> ad;
    for (int o : n.operands) {
      a.push_back(value(o, operand_idx(k_.nodes[o].aval.shape, idx)));
      ad.push_back(k_.nodes[o].aval.dtype);
    }
    Value* v = elementwise(n, a, ad);
    // A 16-bit float result is rounded where it is produced (ops that only select, negate or
    // convert their operands' values are exact already).
    if (is_half_float(n.aval.dtype) && op != "select_n" && op != "stop_gradient" && op != "convert_element_type" &&
        op != "bitcast_convert_type" && op != "neg" && op != "abs" && op != "max" && op != "min")
      v = round_half(v, n.aval.dtype);
    return v;
  }

  Value* literal(const Array& v) {
    // A literal computed on a GPU (eager work under JX_PLATFORM=cuda) is read through a host copy.
    const Array x = jx::detail::on_gpu(v) ? device_put(v, Device{}) : v;
    DType d = x.dtype();
    Type* t = reg_type(d);
    switch (d) {
      case DType::bool_: return b_.getInt1(*x.data<bool>());
      case DType::int32: return llvm::ConstantInt::get(t, static_cast<uint64_t>(static_cast<int64_t>(*x.data<int32_t>())), true);
      case DType::uint32: return llvm::ConstantInt::get(t, *x.data<uint32_t>());
      case DType::int64: return llvm::ConstantInt::get(t, static_cast<uint64_t>(*x.data<int64_t>()), true);
      case DType::float32: return llvm::ConstantFP::get(t, static_cast<double>(*x.data<float>()));
      case DType::float64: return llvm::ConstantFP::get(t, *x.data<double>());
      case DType::float16: return llvm::ConstantFP::get(t, static_cast<double>(static_cast<float>(*x.data<float16_t>())));
      case DType::bfloat16: return llvm::ConstantFP::get(t, static_cast<double>(static_cast<float>(*x.data<bfloat16_t>())));
    }
    return nullptr;
  }

  Value* convert(Value* x, DType from, DType to) {
    if (from == to) return x;
    if (is_half_float(from)) from = DType::float32;  // a 16-bit float register holds its exact float value
    if (is_half_float(to)) {
      // One rounding from the source value, as the eager conversion (core/half.h).
      if (from == DType::float32) return round_half(x, to);
      if (from == DType::float64) return round_half(double_to_float_odd(x), to);
      if (from == DType::bool_) return b_.CreateUIToFP(x, Type::getFloatTy(ctx_));
      return round_half(integer_to_float_odd(x, from), to);
    }
    if (from == to) return x;
    Type* t = reg_type(to);
    const bool ff = is_floating(from), ft = is_floating(to);
    if (to == DType::bool_) {
      return ff ? b_.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0.0))
                : b_.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0));
    }
    if (ff && ft) return b_.CreateFPCast(x, t);
    if (ff) {
      auto id = is_unsigned_integer(to) ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat;
      return b_.CreateIntrinsic(id, {t, x->getType()}, {x});
    }
    const bool src_signed = is_signed_integer(from);
    if (ft) return src_signed ? b_.CreateSIToFP(x, t) : b_.CreateUIToFP(x, t);
    return b_.CreateIntCast(x, t, src_signed);
  }

  Value* is_nan(Value* x) { return b_.CreateFCmpUNO(x, x); }

  Value* minmax(bool max, DType d, Value* a, Value* c) {
    if (is_floating(d)) {
      // As the eager kernel: NaN propagates (the first NaN operand), otherwise a < c ? c : a.
      Value* pick = max ? b_.CreateSelect(b_.CreateFCmpOLT(a, c), c, a) : b_.CreateSelect(b_.CreateFCmpOLT(c, a), c, a);
      pick = b_.CreateSelect(is_nan(c), c, pick);
      return b_.CreateSelect(is_nan(a), a, pick);
    }
    const bool s = is_signed_integer(d);
    Value* lt = max ? (s ? b_.CreateICmpSLT(a, c) : b_.CreateICmpULT(a, c)) : (s ? b_.CreateICmpSLT(c, a) : b_.CreateICmpULT(c, a));
    return b_.CreateSelect(lt, c, a);
  }

  Value* libm(const std::string& name, DType d, std::vector<Value*> args) {
    std::string fname = args[0]->getType()->isFloatTy() ? name + "f" : name;  // float32 and the 16-bit floats
    std::vector<Type*> ts(args.size(), args[0]->getType());
    auto callee = m_.getOrInsertFunction(fname, llvm::FunctionType::get(args[0]->getType(), ts, false));
    if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      f->setDoesNotThrow();
      f->setWillReturn();
    }
    return b_.CreateCall(callee, args);
  }

  Value* math(const std::string& name, DType d, std::vector<Value*> args) {
    if (Value* v = emit_math(b_, name, args)) return v;
    return libm(name, d, std::move(args));
  }

  Value* fconst(Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }
  Value* iconst(Value* like, int64_t v) { return llvm::ConstantInt::get(like->getType(), static_cast<uint64_t>(v), true); }

  Value* elementwise(const jitc::KNode& n, const std::vector<Value*>& a, const std::vector<DType>& ad) {
    const std::string& op = n.prim.name();
    const DType d = ad.empty() ? n.aval.dtype : ad[0];
    const bool fl = is_floating(d);
    const bool sg = is_signed_integer(d);
    if (op == "add") return fl ? b_.CreateFAdd(a[0], a[1]) : b_.CreateAdd(a[0], a[1]);
    if (op == "sub") return fl ? b_.CreateFSub(a[0], a[1]) : b_.CreateSub(a[0], a[1]);
    if (op == "mul") return fl ? b_.CreateFMul(a[0], a[1]) : b_.CreateMul(a[0], a[1]);
    if (op == "div" || op == "rem") {
      if (fl) return op == "div" ? b_.CreateFDiv(a[0], a[1]) : b_.CreateFRem(a[0], a[1]);
      if (d == DType::bool_) return op == "div" ? a[0] : b_.getInt1(false);
      Value* zero = b_.CreateICmpEQ(a[1], iconst(a[1], 0));
      Value* m1 = sg ? b_.CreateICmpEQ(a[1], iconst(a[1], -1)) : b_.getInt1(false);
      Value* safe = b_.CreateSelect(b_.CreateOr(zero, m1), iconst(a[1], 1), a[1]);
      Value* q = op == "div" ? (sg ? b_.CreateSDiv(a[0], safe) : b_.CreateUDiv(a[0], safe))
                             : (sg ? b_.CreateSRem(a[0], safe) : b_.CreateURem(a[0], safe));
      Value* special = op == "div" ? b_.CreateSub(iconst(a[0], 0), a[0]) : iconst(a[0], 0);
      q = b_.CreateSelect(m1, special, q);
      return b_.CreateSelect(zero, iconst(a[0], 0), q);
    }
    if (op == "neg") return fl ? b_.CreateFNeg(a[0]) : b_.CreateSub(iconst(a[0], 0), a[0]);
    if (op == "max" || op == "min") return minmax(op == "max", d, a[0], a[1]);
    if (op == "pow" || op == "atan2") return math(op, d, a);
    if (op == "exp" || op == "log" || op == "log1p" || op == "expm1" || op == "sin" || op == "cos" || op == "tan" ||
        op == "tanh" || op == "sinh" || op == "cosh" || op == "asin" || op == "acos" || op == "atan" || op == "erf")
      return math(op, d, a);
    if (op == "logistic") {
      if (Value* v = emit_math(b_, "logistic", a)) return v;
      Value* e = math("exp", d, {b_.CreateFNeg(a[0])});
      return b_.CreateFDiv(fconst(a[0], 1.0), b_.CreateFAdd(fconst(a[0], 1.0), e));
    }
    if (op == "sqrt") return b_.CreateIntrinsic(llvm::Intrinsic::sqrt, {a[0]->getType()}, {a[0]});
    if (op == "rsqrt")
      return b_.CreateFDiv(fconst(a[0], 1.0), b_.CreateIntrinsic(llvm::Intrinsic::sqrt, {a[0]->getType()}, {a[0]}));
    if (op == "square") return fl ? b_.CreateFMul(a[0], a[0]) : b_.CreateMul(a[0], a[0]);
    if (op == "abs") {
      if (fl) return b_.CreateIntrinsic(llvm::Intrinsic::fabs, {a[0]->getType()}, {a[0]});
      if (!sg) return a[0];
      return b_.CreateSelect(b_.CreateICmpSLT(a[0], iconst(a[0], 0)), b_.CreateSub(iconst(a[0], 0), a[0]), a[0]);
    }
    if (op == "sign") {
      if (fl) {
        Value* r = b_.CreateSelect(b_.CreateFCmpOLT(a[0], fconst(a[0], 0.0)), fconst(a[0], -1.0), a[0]);
        return b_.CreateSelect(b_.CreateFCmpOGT(a[0], fconst(a[0], 0.0)), fconst(a[0], 1.0), r);
      }
      if (d == DType::bool_) return a[0];
      Value* pos = sg ? b_.CreateICmpSGT(a[0], iconst(a[0], 0)) : b_.CreateICmpUGT(a[0], iconst(a[0], 0));
      Value* r = sg ? b_.CreateSelect(b_.CreateICmpSLT(a[0], iconst(a[0], 0)), iconst(a[0], -1), a[0]) : a[0];
      return b_.CreateSelect(pos, iconst(a[0], 1), r);
    }
    if (op == "floor") return b_.CreateIntrinsic(llvm::Intrinsic::floor, {a[0]->getType()}, {a[0]});
    if (op == "ceil") return b_.CreateIntrinsic(llvm::Intrinsic::ceil, {a[0]->getType()}, {a[0]});
    if (op == "round") {
      auto id = n.params.get_int("rounding_method") == 1 ? llvm::Intrinsic::rint : llvm::Intrinsic::round;
      return b_.CreateIntrinsic(id, {a[0]->getType()}, {a[0]});
    }
    if (op == "is_finite") {
      Value* ab = b_.CreateIntrinsic(llvm::Intrinsic::fabs, {a[0]->getType()}, {a[0]});
      return b_.CreateFCmpOLT(ab, llvm::ConstantFP::getInfinity(a[0]->getType()));
    }
    if (op == "integer_pow") {
      const int64_t y = n.params.get_int("y");
      uint64_t e = y < 0 ? static_cast<uint64_t>(-(y + 1)) + 1 : static_cast<uint64_t>(y);
      Value* acc = fl ? fconst(a[0], 1.0) : iconst(a[0], 1);
      Value* base_v = a[0];
      bool first = true;
      while (e) {
        if (e & 1) {
          if (first && fl) acc = b_.CreateFMul(acc, base_v);  // 1 * base, as the eager loop
          else acc = fl ? b_.CreateFMul(acc, base_v) : b_.CreateMul(acc, base_v);
          first = false;
        }
        e >>= 1;
        if (e) base_v = fl ? b_.CreateFMul(base_v, base_v) : b_.CreateMul(base_v, base_v);
      }
      if (fl && y < 0) acc = b_.CreateFDiv(fconst(a[0], 1.0), acc);
      return acc;
    }
    if (op == "eq" || op == "ne" || op == "lt" || op == "le" || op == "gt" || op == "ge") {
      if (fl) {
        if (op == "eq") return b_.CreateFCmpOEQ(a[0], a[1]);
        if (op == "ne") return b_.CreateFCmpUNE(a[0], a[1]);
        if (op == "lt") return b_.CreateFCmpOLT(a[0], a[1]);
        if (op == "le") return b_.CreateFCmpOLE(a[0], a[1]);
        if (op == "gt") return b_.CreateFCmpOGT(a[0], a[1]);
        return b_.CreateFCmpOGE(a[0], a[1]);
      }
      if (op == "eq") return b_.CreateICmpEQ(a[0], a[1]);
      if (op == "ne") return b_.CreateICmpNE(a[0], a[1]);
      if (op == "lt") return sg ? b_.CreateICmpSLT(a[0], a[1]) : b_.CreateICmpULT(a[0], a[1]);
      if (op == "le") return sg ? b_.CreateICmpSLE(a[0], a[1]) : b_.CreateICmpULE(a[0], a[1]);
      if (op == "gt") return sg ? b_.CreateICmpSGT(a[0], a[1]) : b_.CreateICmpUGT(a[0], a[1]);
      return sg ? b_.CreateICmpSGE(a[0], a[1]) : b_.CreateICmpUGE(a[0], a[1]);
    }
    if (op == "and") return b_.CreateAnd(a[0], a[1]);
    if (op == "or") return b_.CreateOr(a[0], a[1]);
    if (op == "xor") return b_.CreateXor(a[0], a[1]);
    if (op == "not") return b_.CreateNot(a[0]);
    if (op == "shift_left" || op == "shift_right_logical" || op == "shift_right_arithmetic") {
      const unsigned bits = a[0]->getType()->getIntegerBitWidth();
      Value* out_of_range = b_.CreateICmpUGE(a[1], iconst(a[1], bits));
      Value* amount = b_.CreateSelect(out_of_range, iconst(a[1], 0), a[1]);
      if (op == "shift_left") return b_.CreateSelect(out_of_range, iconst(a[0], 0), b_.CreateShl(a[0], amount));
      if (op == "shift_right_logical") return b_.CreateSelect(out_of_range, iconst(a[0], 0), b_.CreateLShr(a[0], amount));
      Value* fill = b_.CreateAShr(a[0], iconst(a[0], bits - 1));
      return b_.CreateSelect(out_of_range, fill, b_.CreateAShr(a[0], amount));
    }
    if (op == "select_n") {
      const size_t ncases = a.size() - 1;
      Value* p = a[0];
      if (ad[0] == DType::bool_) return b_.CreateSelect(p, a[ncases >= 2 ? 2 : 1], a[1]);
      Value* r = a[1];
      for (size_t c = 1; c < ncases; ++c) r = b_.CreateSelect(b_.CreateICmpSGE(p, iconst(p, static_cast<int64_t>(c))), a[c + 1], r);
      return r;
    }
    if (op == "convert_element_type") return convert(a[0], ad[0], n.aval.dtype);
    if (op == "bitcast_convert_type") {
      if (ad[0] == n.aval.dtype) return a[0];
      // float16 <-> bfloat16 (the only 16-bit types): the same 16 bits read as the other format.
      if (is_half_float(ad[0])) return half_to_float(float_to_half_bits(a[0], ad[0]), n.aval.dtype);
      return b_.CreateBitCast(a[0], reg_type(n.aval.dtype));
    }
    if (op == "stop_gradient") return a[0];
    throw BackendError("[jit] the LLVM backend has no code for fused primitive " + op);
  }

  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  const jitc::Program& prog_;
  const jitc::Kernel& k_;
  IRBuilder<> b_;
  llvm::Function* fn_ = nullptr;
  Value* bufs_ = nullptr;
  std::map<int, Value*> base_;
  std::map<std::pair<int, Idx>, Value*> memo_;
};

}  // namespace

std::unique_ptr<llvm::Module> emit_module(llvm::LLVMContext& ctx, const jitc::Program& program, const RuntimeHooks& hooks,
                                          std::string* entry_name) {
  auto m = std::make_unique<llvm::Module>(program.name, ctx);
  const HostTarget& t = host_target();
  m->setTargetTriple(t.triple);
  std::vector<llvm::Function*> kernels;
  for (auto& k : program.kernels) {
    kernels.push_back(KernelEmitter(*m, program, k).emit());
    kernels.back()->setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  // The entry function: the steps in order.
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i64 = Type::getInt64Ty(ctx);
  auto* void_t = Type::getVoidTy(ctx);
  auto* pf_ty = llvm::FunctionType::get(void_t, {ptr, ptr, ptr, i64, i64}, false);
  auto* lc_ty = llvm::FunctionType::get(void_t, {ptr, i64, ptr}, false);
  auto pf = m->getOrInsertFunction("jx_rt_parallel_for", pf_ty);
  auto lc = m->getOrInsertFunction("jx_rt_library_call", lc_ty);
  *entry_name = program.name + "_entry";
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(void_t, {ptr, ptr}, false), llvm::Function::ExternalLinkage,
                                    *entry_name, *m);
  fn->addFnAttr("target-cpu", t.cpu);
  fn->addFnAttr("target-features", t.features);
  IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  Value* bufs = fn->getArg(0);
  Value* rt = fn->getArg(1);
  for (auto& st : program.steps) {
    if (st.kind == jitc::Step::Kind::kernel) {
      const auto& k = program.kernels[st.index];
      if (k.parallel_items < 2 * k.grain) {
        // Small kernels run inline in the entry function (no call, and LLVM optimizes across them).
        kernels[st.index]->addFnAttr(llvm::Attribute::AlwaysInline);
        b.CreateCall(kernels[st.index], {bufs, b.getInt64(0), b.getInt64(static_cast<uint64_t>(k.parallel_items))});
      } else {
        b.CreateCall(pf, {rt, kernels[st.index], bufs, b.getInt64(static_cast<uint64_t>(k.parallel_items)),
                          b.getInt64(static_cast<uint64_t>(k.grain))});
      }
    } else {
      b.CreateCall(lc, {rt, b.getInt64(static_cast<uint64_t>(st.index)), bufs});
    }
  }
  b.CreateRetVoid();
  (void)hooks;
  std::string err;
  llvm::raw_string_ostream es(err);
  if (llvm::verifyModule(*m, &es)) {
    throw BackendError("[jit] internal error: generated LLVM IR does not verify: " + es.str());
  }
  return m;
}

}  // namespace jx::llvmgen
