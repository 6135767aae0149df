// Internal to sshd_setup/: host keys made with OpenSSL and written in OpenSSH's own formats
// (openssh-key-v1 private keys, one-line .pub files), and read back to be reused.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace wsinit::sshd_setup {

enum class KeyType { ed25519, ecdsa, rsa };
std::optional<KeyType> key_type_from_name(const std::string& name);  // ed25519 ecdsa rsa
std::string key_type_name(KeyType type);                               // as in config
std::string ssh_key_type(KeyType type);                                // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa

struct KeyFiles {
  std::string private_text;  // -----BEGIN OPENSSH PRIVATE KEY----- ...
  std::string public_line;   // "ssh-ed25519 AAAA... comment\n"
  std::string public_blob;   // the wire form, what fingerprints hash
};

// A fresh key pair, or OpenSSL's reason it could not be made.
Result<KeyFiles> generate_key(KeyType type, const std::string& comment);

// The public blob of an unencrypted openssh-key-v1 private key, or the reason it is not one.
Result<std::string> public_blob_of(const std::string& private_text);

// "SHA256:<base64 without padding>", as ssh-keygen -l prints it.
std::string fingerprint(const std::string& public_blob);

std::string base64(const std::string& bytes);
std::optional<std::string> unbase64(const std::string& text);

}  // namespace wsinit::sshd_setup
