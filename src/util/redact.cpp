#include "util/redact.hpp"

#include <algorithm>

namespace ttops {

namespace {

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
         c == '.';
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Where `PASSWORD '` (any case, any blanks between) starts a literal in `text` at or after `from`:
// the index just past the opening quote, or npos.
std::size_t sql_password_literal(std::string_view text, std::size_t from) {
  static constexpr std::string_view keyword = "password";
  for (std::size_t i = from; i + keyword.size() < text.size(); ++i) {
    if ((text[i] | 0x20) != 'p') continue;
    std::size_t k = 0;
    while (k < keyword.size() && (text[i + k] | 0x20) == keyword[k]) ++k;
    if (k < keyword.size()) continue;
    std::size_t j = i + k;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n')) ++j;
    if (j < text.size() && text[j] == '\'' && j > i + k) return j + 1;
  }
  return std::string_view::npos;
}

}  // namespace

std::string redact_sql_passwords(std::string_view text) {
  std::string out;
  std::size_t copied = 0;
  std::size_t start;
  while ((start = sql_password_literal(text, copied)) != std::string_view::npos) {
    // The literal ends at a quote not doubled ('' is a quote inside it); in a text cut short, at
    // the end of the line or the ellipsis that marks the cut, so the rest of a table row stays.
    std::size_t end = start;
    while (end < text.size()) {
      if (text[end] == '\n' || text.compare(end, 3, "\u2026") == 0) break;
      if (text[end] == '\'') {
        if (end + 1 < text.size() && text[end + 1] == '\'') {
          end += 2;
          continue;
        }
        break;
      }
      ++end;
    }
    out.append(text.substr(copied, start - copied));
    out.append(Redactor::mask);
    copied = end;
  }
  out.append(text.substr(copied));
  return out;
}

std::string percent_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string base64_encode(std::string_view text) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < text.size()) {
    unsigned v = (static_cast<unsigned char>(text[i]) << 16) | (static_cast<unsigned char>(text[i + 1]) << 8) |
                 static_cast<unsigned char>(text[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
    i += 3;
  }
  if (i + 1 == text.size()) {
    unsigned v = static_cast<unsigned char>(text[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == text.size()) {
    unsigned v = (static_cast<unsigned char>(text[i]) << 16) | (static_cast<unsigned char>(text[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string redact_url_credentials(std::string_view text) {
  std::string out(text);
  std::size_t search = 0;
  while ((search = out.find("://", search)) != std::string::npos) {
    // The scheme must precede "://" directly.
    std::size_t scheme_start = search;
    while (scheme_start > 0 && is_scheme_char(out[scheme_start - 1])) --scheme_start;
    std::size_t authority = search + 3;
    if (scheme_start == search) {
      search = authority;
      continue;
    }
    std::size_t end = authority;
    while (end < out.size() && out[end] != '/' && out[end] != '?' && out[end] != '#' && out[end] != ' ' &&
           out[end] != '\n' && out[end] != '"' && out[end] != '\'')
      ++end;
    std::size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= authority && at < end) {
      std::size_t colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at && at > colon + 1) {
        out.replace(colon + 1, at - colon - 1, Redactor::mask);
        end = colon + 1 + Redactor::mask.size() + 1;
      }
    }
    search = end;
  }
  return out;
}

void Redactor::add_secret(std::string_view secret) {
  if (secret.size() < 3) return;
  std::vector<std::string> forms = {std::string(secret), percent_encode(secret), base64_encode(secret)};
  // JSON output escapes quotes and backslashes; mask that spelling too.
  std::string json_form = dump_json(Json(std::string(secret)));
  forms.push_back(json_form.substr(1, json_form.size() - 2));
  std::unique_lock lock(m_mutex);
  for (auto& form : forms) {
    if (form.size() < 3) continue;
    m_first_pairs[(static_cast<unsigned char>(form[0]) << 8) | static_cast<unsigned char>(form[1])] = true;
    if (std::find(m_forms.begin(), m_forms.end(), form) == m_forms.end()) m_forms.push_back(std::move(form));
  }
  std::sort(m_forms.begin(), m_forms.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

void Redactor::add_url_credentials(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return;
  auto authority = scheme + 3;
  auto end = url.find_first_of("/?#", authority);
  if (end == std::string_view::npos) end = url.size();
  auto at = url.rfind('@', end);
  if (at == std::string_view::npos || at < authority) return;
  auto colon = url.find(':', authority);
  if (colon == std::string_view::npos || colon > at) return;
  add_secret(url.substr(colon + 1, at - colon - 1));
}

std::string Redactor::redact(std::string_view text) const {
  if (m_revealing || !may_hold_secret(text)) return std::string(text);
  std::string out = text.find("://") == std::string_view::npos ? std::string(text) : redact_url_credentials(text);
  if (sql_password_literal(out, 0) != std::string_view::npos) out = redact_sql_passwords(out);
  std::shared_lock lock(m_mutex);
  for (const auto& form : m_forms) replace_all(out, form, mask);
  return out;
}

// Whether some URL in `text` carries a password: `scheme://user:password@host`.
static bool has_url_credentials(std::string_view text) {
  std::size_t search = 0;
  while ((search = text.find("://", search)) != std::string_view::npos) {
    search += 3;
    bool colon = false;
    for (std::size_t i = search; i < text.size(); ++i) {
      char c = text[i];
      if (c == '/' || c == '?' || c == '#' || c == ' ' || c == '\n' || c == '"' || c == '\'') break;
      if (c == ':') colon = true;
      if (c == '@' && colon) return true;
    }
  }
  return false;
}

bool Redactor::may_hold_secret(std::string_view text) const {
  if (has_url_credentials(text) || sql_password_literal(text, 0) != std::string_view::npos) return true;
  std::shared_lock lock(m_mutex);
  if (m_forms.empty()) return false;
  // One pass over the text: a secret can only start where its first two bytes are.
  for (std::size_t i = 0; i + 1 < text.size(); ++i)
    if (m_first_pairs[(static_cast<unsigned char>(text[i]) << 8) | static_cast<unsigned char>(text[i + 1])]) return true;
  return false;
}

void Redactor::redact_in_place(Json& value) const {
  if (m_revealing) return;
  if (value.is_string()) {
    auto& text = value.get_ref<std::string&>();
    if (may_hold_secret(text)) text = redact(text);
  } else if (value.is_array()) {
    for (auto& item : value) redact_in_place(item);
  } else if (value.is_object()) {
    // Keys can hold secrets too (a header named after a token is unlikely, a URL key is not).
    bool keys_clean = true;
    for (auto it = value.begin(); it != value.end() && keys_clean; ++it)
      keys_clean = !may_hold_secret(it.key()) || redact(it.key()) == it.key();
    if (!keys_clean) {
      Json out = Json::object();
      for (auto it = value.begin(); it != value.end(); ++it) {
        Json item = it.value();
        redact_in_place(item);
        out[redact(it.key())] = std::move(item);
      }
      value = std::move(out);
      return;
    }
    for (auto it = value.begin(); it != value.end(); ++it) redact_in_place(it.value());
  }
}

Json Redactor::redact_json(const Json& value) const {
  Json copy = value;
  redact_in_place(copy);
  return copy;
}

bool Redactor::empty() const {
  std::shared_lock lock(m_mutex);
  return m_forms.empty();
}

Redactor& process_redactor() {
  static Redactor redactor;
  return redactor;
}

}  // namespace ttops
