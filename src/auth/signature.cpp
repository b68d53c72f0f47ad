#include "auth/signature.h"

#include "auth/openssl.h"
#include "common/digest.h"

#include <openssl/crypto.h>

namespace stagewise::auth {
namespace {

std::string canonical(const CloudEvent& e) {
  std::string s;
  for (const std::string* part : {&e.id, &e.source, &e.subject, &e.type, &e.time, &e.program,
                                  &e.actorid, &e.actorrole, &e.authsub, &e.authrole}) {
    s += *part;
    s.push_back('\0');
  }
  s += sha256_hex(e.data.is_null() ? std::string() : e.data.dump());
  return s;
}

}  // namespace

std::string event_signature(std::string_view key, const CloudEvent& e) {
  return ssl::hmac_sha256_hex(key, canonical(e));
}

bool signature_valid(std::string_view key, const CloudEvent& e) {
  if (key.empty() || e.authsig.size() != 64) return false;
  const std::string want = event_signature(key, e);
  return CRYPTO_memcmp(want.data(), e.authsig.data(), want.size()) == 0;
}

}  // namespace stagewise::auth
