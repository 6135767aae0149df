#include "log_relay.h"

#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <utility>
#include <spdlog/spdlog.h>

#include "common/json.h"

namespace wsinit::supervisor {

std::string utc_timestamp() {
  auto now = std::chrono::system_clock::now();
  return utc_timestamp_of(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

std::string utc_timestamp_of(std::int64_t ms) {
  time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// --- Batch ---

void Batch::grow(size_t wanted) {
  size_t capacity = std::max(wanted, capacity_ * 2);
  auto bigger = std::make_unique<char[]>(capacity);
  if (size_) memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = capacity;
}

// Keeps up to 1 MiB of capacity for the next batch; a burst of long lines does not pin more.
void Batch::clear() {
  size_ = 0;
  if (capacity_ > (1u << 20)) {
    data_.reset();
    capacity_ = 0;
  }
}

// --- OutputSink ---

OutputSink::OutputSink(uv_loop_t* loop, int fd, size_t limit_bytes) : fd_(fd), limit_(limit_bytes), retry_(loop) {
  struct stat st;
  if (fstat(fd, &st) < 0) return;
  if (S_ISFIFO(st.st_mode)) {
    // A new open file description of the same pipe: O_NONBLOCK on it does not reach the
    // processes that share our stdout.
    int own = open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (own >= 0) {
      fd_ = own;
      nonblocking_ = true;
    }
  } else if (S_ISSOCK(st.st_mode)) {
    nonblocking_ = socket_ = true;
  }
  // Regular files and character devices are written directly: they do not stall.
}

OutputSink::~OutputSink() {
  if (nonblocking_ && !socket_) close(fd_);  // only the description we opened ourselves
}

ssize_t OutputSink::write_some(std::string_view data) {
  ssize_t n;
  do {
    n = socket_ ? send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL) : ::write(fd_, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  return n;
}

bool OutputSink::write(std::string_view data) {
  if (queue_.empty()) {
    ssize_t n = write_some(data);
    if (n == static_cast<ssize_t>(data.size())) return true;
    if (n < 0 && errno != EAGAIN) return false;  // stdout is gone (EPIPE...): nothing to keep
    if (n > 0) {
      // Part of it is out: the rest must follow, or the next record is glued to a cut line.
      // The queue then holds at most one batch beyond its limit.
      data.remove_prefix(static_cast<size_t>(n));
      queue_.emplace_back(data);
      queued_bytes_ += data.size();
      if (!retry_.pending()) retry_.start(std::chrono::milliseconds(10), [this] { drain(); });
      return true;
    }
  }
  if (queued_bytes_ + data.size() > limit_) return false;
  queue_.emplace_back(data);
  queued_bytes_ += data.size();
  if (!retry_.pending()) retry_.start(std::chrono::milliseconds(10), [this] { drain(); });
  return true;
}

void OutputSink::drain() {
  while (!queue_.empty()) {
    std::string_view front = std::string_view(queue_.front()).substr(front_offset_);
    ssize_t n = write_some(front);
    if (n < 0) {
      if (errno == EAGAIN) break;
      queue_.clear();  // stdout is gone
      queued_bytes_ = front_offset_ = 0;
      return;
    }
    front_offset_ += static_cast<size_t>(n);
    queued_bytes_ -= static_cast<size_t>(n);
    if (front_offset_ == queue_.front().size()) {
      queue_.pop_front();
      front_offset_ = 0;
    }
  }
  if (!queue_.empty()) retry_.start(std::chrono::milliseconds(10), [this] { drain(); });
}

void OutputSink::flush(int budget_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  while (!queue_.empty() && std::chrono::steady_clock::now() < deadline) {
    drain();
    if (queue_.empty()) break;
    struct pollfd p{fd_, POLLOUT, 0};
    poll(&p, 1, 10);
  }
}

// --- LogFile ---

LogFile::LogFile(std::string path, std::uint64_t max_size, int max_files, uv_loop_t* loop)
    : path_(std::move(path)), max_size_(max_size), max_files_(max_files), loop_(loop) {
  open_file();
}

LogFile::~LogFile() {
  if (fd_ >= 0) close(fd_);
}

bool LogFile::open_file() {
  fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd_ < 0) return false;
  struct stat st;
  size_t existing = fstat(fd_, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  size_ = existing;
  return true;
}

// False, with nothing changed, while kMaxReleasing old files are still being closed or the
// oldest cannot be held open.
bool LogFile::rotate() {
  if (*releasing_ >= kMaxReleasing) return false;
  std::string oldest = max_files_ <= 1 ? path_ : path_ + "." + std::to_string(max_files_ - 1);
  int held = max_files_ <= 1 ? std::exchange(fd_, -1)
                             : open(oldest.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  // Not held for want of a descriptor (EMFILE, ...): unlinking it would free it here, so the
  // current file grows until a later try holds it. Missing, or a symlink, frees nothing.
  if (held < 0 && max_files_ > 1 && errno != ENOENT && errno != ELOOP) return false;
  unlink(oldest.c_str());  // a missing one is fine; held, its blocks stay until `held` is closed
  if (fd_ >= 0) close(fd_);  // still linked: nothing is freed
  fd_ = -1;
  for (int i = max_files_ - 1; i >= 1; --i) {
    std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    std::string to = path_ + "." + std::to_string(i);
    rename(from.c_str(), to.c_str());  // `to` is gone already; a missing `from` is fine
  }
  if (held >= 0) release(held);
  open_file();
  return true;
}

void LogFile::release(int fd) {
  struct Release {
    uv_fs_t req;
    std::shared_ptr<int> count;
  };
  auto* r = new Release{{}, releasing_};
  r->req.data = r;
  ++*releasing_;
  int rc = !loop_ ? UV_EINVAL : uv_fs_close(loop_, &r->req, fd, [](uv_fs_t* req) {
    auto* done = static_cast<Release*>(req->data);
    --*done->count;
    uv_fs_req_cleanup(req);
    delete done;
  });
  if (rc != 0) {
    --*releasing_;
    delete r;
    close(fd);
  }
}

// Rotates on line boundaries: a batch of lines may be split across the old and new file.
bool LogFile::write(std::string_view data) {
  while (!data.empty()) {
    std::string_view part = data;
    if (size_ + data.size() > max_size_) {
      size_t room = max_size_ > size_ ? static_cast<size_t>(max_size_ - size_) : 0;
      size_t cut = data.substr(0, room).rfind('\n');
      if (cut == std::string_view::npos) {
        if (size_ > 0 && rotate()) continue;
        // One line longer than max_size gets a file of its own; a rotation that must wait
        // leaves all of it here.
        cut = size_ > 0 ? data.size() - 1 : data.find('\n');
        if (cut == std::string_view::npos) cut = data.size() - 1;
      }
      part = data.substr(0, cut + 1);
    }
    if (!append(part)) return false;
    data.remove_prefix(part.size());
    if (!data.empty()) rotate();
  }
  return true;
}

bool LogFile::append(std::string_view data) {
  if (fd_ < 0 && !open_file()) return false;
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    size_ += static_cast<std::uint64_t>(n);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// --- Reading a log's end ---

namespace {

enum class ReadBack { more, enough };

// Puts the end of `file` in front of `text`, 64 KiB at a time, until `text` holds more than
// `lines` line ends or `max_bytes` bytes (enough), or the file's start is reached (more).
ReadBack read_back(const std::string& file, std::string& text, size_t lines, size_t max_bytes) {
  int fd = open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ReadBack::more;  // rotated away, or never written: older files may still be there
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ReadBack::more;
  }
  if (text.size() >= max_bytes) {
    close(fd);
    return ReadBack::enough;
  }
  // One forward read of what fits in the budget, in front of what the newer files gave.
  size_t size = static_cast<size_t>(std::max<off_t>(st.st_size, 0));
  size_t want = std::min(size, max_bytes - text.size());
  off_t pos = static_cast<off_t>(size - want);
  std::string older(want, '\0');
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, older.data() + got, want - got, pos + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // cut short (the file shrank): what came is enough
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got < want) return ReadBack::enough;  // the file shrank (rotated) under the read: what the newer files gave
  size_t ends = static_cast<size_t>(std::count(older.begin(), older.end(), '\n')) +
                static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  older.append(text);
  text = std::move(older);
  return pos > 0 || text.size() >= max_bytes || ends > lines ? ReadBack::enough : ReadBack::more;
}

}  // namespace

std::string last_lines_of(std::string_view text, size_t lines, bool whole) {
  if (lines == 0) return "";
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // the last line's own end
  size_t counted = 0;
  while (end > 0) {
    size_t newline = text.rfind('\n', end - 1);
    if (newline == std::string_view::npos) break;
    if (++counted == lines) return std::string(text.substr(newline + 1));
    end = newline;
  }
  if (whole) return std::string(text);
  size_t first = text.find('\n');  // the first line may be cut: left out
  return first == std::string_view::npos ? "" : std::string(text.substr(first + 1));
}

std::string last_lines(const std::string& path, int max_files, size_t lines, size_t max_bytes) {
  std::string text;
  bool whole = true;
  for (int i = 0; lines > 0 && i < std::max(max_files, 1); ++i) {
    if (read_back(i == 0 ? path : path + "." + std::to_string(i), text, lines, max_bytes) == ReadBack::enough) {
      whole = false;
      break;
    }
  }
  return last_lines_of(text, lines, whole);
}

// --- LogRelay ---

namespace {
// One read buffer for every relay: reads are handled to the end before the next one starts.
char read_buffer[256 * 1024];
}  // namespace

LogRelay::LogRelay(uv_loop_t* loop, std::string name, OutputSink& out, std::unique_ptr<LogFile> file, LineFormat format)
    : name_(std::move(name)), out_(out), file_(std::move(file)), format_(format), prefix_("[" + name_ + "] ") {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    spdlog::error("{}: cannot create the log pipe: {}", name_, strerror(errno));
    return;
  }
  // A pipe nobody reads would block the service once it fills: without a reader, there is no
  // relay (ok() is false) and the service writes to wsinit's own stdout and stderr instead.
  auto* pipe = new uv_pipe_t;
  int rc = uv_pipe_init(loop, pipe, 0);
  bool initialised = rc == 0, owns_fd = false;
  if (rc == 0) {
    pipe->data = this;
    rc = uv_pipe_open(pipe, fds[0]);
    owns_fd = rc == 0;
  }
  if (rc == 0) rc = uv_read_start(reinterpret_cast<uv_stream_t*>(pipe), on_alloc, on_read);
  if (rc != 0) {
    spdlog::error("{}: cannot read the log pipe: {}; its output goes to wsinit's own stdout and stderr", name_,
                  uv_strerror(rc));
    if (!owns_fd) close(fds[0]);
    close(fds[1]);
    if (!initialised) {
      delete pipe;  // nothing for the loop to close
    } else {
      pipe->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    }
    return;
  }
  pipe_ = pipe;
  write_fd_ = fds[1];
  fcntl(write_fd_, F_SETPIPE_SZ, kPipeSize);  // best effort: the default 64 KiB works too
}

LogRelay::~LogRelay() {
  drain();
  if (write_fd_ >= 0) close(write_fd_);
  if (pipe_) {
    pipe_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(pipe_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  }
}

void LogRelay::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  (void)handle;
  *buf = uv_buf_init(read_buffer, sizeof read_buffer);
}

void LogRelay::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<LogRelay*>(stream->data);
  if (!self || nread <= 0) return;  // EOF cannot happen while we hold the write end
  self->take(std::string_view(buf->base, static_cast<size_t>(nread)));
  self->flush_batches();
}

void LogRelay::drain() {
  if (!pipe_) return;
  int fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe_), &fd) != 0) return;  // closing: nothing left to read
  for (;;) {
    ssize_t n = read(fd, read_buffer, sizeof read_buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    take(std::string_view(read_buffer, static_cast<size_t>(n)));
  }
  if (!partial_.empty()) {
    if (stamp_.empty()) stamp_ = utc_timestamp() + " ";
    emit(partial_);
    partial_.clear();
  }
  flush_batches();
}

// Splits a chunk into lines; a line that grows past kMaxLine is emitted in pieces.
void LogRelay::take(std::string_view chunk) {
  stamp_ = utc_timestamp() + " ";
  while (!chunk.empty()) {
    size_t newline = chunk.find('\n');
    size_t room = kMaxLine - partial_.size();
    if (newline != std::string_view::npos && newline <= room) {
      if (partial_.empty()) {
        emit(chunk.substr(0, newline));
      } else {
        partial_.append(chunk.substr(0, newline));
        emit(partial_);
        partial_.clear();
      }
      chunk.remove_prefix(newline + 1);
    } else if (chunk.size() < room) {
      partial_.append(chunk);
      return;
    } else {
      partial_.append(chunk.substr(0, room));
      emit(partial_);
      partial_.clear();
      chunk.remove_prefix(room);
    }
  }
}

void LogRelay::emit(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  ++batch_lines_;
  if (format_ == LineFormat::json) {
    std::string record = "{\"time\":\"" + stamp_.substr(0, stamp_.size() - 1) + "\",\"service\":";
    json::append_string(record, name_);
    record += ",\"line\":";
    json::append_string(record, line);
    record += "}\n";
    out_batch_.append(record);
    if (file_ || tap_) file_batch_.append(record);
  } else {
    out_batch_.append_line(prefix_, line);
    if (file_ || tap_) file_batch_.append_line(stamp_, line);
  }
  // A read of short lines grows many times over with prefixes and stamps (256 KiB of empty
  // lines were 60 MB of JSON records): the batches go on their way once they hold kMaxBatch.
  if (out_batch_.view().size() >= kMaxBatch || file_batch_.view().size() >= kMaxBatch) flush_batches();
}

void LogRelay::flush_batches() {
  size_t lines = batch_lines_;
  batch_lines_ = 0;
  if (!out_batch_.empty()) {
    if (dropped_unreported_ > 0 && out_.queued() == 0) {
      std::string note = "[" + name_ + "] (wsinit: " + std::to_string(dropped_unreported_) +
                         " lines dropped here: stdout was not keeping up; the log file has them)\n";
      if (out_.write(note)) dropped_unreported_ = 0;
    }
    if (!out_.write(out_batch_.view())) {
      dropped_ += lines;
      dropped_unreported_ += lines;
    }
    out_batch_.clear();
  }
  if (!file_batch_.empty()) {
    if (file_ && !file_->write(file_batch_.view())) {
      if (file_failures_ == 0) spdlog::warn("{}: cannot write {}: {}", name_, file_->path(), strerror(errno));
      file_failures_ += lines;
    }
    if (tap_) tap_(file_batch_.view());  // after the file: what was read from it is not sent again
    file_batch_.clear();
  }
}

}  // namespace wsinit::supervisor
