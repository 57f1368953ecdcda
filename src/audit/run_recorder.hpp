#pragma once
// Connects a run to its audit trail and journal: the engine's RunObserver.
#include <optional>
#include <string>

#include "audit/audit_log.hpp"
#include "audit/journal.hpp"
#include "engine/engine.hpp"

namespace ttops {

class RunRecorder : public RunObserver {
 public:
  RunRecorder(const PreparedRun& run, AuditLog* audit, RunJournal* journal)
      : m_run(run), m_audit(audit), m_journal(journal) {}

  bool before_mutation(const Step& step, const StepResult& result, std::string& error) override;
  void after_mutation(const Step& step, const StepResult& result) override;
  void top_level_step(const StepResult& result, const Json& view, const std::string& next) override;

 private:
  Json base(const Step& step, const StepResult& result, const char* phase) const;

  const PreparedRun& m_run;
  AuditLog* m_audit;
  RunJournal* m_journal;
};

}  // namespace ttops
