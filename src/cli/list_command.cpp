// ttops list [SERVICE] [--symptom TEXT]: what an engineer scans to pick a runbook mid-incident.
#include <algorithm>
#include <functional>
#include <ostream>

#include "cli/command.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

bool matches_symptom(const Runbook& runbook, const std::string& query) {
  // Every word of the query must appear somewhere in what describes the runbook.
  std::string haystack = to_lower(runbook.service + " " + runbook.name + " " + runbook.title + " " + runbook.summary + " " +
                                  join(runbook.symptoms, " ") + " " + join(runbook.tags, " ") + " " +
                                  join(runbook.covers, " "));
  for (const auto& word : split(to_lower(query), ' ')) {
    if (word.empty()) continue;
    if (haystack.find(word) == std::string::npos) return false;
  }
  return true;
}

Json runbook_json(const Runbook& runbook) {
  Json params = Json::array();
  for (const auto& param : runbook.params) {
    Json p = {{"name", param.name}, {"description", param.description}};
    if (param.default_value) p["default"] = param.secret ? Json("***") : *param.default_value;
    if (param.secret) p["secret"] = true;
    params.push_back(std::move(p));
  }
  bool mutates = false;
  std::function<void(const std::vector<Step>&)> scan = [&](const std::vector<Step>& steps) {
    for (const auto& step : steps) {
      if (step.effect != Effect::read) mutates = true;
      scan(step.children);
      if (step.procedure) scan(step.procedure->steps);
    }
  };
  scan(runbook.steps);
  return Json{{"service", runbook.service},   {"name", runbook.name},         {"title", runbook.title},
              {"severity", runbook.severity}, {"summary", runbook.summary},   {"symptoms", runbook.symptoms},
              {"covers", runbook.covers},     {"tags", runbook.tags},         {"mutates", mutates},
              {"params", params},             {"file", runbook.file}};
}

class ListCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("service", m_service, "Only this service");
    command.add_option("--symptom", m_symptom, "Only runbooks whose symptoms, title or summary mention these words");
  }

  int run(CommandContext& context) override {
    Library* library = context.library();
    if (library == nullptr) return exit_code::usage;
    if (!m_service.empty()) {
      auto services = library->services();
      if (std::find(services.begin(), services.end(), m_service) == services.end()) {
        context.error("unknown service '" + m_service + "'" + did_you_mean(m_service, services) + " (services: " +
                      join(services, ", ") + ")");
        return exit_code::usage;
      }
    }
    Diagnostics diagnostics;
    const Config* config = nullptr;  // listing needs no environment; validation of target names is `validate`'s job
    auto runbooks = library->load_all(config, diagnostics, m_service);
    if (!diagnostics.empty()) {
      context.print_diagnostics(diagnostics);
      context.error("some runbooks have problems and are not listed (run 'ttops validate')");
    }
    std::vector<std::shared_ptr<const Runbook>> shown;
    for (auto& runbook : runbooks)
      if (m_symptom.empty() || matches_symptom(*runbook, m_symptom)) shown.push_back(runbook);

    if (context.options().output == "json") {
      Json list = Json::array();
      for (const auto& runbook : shown) list.push_back(runbook_json(*runbook));
      context.out() << dump_json(list, 2) << "\n";
      return diagnostics.empty() ? exit_code::ok : exit_code::usage;
    }
    std::size_t service_width = 7;
    std::size_t name_width = 7;
    for (const auto& runbook : shown) {
      service_width = std::max(service_width, runbook->service.size());
      name_width = std::max(name_width, runbook->name.size());
    }
    auto pad = [](const std::string& text, std::size_t width) {
      return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
    };
    auto& out = context.out();
    out << pad("SERVICE", service_width) << "  " << pad("RUNBOOK", name_width) << "  " << pad("SEVERITY", 8) << "  TITLE\n";
    for (const auto& runbook : shown) {
      out << pad(runbook->service, service_width) << "  " << pad(runbook->name, name_width) << "  "
          << pad(runbook->severity.empty() ? "-" : runbook->severity, 8) << "  " << runbook->title << "\n";
      if (!m_symptom.empty() && !runbook->symptoms.empty())
        out << pad("", service_width + name_width + 14) << "symptoms: " << join(runbook->symptoms, "; ") << "\n";
    }
    if (shown.empty() && !m_symptom.empty()) context.err() << "no runbook mentions '" << m_symptom << "'\n";
    return diagnostics.empty() ? exit_code::ok : exit_code::usage;
  }

 private:
  std::string m_service;
  std::string m_symptom;
};

}  // namespace

std::unique_ptr<Command> make_list_command() { return std::make_unique<ListCommand>(); }

}  // namespace ttops
