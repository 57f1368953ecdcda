#pragma once
// Helpers shared by unit tests: load runbooks from strings, and a fake executor.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runbook/loader.hpp"
#include "runbook/validator.hpp"
#include "ttops/executor.hpp"

namespace ttops::testing {

/// Procedures from strings, keyed by name.
class MapResolver : public ProcedureResolver {
 public:
  std::map<std::string, std::string> sources;
  std::shared_ptr<const Runbook> resolve(const std::string& name, const SourceLocation& where,
                                         Diagnostics& diagnostics) override {
    auto it = sources.find(name);
    if (it == sources.end()) {
      diagnostics.error(where, "no procedure '" + name + "'");
      return nullptr;
    }
    auto procedure = load_runbook_text(it->second, "procedures/" + name + ".yaml", this, diagnostics);
    if (procedure) validate_runbook(*procedure, nullptr, diagnostics);
    return procedure;
  }
};

/// Whether any line contains `needle`.
inline bool has(const std::vector<std::string>& list, const std::string& needle) {
  for (const auto& item : list)
    if (item.find(needle) != std::string::npos) return true;
  return false;
}

/// The lines joined, one per line: what a failed assertion shows.
inline std::string all(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& item : list) out += item + "\n";
  return out;
}

/// Loads and validates; returns the diagnostics as "line:col: message" lines.
inline std::vector<std::string> problems(const std::string& yaml, MapResolver* resolver = nullptr) {
  Diagnostics diagnostics;
  auto runbook = load_runbook_text(yaml, "runbooks/svc/test.yaml", resolver, diagnostics);
  if (runbook) validate_runbook(*runbook, nullptr, diagnostics);
  std::vector<std::string> out;
  for (const auto& d : diagnostics.items())
    out.push_back(std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " + d.message);
  return out;
}

inline std::shared_ptr<Runbook> load_ok(const std::string& yaml, MapResolver* resolver = nullptr) {
  Diagnostics diagnostics;
  auto runbook = load_runbook_text(yaml, "runbooks/svc/test.yaml", resolver, diagnostics);
  if (runbook) validate_runbook(*runbook, nullptr, diagnostics);
  if (!diagnostics.empty()) {
    std::string all;
    for (const auto& d : diagnostics.items()) all += d.where.to_string() + ": " + d.message + "\n";
    throw std::runtime_error("unexpected problems:\n" + all);
  }
  return runbook;
}

/// `fake: {value: X, fail: "reason", effect: mutate}`: returns {value: X} or fails; counts calls
/// per step so tests can script a sequence of answers with `values: [..]`.
class FakeExecutor : public Executor {
 public:
  struct Shared {
    std::mutex mutex;
    std::map<std::string, int> calls;  // step id -> attempts
    std::vector<std::string> order;    // step ids in the order they ran
  };
  static Shared& shared() {
    static Shared instance;
    return instance;
  }

  std::string_view name() const override { return "fake"; }
  std::string_view summary() const override { return "a scripted executor for tests"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = {{"value", FieldType::any, false, ""},
                                                    {"values", FieldType::any, false, ""},
                                                    {"fail", FieldType::string, false, ""},
                                                    {"sleep_ms", FieldType::integer, false, ""},
                                                    {"effect", FieldType::string, false, ""}};
    return fields;
  }
  std::vector<std::string> result_fields() const override { return {"value"}; }
  Effect effect(const Json& action) const override {
    return parse_effect(action.value("effect", "read")).value_or(Effect::read);
  }
  std::string describe(const Json& action, const StepContext&) const override { return "fake " + action.dump(); }
  std::unique_ptr<ExecutorSession> open_session(const RunOptions&) const override;
};

class FakeSession : public ExecutorSession {
 public:
  ActionOutcome run(const Json& action, StepContext& context) override {
    int attempt;
    {
      auto& shared = FakeExecutor::shared();
      std::lock_guard lock(shared.mutex);
      attempt = ++shared.calls[context.step_id];
      shared.order.push_back(context.step_id);
    }
    if (action.contains("sleep_ms")) {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(action["sleep_ms"].get<int>());
      while (std::chrono::steady_clock::now() < until) {
        if (context.cancelled()) return ActionOutcome::failure("interrupted");
        if (std::chrono::steady_clock::now() >= context.deadline) return ActionOutcome::failure("timed out", true);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    if (action.contains("fail")) return ActionOutcome::failure(action["fail"].get<std::string>());
    ActionOutcome outcome;
    if (action.contains("values")) {
      const Json& values = action["values"];
      outcome.data["value"] = values[std::min<std::size_t>(static_cast<std::size_t>(attempt - 1), values.size() - 1)];
    } else {
      outcome.data["value"] = action.value("value", Json(nullptr));
    }
    return outcome;
  }
};

inline std::unique_ptr<ExecutorSession> FakeExecutor::open_session(const RunOptions&) const {
  return std::make_unique<FakeSession>();
}

/// Registers the fake executor once per test binary.
inline void ensure_fake_executor() {
  static bool done = [] {
    register_executor(std::make_unique<FakeExecutor>());
    return true;
  }();
  (void)done;
}

inline void reset_fake() {
  auto& shared = FakeExecutor::shared();
  std::lock_guard lock(shared.mutex);
  shared.calls.clear();
  shared.order.clear();
}

}  // namespace ttops::testing
