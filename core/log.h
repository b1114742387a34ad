#pragma once
// Logging through spdlog: one named logger per layer ("core", "trace", "jit", ...), silent by
// default (level warn); JX_LOG_LEVEL=trace|debug|info|warn|error|off sets the level.
// Only include this from .cpp files: it is not part of the public headers.

#include <memory>

#ifndef SPDLOG_FMT_EXTERNAL
#define SPDLOG_FMT_EXTERNAL
#endif
#include <spdlog/spdlog.h>

namespace jx::detail {
/// The logger of a layer, created on first use with the level from JX_LOG_LEVEL.
spdlog::logger* logger(const char* name);
}  // namespace jx::detail
