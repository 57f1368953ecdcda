// The expression language of expect, capture, when, decisions and {{ }} templates.
// Hand-written because no Debian library offers a small, safe, JSON-valued language with
// column-accurate errors: a lexer, a precedence-climbing parser and a tree-walking evaluator.
#include "ttops/expression.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <sstream>

#include "expr/functions.hpp"
#include "expr/node.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok {
  end, number, string, identifier, lparen, rparen, lbracket, rbracket, comma, dot, question, colon,
  op,  // operators and keyword operators: || && ! == != < <= > >= + - * / % contains matches in
};

struct Token {
  Tok kind = Tok::end;
  std::string text;
  Json value;      // numbers and strings
  int column = 1;  // from 1
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : m_text(text) {}

  std::vector<Token> tokens() {
    std::vector<Token> out;
    while (true) {
      skip_spaces();
      Token token;
      token.column = static_cast<int>(m_pos) + 1;
      if (m_pos >= m_text.size()) {
        out.push_back(token);
        return out;
      }
      char c = m_text[m_pos];
      bool after_dot = !out.empty() && out.back().kind == Tok::dot;
      if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(token);
      } else if (c == '"' || c == '\'') {
        lex_string(token);
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        lex_identifier(token, after_dot);
      } else {
        lex_punctuation(token);
      }
      out.push_back(std::move(token));
    }
  }

 private:
  void skip_spaces() {
    while (m_pos < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
  }

  [[noreturn]] void fail(std::size_t pos, const std::string& message) const {
    throw ExpressionError(static_cast<int>(pos) + 1, message);
  }

  void lex_number(Token& token) {
    std::size_t start = m_pos;
    bool is_float = false;
    while (m_pos < m_text.size() && std::isdigit(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
    if (m_pos + 1 < m_text.size() && m_text[m_pos] == '.' &&
        std::isdigit(static_cast<unsigned char>(m_text[m_pos + 1]))) {
      is_float = true;
      ++m_pos;
      while (m_pos < m_text.size() && std::isdigit(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
    }
    if (m_pos < m_text.size() && (m_text[m_pos] == 'e' || m_text[m_pos] == 'E') && m_pos + 1 < m_text.size() &&
        (std::isdigit(static_cast<unsigned char>(m_text[m_pos + 1])) ||
         ((m_text[m_pos + 1] == '-' || m_text[m_pos + 1] == '+') && m_pos + 2 < m_text.size() &&
          std::isdigit(static_cast<unsigned char>(m_text[m_pos + 2]))))) {
      is_float = true;
      m_pos += 2;
      while (m_pos < m_text.size() && std::isdigit(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
    }
    std::string digits(m_text.substr(start, m_pos - start));
    // A duration literal: 500ms, 5s, 2m, 1h, 1d. Its value is in seconds.
    std::size_t unit_start = m_pos;
    while (m_pos < m_text.size() && std::isalpha(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
    std::string_view unit = m_text.substr(unit_start, m_pos - unit_start);
    token.kind = Tok::number;
    token.text = std::string(m_text.substr(start, m_pos - start));
    // strtod, not stod: huge ("8E880") and tiny ("8E-880") literals must be errors or zero at
    // their column, never exceptions.
    double number = std::strtod(digits.c_str(), nullptr);
    if (!std::isfinite(number)) fail(start, "number '" + digits + "' is out of range");
    if (unit.empty()) {
      if (!is_float) {
        errno = 0;
        long long integer = std::strtoll(digits.c_str(), nullptr, 10);
        if (errno != ERANGE) {
          token.value = static_cast<std::int64_t>(integer);
          return;
        }
      }
      token.value = number;
      return;
    }
    double factor = 0;
    if (unit == "ms") factor = 0.001;
    else if (unit == "s") factor = 1;
    else if (unit == "m") factor = 60;
    else if (unit == "h") factor = 3600;
    else if (unit == "d") factor = 86400;
    else fail(unit_start, "unknown unit '" + std::string(unit) + "' after a number (durations use ms, s, m, h, d)");
    double seconds = number * factor;
    if (!std::isfinite(seconds)) fail(start, "duration '" + token.text + "' is out of range");
    if (seconds == std::floor(seconds) && std::fabs(seconds) < 9.0e15) {
      token.value = static_cast<std::int64_t>(seconds);
    } else {
      token.value = seconds;
    }
  }

  void lex_string(Token& token) {
    char quote = m_text[m_pos];
    std::size_t start = m_pos++;
    std::string value;
    while (true) {
      if (m_pos >= m_text.size()) fail(start, "unterminated string");
      char c = m_text[m_pos++];
      if (c == quote) break;
      if (c == '\\') {
        if (m_pos >= m_text.size()) fail(start, "unterminated string");
        char e = m_text[m_pos++];
        switch (e) {
          case 'n': value += '\n'; break;
          case 't': value += '\t'; break;
          case 'r': value += '\r'; break;
          case '\\': value += '\\'; break;
          case '"': value += '"'; break;
          case '\'': value += '\''; break;
          // Regexes are written in strings: keep unknown escapes (\d, \s, \.) as they are.
          default: value += '\\'; value += e; break;
        }
      } else {
        value += c;
      }
    }
    token.kind = Tok::string;
    token.text = std::string(m_text.substr(start, m_pos - start));
    token.value = std::move(value);
  }

  void lex_identifier(Token& token, bool after_dot) {
    std::size_t start = m_pos;
    auto ident_char = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
    while (m_pos < m_text.size()) {
      char c = m_text[m_pos];
      if (ident_char(c)) {
        ++m_pos;
      } else if (after_dot && c == '-' && m_pos + 1 < m_text.size() && ident_char(m_text[m_pos + 1])) {
        // Member names may hold hyphens (steps.quick-rollback); subtraction needs spaces there.
        ++m_pos;
      } else {
        break;
      }
    }
    token.text = std::string(m_text.substr(start, m_pos - start));
    if (!after_dot && (token.text == "contains" || token.text == "matches" || token.text == "in")) {
      token.kind = Tok::op;
    } else if (!after_dot && (token.text == "and" || token.text == "or" || token.text == "not")) {
      fail(start, "use " + std::string(token.text == "and" ? "&&" : token.text == "or" ? "||" : "!") +
                      " instead of '" + token.text + "'");
    } else {
      token.kind = Tok::identifier;
    }
  }

  void lex_punctuation(Token& token) {
    static const char* two_char[] = {"||", "&&", "==", "!=", "<=", ">="};
    for (const char* op : two_char) {
      if (m_text.substr(m_pos, 2) == op) {
        token.kind = Tok::op;
        token.text = op;
        m_pos += 2;
        return;
      }
    }
    char c = m_text[m_pos];
    token.text = std::string(1, c);
    switch (c) {
      case '(': token.kind = Tok::lparen; break;
      case ')': token.kind = Tok::rparen; break;
      case '[': token.kind = Tok::lbracket; break;
      case ']': token.kind = Tok::rbracket; break;
      case ',': token.kind = Tok::comma; break;
      case '.': token.kind = Tok::dot; break;
      case '?': token.kind = Tok::question; break;
      case ':': token.kind = Tok::colon; break;
      case '<': case '>': case '!': case '+': case '-': case '*': case '/': case '%':
        token.kind = Tok::op;
        break;
      case '=':
        fail(m_pos, "use == to compare ('=' alone is not an operator)");
      case '&':
        fail(m_pos, "use && for 'and'");
      case '|':
        fail(m_pos, "use || for 'or'");
      default:
        fail(m_pos, std::string("unexpected character '") + c + "'");
    }
    ++m_pos;
  }

  std::string_view m_text;
  std::size_t m_pos = 0;
};

// ---------------------------------------------------------------------------------------------
// Parser: precedence climbing. Lowest to highest: ?:, ||, &&, comparison, + -, * / %, unary, postfix.

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : m_tokens(std::move(tokens)) {}

  NodePtr parse_all() {
    if (peek().kind == Tok::end) throw ExpressionError(1, "empty expression");
    NodePtr node = parse_conditional();
    if (peek().kind != Tok::end) {
      const Token& t = peek();
      std::string hint;
      if (t.kind == Tok::identifier || t.kind == Tok::number || t.kind == Tok::string)
        hint = " (missing an operator before it?)";
      throw ExpressionError(t.column, "unexpected '" + t.text + "'" + hint);
    }
    return node;
  }

 private:
  const Token& peek() const { return m_tokens[m_pos]; }
  const Token& take() { return m_tokens[m_pos++]; }
  bool at_op(std::string_view op) const { return peek().kind == Tok::op && peek().text == op; }

  [[noreturn]] void fail_here(const std::string& message) const {
    const Token& t = peek();
    throw ExpressionError(t.column, t.kind == Tok::end ? message + " at the end of the expression"
                                                       : message + ", found '" + t.text + "'");
  }

  void expect(Tok kind, const char* what) {
    if (peek().kind != kind) fail_here(std::string("expected ") + what);
    ++m_pos;
  }

  NodePtr make(Node::Kind kind, int column) {
    auto node = std::make_shared<Node>();
    node->kind = kind;
    node->column = column;
    return node;
  }

  // The parser (and later the evaluator) recurse once per level of nesting: a bound keeps
  // "((((…" or "!!!!…" from a hostile or broken runbook an error rather than a stack overflow.
  static constexpr int k_max_depth = 200;
  struct Nesting {
    Parser& parser;
    explicit Nesting(Parser& p) : parser(p) {
      if (++parser.m_depth > k_max_depth)
        parser.fail_here("nested deeper than " + std::to_string(k_max_depth) + " levels");
    }
    ~Nesting() { --parser.m_depth; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
  };

  NodePtr parse_conditional() {
    Nesting nesting(*this);
    NodePtr condition = parse_binary(0);
    if (peek().kind != Tok::question) return condition;
    int column = take().column;
    auto node = make(Node::Kind::conditional, column);
    node->children.push_back(condition);
    node->children.push_back(parse_conditional());
    expect(Tok::colon, "':' of a ?: expression");
    node->children.push_back(parse_conditional());
    return node;
  }

  static int precedence(const Token& t) {
    if (t.kind != Tok::op) return -1;
    const std::string& op = t.text;
    if (op == "||") return 1;
    if (op == "&&") return 2;
    if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=" || op == "contains" ||
        op == "matches" || op == "in")
      return 3;
    if (op == "+" || op == "-") return 4;
    if (op == "*" || op == "/" || op == "%") return 5;
    return -1;
  }

  NodePtr parse_binary(int min_precedence) {
    NodePtr left = parse_unary();
    while (true) {
      int prec = precedence(peek());
      if (prec < 0 || prec < min_precedence) return left;
      Token op = take();
      NodePtr right = parse_binary(prec + 1);
      if (prec == 3 && precedence(peek()) == 3)
        fail_here("comparisons do not chain; combine them with && or ||");
      auto node = make(Node::Kind::binary, op.column);
      node->text = op.text;
      node->children = {left, right};
      left = node;
    }
  }

  NodePtr parse_unary() {
    if (at_op("!") || at_op("-")) {
      Nesting nesting(*this);
      Token op = take();
      auto node = make(Node::Kind::unary, op.column);
      node->text = op.text;
      node->children.push_back(parse_unary());
      return node;
    }
    return parse_postfix(parse_primary());
  }

  NodePtr parse_postfix(NodePtr base) {
    while (true) {
      if (peek().kind == Tok::dot) {
        take();
        if (peek().kind != Tok::identifier) fail_here("expected a name after '.'");
        const Token& name = take();
        auto node = make(Node::Kind::member, name.column);
        node->text = name.text;
        node->children.push_back(base);
        base = node;
      } else if (peek().kind == Tok::lbracket) {
        int column = take().column;
        auto node = make(Node::Kind::index, column);
        node->children.push_back(base);
        node->children.push_back(parse_conditional());
        expect(Tok::rbracket, "']'");
        base = node;
      } else {
        return base;
      }
    }
  }

  NodePtr parse_primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::number:
      case Tok::string: {
        auto node = make(Node::Kind::literal, t.column);
        node->value = t.value;
        take();
        return node;
      }
      case Tok::lparen: {
        take();
        NodePtr inner = parse_conditional();
        expect(Tok::rparen, "')'");
        return inner;
      }
      case Tok::lbracket: {
        auto node = make(Node::Kind::list, take().column);
        if (peek().kind != Tok::rbracket) {
          while (true) {
            node->children.push_back(parse_conditional());
            if (peek().kind != Tok::comma) break;
            take();
          }
        }
        expect(Tok::rbracket, "']' to close the list");
        return node;
      }
      case Tok::identifier: {
        Token name = take();
        if (name.text == "true" || name.text == "false" || name.text == "null") {
          auto node = make(Node::Kind::literal, name.column);
          node->value = name.text == "null" ? Json(nullptr) : Json(name.text == "true");
          return node;
        }
        if (peek().kind == Tok::lparen) return parse_call(name);
        auto node = make(Node::Kind::name, name.column);
        node->text = name.text;
        return node;
      }
      default:
        fail_here("expected a value");
    }
  }

  NodePtr parse_call(const Token& name) {
    const FunctionSpec* spec = find_function(name.text);
    if (spec == nullptr)
      throw ExpressionError(name.column,
                            "unknown function '" + name.text + "'" + did_you_mean(name.text, function_names()));
    take();  // '('
    auto node = make(Node::Kind::call, name.column);
    node->text = name.text;
    node->function = spec;
    if (peek().kind != Tok::rparen) {
      while (true) {
        node->children.push_back(parse_conditional());
        if (peek().kind != Tok::comma) break;
        take();
      }
    }
    expect(Tok::rparen, "')' to close the call");
    int count = static_cast<int>(node->children.size());
    if (count < spec->min_args || count > spec->max_args) {
      std::string expected = spec->min_args == spec->max_args
                                 ? std::to_string(spec->min_args)
                                 : std::to_string(spec->min_args) + " to " + std::to_string(spec->max_args);
      throw ExpressionError(name.column, name.text + "() takes " + expected + " argument" +
                                             (spec->max_args == 1 ? "" : "s") + ", got " + std::to_string(count) +
                                             " (usage: " + spec->usage + ")");
    }
    return node;
  }

  std::vector<Token> m_tokens;
  std::size_t m_pos = 0;
  int m_depth = 0;
};

// ---------------------------------------------------------------------------------------------
// Evaluator

std::string type_name(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  return "object";
}

// A string that holds a number ("42", "0.5") compares as that number: Redis and HTTP headers
// hand numbers over as text.
std::optional<double> numeric(const Json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::string_view trimmed = trim(s);
    if (trimmed.empty()) return std::nullopt;
    std::string copy(trimmed);
    char* end = nullptr;
    double d = std::strtod(copy.c_str(), &end);
    if (end != nullptr && *end == '\0') return d;
  }
  return std::nullopt;
}

Json number_value(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  return d;
}

bool values_equal(const Json& a, const Json& b) {
  if (a.is_number() || b.is_number()) {
    auto x = numeric(a);
    auto y = numeric(b);
    if (x && y && (a.is_number() || b.is_number())) return *x == *y;
  }
  return a == b;
}

int compare_values(const Json& a, const Json& b, const std::string& op) {
  if (a.is_string() && b.is_string()) {
    const auto& x = a.get_ref<const std::string&>();
    const auto& y = b.get_ref<const std::string&>();
    auto nx = numeric(a);
    auto ny = numeric(b);
    if (nx && ny) return *nx < *ny ? -1 : (*nx > *ny ? 1 : 0);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  auto x = numeric(a);
  auto y = numeric(b);
  if (x && y && (a.is_number() || b.is_number())) return *x < *y ? -1 : (*x > *y ? 1 : 0);
  throw EvaluationError("cannot compare " + type_name(a) + " " + one_line(dump_json(a), 40) + " " + op + " " +
                        type_name(b) + " " + one_line(dump_json(b), 40));
}

bool contains_value(const Json& haystack, const Json& needle) {
  if (haystack.is_string()) {
    if (!needle.is_string()) return false;
    return haystack.get_ref<const std::string&>().find(needle.get_ref<const std::string&>()) != std::string::npos;
  }
  if (haystack.is_array()) {
    for (const auto& item : haystack)
      if (values_equal(item, needle)) return true;
    return false;
  }
  if (haystack.is_object()) return needle.is_string() && haystack.contains(needle.get_ref<const std::string&>());
  if (haystack.is_null()) return false;
  throw EvaluationError("'contains' needs a string, list or object on its left, got " + type_name(haystack));
}

class Evaluator {
 public:
  explicit Evaluator(const EvalScope& scope) : m_scope(scope) {}

  Json eval(const Node& node) {
    switch (node.kind) {
      case Node::Kind::literal:
        return node.value;
      case Node::Kind::name:
      case Node::Kind::member:
      case Node::Kind::index: {
        Json storage;
        const Json* ref = eval_ref(node, storage);
        return ref == nullptr ? Json(nullptr) : *ref;
      }
      case Node::Kind::list: {
        Json out = Json::array();
        for (const auto& child : node.children) out.push_back(eval(*child));
        return out;
      }
      case Node::Kind::unary:
        return eval_unary(node);
      case Node::Kind::binary:
        return eval_binary(node);
      case Node::Kind::conditional:
        return is_truthy(eval(*node.children[0])) ? eval(*node.children[1]) : eval(*node.children[2]);
      case Node::Kind::call: {
        std::vector<Json> args;
        args.reserve(node.children.size());
        for (const auto& child : node.children) args.push_back(eval(*child));
        return node.function->call(args, m_scope);
      }
    }
    return nullptr;
  }

  // Paths resolve to a pointer into the scope's data, so reading `json.items[0].id` copies only
  // the leaf. Missing members give nullptr (null), never an error: absence is a fact to assert on.
  const Json* eval_ref(const Node& node, Json& storage) {
    switch (node.kind) {
      case Node::Kind::name: {
        const Json* value = m_scope.lookup(node.text);
        if (value == nullptr) throw EvaluationError("unknown name '" + node.text + "'");
        return value;
      }
      case Node::Kind::member: {
        Json base_storage;
        const Json* base = eval_ref(*node.children[0], base_storage);
        if (base == nullptr || !base->is_object()) return nullptr;
        auto it = base->find(node.text);
        if (it == base->end()) return nullptr;
        if (base == &base_storage) {
          storage = *it;
          return &storage;
        }
        return &*it;
      }
      case Node::Kind::index: {
        Json base_storage;
        const Json* base = eval_ref(*node.children[0], base_storage);
        Json key = eval(*node.children[1]);
        const Json* found = nullptr;
        if (base != nullptr && base->is_array() && key.is_number() && std::fabs(key.get<double>()) < 9.0e15) {
          auto i = static_cast<std::int64_t>(key.get<double>());
          auto size = static_cast<std::int64_t>(base->size());
          if (i < 0) i += size;  // [-1] is the last element
          if (i >= 0 && i < size) found = &(*base)[static_cast<std::size_t>(i)];
        } else if (base != nullptr && base->is_object() && key.is_string()) {
          auto it = base->find(key.get<std::string>());
          if (it != base->end()) found = &*it;
        }
        if (found != nullptr && base == &base_storage) {
          storage = *found;
          return &storage;
        }
        return found;
      }
      default:
        storage = eval(node);
        return &storage;
    }
  }

 private:
  Json eval_unary(const Node& node) {
    Json operand = eval(*node.children[0]);
    if (node.text == "!") return !is_truthy(operand);
    auto n = numeric(operand);
    if (!operand.is_number() || !n) throw EvaluationError("cannot negate " + type_name(operand));
    return number_value(-*n);
  }

  Json eval_binary(const Node& node) {
    const std::string& op = node.text;
    if (op == "&&") return is_truthy(eval(*node.children[0])) && is_truthy(eval(*node.children[1]));
    if (op == "||") return is_truthy(eval(*node.children[0])) || is_truthy(eval(*node.children[1]));
    Json left = eval(*node.children[0]);
    Json right = eval(*node.children[1]);
    if (op == "==") return values_equal(left, right);
    if (op == "!=") return !values_equal(left, right);
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      if (left.is_null() || right.is_null())
        throw EvaluationError("cannot compare " + type_name(left) + " " + op + " " + type_name(right) +
                              " (a value is missing)");
      int c = compare_values(left, right, op);
      if (op == "<") return c < 0;
      if (op == "<=") return c <= 0;
      if (op == ">") return c > 0;
      return c >= 0;
    }
    if (op == "contains") return contains_value(left, right);
    if (op == "in") return contains_value(right, left);
    if (op == "matches") {
      if (left.is_null()) return false;
      if (!left.is_string() || !right.is_string())
        throw EvaluationError("'matches' needs a string on each side, got " + type_name(left) + " and " +
                              type_name(right));
      return search_regex(left.get_ref<const std::string&>(), right.get_ref<const std::string&>());
    }
    return arithmetic(op, left, right);
  }

  static Json arithmetic(const std::string& op, const Json& left, const Json& right) {
    if (op == "+" && left.is_string() && right.is_string())
      return left.get<std::string>() + right.get<std::string>();
    if (op == "+" && left.is_array() && right.is_array()) {
      Json out = left;
      for (const auto& item : right) out.push_back(item);
      return out;
    }
    auto a = numeric(left);
    auto b = numeric(right);
    if (!a || !b || !(left.is_number() || right.is_number()))
      throw EvaluationError("cannot compute " + type_name(left) + " " + op + " " + type_name(right) +
                            (left.is_null() || right.is_null() ? " (a value is missing)" : ""));
    // Whole numbers stay exact unless they would overflow; then they become doubles.
    std::int64_t exact = 0;
    bool integers = left.is_number_integer() && right.is_number_integer() && !left.is_number_unsigned() &&
                    !right.is_number_unsigned();
    std::int64_t x = integers ? left.get<std::int64_t>() : 0;
    std::int64_t y = integers ? right.get<std::int64_t>() : 0;
    if (op == "+") return integers && !__builtin_add_overflow(x, y, &exact) ? Json(exact) : number_value(*a + *b);
    if (op == "-") return integers && !__builtin_sub_overflow(x, y, &exact) ? Json(exact) : number_value(*a - *b);
    if (op == "*") return integers && !__builtin_mul_overflow(x, y, &exact) ? Json(exact) : number_value(*a * *b);
    if (*b == 0) throw EvaluationError("division by zero");
    if (op == "/") return number_value(*a / *b);
    return number_value(std::fmod(*a, *b));
  }

  const EvalScope& m_scope;
};

// Collects the paths an expression reads: `params.limit` as {params, limit}.
void collect_references(const Node& node, std::vector<NameReference>& out) {
  if (node.kind == Node::Kind::name || node.kind == Node::Kind::member || node.kind == Node::Kind::index) {
    // Walk down to the root, remembering literal members.
    std::vector<std::string> members;
    const Node* current = &node;
    std::vector<const Node*> index_keys;
    while (current->kind == Node::Kind::member || current->kind == Node::Kind::index) {
      if (current->kind == Node::Kind::member) {
        members.push_back(current->text);
      } else {
        const Node& key = *current->children[1];
        index_keys.push_back(&key);
        if (key.kind == Node::Kind::literal && key.value.is_string()) {
          members.push_back(key.value.get<std::string>());
        } else {
          members.clear();  // a computed index: only the part before it is static
        }
      }
      current = current->children[0].get();
    }
    for (const Node* key : index_keys) collect_references(*key, out);
    if (current->kind != Node::Kind::name) {
      collect_references(*current, out);
      return;
    }
    NameReference ref;
    ref.path.push_back(current->text);
    ref.path.insert(ref.path.end(), members.rbegin(), members.rend());
    ref.column = current->column;
    out.push_back(std::move(ref));
    return;
  }
  for (const auto& child : node.children) collect_references(*child, out);
}

bool reads_context(const Node& node) {
  if (node.kind == Node::Kind::name) return true;
  if (node.kind == Node::Kind::call && node.function->reads_scope) return true;
  for (const auto& child : node.children)
    if (reads_context(*child)) return true;
  return false;
}

// The sub-expressions worth showing when an expectation fails: maximal paths and calls.
void collect_explained(const Node& node, std::vector<const Node*>& out) {
  switch (node.kind) {
    case Node::Kind::name:
    case Node::Kind::member:
    case Node::Kind::index:
      out.push_back(&node);
      return;
    case Node::Kind::call:
      if (node.function->reads_scope || !node.children.empty()) {
        bool all_literal = true;
        for (const auto& child : node.children) all_literal = all_literal && child->kind == Node::Kind::literal;
        if (!all_literal || node.function->reads_scope) {
          out.push_back(&node);
          return;
        }
      }
      return;
    default:
      for (const auto& child : node.children) collect_explained(*child, out);
  }
}

}  // namespace

std::string render_node(const Node& node);

std::string render_node(const Node& node) {
  switch (node.kind) {
    case Node::Kind::literal:
      return dump_json(node.value);
    case Node::Kind::name:
      return node.text;
    case Node::Kind::member:
      return render_node(*node.children[0]) + "." + node.text;
    case Node::Kind::index:
      return render_node(*node.children[0]) + "[" + render_node(*node.children[1]) + "]";
    case Node::Kind::call: {
      std::string out = node.text + "(";
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        if (i != 0) out += ", ";
        out += render_node(*node.children[i]);
      }
      return out + ")";
    }
    case Node::Kind::list: {
      std::string out = "[";
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        if (i != 0) out += ", ";
        out += render_node(*node.children[i]);
      }
      return out + "]";
    }
    case Node::Kind::unary:
      return node.text + render_node(*node.children[0]);
    case Node::Kind::binary:
      return "(" + render_node(*node.children[0]) + " " + node.text + " " + render_node(*node.children[1]) + ")";
    case Node::Kind::conditional:
      return render_node(*node.children[0]) + " ? " + render_node(*node.children[1]) + " : " +
             render_node(*node.children[2]);
  }
  return {};
}

Expression Expression::parse(std::string_view text) {
  Lexer lexer(text);
  Parser parser(lexer.tokens());
  Expression expression;
  expression.m_root = parser.parse_all();
  expression.m_text = std::make_shared<const std::string>(trim(text));
  return expression;
}

Json Expression::evaluate(const EvalScope& scope) const {
  if (!m_root) throw EvaluationError("empty expression");
  Evaluator evaluator(scope);
  return evaluator.eval(*m_root);
}

bool Expression::evaluate_bool(const EvalScope& scope) const { return is_truthy(evaluate(scope)); }

std::optional<Json> Expression::constant_value() const {
  if (!m_root || reads_context(*m_root)) return std::nullopt;
  struct EmptyScope : EvalScope {
    const Json* lookup(std::string_view) const override { return nullptr; }
  } empty;
  try {
    return evaluate(empty);
  } catch (const EvaluationError&) {
    return std::nullopt;
  }
}

namespace {

std::optional<bool> truth_of(const Node& node) {
  if (node.kind == Node::Kind::binary && (node.text == "||" || node.text == "&&")) {
    auto left = truth_of(*node.children[0]);
    auto right = truth_of(*node.children[1]);
    bool is_or = node.text == "||";
    if ((left && *left == is_or) || (right && *right == is_or)) return is_or;
    if (left && right) return is_or ? (*left || *right) : (*left && *right);
    return std::nullopt;
  }
  if (node.kind == Node::Kind::unary && node.text == "!") {
    auto inner = truth_of(*node.children[0]);
    if (inner) return !*inner;
    return std::nullopt;
  }
  if (reads_context(node)) return std::nullopt;
  struct EmptyScope : EvalScope {
    const Json* lookup(std::string_view) const override { return nullptr; }
  } empty;
  try {
    Evaluator evaluator(empty);
    return is_truthy(evaluator.eval(node));
  } catch (const EvaluationError&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<bool> Expression::static_truth() const {
  if (!m_root) return std::nullopt;
  return truth_of(*m_root);
}

std::vector<NameReference> Expression::references() const {
  std::vector<NameReference> out;
  if (m_root) collect_references(*m_root, out);
  return out;
}

std::string Expression::explain(const EvalScope& scope) const {
  if (!m_root) return {};
  std::vector<const Node*> nodes;
  collect_explained(*m_root, nodes);
  std::vector<std::string> seen;
  std::string out;
  for (const Node* node : nodes) {
    std::string label = render_node(*node);
    if (std::find(seen.begin(), seen.end(), label) != seen.end()) continue;
    seen.push_back(label);
    std::string value;
    try {
      Evaluator evaluator(scope);
      value = one_line(dump_json(evaluator.eval(*node)), 100);
    } catch (const EvaluationError& error) {
      value = std::string("<") + error.what() + ">";
    }
    if (!out.empty()) out += ", ";
    out += label + " = " + value;
  }
  return out;
}

const std::string& Expression::text() const {
  static const std::string empty;
  return m_text ? *m_text : empty;
}

bool is_truthy(const Json& value) {
  if (value.is_null()) return false;
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) return value.get<double>() != 0;
  if (value.is_string()) return !value.get_ref<const std::string&>().empty();
  return !value.empty();
}

std::string to_display_string(const Json& value) {
  if (value.is_null()) return {};
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
      return std::to_string(static_cast<std::int64_t>(d));
    std::ostringstream out;
    out.precision(15);
    out << d;
    return out.str();
  }
  return dump_json(value);
}

// ---------------------------------------------------------------------------------------------
// Templates

bool Template::has_holes(std::string_view text) { return text.find("{{") != std::string_view::npos; }

Template Template::parse(std::string_view text) {
  Template result;
  result.m_source = std::string(text);
  std::size_t pos = 0;
  std::string literal;
  while (pos < text.size()) {
    auto open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      literal += text.substr(pos);
      break;
    }
    literal += text.substr(pos, open - pos);
    auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      throw ExpressionError(static_cast<int>(open) + 1, "'{{' without a closing '}}'");
    if (!literal.empty()) {
      result.m_parts.push_back(Part{false, literal, {}, 0});
      literal.clear();
    }
    std::string_view inner = text.substr(open + 2, close - open - 2);
    int inner_offset = static_cast<int>(open) + 2;
    try {
      Part part;
      part.is_hole = true;
      part.expression = Expression::parse(inner);
      part.offset = inner_offset + 1;
      result.m_parts.push_back(std::move(part));
    } catch (const ExpressionError& error) {
      if (error.what() == std::string("empty expression"))
        throw ExpressionError(static_cast<int>(open) + 1, "empty '{{ }}'");
      throw ExpressionError(inner_offset + error.column(), error.what());
    }
    pos = close + 2;
  }
  if (!literal.empty()) result.m_parts.push_back(Part{false, literal, {}, 0});
  return result;
}

Json Template::render_value(const EvalScope& scope) const {
  if (m_parts.size() == 1 && m_parts[0].is_hole) return m_parts[0].expression.evaluate(scope);
  return render(scope);
}

std::string Template::render(const EvalScope& scope) const {
  std::string out;
  for (const auto& part : m_parts) {
    if (part.is_hole) {
      out += to_display_string(part.expression.evaluate(scope));
    } else {
      out += part.literal;
    }
  }
  return out;
}

std::vector<NameReference> Template::references() const {
  std::vector<NameReference> out;
  for (const auto& part : m_parts) {
    if (!part.is_hole) continue;
    for (auto ref : part.expression.references()) {
      ref.column += part.offset - 1;
      out.push_back(std::move(ref));
    }
  }
  return out;
}

}  // namespace ttops
