// A devfile's postStart commands as oneshot services, and its endpoints. Read: schemaVersion 2.x,
// `variables` ({{name}} in command lines, directories and env values), container components with
// their env and endpoints, exec and composite commands, events.postStart. Everything else is left
// to the platform.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "internal.h"

namespace wsinit::workspace {
namespace {

// n[key] when n is a mapping that has it, else an undefined node that is safe to ask
// anything: yaml-cpp throws when a scalar is indexed or a missing key's node is asked its
// type, and a devfile may hold anything anywhere (both found by the devfile fuzzer).
YAML::Node child(const YAML::Node& n, const char* key) {
  if (n && n.IsMap()) {
    if (YAML::Node found = n[key]) return found;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

class Reader {
 public:
  Reader(const std::string& source, std::vector<std::string>& errors) : source_(source), errors_(errors) {}

  std::string where(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return source_;
    return source_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }
  void fail(const YAML::Node& n, const std::string& what) { errors_.push_back(where(n) + ": " + what); }

  // A scalar field as text ("" when absent); an error when it is there but not a scalar.
  std::string text(const YAML::Node& parent, const char* key, const std::string& path) {
    const YAML::Node n = child(parent, key);
    if (!n) return "";
    if (!n.IsScalar()) {
      fail(n, path + "." + key + ": expected a string");
      return "";
    }
    return n.Scalar();
  }

  // A devfile `env` list: [{name, value}, ...].
  config::Environment env_list(const YAML::Node& n, const std::string& path) {
    config::Environment env;
    if (!n) return env;
    if (!n.IsSequence()) {
      fail(n, path + ": expected a list of {name, value}");
      return env;
    }
    for (const YAML::Node& item : n) {
      if (!item.IsMap() || !child(item, "name") || !child(item, "name").IsScalar()) {
        fail(item, path + ": each entry needs a name (and a value)");
        continue;
      }
      env[child(item, "name").Scalar()] = text(item, "value", path);
    }
    return env;
  }

  // {{name}} replaced from the devfile's `variables`.
  std::string substitute(const std::string& in, const std::map<std::string, std::string>& vars, const YAML::Node& at) {
    std::string out;
    size_t pos = 0;
    for (size_t open; (open = in.find("{{", pos)) != std::string::npos;) {
      size_t close = in.find("}}", open + 2);
      if (close == std::string::npos) break;
      std::string name = in.substr(open + 2, close - open - 2);
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      auto it = vars.find(name);
      if (it == vars.end()) {
        fail(at, "{{" + name + "}} names no entry of the devfile's variables");
        return in;
      }
      out += in.substr(pos, open - pos) + it->second;
      pos = close + 2;
    }
    return out + in.substr(pos);
  }

 private:
  const std::string& source_;
  std::vector<std::string>& errors_;
};

bool truthy(const YAML::Node& n) { return n && n.IsScalar() && n.Scalar() == "true"; }

// The container component postStart commands run in: GitLab's editor-injected one, else the only one.
std::optional<std::string> main_component(const YAML::Node& components, Reader& reader, const YAML::Node& root) {
  std::vector<std::string> containers;
  for (const YAML::Node& c : components) {
    if (!c.IsMap() || !child(c, "container") || !child(c, "name")) continue;
    if (truthy(child(child(c, "attributes"), "gl/inject-editor"))) return child(c, "name").Scalar();
    containers.push_back(child(c, "name").Scalar());
  }
  if (containers.size() == 1) return containers.front();
  reader.fail(root, containers.empty() ? "components: no container component to run postStart commands in"
                                       : "components: several containers and none marked as the main one "
                                         "(attributes: {gl/inject-editor: true})");
  return std::nullopt;
}

// `workingDir: $PROJECT_SOURCE/app` and `${PROJECT_SOURCE}/app` both read the environment.
std::string expand_dir(const std::string& dir, const config::Environment& env) {
  std::string braced;
  for (size_t i = 0; i < dir.size(); ++i) {
    braced += dir[i];
    bool bare = dir[i] == '$' && i + 1 < dir.size() && (std::isalpha(static_cast<unsigned char>(dir[i + 1])) || dir[i + 1] == '_');
    if (!bare) continue;
    size_t end = i + 1;
    while (end < dir.size() && (std::isalnum(static_cast<unsigned char>(dir[end])) || dir[end] == '_')) ++end;
    braced.append("{").append(dir, i + 1, end - i - 1).append("}");
    i = end - 1;
  }
  return config::expand(braced, env).value_or(dir);
}

std::string service_name(size_t index, const std::string& id) {
  std::string name = std::string(config::kPostStartPrefix) + std::to_string(index) + "-";
  for (char c : id) name += (std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-');
  return name.substr(0, 63);
}

// Composite commands unfold in place, within bounds: 22 levels of `cN: [cN-1, cN-1]` are 1.2 KB
// of YAML and 4 million commands. A composite that contains itself, composites nested more than
// kMaxCompositeDepth deep, or more than kMaxPostStartCommands references unfolded in all are an
// error naming the command; unfolding stops at the first bound reached.
std::vector<YAML::Node> unfold_post_start(const YAML::Node& post_start, const std::map<std::string, YAML::Node>& commands,
                                          Reader& reader, std::vector<std::string>& notes) {
  std::vector<YAML::Node> execs;
  std::set<std::string> unfolding;
  size_t unfolded = 0;
  bool stopped = false;
  // `top` is the postStart entry being unfolded: the errors name it too.
  std::function<void(const YAML::Node&, int, const YAML::Node&)> unfold = [&](const YAML::Node& id_node, int depth,
                                                                              const YAML::Node& top) {
    if (stopped) return;
    std::string id = id_node.IsScalar() ? id_node.Scalar() : "";
    std::string top_id = top.IsScalar() ? top.Scalar() : "";
    if (++unfolded > kMaxPostStartCommands) {
      stopped = true;
      return reader.fail(top, "postStart command '" + top_id + "' unfolds to more than " +
                                  std::to_string(kMaxPostStartCommands) + " commands (expected at most " +
                                  std::to_string(kMaxPostStartCommands) + " in all)");
    }
    auto it = commands.find(id);
    if (it == commands.end()) return reader.fail(id_node, "events.postStart: no command has the id '" + id + "'");
    const YAML::Node& command = it->second;
    if (child(command, "exec")) return execs.push_back(command);
    if (!child(command, "composite")) return notes.push_back("postStart command '" + id + "' is neither exec nor composite; left out");
    if (!unfolding.insert(id).second) return reader.fail(command, "composite command '" + id + "' contains itself");
    if (depth >= kMaxCompositeDepth) {
      stopped = true;
      return reader.fail(command, "composite command '" + id + "' is nested more than " + std::to_string(kMaxCompositeDepth) +
                                      " composites deep under postStart command '" + top_id + "' (expected at most " +
                                      std::to_string(kMaxCompositeDepth) + ")");
    }
    const YAML::Node parts = child(child(command, "composite"), "commands");
    if (parts && parts.IsSequence()) {
      for (const YAML::Node& part : parts) unfold(part, depth + 1, top);
    }
    unfolding.erase(id);
  };
  for (const YAML::Node& id : post_start) unfold(id, 0, id);
  return execs;
}

// The devfile's root and its events.postStart list, or nullopt (with an error, or none when
// there is nothing to run).
struct Parsed {
  YAML::Node root, post_start;
};
std::optional<Parsed> parse_devfile(std::string_view devfile_text, const std::string& source, Reader& reader,
                                    std::vector<std::string>& errors) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(devfile_text));
  } catch (const YAML::Exception& e) {
    errors.push_back(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                     ": invalid YAML: " + e.msg);
    return std::nullopt;
  }
  if (!root.IsMap()) {
    reader.fail(root, "expected a devfile (a mapping with schemaVersion, components, commands, events)");
    return std::nullopt;
  }
  std::string version = reader.text(root, "schemaVersion", "devfile");
  if (version.rfind("2.", 0) != 0) {
    reader.fail(child(root, "schemaVersion") ? child(root, "schemaVersion") : root,
                "schemaVersion '" + version + "' is not supported (expected 2.x, e.g. 2.2.0)");
    return std::nullopt;
  }
  const YAML::Node post_start = child(child(root, "events"), "postStart");
  if (!post_start || post_start.IsNull()) return std::nullopt;  // nothing to run
  if (!post_start.IsSequence()) {
    reader.fail(post_start, "events.postStart: expected a list of command ids");
    return std::nullopt;
  }
  return Parsed{root, post_start};
}

// What every command of the main component shares: the devfile's variables, its commands by
// id, the main component's name and env.
struct Shared {
  std::map<std::string, std::string> variables;
  std::map<std::string, YAML::Node> commands;
  std::string main;
  config::Environment component_env;
};
std::optional<Shared> shared_parts(const YAML::Node& root, Reader& reader, const std::vector<std::string>& errors) {
  Shared out;
  if (const YAML::Node v = child(root, "variables"); v && v.IsMap()) {
    for (const auto& kv : v) out.variables[kv.first.Scalar()] = kv.second.IsScalar() ? kv.second.Scalar() : "";
  }
  if (const YAML::Node c = child(root, "commands"); c && c.IsSequence()) {
    for (const YAML::Node& command : c) {
      if (child(command, "id").IsScalar()) out.commands[child(command, "id").Scalar()] = command;
    }
  }
  const YAML::Node components = child(root, "components");
  auto main = components && components.IsSequence() ? main_component(components, reader, root) : std::nullopt;
  if (!main) {
    if (errors.empty()) reader.fail(root, "components: expected a list with the container postStart commands run in");
    return std::nullopt;
  }
  out.main = *main;
  for (const YAML::Node& c : components) {
    if (c.IsMap() && child(c, "name") && child(c, "name").Scalar() == *main && child(c, "container"))
      out.component_env = reader.env_list(child(child(c, "container"), "env"), "components." + *main + ".container.env");
  }
  return out;
}

// One exec command as a oneshot service; nullopt when it is another component's (a note) or
// unusable (an error).
std::optional<supervisor::ServiceSpec> exec_service(const YAML::Node& command, const Shared& shared, const std::string& default_dir,
                                            const config::Environment& env, Reader& reader, PostStart& out) {
  std::string id = child(command, "id").Scalar();
  const YAML::Node exec = child(command, "exec");
  std::string path = "commands." + id + ".exec";
  std::string component = reader.text(exec, "component", path);
  if (!component.empty() && component != shared.main) {
    out.notes.push_back("postStart command '" + id + "' runs in component '" + component + "', not in this container ('" +
                        shared.main + "'); left to the platform");
    return std::nullopt;
  }
  std::string line = reader.substitute(reader.text(exec, "commandLine", path), shared.variables, exec);
  if (line.empty()) {
    reader.fail(exec, path + ".commandLine: missing or empty");
    return std::nullopt;
  }
  supervisor::ServiceSpec s;
  s.name = service_name(out.services.size() + 1, id);
  s.command = {"/bin/sh", "-c", line};
  s.cwd = expand_dir(reader.substitute(reader.text(exec, "workingDir", path), shared.variables, exec), env);
  if (s.cwd.empty()) s.cwd = default_dir;  // GitLab runs them in the project
  s.env = shared.component_env;
  for (auto& [name, value] : reader.env_list(child(exec, "env"), path + ".env")) s.env[name] = value;
  for (auto& [name, value] : s.env) value = reader.substitute(value, shared.variables, exec);
  s.oneshot = true;
  s.restart = config::Restart::never;
  s.origin = reader.where(command);
  return s;
}

// targetPort: an integer from 1 to 65535, as the devfile schema has it.
std::optional<int> target_port(const YAML::Node& n) {
  if (!n || !n.IsScalar()) return std::nullopt;
  const std::string& text = n.Scalar();
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  int port = std::stoi(text);
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

// exposure public (the default) over a web protocol (http by default): the proxy gives it a URL.
bool web_endpoint(const YAML::Node& endpoint) {
  const YAML::Node exposure = child(endpoint, "exposure"), protocol = child(endpoint, "protocol");
  std::string e = exposure && exposure.IsScalar() ? exposure.Scalar() : "public";
  std::string p = protocol && protocol.IsScalar() ? protocol.Scalar() : "http";
  return e == "public" && (p == "http" || p == "https" || p == "ws" || p == "wss");
}

// The devfile's names (components, endpoints): lowercase letters, digits and '-', not at either
// end, at most kMaxDevfileName bytes (a DNS label, as Kubernetes makes them into service names).
constexpr std::size_t kMaxDevfileName = 63;
bool is_devfile_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxDevfileName || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// One component's endpoints into `out`; false once kMaxEndpoints are read.
bool component_endpoints(const YAML::Node& component, Reader& reader, std::set<int>& ports, Endpoints& out) {
  const YAML::Node list = child(child(component, "container"), "endpoints");
  if (!list || list.IsNull()) return true;
  const YAML::Node name_node = child(component, "name");
  std::string name = name_node && name_node.IsScalar() ? name_node.Scalar().substr(0, kMaxDevfileName + 1) : "?";
  std::string path = "components." + name + ".container.endpoints";
  if (!list.IsSequence()) {
    reader.fail(list, path + ": expected a list of {name, targetPort}; its endpoints are left out");
    return true;
  }
  for (const YAML::Node& e : list) {
    if (out.endpoints.size() == kMaxEndpoints) {
      reader.fail(e, path + ": more than " + std::to_string(kMaxEndpoints) + " endpoints in the devfile; the rest are left out");
      return false;
    }
    const YAML::Node endpoint_name = child(e, "name");
    if (!endpoint_name || !endpoint_name.IsScalar() || endpoint_name.Scalar().empty()) {
      reader.fail(e, path + ": an endpoint needs a name and a targetPort; left out");
      continue;
    }
    std::string id = endpoint_name.Scalar();
    if (!is_devfile_name(id)) {
      reader.fail(endpoint_name, path + ": endpoint name '" + id.substr(0, kMaxDevfileName + 1) +
                                     "' is not a devfile name (lowercase letters, digits and '-', at most 63); left out");
      continue;
    }
    const YAML::Node port_node = child(e, "targetPort");
    auto port = target_port(port_node);
    if (!port) {
      std::string what = !port_node ? "missing" : port_node.IsScalar() ? "'" + port_node.Scalar() + "' is not a port" : "not a port";
      reader.fail(port_node ? port_node : e, path + "." + id + ".targetPort: " + what + " (expected 1 to 65535); endpoint left out");
      continue;
    }
    if (!ports.insert(*port).second) continue;  // another endpoint on the same port (another path): one port
    out.endpoints.push_back({id, *port, name, web_endpoint(e), std::nullopt, reader.where(e)});
  }
  return true;
}

}  // namespace

Endpoints devfile_endpoints(std::string_view devfile_text, const std::string& source) {
  Endpoints out;
  Reader reader(source, out.warnings);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(devfile_text));
  } catch (const YAML::Exception& e) {
    out.warnings.push_back(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                           ": invalid YAML: " + e.msg + "; its endpoints are not read");
    return out;
  }
  const YAML::Node components = child(root, "components");
  if (!components || !components.IsSequence()) return out;
  std::set<int> ports;
  for (const YAML::Node& c : components) {
    if (!component_endpoints(c, reader, ports, out)) break;
  }
  return out;
}

PostStart post_start_services(std::string_view devfile_text, const std::string& source, const config::Environment& env) {
  PostStart out;
  Reader reader(source, out.errors);
  auto parsed = parse_devfile(devfile_text, source, reader, out.errors);
  if (!parsed) return out;
  auto shared = shared_parts(parsed->root, reader, out.errors);
  if (!shared) return out;
  std::vector<YAML::Node> execs = unfold_post_start(parsed->post_start, shared->commands, reader, out.notes);
  auto source_dir = env.find("PROJECT_SOURCE");
  std::string default_dir = source_dir != env.end() ? source_dir->second : "";
  std::string previous;
  for (const auto& command : execs) {
    auto s = exec_service(command, *shared, default_dir, env, reader, out);
    if (!s) continue;
    if (!previous.empty()) s->after_finished = {previous};  // each once the previous has finished
    previous = s->name;
    out.services.push_back(std::move(*s));
  }
  if (!out.errors.empty()) out.services.clear();
  return out;
}

}  // namespace wsinit::workspace
