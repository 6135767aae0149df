// Requests held open on the control socket: `wsinit logs -f` (a service's lines as they come)
// and `wsinit wait` (answered when what it waits for holds, fails for good, or times out).
#include <algorithm>
#include <spdlog/spdlog.h>

#include "core.h"

namespace wsinit::init {
namespace {

using supervisor::ControlRequest;
using supervisor::ControlStream;
using supervisor::ServiceStatus;
using supervisor::State;

// Why a service will not become ready without someone acting; nullopt while it still may.
std::optional<std::string> failed_for_good(const ServiceStatus& s) {
  std::string exit = s.last_exit.empty() ? "" : " (" + s.last_exit + ")";
  if (s.state == State::failed) return s.name + " failed" + exit;
  if (s.state == State::stopped) return s.name + " is stopped (wsinit start " + s.name + " starts it)";
  if (s.state == State::exited && !s.ready) return s.name + " exited" + exit + " and is not restarted";
  return std::nullopt;
}

std::string state_words(const ServiceStatus& s) {
  return s.name + " is " + supervisor::state_name(s.state) + (s.last_exit.empty() ? "" : " (last: " + s.last_exit + ")");
}

WaitOutcome outcome(WaitOutcome::Kind kind, std::string message) { return {kind, std::move(message)}; }

WaitOutcome judge_ready(supervisor::Overall overall, const std::vector<ServiceStatus>& services) {
  if (overall == supervisor::Overall::ready) return outcome(WaitOutcome::Kind::met, "the workspace is ready");
  std::string missing;
  for (const auto& s : services) {
    if (!s.required && !s.oneshot) continue;
    if (auto why = failed_for_good(s)) return outcome(WaitOutcome::Kind::failed, "the workspace will not be ready: " + *why);
    if (s.required && !s.ready) missing += (missing.empty() ? "" : ", ") + state_words(s);
  }
  return outcome(WaitOutcome::Kind::open, "the workspace is " + std::string(supervisor::overall_name(overall)) +
                                              (missing.empty() ? "" : ": " + missing));
}

WaitOutcome judge_service(const std::string& name, const std::vector<ServiceStatus>& services) {
  auto it = std::find_if(services.begin(), services.end(), [&](const ServiceStatus& s) { return s.name == name; });
  if (it == services.end()) {
    std::string names;
    for (const auto& s : services) names += (names.empty() ? "" : ", ") + s.name;
    return outcome(WaitOutcome::Kind::failed, "no service '" + name + "' (services: " + (names.empty() ? "none" : names) + ")");
  }
  if (it->ready) return outcome(WaitOutcome::Kind::met, name + (it->oneshot ? " finished successfully" : " is ready"));
  if (auto why = failed_for_good(*it)) return outcome(WaitOutcome::Kind::failed, *why);
  return outcome(WaitOutcome::Kind::open, state_words(*it));
}

std::string seconds_of(std::int64_t ms) { return config::format_duration(config::Duration(ms)); }

}  // namespace

WaitOutcome judge_wait(const ControlRequest& request, supervisor::Overall overall, const std::vector<ServiceStatus>& services,
                       const std::set<std::uint16_t>* ports) {
  if (overall == supervisor::Overall::stopping) return outcome(WaitOutcome::Kind::failed, "wsinit is shutting down");
  switch (request.kind) {
    case ControlRequest::Kind::wait_ready: return judge_ready(overall, services);
    case ControlRequest::Kind::wait_service: return judge_service(request.service, services);
    case ControlRequest::Kind::wait_port: {
      std::string port = std::to_string(request.port);
      if (!ports) return outcome(WaitOutcome::Kind::failed, "this wsinit does not watch ports (see the log: ports and activity off)");
      if (ports->count(request.port) > 0)
        return outcome(WaitOutcome::Kind::met, "something listens on port " + port);
      return outcome(WaitOutcome::Kind::open, "nothing listens on port " + port);
    }
    default: return outcome(WaitOutcome::Kind::failed, "not a wait");
  }
}

void Init::handle_held(const ControlRequest& request, std::shared_ptr<ControlStream> stream) {
  if (phase_ != Phase::running) return stream->finish("error\nwsinit is shutting down\n");
  if (request.kind == ControlRequest::Kind::logs) return follow_logs(request, std::move(stream));
  hold_wait(request, std::move(stream));
}

// The last lines, then every line as the log file gets it. Both happen on the loop and the log
// file is written synchronously before the followers get a batch, so reading the file and
// subscribing in the same turn leaves no gap and no line twice.
void Init::follow_logs(const ControlRequest& request, std::shared_ptr<ControlStream> stream) {
  auto tail = supervisor_->log_tail(request.service, request.lines);
  if (!tail) return stream->finish("error\n" + tail.error().message + "\n");
  ControlStream* key = stream.get();
  auto id = supervisor_->follow(request.service, [this, key](std::string_view lines) { on_follow_lines(key, lines); });
  if (!id) return stream->finish("error\n" + id.error().message + "\n");
  follows_[key] = Follow{stream, *id, 0, request.service};
  stream->on_gone = [this, key] {
    auto it = follows_.find(key);
    if (it == follows_.end()) return;
    supervisor_->unfollow(it->second.id);
    follows_.erase(it);
  };
  stream->on_drained = [this, key] { on_follow_drained(key); };
  std::string reply = tail->empty() ? std::string() : supervisor::data_frame(*tail);
  reply.insert(0, "ok\n");  // within the frame's own buffer when it has room, else one copy
  stream->send(std::move(reply), false);
}

// A client that falls behind loses lines from there until it has taken all that was queued;
// then it is told how many.
void Init::on_follow_lines(ControlStream* stream, std::string_view lines) {
  auto it = follows_.find(stream);
  if (it == follows_.end()) return;
  Follow& f = it->second;
  if (f.dropped > 0 && stream->queued() == 0) on_follow_drained(stream);  // caught up between two batches
  if (f.dropped > 0 || !stream->send(supervisor::data_frame(lines)))
    f.dropped += static_cast<std::uint64_t>(std::count(lines.begin(), lines.end(), '\n'));
}

void Init::on_follow_drained(ControlStream* stream) {
  auto it = follows_.find(stream);
  if (it == follows_.end() || it->second.dropped == 0) return;
  if (stream->send("note [wsinit: " + std::to_string(it->second.dropped) + " lines dropped]\n")) it->second.dropped = 0;
}

void Init::end_follows(const std::string& why) {
  auto follows = std::move(follows_);
  follows_.clear();
  for (auto& [stream, f] : follows) {
    supervisor_->unfollow(f.id);
    f.stream->finish("end " + why + "\n");
  }
}

// What the waits are judged on, taken once per check.
struct Init::WaitWorld {
  supervisor::Overall overall;
  std::vector<ServiceStatus> services;
  std::optional<std::set<std::uint16_t>> ports;  // nullopt: not watched
};

Init::WaitWorld Init::wait_world() const {
  WaitWorld world{supervisor_->overall(), supervisor_->status(), std::nullopt};
  if (ports_) {
    world.ports.emplace();
    for (const auto& p : ports_->ports()) world.ports->insert(p.port);
  }
  return world;
}

WaitOutcome Init::wait_outcome(const ControlRequest& request, const WaitWorld& world) {
  return judge_wait(request, world.overall, world.services, world.ports ? &*world.ports : nullptr);
}

WaitOutcome Init::wait_outcome(const ControlRequest& request) const { return wait_outcome(request, wait_world()); }

// Answered at once when it holds or cannot come to hold; else held until a change of the
// services or the ports (check_waits) decides it, or its timeout.
void Init::hold_wait(const ControlRequest& request, std::shared_ptr<ControlStream> stream) {
  WaitOutcome now = wait_outcome(request);
  if (now.kind != WaitOutcome::Kind::open)
    return stream->finish((now.kind == WaitOutcome::Kind::met ? "ok\n" : "error\n") + now.message + "\n");
  ControlStream* key = stream.get();
  auto& wait = waits_.emplace_back(Wait{request, stream, std::make_unique<Timer>(&loop_)});
  stream->on_gone = [this, key] {
    std::erase_if(waits_, [key](const Wait& w) { return w.stream.get() == key; });
  };
  if (request.timeout_ms == 0) return;
  wait.timeout->start(std::chrono::milliseconds(request.timeout_ms), [this, key] {
    auto it = std::find_if(waits_.begin(), waits_.end(), [key](const Wait& w) { return w.stream.get() == key; });
    if (it == waits_.end()) return;
    std::string text = "error\ntimed out after " + seconds_of(it->request.timeout_ms) + ": " + wait_outcome(it->request).message + "\n";
    auto held = it->stream;
    waits_.erase(it);  // the timer with it (its callback runs from a copy)
    held->finish(text);
  });
}

void Init::check_waits_soon() {
  if (waits_.empty() && follows_.empty()) return;
  if (!waits_check_) waits_check_ = std::make_unique<Timer>(&loop_);
  if (waits_check_->pending()) return;
  auto check = [this] {
    if (!follows_.empty()) end_follows_of_removed(supervisor_->status());
    check_waits();
  };
  if (!waits_check_->start(std::chrono::milliseconds(0), check)) check();
}

// A follow of a service a reload removed ends, saying so (a kept or changed one goes on).
void Init::end_follows_of_removed(const std::vector<ServiceStatus>& services) {
  for (auto it = follows_.begin(); it != follows_.end();) {
    const std::string& name = it->second.service;
    if (std::any_of(services.begin(), services.end(), [&](const ServiceStatus& s) { return s.name == name; })) {
      ++it;
      continue;
    }
    Follow f = std::move(it->second);
    it = follows_.erase(it);
    supervisor_->unfollow(f.id);
    f.stream->finish("end " + f.service + " was removed from the config\n");
  }
}

void Init::check_waits() {
  if (waits_.empty()) return;
  WaitWorld world = wait_world();
  for (auto it = waits_.begin(); it != waits_.end();) {
    WaitOutcome now = wait_outcome(it->request, world);
    if (now.kind == WaitOutcome::Kind::open) {
      ++it;
      continue;
    }
    auto stream = it->stream;
    it = waits_.erase(it);
    stream->finish((now.kind == WaitOutcome::Kind::met ? "ok\n" : "error\n") + now.message + "\n");
  }
}

void Init::end_waits(const std::string& why) {
  auto waits = std::move(waits_);
  waits_.clear();
  for (auto& w : waits) w.stream->finish("error\n" + why + "\n");
}

}  // namespace wsinit::init
