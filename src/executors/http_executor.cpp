// HTTP steps through libcurl. DNS answers and TLS sessions are shared across the steps of a run
// (a curl share handle); connections are kept by pooled channels, so a runbook of ten checks
// against one service opens one connection. Every libcurl error becomes a one-line reason that
// names the fault.
#include <curl/curl.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <chrono>
#include <mutex>
#include <vector>

#include "ttops/executor.hpp"
#include "ttops/expression.hpp"
#include "util/duration.hpp"
#include "util/json_depth.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

constexpr std::size_t k_default_max_body = 16 * 1024 * 1024;

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

void ensure_curl_initialised() { static CurlGlobal global; }

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string method_of(const Json& action) {
  if (action.contains("method") && action["method"].is_string()) return upper(action["method"].get<std::string>());
  return action.contains("body") || action.contains("json") ? "POST" : "GET";
}

std::string host_port(const std::string& url) {
  auto scheme = url.find("://");
  std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  auto at = authority.rfind('@');
  return at == std::string::npos ? authority : authority.substr(at + 1);
}

// What a transfer collects while it runs.
struct Transfer {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t max_body = k_default_max_body;
  bool body_too_large = false;
  const StepContext* context = nullptr;
  bool cancelled = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t bytes = size * count;
  if (transfer->body.size() + bytes > transfer->max_body) {
    transfer->body_too_large = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  transfer->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    transfer->headers.clear();  // a new response (after a redirect or 100-continue)
  } else {
    auto colon = line.find(':');
    if (colon != std::string_view::npos)
      transfer->headers.emplace_back(to_lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->context != nullptr && transfer->context->cancelled()) {
    transfer->cancelled = true;
    return 1;
  }
  return 0;
}

std::string describe_error(CURLcode code, const char* detail, const std::string& url, const Transfer& transfer,
                           double seconds, std::chrono::milliseconds timeout, bool connected) {
  std::string where = host_port(url);
  std::string extra = detail != nullptr && *detail != '\0' ? std::string(detail) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_COULDNT_CONNECT:
      return "connection refused (" + where + ")";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve host (" + where + "): " + extra;
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "cannot resolve proxy: " + extra;
    case CURLE_OPERATION_TIMEDOUT:
      if (!connected) return "could not connect within " + format_budget(timeout) + " (" + where + "): no answer";
      if (transfer.body.empty() && transfer.headers.empty())
        return "timed out after " + format_duration(static_cast<double>(timeout.count()) / 1000.0) +
               " waiting for a response from " + where;
      return "timed out after " + format_duration(static_cast<double>(timeout.count()) / 1000.0) +
             " reading the response from " + where + " (" +
             std::to_string(transfer.body.size()) + " bytes received)";
    case CURLE_GOT_NOTHING:
      return "server closed the connection without a response (" + where + ")";
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
      return "connection closed mid-response (" + where + ", " + std::to_string(transfer.body.size()) +
             " bytes received): " + extra;
    case CURLE_SEND_ERROR:
      return "connection failed while sending the request (" + where + "): " + extra;
    case CURLE_WRITE_ERROR:
      if (transfer.body_too_large)
        return "response larger than " + std::to_string(transfer.max_body / 1024) + " KiB (max_body); stopped reading";
      return "cannot store the response: " + extra;
    case CURLE_ABORTED_BY_CALLBACK:
      return "interrupted after " + format_duration(seconds);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
      return "TLS error with " + where + ": " + extra;
    case CURLE_UNSUPPORTED_PROTOCOL:
      // libcurl's word for an answer that is not HTTP at all (no status line).
      if (extra.find("HTTP/0.9") != std::string::npos)
        return "malformed response from " + where + ": not HTTP (" + extra + ")";
      return "bad URL '" + url + "': " + extra;
    case CURLE_URL_MALFORMAT:
      return "bad URL '" + url + "': " + extra;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING:
      return "malformed response from " + where + ": " + extra;
    case CURLE_TOO_MANY_REDIRECTS:
      return "too many redirects from " + where;
    default:
      return extra + " (" + where + ")";
  }
}

// One easy handle in its own multi handle. The multi handle keeps the connections, so a channel
// taken again reuses them; a channel is used by one thread at a time. (libcurl cannot share a
// connection cache between threads: CURL_LOCK_DATA_CONNECT in a share used by concurrent
// transfers corrupts memory, a documented limitation, so connections are never shared.)
// curl_easy_perform would look at the progress callback (and so at Ctrl-C) only about once a
// second while it waits; the multi handle polls the cancel descriptor with the transfer's sockets,
// so an interrupted transfer ends at once.
class Channel {
 public:
  explicit Channel(CURLSH* share)
      : m_multi(curl_multi_init(), &curl_multi_cleanup), m_easy(curl_easy_init(), &curl_easy_cleanup) {
    curl_easy_setopt(m_easy.get(), CURLOPT_SHARE, share);
  }
  ~Channel() {
    // The easy handle leaves the multi before either is cleaned up.
    if (m_added && m_multi) curl_multi_remove_handle(m_multi.get(), m_easy.get());
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  CURL* easy() const { return m_easy.get(); }
  bool usable() const { return m_multi != nullptr && m_easy != nullptr; }

  CURLcode perform(const StepContext& context, bool& cancelled) {
    CURLM* multi = m_multi.get();
    if (curl_multi_add_handle(multi, m_easy.get()) != CURLM_OK) return curl_easy_perform(m_easy.get());
    m_added = true;
    const int cancel_fd = context.cancel != nullptr ? context.cancel->fd() : -1;
    CURLcode code = CURLE_OK;
    while (true) {
      int running = 0;
      if (curl_multi_perform(multi, &running) != CURLM_OK) {
        code = CURLE_OUT_OF_MEMORY;
        break;
      }
      if (running == 0) {
        int queued = 0;
        while (CURLMsg* message = curl_multi_info_read(multi, &queued))
          if (message->msg == CURLMSG_DONE) code = message->data.result;
        break;
      }
      curl_waitfd extra{cancel_fd, CURL_WAIT_POLLIN, 0};
      curl_multi_poll(multi, cancel_fd >= 0 ? &extra : nullptr, cancel_fd >= 0 ? 1U : 0U, 1000, nullptr);
      if (context.cancelled()) {
        cancelled = true;
        code = CURLE_ABORTED_BY_CALLBACK;
        break;
      }
    }
    curl_multi_remove_handle(multi, m_easy.get());
    m_added = false;
    return code;
  }

  // Back to defaults for the next step; the multi handle keeps its connections.
  void reset(CURLSH* share) {
    curl_easy_reset(m_easy.get());
    curl_easy_setopt(m_easy.get(), CURLOPT_SHARE, share);
  }

 private:
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> m_multi;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> m_easy;
  bool m_added = false;
};

// The share's DNS cache and TLS sessions are used from several threads: libcurl asks for locks.
class ShareLocks {
 public:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<ShareLocks*>(user)->m_locks[static_cast<std::size_t>(data) % k_count].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<ShareLocks*>(user)->m_locks[static_cast<std::size_t>(data) % k_count].unlock();
  }

 private:
  static constexpr std::size_t k_count = 8;
  std::array<std::mutex, k_count> m_locks;
};

class HttpSession : public ExecutorSession {
 public:
  explicit HttpSession(const RunOptions& options) : m_options(options), m_share(curl_share_init(), &curl_share_cleanup) {
    curl_share_setopt(m_share.get(), CURLSHOPT_LOCKFUNC, &ShareLocks::lock);
    curl_share_setopt(m_share.get(), CURLSHOPT_UNLOCKFUNC, &ShareLocks::unlock);
    curl_share_setopt(m_share.get(), CURLSHOPT_USERDATA, &m_locks);
    curl_share_setopt(m_share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(m_share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }

  ~HttpSession() override {
    // Channels (their easy handles) must go before the share handle they use.
    m_idle.clear();
  }

  ActionOutcome run(const Json& action, StepContext& context) override {
    std::unique_ptr<Channel> channel = acquire();
    if (!channel->usable()) return ActionOutcome::failure("libcurl could not create a transfer (out of memory?)");
    ActionOutcome outcome = perform(*channel, action, context);
    release(std::move(channel));
    return outcome;
  }

 private:
  // The most recently used channel first: a sequential runbook keeps using one connection.
  std::unique_ptr<Channel> acquire() {
    {
      std::lock_guard lock(m_mutex);
      if (!m_idle.empty()) {
        std::unique_ptr<Channel> channel = std::move(m_idle.back());
        m_idle.pop_back();
        return channel;
      }
    }
    return std::make_unique<Channel>(m_share.get());
  }

  void release(std::unique_ptr<Channel> channel) {
    channel->reset(m_share.get());
    std::lock_guard lock(m_mutex);
    m_idle.push_back(std::move(channel));
  }

  ActionOutcome perform(Channel& channel, const Json& action, StepContext& context) {
    CURL* handle = channel.easy();
    const std::string url = action.value("url", "");
    if (url.empty()) return ActionOutcome::failure("the request has no URL (url is empty)");
    const std::string method = method_of(action);
    Transfer transfer;
    transfer.context = &context;
    if (action.contains("max_body") && action["max_body"].is_number_integer())
      transfer.max_body = action["max_body"].get<std::size_t>();

    auto timeout = context.remaining();
    if (timeout.count() <= 0) return ActionOutcome::failure("no time left for the request", true);
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long long>(timeout.count(), 10'000)));
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "ttops/" TTOPS_VERSION);
    curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    bool follow = action.value("follow_redirects", false);
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 10L);

    bool insecure = m_options.insecure || action.value("insecure", false);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L);
    std::string ca_file = action.value("ca_file", m_options.ca_file);
    if (!ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, ca_file.c_str());

    std::string body;
    struct curl_slist* headers = nullptr;
    bool has_content_type = false;
    if (action.contains("headers") && action["headers"].is_object()) {
      for (auto it = action["headers"].begin(); it != action["headers"].end(); ++it) {
        std::string line = it.key() + ": " + to_display_string(it.value());
        if (to_lower(it.key()) == "content-type") has_content_type = true;
        headers = curl_slist_append(headers, line.c_str());
      }
    }
    if (action.contains("json")) {
      body = dump_json(action["json"]);
      if (!has_content_type) headers = curl_slist_append(headers, "Content-Type: application/json");
    } else if (action.contains("body")) {
      body = to_display_string(action["body"]);
    }
    if (method == "GET") {
      curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    } else if (method == "HEAD") {
      curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    if (headers != nullptr) curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);

    auto started = std::chrono::steady_clock::now();
    CURLcode code = channel.perform(context, transfer.cancelled);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    curl_slist_free_all(headers);

    if (code != CURLE_OK) {
      if (transfer.cancelled || context.cancelled()) return ActionOutcome::failure("interrupted");
      // libcurl says "Connection timed out after …" when the time ran out before a connection.
      std::string_view detail(error_buffer);
      bool connected =
          detail.rfind("Connection timed out", 0) != 0 && detail.find("Failed to connect") == std::string_view::npos;
      // Messages name the step's timeout ("1s"), not the few milliseconds fewer left when curl started.
      auto shown_timeout = context.budget.count() > 0 ? context.budget : timeout;
      return ActionOutcome::failure(
          describe_error(code, error_buffer, url, transfer, seconds, shown_timeout, connected),
          code == CURLE_OPERATION_TIMEDOUT);
    }

    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    ActionOutcome outcome;
    Json& data = outcome.data;
    data["status"] = status;
    Json header_object = Json::object();
    for (const auto& [name, value] : transfer.headers) {
      if (header_object.contains(name)) {
        header_object[name] = header_object[name].get<std::string>() + ", " + value;
      } else {
        header_object[name] = value;
      }
    }
    std::string content_type = header_object.value("content-type", "");
    data["headers"] = std::move(header_object);
    data["url"] = url;
    data["method"] = method;
    data["size"] = transfer.body.size();
    data["duration"] = seconds;
    // Parse JSON when the server says it is JSON or the body looks like it; otherwise leave a
    // reason that an expectation reading `json` reports.
    std::string_view trimmed = trim(transfer.body);
    bool looks_json = !trimmed.empty() && (trimmed.front() == '{' || trimmed.front() == '[');
    if ((content_type.find("json") != std::string::npos || looks_json) && !json_nesting_within(transfer.body)) {
      data["json"] = nullptr;
      data["json_error"] =
          "response body nests deeper than " + std::to_string(k_max_json_depth) + " levels; not parsed as JSON";
    } else if (content_type.find("json") != std::string::npos || looks_json) {
      try {
        data["json"] = Json::parse(transfer.body);
      } catch (const Json::parse_error& error) {
        data["json"] = nullptr;
        std::string what = error.what();
        auto colon = what.find("parse error");
        data["json_error"] = "response body is not valid JSON (" + std::to_string(transfer.body.size()) + " bytes): " +
                             (colon == std::string::npos ? what : what.substr(colon));
      }
    } else {
      data["json"] = nullptr;
      data["json_error"] = transfer.body.empty()
                               ? std::string("response body is empty, not JSON")
                               : "response body is not JSON (content-type: " +
                                     (content_type.empty() ? std::string("none") : content_type) + ")";
    }
    data["body"] = std::move(transfer.body);
    return outcome;
  }

  const RunOptions& m_options;
  ShareLocks m_locks;
  std::unique_ptr<CURLSH, decltype(&curl_share_cleanup)> m_share;
  std::mutex m_mutex;
  std::vector<std::unique_ptr<Channel>> m_idle;
};

class HttpExecutor : public Executor {
 public:
  HttpExecutor() { ensure_curl_initialised(); }

  std::string_view name() const override { return "http"; }
  std::string_view summary() const override { return "an HTTP request through libcurl"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = {
        {"url", FieldType::string, true, "the URL, e.g. \"{{ target.url }}/health\""},
        {"method", FieldType::string, false, "GET (default), HEAD, POST, PUT, PATCH or DELETE"},
        {"headers", FieldType::string_map, false, "request headers"},
        {"body", FieldType::string, false, "request body as text"},
        {"json", FieldType::any, false, "request body as JSON (sets Content-Type)"},
        {"insecure", FieldType::boolean, false, "skip TLS certificate verification"},
        {"ca_file", FieldType::string, false, "CA bundle to verify the server with"},
        {"follow_redirects", FieldType::boolean, false, "follow 3xx redirects (default false)"},
        {"max_body", FieldType::integer, false, "largest response body to read, in bytes (default 16 MiB)"},
    };
    return fields;
  }
  std::string_view shorthand_field() const override { return "url"; }
  std::vector<std::string> result_fields() const override {
    return {"status", "headers", "body", "json", "url", "method", "size", "duration"};
  }
  std::vector<std::string> default_expectations() const override { return {"status >= 200 && status < 400"}; }

  void check(const YAML::Node& action, Diagnostics& diagnostics) const override {
    if (auto method = action["method"]; method && method.IsScalar() && !Template::has_holes(method.Scalar())) {
      static const std::vector<std::string> methods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
      if (std::find(methods.begin(), methods.end(), upper(method.Scalar())) == methods.end())
        diagnostics.error(method, "unknown HTTP method '" + method.Scalar() + "'");
    }
    if (action["body"] && action["json"]) diagnostics.error(action["json"], "give either 'body' or 'json', not both");
    if (auto url = action["url"]; url && url.IsScalar() && !Template::has_holes(url.Scalar())) {
      const std::string& text = url.Scalar();
      if (text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0)
        diagnostics.error(url, "url must start with http:// or https://");
    }
  }

  Effect effect(const Json& action) const override {
    if (action.contains("method") && action["method"].is_string() &&
        Template::has_holes(action["method"].get_ref<const std::string&>()))
      return Effect::destructive;  // decided at run time: assume the worst until then
    std::string method = method_of(action);
    if (method == "GET" || method == "HEAD" || method == "OPTIONS") return Effect::read;
    if (method == "DELETE") return Effect::destructive;
    return Effect::mutate;
  }

  std::string describe(const Json& action, const StepContext& context) const override {
    (void)context;
    std::string out = method_of(action) + " " + action.value("url", "");
    if (action.contains("headers") && action["headers"].is_object()) {
      for (auto it = action["headers"].begin(); it != action["headers"].end(); ++it) {
        // Credentials in headers are never shown, registered as secrets or not.
        std::string name = to_lower(it.key());
        bool sensitive = name == "authorization" || name == "cookie" || name.find("token") != std::string::npos ||
                         name.find("key") != std::string::npos || name.find("secret") != std::string::npos;
        out += " -H '" + it.key() + ": " + (sensitive ? std::string("***") : to_display_string(it.value())) + "'";
      }
    }
    if (action.contains("json")) out += " --json '" + one_line(dump_json(action["json"]), 200) + "'";
    if (action.contains("body")) out += " --data '" + one_line(to_display_string(action["body"]), 200) + "'";
    return out;
  }

  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    return std::make_unique<HttpSession>(options);
  }
};

}  // namespace

std::unique_ptr<Executor> make_http_executor() { return std::make_unique<HttpExecutor>(); }

}  // namespace ttops
