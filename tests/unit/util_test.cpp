#include <catch2/catch.hpp>

#include "util/duration.hpp"
#include "util/json_depth.hpp"
#include "util/redact.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

using namespace ttops;

TEST_CASE("durations", "[util]") {
  CHECK(parse_duration("500ms")->count() == 500);
  CHECK(parse_duration("1m30s")->count() == 90'000);
  CHECK(parse_duration("1.5s")->count() == 1500);
  CHECK(parse_duration("5")->count() == 5000);
  CHECK_FALSE(parse_duration("5 parsecs"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK(format_duration(0.012) == "12ms");
  CHECK(format_duration(2.345) == "2.3s");
  CHECK(format_duration(125.0) == "2m05s");
}

TEST_CASE("suggestions", "[util]") {
  CHECK(did_you_mean("expct", {"expect", "capture"}) == " (did you mean 'expect'?)");
  CHECK(did_you_mean("zzzzzz", {"expect", "capture"}).empty());
}

TEST_CASE("redaction masks plain, URL-encoded, base64 and URL passwords", "[util]") {
  Redactor r;
  r.add_secret("s3cr3t/token+x");
  CHECK(r.redact("Bearer s3cr3t/token+x") == "Bearer ***");
  CHECK(r.redact("q=" + percent_encode("s3cr3t/token+x")) == "q=***");
  CHECK(r.redact("b64 " + base64_encode("s3cr3t/token+x")) == "b64 ***");
  CHECK(r.redact("postgres://app:hunter2@db:5432/x") == "postgres://app:***@db:5432/x");
  CHECK(r.redact("redis://:pw@cache:6379/0 and http://host/path") == "redis://:***@cache:6379/0 and http://host/path");
  CHECK(r.redact("no secrets here") == "no secrets here");
  CHECK(redact_url_credentials("https://user@host/x") == "https://user@host/x");
}

TEST_CASE("password literals in SQL text are masked, also when the text was cut", "[util]") {
  Redactor r;
  CHECK(r.redact("CREATE ROLE app LOGIN PASSWORD 'it''s-s3cret' VALID UNTIL 'x'") ==
        "CREATE ROLE app LOGIN PASSWORD '***' VALID UNTIL 'x'");
  CHECK(r.redact("alter user app with password\n  'pw1'; ALTER ROLE b PASSWORD 'pw2'") ==
        "alter user app with password\n  '***'; ALTER ROLE b PASSWORD '***'");
  CHECK(r.redact("CREATE ROLE event_app LOGIN PASSWORD 'event-app-…  1  4.2\nnext row") ==
        "CREATE ROLE event_app LOGIN PASSWORD '***…  1  4.2\nnext row");
  CHECK(r.redact("SELECT password FROM users WHERE password_reset = 'x'") ==
        "SELECT password FROM users WHERE password_reset = 'x'");
  CHECK(r.redact("PASSWORD NULL") == "PASSWORD NULL");
}

TEST_CASE("shell quoting shows exact command lines", "[util]") {
  CHECK(shell_join({"kubectl", "set", "env", "deployment/x", "A=b c"}) == "kubectl set env deployment/x 'A=b c'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
}

TEST_CASE("a swapped pair of letters is one edit", "[util]") {
  CHECK(edit_distance("lsit", "list") == 1);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(did_you_mean("lsit", {"list", "show"}) == " (did you mean 'list'?)");
}

TEST_CASE("time budgets in messages read as the step's timeout", "[util]") {
  CHECK(format_budget(std::chrono::milliseconds(998)) == "1.0s");
  CHECK(format_budget(std::chrono::milliseconds(1000)) == "1.0s");
  CHECK(format_budget(std::chrono::milliseconds(497)) == "500ms");
  CHECK(format_budget(std::chrono::milliseconds(2)) == "100ms");
}

TEST_CASE("text that is not UTF-8 is repaired, UTF-8 is kept", "[util]") {
  CHECK(to_valid_utf8("plain") == "plain");
  CHECK(to_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xab") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xab");
  CHECK(to_valid_utf8("caf\xe9") == "caf\xEF\xBF\xBD");
  CHECK(to_valid_utf8("\xc0\xaf") == "\xEF\xBF\xBD\xEF\xBF\xBD");          // overlong '/'
  CHECK(to_valid_utf8("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a UTF-16 surrogate
  CHECK(to_valid_utf8("\xe2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");          // cut short
  CHECK_NOTHROW(Json(to_valid_utf8("\xff\xfe")).dump());
}

TEST_CASE("JSON from outside is measured for depth before it is parsed", "[util]") {
  using ttops::json_nesting_within;
  CHECK(json_nesting_within(R"({"a": [1, {"b": [2]}]})", 4));
  CHECK_FALSE(json_nesting_within(R"({"a": [1, {"b": [2]}]})", 3));
  CHECK(json_nesting_within(R"(["[[[[", "\"{{{{"])", 1));  // brackets in strings do not count
  CHECK_FALSE(json_nesting_within(std::string(100000, '[') + std::string(100000, ']')));
  CHECK(json_nesting_within(std::string(256, '[') + std::string(256, ']')));
  CHECK(json_nesting_within("not json at all ]]]] {"));
}
