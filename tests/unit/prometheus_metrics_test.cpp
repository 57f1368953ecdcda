#include <catch2/catch.hpp>

#include "expr/prometheus.hpp"
#include "report/prometheus_metrics.hpp"

using namespace ttops;

namespace {

StepResult step(std::string id, StepStatus status, double seconds = 0.5) {
  StepResult result;
  result.id = std::move(id);
  result.kind = "http";
  result.status = status;
  result.seconds = seconds;
  return result;
}

RunResult run(std::string service, std::string context, RunStatus status) {
  RunResult result;
  result.service = std::move(service);
  result.runbook = "health";
  result.environment = "staging";
  result.context = std::move(context);
  result.status = status;
  result.seconds = 1.25;
  result.started_at = "2026-11-23T01:02:03Z";
  return result;
}

const MetricSample* find(const std::vector<MetricSample>& samples, const std::string& name,
                         const std::map<std::string, std::string>& labels) {
  for (const auto& sample : samples) {
    if (sample.name != name) continue;
    bool all = true;
    for (const auto& [key, value] : labels) all = all && sample.labels.count(key) && sample.labels.at(key) == value;
    if (all) return &sample;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("runs become gauges with HELP and TYPE once per family", "[metrics]") {
  RunResult passed = run("venue", "east", RunStatus::passed);
  passed.steps.push_back(step("health", StepStatus::passed, 0.25));
  RunResult failed = run("venue", "west", RunStatus::failed);
  failed.steps.push_back(step("health", StepStatus::failed));
  std::string text = prometheus_text({passed, failed}, {});

  auto samples = parse_prometheus_text(text);
  REQUIRE(find(samples, "ttops_runbook_success", {{"context", "east"}}) != nullptr);
  CHECK(find(samples, "ttops_runbook_success", {{"context", "east"}, {"service", "venue"}, {"runbook", "health"},
                                                {"environment", "staging"}})->value == 1);
  CHECK(find(samples, "ttops_runbook_success", {{"context", "west"}})->value == 0);
  CHECK(find(samples, "ttops_runbook_duration_seconds", {{"context", "east"}})->value == 1.25);
  CHECK(find(samples, "ttops_step_success", {{"context", "west"}, {"step", "health"}})->value == 0);
  CHECK(find(samples, "ttops_step_duration_seconds", {{"context", "east"}, {"step", "health"}})->value == 0.25);
  // 2026-11-23T01:02:03Z plus the run's 1.25 s.
  CHECK(find(samples, "ttops_last_run_timestamp_seconds", {{"context", "east"}})->value == 1795395724.25);

  for (const char* family : {"ttops_runbook_success", "ttops_runbook_duration_seconds", "ttops_last_run_timestamp_seconds",
                             "ttops_step_success", "ttops_step_duration_seconds"}) {
    std::string help = std::string("# HELP ") + family + " ";
    std::string type = std::string("# TYPE ") + family + " gauge\n";
    CHECK(text.find(help) != std::string::npos);
    CHECK(text.find(help, text.find(help) + 1) == std::string::npos);
    CHECK(text.find(type) != std::string::npos);
  }
}

TEST_CASE("label values are escaped as the exposition format says", "[metrics]") {
  RunResult odd = run("venue", "we\"ird\\ctx\nname", RunStatus::passed);
  std::string text = prometheus_text({odd}, {});
  CHECK(text.find("context=\"we\\\"ird\\\\ctx\\nname\"") != std::string::npos);
  auto samples = parse_prometheus_text(text);
  REQUIRE(find(samples, "ttops_runbook_success", {}) != nullptr);
  CHECK(find(samples, "ttops_runbook_success", {})->labels.at("context") == "we\"ird\\ctx\nname");
}

TEST_CASE("steps: groups flattened, skipped and decisions left out, a repeated step once", "[metrics]") {
  RunResult result = run("minting", "", RunStatus::warned);
  StepResult group = step("checks", StepStatus::passed);
  group.kind = "parallel";
  group.children.push_back(step("db", StepStatus::warned));
  group.children.push_back(step("redis", StepStatus::passed));
  result.steps.push_back(group);
  StepResult decision = step("choose", StepStatus::passed);
  decision.kind = "decision";
  result.steps.push_back(decision);
  result.steps.push_back(step("undo", StepStatus::skipped));
  result.steps.push_back(step("poll", StepStatus::failed, 1));
  result.steps.push_back(step("poll", StepStatus::passed, 2));  // a bounded loop ran it again

  auto samples = parse_prometheus_text(prometheus_text({result}, {}));
  CHECK(find(samples, "ttops_step_success", {{"step", "checks/db"}})->value == 1);  // a warning is a success…
  CHECK(find(samples, "ttops_step_success", {{"step", "checks/redis"}}) != nullptr);
  CHECK(find(samples, "ttops_step_success", {{"step", "checks"}}) == nullptr);
  CHECK(find(samples, "ttops_step_success", {{"step", "choose"}}) == nullptr);
  CHECK(find(samples, "ttops_step_success", {{"step", "undo"}}) == nullptr);
  CHECK(find(samples, "ttops_step_duration_seconds", {{"step", "poll"}})->value == 2);
  int polls = 0;
  for (const auto& sample : samples) polls += sample.name == "ttops_step_success" && sample.labels.at("step") == "poll";
  CHECK(polls == 1);
  CHECK(find(samples, "ttops_runbook_success", {})->value == 1);

  MetricsOptions strict;
  strict.fail_on_warning = true;  // …unless warnings fail the run
  auto strict_samples = parse_prometheus_text(prometheus_text({result}, strict));
  CHECK(find(strict_samples, "ttops_step_success", {{"step", "checks/db"}})->value == 0);
  CHECK(find(strict_samples, "ttops_runbook_success", {})->value == 0);
}

TEST_CASE("no runs, no series", "[metrics]") { CHECK(prometheus_text({}, {}).empty()); }
