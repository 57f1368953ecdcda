#pragma once
// Each run keeps a journal (<state dir>/runs/<run id>.jsonl): its resolved inputs, then every
// top-level step as it finishes with where the flow goes next, then how it ended. `ttops resume`
// reads it to continue an interrupted or failed run from the step that did not finish.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ttops/json.hpp"
#include "ttops/result.hpp"

namespace ttops {

class RunJournal {
 public:
  static std::filesystem::path directory();
  static std::filesystem::path path_for(const std::string& run_id);

  /// Starts a journal with the run's header (inputs are redacted as they are written).
  static std::optional<RunJournal> create(const std::string& run_id, const Json& header, std::string& error);

  /// Records a finished top-level step and the step the flow goes to next ("end" when done).
  void step(const StepResult& result, const Json& view, const std::string& next);
  void finish(const RunResult& run);
  /// Copies a step record of an earlier run (a resume carries the history forward).
  void carry(const Json& record) { append(record); }

  struct Loaded {
    Json header;
    std::vector<Json> steps;  // {"result": …, "view": …, "next": …}
    Json end;                 // null when the run never finished (killed)
  };
  static std::optional<Loaded> load(const std::string& run_id, std::string& error);

 private:
  explicit RunJournal(std::filesystem::path path) : m_path(std::move(path)) {}
  void append(const Json& record);

  std::filesystem::path m_path;
};

}  // namespace ttops
