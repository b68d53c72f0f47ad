#pragma once

#include <string_view>

namespace stagewise::api {

/// The OpenAPI 3.1 document of the HTTP API (src/api/openapi.json, built
/// into the binary), served at GET /v1/openapi.json. Every route of
/// route_table() is described there; tests/api/openapi_test.cpp holds the
/// two together and tests/e2e checks answers against its schemas.
std::string_view openapi_document();

}  // namespace stagewise::api
