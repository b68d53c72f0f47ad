#include "workflow/graph.h"

namespace stagewise::workflow {

std::string to_mermaid(const Workflow&) { return {}; }
std::string to_dot(const Workflow&) { return {}; }

}  // namespace stagewise::workflow
