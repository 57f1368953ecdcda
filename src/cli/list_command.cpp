// ttops list [SERVICE] [--symptom TEXT]: what an engineer scans to pick a runbook mid-incident.
#include <algorithm>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>
#include <ostream>
#include <sstream>

#include "cli/command.hpp"
#include "runbook/library_cache.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// Everything a symptom search looks through, lower-cased once when the listing is built.
std::string search_text(const Json& runbook) {
  return to_lower(runbook.value("service", "") + " " + runbook.value("name", "") + " " + runbook.value("title", "") +
                  " " + runbook.value("summary", "") + " " +
                  join(runbook.value("symptoms", std::vector<std::string>{}), " ") + " " +
                  join(runbook.value("tags", std::vector<std::string>{}), " ") + " " +
                  join(runbook.value("covers", std::vector<std::string>{}), " "));
}

bool matches_symptom(std::string_view haystack, const std::string& query) {
  // Every word of the query must appear somewhere in what describes the runbook.
  for (const auto& word : split(to_lower(query), ' ')) {
    if (word.empty()) continue;
    if (haystack.find(word) == std::string::npos) return false;
  }
  return true;
}

// The cached listing is plain text: the problems as one JSON string on the first line, then one
// line per runbook of tab-separated columns (service, name, severity, title, search text, the
// whole entry as JSON text, parsed only for -o json and symptoms). A warm `ttops list` is
// start-up time, and building a JSON tree of every entry was most of it.
enum ListColumn { k_service, k_name, k_severity, k_title, k_search, k_entry, k_columns };

struct ListingRow {
  std::string_view columns[k_columns];
};

struct Listing {
  std::string text;  // what the rows point into
  std::string problems;
  std::vector<ListingRow> rows;
};

std::string flat(std::string text) {
  for (auto& c : text)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string listing_text(const std::string& problems, const std::vector<Json>& entries) {
  std::string text = dump_json(Json(problems)) + "\n";
  for (const auto& entry : entries) {
    text += flat(entry.value("service", "")) + "\t" + flat(entry.value("name", "")) + "\t" +
            flat(entry.value("severity", "")) + "\t" + flat(entry.value("title", "")) + "\t" +
            flat(search_text(entry)) + "\t" + dump_json(entry) + "\n";  // dump_json escapes tabs and newlines
  }
  return text;
}

std::optional<Listing> parse_listing(std::string text) {
  Listing listing;
  listing.text = std::move(text);
  std::string_view rest = listing.text;
  std::size_t end = rest.find('\n');
  if (end == std::string_view::npos) return std::nullopt;
  try {
    listing.problems = Json::parse(rest.substr(0, end)).get<std::string>();
  } catch (const Json::exception&) {
    return std::nullopt;
  }
  rest.remove_prefix(end + 1);
  while (!rest.empty()) {
    end = rest.find('\n');
    if (end == std::string_view::npos) return std::nullopt;  // cut short: a miss
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    ListingRow row;
    for (int column = 0; column < k_columns; ++column) {
      std::size_t tab = column + 1 < k_columns ? line.find('\t') : line.size();
      if (tab == std::string_view::npos) return std::nullopt;
      row.columns[column] = line.substr(0, tab);
      line.remove_prefix(std::min(line.size(), tab + 1));
    }
    listing.rows.push_back(row);
  }
  return listing;
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
    std::optional<Listing> listing;
    if (auto cached = cache.get_text("list")) listing = parse_listing(std::move(*cached));
    if (!listing) {
      Diagnostics diagnostics;
      auto runbooks = library->load_all(nullptr, diagnostics);  // target names are `validate`'s job
      std::ostringstream problems;
      diagnostics.print(problems);
      std::vector<Json> entries;
      for (const auto& runbook : runbooks) entries.push_back(runbook_json(*runbook));
      std::string text = listing_text(problems.str(), entries);
      cache.put_text("list", text);
      listing = parse_listing(std::move(text));
    }
    if (!listing->problems.empty()) {
      context.err() << listing->problems;
      context.error("some runbooks have problems and are not listed (run 'ttops validate')");
    }
    std::vector<const ListingRow*> shown;
    for (const auto& row : listing->rows) {
      if (!m_service.empty() && row.columns[k_service] != m_service) continue;
      if (!m_symptom.empty() && !matches_symptom(row.columns[k_search], m_symptom)) continue;
      shown.push_back(&row);
    }
    int code = listing->problems.empty() ? exit_code::ok : exit_code::usage;
    auto entry = [](const ListingRow* row) { return Json::parse(row->columns[k_entry]); };

    if (context.options().output == "json") {
      Json entries = Json::array();
      for (const ListingRow* row : shown) entries.push_back(entry(row));
      context.out() << dump_json(entries, 2) << "\n";
      return code;
    }
    auto text = [](const ListingRow* row, ListColumn column) { return std::string(row->columns[column]); };
    std::size_t service_width = 7;
    std::size_t name_width = 7;
    for (const ListingRow* row : shown) {
      service_width = std::max(service_width, text(row, k_service).size());
      name_width = std::max(name_width, text(row, k_name).size());
    }
    auto pad = [](const std::string& value, std::size_t width) {
      return value.size() >= width ? value : value + std::string(width - value.size(), ' ');
    };
    auto& out = context.out();
    out << pad("SERVICE", service_width) << "  " << pad("RUNBOOK", name_width) << "  " << pad("SEVERITY", 8) << "  TITLE\n";
    for (const ListingRow* row : shown) {
      std::string severity = text(row, k_severity);
      out << pad(text(row, k_service), service_width) << "  " << pad(text(row, k_name), name_width) << "  "
          << pad(severity.empty() ? "-" : severity, 8) << "  " << text(row, k_title) << "\n";
      if (m_symptom.empty()) continue;
      auto symptoms = entry(row).value("symptoms", std::vector<std::string>{});
      if (!symptoms.empty())
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
