#include "cli/run_support.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "audit/run_recorder.hpp"
#include "engine/policy.hpp"
#include "report/prometheus_metrics.hpp"
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
  command.add_option("--metrics-file", metrics_file,
                     "Also write Prometheus metrics of the runs to FILE (node_exporter textfile format, replaced atomically)");
  command.add_option("--pushgateway", pushgateway, "Also push those metrics to a Prometheus Pushgateway at URL");
}

namespace {

// Runs side by side report nothing while they go; the reporter gets every result at the end.
class QuietReporter : public Reporter {};

}  // namespace

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
  const std::string& push = m_flags.pushgateway;
  if (!push.empty() && push.rfind("http://", 0) != 0 && push.rfind("https://", 0) != 0) {
    m_context.error("--pushgateway must be an http:// or https:// URL, not '" + push + "'");
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

std::vector<PreparedRun> RunSession::for_each_context(PreparedRun run) {
  std::vector<PreparedRun> out;
  std::vector<std::string> contexts = m_context.kube_contexts();
  if (contexts.empty()) {
    out.push_back(std::move(run));
    return out;
  }
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    PreparedRun copy = run;
    if (i > 0) copy.run_id = make_run_id();  // each context has its own journal and audit records
    copy.kube_context = contexts[i];
    // What the runbook tells a person to type (`kubectl --context {{ target.kube_context }}`)
    // names the cluster this run is for.
    copy.target["kube_context"] = contexts[i];
    copy.missing_target.erase("kube_context");
    out.push_back(std::move(copy));
  }
  return out;
}

int RunSession::preflight(const std::vector<const PreparedRun*>& runs) {
  if (m_flags.dry_run) return exit_code::ok;  // nothing mutates, nothing is locked
  std::set<std::string> contexts;
  for (const PreparedRun* run : runs)
    if (!run->kube_context.empty()) contexts.insert(run->kube_context);
  std::vector<std::string> denied;
  std::vector<std::string> unconfirmed;
  std::vector<std::string> repeated;
  std::set<std::string> seen;  // the same runbook in several contexts asks the same questions
  bool needs_typed = false;
  for (const PreparedRun* run : runs) {
    const std::string& service = run->runbook->service;
    if (!seen.insert(run->runbook->qualified_name()).second) continue;
    for (const auto& step : run->gated) {
      std::string label = run->runbook->qualified_name() + ":" + step.id;
      if (step.manual) {
        if (!m_flags.yes && !m_interactive) unconfirmed.push_back(label + " (manual)");
        continue;
      }
      // Only kubectl follows --context: an HTTP, SQL, Redis or exec change would be made once
      // per context, against the same target.
      if (contexts.size() > 1 && step.executor != "kubectl") repeated.push_back(label + " (" + step.executor + ")");
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
  }
  if (!repeated.empty()) {
    m_context.error("refusing to run on " + std::to_string(contexts.size()) + " contexts: " + join(repeated, ", ") +
                    (repeated.size() == 1 ? " changes" : " change") +
                    " something --context does not select, so it would be changed once per context. Run it with"
                    " one --context, or --dry-run to see what it would do.");
    return exit_code::refused;
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
  // One mutating run per service and environment at a time, whatever its contexts: this
  // invocation takes the lock once for all of them.
  std::set<std::string> locked;
  for (const PreparedRun* run : runs) {
    bool mutates = std::any_of(run->gated.begin(), run->gated.end(), [](const GatedStep& s) { return !s.manual; });
    if (!mutates || !locked.insert(run->runbook->service).second) continue;
    Json holder = {{"run_id", run->run_id},       {"runbook", run->runbook->qualified_name()},
                   {"user", current_user()},      {"host", current_host()},
                   {"pid", static_cast<int>(::getpid())}, {"since", iso8601_now()}};
    if (!contexts.empty()) holder["contexts"] = std::vector<std::string>(contexts.begin(), contexts.end());
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
  EngineSettings settings;
  settings.options = m_context.run_options(m_flags.dry_run);
  if (!run.kube_context.empty()) settings.options.kube_context = run.kube_context;
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
                   {"context", run.kube_context},
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

std::vector<RunResult> RunSession::execute_all(const std::vector<PreparedRun>& runs, Reporter& reporter) {
  std::vector<RunResult> results(runs.size());
  if (runs.size() == 1) {
    results[0] = execute(runs[0], reporter);
    return results;
  }
  // --yes answers everything but a destructive step in production without --confirm-destructive.
  auto asks = [this](const PreparedRun& run) {
    return std::any_of(run.gated.begin(), run.gated.end(), [&](const GatedStep& step) {
      return !m_flags.yes || (!step.manual && m_flags.confirm_destructive != run.runbook->service &&
                              approval_for(*m_config, *m_environment, step.effect) == Approval::confirm_typed);
    });
  };
  bool may_ask = m_interactive && !m_flags.dry_run && std::any_of(runs.begin(), runs.end(), asks);
  if (may_ask) {
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (m_context.options().output == "text")
        m_context.out() << (i == 0 ? "" : "\n") << "context " << runs[i].kube_context << ":\n";
      results[i] = execute(runs[i], reporter);
    }
    return results;
  }
  // Side by side the report waits for the slowest cluster; at a terminal, say how each one went.
  bool progress = m_context.options().output == "text" && is_terminal(STDERR_FILENO);
  std::mutex progress_mutex;
  if (progress)
    m_context.err() << "running " << runs.front().runbook->qualified_name() << " in " << runs.size()
                    << " contexts…\n";
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    threads.emplace_back([&, i] {
      QuietReporter quiet;
      results[i] = execute(runs[i], quiet);
      if (!progress) return;
      std::lock_guard lock(progress_mutex);
      m_context.err() << "  " << runs[i].kube_context << ": " << to_string(results[i].status) << " in "
                      << format_duration(results[i].seconds) << "\n";
    });
  }
  for (auto& thread : threads) thread.join();
  return results;
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
  // Metrics describe the run; failing to deliver them is a warning, never the run's verdict.
  if (!m_flags.metrics_file.empty() || !m_flags.pushgateway.empty()) {
    MetricsOptions options;
    options.fail_on_warning = m_flags.fail_on_warning();
    options.ca_file = m_context.options().ca_file;
    options.insecure = m_context.options().insecure;
    std::string error;
    if (!m_flags.metrics_file.empty() && !write_metrics_file(m_flags.metrics_file, runs, options, error))
      spdlog::warn("metrics not written: {}", error);
    if (!m_flags.pushgateway.empty() && !push_metrics(m_flags.pushgateway, runs, options, error))
      spdlog::warn("metrics not pushed: {}", error);
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
  std::vector<PreparedRun> runs = session.for_each_context(std::move(*prepared));
  std::vector<const PreparedRun*> pointers;
  for (const auto& run : runs) pointers.push_back(&run);
  if (int refused = session.preflight(pointers); refused != exit_code::ok) return refused;
  ReporterOptions options = context.reporter_options();
  options.fail_on_warning = flags.fail_on_warning();
  auto reporter = make_reporter(context.options().output, context.out(), options);
  return session.finish(session.execute_all(runs, *reporter), *reporter);
}

}  // namespace ttops
