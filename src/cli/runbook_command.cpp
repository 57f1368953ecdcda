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

  int run(CommandContext& context) override {
    std::string service;
    std::string name;
    std::string error;
    std::vector<std::pair<std::string, std::string>> overrides;
    if (!split_runbook_ref(m_positionals, service, name, error) || !parse_overrides(m_flags.sets, overrides, error)) {
      context.error(error);
      return exit_code::usage;
    }
    RunSession session(context, m_flags);
    if (!session.open()) return exit_code::usage;
    auto prepared = session.prepare(service, name, overrides);
    if (!prepared) return exit_code::usage;
    if (int refused = session.preflight({&*prepared}); refused != exit_code::ok) return refused;
    ReporterOptions options = context.reporter_options();
    options.fail_on_warning = m_flags.fail_on_warning();
    auto reporter = make_reporter(context.options().output, context.out(), options);
    RunResult result = session.execute(*prepared, *reporter);
    return session.finish({result}, *reporter);
  }

 private:
  std::vector<std::string> m_positionals;
  RunFlags m_flags;
};

}  // namespace

std::unique_ptr<Command> make_runbook_command() { return std::make_unique<RunbookCommand>(); }

}  // namespace ttops
