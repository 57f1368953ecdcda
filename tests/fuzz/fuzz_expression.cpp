// libFuzzer target: parsing and evaluating expressions. Parse errors and evaluation errors are
// expected; anything else (a crash, a non-ttops exception, UB) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ttops/expression.hpp"

namespace {

struct FuzzScope : ttops::EvalScope {
  ttops::Json values = ttops::Json::parse(R"({
    "status": 503, "json": {"status": "DOWN", "items": [1, 2.5, "x", null, {"a": [true]}]},
    "headers": {"content-type": "application/json"}, "body": "m{a=\"1\"} 2\nh_bucket{le=\"+Inf\"} 4\n",
    "steps": {"health": {"ok": false}}, "captures": {"rate": 0.07}, "params": {"limit": 10}})");
  const ttops::Json* lookup(std::string_view name) const override {
    auto it = values.find(std::string(name));
    return it == values.end() ? nullptr : &*it;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;  // long inputs only slow the search down
  std::string text(reinterpret_cast<const char*>(data), size);
  static FuzzScope scope;
  try {
    auto expression = ttops::Expression::parse(text);
    (void)expression.references();
    (void)expression.static_truth();
    (void)expression.constant_value();
    try {
      (void)expression.evaluate(scope);
    } catch (const ttops::EvaluationError&) {
    }
    (void)expression.explain(scope);
  } catch (const ttops::ExpressionError& error) {
    if (error.column() < 1 || static_cast<std::size_t>(error.column()) > text.size() + 1) __builtin_trap();
  }
  return 0;
}
