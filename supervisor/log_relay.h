// Internal to supervisor/: services' output, line by line, to wsinit's stdout (prefixed, or
// JSON lines) and to a rotated log file per service. A slow stdout never blocks a service:
// the shared stdout buffer is bounded and lines that do not fit are dropped and counted.
#pragma once

#include <uv.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/timer.h"

namespace wsinit::supervisor {

enum class LineFormat { text, json };

// A growable byte buffer that appends with memcpy and no zero-filling: the relay's hot path.
class Batch {
 public:
  void append(std::string_view a) {
    reserve(size_ + a.size());
    memcpy(data_.get() + size_, a.data(), a.size());
    size_ += a.size();
  }
  // prefix + line + '\n' in one step
  void append_line(std::string_view prefix, std::string_view line) {
    reserve(size_ + prefix.size() + line.size() + 1);
    char* p = data_.get() + size_;
    memcpy(p, prefix.data(), prefix.size());
    memcpy(p + prefix.size(), line.data(), line.size());
    p[prefix.size() + line.size()] = '\n';
    size_ += prefix.size() + line.size() + 1;
  }
  std::string_view view() const { return {data_.get(), size_}; }
  bool empty() const { return size_ == 0; }
  void clear();

 private:
  void reserve(size_t wanted) {
    if (wanted > capacity_) grow(wanted);
  }
  void grow(size_t wanted);
  std::unique_ptr<char[]> data_;
  size_t size_ = 0, capacity_ = 0;
};

// wsinit's stdout, shared by every relay. Writes never block the loop.
class OutputSink {
 public:
  OutputSink(uv_loop_t* loop, int fd, size_t limit_bytes);
  ~OutputSink();
  // Queues `data` (whole lines); false when it did not fit and was dropped.
  bool write(std::string_view data);
  // Best effort at exit: waits up to `budget_ms` for the queue to drain.
  void flush(int budget_ms);
  size_t queued() const { return queued_bytes_; }

 private:
  void drain();
  ssize_t write_some(std::string_view data);

  int fd_;
  bool nonblocking_ = false;  // our own open file description, or a socket written with MSG_DONTWAIT
  bool socket_ = false;
  size_t limit_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  size_t front_offset_ = 0;
  Timer retry_;
};

// <logs>/<name>.log, rotated to .1 .. .N-1 when it would pass max_size.
// The oldest file's blocks are freed off the loop: freeing them may wait on the disk (ext4
// mounted with `discard` discards synchronously; a rename over an existing file flushes the
// renamed one first), seconds on a busy disk, which PID 1's loop must never spend. So the
// oldest file is unlinked while a descriptor still holds it, every rename has a free target,
// and that descriptor is closed on libuv's threadpool, where the blocks go. While
// kMaxReleasing such closes wait (a disk stalled under a flood), the current file grows past
// max_size instead of rotating; it rotates again once they are done. Without a loop, closed here.
class LogFile {
 public:
  LogFile(std::string path, std::uint64_t max_size, int max_files, uv_loop_t* loop = nullptr);
  ~LogFile();
  // False when the write failed (disk full, ...); the file then misses those lines.
  bool write(std::string_view data);
  const std::string& path() const { return path_; }
  int releasing() const { return *releasing_; }  // old files whose close is under way
  static constexpr int kMaxReleasing = 16;

 private:
  bool open_file();
  bool rotate();
  void release(int fd);
  bool append(std::string_view data);

  std::string path_;
  std::uint64_t max_size_;
  int max_files_;
  uv_loop_t* loop_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::shared_ptr<int> releasing_ = std::make_shared<int>(0);  // outlives the file for the callbacks
};

// Reads one service's combined stdout and stderr from a pipe and writes whole lines onward.
// The pipe lives as long as the relay, across restarts of the service.
class LogRelay {
 public:
  LogRelay(uv_loop_t* loop, std::string name, OutputSink& out, std::unique_ptr<LogFile> file, LineFormat format);
  ~LogRelay();
  bool ok() const { return write_fd_ >= 0; }
  int write_fd() const { return write_fd_; }  // the service's stdout and stderr
  // Reads whatever the pipe holds now and flushes a partial last line (at exit of a process).
  void drain();
  std::uint64_t dropped_lines() const { return dropped_; }
  std::uint64_t file_failures() const { return file_failures_; }  // lines the log file missed
  // Gets every batch of lines as the log file gets them (its format: stamped text or JSON
  // records), written to the file first. Called from the loop; must not touch the relay.
  void set_tap(std::function<void(std::string_view lines)> tap) { tap_ = std::move(tap); }

  static constexpr size_t kMaxLine = 64 * 1024;  // longer lines are split, never dropped
  static constexpr size_t kMaxBatch = 256 << 10;  // bytes of lines held before they are written on (a quarter of stdout's 1 MiB)
  // A larger pipe means fewer wake-ups per byte for chatty services; the kernel only fills
  // its pages as data waits, so a quiet service costs nothing for it.
  static constexpr int kPipeSize = 1 << 20;

 private:
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void take(std::string_view chunk);
  void emit(std::string_view line);
  void flush_batches();

  std::string name_;
  OutputSink& out_;
  std::unique_ptr<LogFile> file_;
  std::function<void(std::string_view)> tap_;
  LineFormat format_;
  uv_pipe_t* pipe_ = nullptr;
  int write_fd_ = -1;
  std::string partial_;
  Batch out_batch_, file_batch_;
  std::string prefix_;       // "[name] "
  std::string stamp_;        // "<time of the chunk being handled> "
  std::uint64_t dropped_ = 0, dropped_unreported_ = 0, file_failures_ = 0;
  size_t batch_lines_ = 0;
};

// The last `lines` lines of the log file at `path` and, when it has fewer, of the rotated ones
// before it (path.1, path.2, ... up to path.<max_files - 1>), oldest first. Read backwards, at
// most `max_bytes` of them (past that, the lines that fit whole); a file that is a link, or not a
// regular file, is skipped.
std::string last_lines(const std::string& path, int max_files, size_t lines, size_t max_bytes);
// The last `lines` lines of `text`, the end of a stream; `whole`: text is the whole stream (else
// its first line may be cut, and is left out when more lines are asked than the rest holds).
std::string last_lines_of(std::string_view text, size_t lines, bool whole);

// "2026-11-29T01:02:03.456Z": now (utc_timestamp_of, for any time, is in supervisor.h).
std::string utc_timestamp();

}  // namespace wsinit::supervisor
