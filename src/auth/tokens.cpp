#include "auth/tokens.h"

#include "auth/openssl.h"
#include "common/json_limits.h"

#include <nlohmann/json.hpp>

#include <jwt.h>

#include <memory>

namespace stagewise::auth {
namespace {

using nlohmann::json;

struct JwtDeleter {
  void operator()(jwt_t* p) const { jwt_free(p); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

constexpr size_t kMaxTokenBytes = 8192;

Error refuse(const std::string& why) {
  return make_error(Errc::invalid_argument, why);
}

// The token's header, read before any key is chosen: alg and kid only.
Result<json> header_of(std::string_view token) {
  const auto dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) == std::string_view::npos)
    return refuse("the bearer token is not a JWT (header.payload.signature)");
  const auto bytes = ssl::base64url_decode(token.substr(0, dot));
  if (!bytes) return refuse("the token's header is not base64url");
  json h = parse_json_bounded(*bytes, 4);
  if (!h.is_object() || !h.contains("alg") || !h["alg"].is_string())
    return refuse("the token's header has no algorithm");
  return h;
}

struct Key {
  jwt_alg_t alg;
  std::string bytes;
};

// The key the token must verify with, chosen by its kid and its alg's kind.
Result<Key> key_for(const VerifierOptions& o, const json& header) {
  const std::string alg = header["alg"];
  if (alg == "HS256") {
    if (o.hs256_secret.empty()) return refuse("HS256 tokens are not accepted by this server");
    return Key{JWT_ALG_HS256, o.hs256_secret};
  }
  if (alg != "RS256" && alg != "ES256")
    return refuse("the token's algorithm \"" + utf8_prefix(alg, 16) +
                  "\" is not accepted; use RS256, ES256 or HS256");
  const auto named = header.find("kid");
  const std::string kid =
      named != header.end() && named->is_string() ? named->get<std::string>() : "";
  const Jwk* found = nullptr;
  size_t same_alg = 0;
  for (const auto& k : o.keys) {
    if (k.alg != alg) continue;
    ++same_alg;
    if (k.kid == kid) found = &k;
  }
  if (found == nullptr && kid.empty() && same_alg == 1)
    for (const auto& k : o.keys)
      if (k.alg == alg) found = &k;
  if (found == nullptr)
    return refuse("no " + alg + " key" +
                  (kid.empty() ? "" : " with kid \"" + utf8_prefix(kid, 64) + "\"") +
                  " is configured (auth.jwks_file)");
  return Key{alg == "RS256" ? JWT_ALG_RS256 : JWT_ALG_ES256, found->pem};
}

std::vector<std::string> string_list(const json& claims, const char* name, bool& ok) {
  std::vector<std::string> out;
  const auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > 1000) {
    ok = false;
    return out;
  }
  for (const auto& v : *it) {
    if (!v.is_string() || !is_plain_token(v.get<std::string>())) {
      ok = false;
      return out;
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<void> check_times(const json& c, int64_t now_ms, int64_t leeway_ms) {
  const auto exp = c.find("exp");
  if (exp == c.end() || !exp->is_number()) return refuse("the token has no expiry (exp)");
  if (exp->get<double>() * 1000 + static_cast<double>(leeway_ms) < static_cast<double>(now_ms))
    return refuse("the token expired; get a new one");
  const auto nbf = c.find("nbf");
  if (nbf != c.end() &&
      (!nbf->is_number() || nbf->get<double>() * 1000 > static_cast<double>(now_ms + leeway_ms)))
    return refuse("the token is not valid yet (nbf)");
  return {};
}

Result<void> check_audience(const json& c, const VerifierOptions& o) {
  const auto iss = c.find("iss");
  if (!o.issuer.empty() && (iss == c.end() || *iss != o.issuer))
    return refuse("the token was not issued by \"" + o.issuer + "\" (iss)");
  if (o.audience.empty()) return {};
  const auto aud = c.find("aud");
  const bool ok =
      aud != c.end() &&
      ((aud->is_string() && *aud == o.audience) ||
       (aud->is_array() && std::find(aud->begin(), aud->end(), o.audience) != aud->end()));
  if (!ok) return refuse("the token is not meant for \"" + o.audience + "\" (aud)");
  return {};
}

Result<Principal> principal_of(const json& c) {
  Principal p;
  if (!c.contains("sub") || !c["sub"].is_string() || c["sub"].get<std::string>().size() > 128 ||
      !is_plain_token(c["sub"].get<std::string>()))
    return refuse("the token's sub must be an id of at most 128 characters without spaces");
  p.sub = c["sub"];
  const auto role = c.contains("role") && c["role"].is_string()
                        ? parse_role(c["role"].get<std::string>())
                        : std::nullopt;
  if (!role || *role == Role::system)
    return refuse(
        "the token's role must be one of applicant, reviewer, program_manager, hub_admin, admin, "
        "service");
  p.role = *role;
  bool ok = true;
  p.programs = string_list(c, "programs", ok);
  p.applications = string_list(c, "applications", ok);
  if (!ok) return refuse("the token's programs and applications must be arrays of ids");
  if (const auto u = c.find("university"); u != c.end()) {
    if (!u->is_string() || u->get<std::string>().size() > 256)
      return refuse("the token's university must be a string");
    p.university = *u;
  }
  if (p.role == Role::hub_admin && p.university.empty())
    return refuse("a hub_admin token needs the university it co-manages (university)");
  p.expires_ms = static_cast<int64_t>(std::min(c["exp"].get<double>(), 9.0e15) * 1000);
  return p;
}

}  // namespace

Result<Principal> Verifier::verify(std::string_view token, int64_t now_ms) const {
  if (token.empty() || token.size() > kMaxTokenBytes)
    return refuse("the bearer token is empty or longer than 8 KiB");
  auto header = header_of(token);
  if (!header) return header.error();
  auto key = key_for(options_, *header);
  if (!key) return key.error();
  jwt_t* raw = nullptr;
  const std::string copy(token);  // libjwt wants a NUL-terminated string
  if (jwt_decode(&raw, copy.c_str(), reinterpret_cast<const unsigned char*>(key->bytes.data()),
                 static_cast<int>(key->bytes.size())) != 0 ||
      raw == nullptr)
    return refuse("the token's signature does not verify");
  JwtPtr jwt(raw);
  // The key's algorithm, never the one the token would like.
  if (jwt_get_alg(jwt.get()) != key->alg)
    return refuse("the token's algorithm does not match its key");
  std::unique_ptr<char, decltype(&free)> grants(jwt_get_grants_json(jwt.get(), nullptr), &free);
  if (!grants) return refuse("the token has no claims");
  const json claims = parse_json_bounded(grants.get(), 8);
  if (!claims.is_object()) return refuse("the token's claims are not a JSON object");
  if (auto r = check_times(claims, now_ms, options_.leeway_ms); !r) return r.error();
  if (auto r = check_audience(claims, options_); !r) return r.error();
  return principal_of(claims);
}

Result<std::string> mint_hs256(const std::string& secret, const TokenClaims& c, int64_t now_ms,
                               int64_t ttl_ms) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return make_error(Errc::internal, "libjwt: cannot create a token");
  JwtPtr jwt(raw);
  json claims = {{"sub", c.sub},
                 {"role", std::string(role_name(c.role))},
                 {"iat", now_ms / 1000},
                 {"exp", (now_ms + ttl_ms) / 1000}};
  if (!c.programs.empty()) claims["programs"] = c.programs;
  if (!c.applications.empty()) claims["applications"] = c.applications;
  if (!c.university.empty()) claims["university"] = c.university;
  if (!c.issuer.empty()) claims["iss"] = c.issuer;
  if (!c.audience.empty()) claims["aud"] = c.audience;
  if (jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                  static_cast<int>(secret.size())) != 0)
    return make_error(Errc::internal, "libjwt: cannot sign the token");
  std::unique_ptr<char, decltype(&free)> out(jwt_encode_str(jwt.get()), &free);
  if (!out) return make_error(Errc::internal, "libjwt: cannot encode the token");
  return std::string(out.get());
}

}  // namespace stagewise::auth
