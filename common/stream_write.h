// One write to a libuv stream that owns its bytes until libuv is done with them (the
// allocate-write-free every writer of a socket or pipe needs, written once).
#pragma once

#include <uv.h>

#include <functional>
#include <string>

namespace wsinit {

// Queues `data` on `stream`. `done(status)` runs once, from libuv's callback, after the bytes
// are written (status 0) or the write failed or was cancelled by a close (status < 0). Returns
// uv_write's error: then nothing was queued, `done` never runs and nothing is left to free.
int write_owned(uv_stream_t* stream, std::string data, std::function<void(int status)> done);

}  // namespace wsinit
