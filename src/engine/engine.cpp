#include "engine/engine.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "engine/scope.hpp"
#include "runbook/validator.hpp"
#include "runbook/yaml_util.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int k_max_steps_per_run = 10000;  // a backstop: validation already rejects unbounded loops
constexpr std::size_t k_report_body_limit = 4096;
constexpr std::string_view k_message_separator = " :: ";  // in Executor::default_expectations()

// A running step holds a few descriptors at most (a socket, libcurl's wake-up and resolver pairs,
// a subprocess's pipes and pidfd, a PostgreSQL cancel connection); some stay for ttops itself.
constexpr std::size_t k_descriptors_per_step = 8;
constexpr std::size_t k_descriptors_reserved = 16;

// How many steps may run at once without running out of file descriptors: a parallel group wider
// than the open-file limit allows runs fewer at a time rather than failing with EMFILE.
std::size_t steps_the_open_file_limit_allows() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  std::size_t open = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++open;
  std::size_t used = open + k_descriptors_reserved;
  auto allowed = static_cast<std::size_t>(limit.rlim_cur);
  return allowed > used ? std::max<std::size_t>(1, (allowed - used) / k_descriptors_per_step) : 1;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Converts a --set value or an environment variable to the parameter's declared type.
std::optional<Json> typed_value(const std::string& text, const Parameter& param, std::string& error) {
  if (param.type.empty()) {
    YAML::Node scalar(text);
    Json value = to_json(scalar);
    return value.is_null() ? Json(text) : value;
  }
  if (param.type == "string") return Json(text);
  if (param.type == "integer") {
    try {
      std::size_t used = 0;
      long long value = std::stoll(text, &used);
      if (used == text.size()) return Json(value);
    } catch (...) {
    }
    error = "must be a whole number";
    return std::nullopt;
  }
  if (param.type == "number") {
    try {
      std::size_t used = 0;
      double value = std::stod(text, &used);
      if (used == text.size()) return Json(value);
    } catch (...) {
    }
    error = "must be a number";
    return std::nullopt;
  }
  if (param.type == "boolean") {
    if (text == "true" || text == "yes" || text == "1") return Json(true);
    if (text == "false" || text == "no" || text == "0") return Json(false);
    error = "must be true or false";
    return std::nullopt;
  }
  if (param.type == "duration") {
    if (parse_duration(text)) return Json(text);
    error = "must be a duration such as 30s or 5m";
    return std::nullopt;
  }
  return Json(text);
}

void collect_target_references(const Runbook& runbook, std::vector<std::pair<std::string, SourceLocation>>& out,
                               std::vector<const Runbook*>& seen) {
  if (std::find(seen.begin(), seen.end(), &runbook) != seen.end()) return;
  seen.push_back(&runbook);
  auto scan = [&](const std::vector<ReferenceSite>& sites) {
    for (const auto& site : sites)
      if (site.name.path.size() >= 2 && site.name.path[0] == "target") out.emplace_back(site.name.path[1], site.where);
  };
  scan(runbook.references);
  std::function<void(const std::vector<Step>&)> walk = [&](const std::vector<Step>& steps) {
    for (const auto& step : steps) {
      scan(step.references);
      walk(step.children);
      if (step.procedure) collect_target_references(*step.procedure, out, seen);
    }
  };
  walk(runbook.steps);
}

void collect_gated(const std::vector<Step>& steps, std::vector<GatedStep>& out, std::vector<const Runbook*>& seen) {
  for (const auto& step : steps) {
    if (step.kind == Step::Kind::action && step.executor != nullptr &&
        (step.effect != Effect::read || step.executor->needs_operator()))
      out.push_back(GatedStep{step.id, step.title, step.effect, step.executor->needs_operator(), step.confirm,
                              step.executor_name});
    collect_gated(step.children, out, seen);
    if (step.procedure && std::find(seen.begin(), seen.end(), step.procedure.get()) == seen.end()) {
      seen.push_back(step.procedure.get());
      collect_gated(step.procedure->steps, out, seen);
    }
  }
}

}  // namespace

std::string iso8601_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

std::string make_run_id() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  std::random_device device;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", device() & 0xffffff);
  return std::string(stamp) + "-" + suffix;
}

// A runbook's templates are rendered again at every step and attempt; parse each once.
static const Template& parsed_template(const std::string& text) {
  thread_local std::unordered_map<std::string, Template> cache;
  auto it = cache.find(text);
  if (it != cache.end()) return it->second;
  if (cache.size() > 4096) cache.clear();
  return cache.emplace(text, Template::parse(text)).first->second;
}

Json render_tree(const Json& value, const EvalScope& scope) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!Template::has_holes(text)) return value;
    return parsed_template(text).render_value(scope);
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& item : value) out.push_back(render_tree(item, scope));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = render_tree(it.value(), scope);
    return out;
  }
  return value;
}

Json render_known(const Json& value, const EvalScope& scope) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!Template::has_holes(text)) return value;
    try {
      return Template::parse(text).render_value(scope);
    } catch (const std::exception&) {
      return value;
    }
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& item : value) out.push_back(render_known(item, scope));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = render_known(it.value(), scope);
    return out;
  }
  return value;
}

bool has_unrendered(const Json& value) {
  if (value.is_string()) return Template::has_holes(value.get_ref<const std::string&>());
  if (value.is_array() || value.is_object()) {
    for (const auto& item : value)
      if (has_unrendered(item)) return true;
  }
  return false;
}

std::vector<GatedStep> gated_steps(const Runbook& runbook) {
  std::vector<GatedStep> out;
  std::vector<const Runbook*> seen;
  collect_gated(runbook.steps, out, seen);
  return out;
}

// Resolves the parameters of a runbook or procedure: explicit values, then the environment
// variable named by `env:`, then the default (which may read earlier parameters).
static bool resolve_params(const Runbook& owner, const Json& explicit_values, const Json* target, Json& out,
                           std::string& error, bool explicit_are_strings) {
  StepScope scope;
  scope.params = &out;
  scope.target = target;
  for (const auto& param : owner.params) {
    std::string conversion_error;
    if (explicit_values.contains(param.name)) {
      const Json& given = explicit_values[param.name];
      if (explicit_are_strings && given.is_string()) {
        auto value = typed_value(given.get<std::string>(), param, conversion_error);
        if (!value) {
          error = "parameter '" + param.name + "' " + conversion_error + ", not '" + given.get<std::string>() + "'";
          return false;
        }
        out[param.name] = *value;
      } else {
        out[param.name] = given;
      }
    } else if (const char* env = param.from_env.empty() ? nullptr : std::getenv(param.from_env.c_str());
               env != nullptr && *env != '\0') {
      auto value = typed_value(env, param, conversion_error);
      if (!value) {
        error = "parameter '" + param.name + "' (from $" + param.from_env + ") " + conversion_error;
        return false;
      }
      out[param.name] = *value;
    } else if (param.default_value) {
      try {
        out[param.name] = render_tree(*param.default_value, scope);
      } catch (const std::exception& e) {
        error = "parameter '" + param.name + "': cannot work out its default: " + e.what();
        return false;
      }
    } else {
      error = "parameter '" + param.name + "' is required" +
              (param.description.empty() ? std::string() : " (" + param.description + ")") + ": pass --set " +
              param.name + "=VALUE" + (param.from_env.empty() ? std::string() : " or set $" + param.from_env);
      return false;
    }
    if (param.secret) {
      const Json& value = out[param.name];
      process_redactor().add_secret(value.is_string() ? value.get<std::string>() : to_display_string(value));
    }
  }
  return true;
}

std::optional<PreparedRun> prepare_run(std::shared_ptr<const Runbook> runbook, const Config& config,
                                       const Environment& environment,
                                       const std::vector<std::pair<std::string, std::string>>& overrides,
                                       bool strict_target, Diagnostics& diagnostics) {
  PreparedRun prepared;
  prepared.runbook = runbook;
  prepared.environment = environment.name;
  prepared.production = environment.production;
  prepared.run_id = make_run_id();
  prepared.target = resolve_target(config, environment, runbook->service, prepared.missing_target);

  std::vector<std::string> names;
  for (const auto& param : runbook->params) names.push_back(param.name);
  Json explicit_values = Json::object();
  bool ok = true;
  for (const auto& [key, value] : overrides) {
    if (runbook->find_param(key) == nullptr) {
      diagnostics.error(SourceLocation{}, "--set " + key + ": runbook " + runbook->qualified_name() +
                                              " has no parameter '" + key + "'" + did_you_mean(key, names) +
                                              (names.empty() ? " (it takes none)" : " (parameters: " + join(names, ", ") + ")"));
      ok = false;
      continue;
    }
    explicit_values[key] = value;
  }
  if (!ok) return std::nullopt;

  if (strict_target) {
    std::vector<std::pair<std::string, SourceLocation>> used;
    std::vector<const Runbook*> seen;
    collect_target_references(*runbook, used, seen);
    std::vector<std::string> reported;
    for (const auto& [key, where] : used) {
      if (prepared.target.contains(key) || std::find(reported.begin(), reported.end(), key) != reported.end()) continue;
      reported.push_back(key);
      auto missing = prepared.missing_target.find(key);
      std::string why = missing != prepared.missing_target.end()
                            ? missing->second
                            : "environment '" + environment.name + "' defines no '" + key + "' for service '" +
                                  runbook->service + "'";
      diagnostics.error(where, "target." + key + " is not available in environment '" + environment.name + "': " + why);
      ok = false;
    }
    if (!ok) return std::nullopt;
  }

  std::string error;
  if (!resolve_params(*runbook, explicit_values, &prepared.target, prepared.params, error, true)) {
    diagnostics.error(SourceLocation{}, runbook->qualified_name() + ": " + error);
    return std::nullopt;
  }
  prepared.gated = gated_steps(*runbook);
  return prepared;
}

// ---------------------------------------------------------------------------------------------

namespace {

// The variables of one flow: a runbook, or a procedure used by a step.
struct Frame {
  const Runbook* owner = nullptr;
  Json params = Json::object();
  Json steps = Json::object();    // step id -> view, for steps.<id>
  Json* captures = nullptr;       // where this flow's captures go
  std::optional<Duration> default_timeout;
};

enum class FlowEnd { completed, stopped, declined, interrupted };

// What steps.<id> shows of a finished step: its result fields and how it went.
Json step_view(const StepResult& result, const Json* children_steps) {
  Json view = result.data.is_object() ? result.data : Json::object();
  view["ok"] = result.status == StepStatus::passed || result.status == StepStatus::warned;
  view["outcome"] = std::string(to_string(result.status));
  view["reason"] = result.reason;
  view["captures"] = result.captures;
  view["seconds"] = result.seconds;
  view["attempts"] = result.attempts;
  if (!result.decision.empty()) view["decision"] = result.decision;
  if (children_steps != nullptr) view["steps"] = *children_steps;
  return view;
}

bool is_failure(StepStatus status) {
  return status == StepStatus::failed || status == StepStatus::declined || status == StepStatus::interrupted;
}

}  // namespace

struct Engine::Impl {
  EngineSettings settings;
  Reporter& reporter;
  const CancelToken& cancel;
  std::mutex report_mutex;
  std::mutex prompt_mutex;
  std::mutex sessions_mutex;
  std::map<const Executor*, std::unique_ptr<ExecutorSession>> sessions;
  std::map<const Executor*, std::vector<Expectation>> default_expectations;
  std::atomic<int> steps_run{0};
  std::atomic<bool> declined{false};
  std::atomic<bool> counted_failure{false};
  std::atomic<bool> any_warning{false};
  Json target;
  Json run_info;
  std::mutex outcome_mutex;
  Json state = Json::object();          // aspect -> what the passed steps left it in
  std::vector<std::string> next_steps;  // recovery texts of the steps that stopped or failed the run

  Impl(EngineSettings s, Reporter& r, const CancelToken& c) : settings(std::move(s)), reporter(r), cancel(c) {}

  ExecutorSession& session_for(const Executor* executor) {
    std::lock_guard lock(sessions_mutex);
    auto& slot = sessions[executor];
    if (!slot) slot = executor->open_session(settings.options);
    return *slot;
  }

  const std::vector<Expectation>& defaults_for(const Executor* executor) {
    std::lock_guard lock(sessions_mutex);
    auto it = default_expectations.find(executor);
    if (it != default_expectations.end()) return it->second;
    std::vector<Expectation> parsed;
    for (const auto& text : executor->default_expectations()) {
      // "exit_code == 0 :: kubectl failed: {{ error }}": the condition, then its failure's words.
      Expectation expectation;
      auto separator = text.find(k_message_separator);
      expectation.expr = Expression::parse(text.substr(0, separator));
      if (separator != std::string::npos) expectation.message = text.substr(separator + k_message_separator.size());
      parsed.push_back(std::move(expectation));
    }
    return default_expectations.emplace(executor, std::move(parsed)).first->second;
  }

  StepScope scope_of(const Frame& frame, const Json* result) const {
    StepScope scope;
    scope.params = &frame.params;
    scope.target = &target;
    scope.steps = &frame.steps;
    scope.captures = frame.captures;
    scope.run = &run_info;
    scope.result = result;
    return scope;
  }

  void report_started(const Step& step, int depth) {
    std::lock_guard lock(report_mutex);
    reporter.step_started(step, depth);
  }

  void report_finished(const StepResult& result, int depth) {
    std::lock_guard lock(report_mutex);
    reporter.step_finished(result, depth);
  }

  // Waits up to `duration`, returning early (false) when the run is cancelled.
  bool wait_for(Duration duration) {
    auto until = Clock::now() + duration;
    while (!cancel.cancelled()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return true;
      pollfd fd{cancel.fd(), POLLIN, 0};
      ::poll(&fd, 1, static_cast<int>(std::min<long long>(left, 1000)));
    }
    return false;
  }

  Duration timeout_of(const Step& step, const Frame& frame) const {
    if (step.timeout) return *step.timeout;
    if (frame.default_timeout) return *frame.default_timeout;
    return settings.default_timeout;
  }

  // --- flows -------------------------------------------------------------------------------

  FlowEnd run_flow(const std::vector<Step>& steps, Frame& frame, int depth, std::vector<StepResult>& out,
                   std::size_t start = 0) {
    std::map<std::string, int> visits;
    std::size_t index = start;
    while (index < steps.size()) {
      if (cancel.cancelled()) return FlowEnd::interrupted;
      const Step& step = steps[index];
      if (++steps_run > k_max_steps_per_run) {
        StepResult result = base_result(step, frame);
        result.status = StepStatus::failed;
        result.reason = "the run exceeded " + std::to_string(k_max_steps_per_run) + " steps; stopping";
        report_finished(result, depth);
        out.push_back(std::move(result));
        counted_failure = true;
        return FlowEnd::stopped;
      }
      int& visited = visits[step.id];
      ++visited;
      StepResult result;
      if (step.max_visits > 0 && visited > step.max_visits) {
        result = base_result(step, frame);
        result.status = StepStatus::failed;
        result.reason = "loop bound reached: step visited " + std::to_string(step.max_visits) + " times (max_visits)";
        report_finished(result, depth);
      } else {
        result = execute(step, frame, depth);
      }
      const Json* children = nullptr;
      if (result.data.is_object() && result.data.contains("steps")) children = &result.data["steps"];
      frame.steps[step.id] = step_view(result, children);
      if (frame.captures != nullptr)
        for (auto it = result.captures.begin(); it != result.captures.end(); ++it) (*frame.captures)[it.key()] = it.value();
      StepStatus status = result.status;
      std::string decision = result.decision;

      // Where the flow goes next; a step that ends the run early names itself (a resume retries it).
      std::optional<FlowEnd> end;
      std::string jump;
      if (status == StepStatus::interrupted) {
        end = FlowEnd::interrupted;
      } else if (status == StepStatus::declined) {
        end = FlowEnd::declined;
      } else if (step.kind == Step::Kind::decision && status != StepStatus::failed && status != StepStatus::skipped) {
        jump = decision;
      } else if (status == StepStatus::failed) {
        // Only the runbook's own flow counts failures for the run: inside a procedure, a failure
        // makes its `use` step fail, and that step's on_failure (ignore, goto…) decides.
        switch (step.on_failure.action) {
          case FailureAction::stop:
            if (depth == 0) counted_failure = true;
            end = FlowEnd::stopped;
            break;
          case FailureAction::proceed:
            if (depth == 0) counted_failure = true;
            jump = step.next;
            break;
          case FailureAction::ignore:
            jump = step.next;
            break;
          case FailureAction::go_to:
            jump = step.on_failure.target;
            break;
        }
      } else {
        if (status == StepStatus::warned) any_warning = true;
        jump = step.next;
      }
      std::size_t next_index = index + 1;
      if (!end && !jump.empty()) {
        if (jump == "end") {
          next_index = steps.size();
        } else {
          auto it = std::find_if(steps.begin(), steps.end(), [&](const Step& s) { return s.id == jump; });
          next_index = it == steps.end() ? steps.size() : static_cast<std::size_t>(it - steps.begin());
        }
      }
      if (depth == 0 && settings.observer != nullptr) {
        std::string next = end ? step.id : next_index < steps.size() ? steps[next_index].id : std::string("end");
        std::lock_guard lock(report_mutex);
        if (step.kind == Step::Kind::parallel) {
          // A resume needs the group's steps too: they are steps.<id> of this flow.
          Json view = frame.steps[step.id];
          view["steps"] = Json::object();
          for (const auto& child : step.children) view["steps"][child.id] = frame.steps[child.id];
          settings.observer->top_level_step(result, view, next);
        } else {
          settings.observer->top_level_step(result, frame.steps[step.id], next);
        }
      }
      out.push_back(std::move(result));
      if (end) return *end;
      index = next_index;
    }
    return FlowEnd::completed;
  }

  StepResult base_result(const Step& step, const Frame& frame) const {
    StepResult result;
    result.id = step.id;
    result.title = step.title.empty() ? step.id : step.title;
    if (Template::has_holes(result.title)) {
      // "Scale {{ params.deployment }}": the title says what this run does. A name it reads
      // that has no value yet leaves the words as written.
      try {
        result.title = process_redactor().redact(parsed_template(result.title).render(scope_of(frame, nullptr)));
      } catch (const std::exception&) {
      }
    }
    switch (step.kind) {
      case Step::Kind::action: result.kind = step.executor_name; break;
      case Step::Kind::decision: result.kind = "decision"; break;
      case Step::Kind::parallel: result.kind = "parallel"; break;
      case Step::Kind::procedure: result.kind = "procedure"; break;
    }
    result.effect = step.effect;
    result.show = step.show;
    return result;
  }

  StepResult execute(const Step& step, Frame& frame, int depth) {
    if (step.when) {
      StepScope scope = scope_of(frame, nullptr);
      bool run_it = false;
      std::string error;
      try {
        run_it = step.when->evaluate_bool(scope);
      } catch (const EvaluationError& e) {
        error = e.what();
      }
      if (!error.empty() || !run_it) {
        StepResult result = base_result(step, frame);
        if (!error.empty()) {
          result.status = StepStatus::failed;
          result.reason = "cannot evaluate 'when' (" + step.when->text() + "): " + error;
        } else {
          result.status = StepStatus::skipped;
          result.reason = "skipped: when " + step.when->text() + " is false (" + step.when->explain(scope) + ")";
        }
        report_finished(result, depth);
        return result;
      }
    }
    report_started(step, depth);
    auto started = Clock::now();
    StepResult result;
    switch (step.kind) {
      case Step::Kind::action: result = execute_action(step, frame); break;
      case Step::Kind::decision: result = execute_decision(step, frame); break;
      case Step::Kind::parallel: result = execute_parallel(step, frame, depth); break;
      case Step::Kind::procedure: result = execute_procedure(step, frame, depth); break;
    }
    result.seconds = seconds_since(started);
    result.reason = process_redactor().redact(result.reason);
    result.handled = result.status == StepStatus::failed && (step.on_failure.action == FailureAction::ignore ||
                                                             step.on_failure.action == FailureAction::go_to);
    note_outcome(step, result, frame);
    report_finished(result, depth);
    return result;
  }

  // Keeps what the run reports if it stops part-way: the state the passed steps left (`leaves`),
  // and what to do next (`recovery`) from each step whose failure stops or fails the run.
  void note_outcome(const Step& step, const StepResult& result, const Frame& frame) {
    // A dry run changes nothing: what its steps would leave is not the state of the system.
    bool passed = !settings.options.dry_run &&
                  (result.status == StepStatus::passed || result.status == StepStatus::warned);
    bool counts_against_run =
        result.status == StepStatus::declined || result.status == StepStatus::interrupted ||
        (result.status == StepStatus::failed &&
         (step.on_failure.action == FailureAction::stop || step.on_failure.action == FailureAction::proceed));
    if (!(passed && !step.leaves.empty()) && !(counts_against_run && !step.recovery.empty())) return;
    // The step's own captures are merged into the frame only after it returns: show them here.
    Json captures = frame.captures != nullptr ? *frame.captures : Json::object();
    for (auto it = result.captures.begin(); it != result.captures.end(); ++it) captures[it.key()] = it.value();
    // A step that never ran (declined, interrupted) has no result: its fields read as null.
    Json data = result.data.is_object() ? result.data : Json::object();
    if (step.executor != nullptr)
      for (const auto& field : step.executor->result_fields())
        if (!data.contains(field)) data[field] = nullptr;
    StepScope scope = scope_of(frame, &data);
    scope.captures = &captures;
    auto render = [&](const std::string& text) {
      try {
        return process_redactor().redact(trim(Template::parse(text).render(scope)));
      } catch (const std::exception&) {
        return process_redactor().redact(trim(text));  // a value it reads is missing: the words as written
      }
    };
    std::lock_guard lock(outcome_mutex);
    if (passed)
      for (const auto& note : step.leaves) state[note.aspect] = render(note.text);
    if (counts_against_run && !step.recovery.empty()) {
      std::string text = render(step.recovery);
      if (std::find(next_steps.begin(), next_steps.end(), text) == next_steps.end()) next_steps.push_back(text);
    }
  }

  // --- actions -----------------------------------------------------------------------------

  // Asks before a gated step. False: it must not run (result filled in).
  bool gate(const Step& step, const Frame& frame, StepResult& result, const Json& action, StepContext& context) {
    bool manual = step.executor->needs_operator();
    if (settings.options.dry_run) {
      result.status = StepStatus::skipped;
      result.dry_run = true;
      if (manual) {
        result.reason = "dry run: manual step shown, not awaited";
        return false;
      }
      result.reason = "dry run: would run " + result.command;
      preview(step, result, action, context);
      return false;
    }
    Approval approval = Approval::confirm;
    if (!manual && settings.approval) approval = settings.approval(result.effect);
    if (approval == Approval::deny) {
      result.status = StepStatus::declined;
      result.reason = "denied by policy: " + std::string(to_string(result.effect)) + " steps may not run in " +
                      run_info.value("environment", "");
      declined = true;
      return false;
    }
    if (approval == Approval::allow) {
      result.notes.emplace_back("allowed by policy without confirmation");
      return true;
    }
    const std::string service = run_info.value("service", "");
    if (settings.assume_yes && (approval != Approval::confirm_typed || settings.confirm_destructive == service)) {
      result.notes.emplace_back(manual ? "acknowledged by --yes (no operator asked)"
                                       : approval == Approval::confirm_typed ? "confirmed by --yes --confirm-destructive"
                                                                             : "confirmed by --yes");
      return true;
    }
    if (!settings.interactive || settings.prompter == nullptr) {
      result.status = StepStatus::declined;
      result.reason = approval == Approval::confirm_typed
                          ? "destructive in " + run_info.value("environment", "") +
                                ": needs --yes --confirm-destructive " + service + " (or a terminal to type it on)"
                          : "needs confirmation and there is no terminal to ask on: rerun with --yes";
      declined = true;
      return false;
    }
    std::lock_guard lock(prompt_mutex);
    std::string question = manual ? (step.confirm.empty() ? "Done?" : step.confirm) : step.confirm;
    if (Template::has_holes(question)) {
      try {
        question = process_redactor().redact(parsed_template(question).render(scope_of(frame, nullptr)));
      } catch (const std::exception&) {  // a name with no value yet: the words as written
      }
    }
    std::optional<bool> answer;
    {
      std::lock_guard report_lock(report_mutex);  // keep live output off the prompt
      answer = settings.prompter->confirm(result.title, question, result.command,
                                          approval == Approval::confirm_typed ? service : "");
    }
    if (answer && *answer) {
      result.notes.emplace_back(manual ? "acknowledged by the operator" : "confirmed by the operator");
      return true;
    }
    result.status = StepStatus::declined;
    result.reason = answer ? "declined by the operator" : "no answer: not run";
    declined = true;
    return false;
  }

  // Dry runs show what a mutation would do through the executor's safe substitute, if it has one.
  void preview(const Step& step, StepResult& result, const Json& action, StepContext& context) {
    context.deadline = Clock::now() + settings.default_timeout;
    std::optional<ActionOutcome> outcome;
    try {
      outcome = session_for(step.executor).preview(action, context);
    } catch (const std::exception& e) {
      outcome = ActionOutcome::failure(std::string("preview error: ") + e.what());
    }
    if (!outcome) {
      result.notes.emplace_back("no safe substitute: shown, not run");
      return;
    }
    result.data = shorten(outcome->data);
    result.data["previewed"] = true;
    if (!outcome->ok) {
      result.notes.push_back("preview failed: " + outcome->error);
    } else if (outcome->data.contains("summary")) {
      result.notes.push_back("preview: " + to_display_string(outcome->data["summary"]));
    }
    for (auto& note : outcome->notes) result.notes.push_back(std::move(note));
  }

  struct Verdict {
    StepStatus status = StepStatus::passed;
    std::string reason;
    std::vector<ExpectationResult> expectations;
  };

  Verdict judge(const Step& step, const ActionOutcome& outcome, const Frame& frame) {
    Verdict verdict;
    if (!outcome.ok) {
      verdict.status = StepStatus::failed;
      verdict.reason = outcome.error;
      return verdict;
    }
    StepScope scope = scope_of(frame, &outcome.data);
    const auto& expectations = step.expect.empty() ? defaults_for(step.executor) : step.expect;
    for (const auto& expectation : expectations) {
      ExpectationResult item;
      item.expression = expectation.expr.text();
      item.severity = expectation.severity;
      try {
        item.passed = expectation.expr.evaluate_bool(scope);
        if (!item.passed) item.detail = expectation.expr.explain(scope);
      } catch (const EvaluationError& e) {
        item.passed = false;
        item.detail = e.what();
        item.error = true;
      }
      if (!item.passed && !expectation.message.empty()) {
        try {
          item.message = Template::parse(expectation.message).render(scope);
        } catch (const std::exception&) {
          item.message = expectation.message;
        }
      }
      if (!item.passed) {
        std::string why;
        if (!item.message.empty()) {
          why = item.message + " (" + item.detail + ")";
        } else if (item.error) {
          why = "cannot check " + item.expression + ": " + item.detail;
        } else {
          why = "expected " + item.expression + (item.detail.empty() ? "" : ", got " + item.detail);
        }
        if (expectation.severity == Severity::critical && verdict.status != StepStatus::failed) {
          verdict.status = StepStatus::failed;
          verdict.reason = why;
        } else if (expectation.severity == Severity::warning && verdict.status == StepStatus::passed) {
          verdict.status = StepStatus::warned;
          verdict.reason = "warning: " + why;
        }
      }
      verdict.expectations.push_back(std::move(item));
    }
    return verdict;
  }

  StepResult execute_action(const Step& step, Frame& frame) {
    StepResult result = base_result(step, frame);
    StepScope scope = scope_of(frame, nullptr);
    Json action;
    try {
      action = render_tree(step.action, scope);
    } catch (const std::exception& e) {
      result.status = StepStatus::failed;
      result.reason = std::string("cannot expand the step's templates: ") + e.what();
      return result;
    }
    StepContext context;
    context.step_id = step.id;
    context.cancel = &cancel;
    context.options = &settings.options;
    context.target = &target;
    context.redactor = &process_redactor();
    result.effect = max_effect(step.effect, step.executor->effect(action));
    context.effect = result.effect;
    result.command = process_redactor().redact(step.executor->describe(action, context));
    bool mutates = result.effect != Effect::read;
    if (mutates || step.executor->needs_operator()) {
      if (!gate(step, frame, result, action, context)) return result;
    }
    if (mutates && settings.observer != nullptr) {
      std::string error;
      bool allowed;
      {
        std::lock_guard lock(report_mutex);
        allowed = settings.observer->before_mutation(step, result, error);
      }
      if (!allowed) {
        result.status = StepStatus::failed;
        result.reason = "not run: " + error;
        return result;
      }
    }

    auto action_started = Clock::now();
    ExecutorSession& session = session_for(step.executor);
    const UntilPolicy until = step.until.value_or(UntilPolicy{std::chrono::milliseconds(0), std::nullopt, 1, 1, std::nullopt, {}});
    const Duration timeout = timeout_of(step, frame);
    auto started = Clock::now();
    int ok_streak = 0;
    int fail_streak = 0;
    ActionOutcome outcome;
    Verdict verdict;
    std::string until_failure;
    while (true) {
      ++result.attempts;
      Duration budget = timeout;
      if (until.within) {
        auto left = std::chrono::duration_cast<Duration>(started + *until.within - Clock::now());
        budget = std::max(Duration(1), std::min(budget, left));
      }
      context.deadline = Clock::now() + budget;
      context.budget = budget;
      auto attempt_started = Clock::now();
      try {
        outcome = session.run(action, context);
      } catch (const std::exception& e) {
        // Executors return failures as values; anything thrown is still a step failure, not a crash.
        outcome = ActionOutcome::failure(std::string("executor error: ") + e.what());
      }
      if (!outcome.data.contains("duration")) outcome.data["duration"] = seconds_since(attempt_started);
      outcome.data["attempt"] = result.attempts;
      if (cancel.cancelled()) {
        result.status = StepStatus::interrupted;
        result.reason = "interrupted";
        result.data = shorten(outcome.data);
        if (mutates && settings.observer != nullptr) {
          result.seconds = seconds_since(action_started);
          std::lock_guard lock(report_mutex);
          settings.observer->after_mutation(step, result);
        }
        return result;
      }
      verdict = judge(step, outcome, frame);
      bool success = verdict.status != StepStatus::failed;
      ok_streak = success ? ok_streak + 1 : 0;
      fail_streak = success ? 0 : fail_streak + 1;
      if (!step.until) break;
      if (ok_streak >= until.successes) break;
      std::string last = verdict.reason.empty() ? "not yet" : verdict.reason;
      if (until.failures && fail_streak >= *until.failures) {
        until_failure = "failed " + std::to_string(fail_streak) + " time" + (fail_streak == 1 ? "" : "s") +
                        " in a row: " + last;
        break;
      }
      if (until.attempts && result.attempts >= *until.attempts) {
        until_failure = describe_until_miss(until, result.attempts, ok_streak) + ": " + last;
        break;
      }
      if (until.within && Clock::now() + until.interval >= started + *until.within) {
        until_failure = "gave up after " + format_duration(*until.within) + " (" + std::to_string(result.attempts) +
                        " attempts): " + last;
        break;
      }
      {
        std::lock_guard lock(report_mutex);
        reporter.step_waiting(step, result.attempts,
                              (success ? "passed, needs " + std::to_string(until.successes - ok_streak) + " more"
                                       : last) +
                                  "; next attempt in " + format_duration(until.interval));
      }
      if (!wait_for(until.interval)) {
        result.status = StepStatus::interrupted;
        result.reason = "interrupted while waiting to retry";
        result.data = shorten(outcome.data);
        return result;
      }
    }

    result.status = verdict.status;
    result.reason = verdict.reason;
    result.expectations = std::move(verdict.expectations);
    if (!until_failure.empty()) {
      result.status = StepStatus::failed;
      result.reason = until_failure;
    } else if (step.until && result.status != StepStatus::failed) {
      result.notes.push_back("held " + std::to_string(ok_streak) + " time" + (ok_streak == 1 ? "" : "s") +
                             " in a row after " + std::to_string(result.attempts) + " attempt" +
                             (result.attempts == 1 ? "" : "s"));
    }
    for (auto& note : outcome.notes) result.notes.push_back(std::move(note));
    if (outcome.ok) capture(step, outcome, frame, result);
    result.data = shorten(outcome.data);
    if (mutates && settings.observer != nullptr) {
      result.seconds = seconds_since(action_started);
      std::lock_guard lock(report_mutex);
      settings.observer->after_mutation(step, result);
    }
    return result;
  }

  static std::string describe_until_miss(const UntilPolicy& until, int attempts, int ok_streak) {
    (void)ok_streak;
    if (until.successes > 1)
      return "did not pass " + std::to_string(until.successes) + " times in a row within " + std::to_string(attempts) +
             " attempts";
    return "still failing after " + std::to_string(attempts) + " attempts";
  }

  void capture(const Step& step, const ActionOutcome& outcome, const Frame& frame, StepResult& result) {
    StepScope scope = scope_of(frame, &outcome.data);
    for (const auto& capture : step.capture) {
      try {
        Json value = capture.expr.evaluate(scope);
        if (capture.secret) process_redactor().add_secret(value.is_string() ? value.get<std::string>() : dump_json(value));
        result.captures[capture.name] = std::move(value);
      } catch (const EvaluationError& e) {
        result.captures[capture.name] = nullptr;
        if (result.status != StepStatus::failed) {
          result.status = StepStatus::failed;
          result.reason = "cannot capture '" + capture.name + "' (" + capture.expr.text() + "): " + e.what();
        }
      }
    }
  }

  // Reports keep the shape of the data but not megabytes of body.
  static Json shorten(const Json& data) {
    Json out = data;
    auto cut = [](Json& value) {
      if (!value.is_string() || value.get_ref<const std::string&>().size() <= k_report_body_limit) return;
      std::string text = value.get<std::string>();
      std::size_t full = text.size();
      text.resize(k_report_body_limit);
      value = text + "… (" + std::to_string(full) + " bytes in all)";
    };
    for (const char* key : {"body", "stdout", "stderr"})
      if (out.contains(key)) cut(out[key]);
    // A program's output of one 16 MiB line is one item of `lines`: cut there too.
    if (out.contains("lines") && out["lines"].is_array())
      for (auto& line : out["lines"]) cut(line);
    out.erase("json_error");
    return out;
  }

  // --- decisions, groups, procedures --------------------------------------------------------

  StepResult execute_decision(const Step& step, Frame& frame) {
    StepResult result = base_result(step, frame);
    StepScope scope = scope_of(frame, nullptr);
    for (std::size_t i = 0; i < step.cases.size(); ++i) {
      const auto& decision = step.cases[i];
      try {
        if (decision.when.evaluate_bool(scope)) {
          result.decision = decision.target;
          result.reason = "case " + std::to_string(i + 1) + ": " + decision.when.text() + " (" +
                          decision.when.explain(scope) + ") -> " + decision.target;
          return result;
        }
      } catch (const EvaluationError& e) {
        result.status = StepStatus::failed;
        result.reason = "cannot decide: case " + std::to_string(i + 1) + " (" + decision.when.text() + "): " + e.what();
        return result;
      }
    }
    result.decision = step.default_target;
    std::string values;
    for (const auto& decision : step.cases) {
      std::string explained = decision.when.explain(scope);
      if (!explained.empty() && values.find(explained) == std::string::npos)
        values += (values.empty() ? "" : "; ") + explained;
    }
    result.reason = "no case held" + (values.empty() ? std::string() : " (" + values + ")") + " -> " + step.default_target;
    return result;
  }

  StepResult execute_parallel(const Step& step, Frame& frame, int depth) {
    StepResult result = base_result(step, frame);
    const auto& children = step.children;
    std::vector<StepResult> results(children.size());
    int limit = step.max_concurrency > 0 ? step.max_concurrency : settings.options.max_concurrency;
    std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, limit)), children.size());
    if (std::size_t room = steps_the_open_file_limit_allows(); workers > room) {
      spdlog::info(
          "parallel group '{}': {} steps at a time instead of {}: the open-file limit (ulimit -n) leaves "
          "room for no more",
          step.id, room, workers);
      workers = room;
    }
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      while (true) {
        std::size_t i = next++;
        if (i >= children.size()) return;
        if (cancel.cancelled()) {
          results[i] = base_result(children[i], frame);
          results[i].status = StepStatus::interrupted;
          results[i].reason = "not started: interrupted";
          continue;
        }
        results[i] = execute(children[i], frame, depth + 1);
      }
    };
    std::vector<std::thread> threads;
    threads.reserve(workers);
    try {
      for (std::size_t t = 1; t < workers; ++t) threads.emplace_back(work);
    } catch (const std::system_error&) {
      // Out of threads: the ones we have (and this one) still finish the group.
    }
    work();
    for (auto& thread : threads) thread.join();

    int failed = 0;
    int warned = 0;
    for (std::size_t i = 0; i < children.size(); ++i) {
      const Step& child = children[i];
      StepResult& child_result = results[i];
      // The steps of a group are read as steps.<id>, like any other: one view each, no copies.
      const Json* grandchildren = child_result.data.contains("steps") ? &child_result.data["steps"] : nullptr;
      frame.steps[child.id] = step_view(child_result, grandchildren);
      for (auto it = child_result.captures.begin(); it != child_result.captures.end(); ++it)
        result.captures[it.key()] = it.value();
      if (child_result.status == StepStatus::interrupted) result.status = StepStatus::interrupted;
      if (child_result.status == StepStatus::declined && result.status != StepStatus::interrupted)
        result.status = StepStatus::declined;
      if (is_failure(child_result.status) && child.on_failure.action != FailureAction::ignore) ++failed;
      if (child_result.status == StepStatus::warned) ++warned;
    }
    if (result.status == StepStatus::passed && failed > 0) {
      result.status = StepStatus::failed;
      result.reason = std::to_string(failed) + " of " + std::to_string(children.size()) + " steps failed";
    } else if (result.status == StepStatus::passed && warned > 0) {
      result.status = StepStatus::warned;
      result.reason = std::to_string(warned) + " of " + std::to_string(children.size()) + " steps warned";
    }
    result.data = Json::object();
    result.children = std::move(results);
    return result;
  }

  StepResult execute_procedure(const Step& step, Frame& frame, int depth) {
    StepResult result = base_result(step, frame);
    StepScope scope = scope_of(frame, nullptr);
    Frame child;
    child.owner = step.procedure.get();
    child.default_timeout = step.procedure->default_timeout ? step.procedure->default_timeout : frame.default_timeout;
    Json captures = frame.captures != nullptr ? *frame.captures : Json::object();
    child.captures = &captures;
    std::string error;
    try {
      Json with = render_tree(step.with, scope);
      if (!resolve_params(*step.procedure, with, &target, child.params, error, false)) {
        result.status = StepStatus::failed;
        result.reason = "procedure " + step.procedure->name + ": " + error;
        return result;
      }
    } catch (const std::exception& e) {
      result.status = StepStatus::failed;
      result.reason = std::string("cannot expand 'with': ") + e.what();
      return result;
    }
    FlowEnd end = run_flow(step.procedure->steps, child, depth + 1, result.children);
    result.captures = std::move(captures);
    result.data = Json::object();
    result.data["steps"] = child.steps;
    switch (end) {
      case FlowEnd::completed: {
        bool warned = std::any_of(result.children.begin(), result.children.end(),
                                  [](const StepResult& r) { return r.status == StepStatus::warned; });
        bool failed_counted = std::any_of(result.children.begin(), result.children.end(), [&](const StepResult& r) {
          const Step* s = find_step(step.procedure->steps, r.id);
          return r.status == StepStatus::failed && s != nullptr && s->on_failure.action == FailureAction::proceed;
        });
        if (failed_counted) {
          result.status = StepStatus::failed;
          result.reason = "a step of procedure '" + step.procedure->name + "' failed";
        } else if (warned) {
          result.status = StepStatus::warned;
        }
        break;
      }
      case FlowEnd::stopped: {
        result.status = StepStatus::failed;
        const StepResult& last = result.children.back();
        result.reason = last.id + ": " + last.reason;
        break;
      }
      case FlowEnd::declined:
        result.status = StepStatus::declined;
        result.reason = result.children.empty() ? "declined" : result.children.back().reason;
        break;
      case FlowEnd::interrupted:
        result.status = StepStatus::interrupted;
        result.reason = "interrupted";
        break;
    }
    return result;
  }
};

Engine::Engine(EngineSettings settings, Reporter& reporter, const CancelToken& cancel)
    : m_impl(std::make_unique<Impl>(std::move(settings), reporter, cancel)) {}

Engine::~Engine() = default;

RunResult Engine::run(const PreparedRun& prepared, const ResumePoint* resume) {
  Impl& impl = *m_impl;
  const Runbook& runbook = *prepared.runbook;
  impl.target = prepared.target;
  {
    std::lock_guard lock(impl.outcome_mutex);
    impl.state = Json::object();
    impl.next_steps.clear();
  }
  impl.run_info = Json{{"id", prepared.run_id},
                       {"environment", prepared.environment},
                       {"dry_run", impl.settings.options.dry_run},
                       {"service", runbook.service},
                       {"runbook", runbook.name},
                       {"production", prepared.production}};

  RunResult run;
  run.run_id = prepared.run_id;
  run.service = runbook.service;
  run.runbook = runbook.name;
  run.title = runbook.title;
  run.environment = prepared.environment;
  run.context = prepared.kube_context;
  run.dry_run = impl.settings.options.dry_run;
  run.started_at = iso8601_now();
  run.params = process_redactor().redact_json(prepared.params);
  {
    std::lock_guard lock(impl.report_mutex);
    impl.reporter.run_started(RunStart{runbook.service, runbook.name, runbook.title, prepared.environment, run.dry_run});
  }
  auto started = Clock::now();
  Json captures = Json::object();
  Frame frame;
  frame.owner = &runbook;
  frame.params = prepared.params;
  frame.captures = &captures;
  frame.default_timeout = runbook.default_timeout;
  std::size_t start = 0;
  if (resume != nullptr) {
    frame.steps = resume->steps;
    captures = resume->captures;
    auto it = std::find_if(runbook.steps.begin(), runbook.steps.end(),
                           [&](const Step& s) { return s.id == resume->step_id; });
    start = it == runbook.steps.end() ? runbook.steps.size() : static_cast<std::size_t>(it - runbook.steps.begin());
  }
  FlowEnd end = impl.run_flow(runbook.steps, frame, 0, run.steps, start);
  run.seconds = seconds_since(started);
  switch (end) {
    case FlowEnd::interrupted:
      run.status = RunStatus::interrupted;
      run.reason = "interrupted";
      break;
    case FlowEnd::declined:
      run.status = RunStatus::declined;
      run.reason = run.steps.empty() ? "declined" : run.steps.back().id + ": " + run.steps.back().reason;
      break;
    case FlowEnd::stopped:
      run.status = RunStatus::failed;
      run.reason = run.steps.empty() ? "stopped" : "stopped at step '" + run.steps.back().id + "'";
      break;
    case FlowEnd::completed:
      run.status = impl.counted_failure ? RunStatus::failed : impl.any_warning ? RunStatus::warned : RunStatus::passed;
      break;
  }
  if (impl.cancel.cancelled()) run.status = RunStatus::interrupted;
  {
    std::lock_guard lock(impl.outcome_mutex);
    run.state = impl.state;
    if (run.status != RunStatus::passed && run.status != RunStatus::warned) run.next_steps = impl.next_steps;
  }
  {
    std::lock_guard lock(impl.report_mutex);
    impl.reporter.run_finished(run);
  }
  return run;
}

}  // namespace ttops
