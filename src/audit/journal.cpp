#include "audit/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "util/redact.hpp"
#include "util/state_dir.hpp"

namespace ttops {

std::filesystem::path RunJournal::directory() { return state_dir() / "runs"; }

std::filesystem::path RunJournal::path_for(const std::string& run_id) { return directory() / (run_id + ".jsonl"); }

std::optional<RunJournal> RunJournal::create(const std::string& run_id, const Json& header, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(directory(), ec);
  auto path = path_for(run_id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create run journal " + path.string();
    return std::nullopt;
  }
  ::close(fd);
  RunJournal journal(path);
  Json record = header;
  record["kind"] = "start";
  journal.append(record);
  return journal;
}

void RunJournal::append(const Json& record) {
  // Each line is written whole and synced, so a run killed at any point leaves a readable journal.
  std::string line = process_redactor().redact(dump_json(record)) + "\n";
  int fd = ::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] auto written = ::write(fd, line.data(), line.size());
  ::fdatasync(fd);
  ::close(fd);
}

void RunJournal::step(const StepResult& result, const Json& view, const std::string& next) {
  // What a resume needs and a reader wants: how the step went and what it captured. Its data is
  // in `view` already (what steps.<id> saw), so it is not written twice.
  Json summary = {{"id", result.id},          {"title", result.title},
                  {"kind", result.kind},      {"effect", std::string(to_string(result.effect))},
                  {"status", std::string(to_string(result.status))},
                  {"reason", result.reason},  {"attempts", result.attempts},
                  {"seconds", result.seconds}, {"captures", result.captures}};
  if (!result.decision.empty()) summary["decision"] = result.decision;
  append(Json{{"kind", "step"}, {"id", result.id}, {"result", summary}, {"view", view}, {"next", next}});
}

void RunJournal::finish(const RunResult& run) {
  append(Json{{"kind", "end"}, {"status", std::string(to_string(run.status))}, {"reason", run.reason},
              {"seconds", run.seconds}});
}

std::optional<RunJournal::Loaded> RunJournal::load(const std::string& run_id, std::string& error) {
  auto path = path_for(run_id);
  std::ifstream in(path);
  if (!in) {
    error = "no journal for run '" + run_id + "' in " + directory().string();
    return std::nullopt;
  }
  Loaded loaded;
  loaded.end = nullptr;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json record;
    try {
      record = Json::parse(line);
    } catch (const Json::parse_error&) {
      continue;  // a line cut by a crash: everything before it still counts
    }
    std::string kind = record.value("kind", "");
    if (kind == "start") {
      loaded.header = record;
    } else if (kind == "step") {
      loaded.steps.push_back(record);
    } else if (kind == "end") {
      loaded.end = record;
    }
  }
  if (loaded.header.is_null()) {
    error = "the journal of run '" + run_id + "' has no header";
    return std::nullopt;
  }
  return loaded;
}

}  // namespace ttops
