#include "report/result_display.hpp"

#include <algorithm>

#include "ttops/expression.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

constexpr std::size_t k_cell_width = 48;

std::string cell_text(const Json& value, std::size_t width = k_cell_width) {
  std::string text = value.is_string() ? value.get<std::string>() : to_display_string(value);
  if (value.is_null()) text = "NULL";
  // Masked whole, before it is cut: a secret cut in half would no longer be recognised.
  return one_line(process_redactor().redact(text), width);
}

// UTF-8 aware enough for padding: count code points, not bytes.
std::size_t width_of(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::vector<std::string> table(const Json& rows, std::size_t max_lines) {
  std::vector<std::string> columns;
  for (auto it = rows[0].begin(); it != rows[0].end(); ++it) columns.push_back(it.key());
  std::size_t shown = std::min(rows.size(), max_lines - 1);
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const auto& column : columns) widths.push_back(width_of(column));
  for (std::size_t r = 0; r < shown; ++r) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      line.push_back(cell_text(rows[r].value(columns[c], Json(nullptr))));
      widths[c] = std::max(widths[c], width_of(line.back()));
    }
    cells.push_back(std::move(line));
  }
  auto render = [&](const std::vector<std::string>& line) {
    std::string out;
    for (std::size_t c = 0; c < line.size(); ++c) {
      out += line[c];
      if (c + 1 < line.size()) out += std::string(widths[c] - width_of(line[c]) + 2, ' ');
    }
    return out;
  };
  std::vector<std::string> out = {render(columns)};
  for (const auto& line : cells) out.push_back(render(line));
  if (rows.size() > shown) out.push_back("… " + std::to_string(rows.size() - shown) + " more rows");
  return out;
}

std::vector<std::string> list(const Json& items, std::size_t max_lines, bool last) {
  std::vector<std::string> out;
  std::size_t count = items.size();
  std::size_t shown = std::min(count, max_lines);
  std::size_t first = last ? count - shown : 0;
  if (last && first > 0) out.push_back("… " + std::to_string(first) + " earlier lines");
  // A log line is read whole: only table cells are kept narrow.
  for (std::size_t i = first; i < first + shown; ++i) out.push_back(cell_text(items[i], 200));
  if (!last && count > shown) out.push_back("… " + std::to_string(count - shown) + " more");
  return out;
}

}  // namespace

std::vector<std::string> display_lines(const Json& data, std::size_t max_lines) {
  if (!data.is_object() || max_lines < 2) return {};
  if (data.contains("rows") && data["rows"].is_array() && !data["rows"].empty() && data["rows"][0].is_object())
    return table(data["rows"], max_lines);
  if (data.contains("lines") && data["lines"].is_array() && !data["lines"].empty())
    return list(data["lines"], max_lines, true);
  if (data.contains("reply") && data["reply"].is_array() && !data["reply"].empty())
    return list(data["reply"], max_lines, false);
  if (data.contains("sample") && data["sample"].is_array() && !data["sample"].empty())
    return list(data["sample"], max_lines, false);
  // A JSON answer that is a list of records (alerts, workers, pods): a table of them.
  if (data.contains("json") && data["json"].is_array() && !data["json"].empty() && data["json"][0].is_object())
    return table(data["json"], max_lines);
  return {};
}

}  // namespace ttops
