// What the commands that run a runbook share (runbook, rollback): their flags, loading and
// preparing, the refusal rules for scripts, the engine and the report.
#include <unistd.h>

#include <algorithm>

#include "cli/command.hpp"
#include "engine/engine.hpp"
#include "engine/terminal_prompter.hpp"
#include "ttops/cancel.hpp"
#include "util/duration.hpp"
#include "util/terminal.hpp"
#include "util/text.hpp"

namespace ttops {

void RunFlags::define(CLI::App& command) {
  command.add_flag("--dry-run", dry_run, "Run read-only steps; print mutating ones instead of running them");
  command.add_flag("-y,--yes", yes, "Confirm every mutating and manual step (no prompts; for scripts)");
  command.add_option("--set", sets, "Set a parameter: --set key=value (repeatable)");
  command.add_flag("--fail-on-warning", fail_on_warning, "Exit 1 when a warning-level expectation fails");
  command.add_option("--timeout", timeout, "Default step timeout when a step and its runbook set none (e.g. 30s)");
  command.add_option("--prompt-timeout", prompt_timeout, "How long a confirmation prompt waits for an answer")
      ->default_str("5m");
}

int run_runbook(CommandContext& context, const std::string& service, const std::string& name, const RunFlags& flags,
                const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::string error;
  std::vector<std::pair<std::string, std::string>> values = overrides;
  std::vector<std::pair<std::string, std::string>> sets;
  if (!parse_overrides(flags.sets, sets, error)) {
    context.error(error);
    return exit_code::usage;
  }
  for (const auto& [key, value] : sets) {
    bool taken = std::any_of(overrides.begin(), overrides.end(), [&](const auto& given) { return given.first == key; });
    if (taken) {
      context.error("--set " + key + " repeats a value a flag of this command already sets; give it once");
      return exit_code::usage;
    }
    values.emplace_back(key, value);
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
  auto prepared = prepare_run(runbook, *config, *environment, values, true, diagnostics);
  if (!prepared) {
    context.print_diagnostics(diagnostics);
    return exit_code::usage;
  }

  EngineSettings settings;
  settings.options = context.run_options(flags.dry_run);
  settings.assume_yes = flags.yes;
  settings.interactive = is_terminal(STDIN_FILENO) && is_terminal(STDERR_FILENO);
  if (!flags.timeout.empty()) {
    auto parsed = parse_duration(flags.timeout);
    if (!parsed || parsed->count() <= 0) {
      context.error("--timeout must be a duration such as 30s, not '" + flags.timeout + "'");
      return exit_code::usage;
    }
    settings.default_timeout = *parsed;
  }
  auto prompt_timeout = parse_duration(flags.prompt_timeout);
  if (!prompt_timeout) {
    context.error("--prompt-timeout must be a duration such as 5m");
    return exit_code::usage;
  }
  TerminalPrompter prompter(std::chrono::duration_cast<std::chrono::seconds>(*prompt_timeout),
                            use_color(STDERR_FILENO, context.options().no_color));
  settings.prompter = &prompter;

  // A script must never be stopped by a prompt it cannot answer: refuse before anything runs.
  if (!flags.dry_run && !flags.yes && !settings.interactive && !prepared->gated.empty()) {
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
  return exit_code_for(runs, flags.fail_on_warning);
}

}  // namespace ttops
