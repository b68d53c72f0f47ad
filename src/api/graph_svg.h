#pragma once

// A workflow's Graphviz drawing (workflow::to_dot) laid out and rendered as
// SVG by Graphviz's own library (Debian libgraphviz-dev, libgvc), for the
// dashboard: no layout code of ours, no external service.

#include "common/result.h"

#include <string>

namespace stagewise::api {

/// `dot` laid out with the dot engine, as an SVG document. Serialised
/// (libgvc is not thread-safe); an error when Graphviz refuses the graph.
Result<std::string> render_svg(const std::string& dot);

}  // namespace stagewise::api
