// ttops rollback SERVICE [--to-revision N] [--mode auto|quick|emergency] [--with-db] [--dry-run] [--yes]
// Runs the service's rollback runbook (runbooks/<service>/rollback.yaml: the decision tree, then
// verification), or with --with-db the variant that pauses work and rolls back the migration too.
// Same refusal rules and exit codes as `ttops runbook`; docs/rollbacks.md is the guide for CI.
#include <algorithm>

#include "cli/command.hpp"
#include "cli/run_support.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

constexpr const char* k_rollback = "rollback";
constexpr const char* k_rollback_with_db = "rollback-with-db";

class RollbackCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("service", m_service, "The service to roll back (ticket, event, venue, monitoring, minting)")
        ->required();
    command.add_option("--to-revision", m_revision, "Roll back to this revision (default: the previous one)")
        ->check(CLI::PositiveNumber);
    command.add_option("--mode", m_mode,
                       "auto: the decision tree decides (default); quick or emergency: take that branch now")
        ->check(CLI::IsMember({"auto", "quick", "emergency"}));
    command.add_flag("--with-db", m_with_db,
                     "The deploy carried migrations: pause work, drain, undo, roll back the migration, resume");
    m_flags.define(command);
  }

  bool runs_on_many_contexts() const override { return true; }

  int run(CommandContext& context) override {
    Library* library = context.library();
    if (library == nullptr) return exit_code::usage;
    std::vector<std::string> services = library->services();
    if (std::find(services.begin(), services.end(), m_service) == services.end()) {
      context.error("unknown service '" + m_service + "'" + did_you_mean(m_service, services) +
                    " (services: " + join(services, ", ") + ")");
      return exit_code::usage;
    }
    const std::string name = m_with_db ? k_rollback_with_db : k_rollback;
    std::vector<std::string> names = library->runbook_names(m_service);
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      std::string message = "service '" + m_service + "' has no " + name + " runbook (" + m_service + "/" + name + ".yaml)";
      if (m_with_db) {
        std::vector<std::string> with_db;
        for (const auto& service : services) {
          auto theirs = library->runbook_names(service);
          if (std::find(theirs.begin(), theirs.end(), k_rollback_with_db) != theirs.end()) with_db.push_back(service);
        }
        message += with_db.empty() ? std::string("; no service has one")
                                   : "; services with one: " + join(with_db, ", ");
        message += ". Without --with-db, 'ttops rollback " + m_service + "' rolls back the deployment only";
      }
      context.error(message);
      return exit_code::usage;
    }
    if (m_with_db && !m_mode.empty()) {
      context.error("--mode picks a branch of the decision tree; " + std::string(k_rollback_with_db) + " has none");
      return exit_code::usage;
    }
    std::vector<std::pair<std::string, std::string>> overrides;
    if (m_revision > 0) overrides.emplace_back("to_revision", std::to_string(m_revision));
    if (!m_mode.empty()) overrides.emplace_back("mode", m_mode);
    return run_runbook(context, m_service, name, m_flags, overrides);
  }

 private:
  std::string m_service;
  long long m_revision = 0;
  std::string m_mode;
  bool m_with_db = false;
  RunFlags m_flags;
};

}  // namespace

std::unique_ptr<Command> make_rollback_command() { return std::make_unique<RollbackCommand>(); }

}  // namespace ttops
