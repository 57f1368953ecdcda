#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace ttops {

/// A position in a runbook or config file. Lines and columns count from 1; 0 means unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  /// "file:line:col", or as much of it as is known.
  std::string to_string() const;
  /// The same location shifted right by `offset` columns (a position inside a scalar).
  SourceLocation shifted(int offset) const;
};

/// One problem in the input, with where it is.
struct Diagnostic {
  SourceLocation where;
  std::string message;
};

/// Collects every problem of a load so the user sees them all at once (kubectl gathers batch
/// errors instead of stopping at the first). Errors in a runbook never throw past the loader.
class Diagnostics {
 public:
  void error(SourceLocation where, std::string message);
  /// Where a YAML node starts in the file currently being read.
  SourceLocation locate(const YAML::Node& node) const;
  void error(const YAML::Node& node, std::string message);

  void set_file(std::string file) { m_file = std::move(file); }
  const std::string& file() const { return m_file; }

  bool empty() const { return m_items.empty(); }
  std::size_t size() const { return m_items.size(); }
  const std::vector<Diagnostic>& items() const { return m_items; }
  void append(const Diagnostics& other);

  /// One line per problem: `file:line:col: message`, sorted by file and position.
  void print(std::ostream& out) const;

 private:
  std::string m_file;
  std::vector<Diagnostic> m_items;
};

}  // namespace ttops
