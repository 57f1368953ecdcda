#pragma once
/// The runbook model: what the loader builds from YAML and every later stage reads.
/// Every node keeps its SourceLocation so that any problem points at the file, line and column.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ttops/diagnostics.hpp"
#include "ttops/effect.hpp"
#include "ttops/expression.hpp"
#include "ttops/json.hpp"

namespace ttops {

using Duration = std::chrono::milliseconds;

class Executor;
struct Runbook;

/// How much a failed expectation matters: warnings are reported, critical ones fail the step.
enum class Severity { warning, critical };

struct Expectation {
  Expression expr;
  Severity severity = Severity::critical;
  std::string message;  // optional words for the on-call engineer, shown when it fails
  SourceLocation where;
};

/// `capture: {name: expression}`: a value taken from a step's result for later steps.
struct Capture {
  std::string name;
  Expression expr;
  bool secret = false;  // masked in every output, like a secret parameter
  SourceLocation where;
};

/// The one "wait until" primitive, for any kind of step: run the step every `interval` until
/// its expectations hold `successes` times in a row; give up after `failures` failures in a
/// row, `attempts` attempts, or `within` overall, whichever comes first.
struct UntilPolicy {
  Duration interval{std::chrono::seconds(5)};
  std::optional<Duration> within;
  std::optional<int> attempts;
  int successes = 1;
  std::optional<int> failures;
  SourceLocation where;
};

enum class FailureAction { stop, proceed, ignore, go_to };

/// What the flow does when a step fails: stop the run (stop), carry on and fail the run at the
/// end (continue), carry on as if it were information for a later decision (ignore), or jump
/// to a step that handles it (goto).
struct OnFailure {
  FailureAction action = FailureAction::stop;
  std::string target;
  SourceLocation where;
};

struct DecisionCase {
  Expression when;
  std::string target;  // a step id, or "end"
  SourceLocation where;
};

struct Parameter {
  std::string name;
  std::string description;
  std::optional<Json> default_value;  // may hold {{ }} templates
  std::string from_env;               // default taken from this environment variable
  std::string type;                   // string, integer, number, boolean, duration; empty: any
  bool secret = false;
  SourceLocation where;
};

/// A name a step reads, where it is written, and whether the step's own result is in scope there
/// (expect, capture and until see `status`, `json`…; templates in the action do not).
struct ReferenceSite {
  NameReference name;
  SourceLocation where;
  bool sees_result = false;
};

/// `leaves: {queue: "PAUSED: no mints are processed"}`: what one aspect of the system is in once
/// a step has run. A later step that changes the same aspect says so under the same name.
struct StateNote {
  std::string aspect;
  std::string text;  // may hold {{ }} templates
  SourceLocation where;
};

/// One step: an action for an executor, a decision, a parallel group, or a use of a procedure.
struct Step {
  enum class Kind { action, decision, parallel, procedure };

  std::string id;
  std::string title;
  std::string description;
  Kind kind = Kind::action;
  SourceLocation where;

  // kind == action
  const Executor* executor = nullptr;
  std::string executor_name;
  Json action;  // the executor's fields; strings may hold {{ }} templates
  SourceLocation action_where;
  std::optional<Effect> declared_effect;
  Effect effect = Effect::read;  // the stronger of the executor's class and the declared one
  std::string confirm;           // the question asked before a mutating step runs
  bool show = false;             // print what it found (rows, lines) in the text report

  // all kinds that run something
  std::optional<Duration> timeout;
  std::optional<UntilPolicy> until;
  std::vector<Expectation> expect;
  std::vector<Capture> capture;
  OnFailure on_failure;
  std::optional<Expression> when;  // skip the step unless this holds
  SourceLocation when_where;
  std::string next;                // "" = the following step, "end", or a step id
  SourceLocation next_where;
  int max_visits = 0;              // bounds a loop through this step; 0 = no bound declared
  // When a run stops part-way, it reports the state its completed steps left (`leaves`) and what
  // to do next (`recovery` of the steps whose failure stopped it).
  std::vector<StateNote> leaves;  // recorded when the step passes
  std::string recovery;           // a template, rendered when the step's failure stops the run
  SourceLocation recovery_where;

  // kind == decision
  std::vector<DecisionCase> cases;
  std::string default_target;
  SourceLocation default_where;

  std::vector<ReferenceSite> references;  // filled by the loader, checked by the validator

  // kind == parallel
  std::vector<Step> children;
  int max_concurrency = 0;  // 0 = the run's default

  // kind == procedure
  std::shared_ptr<const Runbook> procedure;
  Json with = Json::object();  // bindings for the procedure's parameters (may hold templates)
  SourceLocation with_where;
};

/// A runbook (runbooks/<service>/<name>.yaml) or a shared procedure
/// (runbooks/procedures/<name>.yaml) that runbooks `use` with their own values.
struct Runbook {
  bool is_procedure = false;
  std::string service;  // empty for procedures
  std::string name;
  std::string title;
  std::string severity;
  std::string summary;
  std::vector<std::string> symptoms;
  std::vector<std::string> covers;
  std::vector<std::string> tags;
  std::vector<Parameter> params;
  std::optional<Duration> default_timeout;
  std::vector<Step> steps;
  std::vector<ReferenceSite> references;  // names read by parameter defaults
  std::string file;
  SourceLocation where;

  /// "venue/high-latency", or "procedures/health".
  std::string qualified_name() const;
  const Parameter* find_param(std::string_view name) const;
};

/// The step with this id among `steps` (not descending into groups), or nullptr.
const Step* find_step(const std::vector<Step>& steps, std::string_view id);

}  // namespace ttops
