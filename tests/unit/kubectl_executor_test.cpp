#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_support.hpp"
#include "ttops/executor.hpp"
#include "util/subprocess.hpp"

extern char** environ;

using namespace ttops;

namespace {

const Executor& kubectl() {
  const Executor* executor = find_executor("kubectl");
  REQUIRE(executor != nullptr);
  return *executor;
}

Json args(std::initializer_list<const char*> words) {
  Json list = Json::array();
  for (const char* word : words) list.push_back(word);
  return Json{{"args", list}};
}

Effect effect_of(std::initializer_list<const char*> words) { return kubectl().effect(args(words)); }

// describe() is the exact command line: what dry runs print and what runs.
struct Describe {
  RunOptions options;
  Json target = Json{{"kube_context", "ttops-fixture"}, {"namespace", "tickettoken"}};
  std::string operator()(const Json& action) {
    StepContext context;
    context.options = &options;
    context.target = &target;
    return kubectl().describe(action, context);
  }
};

}  // namespace

TEST_CASE("kubectl: effects are classified by verb, whatever the runbook says", "[kubectl]") {
  for (auto words : {std::initializer_list<const char*>{"get", "pods"},
                     {"describe", "deployment/x"},
                     {"logs", "deployment/x", "--tail=100"},
                     {"top", "pods"},
                     {"rollout", "status", "deployment/x"},
                     {"rollout", "history", "deployment/x"},
                     {"auth", "can-i", "patch", "deployments"},
                     {"diff", "-f", "-"},
                     {"version"},
                     {"api-resources"}}) {
    INFO(*words.begin());
    CHECK(effect_of(words) == Effect::read);
  }
  for (auto words : {std::initializer_list<const char*>{"rollout", "undo", "deployment/x"},
                     {"rollout", "restart", "deployment/x"},
                     {"rollout", "pause", "deployment/x"},
                     {"scale", "deployment/x", "--replicas=5"},
                     {"set", "image", "deployment/x", "x=img:1"},
                     {"set", "env", "deployment/x", "A=1"},
                     {"patch", "service", "x", "-p", "{}"},
                     {"apply", "-f", "-"},
                     {"create", "job", "x", "--from=cronjob/y"},
                     {"annotate", "deployment/x", "a=b"},
                     {"label", "pod/x", "a=b"},
                     {"cordon", "node-1"},
                     {"exec", "pod/x", "--", "cat", "/etc/hostname"},
                     {"run", "x", "--image=busybox"}}) {
    INFO(*words.begin());
    CHECK(effect_of(words) == Effect::mutate);
  }
  CHECK(effect_of({"delete", "pod", "x"}) == Effect::destructive);
  CHECK(effect_of({"drain", "node-1"}) == Effect::destructive);
  CHECK(effect_of({"frobnicate", "x"}) == Effect::destructive);  // unknown: assume the worst
  CHECK(effect_of({"rollout", "sideways", "deployment/x"}) == Effect::destructive);
}

TEST_CASE("kubectl: the verb is found past global flags, and templates decide the worst", "[kubectl]") {
  CHECK(effect_of({"--request-timeout", "5s", "rollout", "undo", "deployment/x"}) == Effect::mutate);
  CHECK(effect_of({"--request-timeout=5s", "get", "pods"}) == Effect::read);
  CHECK(effect_of({"-v", "6", "get", "pods"}) == Effect::read);
  // A templated verb could be anything until the run: destructive.
  CHECK(effect_of({"{{ params.verb }}", "deployment/x"}) == Effect::destructive);
  CHECK(effect_of({"rollout", "{{ params.action }}", "deployment/x"}) == Effect::destructive);
  // A templated resource does not change what the verb does.
  CHECK(effect_of({"scale", "deployment/{{ target.deployment }}", "--replicas=5"}) == Effect::mutate);
  CHECK(effect_of({"get", "deployment/{{ target.deployment }}"}) == Effect::read);
  // A templated file is a value of -f, not a sub-verb of apply.
  CHECK(effect_of({"apply", "-f", "{{ params.manifest }}"}) == Effect::mutate);
  CHECK(effect_of({"apply", "--filename", "{{ params.manifest }}"}) == Effect::mutate);
  CHECK(effect_of({"apply", "{{ params.action }}", "-f", "x.yaml"}) == Effect::destructive);
  // Words after `--` belong to the command run in the pod.
  CHECK(effect_of({"exec", "pod/x", "--", "delete", "everything"}) == Effect::mutate);
  CHECK(kubectl().effect(Json{{"logs", "deployment/x"}}) == Effect::read);
}

TEST_CASE("kubectl: argv with context and namespace: command line > step > environment", "[kubectl]") {
  Describe describe;
  CHECK(describe(args({"get", "pods"})) == "kubectl --context ttops-fixture --namespace tickettoken get pods -o json");

  Json step = args({"rollout", "status", "deployment/x"});
  step["namespace"] = "production";
  step["context"] = "ttops-fixture-prod";
  CHECK(describe(step) ==
        "kubectl --context ttops-fixture-prod --namespace production rollout status deployment/x");

  describe.options.kube_context = "cli-context";
  describe.options.kube_namespace = "cli-namespace";
  describe.options.kubectl = "/opt/k8s/kubectl";
  CHECK(describe(step) == "/opt/k8s/kubectl --context cli-context --namespace cli-namespace rollout status deployment/x");
}

TEST_CASE("kubectl: unknown context or namespace is left to KUBECONFIG", "[kubectl]") {
  Describe describe;
  describe.target = Json::object();
  CHECK(describe(args({"rollout", "undo", "deployment/x"})) == "kubectl rollout undo deployment/x");
  describe.target = Json{{"namespace", "tickettoken"}, {"kube_context", ""}};
  CHECK(describe(args({"rollout", "undo", "deployment/x"})) == "kubectl --namespace tickettoken rollout undo deployment/x");
  // -A lists every namespace: no --namespace then.
  CHECK(describe(args({"get", "pods", "-A"})) == "kubectl get pods -A -o json");
}

TEST_CASE("kubectl: -o json is added for get, and only when no output is chosen", "[kubectl]") {
  Describe describe;
  describe.target = Json::object();
  CHECK(describe(args({"get", "pods"})) == "kubectl get pods -o json");
  CHECK(describe(args({"get", "pods", "-o", "wide"})) == "kubectl get pods -o wide");
  CHECK(describe(args({"get", "pods", "-owide"})) == "kubectl get pods -owide");
  Json no_json = args({"get", "pods"});
  no_json["json"] = false;
  CHECK(describe(no_json) == "kubectl get pods");
  Json history = args({"rollout", "history", "deployment/x"});
  CHECK(describe(history) == "kubectl rollout history deployment/x");
  history["json"] = true;
  CHECK(describe(history) == "kubectl rollout history deployment/x -o json");
  // Never after `--`: those words are the pod's command.
  Json exec = args({"exec", "deployment/x", "--", "cat", "/tmp/a"});
  exec["json"] = true;
  CHECK(describe(exec) == "kubectl exec deployment/x -o json -- cat /tmp/a");
}

TEST_CASE("kubectl: logs sources become the seeds' kubectl logs commands", "[kubectl]") {
  Describe describe;
  CHECK(describe(Json{{"logs", "deployment/ticket-service"}}) ==
        "kubectl --context ttops-fixture --namespace tickettoken logs deployment/ticket-service");
  describe.target = Json::object();
  Json selector = {{"logs", {{"selector", "app=venue-service"}, {"since", "5m"}}}, {"grep", "(?i)error"}};
  // With a selector kubectl shows 10 lines per pod unless told: ttops asks for all of them.
  CHECK(describe(selector) == "kubectl logs -l app=venue-service --since=5m --tail=-1");
  Json tail = {{"logs", {{"selector", "app=minting-service"}, {"tail", 100}}}};
  CHECK(describe(tail) == "kubectl logs -l app=minting-service --tail=100");
  Json resource = {{"logs", {{"resource", "pod/x"}, {"container", "app"}, {"previous", true}}},
                   {"args", Json::array({"--timestamps"})}};
  CHECK(describe(resource) == "kubectl logs pod/x --container=app --previous --timestamps");
}

TEST_CASE("kubectl: stdin is shown, arguments are quoted as a shell would need", "[kubectl]") {
  Describe describe;
  describe.target = Json::object();
  Json patch = args({"patch", "service", "minting-service", "-p", R"({"spec":{"selector":{"version":"green"}}})"});
  CHECK(describe(patch) ==
        R"(kubectl patch service minting-service -p '{"spec":{"selector":{"version":"green"}}}')");
  Json apply = args({"apply", "-f", "-"});
  apply["stdin"] = "kind: ConfigMap";
  CHECK(describe(apply) == "kubectl apply -f - <<< 'kind: ConfigMap'");
}

TEST_CASE("kubectl: the loader checks args and logs with file:line:col", "[kubectl][loader]") {
  using ttops::testing::problems;
  auto one = [](const std::string& action) {
    return problems("title: t\nsteps:\n  - id: k\n    kubectl: " + action + "\n");
  };
  CHECK(one("[get, pods]").empty());
  CHECK(one("{args: [get, pods], namespace: production}").empty());
  CHECK(one("{logs: {selector: app=x, since: 5m, tail: 10}, grep: \"(?i)error\", tail: 5}").empty());

  auto scalar = one("\"get pods\"");
  REQUIRE(scalar.size() == 1);
  CHECK(scalar[0].find("args must be a list") != std::string::npos);

  auto namespace_flag = one("[get, pods, -n, production]");
  REQUIRE(namespace_flag.size() == 1);
  CHECK(namespace_flag[0].rfind("4:26: set the namespace with the step's 'namespace' field", 0) == 0);

  CHECK(one("[get, pods, --context=prod]").at(0).find("'context' field") != std::string::npos);
  CHECK(one("[exec, -it, pod/x, --, sh]").at(0).find("without a terminal") != std::string::npos);
  CHECK(one("{logs: deployment/x, args: [-f]}").at(0).find("never ends") != std::string::npos);
  CHECK(one("[get, pods, -w]").at(0).find("never ends") != std::string::npos);
  CHECK(one("{logs: {selector: a=b, resource: pod/x}}").at(0).find("exactly one of") != std::string::npos);
  CHECK(one("{logs: {resource: pod/x, since: soon}}").at(0).find("since must be a duration") != std::string::npos);
  CHECK(one("{logs: {resource: pod/x, follow: true}}").at(0).find("unknown key 'follow'") != std::string::npos);
  CHECK(one("{args: [get, pods], grep: \"(\"}").at(0).find("grep is not a valid regular expression") !=
        std::string::npos);
  CHECK(one("{namespace: x}").at(0).find("needs 'args'") != std::string::npos);
  CHECK(one("{args: []}").at(0).find("args is empty") != std::string::npos);
  // Words after -- are the pod's command: -n there is nc's flag, not kubectl's.
  CHECK(problems("title: t\nsteps:\n  - id: k\n    kubectl: [exec, deployment/x, --, nc, -n, -z, db, \"5432\"]\n"
                 "    confirm: run nc in the pod?\n")
            .empty());
}

TEST_CASE("kubectl: a mutating step without confirm text is rejected", "[kubectl][loader]") {
  auto found = ttops::testing::problems("title: t\nsteps:\n  - id: undo\n    kubectl: [rollout, undo, deployment/x]\n");
  REQUIRE(found.size() == 1);
  CHECK(found[0] == "3:5: step 'undo' mutates: give it a 'confirm' text that says what it will change");
  auto lowered = ttops::testing::problems(
      "title: t\nsteps:\n  - id: rm\n    kubectl: [delete, pod, x]\n    effect: mutate\n    confirm: ok?\n");
  REQUIRE(lowered.size() == 1);
  CHECK(lowered[0].find("classified 'destructive' by the kubectl executor") != std::string::npos);
}

// --- preview against the Kubernetes API fixture ------------------------------------------------

namespace {

// The fixture of tests/fixtures/kube, started for one test and stopped (by pid) after it, with
// KUBECONFIG pointing at it meanwhile.
class KubeFixtureProcess {
 public:
  KubeFixtureProcess() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ttops-unit-kube-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    m_dir = pattern;
    std::string script = std::string(TTOPS_SOURCE_DIR) + "/tests/fixtures/kube/kube_fixture.py";
    std::vector<std::string> argv = {*find_program("python3"), script, "--port", "0", "--kubeconfig-out",
                                     m_dir + "/kubeconfig", "--port-file", m_dir + "/port"};
    std::vector<char*> pointers;
    for (auto& word : argv) pointers.push_back(word.data());
    pointers.push_back(nullptr);
    REQUIRE(::posix_spawn(&m_pid, argv[0].c_str(), nullptr, nullptr, pointers.data(), environ) == 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!std::filesystem::exists(m_dir + "/port")) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream in(m_dir + "/port");
    in >> m_port;
    const char* previous = std::getenv("KUBECONFIG");
    if (previous != nullptr) m_previous_kubeconfig = previous;
    ::setenv("KUBECONFIG", (m_dir + "/kubeconfig").c_str(), 1);
  }
  ~KubeFixtureProcess() {
    if (m_previous_kubeconfig) {
      ::setenv("KUBECONFIG", m_previous_kubeconfig->c_str(), 1);
    } else {
      ::unsetenv("KUBECONFIG");
    }
    ::kill(m_pid, SIGTERM);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    std::filesystem::remove_all(m_dir);
  }
  KubeFixtureProcess(const KubeFixtureProcess&) = delete;
  KubeFixtureProcess& operator=(const KubeFixtureProcess&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }

 private:
  std::string m_dir;
  pid_t m_pid = 0;
  int m_port = 0;
  std::optional<std::string> m_previous_kubeconfig;
};

// A GET through ttops's own HTTP executor.
Json get_json(const std::string& url) {
  RunOptions options;
  auto session = find_executor("http")->open_session(options);
  StepContext context;
  context.options = &options;
  context.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  ActionOutcome outcome = session->run(Json{{"url", url}}, context);
  REQUIRE(outcome.ok);
  return outcome.data["json"];
}

}  // namespace

TEST_CASE("kubectl: preview is a server-side dry run that changes nothing", "[kubectl][fixture]") {
  if (!find_program("kubectl") || !find_program("python3")) {
    WARN("skipped: needs kubectl and python3 on PATH");
    return;
  }
  KubeFixtureProcess fixture;
  RunOptions options;
  Json target = {{"kube_context", "ttops-fixture"}, {"namespace", "tickettoken"}};
  StepContext context;
  context.options = &options;
  context.target = &target;
  context.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto session = kubectl().open_session(options);

  auto undo = session->preview(args({"rollout", "undo", "deployment/minting-service"}), context);
  REQUIRE(undo);
  CHECK(undo->ok);
  CHECK(undo->data["exit_code"] == 0);
  CHECK(undo->data["stdout"].get<std::string>().find("(server dry run)") != std::string::npos);
  auto scale = session->preview(args({"scale", "deployment/minting-service", "--replicas=5"}), context);
  REQUIRE(scale);
  CHECK(scale->data["exit_code"] == 0);
  // kubectl 1.32 has no --dry-run for rollout restart: no preview, and nothing sent.
  CHECK_FALSE(session->preview(args({"rollout", "restart", "deployment/minting-service"}), context));

  Json mutations = get_json(fixture.url("/_fixture/mutations"));
  REQUIRE(mutations.size() == 2);
  for (const auto& mutation : mutations) CHECK(mutation["dry_run"] == true);
  Json deployment = get_json(fixture.url("/apis/apps/v1/namespaces/tickettoken/deployments/minting-service"));
  CHECK(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3");
  CHECK(deployment["spec"]["replicas"] == 3);

  // The real thing, for contrast: the same session runs it.
  ActionOutcome ran = session->run(args({"scale", "deployment/minting-service", "--replicas=4"}), context);
  CHECK(ran.data["exit_code"] == 0);
  CHECK(get_json(fixture.url("/_fixture/mutations")).back()["dry_run"] == false);
}
