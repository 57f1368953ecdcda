#pragma once
// What a step found, as a few lines of text for the terminal: a query's rows as a table, the
// log lines a filter kept, a Redis list. Used by the text reporter for steps that say `show`.
#include <string>
#include <vector>

#include "ttops/json.hpp"

namespace ttops {

/// At most `max_lines` lines (plus one saying how many more there were); empty when the data
/// has nothing tabular or line-shaped to show.
std::vector<std::string> display_lines(const Json& data, std::size_t max_lines = 12);

}  // namespace ttops
