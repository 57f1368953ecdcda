// The one table of executors. Adding an executor: a new file in this folder defining
// make_<name>_executor(), and one line in TTOPS_EXECUTORS below.
#include <memory>
#include <vector>

#include "ttops/executor.hpp"
#include "util/duration.hpp"

#define TTOPS_EXECUTORS(X) \
  X(http)                  \
  X(postgres)              \
  X(redis)                 \
  X(manual)                \
  X(wait)                  \
  X(kubectl)               \
  X(exec)

namespace ttops {

#define TTOPS_DECLARE_EXECUTOR(name) std::unique_ptr<Executor> make_##name##_executor();
TTOPS_EXECUTORS(TTOPS_DECLARE_EXECUTOR)
#undef TTOPS_DECLARE_EXECUTOR

namespace {

struct Registry {
  std::vector<std::unique_ptr<Executor>> owned;
  std::vector<const Executor*> view;
  Registry() {
#define TTOPS_ADD_EXECUTOR(name) owned.push_back(make_##name##_executor());
    TTOPS_EXECUTORS(TTOPS_ADD_EXECUTOR)
#undef TTOPS_ADD_EXECUTOR
    for (const auto& executor : owned) view.push_back(executor.get());
  }
};

Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

const std::vector<const Executor*>& all_executors() { return registry().view; }

void register_executor(std::unique_ptr<Executor> executor) {
  Registry& r = registry();
  r.view.push_back(executor.get());
  r.owned.push_back(std::move(executor));
}

const Executor* find_executor(std::string_view name) {
  for (const auto* executor : registry().view)
    if (executor->name() == name) return executor;
  return nullptr;
}

std::chrono::milliseconds StepContext::remaining() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? std::chrono::milliseconds(0) : left;
}

std::optional<std::chrono::milliseconds> duration_field(const Json& action, const char* name) {
  if (!action.is_object() || !action.contains(name)) return std::nullopt;
  const Json& value = action[name];
  if (value.is_string()) return parse_duration(value.get_ref<const std::string&>());
  if (value.is_number()) return std::chrono::milliseconds(static_cast<long long>(value.get<double>() * 1000));
  return std::nullopt;
}

}  // namespace ttops
