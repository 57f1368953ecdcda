// Postgres steps through libpqxx (connections, transactions, notices) and libpq's single-row mode
// (rows). A step's query runs in one transaction, READ ONLY unless the step may write, that commits
// whole or rolls back whole; values from templates travel as bound parameters, never as SQL text.
// Connections are pooled per connection string for the run: a step checks one out, so parallel
// steps never share one, and a connection the server has closed since the last step is replaced
// before use. libpq blocks while a query runs, so a watcher thread holds every query to the step's
// deadline and to Ctrl-C with a cancel request.
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "executors/sql_classify.hpp"
#include "ttops/executor.hpp"
#include "ttops/expression.hpp"
#include "util/duration.hpp"
#include "util/json_depth.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr long long k_default_max_rows = 1000;
// At the deadline the server's own statement_timeout normally ends the query. ttops sends a cancel
// request itself only after this grace, and cuts the connection if even that goes unanswered
// (a healthy server acts on a cancel request within milliseconds). Both together stay well under a
// second, so a server that stops answering mid-query (a network partition) holds no step longer
// than its timeout plus one second, start-up and shutdown of ttops included.
constexpr milliseconds k_cancel_grace{100};
constexpr milliseconds k_cut_grace{400};
constexpr std::size_t k_max_notices = 20;

// PostgreSQL type OIDs (pg_type.dat) whose values become JSON numbers, booleans or documents.
constexpr unsigned k_oid_bool = 16, k_oid_int8 = 20, k_oid_int2 = 21, k_oid_int4 = 23, k_oid_oid = 26,
                   k_oid_json = 114, k_oid_float4 = 700, k_oid_float8 = 701, k_oid_numeric = 1700,
                   k_oid_jsonb = 3802;

std::string first_line(std::string_view text) {
  auto end = text.find('\n');
  return std::string(trim(text.substr(0, end)));
}

std::string squash_whitespace(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// --- connection strings ----------------------------------------------------------------------

// A connection string as it may be shown: a URI or key=value string without its password.
std::string display_connection(std::string_view conninfo) {
  if (conninfo.find("://") != std::string_view::npos) return redact_url_credentials(conninfo);
  std::string out(conninfo);
  std::size_t pos = 0;
  while ((pos = out.find("password", pos)) != std::string::npos) {
    std::size_t i = pos + 8;
    if (pos > 0 && out[pos - 1] != ' ' && out[pos - 1] != '\t') {
      pos = i;
      continue;
    }
    while (i < out.size() && out[i] == ' ') ++i;
    if (i >= out.size() || out[i] != '=') {
      pos = i;
      continue;
    }
    ++i;
    while (i < out.size() && out[i] == ' ') ++i;
    std::size_t end = i;
    if (end < out.size() && out[end] == '\'') {
      for (++end; end < out.size() && out[end] != '\''; ++end)
        if (out[end] == '\\') ++end;
      end = std::min(end + 1, out.size());
    } else {
      while (end < out.size() && out[end] != ' ' && out[end] != '\t') ++end;
    }
    out.replace(i, end - i, Redactor::mask);
    pos = i + Redactor::mask.size();
  }
  return out;
}

// Checks a connection string the way libpq reads it; the reason on a problem, never with the password.
std::optional<std::string> conninfo_problem(const std::string& conninfo, std::string* password = nullptr) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? first_line(error) : std::string("cannot parse it");
    PQfreemem(error);
    return redact_url_credentials(why);
  }
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option)
    if (password != nullptr && std::string_view(option->keyword) == "password" && option->val != nullptr)
      *password = option->val;
  PQconninfoFree(options);
  return std::nullopt;
}

// Where a connection goes, for messages: "127.0.0.1:5432", or the socket path.
std::string server_of(const PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  std::string name = host != nullptr && *host != '\0' ? host : "localhost";
  std::string number = port != nullptr && *port != '\0' ? port : "5432";
  if (name.front() == '/') return "socket " + name + "/.s.PGSQL." + number;
  if (name.find(':') != std::string::npos) name = "[" + name + "]";
  return name + ":" + number;
}

// libpq's words for a failed connection as one line that names the server.
std::string connect_error_message(std::string_view libpq_message, const std::string& where) {
  std::string line = first_line(libpq_message);
  // "connection to server at "127.0.0.1", port 5999 failed: Connection refused"
  auto failed = line.find(" failed: ");
  if (line.rfind("connection to server", 0) == 0 && failed != std::string::npos) line = line.substr(failed + 9);
  for (std::string_view prefix : {"FATAL:  ", "ERROR:  "})
    if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  line = redact_url_credentials(line);
  if (line == "Connection refused") return "connection refused (" + where + ")";
  if (line == "fe_sendauth: no password supplied")
    return "the server asks for a password and the connection string gives none (" + where + ")";
  if (line.rfind("could not translate host name", 0) == 0) return line;
  if (where.empty()) return "bad connection string: " + line;
  return line + " (" + where + ")";
}

struct ConnectFailure {
  std::string message;
  bool timed_out = false;
};

// Connects with libpq's non-blocking calls, polled together with the cancel token: neither a server
// that never answers nor Ctrl-C can hold the step past `deadline`.
PGconn* open_connection(const std::string& conninfo, Clock::time_point deadline, const StepContext& context,
                        ConnectFailure& failure) {
  const auto budget = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  // Later keywords override what the connection string says; fallback_application_name does not.
  const char* keywords[] = {"dbname", "fallback_application_name", "client_encoding", nullptr};
  const char* values[] = {conninfo.c_str(), "ttops", "UTF8", nullptr};
  PGconn* conn = PQconnectStartParams(keywords, values, 1);
  if (conn == nullptr) {
    failure.message = "cannot start a connection (out of memory)";
    return nullptr;
  }
  if (PQstatus(conn) == CONNECTION_BAD) {
    failure.message = connect_error_message(PQerrorMessage(conn), PQhost(conn) != nullptr ? server_of(conn) : "");
    PQfinish(conn);
    return nullptr;
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  const int cancel_fd = context.cancel != nullptr ? context.cancel->fd() : -1;
  while (true) {
    if (state == PGRES_POLLING_OK) return conn;
    if (state == PGRES_POLLING_FAILED) {
      failure.message = connect_error_message(PQerrorMessage(conn), server_of(conn));
      PQfinish(conn);
      return nullptr;
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      failure.message = "could not connect within " + format_budget(budget) + " (" + server_of(conn) + "): no answer";
      failure.timed_out = true;
      PQfinish(conn);
      return nullptr;
    }
    pollfd fds[2] = {{PQsocket(conn), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0},
                     {cancel_fd, POLLIN, 0}};
    int ready = ::poll(fds, cancel_fd >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (context.cancelled()) {
      failure.message = "interrupted while connecting to " + server_of(conn);
      PQfinish(conn);
      return nullptr;
    }
    if (ready > 0 && fds[0].revents != 0) state = PQconnectPoll(conn);
  }
}

// Hands libpqxx a connection made above, and refuses to reconnect on its own: a connection that
// breaks is replaced by the session between steps, never silently in the middle of one.
class AdoptConnection : public pqxx::connectionpolicy {
 public:
  AdoptConnection(const std::string& display, PGconn* conn) : pqxx::connectionpolicy(display), m_conn(conn) {}
  AdoptConnection(const AdoptConnection&) = delete;
  AdoptConnection& operator=(const AdoptConnection&) = delete;
  ~AdoptConnection() noexcept override {
    if (m_conn != nullptr) PQfinish(m_conn);
  }

  handle do_startconnect(handle orig) override {
    if (orig != nullptr) return orig;
    if (m_conn == nullptr) throw pqxx::broken_connection("the connection was lost");
    return std::exchange(m_conn, nullptr);
  }

 private:
  PGconn* m_conn;
};

class PgConnection : public pqxx::connection_base {
 public:
  PgConnection(const std::string& display, PGconn* conn) : pqxx::connection_base(m_policy), m_policy(display, conn) {
    try {
      init();
    } catch (...) {
      close();
      throw;
    }
  }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection() noexcept { close(); }

 private:
  AdoptConnection m_policy;
};

// Server notices (NOTICE, WARNING, VACUUM VERBOSE's INFO) become notes of the step that caused them.
class NoticeCollector : public pqxx::errorhandler {
 public:
  explicit NoticeCollector(pqxx::connection_base& connection) : pqxx::errorhandler(connection) {}
  void collect_into(std::vector<std::string>* sink) { m_sink = sink; }
  bool operator()(const char message[]) noexcept override {
    try {
      if (m_sink == nullptr || m_sink->size() >= k_max_notices) return true;
      std::string line = first_line(message);
      auto colon = line.find(":  ");
      if (colon != std::string::npos) line = to_lower(line.substr(0, colon)) + ": " + line.substr(colon + 3);
      m_sink->push_back("postgres " + one_line(to_valid_utf8(line), 300));
    } catch (...) {
      // A notice that cannot be recorded is not worth failing the step for.
    }
    return true;
  }

 private:
  std::vector<std::string>* m_sink = nullptr;
};

// One pooled connection.
struct PgLink {
  std::unique_ptr<PgConnection> connection;
  std::unique_ptr<NoticeCollector> notices;  // declared after: unregisters before the connection goes
  PGconn* raw = nullptr;                     // the same connection, for cancel requests and liveness checks
  std::string where;
  int backend_pid = 0;
};

// A pooled connection may have been closed by the server since its last step (restart,
// pg_terminate_backend, idle timeout). An idle connection gets nothing unasked but the server's
// last words before it closes, so one with anything to read is not used again.
bool still_open(PGconn* conn) {
  if (PQstatus(conn) != CONNECTION_OK) return false;
  pollfd fd{PQsocket(conn), POLLIN, 0};
  return ::poll(&fd, 1, 0) == 0;
}

// Stops a query that outlives its step. Ctrl-C, or the deadline plus a grace in which the server's
// statement_timeout normally fires first, sends a cancel request (from a thread of its own, as
// PQcancel blocks); a server that ignores that too has its connection shut down, so that no step
// hangs on a dead network.
class QueryWatch {
 public:
  QueryWatch(PGconn* conn, const StepContext& context)
      : m_socket(PQsocket(conn)),
        m_cancel(PQgetCancel(conn)),
        m_trigger_at(context.deadline + k_cancel_grace),
        m_cancel_fd(context.cancel != nullptr ? context.cancel->fd() : -1) {
    if (::pipe(m_done) != 0) m_done[0] = m_done[1] = -1;
    m_thread = std::thread([this] { watch(); });
  }
  QueryWatch(const QueryWatch&) = delete;
  QueryWatch& operator=(const QueryWatch&) = delete;
  ~QueryWatch() {
    stop();
    for (int fd : m_done)
      if (fd >= 0) ::close(fd);
    if (m_cancel != nullptr) PQfreeCancel(m_cancel);
  }

  /// Ends the watch (the query is over); the flags below are final afterwards.
  void stop() {
    if (!m_thread.joinable()) return;
    if (m_done[1] >= 0) {
      char byte = 1;
      [[maybe_unused]] auto written = ::write(m_done[1], &byte, 1);
    }
    m_thread.join();
  }
  bool interrupted() const { return m_interrupted; }
  bool timed_out() const { return m_timed_out; }
  bool cut() const { return m_cut; }

 private:
  void watch() {
    pollfd fds[2] = {{m_done[0], POLLIN, 0}, {m_cancel_fd, POLLIN, 0}};
    const nfds_t count = m_cancel_fd >= 0 ? 2 : 1;
    while (true) {
      auto left = std::chrono::duration_cast<milliseconds>(m_trigger_at - Clock::now()).count();
      if (left <= 0) {
        m_timed_out = true;
        break;
      }
      ::poll(fds, count, static_cast<int>(std::min<long long>(left, 1000)));
      if (fds[0].revents != 0) return;
      if (count == 2 && (fds[1].revents & POLLIN) != 0) {
        m_interrupted = true;
        break;
      }
    }
    if (PGcancel* cancel = std::exchange(m_cancel, nullptr); cancel != nullptr) {
      std::thread([cancel] {
        char error[256];
        PQcancel(cancel, error, sizeof error);
        PQfreeCancel(cancel);
      }).detach();
    }
    pollfd done{m_done[0], POLLIN, 0};
    if (::poll(&done, 1, static_cast<int>(k_cut_grace.count())) > 0) return;
    ::shutdown(m_socket, SHUT_RDWR);
    m_cut = true;
  }

  int m_socket;
  PGcancel* m_cancel;
  Clock::time_point m_trigger_at;
  int m_cancel_fd;
  int m_done[2] = {-1, -1};
  std::atomic<bool> m_interrupted{false};
  std::atomic<bool> m_timed_out{false};
  std::atomic<bool> m_cut{false};
  std::thread m_thread;
};

// --- values ----------------------------------------------------------------------------------

Json field_value(std::string_view text, unsigned type) {
  switch (type) {
    case k_oid_bool:
      return Json(text == "t");
    case k_oid_int2:
    case k_oid_int4:
    case k_oid_int8:
    case k_oid_oid:
    case k_oid_float4:
    case k_oid_float8:
    case k_oid_numeric: {
      long long whole = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), whole);
      if (error == std::errc() && end == text.data() + text.size()) return Json(whole);
      std::string copy(text);
      char* stop = nullptr;
      double number = std::strtod(copy.c_str(), &stop);
      if (stop == copy.c_str() + copy.size() && std::isfinite(number)) return Json(number);
      return Json(copy);  // NaN, Infinity, or beyond a double
    }
    case k_oid_json:
    case k_oid_jsonb: {
      if (!json_nesting_within(text)) return Json(to_valid_utf8(text));  // kept as text, see json.hpp
      Json parsed = Json::parse(to_valid_utf8(text), nullptr, false);
      return parsed.is_discarded() ? Json(to_valid_utf8(text)) : parsed;
    }
    default:
      return Json(to_valid_utf8(text));
  }
}

std::string parameter_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();  // numbers as written; lists and maps as JSON text (cast them with ::jsonb)
}

// --- running queries -------------------------------------------------------------------------

// What one statement gave.
struct StatementResult {
  std::string command;
  Json rows = Json::array();
  Json columns = Json::array();
  long long row_count = 0;  // every row the statement returned, also those beyond max_rows
  long long affected_rows = 0;
  bool returned_rows = false;
  std::optional<long long> would_delete;  // a preview's count of the rows a DELETE would remove
};

// What a step asks the database to do.
struct QueryPlan {
  std::vector<sql::Statement> statements;
  std::vector<bool> counts_deletions;       // per statement: a preview's DELETE rewritten as a count
  std::vector<std::string> parameter_store;  // owns the texts `parameters` points to
  std::vector<const char*> parameters;      // nullptr: SQL NULL
  bool transactional = true;
  bool read_only = true;
  bool roll_back = false;  // previews never commit
  long long max_rows = k_default_max_rows;
};

struct Execution {
  bool ok = false;
  bool timed_out = false;
  bool broken = false;     // the connection cannot be used again
  bool in_doubt = false;   // it broke during COMMIT: nobody knows whether the transaction committed
  std::string error;
  std::vector<StatementResult> results;
  std::vector<std::string> notices;
};

// Raised when the step's time is up between two statements.
struct OutOfTime {};

void arm_statement_timeout(pqxx::transaction_base& tx, const StepContext& context, bool transaction_local) {
  auto left = context.remaining();
  if (left.count() <= 0) throw OutOfTime{};
  // A SELECT rather than SET LOCAL: it also takes the transaction's snapshot, after which nothing
  // in the query can switch a READ ONLY transaction to read-write.
  tx.exec(transaction_local ? "SELECT set_config('statement_timeout', '" + std::to_string(left.count()) + "', true)"
                            : "SET statement_timeout = " + std::to_string(left.count()));
}

using ResultHandle = std::unique_ptr<PGresult, decltype(&PQclear)>;

// The rows of one statement: column names and types from the first result, values by type.
class RowCollector {
 public:
  RowCollector(StatementResult& out, long long max_rows) : m_out(out), m_max_rows(max_rows) {}

  void add(const PGresult* result) {
    describe(result);
    for (int r = 0; r < PQntuples(result); ++r) {
      ++m_out.row_count;
      if (static_cast<long long>(m_out.rows.size()) >= m_max_rows) continue;
      Json row = Json::object();
      for (int c = 0; c < PQnfields(result); ++c) {
        row[m_names[static_cast<std::size_t>(c)]] =
            PQgetisnull(result, r, c) != 0
                ? Json(nullptr)
                : field_value(std::string_view(PQgetvalue(result, r, c), static_cast<std::size_t>(PQgetlength(result, r, c))),
                              m_types[static_cast<std::size_t>(c)]);
      }
      m_out.rows.push_back(std::move(row));
    }
  }

 private:
  void describe(const PGresult* result) {
    if (m_out.returned_rows) return;
    m_out.returned_rows = true;
    for (int c = 0; c < PQnfields(result); ++c) {
      m_names.push_back(to_valid_utf8(PQfname(result, c)));
      m_types.push_back(PQftype(result, c));
      m_out.columns.push_back(m_names.back());
    }
  }

  StatementResult& m_out;
  long long m_max_rows;
  std::vector<std::string> m_names;
  std::vector<unsigned> m_types;
};

// Runs one statement on the connection a libpqxx transaction (or nontransaction) holds, in libpq's
// single-row mode, which libpqxx 6.4 does not offer: rows arrive one at a time, so max_rows of them
// are kept and the rest only counted, and pg_stat_activity shows the statement itself.
StatementResult run_statement(PGconn* conn, const sql::Statement& statement, const QueryPlan& plan) {
  StatementResult out;
  out.command = sql::command_of(statement);
  const int count = static_cast<int>(plan.parameters.size());
  if (PQsendQueryParams(conn, statement.text.c_str(), count, nullptr, count > 0 ? plan.parameters.data() : nullptr,
                        nullptr, nullptr, 0) == 0)
    throw pqxx::broken_connection(first_line(PQerrorMessage(conn)));
  PQsetSingleRowMode(conn);
  RowCollector rows(out, plan.max_rows);
  std::string error;
  std::string sqlstate;
  long long affected = 0;
  while (PGresult* raw = PQgetResult(conn)) {
    ResultHandle result(raw, &PQclear);
    switch (PQresultStatus(raw)) {
      case PGRES_SINGLE_TUPLE:
        rows.add(raw);
        break;
      case PGRES_TUPLES_OK:  // the end of the rows (or all of them, outside single-row mode)
        rows.add(raw);
        affected = std::atoll(PQcmdTuples(raw));
        break;
      case PGRES_COMMAND_OK:
        affected = std::atoll(PQcmdTuples(raw));
        break;
      case PGRES_COPY_OUT: {
        // COPY talks its own protocol; finish it so that the connection stays usable.
        char* buffer = nullptr;
        while (PQgetCopyData(conn, &buffer, 0) > 0) PQfreemem(buffer);
        if (error.empty()) error = "COPY is not supported in a step: query the rows with SELECT";
        break;
      }
      case PGRES_COPY_IN:
        PQputCopyEnd(conn, "ttops does not send COPY data");
        if (error.empty()) error = "COPY is not supported in a step: query the rows with SELECT";
        break;
      case PGRES_FATAL_ERROR:
        if (error.empty()) {
          const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
          const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
          error = primary != nullptr ? primary : first_line(PQresultErrorMessage(raw));
          sqlstate = state != nullptr ? state : "";
        }
        break;
      default:
        break;
    }
  }
  if (PQstatus(conn) != CONNECTION_OK)
    throw pqxx::broken_connection(error.empty() ? first_line(PQerrorMessage(conn)) : error);
  if (!error.empty()) throw pqxx::sql_error(error, statement.text, sqlstate.empty() ? nullptr : sqlstate.c_str());
  out.affected_rows = sql::classify(statement) == Effect::read ? 0 : affected;
  return out;
}

// The message of a failed statement, "syntax error at or near "SELEC" (SQLSTATE 42601)".
std::string sql_error_text(const pqxx::sql_error& error) {
  std::string line = first_line(error.what());
  for (std::string_view prefix : {"ERROR:  ", "FATAL:  "})
    if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  if (!error.sqlstate().empty()) line += " (SQLSTATE " + error.sqlstate() + ")";
  return to_valid_utf8(line);
}

Execution execute(PgLink& link, const QueryPlan& plan, const StepContext& context, milliseconds budget) {
  Execution run;
  link.notices->collect_into(&run.notices);
  std::size_t current = 0;  // the statement being run, for messages
  bool statement_timeout = false;
  std::string failure;
  {
    QueryWatch watch(link.raw, context);
    try {
      if (plan.transactional) {
        std::unique_ptr<pqxx::transaction_base> tx;
        if (plan.read_only) {
          tx = std::make_unique<pqxx::read_transaction>(*link.connection);
        } else {
          tx = std::make_unique<pqxx::work>(*link.connection);
        }
        for (current = 0; current < plan.statements.size(); ++current) {
          arm_statement_timeout(*tx, context, true);
          run.results.push_back(run_statement(link.raw, plan.statements[current], plan));
        }
        current = plan.statements.size();
        if (plan.roll_back) {
          tx->abort();
        } else {
          tx->commit();
        }
      } else {
        // Autocommit (VACUUM…): the session's settings carry the timeout and the read-only guard,
        // and are put back afterwards, whatever happens.
        pqxx::nontransaction tx(*link.connection);
        arm_statement_timeout(tx, context, false);
        tx.exec(std::string("SET default_transaction_read_only = ") + (plan.read_only ? "on" : "off"));
        try {
          run.results.push_back(run_statement(link.raw, plan.statements.front(), plan));
        } catch (...) {
          try {
            tx.exec("RESET statement_timeout; RESET default_transaction_read_only");
          } catch (const std::exception&) {
            run.broken = true;
          }
          throw;
        }
        tx.exec("RESET statement_timeout; RESET default_transaction_read_only");
        current = 1;
      }
      run.ok = true;
    } catch (const OutOfTime&) {
      statement_timeout = true;
    } catch (const pqxx::in_doubt_error&) {
      run.broken = true;
      run.in_doubt = true;
      failure = "the connection broke during COMMIT: whether the transaction committed is unknown (" + link.where + ")";
    } catch (const pqxx::broken_connection& error) {
      run.broken = true;
      failure = to_valid_utf8(first_line(error.what())) + " (" + link.where + ")";
    } catch (const pqxx::sql_error& error) {
      statement_timeout = error.sqlstate() == "57014" && std::string_view(error.what()).find("statement timeout") !=
                                                             std::string_view::npos;
      failure = sql_error_text(error);
      if (PQstatus(link.raw) != CONNECTION_OK) {
        run.broken = true;
        failure += " (" + link.where + ")";
      }
    } catch (const std::exception& error) {
      failure = to_valid_utf8(first_line(error.what()));
      if (PQstatus(link.raw) != CONNECTION_OK) run.broken = true;
    }
    watch.stop();
    if (watch.cut()) run.broken = true;
    if (!run.ok) {
      if (watch.interrupted() || context.cancelled()) {
        failure = "interrupted";
      } else if (watch.timed_out() || statement_timeout) {
        run.timed_out = true;
        failure = "query timed out after " + format_budget(budget) + " (statement_timeout)";
        if (watch.cut())
          failure += "; the server did not answer the cancel request, so the connection was closed (" + link.where + ")";
      }
    }
  }
  link.notices->collect_into(nullptr);
  if (!run.ok) {
    std::string where;
    if (plan.statements.size() > 1 && current < plan.statements.size())
      where = "statement " + std::to_string(current + 1) + " of " + std::to_string(plan.statements.size()) + " (" +
              sql::command_of(plan.statements[current]) + "): ";
    run.error = where + failure;
    if (plan.transactional && !plan.read_only && !plan.roll_back && !run.in_doubt && failure != "interrupted")
      run.error += "; the transaction was rolled back";
  }
  return run;
}

ActionOutcome outcome_of(Execution run, const QueryPlan& plan, double seconds) {
  if (!run.ok) {
    ActionOutcome failed = ActionOutcome::failure(run.error, run.timed_out);
    failed.notes = std::move(run.notices);
    return failed;
  }
  ActionOutcome outcome;
  Json& data = outcome.data;
  const StatementResult* shown = nullptr;  // the last statement that returned rows
  Json statements = Json::array();
  long long would_delete = 0;
  bool counted = false;
  for (std::size_t i = 0; i < run.results.size(); ++i) {
    auto& result = run.results[i];
    if (result.returned_rows) shown = &result;
    Json summary = {{"command", result.command}, {"affected_rows", result.affected_rows}};
    if (result.returned_rows) summary["row_count"] = result.row_count;
    if (i < plan.counts_deletions.size() && plan.counts_deletions[i] && !result.rows.empty()) {
      would_delete += result.rows[0].value("would_delete", 0LL);
      counted = true;
    }
    statements.push_back(std::move(summary));
  }
  data["rows"] = shown != nullptr ? shown->rows : Json::array();
  data["row_count"] = shown != nullptr ? shown->row_count : 0;
  data["columns"] = shown != nullptr ? shown->columns : Json::array();
  data["affected_rows"] = run.results.empty() ? 0 : run.results.back().affected_rows;
  bool truncated = shown != nullptr && shown->row_count > static_cast<long long>(shown->rows.size());
  data["truncated"] = truncated;
  data["statements"] = std::move(statements);
  if (counted) data["would_delete"] = would_delete;
  data["duration"] = seconds;
  if (truncated)
    outcome.notes.push_back("returned " + std::to_string(shown->rows.size()) + " of " + std::to_string(shown->row_count) +
                            " rows (max_rows)");
  for (auto& notice : run.notices) outcome.notes.push_back(std::move(notice));
  return outcome;
}

// --- the session -----------------------------------------------------------------------------

// The connection string of a step: its own, or the environment's database_url.
std::optional<std::string> connection_of(const Json& action, const StepContext* context, std::string& error) {
  if (action.contains("connection")) {
    const Json& value = action["connection"];
    if (value.is_string() && !value.get_ref<const std::string&>().empty()) return value.get<std::string>();
    error = "the step's connection is empty";
    return std::nullopt;
  }
  if (context != nullptr && context->target != nullptr) {
    const Json& target = *context->target;
    if (target.contains("database_url") && target["database_url"].is_string() &&
        !target["database_url"].get_ref<const std::string&>().empty())
      return target["database_url"].get<std::string>();
  }
  error = "no connection: the environment defines no database_url for this service (or give the step a 'connection')";
  return std::nullopt;
}

// The step's SQL, or "" when there is none: the loader reports a missing or null query, but asks
// for the effect of the action before (json's value() would throw on a null).
std::string query_of(const Json& action) {
  if (!action.is_object() || !action.contains("query") || !action["query"].is_string()) return "";
  return action["query"].get<std::string>();
}

bool plan_query(const Json& action, QueryPlan& plan, std::string& error) {
  std::string query = query_of(action);
  sql::Script script = sql::parse(query);
  if (script.statements.empty()) {
    error = "the query holds no SQL statement";
    return false;
  }
  plan.statements = std::move(script.statements);
  plan.transactional = action.value("transaction", true);
  if (!plan.transactional && plan.statements.size() != 1) {
    error = "'transaction: false' runs one statement; this query holds " + std::to_string(plan.statements.size());
    return false;
  }
  if (action.contains("max_rows") && action["max_rows"].is_number_integer())
    plan.max_rows = std::max<long long>(1, action["max_rows"].get<long long>());
  if (action.contains("params") && action["params"].is_array()) {
    const Json& params = action["params"];
    if (!params.empty() && plan.statements.size() > 1) {
      error = "'params' need a query of one statement; this one holds " + std::to_string(plan.statements.size());
      return false;
    }
    plan.parameter_store.reserve(params.size());
    for (const auto& value : params) plan.parameter_store.push_back(value.is_null() ? "" : parameter_text(value));
    for (std::size_t i = 0; i < params.size(); ++i)
      plan.parameters.push_back(params[i].is_null() ? nullptr : plan.parameter_store[i].c_str());
  }
  return true;
}

class PostgresSession : public ExecutorSession {
 public:
  ~PostgresSession() override {
    for (auto& [conninfo, links] : m_idle) links.clear();
  }

  ActionOutcome run(const Json& action, StepContext& context) override {
    QueryPlan plan;
    std::string error;
    if (!plan_query(action, plan, error)) return ActionOutcome::failure(error);
    plan.read_only = context.effect == Effect::read;
    return perform(action, plan, context, {});
  }

  std::optional<ActionOutcome> preview(const Json& action, StepContext& context) override {
    QueryPlan plan;
    std::string error;
    if (!plan_query(action, plan, error)) return std::nullopt;
    bool calls_shown = false;
    bool deletions_counted = false;
    for (auto& statement : plan.statements) {
      auto substitute = sql::preview_statement(statement);
      if (!substitute) return std::nullopt;
      deletions_counted = deletions_counted || substitute->counts_deletions;
      calls_shown = calls_shown || (!substitute->counts_deletions && substitute->text != statement.text);
      plan.counts_deletions.push_back(substitute->counts_deletions);
      sql::Script script = sql::parse(substitute->text);
      statement = std::move(script.statements.front());
    }
    plan.transactional = true;  // a preview is one read-only transaction, rolled back
    plan.read_only = true;
    plan.roll_back = true;
    std::string note = "preview: run in a read-only transaction, rolled back";
    if (calls_shown) note += "; pg_terminate_backend/pg_cancel_backend calls shown, not made";
    if (deletions_counted) note += "; DELETE counted (would_delete), not run";
    ActionOutcome outcome = perform(action, plan, context, note);
    if (outcome.ok) outcome.data["preview"] = true;
    return outcome;
  }

 private:
  ActionOutcome perform(const Json& action, const QueryPlan& plan, StepContext& context, const std::string& note) {
    const auto started = Clock::now();
    const auto budget = std::chrono::duration_cast<milliseconds>(context.deadline - started);
    std::string error;
    auto conninfo = connection_of(action, &context, error);
    if (!conninfo) return ActionOutcome::failure(error);
    std::string password;
    if (auto problem = conninfo_problem(*conninfo, &password)) return ActionOutcome::failure("bad connection string: " + *problem);
    if (context.redactor != nullptr) {
      context.redactor->add_url_credentials(*conninfo);
      if (!password.empty()) context.redactor->add_secret(password);
    }
    if (context.remaining().count() <= 0) return ActionOutcome::failure("no time left for the query", true);

    std::vector<std::string> notes;
    ConnectFailure failure;
    const auto connect_timeout = duration_field(action, "connect_timeout").value_or(k_default_connect_timeout);
    auto link = checkout(*conninfo, context, connect_timeout, notes, failure);
    if (!link) return ActionOutcome::failure(failure.message, failure.timed_out);

    Execution run = execute(*link, plan, context, budget);
    if (run.broken) {
      spdlog::info("postgres: dropping the connection to {} (backend {}): {}", link->where, link->backend_pid, run.error);
    } else {
      checkin(*conninfo, std::move(link));
    }
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    ActionOutcome outcome = outcome_of(std::move(run), plan, seconds);
    if (!note.empty()) notes.push_back(note);
    outcome.notes.insert(outcome.notes.begin(), notes.begin(), notes.end());
    return outcome;
  }

  std::unique_ptr<PgLink> checkout(const std::string& conninfo, const StepContext& context, milliseconds connect_timeout,
                                   std::vector<std::string>& notes, ConnectFailure& failure) {
    const std::string display = display_connection(conninfo);
    while (true) {
      std::unique_ptr<PgLink> link;
      {
        std::lock_guard lock(m_mutex);
        auto& idle = m_idle[conninfo];
        if (idle.empty()) break;
        link = std::move(idle.back());
        idle.pop_back();
      }
      if (still_open(link->raw)) {
        spdlog::debug("postgres: reusing the connection to {} (backend {})", display, link->backend_pid);
        return link;
      }
      notes.push_back("the server had closed the pooled connection to " + link->where + "; opened a new one");
      spdlog::info("postgres: the server closed the idle connection to {} (backend {})", link->where, link->backend_pid);
    }
    auto deadline = std::min(context.deadline, Clock::now() + connect_timeout);
    PGconn* raw = open_connection(conninfo, deadline, context, failure);
    if (raw == nullptr) return nullptr;
    auto link = std::make_unique<PgLink>();
    link->raw = raw;
    link->where = server_of(raw);
    link->backend_pid = PQbackendPID(raw);
    try {
      link->connection = std::make_unique<PgConnection>(display, raw);
      link->notices = std::make_unique<NoticeCollector>(*link->connection);
    } catch (const std::exception& e) {
      failure.message = connect_error_message(e.what(), link->where);
      return nullptr;
    }
    spdlog::info("postgres: connected to {} (backend {})", display, link->backend_pid);
    return link;
  }

  void checkin(const std::string& conninfo, std::unique_ptr<PgLink> link) {
    std::lock_guard lock(m_mutex);
    m_idle[conninfo].push_back(std::move(link));
  }

  std::mutex m_mutex;
  std::map<std::string, std::vector<std::unique_ptr<PgLink>>> m_idle;  // by connection string
};

// --- the executor ----------------------------------------------------------------------------

class PostgresExecutor : public Executor {
 public:
  std::string_view name() const override { return "postgres"; }
  std::string_view summary() const override { return "a SQL query in one transaction, read-only by default (libpqxx)"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = {
        {"query", FieldType::string, true, "the SQL, e.g. \"SELECT count(*) FROM pg_stat_activity\""},
        {"params", FieldType::any, false, "values bound to $1, $2… (never spliced into the SQL)"},
        {"connection", FieldType::string, false, "a libpq URI or key=value string (default: target.database_url)"},
        {"max_rows", FieldType::integer, false, "rows kept in the result at most (default 1000)"},
        {"transaction", FieldType::boolean, false, "false: run one statement outside a transaction (VACUUM)"},
        {"connect_timeout", FieldType::duration, false, "bound on connecting (default 5s)"},
    };
    return fields;
  }
  std::string_view shorthand_field() const override { return "query"; }
  std::vector<std::string> result_fields() const override {
    return {"rows", "row_count", "columns", "affected_rows", "truncated", "statements", "duration"};
  }

  void check(const YAML::Node& action, Diagnostics& diagnostics) const override {
    const YAML::Node transaction = action["transaction"];
    const bool autocommit = transaction && transaction.IsScalar() && transaction.Scalar() == "false";
    const YAML::Node params = action["params"];
    std::size_t param_count = 0;
    if (params) {
      if (!params.IsSequence()) {
        diagnostics.error(params, "'params' must be a list of values, bound to $1, $2… in order");
      } else {
        param_count = params.size();
        for (const auto& value : params)
          if (!value.IsScalar() && !value.IsNull())
            diagnostics.error(value, "every value in 'params' must be a single value (a string, number, boolean or null)");
      }
    }
    if (const YAML::Node query = action["query"]; query && query.IsScalar()) {
      const std::string& text = query.Scalar();
      if (Template::has_holes(text)) {
        diagnostics.error(query, "templates are not allowed in a query: put the value in 'params' and write $1, $2… "
                                 "in the SQL, so it is sent as data and never read as SQL");
      } else {
        check_sql(query, sql::parse(text), autocommit, transaction, params ? param_count : 0, params, diagnostics);
      }
    }
    if (const YAML::Node max_rows = action["max_rows"]; max_rows && max_rows.IsScalar()) {
      long long value = 0;
      const std::string& text = max_rows.Scalar();
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error == std::errc() && end == text.data() + text.size() && value < 1)
        diagnostics.error(max_rows, "max_rows must be at least 1");
    }
    if (const YAML::Node connection = action["connection"];
        connection && connection.IsScalar() && !Template::has_holes(connection.Scalar())) {
      if (auto problem = conninfo_problem(connection.Scalar()))
        diagnostics.error(connection, "bad connection string: " + *problem);
    }
  }

  Effect effect(const Json& action) const override {
    std::string query = query_of(action);
    if (Template::has_holes(query)) {
      // check() refuses templates in SQL. Until then: a hole inside a quoted literal leaves the
      // statement what it is; anywhere else it could make it anything.
      for (const auto& statement : sql::parse(query).statements)
        for (const auto& token : statement.tokens)
          if (token.kind != sql::Token::Kind::string && token.text.find('{') != std::string::npos)
            return Effect::destructive;
    }
    return sql::classify(query);
  }

  std::string describe(const Json& action, const StepContext& context) const override {
    std::string error;
    auto conninfo = connection_of(action, &context, error);
    std::string out = "psql " + (conninfo ? display_connection(*conninfo) : std::string("(target.database_url)")) + ": " +
                      one_line(squash_whitespace(query_of(action)), 300);
    if (action.contains("params") && action["params"].is_array() && !action["params"].empty()) {
      std::vector<std::string> shown;
      const Json& params = action["params"];
      for (std::size_t i = 0; i < params.size(); ++i)
        shown.push_back("$" + std::to_string(i + 1) + "=" +
                        (params[i].is_null() ? std::string("NULL") : one_line(parameter_text(params[i]), 60)));
      out += " [" + join(shown, ", ") + "]";
    }
    if (!action.value("transaction", true)) out += " (autocommit)";
    return out;
  }

  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    (void)options;
    return std::make_unique<PostgresSession>();
  }

 private:
  static void check_sql(const YAML::Node& query, const sql::Script& script, bool autocommit, const YAML::Node& transaction,
                        std::size_t param_count, const YAML::Node& params, Diagnostics& diagnostics) {
    if (script.statements.empty()) {
      diagnostics.error(query, "the query holds no SQL statement");
      return;
    }
    if (script.unterminated) diagnostics.error(query, "the query has an unterminated quote, comment or $$ body");
    for (const auto& statement : script.statements) {
      const std::string command = sql::command_of(statement);
      if (sql::is_transaction_control(statement))
        diagnostics.error(query, "'" + command + "' in a query: ttops runs each step in one transaction of its own "
                                 "(committed when every statement succeeds, rolled back whole on any error); remove it");
      if (sql::needs_autocommit(statement) && !autocommit && script.statements.size() == 1)
        diagnostics.error(query, command + " cannot run inside a transaction: give the step 'transaction: false'");
    }
    const std::size_t count = script.statements.size();
    if (autocommit && count != 1)
      diagnostics.error(transaction, "'transaction: false' runs one statement; this query holds " +
                                         std::to_string(count) + ": split it into steps");
    if (!autocommit && count > 1) {
      for (const auto& statement : script.statements)
        if (sql::needs_autocommit(statement))
          diagnostics.error(query, sql::command_of(statement) +
                                       " cannot run inside a transaction: put it in a step of its own with "
                                       "'transaction: false'");
    }
    if (params && param_count > 0 && count > 1)
      diagnostics.error(params, "'params' need a query of one statement (PostgreSQL binds parameters to one "
                                "statement); this query holds " + std::to_string(count));
    const int highest = sql::highest_parameter(script);
    if (highest > 0 && !params)
      diagnostics.error(query, "the query uses $" + std::to_string(highest) + " but the step has no 'params'");
    else if (params && params.IsSequence() && static_cast<std::size_t>(highest) != param_count)
      diagnostics.error(params, "the query uses " + (highest == 0   ? std::string("no $n placeholder")
                                                     : highest == 1 ? std::string("$1")
                                                                    : "$1 to $" + std::to_string(highest)) +
                                    " but 'params' gives " + std::to_string(param_count) + " value" +
                                    (param_count == 1 ? "" : "s"));
  }
};

}  // namespace

std::unique_ptr<Executor> make_postgres_executor() { return std::make_unique<PostgresExecutor>(); }

}  // namespace ttops
