#include "report/flow_diagram.hpp"

#include <map>
#include <sstream>
#include <vector>

#include "util/text.hpp"

namespace ttops {

namespace {

// The graph both formats draw: nodes with a shape and a label, labelled edges.
struct FlowGraph {
  enum class Shape { terminal, step, decision, group, procedure, manual };
  struct Node {
    std::string id;
    std::string label;
    Shape shape = Shape::step;
    std::string effect;
    std::vector<std::string> children;  // group members (labels)
  };
  struct Edge {
    std::string from;
    std::string to;
    std::string label;
    bool failure = false;
  };
  std::vector<Node> nodes;
  std::vector<Edge> edges;
};

std::string node_id(std::size_t index) { return "s" + std::to_string(index); }

FlowGraph build(const Runbook& runbook) {
  FlowGraph graph;
  const auto& steps = runbook.steps;
  std::map<std::string, std::string> ids;
  for (std::size_t i = 0; i < steps.size(); ++i) ids[steps[i].id] = node_id(i);
  ids["end"] = "done";  // "end" is a keyword in Mermaid
  auto target = [&](const std::string& id) { return ids.count(id) ? ids[id] : std::string("done"); };

  graph.nodes.push_back({"start", "start", FlowGraph::Shape::terminal, "", {}});
  if (!steps.empty()) graph.edges.push_back({"start", node_id(0), "", false});
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    FlowGraph::Node node;
    node.id = node_id(i);
    node.label = step.title.empty() ? step.id : step.id + ": " + step.title;
    switch (step.kind) {
      case Step::Kind::action:
        node.shape = step.executor_name == "manual" ? FlowGraph::Shape::manual : FlowGraph::Shape::step;
        node.effect = std::string(to_string(step.effect));
        if (step.effect != Effect::read) node.label += " (" + node.effect + ")";
        break;
      case Step::Kind::decision:
        node.shape = FlowGraph::Shape::decision;
        node.label = step.title.empty() ? step.id : step.title;
        break;
      case Step::Kind::parallel:
        node.shape = FlowGraph::Shape::group;
        for (const auto& child : step.children) node.children.push_back(child.id);
        node.label += " (in parallel)";
        break;
      case Step::Kind::procedure:
        node.shape = FlowGraph::Shape::procedure;
        node.label += " [" + (step.procedure ? step.procedure->name : std::string("?")) + "]";
        break;
    }
    graph.nodes.push_back(node);
    std::string next = i + 1 < steps.size() ? node_id(i + 1) : "done";
    if (step.kind == Step::Kind::decision) {
      for (const auto& c : step.cases) graph.edges.push_back({node.id, target(c.target), c.when.text(), false});
      graph.edges.push_back({node.id, target(step.default_target), "otherwise", false});
      continue;
    }
    graph.edges.push_back({node.id, step.next.empty() ? next : target(step.next), "", false});
    if (step.when && !step.next.empty()) graph.edges.push_back({node.id, next, "skipped", false});
    if (step.on_failure.action == FailureAction::go_to)
      graph.edges.push_back({node.id, target(step.on_failure.target), "on failure", true});
    // A failure that stops the run is not drawn: it is the default everywhere.
  }
  graph.nodes.push_back({"done", "end", FlowGraph::Shape::terminal, "", {}});
  return graph;
}

std::string mermaid_text(std::string_view text) {
  std::string out;
  for (char c : one_line(text, 90)) {
    if (c == '"') {
      out += "#quot;";
    } else if (c == '<') {
      out += "#lt;";
    } else if (c == '>') {
      out += "#gt;";
    } else {
      out += c;
    }
  }
  return out;
}

std::string dot_text(std::string_view text) {
  std::string out;
  for (char c : one_line(text, 90)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string flow_mermaid(const Runbook& runbook) {
  FlowGraph graph = build(runbook);
  std::ostringstream out;
  out << "flowchart TD\n";
  for (const auto& node : graph.nodes) {
    std::string label = mermaid_text(node.label);
    out << "  " << node.id;
    switch (node.shape) {
      case FlowGraph::Shape::terminal: out << "([" << label << "])"; break;
      case FlowGraph::Shape::decision: out << "{\"" << label << "\"}"; break;
      case FlowGraph::Shape::procedure: out << "[[\"" << label << "\"]]"; break;
      case FlowGraph::Shape::manual: out << "[/\"" << label << "\"/]"; break;
      case FlowGraph::Shape::group: {
        std::string members = mermaid_text(join(node.children, ", "));
        out << "[\"" << label << "<br/>" << members << "\"]";
        break;
      }
      case FlowGraph::Shape::step: out << "[\"" << label << "\"]"; break;
    }
    out << "\n";
  }
  for (const auto& edge : graph.edges) {
    out << "  " << edge.from << (edge.failure ? " -." : " --");
    if (!edge.label.empty()) out << (edge.failure ? " " : " \"") << mermaid_text(edge.label) << (edge.failure ? " .->" : "\" -->");
    else out << (edge.failure ? "->" : ">");
    out << " " << edge.to << "\n";
  }
  for (const auto& node : graph.nodes) {
    if (node.effect == "mutate") out << "  style " << node.id << " stroke:#d97706,stroke-width:2px\n";
    if (node.effect == "destructive") out << "  style " << node.id << " stroke:#dc2626,stroke-width:3px\n";
  }
  return out.str();
}

std::string flow_dot(const Runbook& runbook) {
  FlowGraph graph = build(runbook);
  std::ostringstream out;
  out << "digraph \"" << dot_text(runbook.qualified_name()) << "\" {\n"
      << "  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& node : graph.nodes) {
    out << "  " << node.id << " [label=\"" << dot_text(node.label);
    if (node.shape == FlowGraph::Shape::group) out << "\\n" << dot_text(join(node.children, ", "));
    out << "\"";
    switch (node.shape) {
      case FlowGraph::Shape::terminal: out << ", shape=oval"; break;
      case FlowGraph::Shape::decision: out << ", shape=diamond, style=\"\""; break;
      case FlowGraph::Shape::procedure: out << ", shape=box, style=\"rounded,bold\""; break;
      case FlowGraph::Shape::manual: out << ", shape=parallelogram, style=\"\""; break;
      case FlowGraph::Shape::group: out << ", shape=box3d, style=\"\""; break;
      case FlowGraph::Shape::step: break;
    }
    if (node.effect == "mutate") out << ", color=\"#d97706\"";
    if (node.effect == "destructive") out << ", color=\"#dc2626\", penwidth=2";
    out << "];\n";
  }
  for (const auto& edge : graph.edges) {
    out << "  " << edge.from << " -> " << edge.to;
    if (!edge.label.empty() || edge.failure) {
      out << " [";
      if (!edge.label.empty()) out << "label=\"" << dot_text(edge.label) << "\"";
      if (edge.failure) out << (edge.label.empty() ? "" : ", ") << "style=dashed, color=\"#dc2626\"";
      out << "]";
    }
    out << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace ttops
