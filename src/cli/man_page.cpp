#include "cli/man_page.hpp"

#include <cctype>
#include <cstdio>
#include <sstream>

#include "util/text.hpp"

#ifndef TTOPS_VERSION
#define TTOPS_VERSION "0"
#endif

namespace ttops {

namespace {

// What --help cannot say about the process around it; the rest of the page is the app itself.
struct Variable {
  const char* name;
  const char* meaning;
};
constexpr Variable k_environment[] = {
    {"TTOPS_RUNBOOKS", "The runbook library, when --runbooks is not given."},
    {"TTOPS_CONFIG", "The config file, when --config is not given."},
    {"TTOPS_ENV", "The environment, when --env is not given."},
    {"TTOPS_AUDIT_LOG", "The audit log, when --audit-log is not given."},
    {"TTOPS_STATE_DIR", "Journals, locks and the audit log (default $XDG_STATE_HOME/ttops, else ~/.local/state/ttops)."},
    {"TTOPS_CACHE_DIR", "The library cache (default $XDG_CACHE_HOME/ttops, else ~/.cache/ttops); TTOPS_NO_CACHE=1 turns it off."},
    {"NO_COLOR", "No colour, like --no-color."},
    {"KUBECONFIG", "Read by kubectl, which runs the kubectl steps."},
};

// Escapes text for roff: backslashes, control characters at the start of a line, and every
// character outside ASCII as \[uXXXX] (groff reads its input as Latin-1 otherwise).
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') {
      out += "\\e";
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // One UTF-8 sequence; input that is not valid UTF-8 was made valid by to_valid_utf8.
      int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
      unsigned code = c & (0x3F >> extra);
      for (int k = 0; k < extra && i + 1 < text.size(); ++k) code = (code << 6) | (static_cast<unsigned char>(text[++i]) & 0x3F);
      char buffer[16];
      std::snprintf(buffer, sizeof buffer, "\\[u%04X]", code);
      out += buffer;
    }
  }
  return out;
}

std::string dashes(std::string_view name) {
  std::string out;
  for (char c : name) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

bool hidden(const CLI::Option& option) { return option.get_group().empty(); }

// The option as --help names it: every name, then the value's type (TEXT, INT, TEXT:{a,b}).
std::string option_label(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const auto& s : option.get_snames()) names.push_back("\\fB" + dashes("-" + s) + "\\fR");
  for (const auto& l : option.get_lnames()) names.push_back("\\fB" + dashes("--" + l) + "\\fR");
  std::string label = join(names, ", ");
  if (option.get_positional()) label = "\\fI" + roff(option.get_name(true)) + "\\fR";
  if (option.get_items_expected_max() > 0 && !option.get_type_name().empty()) {
    label += " \\fI" + roff(option.get_type_name()) + "\\fR";
    if (option.get_items_expected_max() > 1) label += " ...";
  }
  return label;
}

void print_options(std::ostream& out, CLI::App& app) {
  // Positionals first, as the synopsis reads; then the flags in their order of definition.
  for (bool positional : {true, false}) {
    for (const CLI::Option* option : app.get_options()) {
      if (hidden(*option) || option->get_positional() != positional) continue;
      out << ".TP\n" << option_label(*option) << "\n";
      std::string description = option->get_description();
      if (option->get_required() && positional) description += " (required)";
      out << roff(description.empty() ? "-" : description) << "\n";
    }
  }
}

std::string synopsis(CLI::App& app, const std::string& path) {
  std::string line = "\\fB" + roff(path) + "\\fR [\\fIOPTIONS\\fR]";
  for (const CLI::Option* option : app.get_options()) {
    if (!option->get_positional() || hidden(*option)) continue;
    std::string name = "\\fI" + roff(option->get_name(true)) + "\\fR";
    if (option->get_items_expected_max() > 1) name += " ...";
    line += option->get_required() ? " " + name : " [" + name + "]";
  }
  return line;
}

std::vector<CLI::App*> visible_subcommands(CLI::App& app) {
  return app.get_subcommands([](CLI::App* sub) { return !sub->get_group().empty(); });
}

void print_command(std::ostream& out, CLI::App& command, const std::string& path) {
  out << ".SS \"" << roff(path) << "\"\n";
  out << synopsis(command, path);
  if (!visible_subcommands(command).empty()) out << " [\\fICOMMAND\\fR]";
  out << "\n.PP\n" << roff(command.get_description()) << "\n";
  print_options(out, command);
  for (CLI::App* sub : visible_subcommands(command)) print_command(out, *sub, path + " " + sub->get_name());
}

}  // namespace

std::string man_page(CLI::App& app) {
  std::ostringstream out;
  std::string name = app.get_name();
  std::string description = to_valid_utf8(app.get_description());
  // "ttops — what it is" in --help; NAME wants "ttops \- what it is".
  std::string what = description;
  if (auto dash = description.find(" \u2014 "); dash != std::string::npos) what = description.substr(dash + 5);

  out << ".\\\" " << name << "(1), written by `" << name
      << " __man` from the command definitions `--help` prints. Do not edit.\n";
  std::string title = name;
  for (char& c : title) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  out << ".TH " << title << " 1 \"\" \"" << name << " " << TTOPS_VERSION << "\" \"User Commands\"\n";
  out << ".SH NAME\n" << roff(name) << " \\- " << roff(what) << "\n";
  out << ".SH SYNOPSIS\n\\fB" << roff(name) << "\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n";
  out << ".SH DESCRIPTION\n" << roff(description) << "\n.PP\n"
      << "Global options go before or after the command. Reports go to standard output, diagnostics to "
         "standard error; secrets are masked in both.\n";

  out << ".SH \"GLOBAL OPTIONS\"\n";
  print_options(out, app);

  out << ".SH COMMANDS\n";
  for (CLI::App* command : visible_subcommands(app)) print_command(out, *command, name + " " + command->get_name());

  out << ".SH \"EXIT STATUS\"\n.nf\n" << roff(to_valid_utf8(app.get_footer())) << "\n.fi\n";

  out << ".SH ENVIRONMENT\n";
  for (const auto& variable : k_environment)
    out << ".TP\n.B " << variable.name << "\n" << roff(variable.meaning) << "\n";

  out << ".SH FILES\n.TP\n.I <prefix>/share/ttops/runbooks\n"
      << "The runbook library installed with ttops, used when --runbooks, $TTOPS_RUNBOOKS and ./runbooks "
         "are all absent; its ttops.yaml is the default config.\n";
  out << ".SH \"SEE ALSO\"\n.BR kubectl (1):\n"
      << "installed beside ttops, \\fBkubectl\\-ttops\\fR makes it a kubectl plugin, "
         "\\fBkubectl ttops\\fR \\fICOMMAND\\fR.\n";
  return out.str();
}

}  // namespace ttops
