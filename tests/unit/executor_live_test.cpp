// Executor sessions against real servers, through the C++ interface a plan uses (preview) and the
// engine uses (run). Hidden from the plain unit run ("[.]"): tests/integration/test_postgres.py and
// test_redis.py start the servers and run these with TTOPS_TEST_POSTGRES_URL / TTOPS_TEST_REDIS_URL.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <thread>

#include "test_support.hpp"

using namespace ttops;

namespace {

struct LiveSession {
  explicit LiveSession(const char* executor_name, const char* url_variable, const char* target_key)
      : executor(find_executor(executor_name)) {
    REQUIRE(executor != nullptr);
    const char* url = std::getenv(url_variable);
    if (url == nullptr) FAIL(std::string(url_variable) + " is not set: run this through the integration tests");
    target[target_key] = url;
    session = executor->open_session(options);
  }

  StepContext context(Effect effect) {
    StepContext step;
    step.step_id = "live";
    step.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    step.options = &options;
    step.target = &target;
    step.effect = effect;
    return step;
  }

  ActionOutcome run(const Json& action) {
    auto step = context(executor->effect(action));
    return session->run(action, step);
  }

  std::optional<ActionOutcome> preview(const Json& action) {
    auto step = context(executor->effect(action));
    return session->preview(action, step);
  }

  const Executor* executor;
  RunOptions options;
  Json target = Json::object();
  std::unique_ptr<ExecutorSession> session;
};

std::string notes_of(const ActionOutcome& outcome) {
  std::string all;
  for (const auto& note : outcome.notes) all += note + "\n";
  return all;
}

}  // namespace

TEST_CASE("postgres preview lists the backends pg_terminate_backend would end, and ends none", "[.][live-postgres]") {
  LiveSession planner("postgres", "TTOPS_TEST_POSTGRES_URL", "database_url");
  LiveSession victim("postgres", "TTOPS_TEST_POSTGRES_URL", "database_url");
  auto first = victim.run(Json{{"query", "SELECT pg_backend_pid() AS pid"}});
  REQUIRE(first.ok);
  const long long pid = first.data["rows"][0]["pid"].get<long long>();

  const Json terminate = {{"query", "SELECT pg_terminate_backend(pid) AS ended, pid FROM pg_stat_activity WHERE pid = $1"},
                          {"params", {pid}}};
  REQUIRE(planner.executor->effect(terminate) == Effect::mutate);
  auto preview = planner.preview(terminate);
  REQUIRE(preview);
  INFO(preview->error << "\n" << notes_of(*preview));
  REQUIRE(preview->ok);
  CHECK(preview->data["preview"] == true);
  REQUIRE(preview->data["row_count"] == 1);
  CHECK(preview->data["rows"][0]["pid"] == pid);
  CHECK(preview->data["rows"][0]["ended"] == pid);  // the argument, shown instead of the call
  CHECK(notes_of(*preview).find("shown, not made") != std::string::npos);

  // The victim's pooled connection is still the same backend…
  auto second = victim.run(Json{{"query", "SELECT pg_backend_pid() AS pid"}});
  REQUIRE(second.ok);
  CHECK(second.data["rows"][0]["pid"] == pid);
  CHECK(second.notes.empty());

  // …until the real run ends it; the victim's next step then reconnects and says so.
  auto ended = planner.run(terminate);
  REQUIRE(ended.ok);
  CHECK(ended.data["rows"][0]["ended"] == true);
  // pg_terminate_backend only signals; wait until the backend is gone.
  const Json gone = {{"query", "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1"}, {"params", {pid}}};
  for (int i = 0; i < 100 && planner.run(gone).data["rows"][0]["n"] != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto third = victim.run(Json{{"query", "SELECT pg_backend_pid() AS pid"}});
  REQUIRE(third.ok);
  CHECK(third.data["rows"][0]["pid"] != pid);
  CHECK(notes_of(third).find("the server had closed the pooled connection") != std::string::npos);
}

TEST_CASE("postgres preview counts what a DELETE would remove, and removes nothing", "[.][live-postgres]") {
  LiveSession live("postgres", "TTOPS_TEST_POSTGRES_URL", "database_url");
  const Json count = {{"query", "SELECT count(*) AS n FROM alerts WHERE status = 'resolved' "
                                "AND created_at < now() - interval '30 days'"}};
  auto before = live.run(count);
  REQUIRE(before.ok);
  const Json removal = {{"query", "DELETE FROM alerts WHERE status = 'resolved' AND created_at < now() - interval '30 days'"}};
  auto preview = live.preview(removal);
  REQUIRE(preview);
  INFO(preview->error);
  REQUIRE(preview->ok);
  CHECK(preview->data["would_delete"] == before.data["rows"][0]["n"]);
  CHECK(preview->data["would_delete"].get<long long>() > 0);
  auto after = live.run(count);
  REQUIRE(after.ok);
  CHECK(after.data["rows"][0]["n"] == before.data["rows"][0]["n"]);

  // An UPDATE has no safe substitute: the plan will say "would execute".
  CHECK_FALSE(live.preview(Json{{"query", "UPDATE alerts SET status = 'resolved'"}}));
}

TEST_CASE("redis preview counts the keys delete_keys would remove, and removes none", "[.][live-redis]") {
  LiveSession live("redis", "TTOPS_TEST_REDIS_URL", "redis_url");
  const Json removal = {{"delete_keys", "preview:*"}, {"batch", 50}};
  auto preview = live.preview(removal);
  REQUIRE(preview);
  INFO(preview->error);
  REQUIRE(preview->ok);
  CHECK(preview->data["would_delete"] == 300);  // the test put 300 keys there
  CHECK(preview->data["sample"].size() == 20);
  CHECK(preview->data["preview"] == true);
  auto count = live.run(Json{{"count_keys", "preview:*"}});
  REQUIRE(count.ok);
  CHECK(count.data["count"] == 300);

  auto del = live.preview(Json{{"command", {"DEL", "preview:1", "preview:2", "preview:1", "nothing:here"}}});
  REQUIRE(del);
  REQUIRE(del->ok);
  CHECK(del->data["would_delete"] == 2);
  CHECK_FALSE(live.preview(Json{{"command", {"SET", "k", "v"}}}));
}
