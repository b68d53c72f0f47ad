#pragma once

// RAII for the OpenSSL handles auth/ uses: every one lives in a unique_ptr
// with a deleter declared here (CONVENTIONS.md, "Handles and ownership").
#include <memory>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <optional>
#include <string>
#include <string_view>

namespace stagewise::auth::ssl {

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};

using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamDeleter>;

/// Base64url without padding (RFC 7515 §2) decoded with OpenSSL's decoder;
/// nullopt when malformed.
std::optional<std::string> base64url_decode(std::string_view text);
/// Base64url without padding.
std::string base64url_encode(std::string_view bytes);

/// The public key as PEM (SubjectPublicKeyInfo), as libjwt takes it.
std::optional<std::string> public_pem(EVP_PKEY* key);

/// `n` random bytes from OpenSSL's CSPRNG.
std::optional<std::string> random_bytes(size_t n);

/// HMAC-SHA256 of `data` under `key`, as 64 hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace stagewise::auth::ssl
