#pragma once
// ttops(1) in roff, rendered from the CLI11 app: the commands, flags, positionals and their
// descriptions are the ones `--help` prints, so the page cannot drift from it. The build writes
// the installed ttops.1 with `ttops __man`; it is never edited by hand.
#include <CLI/CLI.hpp>

#include <string>

namespace ttops {

/// The whole page (man(7) macros), ASCII only: other characters become groff's \[uXXXX].
std::string man_page(CLI::App& app);

}  // namespace ttops
