#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace ttops;
using ttops::testing::all;
using ttops::testing::has;
using ttops::testing::problems;

TEST_CASE("a good runbook loads with its metadata", "[loader]") {
  auto runbook = ttops::testing::load_ok(R"Y(
title: Venue health
severity: P2
summary: quick check
symptoms: [slow]
covers: [venue.health]
params:
  path: /health
  replicas: {default: 3, type: integer, description: how many}
steps:
  - id: health
    http: "{{ target.url }}{{ params.path }}"
    expect: [status == 200]
    capture: {code: status}
)Y");
  CHECK(runbook->service == "svc");
  CHECK(runbook->name == "test");
  CHECK(runbook->params.size() == 2);
  CHECK(runbook->params[1].type == "integer");
  REQUIRE(runbook->steps.size() == 1);
  CHECK(runbook->steps[0].executor_name == "http");
  CHECK(runbook->steps[0].action["url"] == "{{ target.url }}{{ params.path }}");
  CHECK(runbook->steps[0].effect == Effect::read);
}

TEST_CASE("malformed YAML is one error with its position", "[loader]") {
  auto list = problems("title: x\nsteps:\n  - id: a\n    http: [unclosed\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0].rfind("5:1: YAML:", 0) == 0);
}

TEST_CASE("unknown keys get a suggestion and a position", "[loader]") {
  auto list = problems("title: x\nsteps:\n  - id: a\n    http: http://x/health\n    expct: [status == 200]\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0] == "5:5: unknown key 'expct' in step 'a' (did you mean 'expect'?)");
  list = problems("title: x\nsteps:\n  - id: a\n    http: {url: http://x, methd: GET}\n");
  CHECK(has(list, "4:27: unknown key 'methd' in http step 'a' (did you mean 'method'?)"));
}

TEST_CASE("a step needs exactly one action", "[loader]") {
  CHECK(has(problems("title: x\nsteps:\n  - id: a\n    title: nothing\n"), "has no action"));
  CHECK(has(problems("title: x\nsteps:\n  - id: a\n    http: http://x\n    manual: do it\n"), "more than one action"));
}

TEST_CASE("duplicate ids and jumps to nowhere", "[validator]") {
  auto list = problems(R"Y(title: x
steps:
  - id: a
    http: http://x
  - id: a
    http: http://y
)Y");
  CHECK(has(list, "5:5: duplicate step id 'a' (first defined at runbooks/svc/test.yaml:3:5)"));
  list = problems(R"Y(title: x
steps:
  - id: check
    http: http://x
    on_failure: {goto: emergncy}
  - id: emergency
    http: http://y
)Y");
  CHECK(has(list, "5:24: on_failure goto 'emergncy' goes to no step (did you mean 'emergency'?)"));
}

TEST_CASE("expression errors point into the YAML line", "[loader]") {
  auto list = problems("title: x\nsteps:\n  - id: a\n    http: http://x\n    expect:\n      - status = 200\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0] == "6:16: expression: use == to compare ('=' alone is not an operator)");
  list = problems("title: x\nsteps:\n  - id: a\n    http: \"http://x/{{ target. }}\"\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0] == "4:32: template: expected a name after '.' at the end of the expression");
}

TEST_CASE("unknown names are rejected before anything runs", "[validator]") {
  auto list = problems(R"Y(title: x
params:
  limit: 10
steps:
  - id: a
    http: "http://x/?n={{ params.limt }}"
    expect: [staus == 200]
    capture: {n: json.count}
  - id: b
    http: "http://x/{{ captures.m }}/{{ steps.c.status }}/{{ targt.url }}"
)Y");
  CHECK(has(list, "6:34: unknown parameter 'limt' (did you mean 'limit'?)"));
  CHECK(has(list, "7:14: unknown name 'staus' (did you mean 'status'?)"));
  CHECK(has(list, "unknown capture 'm'"));
  CHECK(has(list, "unknown step 'c'"));
  CHECK(has(list, "unknown name 'targt' (did you mean 'target'?)"));
}

TEST_CASE("target values the config defines are checked only against a config", "[validator]") {
  // list and docs load the library without a config: a runbook's config-defined values load.
  CHECK(problems(R"Y(title: x
steps:
  - id: a
    http: "{{ target.venue_url }}/health/live"
)Y").empty());
  // Procedures are checked against the built-in names either way.
  auto list = problems(R"Y(kind: procedure
title: x
steps:
  - id: a
    http: "{{ target.venue_url }}/health/live"
)Y");
  CHECK(has(list, "unknown target value 'venue_url'"));
}

TEST_CASE("without a config, the environment's own target values are not judged", "[validator]") {
  // `ttops list` and `ttops docs` load without a config; `validate` checks them against it.
  auto list = problems(R"Y(title: x
steps:
  - id: a
    http: "{{ target.payment_url }}/health"
)Y");
  CHECK(list.empty());
}

TEST_CASE("mutating steps need a confirm text; effects can be raised, not lowered", "[validator]") {
  auto list = problems("title: x\nsteps:\n  - id: pause\n    http: {url: http://x/pause, method: POST}\n");
  CHECK(has(list, "step 'pause' mutates: give it a 'confirm' text"));
  list = problems(
      "title: x\nsteps:\n  - id: pause\n    http: {url: http://x/pause, method: POST}\n    effect: read\n    confirm: ok?\n");
  CHECK(has(list, "a runbook can raise a step's effect, never lower it"));
  auto runbook = ttops::testing::load_ok(
      "title: x\nsteps:\n  - id: drop\n    http: {url: http://x/q, method: POST}\n    effect: destructive\n    confirm: Drop?\n");
  CHECK(runbook->steps[0].effect == Effect::destructive);
}

TEST_CASE("until needs a bound", "[loader]") {
  auto list = problems("title: x\nsteps:\n  - id: a\n    http: http://x\n    until: {interval: 1s}\n");
  CHECK(has(list, "until needs a bound"));
  list = problems("title: x\nsteps:\n  - id: a\n    http: http://x\n    until: {attempts: 2, successes: 3}\n");
  CHECK(has(list, "successes (3) can never be reached in 2 attempts"));
}

TEST_CASE("decision branches that can never be taken are rejected", "[validator]") {
  auto list = problems(R"Y(title: x
steps:
  - id: probe
    http: http://x
    on_failure: ignore
  - id: decide
    decide:
      cases:
        - when: "true"
          goto: a
        - when: steps.probe.ok
          goto: b
      default: b
  - id: a
    http: http://a
    next: end
  - id: b
    http: http://b
)Y");
  CHECK(has(list, "11:11: this case can never be reached: case 1 above it is always true"));
  CHECK(has(list, "the default can never be reached"));
  list = problems(R"Y(title: x
steps:
  - id: decide
    decide:
      cases:
        - when: 1 > 2
          goto: a
      default: a
  - id: a
    http: http://a
)Y");
  CHECK(has(list, "its condition '1 > 2' is always false"));
}

TEST_CASE("unreachable steps and unbounded loops are rejected", "[validator]") {
  auto list = problems(R"Y(title: x
steps:
  - id: a
    http: http://a
    next: end
  - id: orphan
    http: http://b
)Y");
  CHECK(has(list, "6:5: step 'orphan' can never be reached"));
  list = problems(R"Y(title: x
steps:
  - id: check
    http: http://a
    on_failure: {goto: fix}
    next: end
  - id: fix
    http: http://b
    next: check
)Y");
  CHECK(has(list, "form a loop with no bound"));
  // The same loop with a bound is fine.
  CHECK(problems(R"Y(title: x
steps:
  - id: check
    http: http://a
    on_failure: {goto: fix}
    next: end
    max_visits: 3
  - id: fix
    http: http://b
    next: check
)Y").empty());
}

TEST_CASE("the minting rollback decision tree is expressible as drawn", "[validator]") {
  auto list = problems(R"Y(title: Rollback decision
steps:
  - id: health
    title: Is the service responding to health checks?
    http: http://minting/health
    on_failure: ignore
  - id: error-rate
    http: http://minting/metrics
    when: steps.health.ok
    capture: {error_rate: "metric('minting_errors_total') / metric('minting_mints_total')"}
  - id: responding
    decide:
      cases:
        - when: "!steps.health.ok"
          goto: emergency-rollback
        - when: captures.error_rate > 0.05
          goto: quick-rollback
      default: monitor
  - id: quick-rollback
    manual: roll back
    next: end
  - id: monitor
    manual: watch for 15 minutes
    next: end
  - id: emergency-rollback
    manual: roll back now and scale up
)Y");
  INFO(all(list));
  CHECK(list.empty());
}

TEST_CASE("procedures are used with their own values", "[loader]") {
  ttops::testing::MapResolver resolver;
  resolver.sources["health"] = R"Y(kind: procedure
title: Health
params:
  path: {default: /health}
  expected: {description: the status field}
steps:
  - id: probe
    http: "{{ target.url }}{{ params.path }}"
    expect: ["json.status == params.expected"]
)Y";
  auto runbook = ttops::testing::load_ok(R"Y(title: x
steps:
  - id: health
    use: health
    with: {expected: ok}
)Y",
                                          &resolver);
  REQUIRE(runbook->steps[0].procedure);
  CHECK(runbook->steps[0].procedure->steps.size() == 1);
  auto list = problems("title: x\nsteps:\n  - id: health\n    use: health\n    with: {expectd: ok}\n", &resolver);
  CHECK(has(list, "procedure 'health' has no parameter 'expectd' (did you mean 'expected'?)"));
  CHECK(has(list, "procedure 'health' needs parameter 'expected'"));
  list = problems("title: x\nsteps:\n  - id: health\n    use: helth\n", &resolver);
  CHECK(has(list, "no procedure 'helth'"));
}

TEST_CASE("what yaml-cpp would let through is a located problem", "[loader]") {
  // A key given twice: yaml-cpp keeps one of them without a word.
  auto list = problems(
      "title: x\nsteps:\n  - id: a\n    http: http://x/health\n    expect: [status == 200]\n"
      "    expect: [status == 500]\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0] == "6:5: duplicate key 'expect' (first given at line 5)");
  // A second document: yaml-cpp reads the first only.
  list = problems("title: x\nsteps:\n  - id: a\n    http: http://x/health\n---\ntitle: y\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0].rfind("5:1: a second YAML document", 0) == 0);
  CHECK(problems("title: x\nsteps:\n  - id: a\n    http: http://x/health\n---\n").empty());
  CHECK(problems("%YAML 1.2\n---\ntitle: x\nsteps:\n  - id: a\n    http: http://x/health\n...\n# end\n").empty());
  CHECK(problems("title: x\nsteps:\n  - id: a\n    http: |\n      http://x/health\n--- a: b\n").at(0).rfind("6:1:", 0) == 0);
  // Bytes that are not UTF-8, with where the first one is.
  list = problems("title: caf\xe9\nsteps:\n  - id: a\n    http: http://x/health\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0] == "1:11: not valid UTF-8 (byte 0xE9): save the file as UTF-8");
  // Nesting deeper than yaml-cpp parses.
  list = problems("title: x\nsteps:\n  - id: a\n    http: " + std::string(5000, '[') + "\n");
  REQUIRE(list.size() == 1);
  CHECK(has(list, "YAML: nested too deeply"));
}

TEST_CASE("a missing key inside a map is a problem, not an exception", "[loader]") {
  CHECK(has(problems("title: x\nsteps:\n  - id: a\n    http: http://x\n    expect:\n      - message: down\n"),
            "6:9: the expectation has no 'that'"));
  CHECK(has(problems("title: x\nsteps:\n  - id: g\n    parallel: {max: 2}\n"), "4:15: parallel has no 'steps'"));
  CHECK(has(problems("title: x\nsteps:\n  - id: a\n    http: http://x\n    capture: {rate: {secret: true}}\n"),
            "capture 'rate' has no 'value'"));
}

TEST_CASE("null and number values of string fields never reach an executor as such", "[loader]") {
  // Found by fuzz_loader: the postgres executor threw on a null query while classifying the step.
  CHECK(has(problems("title: x\nsteps:\n  - id: a\n    postgres: {query: }\n"), "'query' of postgres step 'a' must be a string"));
  CHECK(has(problems("title: x\nsteps:\n  - id: a\n    postgres:\n"), "postgres step 'a' needs a map of settings"));
  auto runbook = ttops::testing::load_ok("title: x\nsteps:\n  - id: a\n    manual: {instructions: 5}\n");
  CHECK(runbook->steps[0].action["instructions"] == "5");
}
