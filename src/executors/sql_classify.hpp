#pragma once
// SQL text as the postgres executor needs to see it: split into statements and classified by
// what they do to the database. A small lexer, not a parser: it skips comments, string literals,
// quoted identifiers and dollar-quoted bodies, so a ';' or a DELETE inside them counts for nothing.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/effect.hpp"

namespace ttops::sql {

struct Token {
  enum class Kind { word, quoted_identifier, string, number, parameter, punctuation };
  Kind kind = Kind::word;
  std::string text;         // words upper-cased; quoted identifiers without quotes; others as written
  std::size_t offset = 0;   // where the token starts in its statement's text
  std::size_t length = 0;   // how long it is there
  int depth = 0;            // parenthesis depth
};

/// One statement: its text (trimmed, without the ';') and its tokens.
struct Statement {
  std::string text;
  std::vector<Token> tokens;
};

/// A query split into statements. Empty statements (";;", comments only) are dropped.
struct Script {
  std::vector<Statement> statements;
  bool unterminated = false;  // a quote, comment or dollar-quoted body runs to the end of the text
};

Script parse(std::string_view sql);

/// What a statement does: read (SELECT, SHOW, EXPLAIN, WITH without data-modifying parts),
/// mutate (INSERT, UPDATE, CREATE, VACUUM, SET, pg_terminate_backend()…, and anything not
/// recognised) or destructive (DELETE, DROP, TRUNCATE, ALTER … DROP).
Effect classify(const Statement& statement);
/// The strongest class over every statement of the text.
Effect classify(std::string_view sql);

/// The leading keyword(s), e.g. "SELECT", "CREATE TABLE", "VACUUM"; "" for no statement.
std::string command_of(const Statement& statement);

/// BEGIN, COMMIT, ROLLBACK, SAVEPOINT…: ttops owns the step's transaction.
bool is_transaction_control(const Statement& statement);
/// VACUUM, CREATE INDEX CONCURRENTLY, CREATE DATABASE…: PostgreSQL refuses them in a transaction.
bool needs_autocommit(const Statement& statement);
/// The highest $n placeholder in the script (0 when there is none).
int highest_parameter(const Script& script);

/// A statement that shows what another would do without doing it.
struct PreviewSql {
  std::string text;
  bool counts_deletions = false;  // the rewrite of a DELETE: SELECT count(*) AS would_delete …
};

/// The safe substitute of a statement, or nullopt when there is none: a read statement as it is;
/// a statement whose only effect is pg_terminate_backend(x) or pg_cancel_backend(x), with the call
/// replaced by its argument (so it lists the backends it would end); a plain DELETE … WHERE as a
/// count of the rows it would delete.
std::optional<PreviewSql> preview_statement(const Statement& statement);

}  // namespace ttops::sql
