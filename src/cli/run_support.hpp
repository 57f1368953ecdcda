#pragma once
// What every command that runs runbooks shares (runbook, check, resume…): the run flags, the
// refusal rules, the policy, the per-service lock, the audit trail and the journal.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "audit/journal.hpp"
#include "audit/run_lock.hpp"
#include "cli/command.hpp"
#include "engine/engine.hpp"
#include "engine/terminal_prompter.hpp"

namespace ttops {

/// Flags of commands that run runbooks.
struct RunFlags {
  bool dry_run = false;
  bool yes = false;
  std::vector<std::string> sets;
  std::string fail_on = "critical";
  std::string junit;
  std::string timeout;
  std::string prompt_timeout = "5m";
  std::string confirm_destructive;
  std::string metrics_file;  // --metrics-file PATH: Prometheus series for node_exporter's textfile collector
  std::string pushgateway;   // --pushgateway URL: the same series, pushed

  void define(CLI::App& command, bool with_sets = true);
  bool fail_on_warning() const { return fail_on == "warning"; }
};

class RunSession {
 public:
  RunSession(CommandContext& context, RunFlags flags);

  /// Opens the library, config and environment. False after printing why (exit 2).
  bool open();
  /// Loads, validates and prepares a runbook. nullopt after printing its problems (exit 2).
  std::optional<PreparedRun> prepare(const std::string& service, const std::string& name,
                                     const std::vector<std::pair<std::string, std::string>>& overrides);
  /// One run per context `--context a,b,c` names (each its own run id, and `target.kube_context`
  /// that context), or `run` alone when it names none.
  std::vector<PreparedRun> for_each_context(PreparedRun run);
  /// Policy, confirmation and locks, for all the runs before any of them starts. Returns 0 when
  /// they may start, else the exit code (3) after printing why.
  int preflight(const std::vector<const PreparedRun*>& runs);
  /// Runs one prepared runbook with the audit trail and journal.
  RunResult execute(const PreparedRun& run, Reporter& reporter, const ResumePoint* resume = nullptr);
  /// Runs the runs of one runbook in several contexts: side by side, each quietly (the reporter
  /// gets them all at the end), or one after another through the reporter when an operator may
  /// be asked (one question, about one cluster, at a time). One run goes through `execute`.
  std::vector<RunResult> execute_all(const std::vector<PreparedRun>& runs, Reporter& reporter);
  /// Reports the finished runs (and the JUnit file, the metrics), and returns the exit code.
  int finish(const std::vector<RunResult>& runs, Reporter& reporter);

  const Config& config() const { return *m_config; }
  const Environment& environment() const { return *m_environment; }
  Library& library() { return *m_library; }
  CommandContext& context() { return m_context; }
  const RunFlags& flags() const { return m_flags; }

 private:
  EngineSettings settings_for(const PreparedRun& run);

  CommandContext& m_context;
  RunFlags m_flags;
  Library* m_library = nullptr;
  const Config* m_config = nullptr;
  const Environment* m_environment = nullptr;
  Duration m_default_timeout = std::chrono::seconds(30);
  std::unique_ptr<TerminalPrompter> m_prompter;
  std::vector<RunLock> m_locks;
  AuditLog m_audit;
  bool m_interactive = false;
};

/// Loads, prepares and runs runbooks/<service>/<name>.yaml as every running command does:
/// usage problems exit 2 before anything runs; refusals (no confirmation, policy, lock) exit 3
/// before anything runs; the report goes to stdout. `overrides` are parameter values set by the
/// command's own flags (`rollback --to-revision`); `--set` may not repeat them.
int run_runbook(CommandContext& context, const std::string& service, const std::string& name, const RunFlags& flags,
                const std::vector<std::pair<std::string, std::string>>& overrides = {});

}  // namespace ttops
