#include "auth/jwks.h"

#include "auth/openssl.h"
#include "common/json_limits.h"

#include <nlohmann/json.hpp>

#include <openssl/core_names.h>

namespace stagewise::auth {
namespace {

using nlohmann::json;

Error bad(const std::string& what) {
  return make_error(Errc::invalid_argument, "JWKS: " + what);
}

std::optional<std::string> member_bytes(const json& k, const char* name) {
  const auto it = k.find(name);
  if (it == k.end() || !it->is_string()) return std::nullopt;
  return ssl::base64url_decode(it->get<std::string>());
}

// A public key from OpenSSL parameters of `type` ("RSA" or "EC").
Result<std::string> pem_from(const char* type, ssl::ParamBldPtr& bld, const std::string& name) {
  ssl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ssl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return bad(name + " is not a valid " + type + " public key");
  ssl::PkeyPtr key(raw);
  auto pem = ssl::public_pem(key.get());
  if (!pem) return bad(name + ": cannot encode the key");
  return *pem;
}

Result<std::string> rsa_pem(const json& k, const std::string& name) {
  const auto n = member_bytes(k, "n"), e = member_bytes(k, "e");
  if (!n || !e || n->empty() || e->empty()) return bad(name + " (RSA) needs \"n\" and \"e\"");
  if (n->size() < 256) return bad(name + ": RSA keys shorter than 2048 bits are refused");
  ssl::BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                            static_cast<int>(n->size()), nullptr));
  ssl::BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                            static_cast<int>(e->size()), nullptr));
  ssl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return bad(name + ": cannot build the RSA key");
  return pem_from("RSA", bld, name);
}

Result<std::string> ec_pem(const json& k, const std::string& name) {
  if (k.value("crv", "") != "P-256") return bad(name + " (EC) must be on curve P-256 (ES256)");
  const auto x = member_bytes(k, "x"), y = member_bytes(k, "y");
  if (!x || !y || x->size() != 32 || y->size() != 32)
    return bad(name + " (EC) needs \"x\" and \"y\", 32 bytes each");
  const std::string point = std::string(1, '\x04') + *x + *y;  // uncompressed
  ssl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()))
    return bad(name + ": cannot build the EC key");
  return pem_from("EC", bld, name);
}

Result<std::vector<Jwk>> parse_keys(std::string_view text);

}  // namespace

Result<std::vector<Jwk>> parse_jwks(std::string_view text) {
  try {
    return parse_keys(text);
  } catch (const std::exception& e) {  // a member of the wrong type
    return bad(std::string("a key has a member of the wrong type: ") + e.what());
  }
}

namespace {
Result<std::vector<Jwk>> parse_keys(std::string_view text) {
  const json doc = parse_json_bounded(text, 8);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return bad("not a JWKS document: expected {\"keys\": [...]}");
  std::vector<Jwk> out;
  for (size_t i = 0; i < doc["keys"].size(); ++i) {
    const json& k = doc["keys"][i];
    if (!k.is_object()) return bad("key " + std::to_string(i) + " is not an object");
    Jwk jwk;
    jwk.kid = k.value("kid", "");
    const std::string name =
        "key " + std::to_string(i) + (jwk.kid.empty() ? "" : " (kid \"" + jwk.kid + "\")");
    if (k.contains("d")) return bad(name + " holds private key material; publish public keys only");
    if (k.value("use", "sig") != "sig") return bad(name + " is not a signing key (\"use\")");
    const std::string kty = k.value("kty", "");
    Result<std::string> pem = make_error(Errc::invalid_argument, "");
    if (kty == "RSA") {
      jwk.alg = "RS256";
      pem = rsa_pem(k, name);
    } else if (kty == "EC") {
      jwk.alg = "ES256";
      pem = ec_pem(k, name);
    } else {
      return bad(name + " has kty \"" + kty + "\"; RSA (RS256) and EC P-256 (ES256) are supported");
    }
    if (!pem) return pem.error();
    if (k.contains("alg") && k["alg"] != jwk.alg)
      return bad(name + " says alg " + k["alg"].dump() + " but a " + kty + " key signs " + jwk.alg);
    jwk.pem = std::move(*pem);
    out.push_back(std::move(jwk));
  }
  if (out.empty()) return bad("the document holds no keys");
  return out;
}

}  // namespace

}  // namespace stagewise::auth
