// `wait: 30s`: a measured pause, e.g. between two scrapes of a counter to compute a rate over a
// window. Interruptible; never a way to "wait and hope" (use `until` to wait for a condition).
// Its duration is its bound, so the step's timeout does not apply to it.
#include <poll.h>

#include <algorithm>

#include "ttops/executor.hpp"
#include "ttops/expression.hpp"
#include "util/duration.hpp"

namespace ttops {

namespace {

class WaitSession : public ExecutorSession {
 public:
  ActionOutcome run(const Json& action, StepContext& context) override {
    auto duration = duration_field(action, "duration");
    if (!duration) return ActionOutcome::failure("wait needs a duration such as 30s");
    auto until = std::chrono::steady_clock::now() + *duration;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (context.cancelled()) return ActionOutcome::failure("interrupted");
      pollfd fd{context.cancel != nullptr ? context.cancel->fd() : -1, POLLIN, 0};
      ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    }
    ActionOutcome outcome;
    outcome.data["waited"] = static_cast<double>(duration->count()) / 1000.0;
    return outcome;
  }
};

class WaitExecutor : public Executor {
 public:
  std::string_view name() const override { return "wait"; }
  std::string_view summary() const override { return "a measured pause, interruptible"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = {{"duration", FieldType::duration, true, "how long, e.g. 30s"}};
    return fields;
  }
  std::string_view shorthand_field() const override { return "duration"; }
  std::vector<std::string> result_fields() const override { return {"waited"}; }
  Effect effect(const Json& action) const override {
    (void)action;
    return Effect::read;
  }
  std::string describe(const Json& action, const StepContext& context) const override {
    (void)context;
    auto duration = duration_field(action, "duration");
    return "wait " + (duration ? format_duration(*duration) : to_display_string(action.value("duration", Json())));
  }
  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    (void)options;
    return std::make_unique<WaitSession>();
  }
};

}  // namespace

std::unique_ptr<Executor> make_wait_executor() { return std::make_unique<WaitExecutor>(); }

}  // namespace ttops
