#include "executors/redis_url.hpp"

#include <charconv>

namespace ttops {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
    int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::optional<int> whole_number(std::string_view text) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::string RedisAddress::where() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& error) {
  constexpr std::string_view k_scheme = "redis://";
  if (url.rfind("rediss://", 0) == 0) {
    error = "TLS connections (rediss://) are not supported: this build's hiredis (0.14) has no TLS";
    return std::nullopt;
  }
  if (url.rfind(k_scheme, 0) != 0) {
    error = "a Redis URL starts with redis:// (redis://[user:password@]host[:port][/db])";
    return std::nullopt;
  }
  std::string_view rest = url.substr(k_scheme.size());
  auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  RedisAddress address;
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      error = "the URL names a user but no password: write redis://:PASSWORD@host or redis://USER:PASSWORD@host";
      return std::nullopt;
    }
    auto user = percent_decode(userinfo.substr(0, colon));
    auto password = percent_decode(userinfo.substr(colon + 1));
    if (!user || !password) {
      error = "bad %-escape in the URL's user or password";
      return std::nullopt;
    }
    address.user = *user;
    address.password = *password;
    if (address.password.empty() && !address.user.empty()) {
      error = "the URL names a user but no password";
      return std::nullopt;
    }
  }

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed '[' in the URL's IPv6 address";
      return std::nullopt;
    }
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected text after the IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (address.host.empty()) {
    error = "the URL has no host";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    auto port = whole_number(port_text);
    if (!port || *port < 1 || *port > 65535) {
      error = "bad port '" + std::string(port_text) + "' in the URL";
      return std::nullopt;
    }
    address.port = *port;
  }

  if (!path.empty() && path.front() == '/') {
    std::string_view db = path.substr(1);
    if (!db.empty()) {
      auto number = whole_number(db);
      if (!number || *number < 0) {
        error = "the URL's path must be a database number (/0, /1 …), not '/" + std::string(db) + "'";
        return std::nullopt;
      }
      address.db = *number;
    }
  } else if (!path.empty()) {
    error = "query parameters and fragments are not supported in a Redis URL";
    return std::nullopt;
  }
  return address;
}

}  // namespace ttops
