#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ttops {

std::string join(const std::vector<std::string>& parts, std::string_view separator);
std::vector<std::string> split(std::string_view text, char separator);
std::vector<std::string> split_lines(std::string_view text);
std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);
/// The first `max` characters, with "…" when cut; newlines shown as spaces.
std::string one_line(std::string_view text, std::size_t max = 120);
/// Quotes an argument the way a shell would need it, for showing exact command lines.
std::string shell_quote(std::string_view argument);
std::string shell_join(const std::vector<std::string>& argv);
/// The text with every byte sequence that is not UTF-8 replaced by U+FFFD, so that data from a
/// server (a Redis value, a SQL_ASCII column) can always be written as JSON.
std::string to_valid_utf8(std::string_view text);

}  // namespace ttops
