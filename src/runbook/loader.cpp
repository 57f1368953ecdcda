// YAML -> model. Reports every structural problem with file:line:col and keeps going, so one
// `ttops validate` shows them all. Semantic checks over the whole runbook (flow, reachability,
// names) live in validator.cpp.
#include "runbook/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "runbook/yaml_util.hpp"
#include "ttops/executor.hpp"
#include "util/duration.hpp"
#include "util/suggest.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

const std::vector<std::string> k_runbook_keys = {"kind",   "service", "name",   "title", "severity", "summary",
                                                 "symptoms", "covers", "tags", "params", "timeout", "steps",
                                                 "description"};
const std::vector<std::string> k_common_step_keys = {"id",   "title",      "description", "timeout", "until",
                                                     "expect", "capture",  "on_failure",  "when",    "next",
                                                     "max_visits", "effect", "confirm",  "leaves", "recovery",
                                                     "show"};
const std::vector<std::string> k_structural_step_keys = {"decide", "parallel", "use", "with"};

class RunbookLoader {
 public:
  RunbookLoader(const std::string& path, std::string_view text, ProcedureResolver* procedures, Diagnostics& diagnostics)
      : m_path(path), m_procedures(procedures), m_diag(diagnostics) {
    m_source.lines = split_lines(text);
  }

  std::shared_ptr<Runbook> load(const YAML::Node& root) {
    auto runbook = std::make_shared<Runbook>();
    runbook->file = m_path;
    runbook->where = m_diag.locate(root);
    if (!root.IsMap()) {
      SourceLocation where = m_diag.locate(root);
      if (where.line == 0) where.line = where.column = 1;
      m_diag.error(where, root.IsNull() ? "the file is empty: a runbook needs at least a 'title' and 'steps'"
                                        : "a runbook must be a YAML map with at least 'title' and 'steps' (see docs/runbook-format.md)");
      return runbook;
    }
    check_keys(root, k_runbook_keys, "the runbook", m_diag);
    read_metadata(root, *runbook);
    if (auto node = root["timeout"]) runbook->default_timeout = read_duration(node, "timeout");
    if (auto node = root["params"]) read_params(node, *runbook);
    if (auto node = root["steps"]) {
      m_runbook = runbook.get();
      runbook->steps = read_steps(node, false);
    } else {
      m_diag.error(root, "the runbook has no 'steps'");
    }
    runbook->references = std::move(m_runbook_references);
    return runbook;
  }

 private:
  // --- metadata ----------------------------------------------------------------------------

  void read_metadata(const YAML::Node& root, Runbook& runbook) {
    std::filesystem::path path(m_path);
    std::string stem = path.stem().string();
    std::string folder = path.parent_path().filename().string();
    if (auto node = root["kind"]) {
      auto kind = scalar_string(node, "kind", m_diag);
      if (kind && *kind == "procedure") {
        runbook.is_procedure = true;
      } else if (kind && *kind != "runbook") {
        m_diag.error(node, "kind must be 'runbook' or 'procedure', not '" + *kind + "'");
      }
    }
    auto text_field = [&](const char* key, std::string& out) {
      if (auto node = root[key]) {
        if (auto value = scalar_string(node, key, m_diag)) out = *value;
      }
    };
    text_field("service", runbook.service);
    text_field("name", runbook.name);
    text_field("title", runbook.title);
    text_field("severity", runbook.severity);
    text_field("summary", runbook.summary);
    if (runbook.summary.empty()) text_field("description", runbook.summary);
    if (auto node = root["symptoms"]) runbook.symptoms = string_list(node, "symptoms", m_diag);
    if (auto node = root["covers"]) runbook.covers = string_list(node, "covers", m_diag);
    if (auto node = root["tags"]) runbook.tags = string_list(node, "tags", m_diag);
    if (runbook.name.empty()) runbook.name = stem;
    if (runbook.is_procedure) {
      if (auto node = root["service"]) m_diag.error(node, "a procedure is shared by every service: drop 'service'");
    } else {
      if (runbook.service.empty()) runbook.service = folder;
      if (root["service"] && !folder.empty() && folder != runbook.service && folder != "procedures" &&
          m_path.find("runbooks") != std::string::npos)
        m_diag.error(root["service"], "service '" + runbook.service + "' does not match the folder '" + folder + "'");
    }
    if (root["name"] && runbook.name != stem)
      m_diag.error(root["name"], "name '" + runbook.name + "' does not match the file name '" + stem + ".yaml'");
    if (!is_valid_identifier(runbook.name))
      m_diag.error(root["name"] ? root["name"] : root,
                   "runbook name '" + runbook.name + "' must be lowercase letters, digits and '-'");
    if (runbook.title.empty()) m_diag.error(root, "the runbook has no 'title'");
  }

  void read_params(const YAML::Node& node, Runbook& runbook) {
    if (!node.IsMap()) {
      m_diag.error(node, "params must be a map of parameter names");
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      Parameter param;
      param.name = it->first.Scalar();
      param.where = m_diag.locate(it->first);
      if (!is_valid_identifier(param.name))
        m_diag.error(it->first, "parameter name '" + param.name + "' must be lowercase letters, digits, '-' or '_'");
      YAML::Node spec = it->second;  // a handle: the iterator's proxy dies at the end of the line
      if (spec.IsMap()) {
        check_keys(spec, {"default", "description", "type", "secret", "env", "required"}, "parameter '" + param.name + "'",
                   m_diag);
        if (auto d = spec["default"]) {
          param.default_value = to_json(d);
          check_templates_in(d, false);
        }
        if (auto d = spec["description"]) param.description = scalar_string(d, "description", m_diag).value_or("");
        if (auto d = spec["env"]) param.from_env = scalar_string(d, "env", m_diag).value_or("");
        if (auto d = spec["secret"]) param.secret = scalar_bool(d, "secret", m_diag).value_or(false);
        if (auto d = spec["required"]) {
          bool required = scalar_bool(d, "required", m_diag).value_or(false);
          if (required && param.default_value) m_diag.error(d, "a required parameter cannot have a default");
          if (!required && !param.default_value) param.default_value = Json(nullptr);
        }
        if (auto d = spec["type"]) {
          param.type = scalar_string(d, "type", m_diag).value_or("");
          static const std::vector<std::string> types = {"string", "integer", "number", "boolean", "duration"};
          if (std::find(types.begin(), types.end(), param.type) == types.end())
            m_diag.error(d, "unknown parameter type '" + param.type + "'" + did_you_mean(param.type, types) +
                                " (use string, integer, number, boolean or duration)");
        }
        if (auto d = spec["default"]; d && param.default_value) check_default_type(d, param);
      } else {
        param.default_value = to_json(spec);  // `limit: 10` is short for `limit: {default: 10}`
        check_templates_in(spec, false);
      }
      if (runbook.find_param(param.name) != nullptr) m_diag.error(it->first, "duplicate parameter '" + param.name + "'");
      runbook.params.push_back(std::move(param));
    }
  }

  // A typed parameter's default is checked here, as --set values are when the run starts: a
  // `{type: integer, default: many}` would otherwise reach a query as it is.
  void check_default_type(const YAML::Node& node, const Parameter& param) {
    const Json& value = *param.default_value;
    if (value.is_null() || (value.is_string() && Template::has_holes(value.get_ref<const std::string&>()))) return;
    std::string wanted;
    if (param.type == "integer" && !value.is_number_integer()) {
      wanted = "a whole number";
    } else if (param.type == "number" && !value.is_number()) {
      wanted = "a number";
    } else if (param.type == "boolean" && !value.is_boolean()) {
      wanted = "true or false";
    } else if (param.type == "duration" && !value.is_number() &&
               !(value.is_string() && parse_duration(value.get_ref<const std::string&>()))) {
      wanted = "a duration such as 30s or 5m";
    }
    if (!wanted.empty())
      m_diag.error(node, "the default of parameter '" + param.name + "' must be " + wanted + ", not " +
                             one_line(value.is_string() ? "'" + value.get<std::string>() + "'" : dump_json(value), 80));
  }

  // --- steps -------------------------------------------------------------------------------

  std::vector<Step> read_steps(const YAML::Node& node, bool inside_parallel) {
    std::vector<Step> steps;
    if (!node.IsSequence()) {
      m_diag.error(node, "steps must be a list");
      return steps;
    }
    if (node.size() == 0) m_diag.error(node, "steps is empty");
    for (const auto& item : node) steps.push_back(read_step(item, inside_parallel));
    return steps;
  }

  Step read_step(const YAML::Node& node, bool inside_parallel) {
    Step step;
    step.where = m_diag.locate(node);
    if (!node.IsMap()) {
      m_diag.error(node, "a step must be a map with an 'id' and one action");
      return step;
    }
    m_step = &step;
    const MapEntries fields(node);
    if (auto id = fields["id"]) {
      step.id = scalar_string(id, "id", m_diag).value_or("");
      if (!step.id.empty() && !is_valid_identifier(step.id))
        m_diag.error(id, "step id '" + step.id + "' must be lowercase letters, digits, '-' or '_' (it is used in goto and in steps.<id>)");
      if (step.id == "end") m_diag.error(id, "'end' is reserved: it means the end of the runbook");
    } else {
      m_diag.error(node, "the step has no 'id'");
    }
    if (auto title = fields["title"]) step.title = scalar_string(title, "title", m_diag).value_or("");
    if (auto description = fields["description"]) step.description = scalar_string(description, "description", m_diag).value_or("");

    // Exactly one action: an executor's key, decide, parallel or use.
    std::vector<std::string> actions;
    std::vector<std::string> allowed = k_common_step_keys;
    allowed.insert(allowed.end(), k_structural_step_keys.begin(), k_structural_step_keys.end());
    for (const auto* executor : all_executors()) allowed.emplace_back(executor->name());
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      if (find_executor(key) != nullptr || key == "decide" || key == "parallel" || key == "use") actions.push_back(key);
    }
    check_keys(node, allowed, "step '" + step.id + "'", m_diag);
    if (actions.empty()) {
      std::vector<std::string> names;
      for (const auto* executor : all_executors()) names.emplace_back(executor->name());
      m_diag.error(node, "step '" + step.id + "' has no action: give it one of " + join(names, ", ") +
                             ", decide, parallel or use");
    } else if (actions.size() > 1) {
      m_diag.error(node[actions[1]], "step '" + step.id + "' has more than one action (" + join(actions, ", ") +
                                         "): split it into steps");
    }
    if (fields["with"] && (actions.empty() || actions[0] != "use"))
      m_diag.error(fields["with"], "'with' only goes with 'use'");

    if (!actions.empty()) {
      const std::string& action = actions[0];
      if (action == "decide") {
        read_decision(fields["decide"], step);
      } else if (action == "parallel") {
        if (inside_parallel) m_diag.error(fields["parallel"], "parallel groups cannot be nested");
        read_parallel(fields["parallel"], step);
      } else if (action == "use") {
        read_use(node, step);
      } else {
        read_action(node[action], find_executor(action), step);
      }
    }
    read_common(node, fields, step, inside_parallel);
    m_step = nullptr;
    return step;
  }

  void read_action(const YAML::Node& node, const Executor* executor, Step& step) {
    step.kind = Step::Kind::action;
    step.executor = executor;
    step.executor_name = std::string(executor->name());
    step.action_where = m_diag.locate(node);
    const std::string what = std::string(executor->name()) + " step '" + step.id + "'";
    // yaml-cpp's Node::operator= writes through to the node it refers to; reset() rebinds.
    YAML::Node action;
    action.reset(node);
    if (!node.IsMap()) {
      std::string_view shorthand = executor->shorthand_field();
      if (shorthand.empty() || node.IsNull()) {
        m_diag.error(node, what + " needs a map of settings");
        step.action = Json::object();  // executors are still asked for its effect
        return;
      }
      // `http: URL` is `http: {url: URL}`; `kubectl: [get, pods]` is `kubectl: {args: [...]}`.
      action.reset(wrap_shorthand(node, std::string(shorthand)));
    }
    std::vector<std::string> names;
    for (const auto& field : executor->fields()) names.push_back(field.name);
    if (node.IsMap()) check_keys(node, names, what, m_diag);
    const MapEntries entries(action);
    for (const auto& field : executor->fields()) {
      YAML::Node value = entries[field.name];
      if (!value) {
        if (field.required) m_diag.error(node, what + " needs '" + field.name + "' (" + field.help + ")");
        continue;
      }
      check_field_type(value, field, what);
    }
    executor->check(action, m_diag);  // the shorthand too: `kubectl: [get, pods]` is checked like its map
    step.action = to_json(action);
    // A string field holds the text as written: `instructions: 5` is "5", not a number that an
    // executor reading a string would throw on.
    for (const auto& field : executor->fields()) {
      YAML::Node value = entries[field.name];
      if (field.type == FieldType::string && value && value.IsScalar() && step.action.is_object() &&
          step.action.contains(field.name) && !step.action[field.name].is_string())
        step.action[field.name] = value.Scalar();
    }
    check_templates_in(action, false);
  }

  // A map {field: node} for a shorthand action. yaml-cpp copies a whole document's node set
  // whenever two nodes of different documents are joined, so a fresh map per step made loading
  // quadratic. Every wrapper is made inside one scratch map that shares the document's memory
  // after the first join: the document is copied once, not once per step.
  YAML::Node wrap_shorthand(const YAML::Node& node, const std::string& field) {
    if (!m_scratch_joined) {
      m_scratch["document"] = node;
      m_scratch_joined = true;
    }
    // One wrapper at a time (the caller is done with it before the next step): a growing map
    // would make each lookup longer, yaml-cpp searches map keys one by one.
    m_scratch.remove("wrapper");
    YAML::Node wrapped = m_scratch["wrapper"];
    wrapped[field] = node;
    return wrapped;
  }

  void check_field_type(const YAML::Node& value, const ActionField& field, const std::string& what) {
    const std::string label = "'" + field.name + "' of " + what;
    bool templated = value.IsScalar() && Template::has_holes(value.Scalar());
    switch (field.type) {
      case FieldType::string:
        if (!value.IsScalar()) m_diag.error(value, label + " must be a string");
        break;
      case FieldType::integer:
      case FieldType::number: {
        if (!value.IsScalar()) {
          m_diag.error(value, label + " must be a number");
          break;
        }
        if (templated) break;
        Json parsed = to_json(value);
        if (!(field.type == FieldType::integer ? parsed.is_number_integer() : parsed.is_number()))
          m_diag.error(value, label + " must be a " + (field.type == FieldType::integer ? "whole number" : "number") +
                                  ", not '" + value.Scalar() + "'");
        break;
      }
      case FieldType::boolean:
        if (!value.IsScalar() || (!templated && value.Scalar() != "true" && value.Scalar() != "false"))
          m_diag.error(value, label + " must be true or false");
        break;
      case FieldType::duration:
        if (!value.IsScalar() || (!templated && !parse_duration(value.Scalar())))
          m_diag.error(value, label + " must be a duration such as 500ms, 10s or 5m");
        break;
      case FieldType::string_list:
        if (value.IsSequence()) {
          for (const auto& item : value)
            if (!item.IsScalar()) m_diag.error(item, label + ": every entry must be a single value");
        } else if (!value.IsScalar()) {
          m_diag.error(value, label + " must be a list of strings");
        }
        break;
      case FieldType::string_map:
        if (!value.IsMap()) {
          m_diag.error(value, label + " must be a map of names to values");
          break;
        }
        for (auto it = value.begin(); it != value.end(); ++it)
          if (!it->second.IsScalar()) m_diag.error(it->second, label + ": every value must be a single value");
        break;
      case FieldType::object:
        if (!value.IsMap()) m_diag.error(value, label + " must be a map");
        break;
      case FieldType::any:
        break;
    }
  }

  void read_decision(const YAML::Node& node, Step& step) {
    step.kind = Step::Kind::decision;
    if (!node.IsMap()) {
      m_diag.error(node, "decide must be a map with 'cases' (a list of when/goto) and a 'default'");
      return;
    }
    check_keys(node, {"cases", "default"}, "decide of step '" + step.id + "'", m_diag);
    if (auto cases = node["cases"]) {
      if (!cases.IsSequence()) m_diag.error(cases, "cases must be a list of {when, goto}");
      for (const auto& item : cases) {
        DecisionCase decision;
        decision.where = m_diag.locate(item);
        if (!item.IsMap()) {
          m_diag.error(item, "a case must be a map with 'when' and 'goto'");
          continue;
        }
        check_keys(item, {"when", "goto"}, "a case of step '" + step.id + "'", m_diag);
        if (auto when = item["when"]) {
          if (auto e = parse_expression(when, false)) decision.when = *e;
        } else {
          m_diag.error(item, "the case has no 'when' condition");
        }
        if (auto target = item["goto"]) {
          decision.target = scalar_string(target, "goto", m_diag).value_or("");
        } else {
          m_diag.error(item, "the case has no 'goto' target");
        }
        step.cases.push_back(std::move(decision));
      }
    } else {
      m_diag.error(node, "decide has no 'cases'");
    }
    if (auto fallback = node["default"]) {
      step.default_target = scalar_string(fallback, "default", m_diag).value_or("");
      step.default_where = m_diag.locate(fallback);
    } else {
      m_diag.error(node, "decide has no 'default': say where the run goes when no case holds");
    }
  }

  void read_parallel(const YAML::Node& node, Step& step) {
    step.kind = Step::Kind::parallel;
    YAML::Node steps;
    steps.reset(node);
    if (node.IsMap()) {
      check_keys(node, {"max", "steps"}, "parallel of step '" + step.id + "'", m_diag);
      if (auto max = node["max"]) {
        auto value = scalar_int(max, "max", m_diag).value_or(0);
        if (value < 1 || value > 4096) m_diag.error(max, "max must be between 1 and 4096");
        step.max_concurrency = static_cast<int>(value);
      }
      // A missing key is an invalid node here, and resetting to one throws.
      const YAML::Node listed = node["steps"];
      if (!listed) {
        m_diag.error(node, "parallel has no 'steps'");
        return;
      }
      steps.reset(listed);
    }
    Step* outer = m_step;
    step.children = read_steps(steps, true);
    m_step = outer;
    for (const auto& child : step.children) {
      if (!child.next.empty()) m_diag.error(child.next_where, "a step inside a parallel group cannot jump ('next')");
      if (child.on_failure.action == FailureAction::go_to)
        m_diag.error(child.on_failure.where, "a step inside a parallel group cannot jump (on_failure goto)");
      if (child.kind == Step::Kind::decision) m_diag.error(child.where, "a decision cannot run inside a parallel group");
    }
  }

  void read_use(const YAML::Node& node, Step& step) {
    step.kind = Step::Kind::procedure;
    auto name = scalar_string(node["use"], "use", m_diag);
    if (!name) return;
    SourceLocation where = m_diag.locate(node["use"]);
    if (m_procedures == nullptr) {
      m_diag.error(where, "procedure '" + *name + "' cannot be found: no runbook library to look in");
      return;
    }
    step.procedure = m_procedures->resolve(*name, where, m_diag);
    YAML::Node with = node["with"];
    if (with) {
      step.with_where = m_diag.locate(with);
      if (!with.IsMap()) {
        m_diag.error(with, "with must be a map of the procedure's parameters");
        return;
      }
      step.with = to_json(with);
      check_templates_in(with, false);
    }
    if (!step.procedure) return;
    std::vector<std::string> names;
    for (const auto& param : step.procedure->params) names.push_back(param.name);
    if (with) {
      for (auto it = with.begin(); it != with.end(); ++it) {
        std::string key = it->first.Scalar();
        if (step.procedure->find_param(key) == nullptr)
          m_diag.error(it->first, "procedure '" + *name + "' has no parameter '" + key + "'" + did_you_mean(key, names));
      }
    }
    for (const auto& param : step.procedure->params) {
      bool given = with && with[param.name];
      if (!given && !param.default_value && param.from_env.empty())
        m_diag.error(where, "procedure '" + *name + "' needs parameter '" + param.name + "' in 'with'" +
                                (param.description.empty() ? "" : " (" + param.description + ")"));
    }
  }

  void read_common(const YAML::Node& node, const MapEntries& fields, Step& step, bool inside_parallel) {
    (void)inside_parallel;
    if (auto timeout = fields["timeout"]) step.timeout = read_duration(timeout, "timeout");
    if (auto until = fields["until"]) read_until(until, step);
    if (auto expect = fields["expect"]) read_expect(expect, step);
    if (auto capture = fields["capture"]) read_capture(capture, step);
    if (auto on_failure = fields["on_failure"]) read_on_failure(on_failure, step);
    if (auto when = fields["when"]) {
      step.when_where = m_diag.locate(when);
      if (auto e = parse_expression(when, false)) step.when = *e;
    }
    if (auto next = fields["next"]) {
      step.next = scalar_string(next, "next", m_diag).value_or("");
      step.next_where = m_diag.locate(next);
    }
    if (auto max_visits = fields["max_visits"]) {
      auto value = scalar_int(max_visits, "max_visits", m_diag).value_or(0);
      if (value < 1 || value > 1000) m_diag.error(max_visits, "max_visits must be between 1 and 1000");
      step.max_visits = static_cast<int>(value);
    }
    if (auto confirm = fields["confirm"]) step.confirm = scalar_string(confirm, "confirm", m_diag).value_or("");
    if (auto show = fields["show"]) step.show = scalar_bool(show, "show", m_diag).value_or(false);
    if (auto leaves = fields["leaves"]) read_leaves(leaves, step);
    if (auto recovery = fields["recovery"]) {
      step.recovery = scalar_string(recovery, "recovery", m_diag).value_or("");
      step.recovery_where = m_diag.locate(recovery);
      check_templates_in(recovery, true);
    }
    if (auto effect = fields["effect"]) {
      auto text = scalar_string(effect, "effect", m_diag);
      if (text) {
        step.declared_effect = parse_effect(*text);
        if (!step.declared_effect)
          m_diag.error(effect, "effect must be read, mutate or destructive, not '" + *text + "'" +
                                   did_you_mean(*text, {"read", "mutate", "destructive"}));
      }
    }
    if (step.kind == Step::Kind::action && step.executor != nullptr) {
      Effect classified = step.executor->effect(step.action);
      if (step.declared_effect && *step.declared_effect < classified)
        m_diag.error(fields["effect"], "step '" + step.id + "' is classified '" + std::string(to_string(classified)) +
                                         "' by the " + step.executor_name +
                                         " executor; a runbook can raise a step's effect, never lower it");
      step.effect = max_effect(classified, step.declared_effect.value_or(Effect::read));
      if (step.effect != Effect::read && trim(step.confirm).empty())
        m_diag.error(node, "step '" + step.id + "' " + (step.effect == Effect::destructive ? "is destructive" : "mutates") +
                               ": give it a 'confirm' text that says what it will change");
    } else if (fields["effect"] && step.kind != Step::Kind::action) {
      m_diag.error(fields["effect"], "only action steps have an effect");
    }
    if (step.kind == Step::Kind::decision) {
      for (const char* key : {"until", "expect", "capture", "timeout", "on_failure", "leaves", "recovery"})
        if (node[key]) m_diag.error(node[key], std::string("a decision step has no '") + key + "'");
    }
    if (step.kind == Step::Kind::parallel) {
      for (const char* key : {"until", "expect", "capture"})
        if (node[key]) m_diag.error(node[key], std::string("a parallel group has no '") + key + "': put it on its steps");
    }
  }

  // `leaves: {queue: "PAUSED"}`: aspect names and what the step leaves each in (templates that
  // may read the step's own result, like expectation messages).
  void read_leaves(const YAML::Node& node, Step& step) {
    if (!node.IsMap()) {
      m_diag.error(node, "leaves must be a map of what the step changes to the state it leaves it in, "
                         "e.g. {queue: \"PAUSED: no mints are processed\"}");
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      StateNote note;
      note.aspect = it->first.Scalar();
      note.where = m_diag.locate(it->first);
      if (!is_valid_identifier(note.aspect))
        m_diag.error(it->first, "aspect name '" + note.aspect + "' must be lowercase letters, digits, '-' or '_'");
      auto text = scalar_string(it->second, "the state of '" + note.aspect + "'", m_diag);
      if (!text) continue;
      note.text = *text;
      check_templates_in(it->second, true);
      step.leaves.push_back(std::move(note));
    }
  }

  std::optional<Duration> read_duration(const YAML::Node& node, const std::string& what) {
    auto text = scalar_string(node, what, m_diag);
    if (!text) return std::nullopt;
    auto parsed = parse_duration(*text);
    if (!parsed) {
      m_diag.error(node, what + " must be a duration such as 500ms, 10s or 5m, not '" + *text + "'");
      return std::nullopt;
    }
    if (parsed->count() <= 0) {
      m_diag.error(node, what + " must be longer than zero");
      return std::nullopt;
    }
    return parsed;
  }

  void read_until(const YAML::Node& node, Step& step) {
    UntilPolicy until;
    until.where = m_diag.locate(node);
    if (!node.IsMap()) {
      m_diag.error(node, "until must be a map: interval, within, attempts, successes, failures");
      return;
    }
    check_keys(node, {"interval", "within", "attempts", "successes", "failures"}, "until of step '" + step.id + "'",
               m_diag);
    if (auto v = node["interval"]) {
      if (auto d = read_duration(v, "interval")) until.interval = *d;
    }
    if (auto v = node["within"]) until.within = read_duration(v, "within");
    auto count = [&](const char* key) -> std::optional<int> {
      auto v = node[key];
      if (!v) return std::nullopt;
      auto n = scalar_int(v, key, m_diag);
      if (!n) return std::nullopt;
      if (*n < 1 || *n > 100000) {
        m_diag.error(v, std::string(key) + " must be between 1 and 100000");
        return std::nullopt;
      }
      return static_cast<int>(*n);
    };
    until.attempts = count("attempts");
    if (auto s = count("successes")) until.successes = *s;
    until.failures = count("failures");
    if (!until.attempts && !until.within)
      m_diag.error(node, "until needs a bound: 'attempts', 'within', or both (an unbounded wait can hang an incident)");
    if (until.attempts && until.successes > *until.attempts)
      m_diag.error(node["successes"], "successes (" + std::to_string(until.successes) + ") can never be reached in " +
                                          std::to_string(*until.attempts) + " attempts");
    step.until = until;
  }

  void read_expect(const YAML::Node& node, Step& step) {
    auto read_one = [&](const YAML::Node& item) {
      Expectation expectation;
      expectation.where = m_diag.locate(item);
      YAML::Node text;
      text.reset(item);
      if (item.IsMap()) {
        check_keys(item, {"that", "severity", "message"}, "an expectation of step '" + step.id + "'", m_diag);
        const YAML::Node that = item["that"];
        if (!that) {
          m_diag.error(item, "the expectation has no 'that' (the condition to check)");
          return;
        }
        text.reset(that);
        if (auto severity = item["severity"]) {
          auto value = scalar_string(severity, "severity", m_diag).value_or("");
          if (value == "warning") {
            expectation.severity = Severity::warning;
          } else if (value != "critical") {
            m_diag.error(severity, "severity must be warning or critical, not '" + value + "'");
          }
        }
        if (auto message = item["message"]) {
          expectation.message = scalar_string(message, "message", m_diag).value_or("");
          check_templates_in(message, true);
        }
      }
      if (auto e = parse_expression(text, true)) {
        expectation.expr = *e;
        step.expect.push_back(std::move(expectation));
      }
    };
    if (node.IsSequence()) {
      for (const auto& item : node) read_one(item);
    } else {
      read_one(node);
    }
  }

  void read_capture(const YAML::Node& node, Step& step) {
    if (!node.IsMap()) {
      m_diag.error(node, "capture must be a map of names to expressions");
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      Capture capture;
      capture.name = it->first.Scalar();
      capture.where = m_diag.locate(it->first);
      if (!is_valid_identifier(capture.name) || capture.name.find('-') != std::string::npos)
        m_diag.error(it->first, "capture name '" + capture.name + "' must be lowercase letters, digits and '_'");
      YAML::Node value;
      value.reset(it->second);
      if (value.IsMap()) {
        check_keys(value, {"value", "secret"}, "capture '" + capture.name + "'", m_diag);
        if (auto secret = value["secret"]) capture.secret = scalar_bool(secret, "secret", m_diag).value_or(false);
        const YAML::Node given = it->second["value"];
        if (!given) {
          m_diag.error(it->second, "capture '" + capture.name + "' has no 'value'");
          continue;
        }
        value.reset(given);
      }
      if (auto e = parse_expression(value, true)) {
        capture.expr = *e;
        step.capture.push_back(std::move(capture));
      }
    }
  }

  void read_on_failure(const YAML::Node& node, Step& step) {
    step.on_failure.where = m_diag.locate(node);
    if (node.IsScalar()) {
      const std::string& value = node.Scalar();
      if (value == "stop") {
        step.on_failure.action = FailureAction::stop;
      } else if (value == "continue") {
        step.on_failure.action = FailureAction::proceed;
      } else if (value == "ignore") {
        step.on_failure.action = FailureAction::ignore;
      } else {
        m_diag.error(node, "on_failure must be stop, continue, ignore or {goto: <step>}, not '" + value + "'" +
                               did_you_mean(value, {"stop", "continue", "ignore"}));
      }
      return;
    }
    if (node.IsMap()) {
      check_keys(node, {"goto"}, "on_failure of step '" + step.id + "'", m_diag);
      if (auto target = node["goto"]) {
        step.on_failure.action = FailureAction::go_to;
        step.on_failure.target = scalar_string(target, "goto", m_diag).value_or("");
        step.on_failure.where = m_diag.locate(target);
        return;
      }
    }
    m_diag.error(node, "on_failure must be stop, continue, ignore or {goto: <step>}");
  }

  // --- expressions and templates -----------------------------------------------------------

  // Where the text of a scalar begins, so that expression columns land on the right character.
  SourceLocation text_start(const YAML::Node& node) const {
    SourceLocation where = m_diag.locate(node);
    char first = m_source.at(where.line, where.column);
    if (first == '"' || first == '\'') where.column += 1;
    if (first == '|' || first == '>') {
      // Block scalar: the text starts on the next line, indented; columns are approximate.
      where.line += 1;
      where.column = 1;
      if (where.line >= 1 && static_cast<std::size_t>(where.line) <= m_source.lines.size()) {
        const auto& line = m_source.lines[static_cast<std::size_t>(where.line - 1)];
        where.column = static_cast<int>(line.find_first_not_of(' ') + 1);
      }
    }
    return where;
  }

  std::optional<Expression> parse_expression(const YAML::Node& node, bool sees_result) {
    if (!node.IsScalar()) {
      m_diag.error(node, "expected an expression (a single value)");
      return std::nullopt;
    }
    SourceLocation start = text_start(node);
    std::string text = node.Scalar();
    // A bare YAML `true` is an expression too; so is a quoted one.
    try {
      // Allow {{ }} around a whole expression, as people write it out of habit in templates.
      std::string_view body = trim(text);
      int offset = 0;
      if (body.size() >= 4 && body.substr(0, 2) == "{{" && body.substr(body.size() - 2) == "}}" &&
          body.find("{{", 2) == std::string_view::npos) {
        offset = static_cast<int>(text.find("{{")) + 2;
        body = body.substr(2, body.size() - 4);
        text = std::string(body);
      }
      Expression expression = Expression::parse(text);
      record_references(expression.references(), start.shifted(offset), sees_result);
      return expression;
    } catch (const ExpressionError& error) {
      m_diag.error(start.shifted(error.column() - 1), std::string("expression: ") + error.what());
      return std::nullopt;
    }
  }

  // Parses every {{ }} in the strings under `node`, reporting errors where they are.
  void check_templates_in(const YAML::Node& node, bool sees_result) {
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      if (!Template::has_holes(text)) return;
      SourceLocation start = text_start(node);
      try {
        Template parsed = Template::parse(text);
        record_references(parsed.references(), start, sees_result);
      } catch (const ExpressionError& error) {
        m_diag.error(start.shifted(error.column() - 1), std::string("template: ") + error.what());
      }
    } else if (node.IsSequence()) {
      for (const auto& item : node) check_templates_in(item, sees_result);
    } else if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) check_templates_in(it->second, sees_result);
    }
  }

  void record_references(const std::vector<NameReference>& references, const SourceLocation& start, bool sees_result) {
    for (const auto& ref : references) {
      ReferenceSite site{ref, start.shifted(ref.column - 1), sees_result};
      if (m_step != nullptr) {
        m_step->references.push_back(std::move(site));
      } else {
        m_runbook_references.push_back(std::move(site));
      }
    }
  }

  std::string m_path;
  ProcedureResolver* m_procedures;
  Diagnostics& m_diag;
  SourceText m_source;
  Runbook* m_runbook = nullptr;
  Step* m_step = nullptr;
  std::vector<ReferenceSite> m_runbook_references;  // names read by parameter defaults
  YAML::Node m_scratch{YAML::NodeType::Map};          // holds shorthand wrappers (see wrap_shorthand)
  bool m_scratch_joined = false;
};

}  // namespace

bool is_valid_identifier(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  if (!(id[0] >= 'a' && id[0] <= 'z')) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

std::shared_ptr<Runbook> load_runbook_text(std::string_view text, const std::string& display_path,
                                           ProcedureResolver* procedures, Diagnostics& diagnostics) {
  std::string previous_file = diagnostics.file();
  diagnostics.set_file(display_path);
  std::shared_ptr<Runbook> result;
  std::optional<YAML::Node> document = load_document(text, diagnostics);
  if (!document) {
    diagnostics.set_file(previous_file);
    return nullptr;
  }
  YAML::Node root = *document;
  try {
    RunbookLoader loader(display_path, text, procedures, diagnostics);
    result = loader.load(root);
  } catch (const YAML::Exception& error) {
    // yaml-cpp throws on some malformed documents only when a node is read.
    SourceLocation where{display_path, error.mark.line + 1, error.mark.column + 1};
    if (error.mark.line < 0) where.line = where.column = 1;
    diagnostics.error(where, "YAML: " + error.msg);
    result = nullptr;
  }
  diagnostics.set_file(previous_file);
  return result;
}

std::optional<std::string> read_text_file(const std::filesystem::path& file, std::string& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    error = "is a directory";
    return std::nullopt;
  }
  auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    error = ec.message();
    return std::nullopt;
  }
  if (size > 4 * 1024 * 1024) {
    error = "file is too large (" + std::to_string(size / 1024) + " KiB; runbooks are limited to 4 MiB)";
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    error = "cannot open file";
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::shared_ptr<Runbook> load_runbook_file(const std::filesystem::path& file, const std::string& display_path,
                                           ProcedureResolver* procedures, Diagnostics& diagnostics) {
  std::string error;
  auto text = read_text_file(file, error);
  if (!text) {
    diagnostics.error(SourceLocation{display_path, 0, 0}, error);
    return nullptr;
  }
  return load_runbook_text(*text, display_path, procedures, diagnostics);
}

}  // namespace ttops
