#include "report/context_table.hpp"

#include <algorithm>
#include <ostream>

#include "util/duration.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

struct Cell {
  std::string text;
  std::string_view colour;
};

// The text reporter's status words, with the time where a step ran.
Cell step_cell(const StepResult& step, const Palette& palette) {
  if (step.kind == "decision" && step.status != StepStatus::failed) return {"GOTO " + step.decision, palette.cyan};
  std::string time = " " + format_duration(step.seconds);
  switch (step.status) {
    case StepStatus::passed: return {"PASS" + time, palette.green};
    case StepStatus::warned: return {"WARN" + time, palette.yellow};
    case StepStatus::failed:
      return step.handled ? Cell{"FAIL" + time + " (handled)", palette.dim} : Cell{"FAIL" + time, palette.red};
    case StepStatus::skipped: return {step.dry_run ? "DRY" : "SKIP", palette.dim};
    case StepStatus::declined: return {"NO", palette.yellow};
    case StepStatus::interrupted: return {"STOP" + time, palette.red};
  }
  return {"?", palette.reset};
}

Cell run_cell(const RunResult& run, const Palette& palette) {
  std::string word(to_string(run.status));
  for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view colour = run.status == RunStatus::passed   ? palette.green
                            : run.status == RunStatus::warned ? palette.yellow
                                                              : palette.red;
  return {word + " " + format_duration(run.seconds), colour};
}

using Rows = std::vector<std::pair<std::string, const StepResult*>>;

// Steps as rows: those of groups and procedures as "group/step"; a step that ran twice (a
// bounded loop) shows its last run.
void flatten(const std::vector<StepResult>& steps, const std::string& prefix, Rows& out) {
  for (const auto& step : steps) {
    if (!step.children.empty() && step.kind != "decision") {
      flatten(step.children, prefix + step.id + "/", out);
      continue;
    }
    std::string name = prefix + step.id;
    auto same = std::find_if(out.begin(), out.end(), [&](const auto& row) { return row.first == name; });
    if (same != out.end()) {
      same->second = &step;
    } else {
      out.emplace_back(std::move(name), &step);
    }
  }
}

bool changes_things(const std::vector<StepResult>& steps) {
  for (const auto& step : steps)
    if (step.effect != Effect::read || step.kind == "manual" || changes_things(step.children)) return true;
  return false;
}

void problems(const std::vector<StepResult>& steps, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& step : steps) {
    if (!step.children.empty()) {
      problems(step.children, prefix + step.id + "/", out);
      continue;
    }
    if ((step.status == StepStatus::failed && !step.handled) || step.status == StepStatus::warned ||
        step.status == StepStatus::declined || step.status == StepStatus::interrupted)
      out.push_back(prefix + step.id + ": " + one_line(step.reason, 200));
  }
}

std::string pad(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

void print_runbook(std::ostream& out, const std::vector<const RunResult*>& runs, const Palette& palette) {
  const RunResult& first = *runs.front();
  out << palette.bold << first.service << "/" << first.runbook << palette.reset;
  if (!first.title.empty()) out << "  " << first.title;
  out << palette.dim << "  (env: " << first.environment << (first.dry_run ? ", dry run" : "") << ")" << palette.reset
      << "\n\n";

  std::vector<Rows> per_run(runs.size());
  Rows order;  // every step any context ran, in the order they first appear
  for (std::size_t i = 0; i < runs.size(); ++i) {
    flatten(runs[i]->steps, "", per_run[i]);
    for (const auto& row : per_run[i])
      if (std::none_of(order.begin(), order.end(), [&](const auto& seen) { return seen.first == row.first; }))
        order.push_back(row);
  }
  std::vector<std::vector<Cell>> cells(order.size(), std::vector<Cell>(runs.size()));
  std::vector<Cell> verdicts;
  std::size_t name_width = 4;  // "STEP"
  std::vector<std::size_t> widths;
  for (std::size_t c = 0; c < runs.size(); ++c) {
    verdicts.push_back(run_cell(*runs[c], palette));
    widths.push_back(std::max(runs[c]->context.size(), verdicts.back().text.size()));
  }
  for (std::size_t r = 0; r < order.size(); ++r) {
    name_width = std::max(name_width, order[r].first.size());
    for (std::size_t c = 0; c < runs.size(); ++c) {
      auto it = std::find_if(per_run[c].begin(), per_run[c].end(), [&](const auto& row) { return row.first == order[r].first; });
      cells[r][c] = it == per_run[c].end() ? Cell{"-", palette.dim} : step_cell(*it->second, palette);
      widths[c] = std::max(widths[c], cells[r][c].text.size());
    }
  }
  auto line = [&](const std::string& name, const std::vector<Cell>& row, bool bold) {
    std::string text = "  " + pad(name, name_width + 2);
    out << (bold ? palette.bold : "") << text << (bold ? palette.reset : "");
    for (std::size_t c = 0; c < row.size(); ++c) {
      bool last = c + 1 == row.size();
      out << row[c].colour << (last ? row[c].text : pad(row[c].text, widths[c] + 2)) << palette.reset;
    }
    out << "\n";
  };
  std::vector<Cell> header;
  for (const RunResult* run : runs) header.push_back(Cell{run->context, palette.bold});
  line("STEP", header, true);
  for (std::size_t r = 0; r < order.size(); ++r) line(order[r].first, cells[r], false);
  out << "\n";
  line("", verdicts, false);

  // What went wrong where, and what to do about it: the text report's detail, per context.
  std::size_t context_width = 0;
  for (const RunResult* run : runs) context_width = std::max(context_width, run->context.size());
  bool any = false;
  for (const RunResult* run : runs) {
    std::string who = "  " + pad(run->context, context_width + 2);
    std::vector<std::string> found;
    problems(run->steps, "", found);
    if (found.empty() && !run->reason.empty() && run->status != RunStatus::passed) found.push_back(run->reason);
    std::vector<std::string> lines;
    for (const auto& problem : found) lines.push_back(problem);
    for (const auto& text : run->next_steps) {
      bool first_line = true;
      for (const auto& part : split_lines(text)) {
        lines.push_back((first_line ? "next: " : "      ") + part);
        first_line = false;
      }
    }
    bool resumable = (run->status == RunStatus::failed || run->status == RunStatus::interrupted ||
                      run->status == RunStatus::declined) &&
                     changes_things(run->steps) && !run->dry_run && !run->run_id.empty();
    if (resumable) lines.push_back("continue from there: ttops resume " + run->run_id);
    if (lines.empty()) continue;
    if (!any) out << "\n";
    any = true;
    for (const auto& text : lines) out << who << text << "\n";
  }
}

}  // namespace

std::vector<std::string> contexts_of(const std::vector<RunResult>& runs) {
  std::vector<std::string> out;
  for (const auto& run : runs)
    if (std::find(out.begin(), out.end(), run.context) == out.end()) out.push_back(run.context);
  return out;
}

void print_steps_by_context(std::ostream& out, const std::vector<RunResult>& runs, const Palette& palette) {
  std::vector<std::pair<std::string, std::vector<const RunResult*>>> runbooks;
  for (const auto& run : runs) {
    std::string name = run.service + "/" + run.runbook;
    auto it = std::find_if(runbooks.begin(), runbooks.end(), [&](const auto& entry) { return entry.first == name; });
    if (it == runbooks.end()) {
      runbooks.emplace_back(name, std::vector<const RunResult*>{&run});
    } else {
      it->second.push_back(&run);
    }
  }
  bool first = true;
  for (const auto& [name, theirs] : runbooks) {
    if (!first) out << "\n";
    first = false;
    print_runbook(out, theirs, palette);
  }
}

}  // namespace ttops
