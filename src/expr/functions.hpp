#pragma once
// The functions expressions may call: one table, checked at parse time for name and arity.
#include <string>
#include <string_view>
#include <vector>

#include "ttops/expression.hpp"
#include "ttops/json.hpp"

namespace ttops {

struct FunctionSpec {
  std::string name;
  int min_args = 0;
  int max_args = 0;
  std::string usage;
  bool reads_scope = false;  // metric() reads the step's body: not a constant even with literal args
  Json (*call)(const std::vector<Json>& args, const EvalScope& scope) = nullptr;
};

const FunctionSpec* find_function(std::string_view name);
std::vector<std::string> function_names();
const std::vector<FunctionSpec>& all_functions();

/// Regex search (RE2, cached per thread); "(?i)" ignores case. Bad patterns: EvaluationError.
bool search_regex(const std::string& text, const std::string& pattern);

}  // namespace ttops
