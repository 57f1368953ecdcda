// libFuzzer target: the runbook loader and validator must turn any input into diagnostics, never
// a crash, a hang or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runbook/loader.hpp"
#include "runbook/validator.hpp"

namespace {

// Procedures resolve to a fixed small one, so `use:` paths are exercised too.
class FixedResolver : public ttops::ProcedureResolver {
 public:
  std::shared_ptr<const ttops::Runbook> resolve(const std::string& name, const ttops::SourceLocation& where,
                                                ttops::Diagnostics& diagnostics) override {
    if (name != "health") {
      diagnostics.error(where, "no procedure");
      return nullptr;
    }
    static const std::string text =
        "kind: procedure\ntitle: Health\nparams:\n  path: /health\nsteps:\n  - id: probe\n"
        "    http: \"{{ target.url }}{{ params.path }}\"\n";
    ttops::Diagnostics ignored;
    return ttops::load_runbook_text(text, "procedures/health.yaml", nullptr, ignored);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  FixedResolver resolver;
  ttops::Diagnostics diagnostics;
  auto runbook = ttops::load_runbook_text(text, "runbooks/svc/fuzz.yaml", &resolver, diagnostics);
  if (runbook) ttops::validate_runbook(*runbook, nullptr, diagnostics);
  for (const auto& item : diagnostics.items())
    if (item.message.empty()) __builtin_trap();  // every problem must say something
  return 0;
}
