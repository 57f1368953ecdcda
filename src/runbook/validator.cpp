#include "runbook/validator.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "engine/scope.hpp"
#include "runbook/config.hpp"
#include "ttops/executor.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

constexpr std::string_view k_end = "end";

// Fields every step result has, whatever the executor (see StepView in the engine).
const std::vector<std::string>& step_view_fields() {
  static const std::vector<std::string> fields = {"ok", "outcome", "captures", "seconds", "attempts", "decision",
                                                  "reason"};
  return fields;
}

void collect_captures(const std::vector<Step>& steps, std::set<std::string>& out, std::set<const Runbook*>& seen) {
  for (const auto& step : steps) {
    for (const auto& capture : step.capture) out.insert(capture.name);
    collect_captures(step.children, out, seen);
    if (step.procedure && seen.insert(step.procedure.get()).second)
      collect_captures(step.procedure->steps, out, seen);
  }
}

// Whitespace does not change a condition: "a>b" and "a > b" are the same case.
std::string normalized(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != ' ' && c != '\t' && c != '\n') out += c;
  return out;
}

class RunbookValidator {
 public:
  RunbookValidator(const Runbook& runbook, const Config* config, Diagnostics& diagnostics)
      : m_runbook(runbook), m_config(config), m_diag(diagnostics) {}

  void run() {
    collect_ids(m_runbook.steps);
    for (auto& name : capture_names(m_runbook)) m_captures.push_back(name);
    if (m_config != nullptr) {
      m_target_keys = m_runbook.is_procedure ? all_target_keys() : m_config->target_keys(m_runbook.service);
    } else {
      m_target_keys = standard_target_keys();
    }
    check_metadata();
    check_flow(m_runbook.steps);
    for (const auto& step : m_runbook.steps) {
      check_step(step);
      for (const auto& child : step.children) check_step(child);
    }
    for (const auto& site : m_runbook.references) check_reference(site, nullptr, true);
  }

 private:
  std::vector<std::string> all_target_keys() const {
    std::vector<std::string> keys = standard_target_keys();
    for (const auto& environment : m_config->environments) {
      for (const auto& [service, values] : environment.services) {
        (void)values;
        for (const auto& key : m_config->target_keys(service))
          if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
      }
    }
    return keys;
  }

  void check_metadata() {
    if (m_runbook.is_procedure) return;
    for (const auto& id : m_runbook.covers) {
      auto dot = id.find('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == id.size())
        m_diag.error(m_runbook.where, "covers entry '" + id + "' must be a procedure id like 'venue.high-latency'");
    }
  }

  void collect_ids(const std::vector<Step>& steps) {
    for (const auto& step : steps) {
      if (step.id.empty()) continue;
      auto [it, inserted] = m_ids.emplace(step.id, step.where);
      if (!inserted)
        m_diag.error(step.where, "duplicate step id '" + step.id + "' (first defined at " + it->second.to_string() + ")");
      m_id_list.push_back(step.id);
      collect_ids(step.children);
    }
  }

  // --- control flow --------------------------------------------------------------------------

  void check_target(const std::string& target, const SourceLocation& where, const std::vector<Step>& flow,
                    const char* what) {
    if (target.empty() || target == k_end) return;
    if (find_step(flow, target) != nullptr) return;
    std::vector<std::string> names;
    for (const auto& step : flow) names.push_back(step.id);
    names.emplace_back(k_end);
    bool in_group = m_ids.count(target) != 0;
    m_diag.error(where, std::string(what) + " '" + target + "' goes to no step" +
                            (in_group ? " (it is inside a parallel group; jump to the group instead)"
                                      : did_you_mean(target, names)));
  }

  // Edges of the flow graph: index -> indices it can continue to (size() = end of the flow).
  std::vector<std::vector<std::size_t>> edges_of(const std::vector<Step>& flow) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < flow.size(); ++i) index[flow[i].id] = i;
    auto target_index = [&](const std::string& target) -> std::optional<std::size_t> {
      if (target == k_end) return flow.size();
      auto it = index.find(target);
      if (it == index.end()) return std::nullopt;
      return it->second;
    };
    std::vector<std::vector<std::size_t>> edges(flow.size());
    for (std::size_t i = 0; i < flow.size(); ++i) {
      const Step& step = flow[i];
      auto add = [&](std::optional<std::size_t> to) {
        if (to) edges[i].push_back(*to);
      };
      if (step.kind == Step::Kind::decision) {
        for (std::size_t c = 0; c < step.cases.size(); ++c)
          if (!m_dead_cases.count({&step, c})) add(target_index(step.cases[c].target));
        if (!m_dead_default.count(&step)) add(target_index(step.default_target));
        if (step.when) add(i + 1);
        continue;
      }
      // Success (and a skipped `when`) follows `next`, or falls through.
      add(step.next.empty() ? std::optional<std::size_t>(i + 1) : target_index(step.next));
      if (step.when && !step.next.empty()) add(i + 1);
      switch (step.on_failure.action) {
        case FailureAction::stop:
          break;
        case FailureAction::proceed:
        case FailureAction::ignore:
          break;  // same edge as success
        case FailureAction::go_to:
          add(target_index(step.on_failure.target));
          break;
      }
    }
    return edges;
  }

  void check_decision(const Step& step) {
    std::map<std::string, std::size_t> seen_conditions;
    std::optional<std::size_t> always_true;
    for (std::size_t c = 0; c < step.cases.size(); ++c) {
      const DecisionCase& decision = step.cases[c];
      if (decision.when.empty()) continue;
      if (always_true) {
        m_diag.error(decision.where, "this case can never be reached: " +
                                         (step.cases[*always_true].when.static_truth()
                                              ? "case " + std::to_string(*always_true + 1) + " above it is always true"
                                              : "the cases above it cover every outcome"));
        m_dead_cases.insert({&step, c});
        continue;
      }
      auto constant = decision.when.static_truth();
      if (constant && !*constant) {
        m_diag.error(decision.where, "this case can never be taken: its condition '" + decision.when.text() +
                                         "' is always false");
        m_dead_cases.insert({&step, c});
        continue;
      }
      std::string text = normalized(decision.when.text());
      auto [it, inserted] = seen_conditions.emplace(text, c);
      if (!inserted) {
        m_diag.error(decision.where, "this case can never be taken: case " + std::to_string(it->second + 1) +
                                         " has the same condition");
        m_dead_cases.insert({&step, c});
        continue;
      }
      // `x` then `!x`: between them every run takes one of the two, so nothing after is reachable.
      std::string negation = text.rfind("!", 0) == 0 ? text.substr(1) : "!" + text;
      if (text.rfind("!(", 0) == 0) negation = text.substr(2, text.size() - 3);
      auto complement = seen_conditions.find(negation);
      if (complement == seen_conditions.end() && text.rfind("!", 0) != 0)
        complement = seen_conditions.find("!(" + text + ")");
      if (constant && *constant) {
        always_true = c;
      } else if (complement != seen_conditions.end() && complement->second != c) {
        always_true = c;
      }
    }
    if (always_true) {
      m_diag.error(step.default_where, "the default can never be reached: " +
                                           (step.cases[*always_true].when.static_truth()
                                                ? "case " + std::to_string(*always_true + 1) + " is always true"
                                                : "the cases above it cover every outcome"));
      m_dead_default.insert(&step);
    }
  }

  void check_flow(const std::vector<Step>& flow) {
    for (const auto& step : flow) {
      check_target(step.next, step.next_where, flow, "next");
      if (step.on_failure.action == FailureAction::go_to)
        check_target(step.on_failure.target, step.on_failure.where, flow, "on_failure goto");
      if (step.kind == Step::Kind::decision) {
        check_decision(step);
        for (const auto& decision : step.cases) check_target(decision.target, decision.where, flow, "goto");
        check_target(step.default_target, step.default_where, flow, "default");
      }
    }
    if (flow.empty()) return;
    auto edges = edges_of(flow);

    // Reachability from the first step.
    std::vector<bool> reached(flow.size() + 1, false);
    std::vector<std::size_t> work = {0};
    reached[0] = true;
    while (!work.empty()) {
      std::size_t node = work.back();
      work.pop_back();
      if (node >= flow.size()) continue;
      for (std::size_t to : edges[node]) {
        if (!reached[to]) {
          reached[to] = true;
          work.push_back(to);
        }
      }
    }
    for (std::size_t i = 0; i < flow.size(); ++i)
      if (!reached[i])
        m_diag.error(flow[i].where, "step '" + flow[i].id +
                                        "' can never be reached: no step continues to it and no decision or goto targets it");

    // Every loop must pass through a step with max_visits: remove those steps, then any cycle
    // left is a loop with no bound.
    std::vector<int> state(flow.size(), 0);  // 0 new, 1 on the stack, 2 done
    std::vector<std::size_t> stack;
    std::function<bool(std::size_t)> visit = [&](std::size_t node) -> bool {
      state[node] = 1;
      stack.push_back(node);
      for (std::size_t to : edges[node]) {
        if (to >= flow.size() || flow[to].max_visits > 0) continue;
        if (state[to] == 1) {
          auto begin = std::find(stack.begin(), stack.end(), to);
          std::vector<std::string> cycle;
          for (auto it = begin; it != stack.end(); ++it) cycle.push_back(flow[*it].id);
          cycle.push_back(flow[to].id);
          m_diag.error(flow[to].where, "steps " + join(cycle, " -> ") +
                                           " form a loop with no bound: give one of them 'max_visits' (or use 'until' to repeat a step)");
          return true;
        }
        if (state[to] == 0 && visit(to)) return true;
      }
      stack.pop_back();
      state[node] = 2;
      return false;
    };
    for (std::size_t i = 0; i < flow.size(); ++i) {
      if (flow[i].max_visits > 0 || state[i] != 0) continue;
      stack.clear();
      if (visit(i)) break;  // one report per runbook is enough to fix it
    }
  }

  // --- names -------------------------------------------------------------------------------

  void check_step(const Step& step) {
    if (step.kind == Step::Kind::procedure) {
      for (const char* field : {"expect", "capture", "until"}) {
        bool present = (std::string(field) == "expect" && !step.expect.empty()) ||
                       (std::string(field) == "capture" && !step.capture.empty()) ||
                       (std::string(field) == "until" && step.until);
        if (present)
          m_diag.error(step.where, std::string("a 'use' step has no '") + field + "': put it on the procedure's steps");
      }
    }
    if (step.kind == Step::Kind::action && step.executor != nullptr && step.executor->needs_operator() && step.until)
      m_diag.error(step.until->where, "a manual step cannot repeat: drop 'until'");
    for (const auto& site : step.references) check_reference(site, &step, false);
  }

  void check_reference(const ReferenceSite& site, const Step* step, bool in_params) {
    const auto& path = site.name.path;
    const std::string& root = path[0];
    std::vector<std::string> roots = in_params ? std::vector<std::string>{"params", "env", "target"} : scope_root_names();
    if (site.sees_result && step != nullptr && step->executor != nullptr) {
      auto fields = step->executor->result_fields();
      if (std::find(fields.begin(), fields.end(), root) != fields.end()) return;
      for (auto& field : fields) roots.push_back(field);
      roots.emplace_back("duration");
      roots.emplace_back("attempt");
      if (root == "duration" || root == "attempt") return;
    }
    if (std::find(roots.begin(), roots.end(), root) == roots.end()) {
      std::string hint = did_you_mean(root, roots);
      if (hint.empty() && m_runbook.find_param(root) != nullptr) hint = " (did you mean 'params." + root + "'?)";
      if (hint.empty() && std::find(m_captures.begin(), m_captures.end(), root) != m_captures.end())
        hint = " (did you mean 'captures." + root + "'?)";
      m_diag.error(site.where, "unknown name '" + root + "'" + hint);
      return;
    }
    if (path.size() < 2) return;
    const std::string& member = path[1];
    if (root == "params") {
      if (m_runbook.find_param(member) == nullptr) {
        std::vector<std::string> names;
        for (const auto& param : m_runbook.params) names.push_back(param.name);
        m_diag.error(site.where.shifted(7), "unknown parameter '" + member + "'" + did_you_mean(member, names) +
                                                (names.empty() ? " (this runbook declares no params)" : ""));
      }
    } else if (root == "steps") {
      if (m_ids.count(member) == 0) {
        m_diag.error(site.where.shifted(6), "unknown step '" + member + "'" + did_you_mean(member, m_id_list));
      } else if (path.size() >= 3) {
        check_step_field(site, member, path[2]);
      }
    } else if (root == "captures") {
      if (std::find(m_captures.begin(), m_captures.end(), member) == m_captures.end())
        m_diag.error(site.where.shifted(9), "unknown capture '" + member + "'" + did_you_mean(member, m_captures) +
                                                " (no step captures it)");
    } else if (root == "target") {
      // Without a config (ttops list) only the config could say which values exist: not checked here.
      if (m_config != nullptr && std::find(m_target_keys.begin(), m_target_keys.end(), member) == m_target_keys.end())
        m_diag.error(site.where.shifted(7), "unknown target value '" + member + "'" +
                                                did_you_mean(member, m_target_keys) +
                                                " (the config defines no such value for this service)");
    } else if (root == "run") {
      if (std::find(run_fields().begin(), run_fields().end(), member) == run_fields().end())
        m_diag.error(site.where.shifted(4), "unknown run field '" + member + "'" + did_you_mean(member, run_fields()));
    }
  }

  void check_step_field(const ReferenceSite& site, const std::string& id, const std::string& field) {
    const Step* target = find_any_step(m_runbook.steps, id);
    if (target == nullptr) return;
    std::vector<std::string> fields = step_view_fields();
    if (target->kind == Step::Kind::action && target->executor != nullptr) {
      for (auto& f : target->executor->result_fields()) fields.push_back(f);
      fields.emplace_back("duration");
    }
    if (target->kind == Step::Kind::parallel || target->kind == Step::Kind::procedure) fields.emplace_back("steps");
    if (std::find(fields.begin(), fields.end(), field) == fields.end())
      m_diag.error(site.where, "step '" + id + "' has no field '" + field + "'" + did_you_mean(field, fields));
  }

  static const Step* find_any_step(const std::vector<Step>& steps, const std::string& id) {
    for (const auto& step : steps) {
      if (step.id == id) return &step;
      if (const Step* child = find_any_step(step.children, id)) return child;
    }
    return nullptr;
  }

  const Runbook& m_runbook;
  const Config* m_config;
  Diagnostics& m_diag;
  std::map<std::string, SourceLocation> m_ids;
  std::vector<std::string> m_id_list;
  std::vector<std::string> m_captures;
  std::vector<std::string> m_target_keys;
  std::set<std::pair<const Step*, std::size_t>> m_dead_cases;
  std::set<const Step*> m_dead_default;
};

}  // namespace

std::vector<std::string> capture_names(const Runbook& runbook) {
  std::set<std::string> names;
  std::set<const Runbook*> seen;
  collect_captures(runbook.steps, names, seen);
  return {names.begin(), names.end()};
}

const std::vector<std::string>& run_fields() {
  static const std::vector<std::string> fields = {"id", "environment", "dry_run", "service", "runbook", "production"};
  return fields;
}

void validate_runbook(const Runbook& runbook, const Config* config, Diagnostics& diagnostics) {
  std::string previous = diagnostics.file();
  diagnostics.set_file(runbook.file);
  RunbookValidator(runbook, config, diagnostics).run();
  diagnostics.set_file(previous);
}

}  // namespace ttops
