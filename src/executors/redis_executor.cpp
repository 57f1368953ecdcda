// Redis steps through hiredis. A command is a list of arguments sent as arguments
// (redisCommandArgv: no format string, no splitting), so a value holding spaces or CRLF is data.
// count_keys and delete_keys walk the keyspace with SCAN in batches (deleting with UNLINK), never
// with KEYS, which blocks the server while it looks at every key. Connections are pooled per URL
// for the run and used by one step at a time; one that failed or was closed is dropped.
#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_set>

#include "executors/redis_info.hpp"
#include "executors/redis_url.hpp"
#include "ttops/executor.hpp"
#include "ttops/expression.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr long long k_default_batch = 500;
constexpr long long k_max_batch = 100000;
constexpr std::size_t k_sample_size = 20;
constexpr std::size_t k_default_max_reply = 16 * 1024 * 1024;

using ContextHandle = std::unique_ptr<redisContext, decltype(&redisFree)>;
using ReplyHandle = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool has_holes(const Json& value) {
  return value.is_string() && Template::has_holes(value.get_ref<const std::string&>());
}

std::string argument_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_null()) return "";
  return value.dump();
}

std::vector<std::string> arguments_of(const Json& action) {
  std::vector<std::string> args;
  if (!action.contains("command")) return args;
  const Json& command = action["command"];
  if (command.is_array()) {
    for (const auto& item : command) args.push_back(argument_text(item));
  } else {
    args.push_back(argument_text(command));
  }
  return args;
}

// --- what a command does ---------------------------------------------------------------------

// Commands that only read. Everything not listed here mutates, unless it deletes (below).
constexpr std::string_view k_read_commands[] = {
    "GET",        "MGET",         "EXISTS",         "TTL",          "PTTL",          "EXPIRETIME",
    "PEXPIRETIME", "TYPE",        "STRLEN",         "GETRANGE",     "SUBSTR",        "GETBIT",
    "BITCOUNT",   "BITPOS",       "BITFIELD_RO",    "LCS",          "HGET",          "HMGET",
    "HGETALL",    "HLEN",         "HKEYS",          "HVALS",        "HEXISTS",       "HSTRLEN",
    "HSCAN",      "HRANDFIELD",   "LLEN",           "LRANGE",       "LINDEX",        "LPOS",
    "SCARD",      "SMEMBERS",     "SISMEMBER",      "SMISMEMBER",   "SRANDMEMBER",   "SSCAN",
    "SUNION",     "SINTER",       "SDIFF",          "SINTERCARD",   "ZCARD",         "ZRANGE",
    "ZRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGE",    "ZREVRANGEBYSCORE", "ZREVRANGEBYLEX", "ZSCORE",
    "ZMSCORE",    "ZRANK",        "ZREVRANK",       "ZCOUNT",       "ZLEXCOUNT",     "ZSCAN",
    "ZRANDMEMBER", "ZUNION",      "ZINTER",         "ZDIFF",        "ZINTERCARD",    "XLEN",
    "XRANGE",     "XREVRANGE",    "XREAD",          "XPENDING",     "PFCOUNT",       "GEOPOS",
    "GEODIST",    "GEOHASH",      "GEORADIUS_RO",   "GEORADIUSBYMEMBER_RO", "GEOSEARCH", "INFO",
    "PING",       "ECHO",         "DBSIZE",         "SCAN",         "TIME",          "LASTSAVE",
    "ROLE",       "RANDOMKEY",    "DUMP",           "EVAL_RO",      "EVALSHA_RO",    "FCALL_RO",
    "CONFIG GET", "CLIENT LIST",  "CLIENT INFO",    "CLIENT GETNAME", "CLIENT ID",   "MEMORY USAGE",
    "MEMORY STATS", "MEMORY DOCTOR", "MEMORY MALLOC-STATS", "SLOWLOG GET", "SLOWLOG LEN", "LATENCY LATEST",
    "LATENCY HISTORY", "LATENCY DOCTOR", "LATENCY HISTOGRAM"};

// Reads named by their first word whatever the second (OBJECT ENCODING, XINFO STREAM…), or by two.
constexpr std::string_view k_read_subcommands[] = {
    "OBJECT ENCODING", "OBJECT FREQ",   "OBJECT IDLETIME", "OBJECT REFCOUNT", "OBJECT HELP",    "XINFO STREAM",
    "XINFO GROUPS",    "XINFO CONSUMERS", "CLUSTER INFO",  "CLUSTER NODES",   "CLUSTER SLOTS",  "CLUSTER SHARDS",
    "CLUSTER MYID",    "CLUSTER KEYSLOT", "COMMAND COUNT", "COMMAND INFO",    "COMMAND DOCS",   "COMMAND LIST",
    "PUBSUB CHANNELS", "PUBSUB NUMSUB", "MODULE LIST",     "SCRIPT EXISTS"};

// Commands that remove data. Scripts are here too: a script may delete anything.
constexpr std::string_view k_destructive_commands[] = {
    "FLUSHDB",  "FLUSHALL", "DEL",      "UNLINK",    "GETDEL",     "HDEL",       "SREM",
    "SPOP",     "ZREM",     "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX", "ZPOPMIN", "ZPOPMAX",
    "BZPOPMIN", "BZPOPMAX", "ZMPOP",    "BZMPOP",    "LREM",       "LTRIM",      "LPOP",
    "RPOP",     "BLPOP",    "BRPOP",    "LMPOP",     "BLMPOP",     "XDEL",       "XTRIM",
    "SWAPDB",   "SHUTDOWN", "MIGRATE",  "MOVE",      "RENAME",     "EVAL",       "EVALSHA",
    "FCALL",    "SCRIPT FLUSH", "FUNCTION FLUSH", "FUNCTION DELETE", "ACL DELUSER", "CLUSTER RESET",
    "CLUSTER FLUSHSLOTS"};

// Commands named by two words: the second decides what they do.
constexpr std::string_view k_container_commands[] = {
    "CONFIG", "CLIENT", "MEMORY",   "SLOWLOG", "LATENCY", "OBJECT", "CLUSTER",
    "COMMAND", "SCRIPT", "FUNCTION", "XINFO",  "PUBSUB",  "ACL",    "MODULE"};

template <std::size_t N>
bool listed(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

// "CONFIG GET" for two-word commands, "GET" otherwise; upper-case.
std::string command_name(const std::vector<std::string>& args) {
  if (args.empty()) return "";
  std::string verb = upper(args[0]);
  if (listed(k_container_commands, verb) && args.size() > 1) return verb + " " + upper(args[1]);
  return verb;
}

Effect classify_command(const std::vector<std::string>& args) {
  std::string name = command_name(args);
  if (name.empty()) return Effect::read;
  if (listed(k_destructive_commands, name)) return Effect::destructive;
  if (listed(k_read_commands, name) || listed(k_read_subcommands, name)) return Effect::read;
  if (name == "COMMAND" || name == "ACL WHOAMI" || name == "ACL LIST" || name == "ACL USERS" || name == "ACL GETUSER" ||
      name == "ACL CAT" || name == "FUNCTION LIST" || name == "FUNCTION DUMP" || name == "FUNCTION STATS")
    return Effect::read;
  if (name == "ACL LOG") return args.size() > 2 ? Effect::mutate : Effect::read;  // ACL LOG RESET clears it
  return Effect::mutate;
}

// `command: "GET my key"`: refused, since ttops never splits a string into arguments.
bool is_unsplit_string(const Json& command) {
  return command.is_string() && command.get_ref<const std::string&>().find_first_of(" \t\r\n") != std::string::npos;
}

// Why a command cannot be a step, or "" when it can.
std::string refusal(const std::vector<std::string>& args) {
  std::string verb = upper(args.empty() ? "" : args[0]);
  if (verb == "KEYS")
    return "KEYS blocks the Redis server while it walks every key (the original runbooks pipe it into DEL): use "
           "count_keys: PATTERN or delete_keys: PATTERN, which walk the keys with SCAN in batches";
  if (verb == "SELECT") return "put the database number in the URL (redis://host:6379/2): a pooled connection stays on its database";
  if (verb == "AUTH" || verb == "HELLO") return "credentials go in the URL (redis://user:password@host:6379/0)";
  if (verb == "MULTI" || verb == "EXEC" || verb == "DISCARD" || verb == "WATCH" || verb == "UNWATCH")
    return verb + " spans several commands, and each step sends one on a pooled connection (use EVAL for an atomic sequence)";
  if (verb == "SUBSCRIBE" || verb == "PSUBSCRIBE" || verb == "SSUBSCRIBE" || verb == "UNSUBSCRIBE" ||
      verb == "PUNSUBSCRIBE" || verb == "SUNSUBSCRIBE" || verb == "MONITOR" || verb == "SYNC" || verb == "PSYNC")
    return verb + " streams replies without end; a step sends one command and reads one reply";
  if (verb == "QUIT" || verb == "RESET") return verb + " would change the pooled connection under later steps";
  if (verb == "CLIENT" && args.size() > 1 && upper(args[1]) == "REPLY")
    return "CLIENT REPLY would leave the connection without replies";
  return "";
}

// --- replies ---------------------------------------------------------------------------------

Json reply_value(const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return Json(to_valid_utf8(std::string_view(reply->str, reply->len)));
    case REDIS_REPLY_INTEGER:
      return Json(reply->integer);
    case REDIS_REPLY_ARRAY: {
      Json items = Json::array();
      for (std::size_t i = 0; i < reply->elements; ++i) items.push_back(reply_value(reply->element[i]));
      return items;
    }
    case REDIS_REPLY_ERROR:  // inside an array (EXEC, scripts): kept as data
      return Json{{"error", to_valid_utf8(std::string_view(reply->str, reply->len))}};
    default:
      return nullptr;
  }
}

std::string_view reply_type(const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_STRING: return "string";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_ARRAY: return "array";
    case REDIS_REPLY_ERROR: return "error";
    default: return "nil";
  }
}

std::string error_text(const redisReply* reply) {
  return one_line(to_valid_utf8(std::string_view(reply->str, reply->len)), 300);
}

// --- connections -----------------------------------------------------------------------------

struct RedisLink {
  ContextHandle context{nullptr, &redisFree};
  std::string where;
  std::size_t max_reply = k_default_max_reply;
  bool broken = false;  // an I/O error or a timeout left it unusable
  std::vector<char> buffer = std::vector<char>(64 * 1024);  // one per connection, not one per command
};

// What went wrong with one command.
struct CommandFailure {
  std::string message;
  bool timed_out = false;
};

// Waits until `fd` is ready for `events`, the step's deadline passes or the run is cancelled.
enum class Readiness { ready, timed_out, cancelled };
Readiness wait_for(int fd, short events, const StepContext& context) {
  const int cancel_fd = context.cancel != nullptr ? context.cancel->fd() : -1;
  while (true) {
    if (context.cancelled()) return Readiness::cancelled;
    auto left = context.remaining();
    if (left.count() <= 0) return Readiness::timed_out;
    pollfd fds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    int ready = ::poll(fds, cancel_fd >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (context.cancelled()) return Readiness::cancelled;
    if (ready > 0 && fds[0].revents != 0) return Readiness::ready;
  }
}

// Sends one command as arguments and reads its reply within the step's remaining time. The
// connection is non-blocking and every wait is a poll that Ctrl-C also ends; the reply is read here
// (not by hiredis) so that a server that streams without end is stopped at max_reply bytes.
ReplyHandle send(RedisLink& link, const std::vector<std::string>& args, const StepContext& context,
                 milliseconds budget, CommandFailure& failure) {
  ReplyHandle reply(nullptr, &freeReplyObject);
  redisContext* redis = link.context.get();
  auto fail = [&](std::string message, bool timed_out = false) {
    link.broken = true;
    failure = {std::move(message), timed_out};
    return ReplyHandle(nullptr, &freeReplyObject);
  };
  auto unanswered = [&](Readiness readiness) {
    return readiness == Readiness::cancelled
               ? fail("interrupted")
               : fail("Redis did not answer within " + format_budget(budget) + " (" + link.where + ")", true);
  };
  if (context.remaining().count() <= 0) return unanswered(Readiness::timed_out);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(redis, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK)
    return fail("cannot send the command: " + std::string(redis->errstr));
  for (int written = 0; written == 0;) {
    if (redisBufferWrite(redis, &written) != REDIS_OK)
      return fail("Redis connection failed: " + std::string(redis->errstr) + " (" + link.where + ")");
    if (written != 0) break;
    if (auto readiness = wait_for(redis->fd, POLLOUT, context); readiness != Readiness::ready)
      return unanswered(readiness);
  }
  std::size_t received = 0;
  std::vector<char>& buffer = link.buffer;
  while (true) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(redis, &raw) != REDIS_OK)
      return fail("malformed reply from Redis: " + one_line(redis->errstr, 200) + " (" + link.where + ")");
    if (raw != nullptr) {
      reply.reset(static_cast<redisReply*>(raw));
      return reply;
    }
    if (received > link.max_reply)
      return fail("reply larger than " + std::to_string(link.max_reply / 1024) + " KiB (max_reply); stopped reading (" +
                  link.where + ")");
    if (auto readiness = wait_for(redis->fd, POLLIN, context); readiness != Readiness::ready)
      return unanswered(readiness);
    ssize_t n = ::read(redis->fd, buffer.data(), buffer.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) return fail("Redis connection failed: " + std::string(std::strerror(errno)) + " (" + link.where + ")");
    if (n == 0)
      return fail(received == 0 ? "Redis closed the connection (" + link.where + ")"
                                : "Redis closed the connection mid-reply (" + link.where + ", " +
                                      std::to_string(received) + " bytes received)");
    received += static_cast<std::size_t>(n);
    if (redisReaderFeed(redis->reader, buffer.data(), static_cast<std::size_t>(n)) != REDIS_OK)
      return fail("malformed reply from Redis: " + one_line(redis->reader->errstr, 200) + " (" + link.where + ")");
  }
}

std::optional<std::string> url_of(const Json& action, const StepContext* context, std::string& error) {
  if (action.contains("connection")) {
    const Json& value = action["connection"];
    if (value.is_string() && !value.get_ref<const std::string&>().empty()) return value.get<std::string>();
    error = "the step's connection is empty";
    return std::nullopt;
  }
  if (context != nullptr && context->target != nullptr) {
    const Json& target = *context->target;
    if (target.contains("redis_url") && target["redis_url"].is_string() &&
        !target["redis_url"].get_ref<const std::string&>().empty())
      return target["redis_url"].get<std::string>();
  }
  error = "no connection: the environment defines no redis_url for this service (or give the step a 'connection')";
  return std::nullopt;
}

std::size_t max_reply_of(const Json& action) {
  if (action.contains("max_reply") && action["max_reply"].is_number_integer() &&
      action["max_reply"].get<long long>() > 0)
    return action["max_reply"].get<std::size_t>();
  return k_default_max_reply;
}

long long batch_of(const Json& action) {
  if (action.contains("batch") && action["batch"].is_number_integer())
    return std::clamp<long long>(action["batch"].get<long long>(), 1, k_max_batch);
  return k_default_batch;
}

std::string shown_argument(std::string_view arg) {
  bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::string_view("_-:.*/@=+,").find(c) != std::string_view::npos;
  });
  return plain ? std::string(arg) : Json(to_valid_utf8(arg)).dump();
}

// --- the session -----------------------------------------------------------------------------

class RedisSession : public ExecutorSession {
 public:
  ActionOutcome run(const Json& action, StepContext& context) override { return perform(action, context, false); }

  std::optional<ActionOutcome> preview(const Json& action, StepContext& context) override {
    auto args = arguments_of(action);
    std::string name = command_name(args);
    bool previewable = action.contains("delete_keys") || action.contains("count_keys") ||
                       classify_command(args) == Effect::read || ((name == "DEL" || name == "UNLINK") && args.size() > 1) ||
                       name == "FLUSHDB";
    if (!previewable) return std::nullopt;
    return perform(action, context, true);
  }

 private:
  ActionOutcome perform(const Json& action, StepContext& context, bool preview) {
    const auto started = Clock::now();
    const auto budget = std::chrono::duration_cast<milliseconds>(context.deadline - started);
    std::string error;
    auto url = url_of(action, &context, error);
    if (!url) return ActionOutcome::failure(error);
    auto address = parse_redis_url(*url, error);
    if (!address) return ActionOutcome::failure("bad Redis URL: " + error);
    if (context.redactor != nullptr) {
      context.redactor->add_url_credentials(*url);
      if (!address->password.empty()) context.redactor->add_secret(address->password);
    }

    std::vector<std::string> notes;
    CommandFailure failure;
    auto link = checkout(*url, *address, context, budget, duration_field(action, "connect_timeout").value_or(k_default_connect_timeout),
                         notes, failure);
    if (!link) return ActionOutcome::failure(failure.message, failure.timed_out);
    link->max_reply = max_reply_of(action);

    ActionOutcome outcome;
    if (action.contains("delete_keys")) {
      const std::string pattern = argument_text(action["delete_keys"]);
      outcome = walk_keys(*link, pattern, batch_of(action), !preview, context, budget);
      if (preview && outcome.ok) {
        rename(outcome.data, "count", "would_delete");
        outcome.notes.push_back("would delete " + outcome.data["would_delete"].dump() + " keys matching \"" + pattern +
                                "\"");
      }
    } else if (action.contains("count_keys")) {
      outcome = walk_keys(*link, argument_text(action["count_keys"]), batch_of(action), false, context, budget);
    } else {
      outcome = preview ? preview_command(*link, arguments_of(action), context, budget)
                        : command(*link, arguments_of(action), context, budget);
    }
    if (link->broken) {
      spdlog::info("redis: dropping the connection to {}: {}", link->where, outcome.error);
    } else {
      checkin(*url, std::move(link));
    }
    if (preview && outcome.ok) {
      outcome.data["preview"] = true;
      notes.push_back("preview: read-only commands only; nothing was changed");
    }
    outcome.notes.insert(outcome.notes.begin(), notes.begin(), notes.end());
    outcome.data["duration"] = std::chrono::duration<double>(Clock::now() - started).count();
    return outcome;
  }

  static void rename(Json& data, const char* from, const char* to) {
    if (!data.contains(from)) return;
    data[to] = data[from];
    data.erase(from);
  }

  static ActionOutcome command(RedisLink& link, const std::vector<std::string>& args, const StepContext& context,
                               milliseconds budget) {
    CommandFailure failure;
    ReplyHandle reply = send(link, args, context, budget, failure);
    if (!reply) return ActionOutcome::failure(failure.message, failure.timed_out);
    if (reply->type == REDIS_REPLY_ERROR) return ActionOutcome::failure("Redis error: " + error_text(reply.get()));
    ActionOutcome outcome;
    outcome.data["reply"] = reply_value(reply.get());
    outcome.data["type"] = std::string(reply_type(reply.get()));
    if (command_name(args) == "INFO" && reply->type == REDIS_REPLY_STRING)
      outcome.data["info"] = parse_redis_info(std::string_view(reply->str, reply->len));
    return outcome;
  }

  // What a destructive command would remove, asked with read-only commands.
  static ActionOutcome preview_command(RedisLink& link, const std::vector<std::string>& args, const StepContext& context,
                                       milliseconds budget) {
    std::string name = command_name(args);
    if (classify_command(args) == Effect::read) return command(link, args, context, budget);
    std::vector<std::string> probe;
    if (name == "FLUSHDB") {
      probe = {"DBSIZE"};
    } else {
      std::vector<std::string> keys(args.begin() + 1, args.end());
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      probe = {"EXISTS"};
      probe.insert(probe.end(), keys.begin(), keys.end());
    }
    ActionOutcome outcome = command(link, probe, context, budget);
    if (outcome.ok) outcome.data["would_delete"] = outcome.data["reply"];
    return outcome;
  }

  // SCAN MATCH pattern in batches; counts the keys, or UNLINKs each batch as it comes.
  static ActionOutcome walk_keys(RedisLink& link, const std::string& pattern, long long batch, bool remove,
                                 const StepContext& context, milliseconds budget) {
    std::string cursor = "0";
    std::unordered_set<std::string> seen;  // SCAN may return a key twice while the table rehashes
    long long deleted = 0;
    long long batches = 0;
    Json sample = Json::array();
    auto progress = [&] {
      return remove ? "; " + std::to_string(deleted) + " matching keys were deleted before that"
                    : std::string();
    };
    do {
      if (context.cancelled()) return ActionOutcome::failure("interrupted" + progress());
      CommandFailure failure;
      ReplyHandle reply =
          send(link, {"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(batch)}, context, budget, failure);
      if (!reply) return ActionOutcome::failure(failure.message + progress(), failure.timed_out);
      if (reply->type == REDIS_REPLY_ERROR) return ActionOutcome::failure("Redis error: " + error_text(reply.get()) + progress());
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING ||
          reply->element[1]->type != REDIS_REPLY_ARRAY)
        return ActionOutcome::failure("unexpected reply to SCAN" + progress());
      cursor.assign(reply->element[0]->str, reply->element[0]->len);
      const redisReply* keys = reply->element[1];
      std::vector<std::string> found;
      for (std::size_t i = 0; i < keys->elements; ++i)
        if (keys->element[i]->type == REDIS_REPLY_STRING) found.emplace_back(keys->element[i]->str, keys->element[i]->len);
      for (const auto& key : found) {
        // A deleted key cannot come back in a later batch; only a count needs to drop repeats.
        bool fresh = remove || seen.insert(key).second;
        if (fresh && sample.size() < k_sample_size) sample.push_back(to_valid_utf8(key));
      }
      if (remove && !found.empty()) {
        std::vector<std::string> unlink = {"UNLINK"};
        unlink.insert(unlink.end(), found.begin(), found.end());
        ReplyHandle removed = send(link, unlink, context, budget, failure);
        if (!removed) return ActionOutcome::failure(failure.message + progress(), failure.timed_out);
        if (removed->type == REDIS_REPLY_ERROR)
          return ActionOutcome::failure("Redis error: " + error_text(removed.get()) + progress());
        if (removed->type == REDIS_REPLY_INTEGER) deleted += removed->integer;
      }
      ++batches;
    } while (cursor != "0");

    ActionOutcome outcome;
    if (remove) {
      outcome.data["deleted"] = deleted;
      outcome.notes.push_back("deleted " + std::to_string(deleted) + " keys matching \"" + pattern + "\" in " +
                              std::to_string(batches) + " SCAN batches");
    } else {
      outcome.data["count"] = static_cast<long long>(seen.size());
    }
    outcome.data["sample"] = std::move(sample);
    outcome.data["batches"] = batches;
    return outcome;
  }

  std::unique_ptr<RedisLink> checkout(const std::string& url, const RedisAddress& address, const StepContext& context,
                                      milliseconds budget, milliseconds connect_timeout, std::vector<std::string>& notes,
                                      CommandFailure& failure) {
    while (true) {
      std::unique_ptr<RedisLink> link;
      {
        std::lock_guard lock(m_mutex);
        auto& idle = m_idle[url];
        if (idle.empty()) break;
        link = std::move(idle.back());
        idle.pop_back();
      }
      // Redis sends nothing unasked: an idle connection that turned readable was closed.
      pollfd fd{link->context->fd, POLLIN, 0};
      if (::poll(&fd, 1, 0) == 0) return link;
      notes.push_back("the server had closed the pooled connection to " + link->where + "; opened a new one");
      spdlog::info("redis: the server closed the idle connection to {}", link->where);
    }

    auto link = std::make_unique<RedisLink>();
    link->where = address.where();
    auto allowed = std::min(connect_timeout, context.remaining());
    if (allowed.count() <= 0) {
      failure = {"no time left to connect to Redis (" + link->where + ")", true};
      return nullptr;
    }
    // Connects without blocking, so that neither an address that never answers nor Ctrl-C holds
    // the step past its bound. (The name is still resolved before; a `.invalid` one fails at once.)
    link->context.reset(redisConnectNonBlock(address.host.c_str(), address.port));
    redisContext* redis = link->context.get();
    if (redis == nullptr) {
      failure = {"cannot allocate a Redis connection", false};
      return nullptr;
    }
    if (redis->err == 0) {
      StepContext connecting = context;
      connecting.deadline = std::min(context.deadline, Clock::now() + allowed);
      switch (wait_for(redis->fd, POLLOUT, connecting)) {
        case Readiness::cancelled:
          failure = {"interrupted while connecting to Redis (" + link->where + ")", false};
          return nullptr;
        case Readiness::timed_out:
          failure = {"could not connect within " + format_budget(allowed) + " (" + link->where + "): no answer", true};
          return nullptr;
        case Readiness::ready:
          break;
      }
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(redis->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error == ECONNREFUSED) {
        failure = {"connection refused (" + link->where + ")", false};
        return nullptr;
      }
      if (error != 0) {
        failure = {"cannot connect to Redis: " + std::string(std::strerror(error)) + " (" + link->where + ")", false};
        return nullptr;
      }
    } else {
      std::string detail = redis->errstr;
      if (detail == "Connection refused") {
        failure = {"connection refused (" + link->where + ")", false};
      } else if (redis->err == REDIS_ERR_OTHER) {
        failure = {"cannot resolve host (" + address.host + "): " + detail, false};
      } else {
        failure = {detail + " (" + link->where + ")", false};
      }
      return nullptr;
    }
    redisEnableKeepAlive(redis);
    if (!address.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!address.user.empty()) auth.push_back(address.user);
      auth.push_back(address.password);
      ReplyHandle reply = send(*link, auth, context, budget, failure);
      if (!reply) return nullptr;
      if (reply->type == REDIS_REPLY_ERROR) {
        failure = {"Redis refused the credentials: " + error_text(reply.get()) + " (" + link->where + ")", false};
        return nullptr;
      }
    }
    if (address.db != 0) {
      ReplyHandle reply = send(*link, {"SELECT", std::to_string(address.db)}, context, budget, failure);
      if (!reply) return nullptr;
      if (reply->type == REDIS_REPLY_ERROR) {
        failure = {"Redis error: " + error_text(reply.get()) + " (SELECT " + std::to_string(address.db) + ")", false};
        return nullptr;
      }
    }
    spdlog::info("redis: connected to {}", redact_url_credentials(url));
    return link;
  }

  void checkin(const std::string& url, std::unique_ptr<RedisLink> link) {
    std::lock_guard lock(m_mutex);
    m_idle[url].push_back(std::move(link));
  }

  std::mutex m_mutex;
  std::map<std::string, std::vector<std::unique_ptr<RedisLink>>> m_idle;  // by URL
};

// --- the executor ----------------------------------------------------------------------------

class RedisExecutor : public Executor {
 public:
  std::string_view name() const override { return "redis"; }
  std::string_view summary() const override { return "a Redis command, or a SCAN-based key count or delete (hiredis)"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = {
        {"command", FieldType::string_list, false, "the command as a list of arguments, e.g. [INFO, stats]"},
        {"count_keys", FieldType::string, false, "count the keys matching a pattern with SCAN, e.g. \"ticket:*\""},
        {"delete_keys", FieldType::string, false, "delete the keys matching a pattern with SCAN and UNLINK"},
        {"batch", FieldType::integer, false, "keys per SCAN batch for count_keys and delete_keys (default 500)"},
        {"connection", FieldType::string, false, "redis://[user:password@]host:port/db (default: target.redis_url)"},
        {"connect_timeout", FieldType::duration, false, "bound on connecting (default 5s)"},
        {"max_reply", FieldType::integer, false, "largest reply to read, in bytes (default 16 MiB)"},
    };
    return fields;
  }
  std::string_view shorthand_field() const override { return "command"; }
  std::vector<std::string> result_fields() const override {
    return {"reply", "type", "info", "count", "deleted", "sample", "batches", "duration"};
  }

  void check(const YAML::Node& action, Diagnostics& diagnostics) const override {
    const char* operations[] = {"command", "count_keys", "delete_keys"};
    int given = 0;
    for (const char* operation : operations)
      if (action[operation]) ++given;
    if (given != 1) {
      YAML::Node where = action["count_keys"] ? action["count_keys"] : action["delete_keys"] ? action["delete_keys"] : action;
      diagnostics.error(where, given == 0 ? "a redis step needs 'command', 'count_keys' or 'delete_keys'"
                                          : "give only one of 'command', 'count_keys' and 'delete_keys'");
    }
    if (const YAML::Node command = action["command"]) check_command(command, diagnostics);
    for (const char* key : {"count_keys", "delete_keys"}) {
      const YAML::Node pattern = action[key];
      if (pattern && pattern.IsScalar() && pattern.Scalar().empty())
        diagnostics.error(pattern, std::string(key) + " needs a pattern, e.g. \"event:*\"");
    }
    if (const YAML::Node batch = action["batch"]; batch && batch.IsScalar()) {
      long long value = 0;
      const std::string& text = batch.Scalar();
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error == std::errc() && end == text.data() + text.size() && (value < 1 || value > k_max_batch))
        diagnostics.error(batch, "batch must be between 1 and " + std::to_string(k_max_batch));
    }
    if (const YAML::Node connection = action["connection"];
        connection && connection.IsScalar() && !Template::has_holes(connection.Scalar())) {
      std::string error;
      if (!parse_redis_url(connection.Scalar(), error)) diagnostics.error(connection, "bad Redis URL: " + error);
    }
  }

  Effect effect(const Json& action) const override {
    if (action.contains("delete_keys")) return Effect::destructive;
    if (action.contains("count_keys")) return Effect::read;
    if (!action.contains("command")) return Effect::read;
    const Json& command = action["command"];
    // A template decides the command only at run time: assume the worst until then.
    if (command.is_array()) {
      if (!command.empty() && has_holes(command[0])) return Effect::destructive;
      if (command.size() > 1 && has_holes(command[1]) && command[0].is_string() &&
          listed(k_container_commands, upper(command[0].get_ref<const std::string&>())))
        return Effect::destructive;
    } else if (has_holes(command)) {
      return Effect::destructive;
    }
    auto args = arguments_of(action);
    // A refused command never loads; calling it a read keeps its one error message alone.
    if (!refusal(args).empty() || is_unsplit_string(command)) return Effect::read;
    return classify_command(args);
  }

  std::string describe(const Json& action, const StepContext& context) const override {
    std::string error;
    auto url = url_of(action, &context, error);
    std::string out = "redis " + (url ? redact_url_credentials(*url) : std::string("(target.redis_url)")) + ": ";
    const std::string batch = std::to_string(batch_of(action));
    if (action.contains("delete_keys"))
      return out + "delete keys matching " + Json(argument_text(action["delete_keys"])).dump() + " (SCAN + UNLINK, batches of " +
             batch + ")";
    if (action.contains("count_keys"))
      return out + "count keys matching " + Json(argument_text(action["count_keys"])).dump() + " (SCAN, batches of " +
             batch + ")";
    std::vector<std::string> shown;
    for (const auto& arg : arguments_of(action)) shown.push_back(one_line(shown_argument(arg), 200));
    return out + join(shown, " ");
  }

  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    (void)options;
    return std::make_unique<RedisSession>();
  }

 private:
  static void check_command(const YAML::Node& command, Diagnostics& diagnostics) {
    std::vector<std::string> args;
    if (command.IsScalar()) {
      const std::string& text = command.Scalar();
      if (is_unsplit_string(Json(text)) && !Template::has_holes(text)) {
        diagnostics.error(command, "command is a list of arguments, e.g. [GET, \"my key\"]: ttops never splits a "
                                   "string, so write each argument as an item");
        return;
      }
      args.push_back(text);
    } else if (command.IsSequence()) {
      if (command.size() == 0) {
        diagnostics.error(command, "command is empty");
        return;
      }
      for (const auto& item : command) {
        if (item.IsNull()) diagnostics.error(item, "an argument cannot be null");
        args.push_back(item.IsScalar() ? item.Scalar() : std::string());
      }
    } else {
      return;  // the loader reports the wrong type
    }
    bool templated = Template::has_holes(args[0]) || (args.size() > 1 && Template::has_holes(args[1]));
    if (templated) return;
    std::string why = refusal(args);
    if (!why.empty()) diagnostics.error(command.IsSequence() ? command[0] : command, why);
  }
};

}  // namespace

std::unique_ptr<Executor> make_redis_executor() { return std::make_unique<RedisExecutor>(); }

}  // namespace ttops
