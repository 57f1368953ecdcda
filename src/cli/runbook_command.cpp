// ttops runbook SERVICE RUNBOOK [--dry-run] [--yes] [--set k=v] [--env NAME]: runs it.
#include "cli/command.hpp"
#include "cli/run_support.hpp"

namespace ttops {

namespace {

class RunbookCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("runbook", m_positionals, "SERVICE RUNBOOK, or SERVICE/RUNBOOK")->required()->expected(1, 2);
    m_flags.define(command);
  }

  bool runs_on_many_contexts() const override { return true; }

  int run(CommandContext& context) override {
    std::string service;
    std::string name;
    std::string error;
    if (!split_runbook_ref(m_positionals, service, name, error)) {
      context.error(error);
      return exit_code::usage;
    }
    return run_runbook(context, service, name, m_flags);
  }

 private:
  std::vector<std::string> m_positionals;
  RunFlags m_flags;
};

}  // namespace

std::unique_ptr<Command> make_runbook_command() { return std::make_unique<RunbookCommand>(); }

}  // namespace ttops
