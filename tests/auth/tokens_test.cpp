#include "auth/tokens.h"

#include "auth/jwks.h"
#include "auth/keys.h"
#include "auth/secret.h"
#include "auth/signature.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>

namespace stagewise::auth {
namespace {

using nlohmann::json;
using testing::sign;

constexpr int64_t kNow = 1'800'000'000'000;  // ms
const std::string kSecret(40, 's');

json claims(const std::string& role = "program_manager") {
  return {{"sub", "pm-1"},
          {"role", role},
          {"programs", {"phd-fellowship"}},
          {"exp", kNow / 1000 + 600}};
}

std::string error_of(const Result<Principal>& r) {
  return r.ok() ? "accepted" : r.error().message;
}

TEST(Tokens, MintedHs256TokensVerifyIntoThePrincipal) {
  TokenClaims c{.sub = "hub-7",
                .role = Role::hub_admin,
                .programs = {"phd-fellowship"},
                .university = "Partner U"};
  const auto token = mint_hs256(kSecret, c, kNow, 3'600'000);
  ASSERT_TRUE(token.ok()) << token.error().message;
  const Verifier v({.hs256_secret = kSecret});
  const auto p = v.verify(*token, kNow + 1000);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->sub, "hub-7");
  EXPECT_EQ(p->role, Role::hub_admin);
  EXPECT_EQ(p->university, "Partner U");
  EXPECT_TRUE(p->may_program("phd-fellowship"));
  EXPECT_FALSE(p->may_program("research-grant"));
  EXPECT_NE(error_of(v.verify(*token, kNow + 3'700'000)).find("expired"), std::string::npos);
}

TEST(Tokens, TamperedForgedAndConfusedTokensAreRefused) {
  const Verifier v({.hs256_secret = kSecret});
  const std::string good = sign(JWT_ALG_HS256, kSecret, claims());
  ASSERT_TRUE(v.verify(good, kNow).ok());
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_HS256, std::string(40, 'x'), claims()), kNow))
                .find("signature"),
            std::string::npos);
  // The payload changed after signing (a role raised to admin).
  const auto dot1 = good.find('.'), dot2 = good.find('.', dot1 + 1);
  json raised = claims("admin");
  const std::string forged =
      good.substr(0, dot1 + 1) + ssl::base64url_encode(raised.dump()) + good.substr(dot2);
  EXPECT_FALSE(v.verify(forged, kNow).ok());
  // alg "none", and no token at all.
  const std::string none = ssl::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                           ssl::base64url_encode(claims().dump()) + ".";
  EXPECT_FALSE(v.verify(none, kNow).ok());
  EXPECT_FALSE(v.verify("", kNow).ok());
  EXPECT_FALSE(v.verify("not.a-token", kNow).ok());
  EXPECT_FALSE(v.verify(std::string(10'000, 'a'), kNow).ok());
  // Claims that do not make a principal.
  json no_exp = claims();
  no_exp.erase("exp");
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_HS256, kSecret, no_exp), kNow)).find("exp"),
            std::string::npos);
  EXPECT_FALSE(v.verify(sign(JWT_ALG_HS256, kSecret, claims("system")), kNow).ok());
  EXPECT_FALSE(v.verify(sign(JWT_ALG_HS256, kSecret, claims("dean")), kNow).ok());
  json spaced = claims();
  spaced["sub"] = "pm 1";
  EXPECT_FALSE(v.verify(sign(JWT_ALG_HS256, kSecret, spaced), kNow).ok());
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_HS256, kSecret, claims("hub_admin")), kNow))
                .find("university"),
            std::string::npos);
  json later = claims();
  later["nbf"] = kNow / 1000 + 3600;
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_HS256, kSecret, later), kNow)).find("nbf"),
            std::string::npos);
}

TEST(Tokens, Rs256AndEs256FromAJwksByKid) {
  const auto rsa = testing::rsa_pair("rsa-1");
  const auto ec = testing::ec_pair("ec-1");
  const auto other = testing::rsa_pair("rsa-2");
  const auto keys = parse_jwks(json{{"keys", {rsa.jwk, ec.jwk, other.jwk}}}.dump());
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  const Verifier v({.keys = *keys, .issuer = "https://idp.example", .audience = "stagewise"});
  json c = claims();
  c["iss"] = "https://idp.example";
  c["aud"] = json::array({"other", "stagewise"});
  EXPECT_TRUE(v.verify(sign(JWT_ALG_RS256, rsa.private_pem, c, "rsa-1"), kNow).ok());
  EXPECT_TRUE(v.verify(sign(JWT_ALG_ES256, ec.private_pem, c, "ec-1"), kNow).ok());
  EXPECT_TRUE(v.verify(sign(JWT_ALG_RS256, other.private_pem, c, "rsa-2"), kNow).ok());
  // Signed by one key, naming another.
  EXPECT_FALSE(v.verify(sign(JWT_ALG_RS256, other.private_pem, c, "rsa-1"), kNow).ok());
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_RS256, rsa.private_pem, c, "nope"), kNow)).find("kid"),
            std::string::npos);
  // Algorithm confusion: HS256 "signed" with the RSA public key as secret.
  const auto pub = parse_jwks(json{{"keys", {rsa.jwk}}}.dump())->front().pem;
  EXPECT_FALSE(v.verify(sign(JWT_ALG_HS256, pub, c), kNow).ok());
  const Verifier both({.hs256_secret = kSecret, .keys = *keys});
  EXPECT_FALSE(both.verify(sign(JWT_ALG_HS256, pub, c), kNow).ok());
  // Issuer and audience.
  json wrong_iss = c;
  wrong_iss["iss"] = "https://evil.example";
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_RS256, rsa.private_pem, wrong_iss, "rsa-1"), kNow))
                .find("iss"),
            std::string::npos);
  json wrong_aud = c;
  wrong_aud["aud"] = "someone-else";
  EXPECT_NE(error_of(v.verify(sign(JWT_ALG_RS256, rsa.private_pem, wrong_aud, "rsa-1"), kNow))
                .find("aud"),
            std::string::npos);
}

// Review findings: members of the wrong type must be refusals, not throws.
TEST(Tokens, CraftedHeadersAndClaimsAreRefusedNotThrown) {
  const Verifier v({.hs256_secret = kSecret,
                    .keys = *parse_jwks(json{{"keys", {testing::rsa_pair("k").jwk}}}.dump())});
  const std::string payload = ssl::base64url_encode(claims().dump());
  for (const char* header :
       {R"({"alg":"RS256","kid":5})", R"({"alg":7})", R"({"alg":"RS256","kid":{"a":1}})", "[1,2]",
        R"({"alg":"\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff"})"}) {
    const std::string token = ssl::base64url_encode(header) + "." + payload + ".c2ln";
    EXPECT_FALSE(v.verify(token, kNow).ok()) << header;
  }
  json huge = claims();
  huge["exp"] = 1e300;
  huge["university"] = 5;
  EXPECT_FALSE(v.verify(sign(JWT_ALG_HS256, kSecret, huge), kNow).ok())
      << "university not a string";
  huge.erase("university");
  EXPECT_TRUE(v.verify(sign(JWT_ALG_HS256, kSecret, huge), kNow).ok());
  EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"RSA","kid":5,"n":"AQAB","e":"AQAB"}]})").ok());
  EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":7}]})").ok());
}

TEST(Jwks, BadDocumentsAreRefusedNamingTheKey) {
  auto rsa = testing::rsa_pair("r");
  json priv = rsa.jwk;
  priv["d"] = "AAAA";
  EXPECT_NE(parse_jwks(json{{"keys", {priv}}}.dump()).error().message.find("private"),
            std::string::npos);
  EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"oct","k":"AAAA"}]})").ok());
  EXPECT_FALSE(parse_jwks(R"({"keys":[]})").ok());
  EXPECT_FALSE(parse_jwks("[]").ok());
  json enc = rsa.jwk;
  enc["use"] = "enc";
  EXPECT_FALSE(parse_jwks(json{{"keys", {enc}}}.dump()).ok());
  json wrong = rsa.jwk;
  wrong["alg"] = "ES256";
  EXPECT_FALSE(parse_jwks(json{{"keys", {wrong}}}.dump()).ok());
}

TEST(Secrets, MadePrivateOnceAndRefusedWhenOthersMayReadThem) {
  stagewise::testing::TempDir dir;
  const auto a = ensure_secret(dir / "data", "token.secret");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(*ensure_secret(dir / "data", "token.secret"), *a) << "made once, then read";
  struct stat st {};
  ASSERT_EQ(::stat((dir / "data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir / "data/auth/token.secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ofstream(dir / "open.key") << std::string(40, 'k');
  ::chmod((dir / "open.key").c_str(), 0644);
  EXPECT_NE(read_secret(dir / "open.key").error().message.find("chmod 600"), std::string::npos);
}

TEST(Signatures, BindTheEventItsActorAndItsData) {
  CloudEvent e;
  e.id = "deadline/app-1/review/1";
  e.source = "stagewise.timers";
  e.type = "stage.deadline_passed";
  e.subject = "app-1";
  e.time = "2026-03-01T00:00:00Z";
  e.actorrole = "system";
  e.data = {{"stage", "review"}};
  e.authsig = event_signature(kSecret, e);
  EXPECT_TRUE(signature_valid(kSecret, e));
  EXPECT_FALSE(signature_valid(std::string(40, 'o'), e));
  CloudEvent changed = e;
  changed.data["stage"] = "offered";
  EXPECT_FALSE(signature_valid(kSecret, changed));
  changed = e;
  changed.subject = "app-2";
  EXPECT_FALSE(signature_valid(kSecret, changed));
  changed = e;
  changed.authsig.clear();
  EXPECT_FALSE(signature_valid(kSecret, changed));
}

}  // namespace
}  // namespace stagewise::auth
