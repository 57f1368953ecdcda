#pragma once
// Small helpers for reading YAML with positions: every check reports file:line:col.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/diagnostics.hpp"
#include "ttops/json.hpp"

namespace ttops {

/// Parses the one YAML document of a runbook or config file, reporting with file:line:col what
/// yaml-cpp would let through or describe badly: bytes that are not text (NUL, invalid UTF-8), a
/// second document after '---' (yaml-cpp reads the first only), nesting too deep to parse, and a
/// key given twice in one map (yaml-cpp keeps one silently). `diagnostics` must be set to the
/// file. The root, or nullopt when there is a problem.
std::optional<YAML::Node> load_document(std::string_view text, Diagnostics& diagnostics);

/// A map node's entries, read once. Looking a key up in yaml-cpp costs thousands of
/// instructions (it converts every key of the map to compare, and may create nodes); a step
/// reads a dozen keys, so the loader reads each step map this way instead.
class MapEntries {
 public:
  explicit MapEntries(const YAML::Node& map);
  /// The value under `key`, or an undefined node (false in a boolean context).
  YAML::Node operator[](std::string_view key) const;

 private:
  std::vector<std::pair<std::string, YAML::Node>> m_entries;
};

/// Reports keys of `map` not in `allowed`, with a spelling suggestion.
void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what,
                Diagnostics& diagnostics);

/// The scalar as a string, or nullopt (and an error) when it is not a scalar.
std::optional<std::string> scalar_string(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics);
std::optional<bool> scalar_bool(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics);
std::optional<long long> scalar_int(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics);
std::vector<std::string> string_list(const YAML::Node& node, const std::string& what, Diagnostics& diagnostics);

/// YAML to JSON with YAML 1.2 core scalar typing: quoted scalars stay strings; plain ones
/// become true/false/null/integers/floats when they read as such.
Json to_json(const YAML::Node& node);

/// How far the text of a scalar starts after its mark: 1 for a quoted scalar, else 0.
int scalar_offset(const YAML::Node& node);

/// The source text of the file being loaded, for locating text inside scalars.
struct SourceText {
  std::vector<std::string> lines;
  char at(int line, int column) const;  // both from 1; '\0' when outside
};

}  // namespace ttops
