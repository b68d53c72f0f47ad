// `stagewise token`: mints an HS256 token with the data dir's secret (the
// zero-config path of DESIGN.md §11), and the tokens the query commands
// use to ask a server on the same data dir.
#include "auth/secret.h"
#include "auth/tokens.h"
#include "cli/commands.h"
#include "common/time.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

namespace stagewise::cli {
namespace {

nlohmann::json serve_json(const std::string& data_dir) {
  std::ifstream in(serve_file(data_dir));
  const auto s = nlohmann::json::parse(in, nullptr, false);
  return s.is_object() ? s : nlohmann::json::object();
}

// The HS256 secret a server on `data_dir` checks tokens with: the file its
// serve.json names (auth.hs256_secret_file), else the data dir's own.
Result<std::string> token_secret(const std::string& data_dir, bool create) {
  const auto s = serve_json(data_dir);
  if (s.contains("token_secret") && s["token_secret"].is_string())
    return auth::read_secret(s["token_secret"].get<std::string>());
  if (create) return auth::ensure_secret(data_dir, "token.secret");
  return auth::read_secret(data_dir + "/auth/token.secret");
}

// The issuer and audience the server on `data_dir` requires (auth.issuer,
// auth.audience), so that its own tokens pass them.
void server_claims(const std::string& data_dir, auth::TokenClaims& c) {
  const auto s = serve_json(data_dir);
  c.issuer = s.value("issuer", "");
  c.audience = s.value("audience", "");
}

}  // namespace

int token(const TokenFlags& f) {
  const auto role = auth::parse_role(f.role);
  if (!role || *role == auth::Role::system) {
    std::cerr << "stagewise token: --role must be one of applicant, reviewer, program_manager, "
                 "hub_admin, admin, service\n";
    return 2;
  }
  const auto ttl = parse_iso8601_duration_ms(f.ttl);
  if (!ttl || *ttl <= 0) {
    std::cerr << "stagewise token: --ttl must be an ISO-8601 duration such as PT8H or P30D\n";
    return 2;
  }
  if (*role == auth::Role::hub_admin && f.university.empty()) {
    std::cerr << "stagewise token: a hub_admin token needs --university\n";
    return 2;
  }
  const auto secret = token_secret(f.data_dir, /*create=*/true);
  if (!secret) {
    std::cerr << "stagewise token: " << secret.error().message << "\n";
    return 1;
  }
  auth::TokenClaims c{.sub = f.sub,
                      .role = *role,
                      .programs = f.programs,
                      .university = f.university,
                      .applications = f.applications};
  server_claims(f.data_dir, c);
  const auto t = auth::mint_hs256(*secret, c, now_ms(), *ttl);
  if (!t) {
    std::cerr << "stagewise token: " << t.error().message << "\n";
    return 1;
  }
  std::cout << *t << "\n";
  return 0;
}

std::string local_admin_token(const std::string& data_dir) {
  return local_token(data_dir, auth::Role::admin);
}

std::string local_token(const std::string& data_dir, auth::Role role,
                        const std::vector<std::string>& programs) {
  const auto secret = token_secret(data_dir, /*create=*/false);
  if (!secret) return {};
  auth::TokenClaims c{.sub = "stagewise-cli", .role = role, .programs = programs};
  server_claims(data_dir, c);
  const auto t = auth::mint_hs256(*secret, c, now_ms(), 5 * 60'000);
  return t ? *t : std::string();
}

}  // namespace stagewise::cli
