#include <catch2/catch.hpp>

#include "executors/sql_classify.hpp"

using namespace ttops;
using ttops::sql::classify;

namespace {

sql::Statement only(const std::string& text) {
  auto script = sql::parse(text);
  REQUIRE(script.statements.size() == 1);
  return script.statements.front();
}

}  // namespace

TEST_CASE("statements split at top-level semicolons only", "[sql]") {
  auto script = sql::parse(R"(
    -- archive; then delete
    CREATE TABLE metrics_archive AS SELECT * FROM metrics WHERE note = 'a;b' /* ; */;
    DELETE FROM metrics WHERE body = $$x; y$$ AND tag = $t$;$t$ AND "odd;name" = E'\';';
    ;;
  )");
  REQUIRE(script.statements.size() == 2);
  CHECK_FALSE(script.unterminated);
  CHECK(script.statements[0].text == "CREATE TABLE metrics_archive AS SELECT * FROM metrics WHERE note = 'a;b'");
  CHECK(script.statements[1].text.rfind("DELETE FROM metrics", 0) == 0);
  CHECK(script.statements[1].text.back() == '\'');
  CHECK(sql::command_of(script.statements[0]) == "CREATE TABLE AS");
  CHECK(sql::command_of(script.statements[1]) == "DELETE");
}

TEST_CASE("comments and empty text hold no statement", "[sql]") {
  CHECK(sql::parse("").statements.empty());
  CHECK(sql::parse("  -- nothing\n /* still /* nested */ nothing */ ;").statements.empty());
  CHECK(sql::parse("SELECT 1 /* open").unterminated);
  CHECK(sql::parse("SELECT 'open").unterminated);
  CHECK(sql::parse("SELECT $$open").unterminated);
  CHECK(classify("SELECT 'open") == Effect::mutate);  // the server will refuse it; do not call it a read
}

TEST_CASE("reads are read", "[sql]") {
  for (const char* text : {
           "SELECT 1",
           "select count(*), state from pg_stat_activity group by state",
           "SELECT query, calls, mean_exec_time FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT $1",
           "(SELECT 1) UNION (SELECT 2)",
           "SHOW statement_timeout",
           "TABLE knex_migrations",
           "VALUES (1), (2)",
           "EXPLAIN SELECT * FROM events",
           "EXPLAIN DELETE FROM events",  // a plan, not a run
           "EXPLAIN (ANALYZE false, COSTS) DELETE FROM events",
           "EXPLAIN ANALYZE SELECT * FROM events",
           "WITH recent AS (SELECT * FROM payments WHERE created_at > now() - interval '1 hour') "
           "SELECT status, count(*) FROM recent GROUP BY status",
           "SELECT 'DELETE FROM events; DROP TABLE x' AS text",
           "SELECT \"delete\" FROM t -- DROP TABLE t",
           "SELECT substring(name FROM 1 FOR 3) FROM events",
           "SET LOCAL app.tenant_id = 'tenant-a'",
           "SELECT set_config('app.tenant_id', $1, true)",
           "SELECT pg_size_pretty(pg_database_size('monitoring_prod'))",
       }) {
    INFO(text);
    CHECK(classify(text) == Effect::read);
  }
}

TEST_CASE("writes mutate", "[sql]") {
  for (const char* text : {
           "INSERT INTO events (name) VALUES ('x')",
           "UPDATE events SET name = 'y'",
           "CREATE INDEX CONCURRENTLY idx_metrics_timestamp ON metrics(timestamp DESC)",
           "ALTER TABLE events ADD COLUMN note text",
           "VACUUM ANALYZE metrics",
           "ANALYZE metrics",
           "REINDEX TABLE events",
           "CLUSTER events USING events_pkey",
           "GRANT SELECT ON events TO reporting",
           "SET app.tenant_id = 'test-tenant-id'",  // a session setting outlives the step
           "SET LOCAL transaction_read_only = off",  // would let the step out of READ ONLY
           "SET TRANSACTION READ WRITE",
           "SELECT set_config('app.tenant_id', 'x', false)",
           "SELECT set_config('transaction_read_only', 'off', true)",
           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle'",
           "SELECT pg_catalog.pg_cancel_backend(42)",
           "SELECT \"pg_terminate_backend\"(42)",
           "SELECT nextval('events_id_seq')",
           "SELECT pg_stat_statements_reset()",
           "SELECT pg_advisory_lock(1)",
           "SELECT * FROM events FOR UPDATE",
           "SELECT * FROM events FOR NO KEY UPDATE SKIP LOCKED",
           "SELECT * INTO events_copy FROM events",
           "WITH moved AS (INSERT INTO archive SELECT * FROM events RETURNING id) SELECT count(*) FROM moved",
           "EXPLAIN ANALYZE UPDATE events SET name = name",
           "EXPLAIN (ANALYZE, BUFFERS) INSERT INTO t VALUES (1)",
           "COPY events TO STDOUT",
           "CALL refresh_everything()",
           "DO $$ BEGIN PERFORM 1; END $$",
           "LOCK TABLE events",
           "frobnicate the database",  // not recognised: it may write
           "$1",
       }) {
    INFO(text);
    CHECK(classify(text) == Effect::mutate);
  }
}

TEST_CASE("removals are destructive", "[sql]") {
  for (const char* text : {
           "DELETE FROM metrics WHERE timestamp < NOW() - INTERVAL '90 days'",
           "delete from alerts",
           "DROP TABLE metrics_archive_2025_01",
           "TRUNCATE alerts",
           "ALTER TABLE events DROP COLUMN note",
           "WITH gone AS (DELETE FROM alerts WHERE status = 'resolved' RETURNING *) SELECT count(*) FROM gone",
           "EXPLAIN ANALYZE DELETE FROM events",
           "SELECT lo_unlink(1234)",
           "SELECT 1; DELETE FROM t",  // the strongest statement decides
       }) {
    INFO(text);
    CHECK(classify(text) == Effect::destructive);
  }
  // DELETE in a foreign key clause removes nothing by itself.
  CHECK(classify("CREATE TABLE t (id int REFERENCES p ON DELETE CASCADE)") == Effect::mutate);
}

TEST_CASE("transaction control and autocommit statements", "[sql]") {
  for (const char* text : {"BEGIN", "begin transaction", "COMMIT", "END", "ROLLBACK", "ABORT", "START TRANSACTION",
                           "SAVEPOINT a", "RELEASE a", "PREPARE TRANSACTION 'x'"}) {
    INFO(text);
    CHECK(sql::is_transaction_control(only(text)));
  }
  CHECK_FALSE(sql::is_transaction_control(only("PREPARE q AS SELECT 1")));
  CHECK_FALSE(sql::is_transaction_control(only("SELECT 'BEGIN'")));

  for (const char* text : {"VACUUM ANALYZE metrics", "vacuum", "CREATE INDEX CONCURRENTLY i ON t(a)",
                           "CREATE UNIQUE INDEX CONCURRENTLY i ON t(a)", "DROP INDEX CONCURRENTLY i",
                           "REINDEX TABLE CONCURRENTLY t", "REINDEX (VERBOSE) DATABASE app", "CREATE DATABASE x",
                           "DROP DATABASE x", "ALTER SYSTEM SET work_mem = '64MB'", "CLUSTER"}) {
    INFO(text);
    CHECK(sql::needs_autocommit(only(text)));
  }
  for (const char* text : {"CREATE INDEX i ON t(a)", "REINDEX TABLE t", "ANALYZE metrics", "CLUSTER t", "SELECT 1"}) {
    INFO(text);
    CHECK_FALSE(sql::needs_autocommit(only(text)));
  }
}

TEST_CASE("placeholders are counted, not confused with dollar quotes", "[sql]") {
  CHECK(sql::highest_parameter(sql::parse("SELECT $1, $3 FROM t WHERE a = $2")) == 3);
  CHECK(sql::highest_parameter(sql::parse("SELECT $$ $1 $$, '$2', \"$3\"")) == 0);
  CHECK(sql::highest_parameter(sql::parse("SELECT 1")) == 0);
}

TEST_CASE("previews: terminate calls shown, deletes counted, others refused", "[sql]") {
  auto terminate = sql::preview_statement(only(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'monitoring-service' "
      "AND state = 'idle'"));
  REQUIRE(terminate);
  CHECK(terminate->text ==
        "SELECT (pid) FROM pg_stat_activity WHERE application_name = 'monitoring-service' AND state = 'idle'");
  CHECK_FALSE(terminate->counts_deletions);
  CHECK(classify(terminate->text) == Effect::read);

  auto qualified = sql::preview_statement(only("SELECT pg_catalog.pg_cancel_backend($1)"));
  REQUIRE(qualified);
  CHECK(qualified->text == "SELECT ($1)");

  auto removal = sql::preview_statement(only("DELETE FROM alerts WHERE created_at < NOW() - INTERVAL '30 days' "
                                              "AND status = 'resolved'"));
  REQUIRE(removal);
  CHECK(removal->counts_deletions);
  CHECK(removal->text == "SELECT count(*) AS would_delete FROM alerts WHERE created_at < NOW() - INTERVAL '30 days' "
                         "AND status = 'resolved'");

  auto read = sql::preview_statement(only("SELECT 1"));
  REQUIRE(read);
  CHECK(read->text == "SELECT 1");

  CHECK_FALSE(sql::preview_statement(only("DELETE FROM alerts USING users WHERE alerts.user_id = users.id")));
  CHECK_FALSE(sql::preview_statement(only("DELETE FROM alerts RETURNING *")));
  CHECK_FALSE(sql::preview_statement(only("UPDATE events SET name = 'x'")));
  CHECK_FALSE(sql::preview_statement(only("SELECT pg_terminate_backend(pid), nextval('s') FROM pg_stat_activity")));
  CHECK_FALSE(sql::preview_statement(only("DROP TABLE events")));
}
