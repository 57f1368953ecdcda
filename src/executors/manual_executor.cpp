// Manual steps: the human parts of a runbook (update the status page, transfer funds from the
// treasury). The engine shows the instructions and waits for the operator's confirmation;
// this executor only records that it was given.
#include "ttops/executor.hpp"

namespace ttops {

namespace {

class ManualSession : public ExecutorSession {
 public:
  ActionOutcome run(const Json& action, StepContext& context) override {
    (void)context;
    ActionOutcome outcome;
    outcome.data["acknowledged"] = true;
    outcome.data["instructions"] = action.value("instructions", "");
    return outcome;
  }
};

class ManualExecutor : public Executor {
 public:
  std::string_view name() const override { return "manual"; }
  std::string_view summary() const override { return "instructions for a person, then a confirmation"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = {
        {"instructions", FieldType::string, true, "what the engineer does, in words"},
        {"link", FieldType::string, false, "a dashboard or document to open"},
    };
    return fields;
  }
  std::string_view shorthand_field() const override { return "instructions"; }
  std::vector<std::string> result_fields() const override { return {"acknowledged", "instructions"}; }
  Effect effect(const Json& action) const override {
    (void)action;
    return Effect::read;
  }
  bool needs_operator() const override { return true; }
  std::string describe(const Json& action, const StepContext& context) const override {
    (void)context;
    std::string text = action.value("instructions", "");
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (action.contains("link")) text += "\n(" + action.value("link", "") + ")";
    return text;
  }
  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    (void)options;
    return std::make_unique<ManualSession>();
  }
};

}  // namespace

std::unique_ptr<Executor> make_manual_executor() { return std::make_unique<ManualExecutor>(); }

}  // namespace ttops
