// A pty-req as libssh 0.10 parsed it. libssh hands the terminal, size and modes of a pty-req only
// to a message callback, and has no accessor for the modes, so they are read from its message
// struct, mirrored here from libssh 0.10's messages.h (the version scripts/install-libssh builds;
// the build fails on another).
#pragma once

#include <libssh/libssh.h>
#include <libssh/libssh_version.h>

#include <cstdint>
#include <string_view>

static_assert(LIBSSH_VERSION_INT >= SSH_VERSION_INT(0, 10, 0) && LIBSSH_VERSION_INT < SSH_VERSION_INT(0, 11, 0),
              "libssh_message.h mirrors libssh 0.10's struct ssh_message_struct: check it against this version");

namespace wsinit::ssh_server::libssh_message {

struct AuthRequest {
  char* username;
  int method;
  char* password;
  ssh_key pubkey;
  char* sigtype;
  int signature_state;  // enum ssh_publickey_state_e
  char kbdint_response;
};
struct ChannelRequestOpen {
  int type;
  uint32_t sender, window, packet_size;
  char* originator;
  uint16_t originator_port;
  char* destination;
  uint16_t destination_port;
};
struct ChannelRequest {
  int type;
  ssh_channel channel;
  uint8_t want_reply;
  char* TERM;
  uint32_t width, height, pxwidth, pxheight;
  ssh_string modes;
};
struct Message {
  ssh_session session;
  int type;
  AuthRequest auth_request;
  ChannelRequestOpen channel_request_open;
  ChannelRequest channel_request;
};

struct PtyRequest {
  const char* term;
  uint32_t width, height, pxwidth, pxheight;
  std::string_view modes;
};

// Only for a message of type SSH_REQUEST_CHANNEL, subtype SSH_CHANNEL_REQUEST_PTY.
inline PtyRequest pty_request(ssh_message msg) {
  const ChannelRequest& r = reinterpret_cast<const Message*>(msg)->channel_request;
  std::string_view modes;
  if (r.modes) modes = {static_cast<const char*>(ssh_string_data(r.modes)), ssh_string_len(r.modes)};
  return {r.TERM ? r.TERM : "", r.width, r.height, r.pxwidth, r.pxheight, modes};
}

}  // namespace wsinit::ssh_server::libssh_message
