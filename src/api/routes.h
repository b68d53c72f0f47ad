#pragma once

#include "api/server.h"
#include "auth/principal.h"
#include "auth/scope.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::api {

/// A request as a handler sees it: the server's context and who called
/// (null on open routes).
struct Call {
  const Context& ctx;
  const auth::Principal* who = nullptr;
};

using RouteHandler = void (*)(const Call&, const httplib::Request&, httplib::Response&);

/// Who may call a route.
enum class Access {
  open,     ///< anyone (health, readiness, the dashboard's page)
  metrics,  ///< anyone, or the bearer of auth.metrics_token when it is set
  token,    ///< a valid bearer token of one of `roles` (any role when empty)
};

/// One route of the HTTP API: the one table from which the server registers
/// its handlers and the authorization test checks roles × routes
/// (CONVENTIONS.md "One description of the HTTP API").
struct Route {
  std::string_view method;   ///< GET or POST
  std::string_view pattern;  ///< as registered (a regex for path parameters)
  std::string_view path;     ///< as documented, with {parameters}
  Access access;
  std::vector<auth::Role> roles;  ///< for Access::token; empty: every role
  RouteHandler handler;
  std::string_view summary;
};

/// Makes one event the caller's, as POST /v1/events does (actor, scope,
/// source, who was authenticated, the intake's signature): empty when the
/// caller may send it, else why not.
std::string authorize_event(const Call& c, nlohmann::json& e);

/// The program named in the path, when the caller may see it; otherwise
/// null, and the answer (404 unknown, 403 outside the token's programs) is
/// written.
const workflow::Workflow* program_in_scope(const Call& c, const std::string& program,
                                           httplib::Response& res);

/// The application as the caller may see it, with its scope; nullopt when
/// none (404 written, whether it exists or not), or when another process
/// owns it (its owner's answer written, forward.h).
struct Visible {
  workflow::Application app;
  auth::Scope scope = auth::Scope::none;
};
std::optional<Visible> visible(const Call& c, const httplib::Request& req, const std::string& id,
                               httplib::Response& res);

/// Every route of the API.
const std::vector<Route>& route_table();

}  // namespace stagewise::api
