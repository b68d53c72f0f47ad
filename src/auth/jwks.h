#pragma once

#include "common/result.h"

#include <string>
#include <string_view>
#include <vector>

namespace stagewise::auth {

/// One public key of a JWKS document, ready for libjwt.
struct Jwk {
  std::string kid;  ///< may be empty when the document has one key of its kind
  std::string alg;  ///< "RS256" (kty RSA) or "ES256" (kty EC, crv P-256)
  std::string pem;  ///< SubjectPublicKeyInfo, built from the JWK by OpenSSL
};

/// Parses a JWKS document (RFC 7517 `{"keys": [...]}`, as an identity
/// provider publishes it) into keys. Keys of other kinds or uses ("use":
/// "enc", private members, other curves) are refused with an error naming
/// the key, so a misconfigured file is noticed at start.
Result<std::vector<Jwk>> parse_jwks(std::string_view json);

}  // namespace stagewise::auth
