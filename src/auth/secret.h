#pragma once

#include "common/result.h"

#include <string>

namespace stagewise::auth {

/// The data dir's key files (DESIGN.md §11 zero-config): made on first use
/// from OpenSSL's CSPRNG (32 bytes, hex), mode 0600, in `DIR/auth/` (0700);
/// the data dir itself is made 0700.
///
/// `token.secret` signs and verifies HS256 tokens when auth.hs256_secret_file
/// is not set; `internal.secret` signs the events stagewise itself puts on
/// the input topic (its timers' deadlines, its HTTP intake's events), so a
/// Kafka producer cannot pass for either.
Result<std::string> ensure_secret(const std::string& data_dir, const std::string& name);

/// Reads a key file (auth.hs256_secret_file, or one ensure_secret made):
/// its bytes without a trailing newline. Refuses files others may read.
Result<std::string> read_secret(const std::string& path);

/// Makes `dir` (and its parents) with mode 0700, or tightens it to 0700.
Result<void> private_dir(const std::string& dir);

}  // namespace stagewise::auth
