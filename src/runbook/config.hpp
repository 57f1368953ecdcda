#pragma once
// The config file: environments (production, staging, local…) with each service's values,
// and which environment variables hold secrets. Secrets themselves never live in the file:
// values reach them through {{ env.NAME }}.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ttops/diagnostics.hpp"
#include "ttops/json.hpp"

namespace ttops {

struct Environment {
  std::string name;
  std::string description;
  bool production = false;
  Json values = Json::object();                // shared by every service; may hold {{ env.X }}
  std::map<std::string, Json> services;        // per service, over `values`
  SourceLocation where;
};

/// What ttops is allowed to do where: environment x effect -> allow, confirm or deny.
struct PolicyRule {
  std::string environment;  // a name, or "production" / "*" patterns
  std::string effect;       // read, mutate, destructive, or "*"
  std::string decision;     // allow, confirm, confirm-typed, deny
  SourceLocation where;
};

struct Config {
  std::string file;  // empty: built-in defaults
  std::string default_environment = "local";
  std::vector<std::string> secret_env;  // variables always masked, besides the name rule
  std::vector<Environment> environments;
  std::vector<PolicyRule> policy;
  Json raw = Json::object();  // the whole document, for sections other parts read (policy…)

  const Environment* find(std::string_view name) const;
  std::vector<std::string> environment_names() const;
  /// Every key any environment defines for a service (plus the built-in ones), for validation.
  std::vector<std::string> target_keys(std::string_view service) const;
};

/// The keys every service has in every environment, whether or not the config sets them.
const std::vector<std::string>& standard_target_keys();

/// Reads the config; problems go to `diagnostics` (file:line:col).
std::optional<Config> load_config(const std::filesystem::path& file, const std::string& display_path,
                                  Diagnostics& diagnostics);

/// Whether an environment variable's value must be masked: its name says so (TOKEN, PASSWORD,
/// SECRET, KEY, CREDENTIAL, JWT, AUTH) or the config lists it.
bool is_secret_variable(std::string_view name, const Config& config);

/// The values of `service` in `environment`, with templates rendered from the process
/// environment. Values whose variables are unset are left out and named in `missing`.
Json resolve_target(const Config& config, const Environment& environment, const std::string& service,
                    std::map<std::string, std::string>& missing);

}  // namespace ttops
