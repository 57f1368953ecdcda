// ttops runbook SERVICE RUNBOOK [--dry-run] [--yes] [--set k=v] [--env NAME]: runs it.
#include <unistd.h>

#include <iostream>
#include <ostream>

#include "cli/command.hpp"
#include "engine/engine.hpp"
#include "engine/terminal_prompter.hpp"
#include "ttops/cancel.hpp"
#include "util/duration.hpp"
#include "util/terminal.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

class RunbookCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("runbook", m_positionals, "SERVICE RUNBOOK, or SERVICE/RUNBOOK")->required()->expected(1, 2);
    command.add_flag("--dry-run", m_dry_run, "Run read-only steps; print mutating ones instead of running them");
    command.add_flag("-y,--yes", m_yes, "Confirm every mutating and manual step (no prompts; for scripts)");
    command.add_option("--set", m_sets, "Set a parameter: --set key=value (repeatable)");
    command.add_flag("--fail-on-warning", m_fail_on_warning, "Exit 1 when a warning-level expectation fails");
    command.add_option("--timeout", m_timeout, "Default step timeout when a step and its runbook set none (e.g. 30s)");
    command.add_option("--prompt-timeout", m_prompt_timeout, "How long a confirmation prompt waits for an answer")
        ->default_str("5m");
  }

  int run(CommandContext& context) override {
    std::string service;
    std::string name;
    std::string error;
    std::vector<std::pair<std::string, std::string>> overrides;
    if (!split_runbook_ref(m_positionals, service, name, error) || !parse_overrides(m_sets, overrides, error)) {
      context.error(error);
      return exit_code::usage;
    }
    Library* library = context.library();
    if (library == nullptr) return exit_code::usage;
    const Config* config = context.config();
    if (config == nullptr) return exit_code::usage;
    const Environment* environment = context.environment();
    if (environment == nullptr) return exit_code::usage;

    Diagnostics diagnostics;
    auto runbook = library->load(service, name, config, diagnostics);
    if (!runbook) {
      context.print_diagnostics(diagnostics);
      return exit_code::usage;
    }
    auto prepared = prepare_run(runbook, *config, *environment, overrides, true, diagnostics);
    if (!prepared) {
      context.print_diagnostics(diagnostics);
      return exit_code::usage;
    }

    EngineSettings settings;
    settings.options = context.run_options(m_dry_run);
    settings.assume_yes = m_yes;
    settings.interactive = is_terminal(STDIN_FILENO) && is_terminal(STDERR_FILENO);
    if (!m_timeout.empty()) {
      auto parsed = parse_duration(m_timeout);
      if (!parsed || parsed->count() <= 0) {
        context.error("--timeout must be a duration such as 30s, not '" + m_timeout + "'");
        return exit_code::usage;
      }
      settings.default_timeout = *parsed;
    }
    auto prompt_timeout = parse_duration(m_prompt_timeout);
    if (!prompt_timeout) {
      context.error("--prompt-timeout must be a duration such as 5m");
      return exit_code::usage;
    }
    TerminalPrompter prompter(std::chrono::duration_cast<std::chrono::seconds>(*prompt_timeout),
                              use_color(STDERR_FILENO, context.options().no_color));
    settings.prompter = &prompter;

    // A script must never be stopped by a prompt it cannot answer: refuse before anything runs.
    if (!m_dry_run && !m_yes && !settings.interactive && !prepared->gated.empty()) {
      std::vector<std::string> names;
      for (const auto& step : prepared->gated)
        names.push_back(step.id + " (" + (step.manual ? std::string("manual") : std::string(to_string(step.effect))) + ")");
      context.error("refusing to run " + runbook->qualified_name() + ": " + std::to_string(names.size()) + " step" +
                    (names.size() == 1 ? " needs" : "s need") + " confirmation and stdin is not a terminal: " +
                    join(names, ", ") + ". Rerun with --yes to confirm them, or --dry-run to see what they would do.");
      return exit_code::refused;
    }

    auto reporter = make_reporter(context.options().output, context.out(), context.reporter_options());
    Engine engine(settings, *reporter, process_cancel_token());
    RunResult result = engine.run(*prepared);
    std::vector<RunResult> runs = {result};
    reporter->report_finished(runs);
    return exit_code_for(runs, m_fail_on_warning);
  }

 private:
  std::vector<std::string> m_positionals;
  std::vector<std::string> m_sets;
  bool m_dry_run = false;
  bool m_yes = false;
  bool m_fail_on_warning = false;
  std::string m_timeout;
  std::string m_prompt_timeout = "5m";
};

}  // namespace

std::unique_ptr<Command> make_runbook_command() { return std::make_unique<RunbookCommand>(); }

}  // namespace ttops
