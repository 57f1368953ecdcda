#include "audit/run_recorder.hpp"

namespace ttops {

Json RunRecorder::base(const Step& step, const StepResult& result, const char* phase) const {
  Json record = Json{{"phase", phase},
                     {"run_id", m_run.run_id},
                     {"environment", m_run.environment},
                     {"service", m_run.runbook->service},
                     {"runbook", m_run.runbook->qualified_name()},
                     {"step", step.id},
                     {"title", result.title},
                     {"effect", std::string(to_string(result.effect))},
                     {"command", result.command}};
  if (!m_run.kube_context.empty()) record["context"] = m_run.kube_context;  // which cluster changed
  return record;
}

bool RunRecorder::before_mutation(const Step& step, const StepResult& result, std::string& error) {
  if (m_audit == nullptr) return true;
  Json record = base(step, result, "intent");
  record["confirmation"] = result.notes.empty() ? std::string() : result.notes.back();
  if (!m_audit->append(std::move(record), error)) {
    error = "the audit record could not be written (" + error + "); refusing to mutate without it";
    return false;
  }
  return true;
}

void RunRecorder::after_mutation(const Step& step, const StepResult& result) {
  if (m_audit == nullptr) return;
  Json record = base(step, result, "outcome");
  record["status"] = std::string(to_string(result.status));
  record["reason"] = result.reason;
  record["seconds"] = result.seconds;
  record["attempts"] = result.attempts;
  std::string error;
  m_audit->append(std::move(record), error);  // the action already happened; a lost outcome is reported by verify
}

void RunRecorder::top_level_step(const StepResult& result, const Json& view, const std::string& next) {
  if (m_journal != nullptr) m_journal->step(result, view, next);
}

}  // namespace ttops
