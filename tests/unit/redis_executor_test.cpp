#include <catch2/catch.hpp>

#include "executors/redis_info.hpp"
#include "executors/redis_url.hpp"
#include "test_support.hpp"

using namespace ttops;
using ttops::testing::all;
using ttops::testing::has;
using ttops::testing::problems;

namespace {

const Executor& redis() {
  const Executor* executor = find_executor("redis");
  REQUIRE(executor != nullptr);
  return *executor;
}

Effect effect_of(const Json& action) { return redis().effect(action); }

Effect command_effect(std::vector<std::string> args) {
  Json action = {{"command", args}};
  return effect_of(action);
}

}  // namespace

TEST_CASE("INFO text becomes fields, numbers and keyspace objects", "[redis]") {
  Json info = parse_redis_info(
      "# Server\r\nredis_version:7.0.15\r\nexecutable:/usr/bin/redis-server\r\nconfig_file:\r\n\r\n"
      "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmem_fragmentation_ratio:1.25\r\n"
      "# Stats\r\nkeyspace_hits:30\r\nkeyspace_misses:10\r\n"
      "# Commandstats\r\ncmdstat_get:calls=2,usec=9,usec_per_call=4.50,rejected_calls=0,failed_calls=0\r\n"
      "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n"
      "no colon here\r\n:starts with a colon\r\nnegative:-3\r\n");
  CHECK(info["redis_version"] == "7.0.15");
  CHECK(info["executable"] == "/usr/bin/redis-server");
  CHECK(info["config_file"] == "");
  CHECK(info["used_memory"] == 1048576);
  CHECK(info["used_memory_human"] == "1.00M");
  CHECK(info["mem_fragmentation_ratio"] == 1.25);
  CHECK(info["keyspace_hits"].is_number_integer());
  CHECK(info["negative"] == -3);
  CHECK(info["db0"] == Json{{"keys", 3}, {"expires", 1}, {"avg_ttl", 0}});
  CHECK(info["cmdstat_get"]["usec_per_call"] == 4.5);
  CHECK_FALSE(info.contains("no colon here"));
  CHECK(info.size() == 11);
}

TEST_CASE("INFO values that are not UTF-8 are kept as valid text", "[redis]") {
  Json info = parse_redis_info(std::string("name:caf\xe9\r\n"));
  CHECK(info["name"] == "caf\xEF\xBF\xBD");
  CHECK_NOTHROW(info.dump());
}

TEST_CASE("Redis URLs: host, port, database and credentials", "[redis]") {
  std::string error;
  auto plain = parse_redis_url("redis://127.0.0.1:16379/2", error);
  REQUIRE(plain);
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 16379);
  CHECK(plain->db == 2);
  CHECK(plain->password.empty());

  auto defaults = parse_redis_url("redis://redis-master", error);
  REQUIRE(defaults);
  CHECK(defaults->port == 6379);
  CHECK(defaults->db == 0);
  CHECK(defaults->where() == "redis-master:6379");

  auto password_only = parse_redis_url("redis://:s%40cret@cache:6380/0", error);
  REQUIRE(password_only);
  CHECK(password_only->user.empty());
  CHECK(password_only->password == "s@cret");

  auto user = parse_redis_url("redis://ops:pw@[::1]:7000", error);
  REQUIRE(user);
  CHECK(user->user == "ops");
  CHECK(user->host == "::1");
  CHECK(user->where() == "[::1]:7000");

  for (const char* bad : {"http://x", "rediss://x:6379", "redis://", "redis://x:99999", "redis://x/db1",
                          "redis://onlyuser@x", "redis://x?timeout=1", "redis://:%zz@x"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_redis_url(bad, error));
    CHECK_FALSE(error.empty());
    CHECK(error.find("zz") == std::string::npos);
  }
  CHECK_FALSE(parse_redis_url("rediss://x", error));
  CHECK(error.find("TLS") != std::string::npos);
}

TEST_CASE("Redis commands are classified by their verb", "[redis]") {
  for (auto args : std::vector<std::vector<std::string>>{{"GET", "k"},
                                                         {"info", "memory"},
                                                         {"PING"},
                                                         {"DBSIZE"},
                                                         {"SCAN", "0"},
                                                         {"TTL", "k"},
                                                         {"MEMORY", "USAGE", "k"},
                                                         {"config", "get", "maxmemory"},
                                                         {"CLIENT", "LIST"},
                                                         {"SLOWLOG", "GET", "10"},
                                                         {"LATENCY", "LATEST"},
                                                         {"OBJECT", "ENCODING", "k"},
                                                         {"HGETALL", "h"},
                                                         {"ZRANGE", "z", "0", "-1"}}) {
    INFO(args[0]);
    CHECK(command_effect(args) == Effect::read);
  }
  for (auto args : std::vector<std::vector<std::string>>{{"SET", "k", "v"},
                                                         {"EXPIRE", "k", "60"},
                                                         {"CONFIG", "SET", "maxmemory", "2gb"},
                                                         {"INCR", "k"},
                                                         {"SLOWLOG", "RESET"},
                                                         {"DEBUG", "SLEEP", "1"},
                                                         {"SOMETHINGNEW"}}) {
    INFO(args[0]);
    CHECK(command_effect(args) == Effect::mutate);
  }
  for (auto args : std::vector<std::vector<std::string>>{
           {"DEL", "k"}, {"unlink", "k"}, {"FLUSHDB"}, {"FLUSHALL"}, {"GETDEL", "k"}, {"EVAL", "return 1", "0"}}) {
    INFO(args[0]);
    CHECK(command_effect(args) == Effect::destructive);
  }
  CHECK(effect_of(Json{{"delete_keys", "event:*"}}) == Effect::destructive);
  CHECK(effect_of(Json{{"count_keys", "event:*"}}) == Effect::read);
  CHECK(effect_of(Json{{"command", {"{{ params.verb }}", "k"}}}) == Effect::destructive);
  CHECK(effect_of(Json{{"command", {"CONFIG", "{{ params.sub }}"}}}) == Effect::destructive);
  CHECK(effect_of(Json{{"command", {"GET", "{{ params.key }}"}}}) == Effect::read);
}

TEST_CASE("Redis steps are described with arguments quoted and no password", "[redis]") {
  StepContext context;
  Json target = {{"redis_url", "redis://:hunter22@127.0.0.1:6379/0"}};
  context.target = &target;
  CHECK(redis().describe(Json{{"command", {"SET", "a key", "v\r\n"}}}, context) ==
        "redis redis://:***@127.0.0.1:6379/0: SET \"a key\" \"v\\r\\n\"");
  CHECK(redis().describe(Json{{"delete_keys", "event:*"}}, context) ==
        "redis redis://:***@127.0.0.1:6379/0: delete keys matching \"event:*\" (SCAN + UNLINK, batches of 500)");
  CHECK(redis().describe(Json{{"count_keys", "ticket:*"}, {"batch", 100}, {"connection", "redis://cache:6380/1"}},
                         context) == "redis redis://cache:6380/1: count keys matching \"ticket:*\" (SCAN, batches of 100)");
}

TEST_CASE("KEYS and connection-state commands are refused at load time", "[redis][loader]") {
  auto list = problems(R"Y(title: x
steps:
  - id: keys
    redis: [KEYS, "rate_limit:*"]
  - id: keys-long
    redis: {command: [keys, "*"]}
  - id: select
    redis: [SELECT, "2"]
  - id: multi
    redis: [MULTI]
  - id: monitor
    redis: {command: [MONITOR]}
)Y");
  INFO(all(list));
  REQUIRE(list.size() == 5);
  CHECK(list[0].rfind("4:13: KEYS blocks the Redis server while it walks every key", 0) == 0);
  CHECK(list[0].find("count_keys") != std::string::npos);
  CHECK(list[1].rfind("6:23: KEYS blocks", 0) == 0);
  CHECK(list[2].find("put the database number in the URL") != std::string::npos);
  CHECK(list[3].find("MULTI spans several commands") != std::string::npos);
  CHECK(list[4].find("MONITOR streams replies") != std::string::npos);
}

TEST_CASE("Redis step shapes are checked at load time", "[redis][loader]") {
  auto list = problems(R"Y(title: x
steps:
  - id: split
    redis: "GET my key"
  - id: none
    redis: {batch: 10}
  - id: both
    redis: {count_keys: "a:*", delete_keys: "a:*"}
    confirm: delete them
  - id: batch
    redis: {count_keys: "a:*", batch: 0}
  - id: url
    redis: {command: [PING], connection: "redis://x:notaport"}
  - id: typo
    redis: {command: [PING], conection: "redis://x"}
  - id: empty
    redis: {count_keys: ""}
)Y");
  INFO(all(list));
  REQUIRE(list.size() == 7);
  CHECK(list[0].find("4:12: command is a list of arguments") == 0);
  CHECK(list[1].find("needs 'command', 'count_keys' or 'delete_keys'") != std::string::npos);
  CHECK(list[2].find("give only one of") != std::string::npos);
  CHECK(list[3].find("batch must be between 1 and 100000") != std::string::npos);
  CHECK(list[4].find("bad Redis URL: bad port 'notaport'") != std::string::npos);
  CHECK(list[5].find("unknown key 'conection' in redis step 'typo' (did you mean 'connection'?)") != std::string::npos);
  CHECK(list[6].find("count_keys needs a pattern") != std::string::npos);
}

TEST_CASE("a destructive Redis step needs a confirmation", "[redis][loader]") {
  auto list = problems("title: x\nsteps:\n  - id: clear\n    redis: {delete_keys: \"event:*\"}\n");
  REQUIRE(list.size() == 1);
  CHECK(list[0].find("step 'clear' is destructive") != std::string::npos);
  auto runbook = ttops::testing::load_ok(
      "title: x\nsteps:\n  - id: clear\n    redis: {delete_keys: \"event:*\"}\n    confirm: Delete the event cache?\n"
      "  - id: memory\n    redis: [INFO, memory]\n    expect: [info.used_memory > 0]\n");
  CHECK(runbook->steps[0].effect == Effect::destructive);
  CHECK(runbook->steps[1].effect == Effect::read);
  CHECK(runbook->steps[1].action["command"] == Json::array({"INFO", "memory"}));
}
