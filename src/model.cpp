#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ostream>
#include <tuple>

#include "ttops/diagnostics.hpp"
#include "ttops/effect.hpp"
#include "ttops/model.hpp"
#include "ttops/result.hpp"

namespace ttops {

std::string SourceLocation::to_string() const {
  std::string out = file.empty() ? "<input>" : file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  return out;
}

SourceLocation SourceLocation::shifted(int offset) const {
  SourceLocation out = *this;
  if (out.column > 0) out.column += offset;
  return out;
}

void Diagnostics::error(SourceLocation where, std::string message) {
  if (where.file.empty()) where.file = m_file;
  m_items.push_back(Diagnostic{std::move(where), std::move(message)});
}

SourceLocation Diagnostics::locate(const YAML::Node& node) const {
  SourceLocation where;
  where.file = m_file;
  const YAML::Mark mark = node.Mark();
  if (mark.line >= 0) {
    where.line = mark.line + 1;
    where.column = mark.column + 1;
  }
  return where;
}

void Diagnostics::error(const YAML::Node& node, std::string message) { error(locate(node), std::move(message)); }

void Diagnostics::append(const Diagnostics& other) {
  m_items.insert(m_items.end(), other.m_items.begin(), other.m_items.end());
}

void Diagnostics::print(std::ostream& out) const {
  auto sorted = m_items;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.file, a.where.line, a.where.column) < std::tie(b.where.file, b.where.line, b.where.column);
  });
  for (const auto& item : sorted) {
    // A problem of no file (an unknown service or parameter) reads like every other usage error.
    if (item.where.file.empty()) {
      out << "error: " << item.message << '\n';
    } else {
      out << item.where.to_string() << ": " << item.message << '\n';
    }
  }
}

std::string_view to_string(Effect effect) {
  switch (effect) {
    case Effect::read: return "read";
    case Effect::mutate: return "mutate";
    case Effect::destructive: return "destructive";
  }
  return "read";
}

std::optional<Effect> parse_effect(std::string_view text) {
  if (text == "read") return Effect::read;
  if (text == "mutate") return Effect::mutate;
  if (text == "destructive") return Effect::destructive;
  return std::nullopt;
}

std::string_view to_string(StepStatus status) {
  switch (status) {
    case StepStatus::passed: return "passed";
    case StepStatus::warned: return "warned";
    case StepStatus::failed: return "failed";
    case StepStatus::skipped: return "skipped";
    case StepStatus::declined: return "declined";
    case StepStatus::interrupted: return "interrupted";
  }
  return "failed";
}

std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::passed: return "passed";
    case RunStatus::warned: return "warned";
    case RunStatus::failed: return "failed";
    case RunStatus::declined: return "declined";
    case RunStatus::interrupted: return "interrupted";
    case RunStatus::invalid: return "invalid";
  }
  return "failed";
}

std::string Runbook::qualified_name() const { return (is_procedure ? std::string("procedures") : service) + "/" + name; }

const Parameter* Runbook::find_param(std::string_view wanted) const {
  for (const auto& param : params)
    if (param.name == wanted) return &param;
  return nullptr;
}

const Step* find_step(const std::vector<Step>& steps, std::string_view id) {
  for (const auto& step : steps)
    if (step.id == id) return &step;
  return nullptr;
}

}  // namespace ttops
