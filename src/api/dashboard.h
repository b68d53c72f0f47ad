#pragma once

#include <optional>
#include <string_view>

namespace stagewise::api {

/// One static file of the dashboard (src/api/dashboard/, built into the
/// binary).
struct Asset {
  std::string_view bytes;
  std::string_view content_type;
};

/// The dashboard's file served at `path`: "/" (the page), "/assets/app.js",
/// "/assets/app.css"; nullopt for any other. The page signs in with the token
/// in the link's fragment (`/#token=…`, never sent to the server in a URL)
/// or one pasted in, keeps it in the tab's sessionStorage and sends it as a
/// bearer token; everything it shows comes from the API, as the token may
/// see it.
std::optional<Asset> dashboard_asset(std::string_view path);

}  // namespace stagewise::api
