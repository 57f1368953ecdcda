// The one table of subcommands (ninja keeps its tools the same way): name, summary, factory.
#include "cli/command.hpp"

namespace ttops {

std::unique_ptr<Command> make_list_command();
std::unique_ptr<Command> make_show_command();
std::unique_ptr<Command> make_validate_command();
std::unique_ptr<Command> make_runbook_command();
std::unique_ptr<Command> make_plan_command();
std::unique_ptr<Command> make_check_command();
std::unique_ptr<Command> make_resume_command();
std::unique_ptr<Command> make_audit_command();
std::unique_ptr<Command> make_docs_command();
std::unique_ptr<Command> make_rollback_command();
std::unique_ptr<Command> make_completion_command();

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> table = {
      {"list", "List services and their runbooks", &make_list_command},
      {"show", "Show a runbook as a readable page, every step expanded", &make_show_command},
      {"validate", "Check runbooks and config; each problem as file:line:col", &make_validate_command},
      {"runbook", "Run a runbook", &make_runbook_command},
      {"plan", "Show what a runbook would do: every step expanded, mutations previewed safely", &make_plan_command},
      {"check", "Smoke-check services (all at once): exit 0 only when every one passes", &make_check_command},
      {"resume", "Continue an interrupted or failed run from the step that did not finish", &make_resume_command},
      {"audit", "Show the audit trail of mutations, or verify its hash chain", &make_audit_command},
      {"docs", "Generate the runbook library's documentation pages from the YAML", &make_docs_command},
      {"rollback", "Roll a service back: decision tree, undo, verification (docs/rollbacks.md)", &make_rollback_command},
      {"completion", "Print the bash or zsh completion script: source <(ttops completion bash)", &make_completion_command},
  };
  return table;
}

}  // namespace ttops
