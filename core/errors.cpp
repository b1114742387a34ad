// Error messages and locations.

#include "core/errors.h"

namespace jx {

std::string format_loc(const Loc& loc) {
  if (loc.line() == 0) return "";
  std::string file = loc.file_name();
  auto slash = file.find_last_of('/');
  if (slash != std::string::npos) file = file.substr(slash + 1);
  return file + ":" + std::to_string(loc.line());
}

void Error::add_location(const Loc& loc) {
  if (has_location_ || loc.line() == 0) return;
  has_location_ = true;
  message_ += " (at " + format_loc(loc) + ")";
}

void Error::add_context(const std::string& context) { message_ += "\n  " + context; }

namespace detail {
void internal_error(const char* cond, const std::string& message, const Loc& loc) {
  throw Error("internal error: " + message + " [" + cond + " failed at " + format_loc(loc) +
              "]; please report this as a jx bug");
}
}  // namespace detail

}  // namespace jx
