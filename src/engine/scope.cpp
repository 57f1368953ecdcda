#include "engine/scope.hpp"

#include <unistd.h>

#include "runbook/config.hpp"
#include "util/redact.hpp"

extern char** environ;

namespace ttops {

const Json& process_environment() {
  static const Json environment = [] {
    Json out = Json::object();
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      std::string_view text(*entry);
      auto equals = text.find('=');
      if (equals == std::string_view::npos) continue;
      out[std::string(text.substr(0, equals))] = std::string(text.substr(equals + 1));
    }
    return out;
  }();
  return environment;
}

void register_secret_environment(const Config& config) {
  const Json& environment = process_environment();
  for (auto it = environment.begin(); it != environment.end(); ++it) {
    if (!is_secret_variable(it.key(), config)) continue;
    const auto& value = it.value().get_ref<const std::string&>();
    process_redactor().add_secret(value);
    process_redactor().add_url_credentials(value);
  }
}

const Json* ProcessEnvScope::lookup(std::string_view name) const {
  (void)m_config;
  if (name == "env") return &process_environment();
  return nullptr;
}

const Json* StepScope::lookup(std::string_view name) const {
  if (result != nullptr) {
    // A body that is not JSON fails only the expectations that read `json`, with the reason.
    if (name == "json" && result->contains("json_error"))
      throw EvaluationError((*result)["json_error"].get<std::string>());
    auto it = result->find(name);
    if (it != result->end()) return &*it;
  }
  if (name == "params") return params;
  if (name == "env") return &process_environment();
  if (name == "target") return target;
  if (name == "steps") return steps;
  if (name == "captures") return captures;
  if (name == "run") return run;
  return nullptr;
}

const std::vector<std::string>& scope_root_names() {
  static const std::vector<std::string> names = {"params", "env", "target", "steps", "captures", "run"};
  return names;
}

}  // namespace ttops
