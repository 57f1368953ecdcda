#pragma once
#include <string>
#include <vector>

#include "ttops/diagnostics.hpp"
#include "ttops/model.hpp"

namespace ttops {

struct Config;

/// Checks over a whole runbook once it is loaded: duplicate ids, jumps to nowhere, decision
/// branches that can never be taken, steps no path reaches, loops without a bound, and every
/// name a template or expression reads. Nothing runs from a runbook with a problem here.
void validate_runbook(const Runbook& runbook, const Config* config, Diagnostics& diagnostics);

/// The captures a runbook can produce, including those of the procedures it uses.
std::vector<std::string> capture_names(const Runbook& runbook);

/// The fields `run.*` offers.
const std::vector<std::string>& run_fields();

}  // namespace ttops
