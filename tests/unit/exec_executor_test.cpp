// The exec executor and what it shares with kubectl (line filters, process results), run for
// real with small programs through the engine.
#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "executors/command_output.hpp"
#include "test_support.hpp"

using namespace ttops;

namespace {

struct SilentReporter : Reporter {};

RunResult run_runbook(const std::string& yaml, const RunOptions& options = {}) {
  auto runbook = ttops::testing::load_ok(yaml);
  Config config;
  Environment environment;
  environment.name = "test";
  config.environments.push_back(environment);
  Diagnostics diagnostics;
  auto prepared = prepare_run(runbook, config, environment, {}, true, diagnostics);
  REQUIRE(prepared);
  EngineSettings settings;
  settings.options = options;
  settings.assume_yes = true;
  SilentReporter reporter;
  CancelToken cancel;
  Engine engine(settings, reporter, cancel);
  return engine.run(*prepared);
}

}  // namespace

TEST_CASE("line filter: grep keeps matching lines, tail the last of them, count all", "[exec][filter]") {
  const char* log = "INFO start\nERROR one\nerror: two\nINFO ok\nERROR three\n";
  auto all = filter_lines(log, LineFilter{});
  CHECK(all.count == 5);
  CHECK(all.lines.size() == 5);

  auto errors = filter_lines(log, LineFilter{"(?i)error", std::nullopt});
  CHECK(errors.count == 3);
  CHECK(errors.lines == std::vector<std::string>{"ERROR one", "error: two", "ERROR three"});

  auto last = filter_lines(log, LineFilter{"ERROR", 1});
  CHECK(last.count == 2);
  CHECK(last.lines == std::vector<std::string>{"ERROR three"});
  CHECK_FALSE(last.capped);

  CHECK(filter_lines(log, LineFilter{"", 0}).lines.empty());
  CHECK_THROWS_AS(filter_lines(log, LineFilter{"(", std::nullopt}), EvaluationError);

  std::string many;
  for (int i = 0; i < 1500; ++i) many += "line " + std::to_string(i) + "\n";
  auto capped = filter_lines(many, LineFilter{});
  CHECK(capped.count == 1500);
  CHECK(capped.lines.size() == k_default_line_cap);
  CHECK(capped.lines.back() == "line 1499");
  CHECK(capped.capped);
}

TEST_CASE("error_line: the message, not kubectl's debug lines", "[exec][filter]") {
  CHECK(error_line("E1123 00:59:24.837211   31401 memcache.go:265] \"Unhandled Error\"\n"
                   "E1123 00:59:24.838659   31401 memcache.go:265] \"Unhandled Error\"\n"
                   "The connection to the server 127.0.0.1:9 was refused - did you specify the right host or port?\n") ==
        "The connection to the server 127.0.0.1:9 was refused - did you specify the right host or port?");
  CHECK(error_line("error: unable to find specified revision 99 in history\n") ==
        "unable to find specified revision 99 in history");
  CHECK(error_line("Found 3 pods, using pod/x\nError from server (NotFound): deployments.apps \"y\" not found\n\n") ==
        "Error from server (NotFound): deployments.apps \"y\" not found");
  CHECK(error_line("").empty());
  CHECK(error_line("I1123 00:59:24.837211   1 x.go:1] only debug\n") == "I1123 00:59:24.837211   1 x.go:1] only debug");
}

TEST_CASE("parse_json_output: one value, several values, or a reason", "[exec][filter]") {
  std::string error;
  auto one = parse_json_output("{\"a\": 1}\n", error);
  REQUIRE(one);
  CHECK((*one)["a"] == 1);
  auto several = parse_json_output("{\"revision\": 1}\n{\"revision\": 2}\n", error);
  REQUIRE(several);
  CHECK(several->is_array());
  CHECK(several->size() == 2);
  CHECK((*several)[1]["revision"] == 2);
  CHECK_FALSE(parse_json_output("NAME READY\nx 1/1\n", error));
  CHECK(error.find("not JSON") != std::string::npos);
  CHECK_FALSE(parse_json_output("{\"a\": ", error));
  CHECK(error.find("not valid JSON") != std::string::npos);
  CHECK_FALSE(parse_json_output("", error));
}

TEST_CASE("exec: runs the program, filters its output, reads by default", "[exec]") {
  const Executor* exec = find_executor("exec");
  REQUIRE(exec != nullptr);
  CHECK(exec->effect(Json{{"command", {"rm", "-rf", "x"}}}) == Effect::read);  // the runbook's call
  StepContext context;
  CHECK(exec->describe(Json{{"command", {"pg_dump", "-h", "db host", "minting"}},
                            {"env", {{"PGPASSWORD", "hunter2"}, {"PGUSER", "ops"}}},
                            {"cwd", "/var/backups"}},
                       context) == "cd /var/backups && PGPASSWORD=*** PGUSER=ops pg_dump -h 'db host' minting");

  auto run = run_runbook(R"Y(title: t
steps:
  - id: greet
    exec:
      command: [sh, -c, "printf 'INFO a\nERROR b\nERROR c\n'; echo warn >&2"]
      grep: ERROR
      tail: 1
    expect:
      - count == 2
      - lines == ["ERROR c"]
      - stderr == "warn\n"
      - exit_code == 0
  - id: json
    exec: [echo, '{"ready": 3}']
    expect: [json.ready == 3]
)Y");
  CHECK(run.status == RunStatus::passed);
  CHECK(run.steps.at(1).command == "echo '{\"ready\": 3}'");
}

TEST_CASE("exec: a failing program fails the step with its own words", "[exec]") {
  auto run = run_runbook(R"Y(title: t
steps:
  - id: reach
    exec: [sh, -c, "echo 'nc: connect to db port 5432 (tcp) failed: Connection refused' >&2; exit 1"]
)Y");
  CHECK(run.status == RunStatus::failed);
  CHECK(run.steps.at(0).reason ==
        "the command failed: nc: connect to db port 5432 (tcp) failed: Connection refused (exit_code = 1)");
  CHECK(run.steps.at(0).data["exit_code"] == 1);

  auto silent = run_runbook("title: t\nsteps:\n  - id: f\n    exec: [\"false\"]\n");
  CHECK(silent.steps.at(0).reason == "the command failed: exit code 1 (exit_code = 1)");

  auto not_json = run_runbook(
      "title: t\nsteps:\n  - id: j\n    exec: [echo, hello]\n    expect: [json.a == 1]\n");
  CHECK(not_json.steps.at(0).reason ==
        "cannot check json.a == 1: the output is not JSON (it starts with 'hello')");
}

TEST_CASE("exec: missing programs and timeouts are one clear line", "[exec]") {
  auto missing = run_runbook("title: t\nsteps:\n  - id: m\n    exec: [ttops-no-such-program, --x]\n");
  CHECK(missing.steps.at(0).reason == "ttops-no-such-program not found (looked for 'ttops-no-such-program' on PATH)");

  auto slow = run_runbook("title: t\nsteps:\n  - id: s\n    timeout: 300ms\n    exec: [sleep, \"10\"]\n");
  CHECK(slow.status == RunStatus::failed);
  CHECK(slow.steps.at(0).reason == "sleep did not finish within 300ms: it and the processes it started were ended");
  CHECK(slow.seconds < 3);
}

TEST_CASE("exec: the loader wants a list and a valid grep", "[exec][loader]") {
  using ttops::testing::problems;
  auto scalar = problems("title: t\nsteps:\n  - id: e\n    exec: \"nc -z db 5432\"\n");
  REQUIRE(scalar.size() == 1);
  CHECK(scalar[0].rfind("4:11: command must be a list", 0) == 0);
  CHECK(problems("title: t\nsteps:\n  - id: e\n    exec: {command: [nc], grep: \"[\"}\n").at(0).find(
            "grep is not a valid regular expression") != std::string::npos);
  CHECK(problems("title: t\nsteps:\n  - id: e\n    exec: {command: []}\n").at(0).find("command is empty") !=
        std::string::npos);
  CHECK(problems("title: t\nsteps:\n  - id: e\n    exec: {command: [x], tail: -1}\n").at(0).find(
            "tail must be 0 or more") != std::string::npos);
  // Raising the class is the runbook's call, and then it needs a confirm text.
  CHECK(problems("title: t\nsteps:\n  - id: e\n    exec: [pg_dump, minting]\n    effect: mutate\n").at(0).find(
            "mutates: give it a 'confirm' text") != std::string::npos);
}
