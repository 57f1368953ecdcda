#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace ttops;
using ttops::testing::all;
using ttops::testing::has;
using ttops::testing::problems;

namespace {

const Executor& postgres() {
  const Executor* executor = find_executor("postgres");
  REQUIRE(executor != nullptr);
  return *executor;
}

}  // namespace

TEST_CASE("a postgres step's effect comes from its SQL", "[postgres]") {
  CHECK(postgres().effect(Json{{"query", "SELECT count(*) FROM pg_stat_activity"}}) == Effect::read);
  CHECK(postgres().effect(Json{{"query", "SELECT pg_terminate_backend($1)"}, {"params", {42}}}) == Effect::mutate);
  CHECK(postgres().effect(Json{{"query", "VACUUM ANALYZE metrics"}, {"transaction", false}}) == Effect::mutate);
  CHECK(postgres().effect(Json{{"query", "CREATE TABLE a AS SELECT 1; DELETE FROM b"}}) == Effect::destructive);
  CHECK(postgres().effect(Json{{"query", "SELECT {{ params.columns }} FROM t"}}) == Effect::destructive);
  CHECK(postgres().effect(Json{{"query", "SELECT * FROM t WHERE a = '{{ params.a }}'"}}) == Effect::read);

  auto runbook = ttops::testing::load_ok(R"Y(title: x
steps:
  - id: connections
    postgres: "SELECT count(*), state FROM pg_stat_activity GROUP BY state"
  - id: end-idle
    postgres:
      query: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1"
      params: [monitoring-service]
    confirm: End the idle connections of monitoring-service?
)Y");
  CHECK(runbook->steps[0].effect == Effect::read);
  CHECK(runbook->steps[0].action["query"] == "SELECT count(*), state FROM pg_stat_activity GROUP BY state");
  CHECK(runbook->steps[1].effect == Effect::mutate);
}

TEST_CASE("a write without a confirmation does not load", "[postgres][loader]") {
  auto list = problems("title: x\nsteps:\n  - id: fix\n    postgres: \"UPDATE events SET tenant_id = 'a'\"\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0] == "3:5: step 'fix' mutates: give it a 'confirm' text that says what it will change");
  // …and a runbook cannot lower it.
  list = problems("title: x\nsteps:\n  - id: fix\n    postgres: \"DELETE FROM events\"\n    effect: read\n");
  CHECK(has(list, "is classified 'destructive' by the postgres executor"));
}

TEST_CASE("postgres queries are checked at load time", "[postgres][loader]") {
  auto list = problems(R"Y(title: x
steps:
  - id: spliced
    postgres: "SELECT * FROM events WHERE tenant_id = '{{ params.tenant }}'"
  - id: own-transaction
    postgres: "BEGIN; DELETE FROM metrics; COMMIT;"
    confirm: archive
  - id: vacuum
    postgres: "VACUUM ANALYZE metrics"
    confirm: vacuum
  - id: two-vacuums
    postgres: {query: "VACUUM ANALYZE metrics; VACUUM ANALYZE alerts", transaction: false}
    confirm: vacuum
  - id: params-and-two
    postgres: {query: "SELECT $1; SELECT 2", params: [1]}
  - id: missing-params
    postgres: "SELECT * FROM events WHERE id = $2"
  - id: count
    postgres: {query: "SELECT $1::int", params: [1, 2]}
  - id: empty
    postgres: " -- nothing "
  - id: rows
    postgres: {query: "SELECT 1", max_rows: 0}
  - id: conn
    postgres: {query: "SELECT 1", connection: "postgresql://u:topsecret@[::1:5432/db"}
  - id: nested
    postgres: {query: "SELECT $1", params: [[1, 2]]}
  - id: typo
    postgres: {query: "SELECT 1", max_row: 5}
)Y");
  INFO(all(list));
  CHECK(has(list, "4:15: templates are not allowed in a query: put the value in 'params'"));
  CHECK(has(list, "6:15: 'BEGIN' in a query: ttops runs each step in one transaction of its own"));
  CHECK(has(list, "6:15: 'COMMIT' in a query"));
  CHECK(has(list, "9:15: VACUUM cannot run inside a transaction: give the step 'transaction: false'"));
  CHECK(has(list, "12:85: 'transaction: false' runs one statement; this query holds 2: split it into steps"));
  CHECK(has(list, "'params' need a query of one statement"));
  CHECK(has(list, "17:15: the query uses $2 but the step has no 'params'"));
  CHECK(has(list, "the query uses $1 but 'params' gives 2 values"));
  CHECK(has(list, "21:15: the query holds no SQL statement"));
  CHECK(has(list, "max_rows must be at least 1"));
  CHECK(has(list, "bad connection string: "));
  CHECK_FALSE(has(list, "topsecret"));
  CHECK(has(list, "every value in 'params' must be a single value"));
  CHECK(has(list, "unknown key 'max_row' in postgres step 'typo' (did you mean 'max_rows'?)"));
}

TEST_CASE("VACUUM with transaction: false loads as one mutating step", "[postgres][loader]") {
  auto runbook = ttops::testing::load_ok(R"Y(title: x
steps:
  - id: vacuum
    postgres: {query: "VACUUM ANALYZE metrics", transaction: false}
    confirm: Vacuum metrics?
)Y");
  CHECK(runbook->steps[0].effect == Effect::mutate);
  CHECK(runbook->steps[0].action["transaction"] == false);
}

TEST_CASE("postgres steps are described without passwords", "[postgres]") {
  StepContext context;
  Json target = {{"database_url", "postgres://ttops:hunter22@127.0.0.1:5432/tickettoken"}};
  context.target = &target;
  CHECK(postgres().describe(Json{{"query", "SELECT count(*)\n  FROM pg_stat_activity\n WHERE datname = $1"},
                                 {"params", {"tickettoken"}}},
                            context) ==
        "psql postgres://ttops:***@127.0.0.1:5432/tickettoken: SELECT count(*) FROM pg_stat_activity WHERE datname = "
        "$1 [$1=tickettoken]");
  CHECK(postgres().describe(Json{{"query", "VACUUM metrics"},
                                 {"transaction", false},
                                 {"connection", "host=db user=ops password='p w' dbname=monitoring"}},
                            context) ==
        "psql host=db user=ops password=*** dbname=monitoring: VACUUM metrics (autocommit)");
  StepContext no_target;
  CHECK(postgres().describe(Json{{"query", "SELECT 1"}}, no_target) == "psql (target.database_url): SELECT 1");
}
