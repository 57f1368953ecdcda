#pragma once
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/json.hpp"

namespace ttops {

/// A syntax error in an expression or template. `column` counts from 1 within the source text.
class ExpressionError : public std::runtime_error {
 public:
  ExpressionError(int column, const std::string& message)
      : std::runtime_error(message), m_column(column) {}
  int column() const { return m_column; }

 private:
  int m_column;
};

/// A failure while evaluating: a missing JSON body, a type mismatch, a bad regex.
/// The engine turns it into a failed expectation; it never escapes a step.
class EvaluationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The names an expression can see while it is evaluated.
class EvalScope {
 public:
  virtual ~EvalScope() = default;
  /// The value bound to a root name (`params`, `status`, `steps`…), or nullptr if unbound.
  /// May throw EvaluationError when the name is bound but unusable (a body that is not JSON).
  virtual const Json* lookup(std::string_view name) const = 0;
};

/// A name an expression reads: the root and the literal members after it, e.g. `params.limit`
/// gives {"params", "limit"}. Used by the validator to reject unknown names before a run.
struct NameReference {
  std::vector<std::string> path;
  int column = 0;  // where the root name starts, from 1
};

/// An expression of the small language used by `expect`, `capture`, `when` and `{{ }}`:
/// literals (numbers, durations such as 500ms, strings, true/false/null, lists), paths
/// (`json.checks.database`, `headers["content-type"]`, `steps.health.status`), comparisons,
/// `&&` `||` `!`, `contains`, `matches` (regex), `in`, arithmetic, `a ? b : c` and functions
/// such as len(), metric() and histogram_quantile(). Cheap to copy (the tree is shared).
class Expression {
 public:
  Expression() = default;
  /// Parses `text`; throws ExpressionError pointing at the offending column.
  static Expression parse(std::string_view text);

  Json evaluate(const EvalScope& scope) const;
  /// Evaluates and applies truthiness (false, null, 0, "" and [] are false).
  bool evaluate_bool(const EvalScope& scope) const;

  /// The value, if the expression reads no names: `true`, `1 > 2`. Used to find dead branches.
  std::optional<Json> constant_value() const;
  /// Whether the condition is always true or always false whatever the names hold:
  /// `x || true` is always true, `x && 1 > 2` always false. nullopt when it depends.
  std::optional<bool> static_truth() const;
  std::vector<NameReference> references() const;
  /// "json.status = \"DOWN\"; status = 503": the values of the paths it reads, for failure messages.
  std::string explain(const EvalScope& scope) const;

  const std::string& text() const;
  bool empty() const { return m_root == nullptr; }

  struct Node;

 private:
  std::shared_ptr<const Node> m_root;
  std::shared_ptr<const std::string> m_text;
};

/// Truthiness shared by every boolean context.
bool is_truthy(const Json& value);
/// How a value reads inside a string: strings bare, integers without ".0", null as "".
std::string to_display_string(const Json& value);

/// A string with `{{ expression }}` holes. Parsed once, rendered per run.
class Template {
 public:
  Template() = default;
  /// Throws ExpressionError whose column is the offset (from 1) in `text`.
  static Template parse(std::string_view text);
  /// True when `text` holds a `{{`, so that plain strings skip the parser entirely.
  static bool has_holes(std::string_view text);

  bool is_literal() const { return m_parts.size() <= 1 && (m_parts.empty() || !m_parts[0].is_hole); }
  /// A whole string that is one hole keeps the value's type: "{{ params.replicas }}" -> 3.
  Json render_value(const EvalScope& scope) const;
  std::string render(const EvalScope& scope) const;
  std::vector<NameReference> references() const;
  const std::string& source() const { return m_source; }

 private:
  struct Part {
    bool is_hole = false;
    std::string literal;
    Expression expression;
    int offset = 0;  // column of the expression text within the source, from 1
  };
  std::string m_source;
  std::vector<Part> m_parts;
};

}  // namespace ttops
