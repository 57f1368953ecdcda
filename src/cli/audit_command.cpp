// ttops audit [--since DURATION] [--service S] | ttops audit verify: the audit trail as a table,
// and a check of its hash chain.
#include <algorithm>
#include <ctime>
#include <ostream>

#include "audit/audit_log.hpp"
#include "cli/command.hpp"
#include "util/duration.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

std::time_t parse_iso8601(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return 0;
  return timegm(&tm);
}

class AuditCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("--since", m_since, "Only records newer than this (e.g. 24h, 30m)");
    command.add_option("--service", m_service, "Only this service");
    m_verify = command.add_subcommand("verify", "Check the hash chain: exit 1 if a record was removed or edited");
  }

  int run(CommandContext& context) override {
    std::filesystem::path path =
        context.options().audit_log.empty() ? AuditLog::default_path() : std::filesystem::path(context.options().audit_log);
    std::error_code ec;
    if (m_verify->parsed()) {
      if (!std::filesystem::exists(path, ec)) {
        context.error("no audit log at " + path.string());
        return exit_code::usage;
      }
      auto verification = AuditLog::verify(path);
      if (context.options().output == "json") {
        context.out() << dump_json(Json{{"ok", verification.ok}, {"records", verification.records}, {"file", path.string()},
                              {"bad_line", verification.bad_line}, {"reason", verification.reason}}, 2)
                      << "\n";
      } else if (verification.ok) {
        context.out() << "ok: " << verification.records << " records, chain intact (" << path.string() << ")\n";
      } else {
        context.out() << "TAMPERED: " << path.string() << ":" << verification.bad_line << ": " << verification.reason
                      << " (" << verification.records << " records verified before it)\n";
      }
      return verification.ok ? exit_code::ok : exit_code::check_failed;
    }
    std::time_t cutoff = 0;
    if (!m_since.empty()) {
      auto since = parse_duration(m_since);
      if (!since) {
        context.error("--since must be a duration such as 24h, not '" + m_since + "'");
        return exit_code::usage;
      }
      cutoff = std::time(nullptr) - static_cast<std::time_t>(since->count() / 1000);
    }
    std::vector<Json> shown;
    for (auto& record : AuditLog::read(path)) {
      if (!m_service.empty() && record.value("service", "") != m_service) continue;
      if (cutoff != 0 && parse_iso8601(record.value("time", "")) < cutoff) continue;
      shown.push_back(std::move(record));
    }
    if (context.options().output == "json") {
      context.out() << dump_json(Json(shown), 2) << "\n";
      return exit_code::ok;
    }
    auto& out = context.out();
    // A CONTEXT column only when some record names a cluster (runs with --context).
    const bool any_context =
        std::any_of(shown.begin(), shown.end(), [](const Json& r) { return !r.value("context", "").empty(); });
    out << "TIME                  USER@HOST             ENV         " << (any_context ? "CONTEXT      " : "")
        << "SERVICE     PHASE     STATUS      STEP / COMMAND\n";
    auto pad = [](std::string text, std::size_t width) {
      if (text.size() > width) text = text.substr(0, width);
      return text + std::string(width - text.size() + 1, ' ');
    };
    for (const auto& r : shown) {
      out << pad(r.value("time", ""), 21) << pad(r.value("user", "") + "@" + r.value("host", ""), 21)
          << pad(r.value("environment", ""), 11) << (any_context ? pad(r.value("context", ""), 12) : std::string())
          << pad(r.value("service", ""), 11) << pad(r.value("phase", ""), 9) << pad(r.value("status", ""), 11)
          << r.value("runbook", "") << (r.contains("step") ? ":" + r.value("step", "") : "") << "  "
          << one_line(r.value("command", ""), 100) << "\n";
    }
    if (shown.empty()) context.err() << "no audit records" << (m_since.empty() ? "" : " in the last " + m_since) << " in "
                                     << path.string() << "\n";
    return exit_code::ok;
  }

 private:
  std::string m_since;
  std::string m_service;
  CLI::App* m_verify = nullptr;
};

}  // namespace

std::unique_ptr<Command> make_audit_command() { return std::make_unique<AuditCommand>(); }

}  // namespace ttops
