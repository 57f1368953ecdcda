// ttops list [SERVICE] [--symptom TEXT]: what an engineer scans to pick a runbook mid-incident.
#include <algorithm>
#include <functional>
#include <ostream>
#include <sstream>

#include "cli/command.hpp"
#include "runbook/library_cache.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

bool matches_symptom(const Json& runbook, const std::string& query) {
  // Every word of the query must appear somewhere in what describes the runbook.
  std::string haystack = to_lower(runbook.value("service", "") + " " + runbook.value("name", "") + " " +
                                  runbook.value("title", "") + " " + runbook.value("summary", "") + " " +
                                  join(runbook.value("symptoms", std::vector<std::string>{}), " ") + " " +
                                  join(runbook.value("tags", std::vector<std::string>{}), " ") + " " +
                                  join(runbook.value("covers", std::vector<std::string>{}), " "));
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
    // Every runbook's entry, from the cache when nothing in the library changed since.
    LibraryCache cache(library->root(), {});
    Json listing;
    if (auto cached = cache.get("list")) {
      listing = std::move(*cached);
    } else {
      Diagnostics diagnostics;
      auto runbooks = library->load_all(nullptr, diagnostics);  // target names are `validate`'s job
      std::ostringstream problems;
      diagnostics.print(problems);
      listing = Json{{"runbooks", Json::array()}, {"problems", problems.str()}};
      for (const auto& runbook : runbooks) listing["runbooks"].push_back(runbook_json(*runbook));
      cache.put("list", listing);
    }
    std::string problems = listing.value("problems", "");
    if (!problems.empty()) {
      context.err() << problems;
      context.error("some runbooks have problems and are not listed (run 'ttops validate')");
    }
    std::vector<Json> shown;
    for (const auto& runbook : listing["runbooks"]) {
      if (!m_service.empty() && runbook.value("service", "") != m_service) continue;
      if (!m_symptom.empty() && !matches_symptom(runbook, m_symptom)) continue;
      shown.push_back(runbook);
    }
    int code = problems.empty() ? exit_code::ok : exit_code::usage;

    if (context.options().output == "json") {
      context.out() << dump_json(Json(shown), 2) << "\n";
      return code;
    }
    std::size_t service_width = 7;
    std::size_t name_width = 7;
    for (const auto& runbook : shown) {
      service_width = std::max(service_width, runbook.value("service", "").size());
      name_width = std::max(name_width, runbook.value("name", "").size());
    }
    auto pad = [](const std::string& text, std::size_t width) {
      return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
    };
    auto& out = context.out();
    out << pad("SERVICE", service_width) << "  " << pad("RUNBOOK", name_width) << "  " << pad("SEVERITY", 8) << "  TITLE\n";
    for (const auto& runbook : shown) {
      std::string severity = runbook.value("severity", "");
      out << pad(runbook.value("service", ""), service_width) << "  " << pad(runbook.value("name", ""), name_width) << "  "
          << pad(severity.empty() ? "-" : severity, 8) << "  " << runbook.value("title", "") << "\n";
      auto symptoms = runbook.value("symptoms", std::vector<std::string>{});
      if (!m_symptom.empty() && !symptoms.empty())
        out << pad("", service_width + name_width + 14) << "symptoms: " << join(symptoms, "; ") << "\n";
    }
    if (shown.empty() && !m_symptom.empty()) context.err() << "no runbook mentions '" << m_symptom << "'\n";
    return code;
  }

 private:
  std::string m_service;
  std::string m_symptom;
};

}  // namespace

std::unique_ptr<Command> make_list_command() { return std::make_unique<ListCommand>(); }

}  // namespace ttops
