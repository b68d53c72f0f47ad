#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace stagewise {

/// Sets up the default spdlog logger on stderr: level ("debug", "info",
/// "warn", ...) and format ("text" or "json", one object per line).
void init_logging(const std::string& level, const std::string& format);

/// The formatter init_logging installs: the message is escaped so that no
/// content can break a line (control and bidi characters shown as escapes)
/// or, in "json", the JSON object around it.
std::unique_ptr<spdlog::formatter> log_formatter(const std::string& format);

}  // namespace stagewise
