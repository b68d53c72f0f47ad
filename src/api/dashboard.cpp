#include "api/dashboard.h"

namespace stagewise::api {

// Generated from src/api/dashboard/ by cmake/embed.cmake.
std::string_view dashboard_index_html();
std::string_view dashboard_app_js();
std::string_view dashboard_app_css();

std::optional<Asset> dashboard_asset(std::string_view path) {
  if (path == "/") return Asset{dashboard_index_html(), "text/html; charset=utf-8"};
  if (path == "/assets/app.js") return Asset{dashboard_app_js(), "text/javascript; charset=utf-8"};
  if (path == "/assets/app.css") return Asset{dashboard_app_css(), "text/css; charset=utf-8"};
  return std::nullopt;
}

}  // namespace stagewise::api
