#include "executors/command_output.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdio>
#include <sstream>

#include "expr/functions.hpp"
#include "ttops/expression.hpp"
#include "util/duration.hpp"
#include "util/json_depth.hpp"
#include "util/regex.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// klog's header: a severity letter, MMDD, a space and hh:mm:ss ("E1123 00:59:24.837211").
bool is_klog_line(std::string_view line) {
  if (line.size() < 14 || std::string_view("IWEF").find(line[0]) == std::string_view::npos) return false;
  for (std::size_t i = 1; i <= 4; ++i)
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
  return line[5] == ' ' && std::isdigit(static_cast<unsigned char>(line[6])) && line[8] == ':' && line[11] == ':';
}

// The start of some output for a message: control bytes (a NUL, an escape sequence) are shown
// as \xNN and bytes that are not UTF-8 as U+FFFD, rather than copied into a report or a terminal.
std::string printable_start(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : to_valid_utf8(one_line(text, max))) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7F) {
      out += c;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", byte);
      out += hex;
    }
  }
  return out;
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

LineFilter line_filter_of(const Json& action) {
  LineFilter filter;
  if (action.contains("grep") && action["grep"].is_string()) filter.grep = action["grep"].get<std::string>();
  if (action.contains("tail") && action["tail"].is_number_integer() && action["tail"].get<long long>() >= 0)
    filter.tail = action["tail"].get<std::size_t>();
  return filter;
}

FilteredLines filter_lines(std::string_view text, const LineFilter& filter) {
  FilteredLines out;
  for (auto& line : split_lines(text)) {
    if (!filter.grep.empty() && !search_regex(line, filter.grep)) continue;
    out.lines.push_back(std::move(line));
  }
  out.count = out.lines.size();
  std::size_t keep = filter.tail.value_or(k_default_line_cap);
  if (out.lines.size() > keep) {
    out.lines.erase(out.lines.begin(), out.lines.end() - static_cast<std::ptrdiff_t>(keep));
    out.capped = !filter.tail.has_value();
  }
  return out;
}

std::string error_line(std::string_view stderr_text) {
  std::string last_any;
  std::string last_message;
  for (const auto& line : split_lines(stderr_text)) {
    std::string_view trimmed = trim(line);
    if (trimmed.empty()) continue;
    last_any = std::string(trimmed);
    if (!is_klog_line(trimmed)) last_message = std::string(trimmed);
  }
  std::string line = last_message.empty() ? last_any : last_message;
  // "error: unable to find…" reads better after "kubectl failed: " without its own prefix.
  if (line.rfind("error: ", 0) == 0) line = line.substr(7);
  return one_line(line, 300);
}

std::optional<Json> parse_json_output(std::string_view text, std::string& error) {
  std::string_view trimmed = trim(text);
  if (trimmed.empty()) {
    error = "the output is empty, not JSON";
    return std::nullopt;
  }
  if (trimmed.front() != '{' && trimmed.front() != '[') {
    error = "the output is not JSON (it starts with '" + printable_start(trimmed, 40) + "')";
    return std::nullopt;
  }
  if (!json_nesting_within(trimmed)) {
    error = "the output nests deeper than " + std::to_string(k_max_json_depth) + " levels; not parsed as JSON";
    return std::nullopt;
  }
  std::vector<Json> values;
  std::istringstream in{std::string(trimmed)};
  try {
    while (true) {
      in >> std::ws;
      if (in.peek() == std::char_traits<char>::eof()) break;
      Json value;
      in >> value;
      values.push_back(std::move(value));
    }
  } catch (const Json::exception& e) {
    std::string what = e.what();
    auto at = what.find("parse error");
    error = "the output is not valid JSON (" + std::to_string(text.size()) + " bytes): " +
            (at == std::string::npos ? what : what.substr(at));
    return std::nullopt;
  }
  if (values.size() == 1) return std::move(values.front());
  Json list = Json::array();
  for (auto& value : values) list.push_back(std::move(value));
  return list;
}

ActionOutcome process_outcome(const SubprocessResult& result, const LineFilter& filter, const ProgramLabel& label,
                              std::chrono::milliseconds timeout) {
  if (!result.started()) {
    const std::string& program = result.program.empty() ? label.name : result.program;
    switch (result.start) {
      case SubprocessStart::not_found:
        return ActionOutcome::failure(
            label.name + " not found (" +
            (label.name.find('/') == std::string::npos && program.find('/') == std::string::npos
                 ? "looked for '" + program + "' on PATH"
                 : "no executable file at '" + program + "'") +
            label.not_found_hint + ")");
      case SubprocessStart::not_executable:
        return ActionOutcome::failure("cannot run " + label.name + ": " + result.start_error + label.not_found_hint);
      case SubprocessStart::failed:
      case SubprocessStart::started:
        break;
    }
    return ActionOutcome::failure("cannot start " + label.name + ": " + result.start_error);
  }

  ActionOutcome outcome;
  Json& data = outcome.data;
  data["stdout"] = result.out;
  data["stderr"] = result.err;
  data["exit_code"] = result.shell_status();
  if (result.signal != 0) data["signal"] = signal_name(result.signal);
  std::string error = error_line(result.err);
  if (error.empty() && result.shell_status() != 0) error = result.status_text();
  data["error"] = error;
  data["duration"] = result.seconds;

  if (result.timed_out || result.cancelled) {
    std::string words = result.cancelled ? "interrupted"
                                          : label.name + " did not finish within " + format_duration(timeout) +
                                                ": it and the processes it started were ended";
    ActionOutcome failure = ActionOutcome::failure(words, result.timed_out);
    failure.data = std::move(data);  // what it printed so far, for the report
    return failure;
  }

  try {
    FilteredLines kept = filter_lines(result.out, filter);
    data["count"] = kept.count;
    data["lines"] = kept.lines;
    if (kept.capped)
      outcome.notes.push_back("lines holds the last " + std::to_string(kept.lines.size()) + " of " +
                              plural(kept.count, "line") + " (set tail to choose how many)");
  } catch (const EvaluationError& e) {
    return ActionOutcome::failure(std::string("grep: ") + e.what());
  }

  std::string json_error;
  if (auto json = parse_json_output(result.out, json_error)) {
    data["json"] = std::move(*json);
  } else {
    data["json"] = nullptr;
    data["json_error"] = result.shell_status() != 0
                             ? label.name + " exited with " + std::to_string(result.shell_status()) + ": " + error
                             : json_error;
  }
  if (result.out_truncated) outcome.notes.push_back("stdout cut at " + std::to_string(result.out.size()) + " bytes");
  if (result.err_truncated) outcome.notes.push_back("stderr cut at " + std::to_string(result.err.size()) + " bytes");
  if (result.ended_leftovers)
    outcome.notes.push_back(label.name + " left processes running when it exited; they were ended");
  return outcome;
}

std::vector<ActionField> line_filter_fields() {
  return {
      {"grep", FieldType::string, false, "keep the output lines matching this regex ((?i) ignores case)"},
      {"tail", FieldType::integer, false, "keep the last N matching lines"},
  };
}

void check_line_filter(const YAML::Node& action, Diagnostics& diagnostics) {
  if (auto grep = action["grep"]; grep && grep.IsScalar() && !Template::has_holes(grep.Scalar())) {
    Regex compiled(grep.Scalar());
    if (!compiled.ok()) diagnostics.error(grep, "grep is not a valid regular expression: " + compiled.error());
  }
  if (auto tail = action["tail"]; tail && tail.IsScalar() && !Template::has_holes(tail.Scalar())) {
    if (tail.Scalar().rfind('-', 0) == 0) diagnostics.error(tail, "tail must be 0 or more lines");
  }
}

std::vector<std::string> process_result_fields() {
  return {"stdout", "stderr", "exit_code", "signal", "error", "json", "lines", "count"};
}

bool looks_secret(std::string_view name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* word : {"TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL", "JWT", "AUTH"})
    if (upper.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace ttops
