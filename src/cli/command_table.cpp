// The one table of subcommands (ninja keeps its tools the same way): name, summary, factory.
#include "cli/command.hpp"

namespace ttops {

std::unique_ptr<Command> make_list_command();
std::unique_ptr<Command> make_show_command();
std::unique_ptr<Command> make_validate_command();
std::unique_ptr<Command> make_runbook_command();
std::unique_ptr<Command> make_rollback_command();

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> table = {
      {"list", "List services and their runbooks", &make_list_command},
      {"show", "Show a runbook as a readable page, every step expanded", &make_show_command},
      {"validate", "Check runbooks and config; each problem as file:line:col", &make_validate_command},
      {"runbook", "Run a runbook", &make_runbook_command},
      {"rollback", "Roll a service back: decision tree, undo, verification (docs/rollbacks.md)", &make_rollback_command},
  };
  return table;
}

}  // namespace ttops
