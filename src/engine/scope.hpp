#pragma once
// The names expressions and templates see during a run.
#include <string_view>

#include "ttops/expression.hpp"
#include "ttops/json.hpp"

namespace ttops {

struct Config;

/// The process environment as a JSON object, read once.
const Json& process_environment();

/// Registers the values of secret-named environment variables with the process redactor.
void register_secret_environment(const Config& config);

/// Sees only `env`: what config values may read.
class ProcessEnvScope : public EvalScope {
 public:
  explicit ProcessEnvScope(const Config& config) : m_config(config) {}
  const Json* lookup(std::string_view name) const override;

 private:
  const Config& m_config;
};

/// The names of a step: params, env, target, steps, captures, run and, inside expect, capture
/// and until, the fields of the step's own result (`status`, `json`…). Holds pointers only:
/// the engine owns the data and keeps it alive while the scope is used.
class StepScope : public EvalScope {
 public:
  const Json* params = nullptr;
  const Json* target = nullptr;
  const Json* steps = nullptr;
  const Json* captures = nullptr;
  const Json* run = nullptr;
  const Json* result = nullptr;  // the current attempt's data, or nullptr outside expect/capture

  const Json* lookup(std::string_view name) const override;
};

/// The root names every step may use, for validation and "did you mean".
const std::vector<std::string>& scope_root_names();

}  // namespace ttops
