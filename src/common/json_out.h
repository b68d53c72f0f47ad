#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace stagewise {

/// Writes compact JSON straight into a string, for hot paths where building
/// an nlohmann::json tree only to dump it costs more than the rest of the
/// work. Strings are escaped as nlohmann::json::dump() escapes them (the
/// caller passes valid UTF-8), so the bytes match a dump of the same object
/// when the caller writes keys in sorted order, as dump() does.
class JsonOut {
 public:
  explicit JsonOut(std::string& out) : out_(out) {}

  JsonOut& begin() { return open('{'); }
  JsonOut& end() {
    out_.push_back('}');
    first_ = false;
    return *this;
  }
  /// Starts a member: `"name":`; the value follows.
  JsonOut& key(std::string_view name) {
    if (!first_) out_.push_back(',');
    first_ = true;  // the value that follows needs no comma
    quoted(name);
    out_.push_back(':');
    return *this;
  }
  JsonOut& str(std::string_view v) {
    value();
    quoted(v);
    return *this;
  }
  JsonOut& num(int64_t v) {
    value();
    out_ += std::to_string(v);
    return *this;
  }
  JsonOut& null() {
    value();
    out_ += "null";
    return *this;
  }
  /// A string, or null when empty.
  JsonOut& str_or_null(std::string_view v) { return v.empty() ? null() : str(v); }

 private:
  JsonOut& open(char c) {
    value();
    out_.push_back(c);
    first_ = true;
    return *this;
  }
  void value() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  void quoted(std::string_view s) {
    out_.push_back('"');
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out_ += buf;
          } else {
            out_.push_back(ch);
          }
      }
    }
    out_.push_back('"');
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace stagewise
