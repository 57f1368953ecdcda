#include <catch2/catch.hpp>

#include <thread>

#include "engine/engine.hpp"
#include "test_support.hpp"

using namespace ttops;
using ttops::testing::FakeExecutor;

namespace {

// Collects what the engine reports, for assertions.
struct RecordingReporter : Reporter {
  std::vector<std::string> finished;
  std::vector<std::string> waits;
  void step_finished(const StepResult& result, int depth) override {
    finished.push_back(std::string(depth, '>') + result.id + ":" + std::string(to_string(result.status)));
  }
  void step_waiting(const Step& step, int attempt, std::string_view) override {
    waits.push_back(step.id + "#" + std::to_string(attempt));
  }
};

struct Harness {
  Config config;
  Environment environment;
  RecordingReporter reporter;
  CancelToken cancel;
  EngineSettings settings;

  Harness() {
    ttops::testing::ensure_fake_executor();
    ttops::testing::reset_fake();
    environment.name = "test";
    environment.services["svc"] = Json{{"url", "http://svc"}};
    config.environments.push_back(environment);
    settings.assume_yes = true;
  }

  RunResult run(const std::string& yaml, std::vector<std::pair<std::string, std::string>> overrides = {},
                ttops::testing::MapResolver* resolver = nullptr) {
    ttops::testing::reset_fake();
    auto runbook = ttops::testing::load_ok(yaml, resolver);
    Diagnostics diagnostics;
    auto prepared = prepare_run(runbook, config, environment, overrides, true, diagnostics);
    if (!prepared) throw std::runtime_error(diagnostics.items().at(0).message);
    Engine engine(settings, reporter, cancel);
    return engine.run(*prepared);
  }
};

std::vector<std::string> ids(const RunResult& run) {
  std::vector<std::string> out;
  for (const auto& step : run.steps) out.push_back(step.id);
  return out;
}

}  // namespace

TEST_CASE("steps run in order; a failure stops the run", "[engine]") {
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: a
    fake: {value: 1}
    expect: [value == 1]
  - id: b
    fake: {fail: "connection refused: db 5432"}
  - id: c
    fake: {value: 3}
)Y");
  CHECK(run.status == RunStatus::failed);
  CHECK(ids(run) == std::vector<std::string>{"a", "b"});
  CHECK(run.steps[1].reason == "connection refused: db 5432");
}

TEST_CASE("expectations: critical fails, warning warns, details name the values", "[engine]") {
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: pool
    fake: {value: 0.8}
    expect:
      - that: value < 0.9
      - that: value < 0.7
        severity: warning
)Y");
  CHECK(run.status == RunStatus::warned);
  CHECK(run.steps[0].status == StepStatus::warned);
  CHECK(run.steps[0].reason == "warning: expected value < 0.7, got value = 0.8");
}

TEST_CASE("continue fails the run at the end, ignore does not", "[engine]") {
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: a
    fake: {fail: nope}
    on_failure: continue
  - id: b
    fake: {value: 2}
)Y");
  CHECK(ids(run) == std::vector<std::string>{"a", "b"});
  CHECK(run.status == RunStatus::failed);
  run = h.run(R"Y(title: t
steps:
  - id: a
    fake: {fail: nope}
    on_failure: ignore
  - id: b
    fake: {value: 2}
)Y");
  CHECK(run.status == RunStatus::passed);
}

TEST_CASE("captures feed later templates and decisions", "[engine]") {
  Harness h;
  const char* yaml = R"Y(title: t
params:
  threshold: 0.05
steps:
  - id: rate
    fake: {value: 0.1}
    capture: {rate: value}
  - id: decide
    decide:
      cases:
        - when: captures.rate > params.threshold
          goto: high
      default: low
  - id: high
    fake: {value: "{{ captures.rate }}"}
    next: end
  - id: low
    fake: {value: low}
)Y";
  auto run = h.run(yaml);
  CHECK(ids(run) == std::vector<std::string>{"rate", "decide", "high"});
  CHECK(run.steps[1].decision == "high");
  CHECK(run.steps[2].data["value"] == 0.1);
  run = h.run(yaml, {{"threshold", "0.5"}});
  CHECK(ids(run) == std::vector<std::string>{"rate", "decide", "low"});
}

TEST_CASE("until repeats a step until it holds N times in a row", "[engine]") {
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: health
    fake: {values: [down, up, down, up, up, up]}
    expect: [value == "up"]
    until: {interval: 1ms, attempts: 10, successes: 3}
)Y");
  CHECK(run.status == RunStatus::passed);
  CHECK(run.steps[0].attempts == 6);
  CHECK(h.reporter.waits.size() == 5);
}

TEST_CASE("until gives up after its attempts, or after consecutive failures", "[engine]") {
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: health
    fake: {values: [down]}
    expect: [value == "up"]
    until: {interval: 1ms, attempts: 4}
)Y");
  CHECK(run.status == RunStatus::failed);
  CHECK(run.steps[0].attempts == 4);
  CHECK_THAT(run.steps[0].reason, Catch::StartsWith("still failing after 4 attempts"));
  run = h.run(R"Y(title: t
steps:
  - id: health
    fake: {values: [up, down, down]}
    expect: [value == "up"]
    until: {interval: 1ms, attempts: 10, successes: 5, failures: 2}
)Y");
  CHECK(run.steps[0].attempts == 3);
  CHECK_THAT(run.steps[0].reason, Catch::StartsWith("failed 2 times in a row"));
}

TEST_CASE("a step is bounded by its timeout", "[engine]") {
  Harness h;
  auto started = std::chrono::steady_clock::now();
  auto run = h.run(R"Y(title: t
steps:
  - id: slow
    fake: {sleep_ms: 5000}
    timeout: 100ms
)Y");
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(run.steps[0].status == StepStatus::failed);
  CHECK(elapsed < std::chrono::seconds(2));
}

TEST_CASE("parallel groups run concurrently and bounded", "[engine]") {
  Harness h;
  auto started = std::chrono::steady_clock::now();
  auto run = h.run(R"Y(title: t
steps:
  - id: checks
    parallel:
      max: 4
      steps:
        - {id: a, fake: {sleep_ms: 150, value: 1}}
        - {id: b, fake: {sleep_ms: 150, value: 2}}
        - {id: c, fake: {sleep_ms: 150, value: 3}}
        - {id: d, fake: {sleep_ms: 150, fail: broken}}
  - id: after
    fake: {value: "{{ steps.a.value + steps.b.value }}"}
    when: steps.a.ok
)Y");
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed < std::chrono::milliseconds(500));  // four 150 ms steps at once, not 600 ms
  CHECK(run.steps[0].status == StepStatus::failed);
  CHECK(run.steps[0].reason == "1 of 4 steps failed");
  CHECK(run.steps[0].children.size() == 4);
  CHECK(ids(run) == std::vector<std::string>{"checks"});  // the group failed: stop
}

TEST_CASE("when skips a step", "[engine]") {
  Harness h;
  auto run = h.run(R"Y(title: t
params: {enabled: false}
steps:
  - id: a
    fake: {value: 1}
    when: params.enabled
  - id: b
    fake: {value: 2}
)Y");
  CHECK(run.steps[0].status == StepStatus::skipped);
  CHECK(run.status == RunStatus::passed);
}

TEST_CASE("dry run skips mutations but runs reads", "[engine]") {
  Harness h;
  h.settings.options.dry_run = true;
  h.settings.assume_yes = false;
  auto run = h.run(R"Y(title: t
steps:
  - id: read
    fake: {value: 1}
  - id: write
    fake: {value: 2, effect: mutate}
    confirm: Write it?
)Y");
  CHECK(run.steps[0].status == StepStatus::passed);
  CHECK(run.steps[1].status == StepStatus::skipped);
  CHECK(run.steps[1].dry_run);
  CHECK(FakeExecutor::shared().calls.count("write") == 0);
}

TEST_CASE("without a terminal or --yes a mutation is declined, never run", "[engine]") {
  Harness h;
  h.settings.assume_yes = false;
  h.settings.interactive = false;
  auto run = h.run(R"Y(title: t
steps:
  - id: write
    fake: {value: 2, effect: mutate}
    confirm: Write it?
)Y");
  CHECK(run.status == RunStatus::declined);
  CHECK(FakeExecutor::shared().calls.count("write") == 0);
}

TEST_CASE("a prompter's no declines the step and stops the run", "[engine]") {
  struct No : Prompter {
    int asked = 0;
    std::optional<bool> confirm(const std::string&, const std::string&, const std::string&, const std::string&) override {
      ++asked;
      return false;
    }
  } no;
  Harness h;
  h.settings.assume_yes = false;
  h.settings.interactive = true;
  h.settings.prompter = &no;
  auto run = h.run(R"Y(title: t
steps:
  - id: write
    fake: {value: 2, effect: mutate}
    confirm: Write it?
  - id: after
    fake: {value: 3}
)Y");
  CHECK(no.asked == 1);
  CHECK(run.status == RunStatus::declined);
  CHECK(ids(run) == std::vector<std::string>{"write"});
}

TEST_CASE("procedures run with their own parameters", "[engine]") {
  ttops::testing::MapResolver resolver;
  resolver.sources["probe"] = R"Y(kind: procedure
title: Probe
params:
  value: {description: what to return}
steps:
  - id: get
    fake: {value: "{{ params.value }}"}
    capture: {probed: value}
)Y";
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: one
    use: probe
    with: {value: 41}
  - id: two
    fake: {value: "{{ captures.probed + 1 }}"}
    expect: [value == 42]
)Y",
                   {}, &resolver);
  CHECK(run.status == RunStatus::passed);
  CHECK(run.steps[0].children.size() == 1);
}

TEST_CASE("a procedure's failure counts through its use step's on_failure", "[engine]") {
  ttops::testing::MapResolver resolver;
  resolver.sources["probe"] = R"Y(kind: procedure
title: Probe
steps:
  - id: get
    fake: {fail: down}
)Y";
  Harness h;
  const char* runbook = R"Y(title: t
steps:
  - id: group
    on_failure: {on_failure}
    parallel:
      steps:
        - {id: one, use: probe}
        - {id: two, fake: {value: 1}}
  - id: after
    fake: {value: 2}
)Y";
  auto with = [&](const std::string& action) {
    std::string yaml = runbook;
    yaml.replace(yaml.find("{on_failure}"), 12, action);
    return h.run(yaml, {}, &resolver);
  };
  // Ignored: the failure is information, the run passes.
  auto run = with("ignore");
  CHECK(ids(run) == std::vector<std::string>{"group", "after"});
  CHECK(run.status == RunStatus::passed);
  // Continued: the run goes on and fails at the end.
  run = with("continue");
  CHECK(ids(run) == std::vector<std::string>{"group", "after"});
  CHECK(run.status == RunStatus::failed);
  // A failing procedure used directly still stops and fails the run.
  run = h.run(R"Y(title: t
steps:
  - {id: one, use: probe}
  - {id: after, fake: {value: 2}}
)Y",
              {}, &resolver);
  CHECK(ids(run) == std::vector<std::string>{"one"});
  CHECK(run.status == RunStatus::failed);
}

TEST_CASE("cancellation stops a waiting run promptly", "[engine]") {
  Harness h;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    h.cancel.cancel(2);
  });
  auto started = std::chrono::steady_clock::now();
  auto run = h.run(R"Y(title: t
steps:
  - id: wait
    fake: {values: [down]}
    expect: [value == "up"]
    until: {interval: 10s, attempts: 5}
  - id: never
    fake: {value: 1}
)Y");
  canceller.join();
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
  CHECK(run.status == RunStatus::interrupted);
  CHECK(ids(run) == std::vector<std::string>{"wait"});
}

TEST_CASE("unknown --set names and missing required parameters are usage errors", "[engine]") {
  Harness h;
  auto runbook = ttops::testing::load_ok("title: t\nparams:\n  limit: {type: integer, required: true}\nsteps:\n  - id: a\n    fake: {value: 1}\n");
  Diagnostics d1;
  CHECK_FALSE(prepare_run(runbook, h.config, h.environment, {{"limt", "3"}}, true, d1));
  CHECK_THAT(d1.items().at(0).message, Catch::Contains("did you mean 'limit'"));
  Diagnostics d2;
  CHECK_FALSE(prepare_run(runbook, h.config, h.environment, {}, true, d2));
  CHECK_THAT(d2.items().at(0).message, Catch::Contains("parameter 'limit' is required"));
  Diagnostics d3;
  CHECK_FALSE(prepare_run(runbook, h.config, h.environment, {{"limit", "many"}}, true, d3));
  CHECK_THAT(d3.items().at(0).message, Catch::Contains("must be a whole number"));
}

TEST_CASE("a run reports the state its passed steps left, later steps overwriting an aspect", "[engine][state]") {
  Harness h;
  auto run = h.run(R"Y(title: t
params:
  queue: minting
steps:
  - id: pause
    fake: {value: paused}
    leaves: {queue: "{{ params.queue }} queue PAUSED", deployment: not rolled back}
  - id: undo
    fake: {value: 7}
    leaves: {deployment: "rolled back to revision {{ value }}"}
  - id: resume
    fake: {value: ok}
    leaves: {queue: running}
)Y");
  CHECK(run.status == RunStatus::passed);
  CHECK(run.state == Json{{"queue", "running"}, {"deployment", "rolled back to revision 7"}});
  CHECK(run.next_steps.empty());
}

TEST_CASE("a run that stops says what to do next, from the step that stopped it", "[engine][state]") {
  Harness h;
  const char* yaml = R"Y(title: t
steps:
  - id: pause
    fake: {value: paused}
    leaves: {queue: PAUSED}
    recovery: not used, this step passed
  - id: probe
    fake: {fail: "not answering"}
    on_failure: ignore
    recovery: not used either, the failure is ignored
  - id: undo
    fake: {fail: "unable to find revision 99"}
    leaves: {deployment: rolled back}
    recovery: "The queue is {{ steps.pause.value }}: resume it"
  - id: resume
    fake: {value: ok}
    leaves: {queue: running}
)Y";
  auto run = h.run(yaml);
  CHECK(run.status == RunStatus::failed);
  CHECK(run.state == Json{{"queue", "PAUSED"}});  // undo failed: it left nothing to report
  REQUIRE(run.next_steps.size() == 1);
  CHECK(run.next_steps[0] == "The queue is paused: resume it");
}

TEST_CASE("next steps run from the innermost step out; declines count too", "[engine][state]") {
  ttops::testing::MapResolver resolver;
  resolver.sources["undo"] = R"Y(kind: procedure
title: undo
steps:
  - id: undo
    fake: {fail: boom, effect: mutate}
    confirm: undo?
    recovery: check the rollout history
)Y";
  Harness h;
  auto run = h.run(R"Y(title: t
steps:
  - id: rollback
    use: undo
    recovery: then resume the queue
)Y",
                   {}, &resolver);
  CHECK(run.next_steps == std::vector<std::string>{"check the rollout history", "then resume the queue"});

  h.settings.assume_yes = false;  // no terminal and no --yes: the step is declined
  run = h.run(R"Y(title: t
steps:
  - id: pause
    fake: {value: 1}
    leaves: {queue: PAUSED}
  - id: undo
    fake: {value: 1, effect: mutate}
    confirm: undo?
    recovery: "Nothing was rolled back; the queue is {{ steps.pause.value == 1 ? 'paused' : 'unknown' }}"
)Y");
  CHECK(run.status == RunStatus::declined);
  CHECK(run.state == Json{{"queue", "PAUSED"}});
  CHECK(run.next_steps == std::vector<std::string>{"Nothing was rolled back; the queue is paused"});
}

TEST_CASE("leaves and recovery are checked like every template", "[engine][state][loader]") {
  using ttops::testing::problems;
  auto found = problems("title: t\nsteps:\n  - id: a\n    fake: {value: 1}\n    leaves: {queue: \"{{ params.nope }}\"}\n");
  REQUIRE(found.size() == 1);
  CHECK(found[0].find("unknown parameter 'nope'") != std::string::npos);
  CHECK(problems("title: t\nsteps:\n  - id: a\n    fake: {value: 1}\n    leaves: PAUSED\n").at(0).find(
            "leaves must be a map") != std::string::npos);
  CHECK(problems("title: t\nsteps:\n  - id: a\n    fake: {value: 1}\n    leaves: {Queue: x}\n").at(0).find(
            "aspect name 'Queue'") != std::string::npos);
  CHECK(problems("title: t\nsteps:\n  - id: a\n    fake: {value: 1}\n    recovery: \"{{ captures.x }}\"\n").at(0).find(
            "unknown capture 'x'") != std::string::npos);
  CHECK(problems("title: t\nsteps:\n  - id: d\n    decide: {cases: [{when: 'true', goto: end}], default: end}\n"
                 "    recovery: x\n")
            .size() >= 1);
}

TEST_CASE("a dry run reports no state: it changed nothing", "[engine][state]") {
  Harness h;
  h.settings.options.dry_run = true;
  auto run = h.run(R"Y(title: t
steps:
  - id: undo
    fake: {value: 1, effect: mutate}
    confirm: undo?
    leaves: {deployment: rolled back}
  - id: status
    fake: {value: 1}
    leaves: {deployment: rolled back and rolled out}
)Y");
  CHECK(run.status == RunStatus::passed);
  CHECK(run.steps[0].dry_run);
  CHECK(run.state.empty());
}
