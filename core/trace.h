#pragma once
// The trace stack, tracers, and bind: the one entry point by which every primitive is applied.
// Outside any transform bind runs the eager kernel; under transforms it hands tracers to the
// innermost relevant trace (as in JAX's omnistaging: a dynamic staging trace catches even
// operations on constants).

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/primitive.h"

namespace jx {

/// One level of the trace stack (a jvp, vmap, staging, ... interpreter). Subclasses live in
/// trace/ and transforms/.
class Trace : public std::enable_shared_from_this<Trace> {
 public:
  virtual ~Trace() = default;
  int level() const { return level_; }
  bool alive() const { return alive_; }
  /// "make_jaxpr", "jvp", "vmap", "jit", ...: shown in error messages.
  virtual std::string name() const = 0;
  /// Boxes a concrete value (a constant) as one of this trace's tracers.
  virtual Array pure(const Array& value) = 0;
  /// Boxes a tracer of a lower (outer) trace as one of this trace's tracers.
  virtual Array lift(const Array& tracer) = 0;
  /// Applies `prim` to this trace's tracers.
  virtual std::vector<Array> process_primitive(const Primitive& prim, std::span<const Array> args,
                                               const Params& params, const Loc& loc) = 0;
  /// Called when the trace's scope ends: drop references to own tracers (which point back
  /// at the trace) so nothing leaks.
  virtual void finished() {}

 private:
  friend class TraceScope;
  int level_ = 0;
  bool alive_ = true;
};

class Tracer : public ArrayImpl {
 public:
  Tracer(std::shared_ptr<Trace> trace, AbstractValue aval)
      : ArrayImpl(std::move(aval), nullptr), trace_(std::move(trace)) {}
  Tracer* as_tracer() override { return this; }
  Trace& trace() const { return *trace_; }
  const std::shared_ptr<Trace>& trace_ptr() const { return trace_; }
  std::string trace_name() const { return trace_->name(); }

 private:
  std::shared_ptr<Trace> trace_;
};

/// Pushes a trace on this thread's stack for the scope's lifetime; the trace is marked dead on
/// exit (normal or by exception), so an escaped tracer is detected when used later.
/// `dynamic`: the trace also catches operations whose inputs are all constants (staging).
class TraceScope {
 public:
  TraceScope(std::shared_ptr<Trace> trace, bool dynamic);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;
  Trace& trace() const { return *trace_; }

 private:
  std::shared_ptr<Trace> trace_;
  std::shared_ptr<Trace> previous_dynamic_;
  bool dynamic_;
};

/// The level the next pushed trace will get.
int next_trace_level();
/// Number of traces on this thread's stack (0 when running eagerly).
int trace_depth();

/// Brings `x` into `trace`: constants via pure, outer tracers via lift. Throws TraceError for a
/// tracer of a dead trace or of an unrelated inner trace (an escaped tracer).
Array full_raise(Trace& trace, const Array& x);

/// Applies a primitive: validates the inputs, then runs the eager kernel or records into the
/// innermost trace. Errors get the user's source line attached.
std::vector<Array> bind(const Primitive& prim, std::span<const Array> args, const Params& params = {},
                        const Loc& loc = Loc::current());
Array bind1(const Primitive& prim, std::span<const Array> args, const Params& params = {},
            const Loc& loc = Loc::current());
inline Array bind1(const Primitive& prim, std::initializer_list<Array> args, const Params& params = {},
                   const Loc& loc = Loc::current()) {
  return bind1(prim, std::span<const Array>(args.begin(), args.size()), params, loc);
}

/// Runs the shape rule and the eager kernel of `prim` on concrete arrays.
std::vector<Array> eval_primitive(const Primitive& prim, std::span<const Array> args, const Params& params);
/// Runs only the shape rule (abstract evaluation).
std::vector<AbstractValue> abstract_eval(const Primitive& prim, std::span<const AbstractValue> args,
                                         const Params& params);

// ---- user source locations -------------------------------------------------------------------

/// The location used for equations and errors: the outermost public op call on this thread
/// (so ops built from other ops report the user's line, not jx's).
class LocScope {
 public:
  explicit LocScope(const Loc& loc);
  ~LocScope();
  const Loc& loc() const;

 private:
  bool outermost_;
};
/// The current user location, or an empty one.
Loc current_user_loc();

/// Runs `f` with `loc` as the user location; a jx::Error escaping it gets the location attached.
template <class F>
auto at_loc(const Loc& loc, F&& f) -> decltype(f()) {
  LocScope scope(loc);
  try {
    return f();
  } catch (Error& e) {
    e.add_location(scope.loc());
    throw;
  }
}

}  // namespace jx
