#include "common/log.h"

#include "common/json_limits.h"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace stagewise {
namespace {

// The message of a log line, escaped so that it can neither break the line
// nor the JSON around it: control and bidirectional formatting characters
// become visible escapes (a crafted id cannot forge a second line or hide
// text), and in JSON the whole message is one valid string.
class EscapedMessage : public spdlog::custom_flag_formatter {
 public:
  explicit EscapedMessage(bool json) : json_(json) {}
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string safe =
        escape_unsafe(std::string_view(msg.payload.data(), msg.payload.size()));
    const std::string out = json_ ? nlohmann::json(safe).dump() : safe;
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<EscapedMessage>(json_);
  }

 private:
  bool json_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> log_formatter(const std::string& format) {
  const bool json = format == "json";
  auto formatter = std::make_unique<spdlog::pattern_formatter>(
      json ? spdlog::pattern_time_type::utc : spdlog::pattern_time_type::local);
  formatter->add_flag<EscapedMessage>('*', json);
  formatter->set_pattern(
      json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","thread":%t,"message":%*})"
           : "%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %*");
  return formatter;
}

void init_logging(const std::string& level, const std::string& format) {
  spdlog::drop("stagewise");  // set up again by `serve` after main's default
  auto logger = spdlog::stderr_color_mt("stagewise");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_formatter(log_formatter(format));
}

}  // namespace stagewise
