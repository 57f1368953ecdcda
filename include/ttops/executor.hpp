#pragma once
/// The executor extension point. An executor is one file in src/executors/ and one line in
/// src/executors/registry.cpp. It owns its step type from load to run: it declares its fields
/// (so typos are caught with file:line:col before anything runs), classifies each step's
/// effect, describes the exact request or command, and runs it, turning every library error
/// into an ActionOutcome with a clear reason.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/cancel.hpp"
#include "ttops/diagnostics.hpp"
#include "ttops/effect.hpp"
#include "ttops/json.hpp"

namespace YAML {
class Node;
}

namespace ttops {

class Redactor;

enum class FieldType { string, integer, number, boolean, duration, string_list, string_map, object, any };

/// One key an action accepts.
struct ActionField {
  std::string name;
  FieldType type = FieldType::string;
  bool required = false;
  std::string help;
};

/// Settings of a whole run that executors may need.
struct RunOptions {
  std::string environment;         // the selected environment's name
  bool dry_run = false;
  std::string kubectl = "kubectl"; // --kubectl
  std::string kube_context;        // --context, overrides the environment's
  std::string kube_namespace;      // -n/--namespace, overrides the environment's
  std::string ca_file;             // --cacert, for every HTTPS request
  bool insecure = false;           // --insecure: skip TLS verification
  int max_concurrency = 16;        // bound on parallel steps
};

/// What an executor gets for one attempt of one step.
struct StepContext {
  std::string step_id;
  std::chrono::steady_clock::time_point deadline;  // the attempt must be over by then
  std::chrono::milliseconds budget{0};  // how long the attempt was given (for messages: "within 5s")
  const CancelToken* cancel = nullptr;
  const RunOptions* options = nullptr;
  const Json* target = nullptr;  // the selected environment's values for this service
  Redactor* redactor = nullptr;  // register secrets discovered while running
  Effect effect = Effect::read;  // the step's final class: e.g. Postgres opens a read-only
                                 // transaction unless the step may write

  std::chrono::milliseconds remaining() const;
  bool cancelled() const { return cancel != nullptr && cancel->cancelled(); }
};

/// The outcome of running an action once. Expected failures are values, not exceptions.
struct ActionOutcome {
  bool ok = true;          // false: the action could not be carried out; expectations are not checked
  bool timed_out = false;  // with ok == false: it ran out of time
  std::string error;       // one line naming the fault: "connection refused (127.0.0.1:3002)"
  Json data = Json::object();  // what expect/capture read: status, json, rows, stdout…
  std::vector<std::string> notes;  // e.g. "rows capped at 1000 (query returned more)"

  static ActionOutcome failure(std::string error, bool timed_out = false) {
    ActionOutcome outcome;
    outcome.ok = false;
    outcome.timed_out = timed_out;
    outcome.error = std::move(error);
    return outcome;
  }
};

/// A duration field of an action: "5s", "1m30s" or a number of seconds; nullopt when it is
/// absent or not a duration.
std::optional<std::chrono::milliseconds> duration_field(const Json& action, const char* name);
/// How long the database executors wait for a connection when a step gives no connect_timeout.
inline constexpr std::chrono::milliseconds k_default_connect_timeout{5000};

/// Per-run state of an executor: connection pools, caches. Used from several threads at once
/// (parallel steps), so implementations guard what they share.
class ExecutorSession {
 public:
  virtual ~ExecutorSession() = default;
  /// Runs one action whose templates are already expanded.
  virtual ActionOutcome run(const Json& action, StepContext& context) = 0;
  /// A safe substitute that shows what a mutating action would do (server-side dry run, the rows
  /// it would touch), or nullopt when there is none and the plan says "would execute".
  virtual std::optional<ActionOutcome> preview(const Json& action, StepContext& context) {
    (void)action;
    (void)context;
    return std::nullopt;
  }
};

/// An executor type: stateless, one instance for the process, found by name in the registry.
class Executor {
 public:
  virtual ~Executor() = default;
  /// The step key that selects it: `http`, `postgres`, `kubectl`…
  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;
  virtual const std::vector<ActionField>& fields() const = 0;
  /// `http: "{{ target.url }}/health"` is short for `http: {url: …}`: the field a scalar fills.
  virtual std::string_view shorthand_field() const { return {}; }
  /// The result names expect and capture may read (`status`, `json`, `rows`…).
  virtual std::vector<std::string> result_fields() const = 0;
  /// Expectations that apply when a step lists none, e.g. `status < 400`. Text after " :: " is
  /// the message shown when it fails, a template over the result:
  /// `exit_code == 0 :: kubectl failed: {{ error }}`.
  virtual std::vector<std::string> default_expectations() const { return {}; }
  /// Checks beyond field names and types; called at load time with the YAML of the action.
  virtual void check(const YAML::Node& action, Diagnostics& diagnostics) const {
    (void)action;
    (void)diagnostics;
  }
  /// The effect class. `action` may still hold unexpanded templates at load time: when a
  /// templated value decides the class, answer the stronger one.
  virtual Effect effect(const Json& action) const = 0;
  /// Whether a human must act (manual steps): needs an operator or --yes to run.
  virtual bool needs_operator() const { return false; }
  /// One line with the exact request or command, e.g. "GET http://venue:3002/health".
  virtual std::string describe(const Json& action, const StepContext& context) const = 0;
  virtual std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const = 0;
};

/// The executor registered under `name`, or nullptr.
const Executor* find_executor(std::string_view name);
/// Every registered executor, in registration order.
const std::vector<const Executor*>& all_executors();
/// Adds an executor at run time: the seam unit tests use to run the engine with a fake.
void register_executor(std::unique_ptr<Executor> executor);

}  // namespace ttops
