#pragma once

// Key pairs made in the test with OpenSSL, and tokens signed with libjwt:
// what an external identity provider would publish and issue.
#include "auth/openssl.h"

#include <nlohmann/json.hpp>

#include <jwt.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <string>

namespace stagewise::auth::testing {

struct KeyPair {
  ssl::PkeyPtr key;
  std::string private_pem;
  nlohmann::json jwk;  ///< the public half, as a JWKS entry
};

inline std::string private_pem(EVP_PKEY* k) {
  ssl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

inline std::string bn_bytes(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

inline KeyPair rsa_pair(const std::string& kid) {
  KeyPair p;
  p.key.reset(EVP_RSA_gen(2048));
  p.private_pem = private_pem(p.key.get());
  p.jwk = {{"kty", "RSA"},
           {"kid", kid},
           {"use", "sig"},
           {"alg", "RS256"},
           {"n", ssl::base64url_encode(bn_bytes(p.key.get(), OSSL_PKEY_PARAM_RSA_N))},
           {"e", ssl::base64url_encode(bn_bytes(p.key.get(), OSSL_PKEY_PARAM_RSA_E))}};
  return p;
}

inline KeyPair ec_pair(const std::string& kid) {
  KeyPair p;
  p.key.reset(EVP_EC_gen("P-256"));
  p.private_pem = private_pem(p.key.get());
  unsigned char point[65];
  size_t len = 0;
  EVP_PKEY_get_octet_string_param(p.key.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
  const std::string pt(reinterpret_cast<char*>(point), len);
  p.jwk = {{"kty", "EC"},
           {"kid", kid},
           {"crv", "P-256"},
           {"x", ssl::base64url_encode(pt.substr(1, 32))},
           {"y", ssl::base64url_encode(pt.substr(33, 32))}};
  return p;
}

/// A token signed by libjwt with `alg` and `key` (a private PEM or an HMAC
/// secret), with `kid` in its header when not empty.
inline std::string sign(jwt_alg_t alg, const std::string& key, const nlohmann::json& claims,
                        const std::string& kid = "") {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims.dump().c_str());
  if (!kid.empty()) jwt_add_header(jwt, "kid", kid.c_str());
  jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()),
              static_cast<int>(key.size()));
  char* s = jwt_encode_str(jwt);
  std::string out = s != nullptr ? s : "";
  free(s);
  jwt_free(jwt);
  return out;
}

}  // namespace stagewise::auth::testing
