// The primitive registry and builder.

#include "core/primitive.h"

#include <mutex>

#include "core/half_eval.h"

namespace jx {

namespace {
std::vector<Primitive>& registry() {
  static std::vector<Primitive> prims;
  return prims;
}
}  // namespace

const std::vector<Primitive>& all_primitives() { return registry(); }

Primitive find_primitive(const std::string& name) {
  for (auto& p : registry())
    if (p.name() == name) return p;
  return Primitive();
}

PrimitiveBuilder::PrimitiveBuilder(std::string name) : def_(std::make_unique<PrimitiveDef>()) {
  def_->name = std::move(name);
}
PrimitiveBuilder& PrimitiveBuilder::shape_rule(ShapeRule rule) {
  def_->shape_rule = std::move(rule);
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::num_outputs(int n) {
  def_->num_outputs = n;
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::jvp(JvpRule rule) {
  def_->jvp = std::move(rule);
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::jvp_full(JvpFullRule rule) {
  def_->jvp_full = std::move(rule);
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::impl(ImplRule rule) {
  def_->impl = std::move(rule);
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::transpose(TransposeRule rule) {
  def_->transpose = std::move(rule);
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::batch(BatchRule rule) {
  def_->batch = std::move(rule);
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::no_rule(const std::string& transform, const std::string& reason) {
  def_->gaps[transform] = reason;
  return *this;
}
PrimitiveBuilder& PrimitiveBuilder::sample(std::vector<AbstractValue> args, Params params) {
  def_->samples.push_back({std::move(args), std::move(params)});
  return *this;
}

Primitive PrimitiveBuilder::build() {
  JX_CHECK(def_->shape_rule, "primitive ", def_->name, " has no shape rule");
  def_->id = static_cast<int>(registry().size());
  // Primitive definitions live for the whole program: handles are plain pointers.
  Primitive p(def_.release());
  registry().push_back(p);
  return p;
}

void register_kernel(const Primitive& prim, DeviceKind device, Kernel kernel) {
  // CPU kernels exist for the compute types; float16/bfloat16 run them in float32 and round.
  if (device == DeviceKind::cpu) kernel = detail::with_half_storage(prim, std::move(kernel));
  prim.def().kernels[static_cast<int>(device)] = std::move(kernel);
}

namespace detail {
void register_cpu_backend();  // backends/cpu/register.cpp
}

void ensure_runtime_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { detail::register_cpu_backend(); });
}

}  // namespace jx
