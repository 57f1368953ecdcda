#include "expr/functions.hpp"

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "expr/prometheus.hpp"
#include "util/duration.hpp"
#include "util/json_depth.hpp"
#include "util/regex.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

double as_number(const Json& v, const char* function) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    std::string text(trim(v.get_ref<const std::string&>()));
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (!text.empty() && end != nullptr && *end == '\0') return d;
  }
  throw EvaluationError(std::string(function) + "() needs a number, got " + one_line(dump_json(v), 40));
}

const std::string& as_string(const Json& v, const char* function) {
  if (!v.is_string()) throw EvaluationError(std::string(function) + "() needs a string, got " + one_line(dump_json(v), 40));
  return v.get_ref<const std::string&>();
}

const Json& as_list(const Json& v, const char* function) {
  if (!v.is_array()) throw EvaluationError(std::string(function) + "() needs a list, got " + one_line(dump_json(v), 40));
  return v;
}

Json number_json(double d) {
  if (std::isnan(d)) return nullptr;
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  return d;
}

// The parsed exposition text of the last few bodies, so that several metric() calls in one
// step's expectations parse the scrape once.
const std::vector<MetricSample>& samples_of(const std::string& text) {
  struct Entry {
    std::size_t hash = 0;
    std::size_t size = 0;
    std::vector<MetricSample> samples;
  };
  thread_local std::vector<Entry> cache;
  std::size_t hash = std::hash<std::string>{}(text);
  for (auto& entry : cache)
    if (entry.hash == hash && entry.size == text.size()) return entry.samples;
  if (cache.size() >= 4) cache.erase(cache.begin());
  cache.push_back(Entry{hash, text.size(), parse_prometheus_text(text)});
  return cache.back().samples;
}

const std::string& metrics_source(const std::vector<Json>& args, std::size_t index, const EvalScope& scope,
                                  const char* function) {
  if (args.size() > index) return as_string(args[index], function);
  const Json* body = scope.lookup("body");
  if (body == nullptr || !body->is_string())
    throw EvaluationError(std::string(function) + "() reads the step's response body, and this step has none");
  return body->get_ref<const std::string&>();
}

MetricSelector selector_of(const Json& v, const char* function) {
  try {
    return MetricSelector::parse(as_string(v, function));
  } catch (const std::invalid_argument& error) {
    throw EvaluationError(error.what());
  }
}

Json fn_len(const std::vector<Json>& a, const EvalScope&) {
  if (a[0].is_null()) return 0;
  if (a[0].is_string()) return static_cast<std::int64_t>(a[0].get_ref<const std::string&>().size());
  if (a[0].is_array() || a[0].is_object()) return static_cast<std::int64_t>(a[0].size());
  throw EvaluationError("len() needs a string, list or object, got " + one_line(dump_json(a[0]), 40));
}

Json fn_lower(const std::vector<Json>& a, const EvalScope&) { return to_lower(as_string(a[0], "lower")); }

Json fn_upper(const std::vector<Json>& a, const EvalScope&) {
  std::string s = as_string(a[0], "upper");
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Json fn_trim(const std::vector<Json>& a, const EvalScope&) { return std::string(trim(as_string(a[0], "trim"))); }

Json fn_int(const std::vector<Json>& a, const EvalScope&) {
  if (a[0].is_boolean()) return a[0].get<bool>() ? 1 : 0;
  double d = as_number(a[0], "int");
  if (!std::isfinite(d) || std::fabs(d) >= 9.0e15) throw EvaluationError("int() of a number too large to be exact");
  return static_cast<std::int64_t>(std::trunc(d));
}

Json fn_float(const std::vector<Json>& a, const EvalScope&) { return as_number(a[0], "float"); }

Json fn_string(const std::vector<Json>& a, const EvalScope&) { return to_display_string(a[0]); }

Json fn_default(const std::vector<Json>& a, const EvalScope&) { return a[0].is_null() ? a[1] : a[0]; }

Json fn_exists(const std::vector<Json>& a, const EvalScope&) { return !a[0].is_null(); }

std::vector<double> numbers_of(const std::vector<Json>& a, const char* function) {
  std::vector<double> values;
  if (a.size() == 1 && a[0].is_array()) {
    for (const auto& v : a[0]) values.push_back(as_number(v, function));
  } else {
    for (const auto& v : a) values.push_back(as_number(v, function));
  }
  return values;
}

Json fn_min(const std::vector<Json>& a, const EvalScope&) {
  auto values = numbers_of(a, "min");
  if (values.empty()) return nullptr;
  return number_json(*std::min_element(values.begin(), values.end()));
}

Json fn_max(const std::vector<Json>& a, const EvalScope&) {
  auto values = numbers_of(a, "max");
  if (values.empty()) return nullptr;
  return number_json(*std::max_element(values.begin(), values.end()));
}

Json fn_sum(const std::vector<Json>& a, const EvalScope&) {
  double total = 0;
  for (const auto& v : as_list(a[0], "sum")) total += as_number(v, "sum");
  return number_json(total);
}

Json fn_avg(const std::vector<Json>& a, const EvalScope&) {
  const Json& list = as_list(a[0], "avg");
  if (list.empty()) return nullptr;
  double total = 0;
  for (const auto& v : list) total += as_number(v, "avg");
  return total / static_cast<double>(list.size());
}

Json fn_abs(const std::vector<Json>& a, const EvalScope&) { return number_json(std::fabs(as_number(a[0], "abs"))); }

Json fn_round(const std::vector<Json>& a, const EvalScope&) {
  double value = as_number(a[0], "round");
  double digits = a.size() > 1 ? as_number(a[1], "round") : 0;
  double factor = std::pow(10.0, digits);
  return number_json(std::round(value * factor) / factor);
}

Json fn_percent(const std::vector<Json>& a, const EvalScope&) {
  double value = as_number(a[0], "percent") * 100.0;
  int digits = a.size() > 1 ? static_cast<int>(as_number(a[1], "percent")) : 1;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f%%", std::clamp(digits, 0, 6), value);
  return std::string(buffer);
}

Json fn_keys(const std::vector<Json>& a, const EvalScope&) {
  if (!a[0].is_object()) throw EvaluationError("keys() needs an object");
  Json out = Json::array();
  for (auto it = a[0].begin(); it != a[0].end(); ++it) out.push_back(it.key());
  return out;
}

Json fn_pluck(const std::vector<Json>& a, const EvalScope&) {
  const std::string& field = as_string(a[1], "pluck");
  Json out = Json::array();
  for (const auto& item : as_list(a[0], "pluck")) {
    if (item.is_object() && item.contains(field)) {
      out.push_back(item[field]);
    } else {
      out.push_back(nullptr);
    }
  }
  return out;
}

Json fn_where(const std::vector<Json>& a, const EvalScope&) {
  const std::string& field = as_string(a[1], "where");
  Json out = Json::array();
  for (const auto& item : as_list(a[0], "where")) {
    if (!item.is_object() || !item.contains(field)) continue;
    const Json& value = item[field];
    bool equal = value == a[2] || (value.is_number() && a[2].is_number() && value.get<double>() == a[2].get<double>());
    if (equal) out.push_back(item);
  }
  return out;
}

Json fn_any(const std::vector<Json>& a, const EvalScope&) {
  for (const auto& v : as_list(a[0], "any"))
    if (is_truthy(v)) return true;
  return false;
}

Json fn_all(const std::vector<Json>& a, const EvalScope&) {
  for (const auto& v : as_list(a[0], "all"))
    if (!is_truthy(v)) return false;
  return true;
}

Json fn_lines(const std::vector<Json>& a, const EvalScope&) {
  if (a[0].is_null()) return Json::array();
  Json out = Json::array();
  for (auto& line : split_lines(as_string(a[0], "lines"))) out.push_back(std::move(line));
  return out;
}

Json fn_grep(const std::vector<Json>& a, const EvalScope&) {
  const std::string& pattern = as_string(a[1], "grep");
  Json out = Json::array();
  auto consider = [&](const std::string& line) {
    if (search_regex(line, pattern)) out.push_back(line);
  };
  if (a[0].is_array()) {
    for (const auto& v : a[0])
      if (v.is_string()) consider(v.get_ref<const std::string&>());
  } else if (!a[0].is_null()) {
    for (const auto& line : split_lines(as_string(a[0], "grep"))) consider(line);
  }
  return out;
}

Json fn_split(const std::vector<Json>& a, const EvalScope&) {
  const std::string& separator = as_string(a[1], "split");
  const std::string& text = as_string(a[0], "split");
  Json out = Json::array();
  if (separator.empty()) throw EvaluationError("split() needs a non-empty separator");
  std::size_t start = 0;
  while (true) {
    auto pos = text.find(separator, start);
    out.push_back(text.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + separator.size();
  }
  return out;
}

Json fn_join(const std::vector<Json>& a, const EvalScope&) {
  std::vector<std::string> parts;
  for (const auto& v : as_list(a[0], "join")) parts.push_back(to_display_string(v));
  return join(parts, a.size() > 1 ? as_string(a[1], "join") : std::string(", "));
}

Json fn_parse_json(const std::vector<Json>& a, const EvalScope&) {
  if (a[0].is_null()) return nullptr;
  const std::string& text = as_string(a[0], "parse_json");
  if (!json_nesting_within(text))
    throw EvaluationError("parse_json(): the text nests deeper than " + std::to_string(k_max_json_depth) + " levels");
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& error) {
    throw EvaluationError(std::string("parse_json(): not valid JSON: ") + error.what());
  }
}

Json fn_duration(const std::vector<Json>& a, const EvalScope&) {
  if (a[0].is_number()) return a[0];
  auto parsed = parse_duration(as_string(a[0], "duration"));
  if (!parsed) throw EvaluationError("duration(): '" + a[0].get<std::string>() + "' is not a duration like 5m or 500ms");
  return number_json(static_cast<double>(parsed->count()) / 1000.0);
}

Json fn_now(const std::vector<Json>&, const EvalScope&) {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

Json fn_metric(const std::vector<Json>& a, const EvalScope& scope) {
  MetricSelector selector = selector_of(a[0], "metric");
  const auto& samples = samples_of(metrics_source(a, 1, scope, "metric"));
  auto matched = select_samples(samples, selector);
  if (matched.empty()) return nullptr;  // absent: let the expectation say so
  double total = 0;
  for (const auto* sample : matched) total += sample->value;
  return number_json(total);
}

Json fn_metrics(const std::vector<Json>& a, const EvalScope& scope) {
  MetricSelector selector = selector_of(a[0], "metrics");
  const auto& samples = samples_of(metrics_source(a, 1, scope, "metrics"));
  Json out = Json::array();
  for (const auto* sample : select_samples(samples, selector)) {
    Json labels = Json::object();
    for (const auto& [key, value] : sample->labels) labels[key] = value;
    out.push_back(Json{{"name", sample->name}, {"labels", labels}, {"value", number_json(sample->value)}});
  }
  return out;
}

Json fn_histogram_quantile(const std::vector<Json>& a, const EvalScope& scope) {
  double q = as_number(a[0], "histogram_quantile");
  MetricSelector selector = selector_of(a[1], "histogram_quantile");
  const auto& samples = samples_of(metrics_source(a, 2, scope, "histogram_quantile"));
  return number_json(histogram_quantile(q, samples, selector));
}

const std::vector<FunctionSpec>& table() {
  static const std::vector<FunctionSpec> functions = {
      {"len", 1, 1, "len(list|string|object)", false, fn_len},
      {"lower", 1, 1, "lower(string)", false, fn_lower},
      {"upper", 1, 1, "upper(string)", false, fn_upper},
      {"trim", 1, 1, "trim(string)", false, fn_trim},
      {"int", 1, 1, "int(value)", false, fn_int},
      {"float", 1, 1, "float(value)", false, fn_float},
      {"string", 1, 1, "string(value)", false, fn_string},
      {"default", 2, 2, "default(value, fallback)", false, fn_default},
      {"exists", 1, 1, "exists(path)", false, fn_exists},
      {"min", 1, 16, "min(list) or min(a, b, …)", false, fn_min},
      {"max", 1, 16, "max(list) or max(a, b, …)", false, fn_max},
      {"sum", 1, 1, "sum(list)", false, fn_sum},
      {"avg", 1, 1, "avg(list)", false, fn_avg},
      {"abs", 1, 1, "abs(number)", false, fn_abs},
      {"round", 1, 2, "round(number[, digits])", false, fn_round},
      {"percent", 1, 2, "percent(ratio[, digits]) -> \"5.0%\"", false, fn_percent},
      {"keys", 1, 1, "keys(object)", false, fn_keys},
      {"pluck", 2, 2, "pluck(list, \"field\")", false, fn_pluck},
      {"where", 3, 3, "where(list, \"field\", value)", false, fn_where},
      {"any", 1, 1, "any(list)", false, fn_any},
      {"all", 1, 1, "all(list)", false, fn_all},
      {"lines", 1, 1, "lines(text)", false, fn_lines},
      {"grep", 2, 2, "grep(text|list, \"regex\")", false, fn_grep},
      {"split", 2, 2, "split(text, \"separator\")", false, fn_split},
      {"join", 1, 2, "join(list[, \"separator\"])", false, fn_join},
      {"parse_json", 1, 1, "parse_json(text)", false, fn_parse_json},
      {"duration", 1, 1, "duration(\"5m\") -> seconds", false, fn_duration},
      {"now", 0, 0, "now() -> seconds since the epoch", true, fn_now},
      {"metric", 1, 2, "metric('name{label=\"value\"}'[, text])", true, fn_metric},
      {"metrics", 1, 2, "metrics('name{label=\"value\"}'[, text])", true, fn_metrics},
      {"histogram_quantile", 2, 3, "histogram_quantile(0.99, 'name{…}'[, text])", true, fn_histogram_quantile},
  };
  return functions;
}

}  // namespace

const FunctionSpec* find_function(std::string_view name) {
  for (const auto& spec : table())
    if (spec.name == name) return &spec;
  return nullptr;
}

std::vector<std::string> function_names() {
  std::vector<std::string> names;
  for (const auto& spec : table()) names.push_back(spec.name);
  return names;
}

const std::vector<FunctionSpec>& all_functions() { return table(); }

bool search_regex(const std::string& text, const std::string& pattern) {
  try {
    return cached_regex(pattern).search(text);
  } catch (const std::invalid_argument& error) {
    throw EvaluationError(error.what());
  }
}

}  // namespace ttops
