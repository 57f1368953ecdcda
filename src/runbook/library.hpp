#pragma once
// The runbook library on disk:
//   <root>/<service>/<name>.yaml    runbooks
//   <root>/procedures/<name>.yaml   procedures shared by every service (`use: <name>`)
//   <root>/ttops.yaml               the config: environments, secrets, policy
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runbook/config.hpp"
#include "runbook/loader.hpp"
#include "ttops/model.hpp"

namespace ttops {

class Library : public ProcedureResolver {
 public:
  explicit Library(std::filesystem::path root);

  const std::filesystem::path& root() const { return m_root; }
  std::filesystem::path config_path() const { return m_root / "ttops.yaml"; }
  /// Service folders, sorted.
  std::vector<std::string> services() const;
  /// Runbook names of a service, sorted.
  std::vector<std::string> runbook_names(const std::string& service) const;
  std::vector<std::string> procedure_names() const;

  /// Loads and validates one runbook (and the procedures it uses). nullptr with diagnostics
  /// when it does not exist or has problems; unknown names get a suggestion.
  std::shared_ptr<const Runbook> load(const std::string& service, const std::string& name, const Config* config,
                                      Diagnostics& diagnostics);
  /// Every runbook of the library (of one service when given), loaded and validated.
  std::vector<std::shared_ptr<const Runbook>> load_all(const Config* config, Diagnostics& diagnostics,
                                                       const std::string& service = "");
  /// Every procedure, loaded and validated.
  std::vector<std::shared_ptr<const Runbook>> load_procedures(const Config* config, Diagnostics& diagnostics);

  std::shared_ptr<const Runbook> resolve(const std::string& name, const SourceLocation& where,
                                         Diagnostics& diagnostics) override;

 private:
  std::string display(const std::filesystem::path& path) const;

  std::filesystem::path m_root;
  std::map<std::string, std::shared_ptr<const Runbook>> m_procedures;
  std::vector<std::string> m_resolving;  // procedures being loaded, to catch `use` cycles
};

/// Where the runbook library is: --runbooks DIR, else $TTOPS_RUNBOOKS, else ./runbooks, else the
/// library installed beside the binary (<prefix>/share/ttops/runbooks, prefix found from the
/// binary's own path), else the data directory compiled in. Empty when none exists.
std::filesystem::path find_library(const std::string& flag);

/// The config: --config FILE, else $TTOPS_CONFIG, else <library>/ttops.yaml. Empty when none.
std::filesystem::path find_config(const std::string& flag, const std::filesystem::path& library);

}  // namespace ttops
