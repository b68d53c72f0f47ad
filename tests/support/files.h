#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace stagewise::testing {

/// The first regular file under `dir` whose bytes hold `bytes`, or "":
/// for checks that a secret or a person's data is nowhere on disk.
inline std::string file_holding(const std::string& dir, const std::string& bytes) {
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(bytes) != std::string::npos) return f.path().string();
  }
  return "";
}

}  // namespace stagewise::testing
