#pragma once

#include <string>

namespace stagewise {

/// Sets up the default spdlog logger on stderr: level ("debug", "info",
/// "warn", ...) and format ("text" or "json", one object per line).
void init_logging(const std::string& level, const std::string& format);

}  // namespace stagewise
