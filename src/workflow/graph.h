#pragma once

#include <string>

#include "workflow/workflow.h"

namespace stagewise::workflow {

/// A Mermaid `stateDiagram-v2` of the workflow.
std::string to_mermaid(const Workflow& wf);

/// A Graphviz `digraph` of the workflow.
std::string to_dot(const Workflow& wf);

}  // namespace stagewise::workflow
