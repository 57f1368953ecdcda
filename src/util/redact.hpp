#pragma once
#include <mutex>
#include <bitset>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/json.hpp"

namespace ttops {

/// Masks secrets in everything ttops writes: terminal, reports, audit, journal, logs.
/// A secret is masked in its plain, URL-encoded and base64 forms; passwords inside URLs
/// (`postgres://user:pw@host`) and SQL password literals (`PASSWORD '…'`) are masked whether or
/// not they were registered.
class Redactor {
 public:
  static constexpr std::string_view mask = "***";

  /// Registers a secret value (ignored when shorter than 3 characters: masking "a" everywhere
  /// would garble output without protecting anything).
  void add_secret(std::string_view secret);
  /// Registers the password of a URL with userinfo, if any.
  void add_url_credentials(std::string_view url);
  std::string redact(std::string_view text) const;
  /// Redacts every string inside a JSON value.
  Json redact_json(const Json& value) const;
  /// The same, changing only the strings that hold a secret (reports are large: no copies).
  void redact_in_place(Json& value) const;
  bool empty() const;
  /// While revealing (--reveal-secrets, audited), redact() is the identity.
  void set_revealing(bool revealing) { m_revealing = revealing; }

 private:
  /// A cheap test before the exact one: could `text` hold a registered secret or a URL password?
  bool may_hold_secret(std::string_view text) const;

  mutable std::shared_mutex m_mutex;
  std::vector<std::string> m_forms;  // longest first, so a longer form is masked before its parts
  std::vector<bool> m_first_pairs = std::vector<bool>(65536, false);  // first two bytes of every form
  bool m_revealing = false;
};

/// The process-wide redactor every output path goes through.
Redactor& process_redactor();

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
std::string redact_url_credentials(std::string_view text);
/// `CREATE ROLE x PASSWORD 'pw'` -> `… PASSWORD '***'`: statements pg_stat_statements and
/// pg_stat_activity show keep their literals, passwords included.
std::string redact_sql_passwords(std::string_view text);
std::string percent_encode(std::string_view text);
std::string base64_encode(std::string_view text);

}  // namespace ttops
