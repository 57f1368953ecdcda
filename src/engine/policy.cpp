#include "engine/policy.hpp"

namespace ttops {

namespace {

bool environment_matches(const std::string& pattern, const Environment& environment) {
  if (pattern == "*" || pattern == environment.name) return true;
  // "production" also names every environment the config marks as production.
  return pattern == "production" && environment.production;
}

Approval parse_decision(const std::string& decision) {
  if (decision == "allow") return Approval::allow;
  if (decision == "deny") return Approval::deny;
  if (decision == "confirm-typed") return Approval::confirm_typed;
  return Approval::confirm;
}

}  // namespace

Approval approval_for(const Config& config, const Environment& environment, Effect effect) {
  for (const auto& rule : config.policy) {
    if (!environment_matches(rule.environment, environment)) continue;
    if (rule.effect != "*" && rule.effect != to_string(effect)) continue;
    return parse_decision(rule.decision);
  }
  switch (effect) {
    case Effect::read: return Approval::allow;
    case Effect::mutate: return Approval::confirm;
    case Effect::destructive: return environment.production ? Approval::confirm_typed : Approval::confirm;
  }
  return Approval::confirm;
}

std::string_view to_string(Approval approval) {
  switch (approval) {
    case Approval::allow: return "allow";
    case Approval::confirm: return "confirm";
    case Approval::confirm_typed: return "confirm-typed";
    case Approval::deny: return "deny";
  }
  return "confirm";
}

}  // namespace ttops
