#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/timer.h"
#include "tests/unit/test_util.h"
#include "workspace/workspace.h"

using namespace wsinit;
using namespace wsinit::workspace;
using wsinit::testing::slurp;
using wsinit::testing::spit;
using wsinit::testing::TempDir;
using namespace std::chrono_literals;

namespace {

std::string drop_commit(const std::string& json) {
  std::string error;
  auto out = without_members(json, "commit", &error);
  return out ? *out : "error: " + error;
}

config::Config gitlab_config(const config::Environment& env) {
  return config::profile_defaults(config::Profile::gitlab, env);
}

}  // namespace

TEST(ProductJson, DropsTheTopLevelCommitWhereverItIs) {
  EXPECT_EQ(drop_commit("{\n  \"nameShort\": \"x\",\n  \"commit\": \"abc\",\n  \"quality\": \"stable\"\n}\n"),
            "{\n  \"nameShort\": \"x\",\n  \"quality\": \"stable\"\n}\n");
  // Last member: the comma before it goes too (a line-based sed leaves it, and invalid JSON).
  EXPECT_EQ(drop_commit("{\"a\": 1, \"commit\": \"abc\"}"), "{\"a\": 1}");
  // First member: the whitespace before the next one stays with it.
  EXPECT_EQ(drop_commit("{\"commit\": \"abc\", \"a\": [1, {\"commit\": 2}]}"), "{ \"a\": [1, {\"commit\": 2}]}");
  EXPECT_EQ(drop_commit("{\"commit\": \"abc\"}"), "{}");
  EXPECT_EQ(drop_commit("{\"commit\": 1, \"commit\": 2, \"b\": true}"), "{ \"b\": true}");
}

TEST(ProductJson, LeavesEverythingElseByteForByte) {
  std::string text = "{\n\t\"quality\" : \"stable\",\n\t\"x\": {\"commit\": \"nested\"},\n\t\"s\": \"\\\"commit\\\": 1\"\n}";
  EXPECT_EQ(drop_commit(text), text);
  EXPECT_EQ(drop_commit("{}"), "{}");
}

TEST(ProductJson, RefusesWhatIsNotAJsonObject) {
  EXPECT_EQ(drop_commit("[1]"), "error: not a JSON object");
  EXPECT_EQ(drop_commit("{\"a\": }"), "error: invalid JSON near byte 6");
  EXPECT_EQ(drop_commit("{\"a\": \"unterminated}"), "error: invalid JSON near byte 20");
  EXPECT_EQ(drop_commit("{} x"), "error: text after the JSON object at byte 3");
  EXPECT_EQ(drop_commit(std::string(100000, '[')).rfind("error:", 0), 0u);  // deep nesting: no stack overflow
}

TEST(ProductJson, StrictJsonOnlyIsEdited) {
  for (const char* bad : {"{\"a\": tru}", "{\"a\": 01}", "{\"a\": 1.}", "{\"a\": -}", "{\"a\": \"\\x\"}", "{\"a\": \"\\u12\"}",
                          "{\"a\": 1,}", "{\"a\": [1,]}", "{\"a\": nul}", "\xEF\xBB\xBF{}"}) {
    std::string error;
    EXPECT_FALSE(without_members(bad, "commit", &error)) << bad;
    EXPECT_FALSE(with_first_member(bad, "k", "1", &error)) << bad;
  }
  std::string error;
  EXPECT_FALSE(without_members("{\"a\": " + std::string(100000, '['), "commit", &error));  // deep nesting: no stack overflow
  EXPECT_EQ(error.rfind("invalid JSON near byte", 0), 0u) << error;
}

TEST(ProductJson, MembersGoWithTheWhitespaceBeforeThemAndOneComma) {
  auto without = [](const std::string& json, const char* key) {
    std::string error;
    auto out = without_members(json, key, &error);
    return out ? *out : "error: " + error;
  };
  // The first member: what follows keeps its own indentation.
  EXPECT_EQ(without("{\n\t\"k\": {\n\t\t\"a\": 1\n\t},\n  \"x\": 1\n}", "k"), "{\n  \"x\": 1\n}");
  EXPECT_EQ(without("{\"k\": 1, \"k\": 2, \"x\": 1, \"k\": 3}", "k"), "{ \"x\": 1}");
  EXPECT_EQ(without("{ \"k\" : 1 }", "k"), "{ }");
  EXPECT_EQ(without("{\"x\": 1, \"k\": 2, \"y\": 3}", "k"), "{\"x\": 1, \"y\": 3}");
  EXPECT_EQ(without("{\"comm\\u0069t\": 1, \"x\": {\"k\": 2}}", "commit"), "{ \"x\": {\"k\": 2}}");  // a key as JSON reads it
  EXPECT_EQ(without("{\"x\": \"k\", \"kk\": 1}", "k"), "{\"x\": \"k\", \"kk\": 1}");
}

TEST(ProductJson, TheFirstMemberGoesOnLineTwoAfterABraceAlone) {
  auto with = [](const std::string& json) {
    std::string error;
    auto out = with_first_member(json, "k\"", "{\"v\":1}", &error);
    return out ? *out : "error: " + error;
  };
  EXPECT_EQ(with("{}"), "{\n\t\"k\\\"\": {\"v\":1}\n}");
  EXPECT_EQ(with("{\n}\n"), "{\n\t\"k\\\"\": {\"v\":1}\n}\n");
  EXPECT_EQ(with("{\"a\":1}"), "{\n\t\"k\\\"\": {\"v\":1},\n\"a\":1}");
  EXPECT_EQ(with("{\n  \"a\": 1\n}"), "{\n\t\"k\\\"\": {\"v\":1},\n  \"a\": 1\n}");
  EXPECT_EQ(with("{\r\n  \"a\": 1\r\n}"), "{\n\t\"k\\\"\": {\"v\":1},\r\n  \"a\": 1\r\n}");
  EXPECT_EQ(with(" \n{\"a\":1}"), "{\n\t\"k\\\"\": {\"v\":1},\n\"a\":1}");  // line 1 is the `{`
}

TEST(Editor, GitLabCommandLineUsesTheNewVariablesFirst) {
  TempDir dir;
  std::string bin = dir.path + "/vscode-reh-web/bin";
  ASSERT_EQ(system(("mkdir -p " + bin + " && touch " + bin + "/gitlab-webide-server && chmod +x " + bin + "/gitlab-webide-server").c_str()), 0);
  config::Environment env = {{"GL_TOOLS_DIR", dir.path}, {"GL_VSCODE_PORT", "61001"}, {"GL_EDITOR_PORT", "62001"},
                             {"GL_VSCODE_LOG_LEVEL", "debug"}, {"GL_EDITOR_LOG_LEVEL", "trace"}};
  std::string why;
  auto editor = editor_service(gitlab_config(env), env, &why);
  ASSERT_TRUE(editor) << why;
  EXPECT_EQ(editor->command, (std::vector<std::string>{bin + "/gitlab-webide-server", "--host", "0.0.0.0", "--port", "61001", "--log",
                                                       "debug", "--without-connection-token", "--disable-workspace-trust"}));
  EXPECT_EQ(editor->ready.http_url, "http://127.0.0.1:61001/");
  EXPECT_EQ(editor->ready.http_ready_below, 500);
  EXPECT_TRUE(editor->required);
  EXPECT_EQ(editor->restart, config::Restart::always);
  EXPECT_EQ(editor->external_port, 61001);

  config::Environment old = {{"GL_TOOLS_DIR", dir.path}, {"GL_EDITOR_PORT", "62001"}, {"GL_EDITOR_LOG_LEVEL", "trace"}};
  editor = editor_service(gitlab_config(old), old, &why);
  ASSERT_TRUE(editor);
  EXPECT_EQ(editor->command[4], "62001");
  EXPECT_EQ(editor->command[6], "trace");
}

TEST(Editor, AutoIsOffWithoutTheBinaryAndKindsPickTheirCommand) {
  config::Environment env = {{"GL_TOOLS_DIR", "/nonexistent"}, {"PATH", "/nonexistent"}, {"PROJECT_SOURCE", "/projects/app"}};
  std::string why;
  EXPECT_FALSE(editor_service(gitlab_config(env), env, &why));
  EXPECT_EQ(why, "editor.enabled is auto and /nonexistent/vscode-reh-web/bin/gitlab-webide-server is not there (No such file or directory)");

  auto loaded = config::load_text("version: 1\neditor: {enabled: true, kind: code-server, port: 8443}\n", "t.yaml", env,
                                  config::Profile::gitlab);
  ASSERT_TRUE(loaded.config);
  auto editor = editor_service(*loaded.config, env, &why);  // enabled: true runs it even if missing
  ASSERT_TRUE(editor);
  EXPECT_EQ(editor->command, (std::vector<std::string>{"code-server", "--bind-addr", "0.0.0.0:8443", "--auth", "none",
                                                       "--disable-telemetry", "--disable-update-check", "/projects/app"}));
  loaded = config::load_text("version: 1\neditor: {kind: custom, command: [/bin/sh, -c, 'exec sleep 1']}\n", "t.yaml", env,
                             config::Profile::gitlab);
  ASSERT_TRUE(loaded.config);
  editor = editor_service(*loaded.config, env, &why);
  ASSERT_TRUE(editor);
  EXPECT_EQ(editor->command[0], "/bin/sh");
  loaded = config::load_text("version: 1\neditor: {enabled: false}\n", "t.yaml", env, config::Profile::gitlab);
  EXPECT_FALSE(editor_service(*loaded.config, env, &why));
  EXPECT_EQ(why, "editor.enabled is false");
}

TEST(Editor, VersionMismatchSettingEditsProductJsonSafely) {
  TempDir dir;
  std::string bin = dir.path + "/vscode-reh-web/bin";
  ASSERT_EQ(system(("mkdir -p " + bin + " && touch " + bin + "/gitlab-webide-server && chmod +x " + bin + "/gitlab-webide-server").c_str()), 0);
  std::string product = dir.path + "/vscode-reh-web/product.json";
  spit(product, "{\"quality\": \"stable\", \"commit\": \"abc\"}");
  config::Environment env = {{"GL_TOOLS_DIR", dir.path}, {"GL_VSCODE_IGNORE_VERSION_MISMATCH", "true"}};
  Plan plan = prepare(gitlab_config(env), env, true);  // a dry run changes nothing
  EXPECT_EQ(slurp(product), "{\"quality\": \"stable\", \"commit\": \"abc\"}");
  plan = prepare(gitlab_config(env), env, false);
  EXPECT_TRUE(plan.warnings.empty());
  EXPECT_EQ(slurp(product), "{\"quality\": \"stable\"}");
  EXPECT_EQ(slurp(product + ".orig"), "{\"quality\": \"stable\", \"commit\": \"abc\"}");
  spit(product, "not json");
  plan = prepare(gitlab_config(env), env, false);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("product.json: not a JSON object"), std::string::npos);
  EXPECT_EQ(slurp(product), "not json");  // left as it was
  EXPECT_EQ(plan.services.size(), 1u);    // the editor still runs
}

const char* kDevfile = R"(schemaVersion: 2.2.0
variables:
  greeting: hello
components:
  - name: database
    container: {image: postgres}
  - name: tooling
    attributes:
      gl/inject-editor: true
    container:
      image: debian
      env:
        - {name: COMPONENT_VAR, value: from-component}
        - {name: OVERRIDDEN, value: component}
commands:
  - id: install
    exec:
      component: tooling
      commandLine: echo {{greeting}}
      workingDir: ${PROJECT_SOURCE}/app
      env: [{name: OVERRIDDEN, value: command}]
  - id: migrate
    exec: {component: database, commandLine: psql -f schema.sql}
  - id: Build_All
    exec: {component: tooling, commandLine: make, workingDir: $PROJECT_SOURCE}
  - id: both
    composite: {commands: [migrate, Build_All]}
events:
  postStart: [install, both]
)";

TEST(Devfile, PostStartExecCommandsOfTheMainComponentRunInOrder) {
  PostStart p = post_start_services(kDevfile, "devfile.yaml", {{"PROJECT_SOURCE", "/projects/demo"}});
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  ASSERT_EQ(p.services.size(), 2u);
  const auto& install = p.services[0];
  EXPECT_EQ(install.name, "poststart-1-install");
  EXPECT_EQ(install.command, (std::vector<std::string>{"/bin/sh", "-c", "echo hello"}));
  EXPECT_EQ(install.cwd, "/projects/demo/app");
  EXPECT_EQ(install.env.at("COMPONENT_VAR"), "from-component");
  EXPECT_EQ(install.env.at("OVERRIDDEN"), "command");
  EXPECT_TRUE(install.oneshot);
  EXPECT_EQ(install.restart, config::Restart::never);
  EXPECT_TRUE(install.after_finished.empty());
  EXPECT_EQ(install.origin, "devfile.yaml:16:5");
  const auto& build = p.services[1];
  EXPECT_EQ(build.name, "poststart-2-build-all");
  EXPECT_EQ(build.cwd, "/projects/demo");
  EXPECT_EQ(build.after_finished, std::vector<std::string>{"poststart-1-install"});
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_EQ(p.notes[0], "postStart command 'migrate' runs in component 'database', not in this container ('tooling'); left to the platform");
}

TEST(Devfile, ErrorsNameTheFileLineAndColumn) {
  auto errors_of = [](const std::string& text) {
    PostStart p = post_start_services(text, "d.yaml", {});
    EXPECT_TRUE(p.services.empty());
    return p.errors.empty() ? std::string("none") : p.errors[0];
  };
  EXPECT_EQ(errors_of("schemaVersion: 1.0.0\n"), "d.yaml:1:16: schemaVersion '1.0.0' is not supported (expected 2.x, e.g. 2.2.0)");
  EXPECT_EQ(errors_of("schemaVersion: 2.2.0\ncomponents: [{name: a, container: {image: x}}]\nevents: {postStart: [nope]}\n"),
            "d.yaml:3:22: events.postStart: no command has the id 'nope'");
  EXPECT_EQ(errors_of("schemaVersion: 2.2.0\ncomponents: [{name: a, container: {image: x}}, {name: b, container: {image: y}}]\n"
                      "commands: [{id: c, exec: {commandLine: 'true'}}]\nevents: {postStart: [c]}\n"),
            "d.yaml:1:1: components: several containers and none marked as the main one (attributes: {gl/inject-editor: true})");
  EXPECT_EQ(errors_of("schemaVersion: 2.2.0\ncomponents: [{name: a, container: {image: x}}]\n"
                      "commands: [{id: c, exec: {commandLine: 'echo {{nope}}'}}]\nevents: {postStart: [c]}\n"),
            "d.yaml:3:26: {{nope}} names no entry of the devfile's variables");
  EXPECT_EQ(errors_of("schemaVersion: 2.2.0\ncomponents: [{name: a, container: {image: x}}]\n"
                      "commands: [{id: c, composite: {commands: [c]}}]\nevents: {postStart: [c]}\n"),
            "d.yaml:3:12: composite command 'c' contains itself");
  EXPECT_EQ(errors_of("schemaVersion: [2\n"), "d.yaml:2:1: invalid YAML: end of sequence flow not found");
  PostStart none = post_start_services("schemaVersion: 2.2.0\ncomponents: []\n", "d.yaml", {});
  EXPECT_TRUE(none.errors.empty());  // no postStart: nothing to do, nothing wrong
}

// Found by the devfile fuzzer: yaml-cpp throws when a scalar is indexed or a missing key's node
// is asked its type, and an exception at start would end PID 1. Every shape is an error or nothing.
TEST(Devfile, AnyShapeIsAnErrorNeverAnException) {
  const char* shapes[] = {
      "schemaVersion: 2.2.0\nevents: x\n",
      "schemaVersion: 2.2.0\nevents: {postStart: x}\n",
      "schemaVersion: 2.2.0\nevents: {postStart: [a]}\ncomponents: x\n",
      "schemaVersion: 2.2.0\nevents: {postStart: [a]}\ncomponents: [x, {name: [1]}, {name: c, container: x, attributes: x}]\n"
      "commands: [x, {id: {a: b}}, {id: a, exec: x}]\n",
      "schemaVersion: 2.2.0\nevents: {postStart: [a, {b: c}]}\ncomponents: [{name: c, container: {env: x}}]\n"
      "commands: [{id: a, exec: {commandLine: [1], env: [x, {name: {}}]}}, {id: b, composite: x}]\n",
      "schemaVersion: {a: b}\n",
      "[1, 2]\n",
  };
  for (const char* text : shapes) {
    PostStart p;
    EXPECT_NO_THROW(p = post_start_services(text, "d.yaml", {})) << text;
    EXPECT_TRUE(p.services.empty()) << text;
  }
  std::string found = slurp(std::string(SOURCE_DIR) + "/tests/fuzz/corpus/devfile/regression-postStart-key-scalar");
  ASSERT_FALSE(found.empty());
  EXPECT_NO_THROW(post_start_services(found, "d.yaml", {}));
}

namespace {

// A devfile whose postStart runs `c<levels>`, where each cN is a composite of `width` times cN-1
// and c0 is an exec command: levels and width set how deep and how many.
std::string nested_devfile(int levels, int width) {
  std::string text = "schemaVersion: 2.2.0\ncomponents: [{name: a, container: {image: x}}]\ncommands:\n"
                     "  - {id: c0, exec: {commandLine: 'true'}}\n";
  for (int level = 1; level <= levels; ++level) {
    std::string parts;
    for (int i = 0; i < width; ++i) parts += (i ? ", c" : "c") + std::to_string(level - 1);
    text += "  - {id: c" + std::to_string(level) + ", composite: {commands: [" + parts + "]}}\n";
  }
  return text + "events: {postStart: [c" + std::to_string(levels) + "]}\n";
}

}  // namespace

TEST(Devfile, CompositesNestAtMostSixteenDeep) {
  PostStart ok = post_start_services(nested_devfile(kMaxCompositeDepth, 1), "d.yaml", {});
  EXPECT_TRUE(ok.errors.empty()) << ok.errors[0];
  EXPECT_EQ(ok.services.size(), 1u);
  // One more level: c17 holds c16 ... c1 holds c0; c1 is the 17th composite, at line 5.
  PostStart deep = post_start_services(nested_devfile(kMaxCompositeDepth + 1, 1), "d.yaml", {});
  ASSERT_EQ(deep.errors.size(), 1u);
  EXPECT_EQ(deep.errors[0], "d.yaml:5:5: composite command 'c1' is nested more than 16 composites deep under postStart "
                            "command 'c17' (expected at most 16)");
  EXPECT_TRUE(deep.services.empty());
}

TEST(Devfile, PostStartUnfoldsToAtMostAThousandCommands) {
  // c1 holds 999 c0: 1000 references in all (c1 itself and 999 execs) is the most there may be.
  PostStart most = post_start_services(nested_devfile(1, 999), "d.yaml", {});
  EXPECT_TRUE(most.errors.empty()) << most.errors[0];
  EXPECT_EQ(most.services.size(), 999u);
  PostStart over = post_start_services(nested_devfile(1, 1000), "d.yaml", {});
  ASSERT_EQ(over.errors.size(), 1u);
  EXPECT_EQ(over.errors[0], "d.yaml:6:22: postStart command 'c1' unfolds to more than 1000 commands (expected at most "
                            "1000 in all)");
  EXPECT_TRUE(over.services.empty());
  // Ten levels of two: 2047 references from 1 KB of YAML, refused as soon as the 1001st is seen.
  PostStart wide = post_start_services(nested_devfile(10, 2), "d.yaml", {});
  ASSERT_EQ(wide.errors.size(), 1u);
  EXPECT_NE(wide.errors[0].find("postStart command 'c10' unfolds to more than 1000 commands"), std::string::npos);
}

// 22 levels of two are 4 million commands from 1.2 KB; the depth bound stops it at once.
TEST(Devfile, TheTwentyTwoLevelBombIsRefusedAtOnce) {
  auto begin = std::chrono::steady_clock::now();
  PostStart bomb = post_start_services(nested_devfile(22, 2), "d.yaml", {});
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  ASSERT_EQ(bomb.errors.size(), 1u);
  EXPECT_NE(bomb.errors[0].find("composite command 'c6' is nested more than 16 composites deep under postStart command 'c22'"),
            std::string::npos)
      << bomb.errors[0];
}

TEST(Environment, ServicesInheritAllButShellLeftoversWithTheIdentityApplied) {
  user_ids::Identity id;
  id.env = {"HOME=/home/gitlab-workspaces", "USER=gitlab-workspaces", "SHELL=/bin/bash", "LD_PRELOAD=/lib/libnss_wrapper.so"};
  auto env = service_environment({"PATH=/bin", "PWD=/somewhere", "SHLVL=2", "HOME=/", "SHELL=/bin/zsh", "LD_PRELOAD=/x.so",
                                  "GIT_CONFIG_COUNT=1", "NOTIFY_SOCKET=/run/n"},
                                 id);
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/bin", "HOME=/home/gitlab-workspaces", "SHELL=/bin/zsh",
                                           "LD_PRELOAD=/lib/libnss_wrapper.so:/x.so", "GIT_CONFIG_COUNT=1",
                                           "USER=gitlab-workspaces"}));
}

namespace {

// Runs the loop until `done` or about two seconds.
bool run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  for (int i = 0; i < 400 && !done(); ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(5000);
  }
  return done();
}

}  // namespace

TEST(Variables, FollowsKubernetesStyleUpdatesOfTheReconciledState) {
  TempDir dir;
  // The layout of a Kubernetes secret volume: the names are links through ..data.
  ASSERT_EQ(system(("cd " + dir.path + " && mkdir ..v1 && echo Starting > ..v1/" + kReconciledStateFile +
                    " && echo secret > ..v1/gl_token && ln -s ..v1 ..data && ln -s ..data/" + kReconciledStateFile + " " +
                    kReconciledStateFile + " && ln -s ..data/gl_token gl_token")
                       .c_str()),
            0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<bool> told;
  {
    Variables variables(&loop, dir.path, [&](bool running) { told.push_back(running); });
    variables.start();
    EXPECT_EQ(told, std::vector<bool>{false});
    EXPECT_EQ(variables.reconciled_state(), "Starting");
    EXPECT_EQ(variables.file_count(), 2u);
    // What the kubelet does: a new directory, then one rename of the ..data link.
    ASSERT_EQ(system(("cd " + dir.path + " && mkdir ..v2 && printf 'Running\\n' > ..v2/" + kReconciledStateFile +
                      " && echo secret > ..v2/gl_token && ln -s ..v2 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..v1")
                         .c_str()),
              0);
    ASSERT_TRUE(run_until(&loop, [&] { return told.size() == 2; }));
    EXPECT_EQ(told, (std::vector<bool>{false, true}));
    EXPECT_EQ(variables.reconciled_state(), "Running");
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(Variables, WaitsForADirectoryThatIsNotThereYet) {
  TempDir dir;
  std::string later = dir.path + "/later";
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<bool> told;
  {
    Variables variables(&loop, later, [&](bool running) { told.push_back(running); });
    variables.start();
    EXPECT_TRUE(told.empty());
    EXPECT_FALSE(variables.reconciled_state());
    ASSERT_EQ(mkdir(later.c_str(), 0755), 0);
    spit(later + "/" + kReconciledStateFile, "Running");
    for (int i = 0; i < 600 && told.empty(); ++i) {  // it looks again every 2 s
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(5000);
    }
    EXPECT_EQ(told, std::vector<bool>{true});
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(ProjectClone, PendingOnlyWithGitLabsClonerAndNoMarker) {
  TempDir dir;
  std::string root = dir.path + "/projects", scripts = dir.path + "/scripts";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(scripts.c_str(), 0755), 0);
  EXPECT_EQ(clone_state(root, scripts), Clone::none);
  spit(scripts + "/" + kCloneScript, "#!/bin/sh\n");
  EXPECT_EQ(clone_state(root, scripts), Clone::pending);
  spit(root + "/" + kCloneMarker, "");
  EXPECT_EQ(clone_state(root, scripts), Clone::done);
  EXPECT_FALSE(gitlab_runner_present(scripts));
  spit(scripts + "/tooling-gl-run-non-blocking-poststart-commands.sh", "");
  EXPECT_TRUE(gitlab_runner_present(scripts));
  EXPECT_FALSE(gitlab_runner_present(dir.path + "/none"));
}

// The marker made after start() is seen through fs events within the loop's first turns.
TEST(ProjectClone, TellsOnceWhenTheMarkerAppears) {
  TempDir dir;
  std::string root = dir.path + "/projects", scripts = dir.path + "/scripts";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(scripts.c_str(), 0755), 0);
  spit(scripts + "/" + kCloneScript, "#!/bin/sh\n");
  uv_loop_t loop;
  uv_loop_init(&loop);
  int told = 0;
  {
    ProjectClone clone(&loop, root, scripts, [&] { ++told; });
    clone.start();
    EXPECT_FALSE(clone.cloned());
    spit(root + "/unrelated", "x");
    run_until(&loop, [] { return false; });
    EXPECT_EQ(told, 0);
    spit(root + "/" + kCloneMarker, "");
    ASSERT_TRUE(run_until(&loop, [&] { return told == 1; }));
    EXPECT_TRUE(clone.cloned());
    ASSERT_TRUE(clone.waited_s());
    spit(root + "/later", "x");
    run_until(&loop, [] { return false; });
    EXPECT_EQ(told, 1);
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}
