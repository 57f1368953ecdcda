#include "report/report_json.hpp"

#include <functional>


#ifndef TTOPS_VERSION
#define TTOPS_VERSION "0"
#endif

namespace ttops {

Json to_json(const StepResult& step) {
  Json out = Json::object();
  out["id"] = step.id;
  out["title"] = step.title;
  out["kind"] = step.kind;
  out["effect"] = std::string(to_string(step.effect));
  out["status"] = std::string(to_string(step.status));
  out["reason"] = step.reason;
  out["command"] = step.command;
  out["dry_run"] = step.dry_run;
  out["handled"] = step.handled;
  out["show"] = step.show;
  out["attempts"] = step.attempts;
  out["seconds"] = step.seconds;
  if (!step.decision.empty()) out["decision"] = step.decision;
  Json expectations = Json::array();
  for (const auto& e : step.expectations) {
    expectations.push_back(Json{{"expression", e.expression},
                                {"severity", e.severity == Severity::warning ? "warning" : "critical"},
                                {"passed", e.passed},
                                {"detail", e.detail},
                                {"message", e.message}});
  }
  out["expectations"] = std::move(expectations);
  out["captures"] = step.captures;
  out["notes"] = step.notes;
  Json data = step.data;
  if (data.is_object()) data.erase("steps");  // children are listed below
  out["data"] = std::move(data);
  Json children = Json::array();
  for (const auto& child : step.children) children.push_back(to_json(child));
  out["steps"] = std::move(children);
  return out;
}

Json to_json(const RunResult& run) {
  Json out = Json::object();
  out["run_id"] = run.run_id;
  out["service"] = run.service;
  out["runbook"] = run.runbook;
  out["title"] = run.title;
  out["environment"] = run.environment;
  out["context"] = run.context;
  out["dry_run"] = run.dry_run;
  out["started_at"] = run.started_at;
  out["seconds"] = run.seconds;
  out["status"] = std::string(to_string(run.status));
  out["reason"] = run.reason;
  out["params"] = run.params;
  Json steps = Json::array();
  for (const auto& step : run.steps) steps.push_back(to_json(step));
  out["steps"] = std::move(steps);
  out["state"] = run.state;
  out["next_steps"] = run.next_steps;
  return out;
}

namespace {

RunStatus worst_status(const std::vector<const RunResult*>& runs) {
  // Worst first: interrupted, declined, invalid, failed, warned, passed.
  auto rank = [](RunStatus s) {
    switch (s) {
      case RunStatus::interrupted: return 5;
      case RunStatus::declined: return 4;
      case RunStatus::invalid: return 3;
      case RunStatus::failed: return 2;
      case RunStatus::warned: return 1;
      case RunStatus::passed: return 0;
    }
    return 0;
  };
  RunStatus worst = RunStatus::passed;
  for (const RunResult* run : runs)
    if (rank(run->status) > rank(worst)) worst = run->status;
  return worst;
}

// {"runs", "passed", "warned"…}: how many runs, and their steps by status.
Json summary_of(const std::vector<const RunResult*>& runs) {
  int counts[6] = {0, 0, 0, 0, 0, 0};
  std::function<void(const std::vector<StepResult>&)> count = [&](const std::vector<StepResult>& steps) {
    for (const auto& step : steps) {
      if (step.children.empty()) {
        ++counts[static_cast<int>(step.status)];
      } else {
        count(step.children);
      }
    }
  };
  for (const RunResult* run : runs) count(run->steps);
  return Json{{"runs", runs.size()},
              {"passed", counts[static_cast<int>(StepStatus::passed)]},
              {"warned", counts[static_cast<int>(StepStatus::warned)]},
              {"failed", counts[static_cast<int>(StepStatus::failed)]},
              {"skipped", counts[static_cast<int>(StepStatus::skipped)]},
              {"declined", counts[static_cast<int>(StepStatus::declined)]},
              {"interrupted", counts[static_cast<int>(StepStatus::interrupted)]}};
}

}  // namespace

RunStatus overall_status(const std::vector<RunResult>& runs) {
  std::vector<const RunResult*> all;
  for (const auto& run : runs) all.push_back(&run);
  return worst_status(all);
}

Json report_document(const std::vector<RunResult>& runs) {
  Json out = Json::object();
  out["schema_version"] = k_report_schema_version;
  out["tool"] = std::string("ttops ") + TTOPS_VERSION;
  out["status"] = std::string(to_string(overall_status(runs)));
  std::vector<const RunResult*> all;
  for (const auto& run : runs) all.push_back(&run);
  out["summary"] = summary_of(all);
  // Keyed by the contexts --context named: each one's verdict, counts and runs. The runs
  // themselves stay in one list (each names its context), so v1 readers of `runs` still work.
  Json contexts = Json::object();
  for (const auto& run : runs) {
    if (run.context.empty() || contexts.contains(run.context)) continue;
    std::vector<const RunResult*> theirs;
    Json run_ids = Json::array();
    for (const auto& other : runs) {
      if (other.context != run.context) continue;
      theirs.push_back(&other);
      run_ids.push_back(other.run_id);
    }
    contexts[run.context] = Json{{"status", std::string(to_string(worst_status(theirs)))},
                                 {"summary", summary_of(theirs)},
                                 {"run_ids", std::move(run_ids)}};
  }
  out["contexts"] = std::move(contexts);
  Json list = Json::array();
  for (const auto& run : runs) list.push_back(to_json(run));
  out["runs"] = std::move(list);
  return out;
}

}  // namespace ttops
