// libFuzzer target: {{ }} templates.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ttops/expression.hpp"

namespace {

struct FuzzScope : ttops::EvalScope {
  ttops::Json values = ttops::Json::parse(R"({"target": {"url": "http://x:1"}, "params": {"n": 3, "s": "a b"}})");
  const ttops::Json* lookup(std::string_view name) const override {
    auto it = values.find(std::string(name));
    return it == values.end() ? nullptr : &*it;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  static FuzzScope scope;
  try {
    auto parsed = ttops::Template::parse(text);
    (void)parsed.references();
    try {
      (void)parsed.render(scope);
      (void)parsed.render_value(scope);
    } catch (const ttops::EvaluationError&) {
    }
  } catch (const ttops::ExpressionError& error) {
    if (error.column() < 1 || static_cast<std::size_t>(error.column()) > text.size() + 1) __builtin_trap();
  }
  return 0;
}
