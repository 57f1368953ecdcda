#pragma once
// A runbook's flow as a diagram: steps, the order they run in, decision branches with their
// conditions, jumps on failure, parallel groups and procedures. Mermaid for docs pages, DOT for
// Graphviz.
#include <string>

#include "ttops/model.hpp"

namespace ttops {

std::string flow_mermaid(const Runbook& runbook);
std::string flow_dot(const Runbook& runbook);

}  // namespace ttops
