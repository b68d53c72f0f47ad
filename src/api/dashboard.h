#pragma once

#include <string_view>

namespace stagewise::api {

/// The dashboard page. It signs in with the token in the link's fragment
/// (`/#token=…`, never sent to the server in a URL) or one pasted in, keeps
/// it in the tab's sessionStorage and sends it as a bearer token.
std::string_view dashboard_html();

}  // namespace stagewise::api
