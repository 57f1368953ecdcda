#pragma once
/// Results are data: every reporter reads these, never an executor (goss's lesson).
#include <string>
#include <string_view>
#include <vector>

#include "ttops/effect.hpp"
#include "ttops/json.hpp"
#include "ttops/model.hpp"

namespace ttops {

enum class StepStatus {
  passed,       // ran, every expectation held
  warned,       // ran, only warning-level expectations failed
  failed,       // ran and failed, or could not run (refused, timeout)
  skipped,      // its `when` was false, or a dry run skipped a mutation
  declined,     // the operator said no
  interrupted,  // Ctrl-C or SIGTERM while it ran
};

std::string_view to_string(StepStatus status);

struct ExpectationResult {
  std::string expression;
  Severity severity = Severity::critical;
  bool passed = false;
  std::string detail;  // actual values, or why it could not be evaluated
  bool error = false;  // it could not be evaluated (a missing body, a type mismatch)
  std::string message;
};

struct StepResult {
  std::string id;
  std::string title;
  std::string kind;  // executor name, "decision", "parallel" or "procedure"
  Effect effect = Effect::read;
  StepStatus status = StepStatus::passed;
  std::string reason;    // one line: why it failed or was skipped
  std::string command;   // what ran: "GET http://…", already redacted
  bool dry_run = false;  // not executed because of --dry-run
  bool handled = false;  // failed, and the runbook expected it could (on_failure ignore or goto)
  bool show = false;     // the runbook asks for what it found to be shown (rows, lines)
  std::vector<ExpectationResult> expectations;
  Json captures = Json::object();
  Json data = Json::object();  // the executor's result (bodies shortened), for -o json
  std::vector<std::string> notes;
  std::string decision;  // decision steps: the step chosen
  int attempts = 0;
  double seconds = 0;
  std::vector<StepResult> children;  // parallel groups and procedures
};

enum class RunStatus { passed, warned, failed, declined, interrupted, invalid };
std::string_view to_string(RunStatus status);

struct RunResult {
  std::string run_id;
  std::string service;
  std::string runbook;
  std::string title;
  std::string environment;
  /// The Kubernetes context --context named for this run (one run per context named); empty when
  /// none was named and each kubectl step used its own or the environment's.
  std::string context;
  bool dry_run = false;
  std::string started_at;  // ISO 8601 UTC
  double seconds = 0;
  RunStatus status = RunStatus::passed;
  std::string reason;  // why the run stopped early, if it did
  Json params = Json::object();  // resolved, secrets masked
  std::vector<StepResult> steps;  // in the order they ran
  /// What the completed steps left the system in (`leaves`), aspect -> description, in order.
  Json state = Json::object();
  /// When the run did not finish: what to do now (`recovery` of the steps that stopped it,
  /// innermost first).
  std::vector<std::string> next_steps;
};

/// The documented exit codes of the ttops command.
namespace exit_code {
constexpr int ok = 0;
constexpr int check_failed = 1;
constexpr int usage = 2;        // bad flags, config or runbook
constexpr int refused = 3;      // a mutation without confirmation, declined, or denied by policy
constexpr int internal = 70;    // a bug in ttops (EX_SOFTWARE)
constexpr int interrupted = 130;
constexpr int terminated = 143;
}  // namespace exit_code

}  // namespace ttops
