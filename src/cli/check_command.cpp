// ttops check [SERVICE...] [--all]: each service's smoke runbook (or its health runbook), all
// services at once, a compact table, exit 0 only when every one passes. For CI after a deploy.
// With --context a,b,c, in every context at once, a column per context.
#include <unistd.h>

#include <chrono>
#include <functional>
#include <ostream>
#include <thread>

#include "cli/run_support.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// Check runs report nothing while they go; the table (or -o json/junit/markdown) comes at the end.
class QuietReporter : public Reporter {};

std::string first_failure(const std::vector<StepResult>& steps) {
  for (const auto& step : steps) {
    if (!step.children.empty()) {
      std::string inner = first_failure(step.children);
      if (!inner.empty()) return step.id + "/" + inner;
    }
    if ((step.status == StepStatus::failed && !step.handled) || step.status == StepStatus::warned ||
        step.status == StepStatus::declined || step.status == StepStatus::interrupted)
      return step.id + ": " + step.reason;
  }
  return {};
}

class CheckCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("services", m_services, "Services to check (default: all, also --all)");
    command.add_flag("--all", m_all, "Check every service");
    command.add_option("--wait-ready", m_wait_ready,
                       "Keep checking until every service passes or this bound passes (e.g. 2m), for right after a deploy");
    command.add_option("--interval", m_interval, "Time between checks with --wait-ready (default 5s)");
    m_flags.define(command, false);
  }

  bool runs_on_many_contexts() const override { return true; }

  int run(CommandContext& context) override {
    RunSession session(context, m_flags);
    if (!session.open()) return exit_code::usage;
    auto known = session.library().services();
    bool every_service = m_services.empty() || m_all;
    if (every_service) m_services = known;
    std::vector<PreparedRun> prepared;
    for (const auto& service : m_services) {
      if (std::find(known.begin(), known.end(), service) == known.end()) {
        context.error("unknown service '" + service + "'" + did_you_mean(service, known));
        return exit_code::usage;
      }
      auto names = session.library().runbook_names(service);
      std::string name = std::find(names.begin(), names.end(), "smoke") != names.end() ? "smoke" : "health";
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        // Checking everything means every service that can be checked; one named on purpose must be.
        if (every_service) {
          context.err() << "note: service '" << service << "' has no smoke or health runbook; not checked\n";
          continue;
        }
        context.error("service '" + service + "' has no smoke or health runbook to check");
        return exit_code::usage;
      }
      auto run = session.prepare(service, name, {});
      if (!run) return exit_code::usage;
      for (auto& one : session.for_each_context(std::move(*run))) prepared.push_back(std::move(one));
    }
    if (prepared.empty()) {
      context.error("no service has a smoke or health runbook to check");
      return exit_code::usage;
    }
    std::vector<const PreparedRun*> pointers;
    for (const auto& run : prepared) pointers.push_back(&run);
    if (int refused = session.preflight(pointers); refused != exit_code::ok) return refused;

    std::optional<std::chrono::milliseconds> wait_ready;
    if (!m_wait_ready.empty()) {
      wait_ready = parse_duration(m_wait_ready);
      if (!wait_ready) {
        context.error("--wait-ready must be a duration such as 2m, not '" + m_wait_ready + "'");
        return exit_code::usage;
      }
    }
    auto interval = parse_duration(m_interval).value_or(std::chrono::seconds(5));
    auto deadline = std::chrono::steady_clock::now() + wait_ready.value_or(std::chrono::milliseconds(0));

    std::vector<RunResult> results(prepared.size());
    std::vector<bool> done(prepared.size(), false);
    int rounds = 0;
    while (true) {
      ++rounds;
      // Every service at once: one thread per service and context (there are a handful).
      std::vector<std::thread> threads;
      for (std::size_t i = 0; i < prepared.size(); ++i) {
        if (done[i]) continue;
        threads.emplace_back([&, i] {
          QuietReporter quiet;
          results[i] = session.execute(prepared[i], quiet);
        });
      }
      for (auto& thread : threads) thread.join();
      bool all_pass = true;
      for (std::size_t i = 0; i < prepared.size(); ++i) {
        bool pass = results[i].status == RunStatus::passed ||
                    (results[i].status == RunStatus::warned && !m_flags.fail_on_warning());
        done[i] = pass;
        all_pass = all_pass && pass;
      }
      if (all_pass || !wait_ready || process_cancel_token().cancelled()) break;
      if (std::chrono::steady_clock::now() + interval > deadline) break;
      if (context.options().output == "text")
        context.err() << "waiting for " << std::count(done.begin(), done.end(), false) << " service(s); next check in "
                      << format_duration(interval) << "\n";
      std::this_thread::sleep_for(interval);
    }

    if (context.options().output != "text") {
      auto reporter = make_reporter(context.options().output, context.out(), context.reporter_options());
      return session.finish(results, *reporter);
    }
    if (context.kube_contexts().size() > 1) {
      print_table_by_context(context.out(), results, context.kube_contexts());
    } else {
      print_table(context.out(), results);
    }
    if (rounds > 1) context.out() << "(" << rounds << " rounds of checks)\n";
    QuietReporter quiet;
    return session.finish(results, quiet);
  }

 private:
  static std::string pad(const std::string& text, std::size_t width) {
    return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
  }

  static std::string status_word(const RunResult& run) {
    return run.status == RunStatus::passed ? "PASS" : run.status == RunStatus::warned ? "WARN" : "FAIL";
  }

  // "2/3": the steps that passed (warnings and handled failures count) of those that ran.
  static std::string steps_passed(const RunResult& run) {
    int total = 0;
    int ok = 0;
    std::function<void(const std::vector<StepResult>&)> count = [&](const std::vector<StepResult>& steps) {
      for (const auto& step : steps) {
        if (!step.children.empty()) {
          count(step.children);
          continue;
        }
        if (step.kind == "decision") continue;
        ++total;
        if (step.status == StepStatus::passed || step.status == StepStatus::warned || step.handled) ++ok;
      }
    };
    count(run.steps);
    return std::to_string(ok) + "/" + std::to_string(total);
  }

  void print_table(std::ostream& out, const std::vector<RunResult>& results) {
    out << "SERVICE      RUNBOOK   STATUS  STEPS  TIME     DETAIL\n";
    for (const auto& run : results) {
      out << pad(run.service, 13) << pad(run.runbook, 10) << pad(status_word(run), 8) << pad(steps_passed(run), 7)
          << pad(format_duration(run.seconds), 9) << process_redactor().redact(one_line(first_failure(run.steps), 100)) << "\n";
    }
  }

  // A row per service, a column per context ("PASS 2/2 3ms"), then what failed where.
  void print_table_by_context(std::ostream& out, const std::vector<RunResult>& results,
                              const std::vector<std::string>& contexts) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& run : results)
      if (std::find(rows.begin(), rows.end(), std::make_pair(run.service, run.runbook)) == rows.end())
        rows.emplace_back(run.service, run.runbook);
    auto find = [&](const std::pair<std::string, std::string>& row, const std::string& name) -> const RunResult* {
      for (const auto& run : results)
        if (run.service == row.first && run.runbook == row.second && run.context == name) return &run;
      return nullptr;
    };
    std::vector<std::size_t> widths;
    for (const auto& name : contexts) {
      std::size_t width = name.size();
      for (const auto& row : rows)
        if (const RunResult* run = find(row, name))
          width = std::max(width, (status_word(*run) + " " + steps_passed(*run) + " " + format_duration(run->seconds)).size());
      widths.push_back(width + 2);
    }
    std::string header = pad("SERVICE", 12) + pad("RUNBOOK", 9);
    for (std::size_t c = 0; c < contexts.size(); ++c) header += pad(contexts[c], widths[c]);
    out << std::string(trim(header)) << "\n";
    std::vector<std::string> details;
    for (const auto& row : rows) {
      std::string line = pad(row.first, 12) + pad(row.second, 9);
      for (std::size_t c = 0; c < contexts.size(); ++c) {
        const RunResult* run = find(row, contexts[c]);
        line += pad(run == nullptr ? "-" : status_word(*run) + " " + steps_passed(*run) + " " + format_duration(run->seconds),
                    widths[c]);
        if (run != nullptr && run->status != RunStatus::passed)
          details.push_back(contexts[c] + "  " + row.first + "/" + row.second + "  " + one_line(first_failure(run->steps), 100));
      }
      out << std::string(trim(line)) << "\n";
    }
    if (!details.empty()) out << "\n";
    for (const auto& detail : details) out << process_redactor().redact(detail) << "\n";
  }

  std::vector<std::string> m_services;
  bool m_all = false;
  std::string m_wait_ready;
  std::string m_interval = "5s";
  RunFlags m_flags;
};

}  // namespace

std::unique_ptr<Command> make_check_command() { return std::make_unique<CheckCommand>(); }

}  // namespace ttops
