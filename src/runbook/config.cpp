#include "runbook/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>

#include "engine/scope.hpp"
#include "runbook/loader.hpp"
#include "runbook/yaml_util.hpp"
#include "util/redact.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

const std::vector<std::string>& standard_target_keys() {
  // As docs/runbook-format.md lists them (`target`).
  static const std::vector<std::string> keys = {"service",      "environment",  "url",       "public_url",
                                                "deployment",   "namespace",    "kube_context", "app_label",
                                                "database_url", "redis_url",    "database"};
  return keys;
}

const Environment* Config::find(std::string_view name) const {
  for (const auto& environment : environments)
    if (environment.name == name) return &environment;
  return nullptr;
}

std::vector<std::string> Config::environment_names() const {
  std::vector<std::string> names;
  for (const auto& environment : environments) names.push_back(environment.name);
  return names;
}

std::vector<std::string> Config::target_keys(std::string_view service) const {
  std::vector<std::string> keys = standard_target_keys();
  auto add = [&](const Json& values) {
    for (auto it = values.begin(); it != values.end(); ++it)
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
  };
  for (const auto& environment : environments) {
    add(environment.values);
    auto it = environment.services.find(std::string(service));
    if (it != environment.services.end()) add(it->second);
  }
  return keys;
}

namespace {

void check_value_templates(const YAML::Node& node, Diagnostics& diagnostics) {
  if (node.IsScalar()) {
    if (!Template::has_holes(node.Scalar())) return;
    try {
      Template parsed = Template::parse(node.Scalar());
      for (const auto& ref : parsed.references()) {
        if (ref.path[0] != "env")
          diagnostics.error(diagnostics.locate(node).shifted(scalar_offset(node) + ref.column - 1),
                            "config values may only read environment variables ({{ env.NAME }}), not '" +
                                ref.path[0] + "'");
      }
    } catch (const ExpressionError& error) {
      diagnostics.error(diagnostics.locate(node).shifted(scalar_offset(node) + error.column() - 1),
                        std::string("template: ") + error.what());
    }
  } else if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) check_value_templates(it->second, diagnostics);
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_value_templates(item, diagnostics);
  }
}

Json read_values(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics) {
  if (!node.IsMap()) {
    diagnostics.error(node, what + " must be a map of names to values");
    return Json::object();
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (!is_valid_identifier(key) || key.find('-') != std::string::npos)
      diagnostics.error(it->first, "value name '" + key + "' must be lowercase letters, digits and '_'");
  }
  check_value_templates(node, diagnostics);
  return to_json(node);
}

}  // namespace

std::optional<Config> load_config(const std::filesystem::path& file, const std::string& display_path,
                                  Diagnostics& diagnostics) {
  std::string error;
  auto text = read_text_file(file, error);
  if (!text) {
    diagnostics.error(SourceLocation{display_path, 0, 0}, "cannot read config: " + error);
    return std::nullopt;
  }
  std::string previous = diagnostics.file();
  diagnostics.set_file(display_path);
  Config config;
  config.file = display_path;
  std::size_t errors_before = diagnostics.size();
  std::optional<YAML::Node> document = load_document(*text, diagnostics);
  if (!document) {
    diagnostics.set_file(previous);
    return std::nullopt;
  }
  try {
    YAML::Node root = *document;
    if (!root.IsMap()) {
      diagnostics.error(root, "the config must be a YAML map with 'environments'");
      diagnostics.set_file(previous);
      return std::nullopt;
    }
    check_keys(root, {"default_environment", "secrets", "environments", "policy", "audit", "defaults"}, "the config",
               diagnostics);
    config.raw = to_json(root);
    if (auto node = root["default_environment"])
      config.default_environment = scalar_string(node, "default_environment", diagnostics).value_or("local");
    if (auto node = root["secrets"]) config.secret_env = string_list(node, "secrets", diagnostics);
    YAML::Node environments = root["environments"];
    if (!environments || !environments.IsMap()) {
      diagnostics.error(environments ? environments : root, "the config needs 'environments', a map of names");
    } else {
      for (auto it = environments.begin(); it != environments.end(); ++it) {
        Environment environment;
        environment.name = it->first.Scalar();
        environment.where = diagnostics.locate(it->first);
        YAML::Node body = it->second;  // a handle: the iterator's proxy dies at the end of the line
        if (!body.IsMap()) {
          diagnostics.error(body, "environment '" + environment.name + "' must be a map");
          continue;
        }
        check_keys(body, {"description", "production", "values", "services"}, "environment '" + environment.name + "'",
                   diagnostics);
        if (auto node = body["description"])
          environment.description = scalar_string(node, "description", diagnostics).value_or("");
        if (auto node = body["production"]) environment.production = scalar_bool(node, "production", diagnostics).value_or(false);
        if (auto node = body["values"]) environment.values = read_values(node, "values", diagnostics);
        if (auto services = body["services"]) {
          if (!services.IsMap()) {
            diagnostics.error(services, "services must be a map of service names");
          } else {
            for (auto s = services.begin(); s != services.end(); ++s)
              environment.services[s->first.Scalar()] =
                  read_values(s->second, "service '" + s->first.Scalar() + "'", diagnostics);
          }
        }
        config.environments.push_back(std::move(environment));
      }
      if (!config.find(config.default_environment) && root["default_environment"])
        diagnostics.error(root["default_environment"], "default_environment '" + config.default_environment +
                                                           "' is not one of the environments" +
                                                           did_you_mean(config.default_environment,
                                                                        config.environment_names()));
    }
    if (auto policy = root["policy"]) {
      if (!policy.IsSequence()) {
        diagnostics.error(policy, "policy must be a list of {environment, effect, decision} rules");
      } else {
        for (const auto& item : policy) {
          if (!item.IsMap()) {
            diagnostics.error(item, "a policy rule must be a map with environment, effect and decision");
            continue;
          }
          check_keys(item, {"environment", "effect", "decision"}, "a policy rule", diagnostics);
          PolicyRule rule;
          rule.where = diagnostics.locate(item);
          rule.environment = item["environment"] ? scalar_string(item["environment"], "environment", diagnostics).value_or("*") : "*";
          rule.effect = item["effect"] ? scalar_string(item["effect"], "effect", diagnostics).value_or("*") : "*";
          rule.decision = item["decision"] ? scalar_string(item["decision"], "decision", diagnostics).value_or("") : "";
          if (rule.effect != "*" && !parse_effect(rule.effect))
            diagnostics.error(item["effect"], "effect must be read, mutate, destructive or *");
          static const std::vector<std::string> decisions = {"allow", "confirm", "confirm-typed", "deny"};
          if (std::find(decisions.begin(), decisions.end(), rule.decision) == decisions.end())
            diagnostics.error(item["decision"] ? item["decision"] : item,
                              "decision must be allow, confirm, confirm-typed or deny" +
                                  did_you_mean(rule.decision, decisions));
          config.policy.push_back(std::move(rule));
        }
      }
    }
  } catch (const YAML::Exception& e) {
    diagnostics.error(SourceLocation{display_path, std::max(1, e.mark.line + 1), std::max(1, e.mark.column + 1)},
                      "YAML: " + e.msg);
  }
  diagnostics.set_file(previous);
  if (diagnostics.size() != errors_before) return std::nullopt;
  return config;
}

bool is_secret_variable(std::string_view name, const Config& config) {
  if (std::find(config.secret_env.begin(), config.secret_env.end(), name) != config.secret_env.end()) return true;
  std::string upper(name);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* word : {"TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL", "JWT", "AUTH", "PRIVATE"})
    if (upper.find(word) != std::string::npos) return true;
  return false;
}

Json resolve_target(const Config& config, const Environment& environment, const std::string& service,
                    std::map<std::string, std::string>& missing) {
  Json merged = environment.values;
  auto it = environment.services.find(service);
  if (it != environment.services.end())
    for (auto value = it->second.begin(); value != it->second.end(); ++value) merged[value.key()] = value.value();
  Json target = Json::object();
  target["service"] = service;
  target["environment"] = environment.name;
  ProcessEnvScope scope(config);
  for (auto value = merged.begin(); value != merged.end(); ++value) {
    if (value.value().is_string() && Template::has_holes(value.value().get_ref<const std::string&>())) {
      try {
        Json rendered = Template::parse(value.value().get<std::string>()).render_value(scope);
        if (rendered.is_string() && rendered.get_ref<const std::string&>().empty()) {
          missing[value.key()] = "it renders empty";
          continue;
        }
        target[value.key()] = rendered;
      } catch (const EvaluationError& error) {
        missing[value.key()] = error.what();
      } catch (const ExpressionError& error) {
        missing[value.key()] = error.what();
      }
    } else {
      target[value.key()] = value.value();
    }
    if (target.contains(value.key()) && target[value.key()].is_string())
      process_redactor().add_url_credentials(target[value.key()].get_ref<const std::string&>());
  }
  return target;
}

}  // namespace ttops
