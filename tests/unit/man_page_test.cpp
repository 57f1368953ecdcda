#include <catch2/catch.hpp>

#include <algorithm>

#include "cli/man_page.hpp"

using namespace ttops;

TEST_CASE("the man page is the app's commands and flags in roff", "[man]") {
  CLI::App app{"tool \u2014 does things", "tool"};
  app.footer("Exit codes: 0 ok\n.dot at the start of a line");
  bool dry = false;
  std::string path;
  app.add_flag("--dry-run", dry, "Change nothing; a \\ backslash");
  CLI::App* run = app.add_subcommand("run", "Run it");
  run->add_option("target", path, "What to run")->required();
  app.add_subcommand("hidden", "Not shown")->group("");

  std::string page = man_page(app);
  CHECK(page.find(".TH TOOL 1 ") != std::string::npos);
  CHECK(page.find(".SH NAME\ntool \\- does things\n") != std::string::npos);
  CHECK(page.find("tool \\[u2014] does things") != std::string::npos);  // ASCII only, for groff
  CHECK(page.find("\\fB\\-\\-dry\\-run\\fR") != std::string::npos);
  CHECK(page.find("a \\e backslash") != std::string::npos);
  CHECK(page.find(".SS \"tool run\"\n\\fBtool run\\fR [\\fIOPTIONS\\fR] \\fItarget\\fR\n") != std::string::npos);
  CHECK(page.find("What to run (required)") != std::string::npos);
  CHECK(page.find("\\&.dot at the start") != std::string::npos);  // not a roff request
  CHECK(page.find("hidden") == std::string::npos);
  CHECK(std::all_of(page.begin(), page.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }));
}
