#pragma once
// What the executors that start a process (kubectl, exec) share: the `grep`/`tail` line filter,
// and turning a finished process into step data (stdout, stderr, exit_code, error, lines, count,
// json) or into a one-line failure when it could not run, timed out or was interrupted.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/executor.hpp"
#include "ttops/json.hpp"
#include "util/subprocess.hpp"

namespace ttops {

/// `grep: "(?i)error"` keeps the matching lines of stdout; `tail: 20` keeps the last 20 of them.
struct LineFilter {
  std::string grep;                  // a regex, "(?i)" first to ignore case; empty keeps every line
  std::optional<std::size_t> tail;   // nullopt: every matching line, up to k_default_line_cap
};

/// Without `tail`, `lines` keeps at most this many (the last ones) so reports stay readable;
/// `count` still counts them all.
constexpr std::size_t k_default_line_cap = 1000;

struct FilteredLines {
  std::vector<std::string> lines;
  std::size_t count = 0;  // matching lines, before `tail`
  bool capped = false;    // k_default_line_cap cut the list
};

/// The filter an action asks for (its `grep` and `tail` fields).
LineFilter line_filter_of(const Json& action);
/// Throws EvaluationError for a bad regular expression.
FilteredLines filter_lines(std::string_view text, const LineFilter& filter);

/// The stderr line that says what went wrong: the last one that is not a debug log line (kubectl
/// prints klog lines such as "E1123 00:59:24.837 memcache.go:265] …" before its real message).
std::string error_line(std::string_view stderr_text);

/// Parses program output as JSON: one value, or several values one after the other (kubectl
/// rollout history -o json prints one object per revision) as a list. nullopt with `error` set
/// when it is not JSON.
std::optional<Json> parse_json_output(std::string_view text, std::string& error);

/// How a program is named in failures: "kubectl", and what to do when it is missing.
struct ProgramLabel {
  std::string name;      // "kubectl", "pg_dump"
  std::string not_found_hint;  // "; set --kubectl", or empty
};

/// The step's outcome for a finished process. Failures (not started, timed out, interrupted)
/// say so in one line; a non-zero exit is data for the expectations, not a failure.
ActionOutcome process_outcome(const SubprocessResult& result, const LineFilter& filter, const ProgramLabel& label,
                              std::chrono::milliseconds timeout);

/// The fields `grep` and `tail`, for an executor's field list.
std::vector<ActionField> line_filter_fields();
/// Load-time checks of `grep` (a valid regex) and `tail` (not negative).
void check_line_filter(const YAML::Node& action, Diagnostics& diagnostics);
/// The result names of a process step.
std::vector<std::string> process_result_fields();

/// Whether an environment variable or flag name looks like it holds a credential.
bool looks_secret(std::string_view name);

}  // namespace ttops
