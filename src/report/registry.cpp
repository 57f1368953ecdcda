// The one table of report formats. Adding one: a new file in this folder defining
// make_<name>_reporter(), and one line in TTOPS_REPORTERS below.
#include <memory>
#include <vector>

#include "ttops/reporter.hpp"

#define TTOPS_REPORTERS(X) \
  X(text)                  \
  X(json)                  \
  X(junit)                 \
  X(markdown)              \
  X(prometheus)

namespace ttops {

#define TTOPS_DECLARE_REPORTER(name) \
  std::unique_ptr<Reporter> make_##name##_reporter(std::ostream& out, const ReporterOptions& options);
TTOPS_REPORTERS(TTOPS_DECLARE_REPORTER)
#undef TTOPS_DECLARE_REPORTER

namespace {

struct Entry {
  const char* name;
  ReporterFactory factory;
};

const std::vector<Entry>& table() {
#define TTOPS_REPORTER_ENTRY(name) Entry{#name, &make_##name##_reporter},
  static const std::vector<Entry> entries = {TTOPS_REPORTERS(TTOPS_REPORTER_ENTRY)};
#undef TTOPS_REPORTER_ENTRY
  return entries;
}

}  // namespace

std::unique_ptr<Reporter> make_reporter(std::string_view name, std::ostream& out, const ReporterOptions& options) {
  for (const auto& entry : table())
    if (name == entry.name) return entry.factory(out, options);
  return nullptr;
}

std::vector<std::string> reporter_names() {
  std::vector<std::string> names;
  for (const auto& entry : table()) names.emplace_back(entry.name);
  return names;
}

}  // namespace ttops
