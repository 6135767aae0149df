#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

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
  auto out = without_members(json, "commit");
  return out ? *out : "error: " + out.error().message;
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
    EXPECT_FALSE(without_members(bad, "commit")) << bad;
    EXPECT_FALSE(with_first_member(bad, "k", "1")) << bad;
  }
  auto deep = without_members("{\"a\": " + std::string(100000, '['), "commit");
  EXPECT_FALSE(deep);  // deep nesting: no stack overflow
  EXPECT_EQ(deep.error().message.rfind("invalid JSON near byte", 0), 0u) << deep.error().message;
}

TEST(ProductJson, MembersGoWithTheWhitespaceBeforeThemAndOneComma) {
  auto without = [](const std::string& json, const char* key) {
    auto out = without_members(json, key);
    return out ? *out : "error: " + out.error().message;
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
    auto out = with_first_member(json, "k\"", "{\"v\":1}");
    return out ? *out : "error: " + out.error().message;
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
  auto editor = editor_service(gitlab_config(env), env);
  ASSERT_TRUE(editor) << editor.error().message;
  EXPECT_EQ(editor->command, (std::vector<std::string>{bin + "/gitlab-webide-server", "--host", "0.0.0.0", "--port", "61001", "--log",
                                                       "debug", "--without-connection-token", "--disable-workspace-trust"}));
  EXPECT_EQ(editor->ready.http_url, "http://127.0.0.1:61001/");
  EXPECT_EQ(editor->ready.http_ready_below, 500);
  EXPECT_TRUE(editor->required);
  EXPECT_EQ(editor->restart, config::Restart::always);
  EXPECT_EQ(editor->external_port, 61001);

  config::Environment old = {{"GL_TOOLS_DIR", dir.path}, {"GL_EDITOR_PORT", "62001"}, {"GL_EDITOR_LOG_LEVEL", "trace"}};
  editor = editor_service(gitlab_config(old), old);
  ASSERT_TRUE(editor);
  EXPECT_EQ(editor->command[4], "62001");
  EXPECT_EQ(editor->command[6], "trace");
}

TEST(Editor, AutoIsOffWithoutTheBinaryAndKindsPickTheirCommand) {
  config::Environment env = {{"GL_TOOLS_DIR", "/nonexistent"}, {"PATH", "/nonexistent"}, {"PROJECT_SOURCE", "/projects/app"}};
  auto off = editor_service(gitlab_config(env), env);
  EXPECT_FALSE(off);
  EXPECT_EQ(off.error().message,
            "editor.enabled is auto and /nonexistent/vscode-reh-web/bin/gitlab-webide-server is not there (No such "
            "file or directory)");

  auto loaded = config::load_text("version: 1\neditor: {enabled: true, kind: code-server, port: 8443}\n", "t.yaml", env,
                                  config::Profile::gitlab);
  ASSERT_TRUE(loaded.config);
  auto editor = editor_service(*loaded.config, env);  // enabled: true runs it even if missing
  ASSERT_TRUE(editor);
  EXPECT_EQ(editor->command, (std::vector<std::string>{"code-server", "--bind-addr", "0.0.0.0:8443", "--auth", "none",
                                                       "--disable-telemetry", "--disable-update-check", "/projects/app"}));
  loaded = config::load_text("version: 1\neditor: {kind: custom, command: [/bin/sh, -c, 'exec sleep 1']}\n", "t.yaml", env,
                             config::Profile::gitlab);
  ASSERT_TRUE(loaded.config);
  editor = editor_service(*loaded.config, env);
  ASSERT_TRUE(editor);
  EXPECT_EQ(editor->command[0], "/bin/sh");
  loaded = config::load_text("version: 1\neditor: {enabled: false}\n", "t.yaml", env, config::Profile::gitlab);
  off = editor_service(*loaded.config, env);
  EXPECT_FALSE(off);
  EXPECT_EQ(off.error().message, "editor.enabled is false");
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

namespace {

// An independent, strict JSON reader (RFC 8259) to check what the edits make. Duplicate keys
// are kept; get() answers the last, as JSON.parse does.
struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  std::string text;  // a string's value (escapes undone), a number or literal as written
  std::vector<std::pair<std::string, JsonValue>> members;
  std::vector<JsonValue> items;

  const JsonValue* get(std::string_view key) const {
    const JsonValue* found = nullptr;
    for (const auto& [k, v] : members) {
      if (k == key) found = &v;
    }
    return found;
  }
  size_t count(std::string_view key) const {
    return static_cast<size_t>(std::count_if(members.begin(), members.end(), [&](const auto& m) { return m.first == key; }));
  }
  std::string string_at(std::string_view key) const {
    const JsonValue* v = get(key);
    return v && v->kind == Kind::string ? v->text : "(no string " + std::string(key) + ")";
  }
};

class StrictJson {
 public:
  static std::optional<JsonValue> parse(std::string_view text) {
    StrictJson p(text);
    JsonValue v;
    if (!p.value(&v, 0)) return std::nullopt;
    p.space();
    if (p.i_ != text.size()) return std::nullopt;
    return v;
  }

 private:
  explicit StrictJson(std::string_view t) : t_(t) {}
  void space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < t_.size() && t_[i_] == c) return ++i_, true;
    return false;
  }
  bool literal(std::string_view w, JsonValue* v, JsonValue::Kind kind) {
    if (t_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    v->kind = kind;
    v->text = std::string(w);
    return true;
  }
  bool digits() {
    size_t start = i_;
    while (i_ < t_.size() && isdigit(static_cast<unsigned char>(t_[i_]))) ++i_;
    return i_ > start;
  }
  bool number(JsonValue* v) {
    size_t start = i_;
    if (i_ < t_.size() && t_[i_] == '-') ++i_;
    if (i_ < t_.size() && t_[i_] == '0') ++i_;
    else if (i_ >= t_.size() || t_[i_] < '1' || t_[i_] > '9' || !digits()) return false;
    if (i_ < t_.size() && t_[i_] == '.' && !(++i_, digits())) return false;
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    v->kind = JsonValue::Kind::number;
    v->text = std::string(t_.substr(start, i_ - start));
    return true;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    for (;;) {
      if (i_ >= t_.size()) return false;
      char c = t_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i_ >= t_.size()) return false;
      c = t_[i_++];
      if (c == 'u') {
        if (i_ + 4 > t_.size() || !std::all_of(t_.begin() + i_, t_.begin() + i_ + 4, [](char h) { return isxdigit(static_cast<unsigned char>(h)); }))
          return false;
        *out += "\\u" + std::string(t_.substr(i_, 4));  // kept escaped: the tests compare ASCII
        i_ += 4;
        continue;
      }
      const char* escapes = "\"\\/bfnrt";
      const char* means = "\"\\/\b\f\n\r\t";
      const char* e = strchr(escapes, c);
      if (!e || !c) return false;
      *out += means[e - escapes];
    }
  }
  bool value(JsonValue* v, int depth) {
    space();
    if (depth > 64 || i_ >= t_.size()) return false;
    char c = t_[i_];
    if (c == '"') {
      v->kind = JsonValue::Kind::string;
      return string(&v->text);
    }
    if (c == 't') return literal("true", v, JsonValue::Kind::boolean);
    if (c == 'f') return literal("false", v, JsonValue::Kind::boolean);
    if (c == 'n') return literal("null", v, JsonValue::Kind::null);
    if (c == '[') {
      ++i_;
      v->kind = JsonValue::Kind::array;
      if (eat(']')) return true;
      do {
        v->items.emplace_back();
        if (!value(&v->items.back(), depth + 1)) return false;
      } while (eat(','));
      return eat(']');
    }
    if (c == '{') {
      ++i_;
      v->kind = JsonValue::Kind::object;
      if (eat('}')) return true;
      do {
        std::string key;
        if (!string(&key) || !eat(':')) return false;
        v->members.emplace_back(std::move(key), JsonValue{});
        if (!value(&v->members.back().second, depth + 1)) return false;
      } while (eat(','));
      return eat('}');
    }
    return number(v);
  }

  std::string_view t_;
  size_t i_ = 0;
};

// GitLab's start script's edits of product.json, made as its sed commands make them (checked
// against sed itself below): with GL_VSCODE_IGNORE_VERSION_MISMATCH=true
//   sed -i.bak '/"commit"/d' product.json                   (every line holding "commit" goes)
// and with GL_VSCODE_ENABLE_MARKETPLACE=true
//   sed -i.bak "1s|.*|$EXTENSIONS_GALLERY_KEY|" product.json  (line 1, whatever it holds, is replaced)
struct Gallery {
  std::string service = "https://open-vsx.org/vscode/gallery";
  std::string item = "https://open-vsx.org/vscode/item";
  std::string resource = "https://open-vsx.org/api/{publisher}/{name}/{version}/file/{path}";
};
std::string gitlab_drops_commit_lines(const std::string& text) {
  std::string out;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    size_t next = end == std::string::npos ? text.size() : end + 1;
    std::string_view line(text.data() + start, (end == std::string::npos ? text.size() : end) - start);
    if (line.find("\"commit\"") == std::string_view::npos) out.append(text, start, next - start);
    start = next;
  }
  return out;
}
std::string gitlab_replaces_line_1(const std::string& text, const Gallery& g) {
  // sed's replacement: \n and \t are a newline and a tab; & and \ would be special (none here).
  for (const auto* url : {&g.service, &g.item, &g.resource}) EXPECT_EQ(url->find_first_of("&\\|\n"), std::string::npos);
  std::string member = "{\n\t\"extensionsGallery\": {\n\t\t\"serviceUrl\": \"" + g.service + "\",\n\t\t\"itemUrl\": \"" + g.item +
                       "\",\n\t\t\"resourceUrlTemplate\": \"" + g.resource + "\"\n\t},";
  if (text.empty()) return text;  // no line 1
  size_t end = text.find('\n');
  return member + (end == std::string::npos ? "" : text.substr(end));
}
std::string gitlab_script(const std::string& text, bool drop_commit, const Gallery& g = {}) {
  return gitlab_replaces_line_1(drop_commit ? gitlab_drops_commit_lines(text) : text, g);
}

// GitLab's own lines, run by the shell on a file.
std::string gitlab_script_by_sed(const std::string& text, bool drop_commit, const Gallery& g = {}) {
  TempDir dir;
  std::string file = dir.path + "/product.json";
  spit(file, text);
  std::string script =
      std::string(drop_commit ? "sed -i.bak '/\"commit\"/d' \"${PRODUCT_JSON_FILE}\" && rm \"${PRODUCT_JSON_FILE}.bak\"\n" : "") +
      R"(EXTENSIONS_GALLERY_KEY="{\\n\\t\"extensionsGallery\": {\\n\\t\\t\"serviceUrl\": \"${GL_VSCODE_EXTENSION_MARKETPLACE_SERVICE_URL}\",\\n\\t\\t\"itemUrl\": \"${GL_VSCODE_EXTENSION_MARKETPLACE_ITEM_URL}\",\\n\\t\\t\"resourceUrlTemplate\": \"${GL_VSCODE_EXTENSION_MARKETPLACE_RESOURCE_URL_TEMPLATE}\"\\n\\t},"
sed -i.bak "1s|.*|$EXTENSIONS_GALLERY_KEY|" "${PRODUCT_JSON_FILE}" && rm "${PRODUCT_JSON_FILE}.bak"
)";
  spit(dir.path + "/script.sh", script);
  std::string command = "PRODUCT_JSON_FILE='" + file + "' GL_VSCODE_EXTENSION_MARKETPLACE_SERVICE_URL='" + g.service +
                        "' GL_VSCODE_EXTENSION_MARKETPLACE_ITEM_URL='" + g.item +
                        "' GL_VSCODE_EXTENSION_MARKETPLACE_RESOURCE_URL_TEMPLATE='" + g.resource + "' sh " + dir.path + "/script.sh";
  EXPECT_EQ(system(command.c_str()), 0) << command;
  return slurp(file);
}

// A product.json as GitLab's editor ships it: one member a line, tab-indented, "commit" inside.
const char* kTypicalProductJson = R"({
	"nameShort": "GitLab Web IDE",
	"nameLong": "GitLab Web IDE",
	"applicationName": "gitlab-webide",
	"commit": "0123abc",
	"quality": "stable",
	"version": "1.89.1",
	"linkProtectionTrustedDomains": ["https://open-vsx.org"],
	"webEndpointUrlTemplate": "https://{{uuid}}.cdn/{{quality}}/{{commit}}/",
	"configurationDefaults": {"workbench.colorTheme": "GitLab Dark"}
}
)";
// Members on line 1, with the `{`.
const char* kSameLineProductJson = "{\"nameShort\": \"GitLab Web IDE\", \"quality\": \"stable\",\n  \"commit\": \"0123abc\",\n  \"version\": \"1.89.1\"\n}\n";
// Minified: one line, no newline at the end.
const char* kMinifiedProductJson = R"({"nameShort":"GitLab Web IDE","commit":"0123abc","quality":"stable","version":"1.89.1"})";
// "commit" last: GitLab's line-based sed leaves a dangling comma.
const char* kCommitLastProductJson = "{\n\t\"nameShort\": \"GitLab Web IDE\",\n\t\"commit\": \"0123abc\"\n}\n";

// A GL_TOOLS_DIR with the editor's binary and product.json holding `text`.
struct ToolsDir {
  TempDir dir;
  std::string product;
  explicit ToolsDir(const std::string& text) {
    std::string bin = dir.path + "/vscode-reh-web/bin";
    EXPECT_EQ(system(("mkdir -p " + bin + " && touch " + bin + "/gitlab-webide-server && chmod +x " + bin + "/gitlab-webide-server").c_str()), 0);
    product = dir.path + "/vscode-reh-web/product.json";
    spit(product, text);
  }
};

config::Environment marketplace_env(const std::string& tools, bool drop_commit, const Gallery& g = {}) {
  config::Environment env = {{"GL_TOOLS_DIR", tools}, {"GL_VSCODE_ENABLE_MARKETPLACE", "true"},
                             {"GL_VSCODE_EXTENSION_MARKETPLACE_SERVICE_URL", g.service},
                             {"GL_VSCODE_EXTENSION_MARKETPLACE_ITEM_URL", g.item},
                             {"GL_VSCODE_EXTENSION_MARKETPLACE_RESOURCE_URL_TEMPLATE", g.resource}};
  if (drop_commit) env["GL_VSCODE_IGNORE_VERSION_MISMATCH"] = "true";
  return env;
}

// wsinit's edit of `text` (prepare(), as at start): the file after it, and the plan's warnings.
struct Edited {
  std::string text;
  std::vector<std::string> warnings;
};
Edited wsinit_edit(const std::string& text, bool drop_commit, const Gallery& g = {}) {
  ToolsDir tools(text);
  auto env = marketplace_env(tools.dir.path, drop_commit, g);
  Plan plan = prepare(gitlab_config(env), env, false);
  EXPECT_EQ(plan.services.size(), 1u);  // the editor runs whatever happened to product.json
  return {slurp(tools.product), plan.warnings};
}

// `text` is JSON whose one object holds every member of `original` but those GitLab's script
// or wsinit take out, and extensionsGallery (the last one, as JSON.parse reads it) with `g`.
void expect_edited(const std::string& text, const std::string& original, bool drop_commit, const Gallery& g, const char* what,
                   std::vector<std::string> lost = {}) {
  SCOPED_TRACE(what);
  auto parsed = StrictJson::parse(text);
  ASSERT_TRUE(parsed) << "not JSON:\n" << text;
  ASSERT_EQ(parsed->kind, JsonValue::Kind::object);
  const JsonValue* gallery = parsed->get("extensionsGallery");
  ASSERT_TRUE(gallery) << text;
  EXPECT_EQ(gallery->string_at("serviceUrl"), g.service);
  EXPECT_EQ(gallery->string_at("itemUrl"), g.item);
  EXPECT_EQ(gallery->string_at("resourceUrlTemplate"), g.resource);
  EXPECT_EQ(gallery->members.size(), 3u);
  auto before = StrictJson::parse(original);
  ASSERT_TRUE(before);
  for (const auto& [key, value] : before->members) {
    if (key == "commit" && drop_commit) {
      EXPECT_EQ(parsed->count("commit"), 0u) << text;
    } else if (std::find(lost.begin(), lost.end(), key) == lost.end()) {
      EXPECT_EQ(parsed->count(key), 1u) << key << " in\n" << text;
    }
  }
  EXPECT_EQ(parsed->members.size() - parsed->count("extensionsGallery"),
            before->members.size() - (drop_commit ? before->count("commit") : 0) - lost.size())
      << text;
}

}  // namespace

TEST(ProductJson, TheStrictReaderOfTheseTestsRefusesWhatIsNotJson) {
  EXPECT_TRUE(StrictJson::parse(kTypicalProductJson));
  EXPECT_TRUE(StrictJson::parse("{\"a\": [1, -0.5e+3, true, null, \"\\u00e9\\n\"], \"b\": {}}"));
  for (const char* bad : {"{\"a\": 1,}", "{\"a\": 1", "{\"a\" 1}", "{a: 1}", "{\"a\": 01}", "{\"a\": tru}", "{\"a\": \"\\x\"}",
                          "{\"a\": 1.}", "{\"a\": \"\n\"}", "{} {}", "{\n\t\"x\": {\n\t},"}) {
    EXPECT_FALSE(StrictJson::parse(bad)) << bad;
  }
}

TEST(ProductJson, TheTestsImitationOfGitLabsSedIsSedItself) {
  Gallery custom{"https://marketplace.example/gallery", "https://marketplace.example/item", "https://marketplace.example/{path}"};
  for (const char* text : {kTypicalProductJson, kSameLineProductJson, kMinifiedProductJson, kCommitLastProductJson}) {
    EXPECT_EQ(gitlab_script(text, false), gitlab_script_by_sed(text, false)) << text;
    EXPECT_EQ(gitlab_script(text, true, custom), gitlab_script_by_sed(text, true, custom)) << text;
  }
}

TEST(Editor, MarketplaceSettingPutsTheGalleryFirstAndKeepsTheRest) {
  ToolsDir tools(kTypicalProductJson);
  Gallery g{"https://marketplace.example/vscode/gallery?a=1&b=\"2\"", "https://marketplace.example/vscode/item", "https://r/{path}"};
  auto env = marketplace_env(tools.dir.path, false, g);
  Plan plan = prepare(gitlab_config(env), env, true);  // a dry run changes nothing
  EXPECT_TRUE(plan.warnings.empty());
  EXPECT_EQ(slurp(tools.product), kTypicalProductJson);
  plan = prepare(gitlab_config(env), env, false);
  EXPECT_TRUE(plan.warnings.empty()) << plan.warnings[0];
  std::string edited = slurp(tools.product);
  EXPECT_EQ(edited,
            "{\n\t\"extensionsGallery\": {\"serviceUrl\":\"https://marketplace.example/vscode/gallery?a=1&b=\\\"2\\\"\","
            "\"itemUrl\":\"https://marketplace.example/vscode/item\",\"resourceUrlTemplate\":\"https://r/{path}\"}," +
                std::string(kTypicalProductJson + 1));
  expect_edited(edited, kTypicalProductJson, false, g, "wsinit alone");
  EXPECT_EQ(slurp(tools.product + ".orig"), kTypicalProductJson);
  plan = prepare(gitlab_config(env), env, false);  // again: nothing changes
  EXPECT_EQ(slurp(tools.product), edited);

  // The older names, and GitLab's defaults for the URLs.
  config::Environment old = {{"GL_TOOLS_DIR", tools.dir.path}, {"GL_EDITOR_ENABLE_MARKETPLACE", "true"},
                             {"GL_EDITOR_EXTENSION_MARKETPLACE_ITEM_URL", "https://old.example/item"}};
  plan = prepare(gitlab_config(old), old, false);
  expect_edited(slurp(tools.product), kTypicalProductJson, false,
                Gallery{Gallery().service, "https://old.example/item", Gallery().resource}, "older names");
  EXPECT_EQ(slurp(tools.product + ".orig"), kTypicalProductJson);  // the first original stays
}

TEST(Editor, MarketplaceEditAndGitLabsSedInEitherOrderMakeValidJson) {
  Gallery g;
  for (bool drop_commit : {false, true}) {
    for (const char* original : {kTypicalProductJson, kSameLineProductJson, kMinifiedProductJson, kCommitLastProductJson}) {
      SCOPED_TRACE(std::string(drop_commit ? "with" : "without") + " GL_VSCODE_IGNORE_VERSION_MISMATCH, product.json:\n" + original);
      // wsinit first, GitLab's script after (the order in a GitLab pod: PID 1, then postStart):
      // valid JSON, whatever the original's shape, and a later start of wsinit comes back to
      // its own edit.
      Edited first = wsinit_edit(original, drop_commit, g);
      ASSERT_TRUE(first.warnings.empty()) << first.warnings[0];
      EXPECT_EQ(first.text.substr(0, 2), "{\n");
      expect_edited(first.text, original, drop_commit, g, "wsinit");
      std::string then_gitlab = gitlab_script(first.text, drop_commit, g);
      expect_edited(then_gitlab, original, drop_commit, g, "wsinit, then GitLab's script");
      EXPECT_EQ(StrictJson::parse(then_gitlab)->count("extensionsGallery"), 2u);  // the same values twice
      Edited again = wsinit_edit(then_gitlab, drop_commit, g);
      EXPECT_TRUE(again.warnings.empty());
      EXPECT_EQ(again.text, first.text);

      // GitLab's script first (a pod restarted on the same volume, or a reload), wsinit after.
      std::string gitlab_first = gitlab_script(original, drop_commit, g);
      Edited after = wsinit_edit(gitlab_first, drop_commit, g);
      if (original == kMinifiedProductJson || (drop_commit && original == kCommitLastProductJson)) {
        // GitLab's sed broke the file (line 1 was all of it, or the only line held "commit" and
        // went; a dangling comma): wsinit says so and leaves it. wsinit alone, above, made valid
        // JSON of the same original.
        EXPECT_FALSE(StrictJson::parse(gitlab_first)) << gitlab_first;
        ASSERT_EQ(after.warnings.size(), 1u);
        EXPECT_NE(after.warnings[0].find("product.json: "), std::string::npos) << after.warnings[0];
        EXPECT_NE(after.warnings[0].find("the editor has no extension marketplace"), std::string::npos) << after.warnings[0];
        EXPECT_EQ(after.text, gitlab_first);
      } else if (original == kSameLineProductJson) {
        // GitLab's sed dropped the members that shared line 1; what is left is edited.
        EXPECT_TRUE(after.warnings.empty());
        expect_edited(after.text, original, drop_commit, g, "GitLab's script, then wsinit", {"nameShort", "quality"});
        EXPECT_EQ(StrictJson::parse(after.text)->count("extensionsGallery"), 1u);
      } else {
        // wsinit takes GitLab's member out as it was put in: the same file as wsinit alone makes.
        EXPECT_TRUE(after.warnings.empty());
        EXPECT_EQ(after.text, first.text);
      }
    }
  }
}

TEST(Editor, AProductJsonThatCannotBeEditedIsAWarningAndTheEditorStillRuns) {
  ToolsDir tools("{\"a\": 1,}");
  auto env = marketplace_env(tools.dir.path, false);
  for (bool dry_run : {true, false}) {  // `wsinit check` says so too
    Plan plan = prepare(gitlab_config(env), env, dry_run);
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_EQ(plan.warnings[0], "GL_VSCODE_ENABLE_MARKETPLACE: " + tools.product +
                                    ": invalid JSON near byte 8; the editor has no extension marketplace");
    EXPECT_EQ(plan.services.size(), 1u);
    EXPECT_EQ(slurp(tools.product), "{\"a\": 1,}");
  }
  env["GL_VSCODE_IGNORE_VERSION_MISMATCH"] = "true";
  unlink(tools.product.c_str());
  Plan plan = prepare(gitlab_config(env), env, false);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_EQ(plan.warnings[0], "GL_VSCODE_IGNORE_VERSION_MISMATCH, GL_VSCODE_ENABLE_MARKETPLACE: cannot read " + tools.product +
                                  ": No such file or directory; a browser client of another version may be refused, and the "
                                  "editor has no extension marketplace");
  EXPECT_EQ(plan.services.size(), 1u);
}

TEST(Editor, WorkflowTokenComesFromItsFileWhenUnset) {
  ToolsDir tools("{}");
  std::string token_file = tools.dir.path + "/gitlab_workflow_token";
  spit(token_file, "glpat-from-the-file\n\n");
  config::Environment env = {{"GL_TOOLS_DIR", tools.dir.path}, {"GITLAB_WORKFLOW_TOKEN_FILE", token_file}};
  auto editor_env = [&](const config::Environment& e, std::vector<std::string>* warnings = nullptr) {
    Plan plan = prepare(gitlab_config(e), e, false);
    EXPECT_EQ(plan.services.size(), 1u);
    if (warnings) *warnings = plan.warnings;
    for (const auto& w : plan.warnings) EXPECT_EQ(w.find("glpat"), std::string::npos) << w;
    return plan.services.empty() ? config::Environment{} : plan.services[0].env;
  };
  EXPECT_EQ(editor_env(env), (config::Environment{{"GITLAB_WORKFLOW_TOKEN", "glpat-from-the-file"}}));
  env["GITLAB_WORKFLOW_TOKEN"] = "";  // set but empty: the file's
  EXPECT_EQ(editor_env(env), (config::Environment{{"GITLAB_WORKFLOW_TOKEN", "glpat-from-the-file"}}));
  env["GITLAB_WORKFLOW_TOKEN"] = "glpat-already-set";  // inherited as it is
  EXPECT_TRUE(editor_env(env).empty());
  env.erase("GITLAB_WORKFLOW_TOKEN");
  spit(token_file, "glpat-with-crlf\r\n");
  EXPECT_EQ(editor_env(env).at("GITLAB_WORKFLOW_TOKEN"), "glpat-with-crlf");

  std::vector<std::string> warnings;
  unlink(token_file.c_str());
  EXPECT_TRUE(editor_env(env, &warnings).empty());
  EXPECT_EQ(warnings, std::vector<std::string>{"GITLAB_WORKFLOW_TOKEN_FILE: cannot read " + token_file +
                                               ": No such file or directory; the editor starts without GITLAB_WORKFLOW_TOKEN"});
  spit(token_file, "\n");
  EXPECT_TRUE(editor_env(env, &warnings).empty());
  EXPECT_EQ(warnings, std::vector<std::string>{"GITLAB_WORKFLOW_TOKEN_FILE: " + token_file +
                                               " is empty; the editor starts without GITLAB_WORKFLOW_TOKEN"});
  spit(token_file, std::string("glpat-\0x", 8));
  EXPECT_TRUE(editor_env(env, &warnings).empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("holds a NUL byte"), std::string::npos);
  spit(token_file, "glpat-" + std::string(64 << 10, 'x'));
  EXPECT_TRUE(editor_env(env, &warnings).empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("it holds more than 64 KiB"), std::string::npos);
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

// A projects directory, GitLab's clone script (so the clone is pending) and a loop.
struct PendingClone : ::testing::Test {
  TempDir dir;
  std::string root = dir.path + "/projects", scripts = dir.path + "/scripts";
  uv_loop_t loop;
  int told = 0;
  void SetUp() override {
    ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(scripts.c_str(), 0755), 0);
    spit(scripts + "/" + kCloneScript, "#!/bin/sh\n");
    uv_loop_init(&loop);
  }
  void TearDown() override {
    uv_run(&loop, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
};

// The marker made after start() is seen through fs events within the loop's first turns.
TEST_F(PendingClone, TellsOnceWhenTheMarkerAppears) {
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
}

// The projects directory replaced while the clone is pending: the new one is watched.
TEST_F(PendingClone, FollowsAProjectsDirectoryMadeAgain) {
  {
    ProjectClone clone(&loop, root, scripts, [&] { ++told; });
    clone.start();
    ASSERT_EQ(rmdir(root.c_str()), 0);
    run_until(&loop, [] { return false; });
    ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
    for (int i = 0; i < 600 && told == 0; ++i) {  // it looks for the directory every 2 s
      if (i == 500) spit(root + "/" + kCloneMarker, "");
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(5000);
    }
    EXPECT_EQ(told, 1);
  }
}

// --- Endpoints ---

const char* kEndpoints = R"(schemaVersion: 2.2.0
components:
  - name: tooling
    attributes: {gl/inject-editor: true}
    container:
      image: debian
      endpoints:
        - {name: web, targetPort: 3000}
        - {name: api, targetPort: 8080, exposure: internal}
        - {name: debug, targetPort: 9229, protocol: tcp}
        - {name: same, targetPort: 3000, path: /other}
  - name: database
    container:
      image: postgres
      endpoints: [{name: pg, targetPort: 5432, protocol: https}]
  - name: volume
    volume: {size: 1Gi}
)";

TEST(Endpoints, EveryContainersEndpointsOncePerPort) {
  Endpoints e = devfile_endpoints(kEndpoints, "devfile.yaml");
  EXPECT_TRUE(e.warnings.empty()) << e.warnings[0];
  ASSERT_EQ(e.endpoints.size(), 4u);
  EXPECT_EQ(e.endpoints[0].name, "web");
  EXPECT_EQ(e.endpoints[0].port, 3000);
  EXPECT_EQ(e.endpoints[0].component, "tooling");
  EXPECT_TRUE(e.endpoints[0].web);
  EXPECT_EQ(e.endpoints[0].origin, "devfile.yaml:8:11");
  EXPECT_FALSE(e.endpoints[1].web);  // internal
  EXPECT_FALSE(e.endpoints[2].web);  // tcp
  EXPECT_EQ(e.endpoints[3].name, "pg");
  EXPECT_EQ(e.endpoints[3].component, "database");
  EXPECT_TRUE(e.endpoints[3].web);
  EXPECT_FALSE(e.endpoints[0].url);  // made by prepare(), from the environment
}

TEST(Endpoints, WhatCannotBeUsedIsLeftOutWithAWarningNamingWhere) {
  auto warnings_of = [](const std::string& endpoints) {
    Endpoints e = devfile_endpoints("schemaVersion: 2.2.0\ncomponents:\n  - name: c\n    container:\n      endpoints: " +
                                        endpoints + "\n",
                                    "d.yaml");
    EXPECT_TRUE(e.endpoints.empty()) << endpoints;
    return e.warnings;
  };
  EXPECT_EQ(warnings_of("[{name: web, targetPort: http}]"),
            std::vector<std::string>{"d.yaml:5:43: components.c.container.endpoints.web.targetPort: 'http' is not a port "
                                     "(expected 1 to 65535); endpoint left out"});
  EXPECT_EQ(warnings_of("[{name: web, targetPort: 70000}]")[0].substr(0, 72),
            "d.yaml:5:43: components.c.container.endpoints.web.targetPort: '70000' is");
  EXPECT_EQ(warnings_of("[{name: web, targetPort: 0}]").size(), 1u);
  EXPECT_EQ(warnings_of("[{name: web, targetPort: [1]}]")[0],
            "d.yaml:5:43: components.c.container.endpoints.web.targetPort: not a port (expected 1 to 65535); endpoint left out");
  EXPECT_EQ(warnings_of("[{name: web}]"),
            std::vector<std::string>{"d.yaml:5:19: components.c.container.endpoints.web.targetPort: missing (expected 1 to "
                                     "65535); endpoint left out"});
  EXPECT_EQ(warnings_of("[{targetPort: 3000}]"),
            std::vector<std::string>{"d.yaml:5:19: components.c.container.endpoints: an endpoint needs a name and a "
                                     "targetPort; left out"});
  EXPECT_EQ(warnings_of("[{name: Web_1, targetPort: 3000}]"),
            std::vector<std::string>{"d.yaml:5:26: components.c.container.endpoints: endpoint name 'Web_1' is not a devfile "
                                     "name (lowercase letters, digits and '-', at most 63); left out"});
  // A name from outside is bounded wherever it goes: 64 bytes of a megabyte are shown.
  auto huge = warnings_of("[{name: " + std::string(1 << 20, 'a') + ", targetPort: 3000}]");
  ASSERT_EQ(huge.size(), 1u);
  EXPECT_LT(huge[0].size(), 250u);
  EXPECT_EQ(warnings_of("[{name: -web, targetPort: 3000}]").size(), 1u);
  EXPECT_EQ(warnings_of("[x]").size(), 1u);
  EXPECT_EQ(warnings_of("{web: 3000}"),
            std::vector<std::string>{"d.yaml:5:18: components.c.container.endpoints: expected a list of {name, targetPort}; "
                                     "its endpoints are left out"});
  Endpoints bad_yaml = devfile_endpoints("components: [\n", "d.yaml");
  ASSERT_EQ(bad_yaml.warnings.size(), 1u);
  EXPECT_NE(bad_yaml.warnings[0].find("d.yaml:2:1: invalid YAML"), std::string::npos) << bad_yaml.warnings[0];
  for (const char* shape : {"x", "components: x", "components: [x, {container: x}, {container: {endpoints: x}}]", "[1]"})
    EXPECT_NO_THROW(devfile_endpoints(shape, "d.yaml")) << shape;
}

TEST(Endpoints, AtMostMaxEndpoints) {
  std::string text = "schemaVersion: 2.2.0\ncomponents:\n  - name: c\n    container:\n      endpoints:\n";
  for (size_t i = 0; i < kMaxEndpoints + 10; ++i)
    text += "        - {name: e" + std::to_string(i) + ", targetPort: " + std::to_string(1000 + i) + "}\n";
  Endpoints e = devfile_endpoints(text, "d.yaml");
  EXPECT_EQ(e.endpoints.size(), kMaxEndpoints);
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_NE(e.warnings[0].find("more than 256 endpoints"), std::string::npos);
}

TEST(EndpointUrl, FromGitlabsDomainTemplate) {
  EXPECT_EQ(endpoint_url("${PORT}-workspace-1-abc.workspaces.example.com", 3000).value_or(""),
            "https://3000-workspace-1-abc.workspaces.example.com/");
  EXPECT_EQ(endpoint_url("ws-${PORT}.Example.ORG", 60001).value_or(""), "https://ws-60001.Example.ORG/");
}

TEST(EndpointUrl, OnlyASaneHostNameMakesAUrl) {
  auto why = [](const std::string& domain) {
    auto url = endpoint_url(domain, 3000);
    return url ? "made " + *url : url.error().message;
  };
  EXPECT_EQ(why("workspace.example.com"), "'workspace.example.com' does not hold ${PORT} exactly once");
  EXPECT_EQ(why("${PORT}.${PORT}.example.com"), "'${PORT}.${PORT}.example.com' does not hold ${PORT} exactly once");
  EXPECT_EQ(why("${PORT}-ws.example.com/evil"),
            "'${PORT}-ws.example.com/evil' makes '3000-ws.example.com/evil' for port 3000, which is not a host name: it "
            "holds a byte other than letters, digits, '-' and '.'");
  EXPECT_EQ(why("${PORT}-ws"), "'${PORT}-ws' makes '3000-ws' for port 3000, which is not a host name: it is a single label, not a domain");
  EXPECT_NE(why("10.0.0.${PORT}").find("makes '10.0.0.3000' for port 3000, which is not a host name: it ends in a number"),
            std::string::npos);
  EXPECT_NE(why("${PORT}-ws..example.com").find("a label of it is not 1 to 63 bytes long"), std::string::npos);
  EXPECT_NE(why("${PORT}-ws.example.com.").find("a label of it is not 1 to 63 bytes long"), std::string::npos);
  EXPECT_NE(why("-${PORT}.example.com").find("starts or ends with '-'"), std::string::npos);
  EXPECT_NE(why("${PORT}." + std::string(64, 'a') + ".com").find("not 1 to 63"), std::string::npos);
  EXPECT_NE(why("${PORT}." + std::string(250, 'a') + ".com").find("not 1 to 253 bytes"), std::string::npos);
  for (const char* bad : {"${PORT} .example.com", "${PORT}\n.example.com", "user@${PORT}.example.com", "${PORT}.example.com:443",
                          "${PORT}.exa_mple.com", "${PORT}.ex\xc3\xa4mple.com"})
    EXPECT_NE(why(bad).find("not a host name"), std::string::npos) << bad;
  // A message shows at most 100 bytes of the value.
  EXPECT_LT(why(std::string(500, 'x')).size(), 200u);
}

// prepare() reads the endpoints in every postStart mode (GitLab's runner runs the commands, the
// ports are this container's) and makes their URLs, or says once why it cannot.
TEST(Endpoints, PreparedWithTheirUrlsWhenGitlabRunsPostStart) {
  TempDir dir;
  spit(dir.path + "/devfile.yaml", kEndpoints);
  mkdir((dir.path + "/scripts").c_str(), 0755);
  spit(dir.path + "/scripts/gl-run-internal-blocking-poststart-commands.sh", "");
  config::Environment env = {{"PROJECTS_ROOT", dir.path}, {"GL_WORKSPACE_DOMAIN_TEMPLATE", "${PORT}-ws-1.example.com"}};
  config::Config config = gitlab_config(env);
  config.paths.scripts = dir.path + "/scripts";
  config.editor.enabled = config::Switch::off;
  config.workspace.devfile = dir.path + "/devfile.yaml";
  Plan plan = prepare(config, env, true);
  EXPECT_EQ(plan.poststart_mode, Plan::PostStartMode::observe);
  ASSERT_EQ(plan.endpoints.size(), 4u);
  EXPECT_EQ(plan.endpoints[0].url, "https://3000-ws-1.example.com/");
  EXPECT_EQ(plan.endpoints[1].url, std::nullopt);  // internal
  EXPECT_EQ(plan.endpoints[3].url, "https://5432-ws-1.example.com/");
  EXPECT_TRUE(plan.warnings.empty()) << plan.warnings[0];
  env["GL_WORKSPACE_DOMAIN_TEMPLATE"] = "${PORT}";
  plan = prepare(config, env, true);
  ASSERT_EQ(plan.endpoints.size(), 4u);
  EXPECT_EQ(plan.endpoints[0].url, std::nullopt);
  EXPECT_EQ(plan.warnings, std::vector<std::string>{"GL_WORKSPACE_DOMAIN_TEMPLATE: '${PORT}' makes '3000' for port 3000, which "
                                                    "is not a host name: it is a single label, not a domain; endpoints are "
                                                    "listed without a URL"});
}
