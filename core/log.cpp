// Named spdlog loggers, configured from JX_LOG_LEVEL.

#include "core/log.h"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace jx::detail {

spdlog::logger* logger(const char* name) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get(std::string("jx.") + name)) return existing.get();
  auto lg = spdlog::stderr_color_mt(std::string("jx.") + name);
  spdlog::level::level_enum level = spdlog::level::warn;
  if (const char* env = std::getenv("JX_LOG_LEVEL")) level = spdlog::level::from_str(env);
  lg->set_level(level);
  lg->set_pattern("[%H:%M:%S.%e] [%n] [%l] %v");
  return lg.get();
}

}  // namespace jx::detail
