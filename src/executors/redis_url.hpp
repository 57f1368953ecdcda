#pragma once
// redis://[user:password@]host[:port][/db], as environments give it in `redis_url`.
#include <optional>
#include <string>
#include <string_view>

namespace ttops {

struct RedisAddress {
  std::string host;
  int port = 6379;
  std::string user;      // empty: AUTH with the password alone (the default user)
  std::string password;  // empty: no AUTH
  int db = 0;

  /// "127.0.0.1:6379", for messages.
  std::string where() const;
};

/// Parses a Redis URL; on a problem returns nullopt and says why in `error` (never quoting the
/// password).
std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& error);

}  // namespace ttops
