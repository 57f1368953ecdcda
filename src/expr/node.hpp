#pragma once
// The expression syntax tree, private to src/expr.
#include <memory>
#include <string>
#include <vector>

#include "ttops/expression.hpp"
#include "ttops/json.hpp"

namespace ttops {

struct FunctionSpec;

struct Expression::Node {
  enum class Kind { literal, name, member, index, list, unary, binary, conditional, call };
  Kind kind = Kind::literal;
  int column = 1;
  std::string text;  // name, member, operator or function name
  Json value;        // literal
  const FunctionSpec* function = nullptr;
  std::vector<std::shared_ptr<const Node>> children;
};

using Node = Expression::Node;
using NodePtr = std::shared_ptr<Node>;

}  // namespace ttops
