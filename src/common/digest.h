#pragma once

#include "common/result.h"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace stagewise {

/// SHA-256 of `bytes` as 64 lowercase hex digits (OpenSSL's EVP digest).
std::string sha256_hex(std::string_view bytes);

/// SHA-256 of the file at `path` as 64 lowercase hex digits, read in parts
/// of 1 MiB; `on_bytes` (optional) is told each part's size as it is read.
/// An error names the file.
Result<std::string> sha256_file_hex(const std::string& path,
                                    const std::function<void(size_t)>& on_bytes = {});

}  // namespace stagewise
