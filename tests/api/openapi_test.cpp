// Issue 14: the OpenAPI document (src/api/openapi.json, built into the
// binary) and the route table describe the same API: every route the server
// registers is described with the roles the table gives it, and every
// described operation is a route. (The document's own validity is checked
// by tools/js/validate-openapi.mjs, test openapi_document_valid; answers
// against its schemas by the e2e tests.)
#include "api/openapi.h"

#include "api/routes.h"
#include "support/process.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <string>

namespace stagewise::api {
namespace {

using nlohmann::json;

const json& document() {
  static const json doc = json::parse(openapi_document());
  return doc;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string key(std::string_view method, std::string_view path) {
  std::string m(method);
  for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return m + " " + std::string(path);
}

// The roles a route admits, by name: every role a token can carry when the
// table lists none; none for open routes.
std::set<std::string> table_roles(const Route& r) {
  if (r.access != Access::token) return {};
  std::vector<auth::Role> roles = r.roles;
  if (roles.empty())
    roles = {auth::Role::admin,     auth::Role::program_manager, auth::Role::service,
             auth::Role::hub_admin, auth::Role::reviewer,        auth::Role::applicant};
  std::set<std::string> out;
  for (const auto role : roles) out.insert(std::string(auth::role_name(role)));
  return out;
}

// What the document says of who may call: "open", "metrics" or "token".
std::string documented_access(const json& op) {
  const json security = op.value("security", json());
  if (security == json::array()) return "open";
  if (security == json::parse(R"([{}, {"metricsToken": []}])")) return "metrics";
  if (security == json::parse(R"([{"bearerAuth": []}])")) return "token";
  return "unclear: " + security.dump();
}

std::string access_name(Access a) {
  return a == Access::open ? "open" : a == Access::metrics ? "metrics" : "token";
}

TEST(OpenApi, TheServedDocumentIsTheRepositorysFile) {
  const std::string file =
      testing::read_file(std::string(STAGEWISE_SOURCE_DIR) + "/src/api/openapi.json");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(openapi_document(), file) << "rebuild: the embedded document is stale";
  EXPECT_EQ(document()["openapi"].get<std::string>().rfind("3.1.", 0), 0u);
  EXPECT_EQ(document()["info"]["version"], STAGEWISE_VERSION)
      << "info.version is the version of the binary that serves it";
}

TEST(OpenApi, EveryRouteIsDescribedWithItsRoles) {
  const json& paths = document()["paths"];
  for (const Route& r : route_table()) {
    const std::string where = key(r.method, r.path);
    const std::string path(r.path);
    if (!paths.contains(path) || !paths[path].contains(lower(r.method))) {
      ADD_FAILURE() << where << " is a route but not described in src/api/openapi.json";
      continue;
    }
    const json& op = paths[path][lower(r.method)];
    EXPECT_EQ(documented_access(op), access_name(r.access)) << where << ": security";
    const auto roles = op.value("x-roles", json::array()).get<std::set<std::string>>();
    EXPECT_EQ(roles, table_roles(r)) << where << ": x-roles is not the route table's roles";
  }
}

TEST(OpenApi, EveryDescribedOperationIsARoute) {
  std::set<std::string> routes;
  for (const Route& r : route_table()) routes.insert(key(r.method, r.path));
  size_t described = 0;
  for (const auto& [path, item] : document()["paths"].items())
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      ++described;
      const std::string k = key(method, path);
      EXPECT_TRUE(routes.contains(k)) << k << " is described but the server has no such route";
    }
  EXPECT_GE(described, route_table().size());
}

// Each {name} of a path is a required path parameter, and each path
// parameter is in the path.
TEST(OpenApi, PathParametersAreThePathsOwn) {
  const json& doc = document();
  const std::regex brace(R"(\{([^}]+)\})");
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, op] : item.items()) {
      std::set<std::string> in_path, described;
      for (std::sregex_iterator it(path.begin(), path.end(), brace), end; it != end; ++it)
        in_path.insert((*it)[1]);
      for (json p : op.value("parameters", json::array())) {
        if (p.contains("$ref")) {
          const std::string ref = p["$ref"];  // #/components/parameters/NAME
          p = doc["components"]["parameters"][ref.substr(ref.rfind('/') + 1)];
        }
        if (p.value("in", "") != "path") continue;
        described.insert(p.value("name", ""));
        EXPECT_TRUE(p.value("required", false)) << method << " " << path << " " << p.dump();
      }
      EXPECT_EQ(described, in_path) << method << " " << path;
    }
}

}  // namespace
}  // namespace stagewise::api
