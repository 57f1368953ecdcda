#pragma once
// The text report of one runbook run in several Kubernetes contexts (`--context a,b,c`): a row
// per step, a column per context, so that what differs between clusters reads at a glance.
#include <iosfwd>
#include <string>
#include <vector>

#include "ttops/result.hpp"
#include "util/terminal.hpp"

namespace ttops {

/// The contexts of `runs` in the order they first appear (one entry, possibly empty, when they
/// were all run in the same one).
std::vector<std::string> contexts_of(const std::vector<RunResult>& runs);

/// For each runbook in `runs`: its name, the step table (status word and time per context), the
/// verdict per context, then what went wrong where and what to do about it. Not redacted: the
/// caller redacts what it prints.
void print_steps_by_context(std::ostream& out, const std::vector<RunResult>& runs, const Palette& palette);

}  // namespace ttops
