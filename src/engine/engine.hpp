#pragma once
// The engine: runs a validated runbook's steps in order, groups concurrently, follows
// decisions and jumps, repeats `until` steps, asks before mutations, and turns everything that
// happens into StepResults for the reporters. The world failing is a failed step, never an
// exception out of here.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runbook/config.hpp"
#include "ttops/cancel.hpp"
#include "ttops/executor.hpp"
#include "ttops/model.hpp"
#include "ttops/reporter.hpp"
#include "ttops/result.hpp"

namespace ttops {

/// Asks the operator before a mutation or after a manual step.
class Prompter {
 public:
  virtual ~Prompter() = default;
  /// `question` is asked about `detail` (the exact command, or instructions). With `typed_answer`
  /// set, the operator must type it back (destructive steps in production). nullopt: no answer
  /// in time, or no terminal to ask on.
  virtual std::optional<bool> confirm(const std::string& title, const std::string& question, const std::string& detail,
                                      const std::string& typed_answer) = 0;
};

/// What the policy says about running a step of some effect in the selected environment.
enum class Approval { allow, confirm, confirm_typed, deny };

/// Watches a run for the audit trail and the journal. Called from the engine's threads, one
/// call at a time.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  /// Before a mutating action runs (never in dry runs). False stops it: `error` says why
  /// (an audit record that cannot be made durable means the action must not happen).
  virtual bool before_mutation(const Step& step, const StepResult& result, std::string& error) = 0;
  virtual void after_mutation(const Step& step, const StepResult& result) = 0;
  /// A top-level step finished; `next` is the step the flow goes to, or "end". A step that
  /// stopped the run names itself: that is where a resume starts.
  virtual void top_level_step(const StepResult& result, const Json& view, const std::string& next) = 0;
};

struct EngineSettings {
  RunOptions options;
  bool assume_yes = false;   // --yes
  bool interactive = false;  // there is a terminal to ask on
  Prompter* prompter = nullptr;
  Duration default_timeout = std::chrono::seconds(30);
  /// The policy for a mutating effect; unset: confirm every mutation.
  std::function<Approval(Effect)> approval;
  std::string confirm_destructive;  // --confirm-destructive SERVICE: the typed answer, given up front
  RunObserver* observer = nullptr;
};

/// Where a resumed run starts, with what the journal recorded of the steps before it.
struct ResumePoint {
  std::string step_id;
  Json steps = Json::object();     // step id -> view, as steps.<id> saw them
  Json captures = Json::object();
  Json journal = Json::array();    // the original run's step records, carried into the new journal
};

/// A step that needs someone's say-so before it runs.
struct GatedStep {
  std::string id;
  std::string title;
  Effect effect = Effect::read;
  bool manual = false;
  std::string confirm;
  std::string executor;  // the executor that runs it (kubectl, http…)
};

/// Everything resolved before the first step: parameters, the environment's values, the
/// steps that will ask. Problems here are usage errors (exit 2), reported before anything runs.
struct PreparedRun {
  std::shared_ptr<const Runbook> runbook;
  std::string environment;
  bool production = false;
  Json params = Json::object();
  Json target = Json::object();
  std::map<std::string, std::string> missing_target;  // value -> why it is unavailable
  std::string run_id;
  std::vector<GatedStep> gated;
  /// The Kubernetes context this run is for (--context a,b: one run each); empty: the
  /// environment's. It overrides the environment's for every kubectl step, as --context does.
  std::string kube_context;
};

/// Resolves `--set` overrides, parameter defaults and environment values for a run.
std::optional<PreparedRun> prepare_run(std::shared_ptr<const Runbook> runbook, const Config& config,
                                       const Environment& environment,
                                       const std::vector<std::pair<std::string, std::string>>& overrides,
                                       bool strict_target, Diagnostics& diagnostics);

/// Every step that mutates or needs an operator, including inside groups and procedures.
std::vector<GatedStep> gated_steps(const Runbook& runbook);

class Engine {
 public:
  Engine(EngineSettings settings, Reporter& reporter, const CancelToken& cancel);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  RunResult run(const PreparedRun& prepared, const ResumePoint* resume = nullptr);

  struct Impl;

 private:
  std::unique_ptr<Impl> m_impl;
};

/// "20261123T001533Z-3f9a1c": sortable, unique enough for a journal name.
std::string make_run_id();
std::string iso8601_now();

/// Renders every {{ }} in the strings of a JSON tree.
Json render_tree(const Json& value, const EvalScope& scope);
/// The same, before a run: strings whose templates read results not known yet stay as written.
Json render_known(const Json& value, const EvalScope& scope);
/// Whether a rendered tree still holds {{ }} (it depends on results of earlier steps).
bool has_unrendered(const Json& value);

}  // namespace ttops
