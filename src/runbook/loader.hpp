#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "ttops/diagnostics.hpp"
#include "ttops/model.hpp"

namespace ttops {

/// Finds shared procedures by name for `use:` steps (the library's procedures/ folder).
class ProcedureResolver {
 public:
  virtual ~ProcedureResolver() = default;
  /// The procedure, or nullptr after reporting why at `where`.
  virtual std::shared_ptr<const Runbook> resolve(const std::string& name, const SourceLocation& where,
                                                 Diagnostics& diagnostics) = 0;
};

/// Reads a runbook or procedure from YAML text. Syntax and structure problems go to
/// `diagnostics` with file:line:col; the model is returned whenever the YAML itself parsed,
/// so that one pass reports every problem. `display_path` names the file in messages and
/// supplies the service and name when the file does not state them.
std::shared_ptr<Runbook> load_runbook_text(std::string_view text, const std::string& display_path,
                                           ProcedureResolver* procedures, Diagnostics& diagnostics);

/// The same for a file; a file that cannot be read is one diagnostic.
std::shared_ptr<Runbook> load_runbook_file(const std::filesystem::path& file, const std::string& display_path,
                                           ProcedureResolver* procedures, Diagnostics& diagnostics);

/// Reads a whole file; nullopt when it cannot be read. Refuses files over 4 MiB: a runbook that
/// large is a mistake, and reading it would only slow the error down.
std::optional<std::string> read_text_file(const std::filesystem::path& file, std::string& error);

/// Step ids and parameter names: lowercase letters, digits, '-' and '_', starting with a letter.
bool is_valid_identifier(std::string_view id);

}  // namespace ttops
