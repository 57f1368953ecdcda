// ttops validate [PATH...]: every problem of runbooks, procedures and config, one line each,
// as file:line:col: message. Exit 2 when there is any.
#include <algorithm>
#include <ostream>

#include "cli/command.hpp"
#include "runbook/library_cache.hpp"
#include "runbook/validator.hpp"
#include "util/text.hpp"

namespace ttops {

namespace fs = std::filesystem;

namespace {

class ValidateCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("paths", m_paths, "Runbook files or directories (default: the whole library and its config)");
  }

  int run(CommandContext& context) override {
    Diagnostics diagnostics;
    int runbooks = 0;
    int procedures = 0;
    int configs = 0;
    if (m_paths.empty()) {
      Library* library = context.library();
      if (library == nullptr) return exit_code::usage;
      // The whole library is validated again only when something in it (or the config) changed.
      fs::path config_path = context.options().config.empty() ? library->config_path() : fs::path(context.options().config);
      LibraryCache cache(library->root(), config_path);
      if (auto cached = cache.get("validate")) {
        for (const auto& p : (*cached)["problems"])
          diagnostics.error(SourceLocation{p.value("file", ""), p.value("line", 0), p.value("column", 0)},
                            p.value("message", ""));
        runbooks = cached->value("runbooks", 0);
        procedures = cached->value("procedures", 0);
        configs = cached->value("configs", 0);
      } else {
        validate_library(*library, context, diagnostics, runbooks, procedures, configs);
        Json problems = Json::array();
        for (const auto& d : diagnostics.items())
          problems.push_back(Json{{"file", d.where.file}, {"line", d.where.line}, {"column", d.where.column},
                                  {"message", d.message}});
        cache.put("validate", Json{{"problems", problems}, {"runbooks", runbooks}, {"procedures", procedures},
                                   {"configs", configs}});
      }
    } else {
      for (const auto& text : m_paths) {
        fs::path path(text);
        std::error_code ec;
        if (fs::is_directory(path, ec)) {
          if (fs::exists(path / "ttops.yaml", ec) || fs::is_directory(path / "procedures", ec)) {
            Library library(path);
            validate_library(library, context, diagnostics, runbooks, procedures, configs);
          } else {
            validate_tree(path, context, diagnostics, runbooks);
          }
        } else if (fs::exists(path, ec)) {
          validate_file(path, context, diagnostics, runbooks, configs);
        } else {
          // exists() says nothing for a missing file; for a link loop or a denied directory it says why.
          diagnostics.error(SourceLocation{text, 0, 0},
                            ec ? to_lower(ec.message()) : std::string("no such file or directory"));
        }
      }
    }
    if (context.options().output == "json") {
      Json problems = Json::array();
      for (const auto& d : diagnostics.items())
        problems.push_back(Json{{"file", d.where.file}, {"line", d.where.line}, {"column", d.where.column}, {"message", d.message}});
      context.out() << dump_json(Json{{"valid", diagnostics.empty()}, {"runbooks", runbooks}, {"procedures", procedures},
                            {"configs", configs}, {"problems", problems}}, 2)
                    << "\n";
    } else {
      context.print_diagnostics(diagnostics);
      if (diagnostics.empty()) {
        context.out() << "ok: " << runbooks << " runbook" << (runbooks == 1 ? "" : "s") << ", " << procedures
                      << " procedure" << (procedures == 1 ? "" : "s") << ", " << configs << " config"
                      << (configs == 1 ? "" : "s") << "\n";
      } else {
        context.err() << diagnostics.size() << " problem" << (diagnostics.size() == 1 ? "" : "s") << "\n";
      }
    }
    return diagnostics.empty() ? exit_code::ok : exit_code::usage;
  }

 private:
  // A whole library: its config, its procedures and every service's runbooks.
  void validate_library(Library& library, CommandContext& context, Diagnostics& diagnostics, int& runbooks,
                        int& procedures, int& configs) {
    std::optional<Config> config;
    fs::path config_path = context.options().config.empty() ? library.config_path() : fs::path(context.options().config);
    std::error_code ec;
    if (fs::exists(config_path, ec)) {
      config = load_config(config_path, config_path.lexically_normal().string(), diagnostics);
      ++configs;
    }
    procedures += static_cast<int>(library.load_procedures(config ? &*config : nullptr, diagnostics).size());
    for (const auto& service : library.services()) {
      for (const auto& name : library.runbook_names(service)) {
        ++runbooks;
        library.load(service, name, config ? &*config : nullptr, diagnostics);
      }
    }
    // A `procedures` problem is reported once, at the procedure file: drop the echoes at use sites.
    Diagnostics cleaned;
    for (const auto& item : diagnostics.items())
      if (item.message.find("has problems (listed above)") == std::string::npos) cleaned.error(item.where, item.message);
    diagnostics = cleaned;
  }

  // A folder of runbook files that is not a library (e.g. a test corpus).
  void validate_tree(const fs::path& root, CommandContext& context, Diagnostics& diagnostics, int& runbooks) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".yaml" && it->is_regular_file(ec)) files.push_back(it->path());
    std::sort(files.begin(), files.end());
    int configs = 0;
    for (const auto& file : files) validate_file(file, context, diagnostics, runbooks, configs);
  }

  void validate_file(const fs::path& file, CommandContext& context, Diagnostics& diagnostics, int& runbooks,
                     int& configs) {
    std::string display = file.lexically_normal().string();
    if (file.filename() == "ttops.yaml") {
      ++configs;
      load_config(file, display, diagnostics);
      return;
    }
    ++runbooks;
    // Procedures resolve against the library the file sits in, else the default library.
    fs::path library_root = file.parent_path().parent_path();
    std::error_code ec;
    Library* fallback = nullptr;
    std::optional<Library> local;
    if (fs::is_directory(library_root / "procedures", ec)) {
      local.emplace(library_root);
    } else {
      fallback = context.library();
    }
    ProcedureResolver* resolver = local ? static_cast<ProcedureResolver*>(&*local) : fallback;
    auto runbook = load_runbook_file(file, display, resolver, diagnostics);
    if (runbook) validate_runbook(*runbook, nullptr, diagnostics);
  }

  std::vector<std::string> m_paths;
};

}  // namespace

std::unique_ptr<Command> make_validate_command() { return std::make_unique<ValidateCommand>(); }

}  // namespace ttops
