#include <catch2/catch.hpp>

#include <chrono>

#include "ttops/expression.hpp"

using ttops::EvaluationError;
using ttops::Expression;
using ttops::ExpressionError;
using ttops::Json;

namespace {

struct MapScope : ttops::EvalScope {
  Json values = Json::object();
  const Json* lookup(std::string_view name) const override {
    auto it = values.find(std::string(name));
    return it == values.end() ? nullptr : &*it;
  }
};

Json eval(const std::string& text, const MapScope& scope = MapScope{}) { return Expression::parse(text).evaluate(scope); }

int error_column(const std::string& text) {
  try {
    Expression::parse(text);
  } catch (const ExpressionError& e) {
    return e.column();
  }
  return -1;
}

}  // namespace

TEST_CASE("literals and arithmetic", "[expr]") {
  CHECK(eval("1 + 2 * 3") == 7);
  CHECK(eval("(1 + 2) * 3") == 9);
  CHECK(eval("7 / 2") == 3.5);
  CHECK(eval("7 % 4") == 3);
  CHECK(eval("-3 + 1") == -2);
  CHECK(eval("0.25 * 4") == 1);
  CHECK(eval("'a' + \"b\"") == "ab");
  CHECK(eval("[1, 2] + [3]") == Json::array({1, 2, 3}));
  CHECK(eval("true") == true);
  CHECK(eval("null") == nullptr);
}

TEST_CASE("duration literals are seconds", "[expr]") {
  CHECK(eval("500ms") == 0.5);
  CHECK(eval("5m") == 300);
  CHECK(eval("2s < 500ms") == false);
  CHECK(eval("1h == 60m") == true);
}

TEST_CASE("comparisons and logic", "[expr]") {
  CHECK(eval("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3") == true);
  CHECK(eval("1 == 1.0") == true);
  CHECK(eval("'a' != 'b'") == true);
  CHECK(eval("!false || false") == true);
  CHECK(eval("1 > 2 ? 'x' : 'y'") == "y");
  // Numbers that arrive as text (Redis, headers) compare as numbers.
  CHECK(eval("'42' > 5") == true);
  CHECK(eval("'10' == 10") == true);
}

TEST_CASE("contains, in and matches", "[expr]") {
  CHECK(eval("'connection refused' contains 'refused'") == true);
  CHECK(eval("[1, 2, 3] contains 2") == true);
  CHECK(eval("2 in [1, 2]") == true);
  CHECK(eval("'ERROR: x' matches '^ERROR'") == true);
  CHECK(eval("'Error: x' matches '(?i)^error'") == true);
  CHECK(eval("'ok' matches '^ERROR'") == false);
}

TEST_CASE("paths into results, missing members are null", "[expr]") {
  MapScope scope;
  scope.values["json"] = Json::parse(R"({"status":"UP","checks":{"database":"UP"},"items":[{"id":1},{"id":2}]})");
  scope.values["headers"] = Json{{"content-type", "application/json"}};
  scope.values["steps"] = Json{{"quick-rollback", {{"ok", true}}}};
  CHECK(eval("json.status", scope) == "UP");
  CHECK(eval("json.checks.database == 'UP'", scope) == true);
  CHECK(eval("json.items[1].id", scope) == 2);
  CHECK(eval("json.items[-1].id", scope) == 2);
  CHECK(eval("headers['content-type']", scope) == "application/json");
  CHECK(eval("json.nothing.deeper", scope) == nullptr);
  CHECK(eval("steps.quick-rollback.ok", scope) == true);
  CHECK(eval("len(json.items)", scope) == 2);
  CHECK_THROWS_AS(eval("unknown_name", scope), EvaluationError);
}

TEST_CASE("comparing a missing value is an error, not a silent false", "[expr]") {
  MapScope scope;
  scope.values["json"] = Json::object();
  CHECK_THROWS_WITH(eval("json.errorRate > 0.05", scope), Catch::Contains("a value is missing"));
  CHECK_THROWS_WITH(eval("json.errorRate * 2", scope), Catch::Contains("a value is missing"));
  CHECK_THROWS_WITH(eval("1 / 0"), Catch::Contains("division by zero"));
  CHECK_THROWS_WITH(eval("'abc' < 3"), Catch::Contains("cannot compare"));
}

TEST_CASE("functions", "[expr]") {
  CHECK(eval("len('abc')") == 3);
  CHECK(eval("lower('ABC')") == "abc");
  CHECK(eval("int('42') + 1") == 43);
  CHECK(eval("default(null, 5)") == 5);
  CHECK(eval("max(1, 5, 3)") == 5);
  CHECK(eval("sum([1, 2, 3])") == 6);
  CHECK(eval("round(0.12345, 2)") == 0.12);
  CHECK(eval("percent(0.051)") == "5.1%");
  CHECK(eval("len(grep('a error\\nok\\nERROR b', '(?i)error'))") == 2);
  CHECK(eval("duration('5m')") == 300);
  CHECK(eval("parse_json('{\"a\": 1}').a") == 1);
  MapScope scope;
  scope.values["workers"] = Json::parse(R"([{"s": "up"}, {"s": "down"}, {"s": "up"}])");
  CHECK(eval("len(where(workers, 's', 'up'))", scope) == 2);
  CHECK(eval("pluck(workers, 's')[1]", scope) == "down");
}

TEST_CASE("metric() reads the Prometheus text of the step's body", "[expr]") {
  MapScope scope;
  scope.values["body"] =
      "# HELP minting_queue_depth depth\n"
      "# TYPE minting_queue_depth gauge\n"
      "minting_queue_depth{state=\"waiting\"} 1200\n"
      "minting_queue_depth{state=\"active\"} 3\n"
      "db_pool_utilization 0.3\n";
  CHECK(eval("metric('minting_queue_depth{state=\"waiting\"}')", scope) == 1200);
  CHECK(eval("metric('minting_queue_depth')", scope) == 1203);  // sum over series
  CHECK(eval("metric('db_pool_utilization') < 0.7", scope) == true);
  CHECK(eval("metric('absent')", scope) == nullptr);
  CHECK(eval("len(metrics('minting_queue_depth'))", scope) == 2);
}

TEST_CASE("parse errors point at the column", "[expr]") {
  CHECK(error_column("status == ") == 11);
  CHECK(error_column("status = 200") == 8);
  CHECK(error_column("len(1, 2)") == 1);
  CHECK(error_column("json.status == 'UP") == 16);
  CHECK(error_column("nosuchfn(1)") == 1);
  CHECK(error_column("1 < 2 < 3") == 7);
  CHECK(error_column("a and b") == 3);
  CHECK(error_column("5 parsecs") == 3);
  CHECK(error_column("5parsecs") == 2);
  CHECK_THROWS_WITH(Expression::parse("lenn(x)"), Catch::Contains("did you mean 'len'"));
}

TEST_CASE("constants, references and explanations", "[expr]") {
  CHECK(Expression::parse("1 > 2").constant_value() == Json(false));
  CHECK(Expression::parse("true").constant_value() == Json(true));
  CHECK_FALSE(Expression::parse("status == 200").constant_value().has_value());
  CHECK_FALSE(Expression::parse("metric('x') > 1").constant_value().has_value());

  auto refs = Expression::parse("steps.health.ok && captures.error_rate > params['limit']").references();
  REQUIRE(refs.size() == 3);
  CHECK(refs[0].path == std::vector<std::string>{"steps", "health", "ok"});
  CHECK(refs[1].path == std::vector<std::string>{"captures", "error_rate"});
  CHECK(refs[2].path == std::vector<std::string>{"params", "limit"});
  CHECK(refs[2].column == 42);

  MapScope scope;
  scope.values["status"] = 503;
  scope.values["json"] = Json{{"status", "DOWN"}};
  auto explained = Expression::parse("status == 200 && json.status == 'UP'").explain(scope);
  CHECK(explained == "status = 503, json.status = \"DOWN\"");
}

TEST_CASE("templates", "[expr]") {
  MapScope scope;
  scope.values["target"] = Json{{"url", "http://venue:3002"}};
  scope.values["params"] = Json{{"replicas", 4}, {"ratio", 0.5}};
  CHECK(ttops::Template::parse("{{ target.url }}/health").render(scope) == "http://venue:3002/health");
  CHECK(ttops::Template::parse("{{ params.replicas }}").render_value(scope) == 4);  // keeps the type
  CHECK(ttops::Template::parse("--replicas={{ params.replicas }}").render_value(scope) == "--replicas=4");
  CHECK(ttops::Template::parse("{{ params.ratio }}").render(scope) == "0.5");
  CHECK(ttops::Template::parse("plain").is_literal());
  try {
    ttops::Template::parse("x {{ target. }} y");
    FAIL("expected a parse error");
  } catch (const ExpressionError& e) {
    CHECK(e.column() == 14);  // the '}' where a name was expected, counted in the whole string
  }
  CHECK_THROWS_WITH(ttops::Template::parse("x {{ a"), Catch::Contains("without a closing"));
  auto refs = ttops::Template::parse("{{ target.url }}/x/{{ params.replicas }}").references();
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].column == 4);
  CHECK(refs[1].column == 23);
}

TEST_CASE("regexes run in linear time: no hang, no stack overflow on large input", "[expr]") {
  MapScope scope;
  scope.values["log"] = std::string(200000, 'a') + "b";
  auto started = std::chrono::steady_clock::now();
  CHECK(eval("log matches '(a*)*c'", scope) == false);  // catastrophic for a backtracking engine
  CHECK(eval("log matches '^(a|aa)+b$'", scope) == true);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
  CHECK_THROWS_WITH(eval("'x' matches '(unclosed'"), Catch::Contains("bad regular expression"));
}

TEST_CASE("values that are not UTF-8 never make reports throw", "[expr]") {
  MapScope scope;
  scope.values["body"] = std::string("caf\xe9 \xff\xfe");
  auto explained = Expression::parse("body == 'x'").explain(scope);
  CHECK_THAT(explained, Catch::StartsWith("body = \"caf"));
  CHECK_NOTHROW(ttops::dump_json(scope.values));
  CHECK_THROWS_WITH(Expression::parse("8E880 > 1"), Catch::Contains("out of range"));
}

TEST_CASE("nesting is bounded: an error, never a stack overflow", "[expr]") {
  auto column_of = [](const std::string& text) {
    try {
      Expression::parse(text);
    } catch (const ExpressionError& error) {
      CHECK(std::string(error.what()).find("nested deeper than 200 levels") != std::string::npos);
      return error.column();
    }
    return 0;
  };
  CHECK(column_of(std::string(100000, '(') + "1" + std::string(100000, ')')) > 0);
  CHECK(column_of(std::string(100000, '!') + "true") > 0);
  CHECK(column_of("[" + std::string(5000, '[') + "]") > 0);
  CHECK_NOTHROW(Expression::parse(std::string(150, '(') + "1" + std::string(150, ')')));
}
