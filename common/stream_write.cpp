#include "common/stream_write.h"

#include <memory>

namespace wsinit {
namespace {

struct OwnedWrite {
  uv_write_t req;
  std::string data;
  std::function<void(int)> done;
};

}  // namespace

int write_owned(uv_stream_t* stream, std::string data, std::function<void(int status)> done) {
  auto write = std::make_unique<OwnedWrite>();
  write->data = std::move(data);
  write->done = std::move(done);
  write->req.data = write.get();
  uv_buf_t buf = uv_buf_init(write->data.data(), static_cast<unsigned>(write->data.size()));
  int err = uv_write(&write->req, stream, &buf, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<OwnedWrite> owned(static_cast<OwnedWrite*>(req->data));
    if (owned->done) owned->done(status);
  });
  if (err == 0) write.release();  // libuv's callback owns it now
  return err;
}

}  // namespace wsinit
