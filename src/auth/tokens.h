#pragma once

#include "auth/jwks.h"
#include "auth/principal.h"
#include "common/result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::auth {

/// How tokens are checked (auth.* in the configuration).
struct VerifierOptions {
  std::string hs256_secret{};  ///< HS256 key; empty: HS256 tokens are refused
  std::vector<Jwk> keys{};     ///< RS256 / ES256 public keys (auth.jwks_file)
  std::string issuer{};        ///< required `iss` when not empty
  std::string audience{};      ///< required in `aud` when not empty
  int64_t leeway_ms = 60'000;  ///< clock skew allowed on exp and nbf
};

/// Verifies bearer tokens (JWT, RFC 7519) with libjwt. The algorithm is
/// chosen by the key, never by the token: a token whose header names
/// another algorithm than its key's (HS256 signed with an RSA public key,
/// "none") is refused. `exp` is required; `nbf`, `iss` and `aud` are checked
/// when present or configured. The claims become a Principal (see
/// principal.h for `programs`); `system` cannot be claimed.
///
/// Thread safety: verify() is const and may run on any number of threads.
class Verifier {
 public:
  explicit Verifier(VerifierOptions options) : options_(std::move(options)) {}
  /// The principal, or an error (code invalid_argument) whose message says
  /// what is wrong with the token, for a 401.
  Result<Principal> verify(std::string_view token, int64_t now_ms) const;

 private:
  VerifierOptions options_;
};

/// What `stagewise token` puts in a token.
struct TokenClaims {
  std::string sub{};
  Role role = Role::admin;
  std::vector<std::string> programs{};
  std::string university{};
  std::vector<std::string> applications{};
  std::string issuer{};
  std::string audience{};
};

/// An HS256 token signed with `secret` by libjwt, valid from `now_ms` for
/// `ttl_ms`.
Result<std::string> mint_hs256(const std::string& secret, const TokenClaims& claims, int64_t now_ms,
                               int64_t ttl_ms);

}  // namespace stagewise::auth
