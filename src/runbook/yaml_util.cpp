#include "runbook/yaml_util.hpp"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

SourceLocation position_of(std::string_view text, std::size_t offset, const std::string& file) {
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return SourceLocation{file, line, static_cast<int>(offset - line_start) + 1};
}

SourceLocation position_of(const YAML::Mark& mark, const std::string& file) {
  if (mark.line < 0) return SourceLocation{file, 1, 1};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

// yaml-cpp keeps one of two equal keys of a map without a word; a runbook that says `expect:`
// twice would lose one. Recursion is bounded by yaml-cpp's own depth limit.
void check_duplicate_keys(const YAML::Node& node, Diagnostics& diagnostics) {
  if (node.IsMap()) {
    std::map<std::string, YAML::Mark> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar()) {
        auto [first, fresh] = seen.emplace(it->first.Scalar(), it->first.Mark());
        if (!fresh)
          diagnostics.error(it->first, "duplicate key '" + one_line(it->first.Scalar(), 80) +
                                           "' (first given at line " + std::to_string(first->second.line + 1) + ")");
      }
      check_duplicate_keys(it->second, diagnostics);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_duplicate_keys(item, diagnostics);
  }
}

// Whether the quoted scalar opening at `offset` is closed before the end of the text.
bool quote_closes(std::string_view text, std::size_t offset) {
  const char quote = text[offset];
  for (std::size_t i = offset + 1; i < text.size(); ++i) {
    if (quote == '"' && text[i] == '\\') {
      ++i;  // an escape: the next character is data
    } else if (text[i] == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;  // '' is a quote inside a single-quoted string
        continue;
      }
      return true;
    }
  }
  return false;
}

// yaml-cpp 0.7 accepts a quoted string that is never closed and makes everything up to the end of
// the file its text: `title: "Restart` would swallow the steps and report "no steps". Recursion is
// bounded by yaml-cpp's own depth limit.
void check_closed_quotes(const YAML::Node& node, std::string_view text, Diagnostics& diagnostics) {
  if (node.IsScalar()) {
    const auto pos = node.Mark().pos;
    if (node.Tag() == "!" && pos >= 0 && static_cast<std::size_t>(pos) < text.size() &&
        (text[pos] == '"' || text[pos] == '\'') && !quote_closes(text, static_cast<std::size_t>(pos)))
      diagnostics.error(node, std::string("this quoted string is never closed: add the closing ") + text[pos] +
                                  " (without it, everything to the end of the file is its text)");
  } else if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      check_closed_quotes(it->first, text, diagnostics);
      check_closed_quotes(it->second, text, diagnostics);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_closed_quotes(item, text, diagnostics);
  }
}

// The line (from 1) where a second document starts: a '---' (or '...') marker at the start of a
// line after content, with more content after it. Such a marker ends a document anywhere, even in
// a block scalar, so no parsing is needed. nullopt for one document.
std::optional<int> second_document_line(std::string_view text) {
  bool content = false;
  std::optional<int> marker;
  int line = 0;
  for (std::size_t start = 0; start < text.size();) {
    ++line;
    auto end = text.find('\n', start);
    std::string_view row = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    bool is_marker = (row.rfind("---", 0) == 0 || row.rfind("...", 0) == 0) &&
                     (row.size() == 3 || row[3] == ' ' || row[3] == '\t' || row[3] == '\r');
    std::string_view rest = trim(is_marker ? row.substr(3) : row);
    bool has_content = !rest.empty() && rest.front() != '#' && (is_marker || rest.front() != '%');
    if (is_marker && content && !marker) marker = line;
    if (has_content && marker && (line != *marker || row.front() == '-')) return marker;
    content = content || has_content;
  }
  return std::nullopt;
}

}  // namespace

std::optional<YAML::Node> load_document(std::string_view text, Diagnostics& diagnostics) {
  const std::string& file = diagnostics.file();
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    diagnostics.error(SourceLocation{file, 1, 1}, "not a text file (it holds NUL bytes)");
    return std::nullopt;
  }
  if (std::string valid = to_valid_utf8(text); valid != text) {
    auto [bad, ignored] = std::mismatch(text.begin(), text.end(), valid.begin(), valid.end());
    auto offset = static_cast<std::size_t>(bad - text.begin());
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[offset]));
    diagnostics.error(position_of(text, offset, file),
                      std::string("not valid UTF-8 (byte ") + hex + "): save the file as UTF-8");
    return std::nullopt;
  }
  // A second document is found in the text, not with YAML::LoadAll: on some malformed input
  // yaml-cpp 0.7's LoadAll never stops making empty documents (found by fuzz_loader).
  if (auto second = second_document_line(text)) {
    diagnostics.error(SourceLocation{file, *second, 1}, "a second YAML document (after '---'): the file must hold one");
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& error) {
    diagnostics.error(position_of(error.mark, file), "YAML: nested too deeply (more than " +
                                                         std::to_string(error.depth() - 1) + " levels)");
    return std::nullopt;
  } catch (const YAML::Exception& error) {
    diagnostics.error(position_of(error.mark, file), "YAML: " + error.msg);
    return std::nullopt;
  }
  std::size_t before = diagnostics.size();
  check_closed_quotes(root, text, diagnostics);
  if (diagnostics.size() != before) return std::nullopt;
  check_duplicate_keys(root, diagnostics);
  if (diagnostics.size() != before) return std::nullopt;
  return root;
}

MapEntries::MapEntries(const YAML::Node& map) {
  if (!map.IsMap()) return;
  m_entries.reserve(map.size());
  for (auto it = map.begin(); it != map.end(); ++it)
    if (it->first.IsScalar()) m_entries.emplace_back(it->first.Scalar(), it->second);
}

YAML::Node MapEntries::operator[](std::string_view key) const {
  for (const auto& [name, value] : m_entries)
    if (name == key) return value;
  // An undefined node: what yaml-cpp's own lookup gives for a missing key.
  static const YAML::Node missing = [] {
    YAML::Node scratch(YAML::NodeType::Map);
    return scratch["missing"];
  }();
  return missing;
}

void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what,
                Diagnostics& diagnostics) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      diagnostics.error(it->first, what + ": keys must be plain names");
      continue;
    }
    const std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      diagnostics.error(it->first, "unknown key '" + key + "' in " + what + did_you_mean(key, allowed));
  }
}

std::optional<std::string> scalar_string(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics) {
  if (!node.IsScalar()) {
    diagnostics.error(node, what + " must be a single value, not a " + (node.IsMap() ? "map" : node.IsSequence() ? "list" : "null"));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<bool> scalar_bool(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics) {
  auto text = scalar_string(node, what, diagnostics);
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  diagnostics.error(node, what + " must be true or false, not '" + *text + "'");
  return std::nullopt;
}

std::optional<long long> scalar_int(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics) {
  auto text = scalar_string(node, what, diagnostics);
  if (!text) return std::nullopt;
  try {
    std::size_t used = 0;
    long long value = std::stoll(*text, &used);
    if (used == text->size()) return value;
  } catch (...) {
  }
  diagnostics.error(node, what + " must be a whole number, not '" + *text + "'");
  return std::nullopt;
}

std::vector<std::string> string_list(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) {
    diagnostics.error(node, what + " must be a list of strings");
    return out;
  }
  for (const auto& item : node) {
    if (auto text = scalar_string(item, what + " entries", diagnostics)) out.push_back(*text);
  }
  return out;
}

namespace {

Json plain_scalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  char first = text[0];
  if ((first >= '0' && first <= '9') || first == '-' || first == '+' || first == '.') {
    try {
      std::size_t used = 0;
      long long integer = std::stoll(text, &used, 10);
      if (used == text.size()) return integer;
    } catch (...) {
    }
    try {
      std::size_t used = 0;
      double number = std::stod(text, &used);
      if (used == text.size() && std::isfinite(number)) return number;
    } catch (...) {
    }
  }
  return text;
}

}  // namespace

Json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!" and plain ones "?".
      if (node.Tag() == "!") return node.Scalar();
      return plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (auto it = node.begin(); it != node.end(); ++it) out[it->first.Scalar()] = to_json(it->second);
      return out;
    }
  }
  return nullptr;
}

int scalar_offset(const YAML::Node& node) { return node.Tag() == "!" ? 1 : 0; }

char SourceText::at(int line, int column) const {
  if (line < 1 || static_cast<std::size_t>(line) > lines.size()) return '\0';
  const auto& text = lines[static_cast<std::size_t>(line - 1)];
  if (column < 1 || static_cast<std::size_t>(column) > text.size()) return '\0';
  return text[static_cast<std::size_t>(column - 1)];
}

}  // namespace ttops
