#include "cli/run_support.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <fstream>

#include "audit/run_recorder.hpp"
#include "engine/policy.hpp"
#include "runbook/loader.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/state_dir.hpp"
#include "util/terminal.hpp"
#include "util/text.hpp"

namespace ttops {

void RunFlags::define(CLI::App& command, bool with_sets) {
  command.add_flag("--dry-run", dry_run, "Run read-only steps; show mutating ones (and what they would do) instead");
  command.add_flag("-y,--yes", yes, "Confirm every mutating and manual step (no prompts; for scripts)");
  if (with_sets) command.add_option("--set", sets, "Set a parameter: --set key=value (repeatable)");
  command.add_option("--fail-on", fail_on, "Which failed expectations fail the run: critical (default) or warning")
      ->check(CLI::IsMember({"critical", "warning"}));
  command.add_flag_callback(
      "--fail-on-warning", [this] { fail_on = "warning"; }, "Same as --fail-on warning");
  command.add_option("--junit", junit, "Also write a JUnit XML report to FILE");
  command.add_option("--timeout", timeout, "Default step timeout when a step and its runbook set none (e.g. 30s)");
  command.add_option("--prompt-timeout", prompt_timeout, "How long a confirmation waits for an answer (default 5m)");
  command.add_option("--confirm-destructive", confirm_destructive,
                     "The service name, typed up front: confirms destructive steps in production with --yes");
}

RunSession::RunSession(CommandContext& context, RunFlags flags)
    : m_context(context),
      m_flags(std::move(flags)),
      m_audit(context.options().audit_log.empty() ? AuditLog::default_path()
                                                  : std::filesystem::path(context.options().audit_log)) {}

bool RunSession::open() {
  m_library = m_context.library();
  if (m_library == nullptr) return false;
  m_config = m_context.config();
  if (m_config == nullptr) return false;
  m_environment = m_context.environment();
  if (m_environment == nullptr) return false;
  if (!m_flags.timeout.empty()) {
    auto parsed = parse_duration(m_flags.timeout);
    if (!parsed || parsed->count() <= 0) {
      m_context.error("--timeout must be a duration such as 30s, not '" + m_flags.timeout + "'");
      return false;
    }
    m_default_timeout = *parsed;
  }
  auto prompt_timeout = parse_duration(m_flags.prompt_timeout);
  if (!prompt_timeout || prompt_timeout->count() <= 0) {
    m_context.error("--prompt-timeout must be a duration such as 5m, not '" + m_flags.prompt_timeout + "'");
    return false;
  }
  m_interactive = is_terminal(STDIN_FILENO) && is_terminal(STDERR_FILENO);
  m_prompter = std::make_unique<TerminalPrompter>(std::chrono::duration_cast<std::chrono::seconds>(*prompt_timeout),
                                                  use_color(STDERR_FILENO, m_context.options().no_color));
  return true;
}

std::optional<PreparedRun> RunSession::prepare(const std::string& service, const std::string& name,
                                               const std::vector<std::pair<std::string, std::string>>& overrides) {
  Diagnostics diagnostics;
  auto runbook = m_library->load(service, name, m_config, diagnostics);
  if (!runbook) {
    m_context.print_diagnostics(diagnostics);
    return std::nullopt;
  }
  auto prepared = prepare_run(runbook, *m_config, *m_environment, overrides, true, diagnostics);
  if (!prepared) m_context.print_diagnostics(diagnostics);
  return prepared;
}

int RunSession::preflight(const std::vector<const PreparedRun*>& runs) {
  if (m_flags.dry_run) return exit_code::ok;  // nothing mutates, nothing is locked
  std::vector<std::string> denied;
  std::vector<std::string> unconfirmed;
  bool needs_typed = false;
  for (const PreparedRun* run : runs) {
    const std::string& service = run->runbook->service;
    bool mutates = false;
    for (const auto& step : run->gated) {
      std::string label = run->runbook->qualified_name() + ":" + step.id;
      if (step.manual) {
        if (!m_flags.yes && !m_interactive) unconfirmed.push_back(label + " (manual)");
        continue;
      }
      mutates = true;
      Approval approval = approval_for(*m_config, *m_environment, step.effect);
      switch (approval) {
        case Approval::deny:
          denied.push_back(label + " (" + std::string(to_string(step.effect)) + ")");
          break;
        case Approval::allow:
          break;
        case Approval::confirm:
          if (!m_flags.yes && !m_interactive) unconfirmed.push_back(label + " (" + std::string(to_string(step.effect)) + ")");
          break;
        case Approval::confirm_typed:
          if (!m_interactive && (!m_flags.yes || m_flags.confirm_destructive != service)) {
            unconfirmed.push_back(label + " (destructive: --yes --confirm-destructive " + service + ")");
            needs_typed = true;
          }
          break;
      }
    }
    (void)mutates;
  }
  if (!denied.empty()) {
    m_context.error("refusing to run: the policy for environment '" + m_environment->name + "' denies " +
                    join(denied, ", ") + (m_config->file.empty() ? "" : " (policy in " + m_config->file + ")"));
    return exit_code::refused;
  }
  if (!unconfirmed.empty()) {
    m_context.error("refusing to run: " + std::to_string(unconfirmed.size()) + " step" +
                    (unconfirmed.size() == 1 ? " needs" : "s need") +
                    " confirmation and stdin is not a terminal: " + join(unconfirmed, ", ") + ". Rerun with --yes" +
                    (needs_typed ? " (and --confirm-destructive SERVICE for destructive steps in production)" : "") +
                    " to confirm them, or --dry-run to see what they would do.");
    return exit_code::refused;
  }
  // One mutating run per service and environment at a time.
  for (const PreparedRun* run : runs) {
    bool mutates = std::any_of(run->gated.begin(), run->gated.end(), [](const GatedStep& s) { return !s.manual; });
    if (!mutates) continue;
    Json holder = {{"run_id", run->run_id},       {"runbook", run->runbook->qualified_name()},
                   {"user", current_user()},      {"host", current_host()},
                   {"pid", static_cast<int>(::getpid())}, {"since", iso8601_now()}};
    std::string why;
    auto lock = RunLock::acquire(m_environment->name, run->runbook->service, holder, why);
    if (!lock) {
      m_context.error("refusing to run: " + why + ". Wait for it to finish, or check that it is really running.");
      return exit_code::refused;
    }
    m_locks.push_back(std::move(*lock));
  }
  return exit_code::ok;
}

EngineSettings RunSession::settings_for(const PreparedRun& run) {
  (void)run;
  EngineSettings settings;
  settings.options = m_context.run_options(m_flags.dry_run);
  settings.assume_yes = m_flags.yes;
  settings.interactive = m_interactive;
  settings.prompter = m_prompter.get();
  settings.default_timeout = m_default_timeout;
  settings.confirm_destructive = m_flags.confirm_destructive;
  const Config* config = m_config;
  const Environment* environment = m_environment;
  settings.approval = [config, environment](Effect effect) { return approval_for(*config, *environment, effect); };
  return settings;
}

RunResult RunSession::execute(const PreparedRun& run, Reporter& reporter, const ResumePoint* resume) {
  EngineSettings settings = settings_for(run);
  // A journal is for resuming a run that changes things; a read-only run is simply run again.
  std::optional<RunJournal> journal;
  if (!m_flags.dry_run && !run.gated.empty()) {
    std::string error;
    std::string text;
    std::string read_error;
    if (auto source = read_text_file(run.runbook->file, read_error)) text = *source;
    Json header = {{"run_id", run.run_id},
                   {"service", run.runbook->service},
                   {"runbook", run.runbook->name},
                   {"file", run.runbook->file},
                   {"runbook_sha256", sha256_hex(text)},
                   {"environment", run.environment},
                   {"params", process_redactor().redact_json(run.params)},
                   {"secret_params", Json::array()},
                   {"started_at", iso8601_now()},
                   {"user", current_user()},
                   {"host", current_host()},
                   {"resumed_from", resume != nullptr ? Json(resume->step_id) : Json(nullptr)}};
    for (const auto& param : run.runbook->params)
      if (param.secret) header["secret_params"].push_back(param.name);
    journal = RunJournal::create(run.run_id, header, error);
    if (!journal) spdlog::warn("{}", error);
    if (journal && resume != nullptr)
      for (const auto& record : resume->journal) journal->carry(record);
  }
  RunRecorder recorder(run, &m_audit, journal ? &*journal : nullptr);
  settings.observer = &recorder;
  Engine engine(settings, reporter, process_cancel_token());
  RunResult result = engine.run(run, resume);
  if (journal) journal->finish(result);
  return result;
}

int RunSession::finish(const std::vector<RunResult>& runs, Reporter& reporter) {
  reporter.report_finished(runs);
  if (!m_flags.junit.empty()) {
    std::ofstream file(m_flags.junit);
    ReporterOptions options;
    options.fail_on_warning = m_flags.fail_on_warning();
    auto junit = make_reporter("junit", file, options);
    junit->report_finished(runs);
    if (!file) m_context.error("cannot write the JUnit report to " + m_flags.junit);
  }
  return exit_code_for(runs, m_flags.fail_on_warning());
}

int run_runbook(CommandContext& context, const std::string& service, const std::string& name, const RunFlags& flags,
                const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::string error;
  std::vector<std::pair<std::string, std::string>> sets;
  if (!parse_overrides(flags.sets, sets, error)) {
    context.error(error);
    return exit_code::usage;
  }
  std::vector<std::pair<std::string, std::string>> values = overrides;
  for (const auto& [key, value] : sets) {
    // An init-capture: clang 14 (the fuzz build) cannot capture a structured binding.
    bool taken = std::any_of(overrides.begin(), overrides.end(),
                             [&name = key](const auto& given) { return given.first == name; });
    if (taken) {
      context.error("--set " + key + " repeats a value a flag of this command already sets; give it once");
      return exit_code::usage;
    }
    values.emplace_back(key, value);
  }
  RunSession session(context, flags);
  if (!session.open()) return exit_code::usage;
  auto prepared = session.prepare(service, name, values);
  if (!prepared) return exit_code::usage;
  if (int refused = session.preflight({&*prepared}); refused != exit_code::ok) return refused;
  ReporterOptions options = context.reporter_options();
  options.fail_on_warning = flags.fail_on_warning();
  auto reporter = make_reporter(context.options().output, context.out(), options);
  std::vector<RunResult> runs;
  runs.push_back(session.execute(*prepared, *reporter));
  return session.finish(runs, *reporter);
}

}  // namespace ttops
