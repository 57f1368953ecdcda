#include "cli/completion.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <ostream>

#include "runbook/config.hpp"
#include "runbook/library.hpp"
#include "runbook/loader.hpp"
#include "util/text.hpp"

namespace ttops {

namespace fs = std::filesystem;
namespace directive = completion_directive;

namespace {

// What an option's value is, where its type alone does not say (choices come from its validator,
// as `--help` shows them: `TEXT:{text,json}`).
enum class ValueKind { none, file, directory, environment, service, parameter };

ValueKind value_kind(const CLI::Option& option) {
  static const std::map<std::string, ValueKind> kinds = {
      {"runbooks", ValueKind::directory}, {"out", ValueKind::directory},
      {"config", ValueKind::file},        {"junit", ValueKind::file},
      {"cacert", ValueKind::file},        {"audit-log", ValueKind::file},
      {"kubectl", ValueKind::file},       {"metrics-file", ValueKind::file},
      {"env", ValueKind::environment},    {"service", ValueKind::service},
      {"set", ValueKind::parameter},
  };
  for (const auto& name : option.get_lnames())
    if (auto it = kinds.find(name); it != kinds.end()) return it->second;
  return ValueKind::none;
}

bool is_hidden(const CLI::Option& option) { return option.get_group().empty(); }
bool is_hidden(const CLI::App& command) { return command.get_group().empty(); }
bool takes_value(const CLI::Option& option) { return option.get_items_expected_max() > 0; }  // flags expect 0
bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// The choices of an IsMember validator, from the type name `--help` prints (`TEXT:{a,b}`).
std::vector<std::string> choices(const CLI::Option& option) {
  std::string type = option.get_type_name();
  auto open = type.find(":{");
  if (open == std::string::npos || type.back() != '}') return {};
  return split(std::string_view(type).substr(open + 2, type.size() - open - 3), ',');
}

// Options are found on the command and, because the app falls through, on its parents.
CLI::Option* find_option(CLI::App* command, const std::string& name) {
  for (CLI::App* app = command; app != nullptr; app = app->get_parent()) {
    for (CLI::Option* option : app->get_options()) {
      if (option->get_positional() || is_hidden(*option)) continue;
      for (const auto& l : option->get_lnames())
        if (name == "--" + l) return option;
      for (const auto& s : option->get_snames())
        if (name == "-" + s) return option;
    }
  }
  return nullptr;
}

CLI::App* find_subcommand(CLI::App* command, const std::string& name) {
  for (CLI::App* sub : command->get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == name && !is_hidden(*sub)) return sub;
  return nullptr;
}

// Where the words before the cursor leave the command line.
struct ParsedWords {
  CLI::App* command = nullptr;
  std::vector<std::string> positionals;    // of `command`
  CLI::Option* pending = nullptr;          // an option whose value is the word under the cursor
  std::map<std::string, std::string> values;  // option long name -> last value given
};

ParsedWords parse_words(CLI::App& app, const std::vector<std::string>& words) {
  ParsedWords parsed;
  parsed.command = &app;
  bool only_positionals = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (!only_positionals && word == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && word.size() > 1 && word[0] == '-') {
      auto equals = word.find('=');
      CLI::Option* option = find_option(parsed.command, word.substr(0, equals));
      if (option == nullptr || !takes_value(*option)) continue;
      std::string key = option->get_lnames().empty() ? option->get_snames().front() : option->get_lnames().front();
      if (equals != std::string::npos) {
        parsed.values[key] = word.substr(equals + 1);
      } else if (i + 1 < words.size()) {
        parsed.values[key] = words[++i];
      } else {
        parsed.pending = option;
      }
      continue;
    }
    if (parsed.positionals.empty()) {
      if (CLI::App* sub = find_subcommand(parsed.command, word)) {
        parsed.command = sub;
        continue;
      }
    }
    parsed.positionals.push_back(word);
  }
  return parsed;
}

class Completer {
 public:
  Completer(CLI::App& app, const std::vector<std::string>& words, std::string partial)
      : m_parsed(parse_words(app, words)), m_partial(std::move(partial)) {}

  Completions run() {
    if (m_parsed.pending != nullptr) {
      complete_value(*m_parsed.pending, "");
    } else if (starts_with(m_partial, "-") && m_partial.find('=') != std::string::npos) {
      auto equals = m_partial.find('=');
      CLI::Option* option = find_option(m_parsed.command, m_partial.substr(0, equals));
      if (option != nullptr && takes_value(*option)) {
        std::string prefix = m_partial.substr(0, equals + 1);
        m_partial = m_partial.substr(equals + 1);
        complete_value(*option, prefix);
      }
    } else if (starts_with(m_partial, "-")) {
      complete_options();
    } else {
      complete_positional();
    }
    return std::move(m_out);
  }

 private:
  void add(const std::string& value, const std::string& description = "", const std::string& prefix = "") {
    if (!starts_with(value, m_partial)) return;
    m_out.candidates.push_back({prefix + value, one_line(description, 100)});
  }

  void complete_options() {
    for (CLI::App* app = m_parsed.command; app != nullptr; app = app->get_parent()) {
      for (const CLI::Option* option : app->get_options()) {
        if (option->get_positional() || is_hidden(*option)) continue;
        for (const auto& l : option->get_lnames()) add("--" + l, option->get_description());
        for (const auto& s : option->get_snames()) add("-" + s, option->get_description());
      }
    }
  }

  void complete_positional() {
    if (m_parsed.positionals.empty()) {
      for (CLI::App* sub : m_parsed.command->get_subcommands([](CLI::App*) { return true; }))
        if (!is_hidden(*sub)) add(sub->get_name(), sub->get_description());
    }
    // The positional the next word fills, and which of its values it is.
    std::size_t index = m_parsed.positionals.size();
    for (const CLI::Option* option : m_parsed.command->get_options()) {
      if (!option->get_positional()) continue;
      auto slots = static_cast<std::size_t>(std::max(option->get_items_expected_max(), 1));
      if (index < slots) {
        for (const auto& choice : choices(*option)) add(choice);
        complete_named_positional(option->get_name(true), index);
        return;
      }
      index -= slots;
    }
  }

  // Positionals are completed by what their names say they hold.
  void complete_named_positional(const std::string& name, std::size_t element) {
    if (name == "service" || name == "services") {
      complete_services();
    } else if (name == "runbook" && element == 0) {
      if (m_partial.find('/') != std::string::npos) {
        auto service = m_partial.substr(0, m_partial.find('/'));
        for (const auto& runbook : library().runbook_names(service)) add(service + "/" + runbook);
      } else {
        complete_services();
      }
    } else if (name == "runbook" && element == 1 && m_parsed.positionals[0].find('/') == std::string::npos) {
      for (const auto& runbook : library().runbook_names(m_parsed.positionals[0])) add(runbook);
    } else if (name == "paths") {
      m_out.directive = directive::k_default;
    }
  }

  void complete_value(const CLI::Option& option, const std::string& prefix) {
    for (const auto& choice : choices(option)) add(choice, "", prefix);
    switch (value_kind(option)) {
      case ValueKind::file: m_out.directive = directive::k_default; break;
      case ValueKind::directory: m_out.directive = directive::k_directories; break;
      case ValueKind::service:
        for (const auto& service : library().services()) add(service, "", prefix);
        break;
      case ValueKind::environment:
        if (auto config = load_config_quietly())
          for (const auto& environment : config->environments) add(environment.name, environment.description, prefix);
        break;
      case ValueKind::parameter:
        for (const auto& parameter : runbook_parameters()) add(parameter.name + "=", parameter.description, prefix);
        m_out.directive |= directive::k_no_space;
        break;
      case ValueKind::none: break;
    }
  }

  void complete_services() {
    for (const auto& service : library().services()) add(service);
  }

  std::string given(const std::string& option) const {
    auto it = m_parsed.values.find(option);
    return it == m_parsed.values.end() ? std::string() : it->second;
  }

  Library& library() {
    if (!m_library) m_library.emplace(find_library(given("runbooks")));
    return *m_library;
  }

  std::optional<Config> load_config_quietly() {
    auto path = find_config(given("config"), library().root());
    if (path.empty()) return std::nullopt;
    Diagnostics ignored;
    return load_config(path, path.string(), ignored);
  }

  // The parameters of the runbook the command line names (SERVICE RUNBOOK or SERVICE/RUNBOOK).
  std::vector<Parameter> runbook_parameters() {
    const auto& words = m_parsed.positionals;
    std::string service;
    std::string name;
    if (words.size() == 1 && words[0].find('/') != std::string::npos) {
      service = words[0].substr(0, words[0].find('/'));
      name = words[0].substr(words[0].find('/') + 1);
    } else if (words.size() >= 2) {
      service = words[0];
      name = words[1];
    }
    if (!is_valid_identifier(service) || !is_valid_identifier(name)) return {};
    fs::path file = library().root() / service / (name + ".yaml");
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return {};
    Diagnostics ignored;
    auto runbook = load_runbook_file(file, file.string(), &library(), ignored);
    return runbook ? runbook->params : std::vector<Parameter>{};
  }

  ParsedWords m_parsed;
  std::string m_partial;
  Completions m_out;
  std::optional<Library> m_library;
};

}  // namespace

Completions complete_words(CLI::App& app, const std::vector<std::string>& words, const std::string& partial) {
  try {
    return Completer(app, words, partial).run();
  } catch (const std::exception&) {
    return {};  // a half-typed command line is no reason to print an error into the shell
  }
}

int print_completions(CLI::App& app, const std::vector<std::string>& args, std::ostream& out) {
  std::vector<std::string> words = args;
  std::string partial;
  if (!words.empty()) {
    partial = words.back();
    words.pop_back();
  }
  Completions completions = complete_words(app, words, partial);
  for (const auto& candidate : completions.candidates) {
    out << candidate.value;
    if (!candidate.description.empty()) out << '\t' << candidate.description;
    out << '\n';
  }
  out << ':' << completions.directive << '\n';
  return 0;
}

}  // namespace ttops
