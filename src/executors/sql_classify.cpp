#include "executors/sql_classify.hpp"

#include <algorithm>
#include <iterator>
#include <cctype>
#include <charconv>

namespace ttops::sql {

namespace {

bool is_ident_start(unsigned char c) { return std::isalpha(c) != 0 || c == '_' || c >= 0x80; }
bool is_ident_char(unsigned char c) { return std::isalnum(c) != 0 || c == '_' || c == '$' || c >= 0x80; }
bool is_tag_char(unsigned char c) { return std::isalnum(c) != 0 || c == '_' || c >= 0x80; }

std::string upper_ascii(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Splits SQL into tokens with absolute offsets, and statements at top-level ';'.
class Lexer {
 public:
  explicit Lexer(std::string_view sql) : m_sql(sql) {}

  Script run() {
    const std::size_t n = m_sql.size();
    std::size_t i = 0;
    while (i < n) {
      const auto c = static_cast<unsigned char>(m_sql[i]);
      const char next = i + 1 < n ? m_sql[i + 1] : '\0';
      if (std::isspace(c) != 0) {
        ++i;
      } else if (c == '-' && next == '-') {
        auto end = m_sql.find('\n', i);
        i = end == std::string_view::npos ? n : end + 1;
      } else if (c == '/' && next == '*') {
        i = skip_block_comment(i);
      } else if (c == '\'') {
        i = lex_string(i, i, false);
      } else if ((c == 'E' || c == 'e') && next == '\'') {
        i = lex_string(i, i + 1, true);  // E'…' allows backslash escapes, so \' does not end it
      } else if (c == '"') {
        i = lex_quoted_identifier(i);
      } else if (c == '$') {
        i = lex_dollar(i);
      } else if (is_ident_start(c)) {
        std::size_t end = i + 1;
        while (end < n && is_ident_char(static_cast<unsigned char>(m_sql[end]))) ++end;
        push(Token::Kind::word, upper_ascii(m_sql.substr(i, end - i)), i, end - i);
        i = end;
      } else if (std::isdigit(c) != 0 || (c == '.' && std::isdigit(static_cast<unsigned char>(next)) != 0)) {
        std::size_t end = i;
        while (end < n && (std::isalnum(static_cast<unsigned char>(m_sql[end])) != 0 || m_sql[end] == '.' ||
                           ((m_sql[end] == '+' || m_sql[end] == '-') && (m_sql[end - 1] == 'e' || m_sql[end - 1] == 'E'))))
          ++end;
        push(Token::Kind::number, std::string(m_sql.substr(i, end - i)), i, end - i);
        i = end;
      } else if (c == ';') {
        flush();
        ++i;
      } else if (c == '(') {
        push(Token::Kind::punctuation, "(", i, 1);
        ++m_depth;
        ++i;
      } else if (c == ')') {
        m_depth = std::max(0, m_depth - 1);
        push(Token::Kind::punctuation, ")", i, 1);
        ++i;
      } else {
        push(Token::Kind::punctuation, std::string(1, static_cast<char>(c)), i, 1);
        ++i;
      }
    }
    flush();
    return std::move(m_script);
  }

 private:
  void push(Token::Kind kind, std::string text, std::size_t offset, std::size_t length) {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    token.offset = offset;
    token.length = length;
    token.depth = m_depth;
    m_tokens.push_back(std::move(token));
  }

  void flush() {
    if (!m_tokens.empty()) {
      std::size_t begin = m_tokens.front().offset;
      std::size_t end = m_tokens.back().offset + m_tokens.back().length;
      Statement statement;
      statement.text = std::string(m_sql.substr(begin, end - begin));
      for (auto& token : m_tokens) token.offset -= begin;
      statement.tokens = std::move(m_tokens);
      m_script.statements.push_back(std::move(statement));
    }
    m_tokens.clear();
    m_depth = 0;
  }

  std::size_t skip_block_comment(std::size_t i) {
    // Block comments nest in PostgreSQL.
    int nesting = 0;
    const std::size_t n = m_sql.size();
    while (i < n) {
      if (m_sql[i] == '/' && i + 1 < n && m_sql[i + 1] == '*') {
        ++nesting;
        i += 2;
      } else if (m_sql[i] == '*' && i + 1 < n && m_sql[i + 1] == '/') {
        i += 2;
        if (--nesting == 0) return i;
      } else {
        ++i;
      }
    }
    m_script.unterminated = true;
    return n;
  }

  std::size_t lex_string(std::size_t start, std::size_t quote, bool backslash_escapes) {
    const std::size_t n = m_sql.size();
    std::size_t i = quote + 1;
    while (i < n) {
      if (backslash_escapes && m_sql[i] == '\\') {
        i += 2;
      } else if (m_sql[i] == '\'') {
        if (i + 1 < n && m_sql[i + 1] == '\'') {
          i += 2;
        } else {
          ++i;
          push(Token::Kind::string, std::string(m_sql.substr(start, i - start)), start, i - start);
          return i;
        }
      } else {
        ++i;
      }
    }
    m_script.unterminated = true;
    push(Token::Kind::string, std::string(m_sql.substr(start)), start, n - start);
    return n;
  }

  std::size_t lex_quoted_identifier(std::size_t start) {
    const std::size_t n = m_sql.size();
    std::string name;
    std::size_t i = start + 1;
    while (i < n) {
      if (m_sql[i] == '"') {
        if (i + 1 < n && m_sql[i + 1] == '"') {
          name += '"';
          i += 2;
          continue;
        }
        ++i;
        push(Token::Kind::quoted_identifier, name, start, i - start);
        return i;
      }
      name += m_sql[i++];
    }
    m_script.unterminated = true;
    push(Token::Kind::quoted_identifier, name, start, n - start);
    return n;
  }

  std::size_t lex_dollar(std::size_t start) {
    const std::size_t n = m_sql.size();
    std::size_t i = start + 1;
    if (i < n && std::isdigit(static_cast<unsigned char>(m_sql[i])) != 0) {
      while (i < n && std::isdigit(static_cast<unsigned char>(m_sql[i])) != 0) ++i;
      push(Token::Kind::parameter, std::string(m_sql.substr(start, i - start)), start, i - start);
      return i;
    }
    // $tag$ … $tag$ (the tag may be empty; it does not start with a digit).
    while (i < n && is_tag_char(static_cast<unsigned char>(m_sql[i]))) ++i;
    if (i < n && m_sql[i] == '$') {
      std::string_view tag = m_sql.substr(start, i - start + 1);
      auto close = m_sql.find(tag, i + 1);
      std::size_t end = close == std::string_view::npos ? n : close + tag.size();
      if (close == std::string_view::npos) m_script.unterminated = true;
      push(Token::Kind::string, std::string(m_sql.substr(start, end - start)), start, end - start);
      return end;
    }
    push(Token::Kind::punctuation, "$", start, 1);
    return start + 1;
  }

  std::string_view m_sql;
  Script m_script;
  std::vector<Token> m_tokens;
  int m_depth = 0;
};

bool is_word(const Token& token, std::string_view word) {
  return token.kind == Token::Kind::word && token.text == word;
}

bool is_punct(const Token& token, std::string_view text) {
  return token.kind == Token::Kind::punctuation && token.text == text;
}

bool word_at(const std::vector<Token>& tokens, std::size_t i, std::string_view word) {
  return i < tokens.size() && is_word(tokens[i], word);
}

// Where the statement's own keywords start: after any opening parentheses of "(SELECT …)".
std::size_t first_keyword(const std::vector<Token>& tokens) {
  std::size_t i = 0;
  while (i < tokens.size() && is_punct(tokens[i], "(")) ++i;
  return i;
}

// Functions whose call changes something even inside a read-only transaction, or that a
// read-only transaction refuses. Matched on the called name (prefix: every name starting so).
struct SideEffectFunction {
  std::string_view name;
  bool prefix;
  Effect effect;
};

constexpr SideEffectFunction k_side_effect_functions[] = {
    {"pg_terminate_backend", false, Effect::mutate},
    {"pg_cancel_backend", false, Effect::mutate},
    {"pg_reload_conf", false, Effect::mutate},
    {"pg_rotate_logfile", false, Effect::mutate},
    {"pg_switch_wal", false, Effect::mutate},
    {"pg_promote", false, Effect::mutate},
    {"pg_create_restore_point", false, Effect::mutate},
    {"pg_wal_replay_pause", false, Effect::mutate},
    {"pg_wal_replay_resume", false, Effect::mutate},
    {"pg_stat_reset", true, Effect::mutate},
    {"pg_stat_statements_reset", false, Effect::mutate},
    {"pg_advisory_", true, Effect::mutate},
    {"pg_try_advisory_", true, Effect::mutate},
    {"set_config", false, Effect::mutate},
    {"nextval", false, Effect::mutate},
    {"setval", false, Effect::mutate},
    {"pg_notify", false, Effect::mutate},
    {"pg_logical_emit_message", false, Effect::mutate},
    {"pg_create_physical_replication_slot", false, Effect::mutate},
    {"pg_create_logical_replication_slot", false, Effect::mutate},
    {"pg_copy_physical_replication_slot", false, Effect::mutate},
    {"pg_copy_logical_replication_slot", false, Effect::mutate},
    {"pg_replication_slot_advance", false, Effect::mutate},
    {"pg_replication_origin_", true, Effect::mutate},
    {"pg_drop_replication_slot", false, Effect::destructive},
    {"lo_unlink", false, Effect::destructive},
    {"lo_", true, Effect::mutate},
    {"dblink", true, Effect::mutate},
    {"pg_file_unlink", false, Effect::destructive},
    {"pg_file_", true, Effect::mutate},
    {"pg_import_system_collations", false, Effect::mutate},
};

// Settings that would let a statement out of the read-only transaction or change who it runs as.
bool is_guarded_setting(std::string_view name) {
  std::string lower = lower_ascii(name);
  return lower == "transaction_read_only" || lower == "default_transaction_read_only" ||
         lower == "session_authorization" || lower == "role";
}

std::string called_name(const Token& token) {
  return token.kind == Token::Kind::word ? lower_ascii(token.text) : token.text;
}

bool is_call(const std::vector<Token>& tokens, std::size_t i) {
  return (tokens[i].kind == Token::Kind::word || tokens[i].kind == Token::Kind::quoted_identifier) &&
         i + 1 < tokens.size() && is_punct(tokens[i + 1], "(");
}

// set_config('app.tenant_id', …, true) only sets a value for the rest of the transaction.
bool is_transaction_local_set_config(const std::vector<Token>& tokens, std::size_t i) {
  if (i + 2 >= tokens.size() || tokens[i + 2].kind != Token::Kind::string) return false;
  const std::string& literal = tokens[i + 2].text;
  if (literal.size() < 2 || literal.front() != '\'') return false;
  if (is_guarded_setting(literal.substr(1, literal.size() - 2))) return false;
  const int inside = tokens[i + 1].depth + 1;
  int commas = 0;
  std::vector<const Token*> third;
  for (std::size_t j = i + 2; j < tokens.size(); ++j) {
    const Token& token = tokens[j];
    if (is_punct(token, ")") && token.depth == tokens[i + 1].depth) break;
    if (token.depth == inside && is_punct(token, ",")) {
      ++commas;
      continue;
    }
    if (commas == 2) third.push_back(&token);
  }
  return commas == 2 && third.size() == 1 && is_word(*third.front(), "TRUE");
}

Effect functions_effect(const std::vector<Token>& tokens) {
  Effect effect = Effect::read;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!is_call(tokens, i)) continue;
    std::string name = called_name(tokens[i]);
    for (const auto& function : k_side_effect_functions) {
      bool matches = function.prefix ? name.rfind(function.name, 0) == 0 : name == function.name;
      if (!matches) continue;
      if (name == "set_config" && is_transaction_local_set_config(tokens, i)) continue;
      effect = max_effect(effect, function.effect);
    }
  }
  return effect;
}

// SELECT … INTO creates a table; FOR UPDATE/SHARE locks rows.
Effect select_extras(const std::vector<Token>& tokens) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (is_word(tokens[i], "INTO") && tokens[i].depth == 0) return Effect::mutate;
    if (is_word(tokens[i], "FOR") && (word_at(tokens, i + 1, "UPDATE") || word_at(tokens, i + 1, "SHARE") ||
                                      word_at(tokens, i + 1, "NO") || word_at(tokens, i + 1, "KEY")))
      return Effect::mutate;
  }
  return Effect::read;
}

// WITH may hold data-modifying statements, and its main statement may be one.
Effect with_effect(const std::vector<Token>& tokens) {
  Effect effect = Effect::read;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Token& token = tokens[i];
    if (token.kind != Token::Kind::word) continue;
    const bool after_modifier =
        i > 0 && (is_word(tokens[i - 1], "FOR") || is_word(tokens[i - 1], "KEY") || is_word(tokens[i - 1], "ON"));
    if (token.text == "DELETE" && !after_modifier) effect = max_effect(effect, Effect::destructive);
    if ((token.text == "INSERT" || token.text == "MERGE") || (token.text == "UPDATE" && !after_modifier))
      effect = max_effect(effect, Effect::mutate);
  }
  return max_effect(effect, select_extras(tokens));
}

Effect classify_tokens(const std::string& text, const std::vector<Token>& tokens);

Effect explain_effect(const std::string& text, const std::vector<Token>& tokens, std::size_t at) {
  std::size_t i = at + 1;
  bool analyze = false;
  if (i < tokens.size() && is_punct(tokens[i], "(")) {
    const int depth = tokens[i].depth;
    std::size_t j = i + 1;
    for (; j < tokens.size() && !(is_punct(tokens[j], ")") && tokens[j].depth == depth); ++j) {
      if (is_word(tokens[j], "ANALYZE") || is_word(tokens[j], "ANALYSE")) {
        bool off = j + 1 < tokens.size() && (is_word(tokens[j + 1], "FALSE") || is_word(tokens[j + 1], "OFF") ||
                                             (tokens[j + 1].kind == Token::Kind::number && tokens[j + 1].text == "0"));
        if (!off) analyze = true;
      }
    }
    i = j + 1;
  } else {
    while (i < tokens.size() && (is_word(tokens[i], "ANALYZE") || is_word(tokens[i], "ANALYSE") ||
                                 is_word(tokens[i], "VERBOSE"))) {
      if (!is_word(tokens[i], "VERBOSE")) analyze = true;
      ++i;
    }
  }
  if (!analyze) return Effect::read;  // a plan, not a run
  // EXPLAIN ANALYZE runs the statement: it does what the statement does.
  std::vector<Token> inner(tokens.begin() + static_cast<std::ptrdiff_t>(std::min(i, tokens.size())), tokens.end());
  return classify_tokens(text, inner);
}

Effect set_effect(const std::vector<Token>& tokens, std::size_t at) {
  std::size_t i = at + 1;
  if (!word_at(tokens, i, "LOCAL")) return Effect::mutate;  // SET / SET SESSION outlive the step
  ++i;
  if (i >= tokens.size()) return Effect::mutate;
  const Token& name = tokens[i];
  if (is_word(name, "TRANSACTION") || is_word(name, "SESSION") || is_word(name, "ROLE")) return Effect::mutate;
  if (name.kind != Token::Kind::word && name.kind != Token::Kind::quoted_identifier) return Effect::mutate;
  return is_guarded_setting(name.text) ? Effect::mutate : Effect::read;
}

Effect classify_tokens(const std::string& text, const std::vector<Token>& tokens) {
  std::size_t at = first_keyword(tokens);
  if (at >= tokens.size()) return tokens.empty() ? Effect::read : Effect::mutate;
  const Token& first = tokens[at];
  if (first.kind != Token::Kind::word) return Effect::mutate;  // not recognised: assume it writes
  const std::string& verb = first.text;
  Effect effect = Effect::mutate;
  if (verb == "SELECT" || verb == "VALUES" || verb == "TABLE") {
    effect = select_extras(tokens);
  } else if (verb == "SHOW") {
    effect = Effect::read;
  } else if (verb == "WITH") {
    effect = with_effect(tokens);
  } else if (verb == "EXPLAIN") {
    effect = explain_effect(text, tokens, at);
  } else if (verb == "SET") {
    effect = set_effect(tokens, at);
  } else if (verb == "DELETE" || verb == "DROP" || verb == "TRUNCATE") {
    effect = Effect::destructive;
  } else if (verb == "ALTER") {
    bool drops = std::any_of(tokens.begin(), tokens.end(), [](const Token& t) { return is_word(t, "DROP"); });
    effect = drops ? Effect::destructive : Effect::mutate;
  }
  return max_effect(effect, functions_effect(tokens));
}

std::optional<Statement> reparse_single(const std::string& text) {
  Script script = parse(text);
  if (script.unterminated || script.statements.size() != 1) return std::nullopt;
  return std::move(script.statements.front());
}

}  // namespace

Script parse(std::string_view sql) { return Lexer(sql).run(); }

Effect classify(const Statement& statement) { return classify_tokens(statement.text, statement.tokens); }

Effect classify(std::string_view sql) {
  Script script = parse(sql);
  Effect effect = script.unterminated ? Effect::mutate : Effect::read;
  for (const auto& statement : script.statements) effect = max_effect(effect, classify(statement));
  return effect;
}

std::string command_of(const Statement& statement) {
  const auto& tokens = statement.tokens;
  std::size_t at = first_keyword(tokens);
  if (at >= tokens.size() || tokens[at].kind != Token::Kind::word) return "";
  std::string verb = tokens[at].text;
  if (verb != "CREATE" && verb != "ALTER" && verb != "DROP") return verb;
  // CREATE [OR REPLACE] [UNIQUE | TEMP | UNLOGGED | MATERIALIZED …] <object>
  static constexpr std::string_view k_modifiers[] = {"OR",       "REPLACE", "UNIQUE", "TEMP",        "TEMPORARY",
                                                     "UNLOGGED", "GLOBAL",  "LOCAL",  "MATERIALIZED"};
  std::size_t i = at + 1;
  while (i < tokens.size() && tokens[i].kind == Token::Kind::word &&
         std::find(std::begin(k_modifiers), std::end(k_modifiers), tokens[i].text) != std::end(k_modifiers))
    ++i;
  if (i >= tokens.size() || tokens[i].kind != Token::Kind::word) return verb;
  std::string object = tokens[i].text;
  if (verb == "CREATE" && object == "TABLE" &&
      std::any_of(tokens.begin() + static_cast<std::ptrdiff_t>(i), tokens.end(),
                  [](const Token& t) { return is_word(t, "AS") && t.depth == 0; }))
    return "CREATE TABLE AS";
  return verb + " " + object;
}

bool is_transaction_control(const Statement& statement) {
  const auto& tokens = statement.tokens;
  std::size_t at = first_keyword(tokens);
  if (at >= tokens.size() || tokens[at].kind != Token::Kind::word) return false;
  const std::string& verb = tokens[at].text;
  if (verb == "BEGIN" || verb == "COMMIT" || verb == "END" || verb == "ROLLBACK" || verb == "ABORT" ||
      verb == "SAVEPOINT" || verb == "RELEASE")
    return true;
  if (verb == "START") return word_at(tokens, at + 1, "TRANSACTION");
  if (verb == "PREPARE") return word_at(tokens, at + 1, "TRANSACTION");
  return false;
}

bool needs_autocommit(const Statement& statement) {
  const auto& tokens = statement.tokens;
  std::size_t at = first_keyword(tokens);
  if (at >= tokens.size() || tokens[at].kind != Token::Kind::word) return false;
  const std::string& verb = tokens[at].text;
  auto has_word = [&](std::string_view word) {
    return std::any_of(tokens.begin(), tokens.end(), [&](const Token& t) { return is_word(t, word); });
  };
  if (verb == "VACUUM") return true;
  if (verb == "ALTER") return word_at(tokens, at + 1, "SYSTEM");
  if (verb == "CREATE" || verb == "DROP") {
    if (word_at(tokens, at + 1, "DATABASE") || word_at(tokens, at + 1, "TABLESPACE")) return true;
    bool index = word_at(tokens, at + 1, "INDEX") || (word_at(tokens, at + 1, "UNIQUE") && word_at(tokens, at + 2, "INDEX"));
    return index && has_word("CONCURRENTLY");
  }
  if (verb == "REINDEX") {
    std::size_t i = at + 1;
    if (i < tokens.size() && is_punct(tokens[i], "(")) {
      while (i < tokens.size() && !(is_punct(tokens[i], ")") && tokens[i].depth == tokens[at].depth)) ++i;
      ++i;
    }
    return has_word("CONCURRENTLY") || word_at(tokens, i, "DATABASE") || word_at(tokens, i, "SYSTEM");
  }
  if (verb == "CLUSTER") return at + 1 == tokens.size();  // CLUSTER of every table
  return false;
}

int highest_parameter(const Script& script) {
  int highest = 0;
  for (const auto& statement : script.statements) {
    for (const auto& token : statement.tokens) {
      if (token.kind != Token::Kind::parameter) continue;
      int number = 0;
      auto [end, error] = std::from_chars(token.text.data() + 1, token.text.data() + token.text.size(), number);
      (void)end;
      if (error == std::errc()) highest = std::max(highest, number);
    }
  }
  return highest;
}

std::optional<PreviewSql> preview_statement(const Statement& statement) {
  if (classify(statement) == Effect::read) return PreviewSql{statement.text, false};
  const auto& tokens = statement.tokens;

  // pg_terminate_backend(pid) -> (pid): the same rows, nobody ended.
  std::vector<std::pair<std::size_t, std::size_t>> cuts;  // [begin, end) in the text
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!is_call(tokens, i)) continue;
    std::string name = called_name(tokens[i]);
    if (name != "pg_terminate_backend" && name != "pg_cancel_backend") continue;
    std::size_t begin = tokens[i].offset;
    if (i >= 2 && is_punct(tokens[i - 1], ".") && called_name(tokens[i - 2]) == "pg_catalog") begin = tokens[i - 2].offset;
    cuts.emplace_back(begin, tokens[i].offset + tokens[i].length);
  }
  if (!cuts.empty()) {
    std::string text = statement.text;
    for (auto it = cuts.rbegin(); it != cuts.rend(); ++it) text.erase(it->first, it->second - it->first);
    auto rewritten = reparse_single(text);
    if (rewritten && classify(*rewritten) == Effect::read) return PreviewSql{text, false};
    return std::nullopt;
  }

  // DELETE FROM t WHERE … -> SELECT count(*) AS would_delete FROM t WHERE …
  std::size_t at = first_keyword(tokens);
  if (at == 0 && word_at(tokens, 0, "DELETE") && word_at(tokens, 1, "FROM") && tokens.size() > 2) {
    for (const auto& token : tokens) {
      if (token.depth == 0 && (is_word(token, "USING") || is_word(token, "RETURNING") || is_word(token, "CURRENT")))
        return std::nullopt;
    }
    std::string text = "SELECT count(*) AS would_delete FROM " + statement.text.substr(tokens[2].offset);
    auto rewritten = reparse_single(text);
    if (rewritten && classify(*rewritten) == Effect::read) return PreviewSql{text, true};
  }
  return std::nullopt;
}

}  // namespace ttops::sql
