#include "runbook/library.hpp"

#include <algorithm>
#include <cstdlib>

#include "runbook/validator.hpp"
#include "util/executable_path.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

#ifndef TTOPS_DATA_DIR
#define TTOPS_DATA_DIR "/usr/share/ttops"
#endif
#ifndef TTOPS_INSTALL_BINDIR
#define TTOPS_INSTALL_BINDIR "bin"
#endif
#ifndef TTOPS_INSTALL_DATADIR
#define TTOPS_INSTALL_DATADIR "share/ttops"
#endif

namespace ttops {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_procedures = "procedures";

std::vector<std::string> yaml_stems(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& path = it->path();
    if (path.extension() == ".yaml" && it->is_regular_file(ec)) names.push_back(path.stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Library::Library(fs::path root) : m_root(std::move(root)) {}

std::string Library::display(const fs::path& path) const { return path.lexically_normal().string(); }

std::vector<std::string> Library::services() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(m_root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    std::string name = it->path().filename().string();
    if (name == k_procedures || name.empty() || name[0] == '.' || name[0] == '_') continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Library::runbook_names(const std::string& service) const {
  return yaml_stems(m_root / service);
}

std::vector<std::string> Library::procedure_names() const { return yaml_stems(m_root / k_procedures); }

std::shared_ptr<const Runbook> Library::resolve(const std::string& name, const SourceLocation& where,
                                                Diagnostics& diagnostics) {
  auto cached = m_procedures.find(name);
  if (cached != m_procedures.end()) return cached->second;
  if (std::find(m_resolving.begin(), m_resolving.end(), name) != m_resolving.end()) {
    diagnostics.error(where, "procedure '" + name + "' uses itself (" + join(m_resolving, " -> ") + " -> " + name + ")");
    return nullptr;
  }
  fs::path file = m_root / k_procedures / (name + ".yaml");
  std::error_code ec;
  if (!is_valid_identifier(name) || !fs::is_regular_file(file, ec)) {
    diagnostics.error(where, "no procedure '" + name + "' in " + display(m_root / k_procedures) +
                                 did_you_mean(name, procedure_names()));
    return nullptr;
  }
  m_resolving.push_back(name);
  Diagnostics local;
  auto procedure = load_runbook_file(file, display(file), this, local);
  m_resolving.pop_back();
  if (procedure && !procedure->is_procedure)
    local.error(procedure->where, "'" + name + "' is used as a procedure but does not say 'kind: procedure'");
  if (procedure) validate_runbook(*procedure, nullptr, local);
  diagnostics.append(local);
  std::shared_ptr<const Runbook> result = local.empty() ? std::shared_ptr<const Runbook>(procedure) : nullptr;
  if (!local.empty()) {
    // Name the use site too, so the runbook's own error list says why it failed.
    diagnostics.error(where, "procedure '" + name + "' has problems (listed above)");
  }
  m_procedures[name] = result;
  return result;
}

std::shared_ptr<const Runbook> Library::load(const std::string& service, const std::string& name,
                                             const Config* config, Diagnostics& diagnostics) {
  auto known_services = services();
  if (std::find(known_services.begin(), known_services.end(), service) == known_services.end()) {
    diagnostics.error(SourceLocation{}, "unknown service '" + service + "'" + did_you_mean(service, known_services) +
                                            " (services: " + join(known_services, ", ") + ")");
    return nullptr;
  }
  fs::path file = m_root / service / (name + ".yaml");
  std::error_code ec;
  if (!is_valid_identifier(name) || !fs::is_regular_file(file, ec)) {
    auto names = runbook_names(service);
    diagnostics.error(SourceLocation{}, "service '" + service + "' has no runbook '" + name + "'" +
                                            did_you_mean(name, names) + " (run 'ttops list " + service + "')");
    return nullptr;
  }
  Diagnostics local;
  auto runbook = load_runbook_file(file, display(file), this, local);
  if (runbook) validate_runbook(*runbook, config, local);
  diagnostics.append(local);
  if (!local.empty()) return nullptr;
  return runbook;
}

std::vector<std::shared_ptr<const Runbook>> Library::load_all(const Config* config, Diagnostics& diagnostics,
                                                              const std::string& service) {
  std::vector<std::shared_ptr<const Runbook>> out;
  std::vector<std::string> wanted = service.empty() ? services() : std::vector<std::string>{service};
  for (const auto& s : wanted) {
    for (const auto& name : runbook_names(s)) {
      fs::path file = m_root / s / (name + ".yaml");
      Diagnostics local;
      auto runbook = load_runbook_file(file, display(file), this, local);
      if (runbook) validate_runbook(*runbook, config, local);
      diagnostics.append(local);
      if (runbook && local.empty()) out.push_back(runbook);
    }
  }
  return out;
}

std::vector<std::shared_ptr<const Runbook>> Library::load_procedures(const Config* config, Diagnostics& diagnostics) {
  (void)config;
  std::vector<std::shared_ptr<const Runbook>> out;
  for (const auto& name : procedure_names()) {
    SourceLocation where{display(m_root / k_procedures / (name + ".yaml")), 0, 0};
    Diagnostics local;
    auto procedure = resolve(name, where, local);
    // resolve() adds a "has problems" line at the use site; for the file itself the listed
    // problems are enough.
    for (const auto& item : local.items())
      if (item.message.find("has problems (listed above)") == std::string::npos) diagnostics.error(item.where, item.message);
    if (procedure) out.push_back(procedure);
  }
  return out;
}

fs::path find_library(const std::string& flag) {
  std::error_code ec;
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TTOPS_RUNBOOKS"); env != nullptr && *env != '\0') return env;
  if (fs::is_directory("runbooks", ec)) return "runbooks";
  // An installed binary reads the library installed with it (<prefix>/share/ttops/runbooks), so a
  // .deb in /usr and `cmake --install --prefix ~/.local` both work whatever prefix was compiled in.
  if (fs::path prefix = installation_prefix(TTOPS_INSTALL_BINDIR); !prefix.empty()) {
    fs::path beside = prefix / TTOPS_INSTALL_DATADIR / "runbooks";
    if (fs::is_directory(beside, ec)) return beside;
  }
  fs::path installed = fs::path(TTOPS_DATA_DIR) / "runbooks";
  if (fs::is_directory(installed, ec)) return installed;
  return {};
}

fs::path find_config(const std::string& flag, const fs::path& library) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TTOPS_CONFIG"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  if (!library.empty() && fs::is_regular_file(library / "ttops.yaml", ec)) return library / "ttops.yaml";
  return {};
}

}  // namespace ttops
