#pragma once
// The jx::Error hierarchy, source locations, and JX_CHECK for internal invariants.

#include <source_location>
#include <stdexcept>
#include <string>

#include <sstream>

namespace jx {

/// A user's source location, captured at the API boundary by a defaulted argument.
using Loc = std::source_location;

/// "file.cpp:12" (file name without directories), or "" for an empty location.
std::string format_loc(const Loc& loc);

/// Base of every exception jx throws. what() is the full message; the location of the user's
/// call (when known) is appended as " (at file:line)".
class Error : public std::runtime_error {
 public:
  explicit Error(std::string message) : std::runtime_error(""), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const { return message_; }
  /// Appends " (at file:line)" once; later calls (outer frames) leave the first location.
  void add_location(const Loc& loc);
  /// Appends a line of context (used by interpreters on the way out).
  void add_context(const std::string& context);
  bool has_location() const { return has_location_; }

 private:
  std::string message_;
  bool has_location_ = false;
};

/// Shapes that do not fit the operation (mismatched dims, bad axes, wrong rank).
class ShapeError : public Error { using Error::Error; };
/// Dtypes that do not fit the operation.
class DTypeError : public Error { using Error::Error; };
/// A parameter value that is out of range or otherwise invalid (index out of bounds, bad mode).
class ValueError : public Error { using Error::Error; };
/// Misuse of tracing: an escaped tracer, a traced value used where a concrete one is needed.
class TraceError : public Error { using Error::Error; };
/// A traced (abstract) value was read as a concrete one (item(), to_vector(), bool conversion).
class ConcretizationError : public TraceError { using TraceError::TraceError; };
/// A transform met a primitive without the rule it needs.
class MissingRule : public Error { using Error::Error; };
/// A backend (oneDNN, LLVM, NVRTC, the driver) failed; carries its log.
class BackendError : public Error { using Error::Error; };

namespace detail {
[[noreturn]] void internal_error(const char* cond, const std::string& message, const Loc& loc);

template <class... Ts>
std::string cat(const Ts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

/// Throws E with the streamed parts concatenated: `throw_error<ShapeError>("[add] ", a, ...)`.
template <class E, class... Ts>
[[noreturn]] void throw_error(const Ts&... parts) {
  throw E(detail::cat(parts...));
}

}  // namespace jx

/// Internal invariant: failure reads as a bug report ("internal error: ...").
#define JX_CHECK(cond, ...)                                                                 \
  do {                                                                                      \
    if (!(cond)) ::jx::detail::internal_error(#cond, ::jx::detail::cat(__VA_ARGS__),        \
                                              ::std::source_location::current());           \
  } while (0)
