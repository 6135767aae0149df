#include "keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <memory>

namespace wsinit::sshd_setup {
namespace {

constexpr std::string_view kMagic("openssh-key-v1\0", 15);
constexpr std::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
constexpr std::string_view kEnd = "-----END OPENSSH PRIVATE KEY-----\n";

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bignum = std::unique_ptr<BIGNUM, decltype(&BN_clear_free)>;

std::string openssl_error(const char* what) {
  unsigned long code = ERR_get_error();
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return std::string(what) + ": " + (code ? buf : "unknown error");
}

// SSH wire encoding (RFC 4251).
struct Writer {
  std::string out;
  void u32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
  }
  void string(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out.append(s);
  }
  void mpint(const BIGNUM* bn) {
    std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    if (!bytes.empty() && (static_cast<unsigned char>(bytes[0]) & 0x80)) bytes.insert(0, 1, '\0');
    string(bytes);
  }
};

struct Reader {
  std::string_view in;
  bool ok = true;
  uint32_t u32() {
    if (in.size() < 4) return ok = false, 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<size_t>(i)]);
    in.remove_prefix(4);
    return v;
  }
  std::string_view string() {
    uint32_t n = u32();
    if (!ok || in.size() < n) return ok = false, std::string_view();
    std::string_view s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
};

std::optional<Bignum> bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return std::nullopt;
  return Bignum(bn, BN_clear_free);
}

// The key-specific parts: public blob fields, and the private section's key fields.
Status encode_key(KeyType type, EVP_PKEY* key, Writer& pub, Writer& priv) {
  std::string name = ssh_key_type(type);
  pub.string(name);
  priv.string(name);
  if (type == KeyType::ed25519) {
    unsigned char pk[32], sk[32];
    size_t pk_len = sizeof pk, sk_len = sizeof sk;
    if (EVP_PKEY_get_raw_public_key(key, pk, &pk_len) != 1 || EVP_PKEY_get_raw_private_key(key, sk, &sk_len) != 1)
      return fail(openssl_error("ed25519 raw key"));
    std::string public_key(reinterpret_cast<char*>(pk), pk_len);
    pub.string(public_key);
    priv.string(public_key);
    priv.string(std::string(reinterpret_cast<char*>(sk), sk_len) + public_key);  // seed || public
    OPENSSL_cleanse(sk, sizeof sk);
    return {};
  }
  if (type == KeyType::ecdsa) {
    unsigned char point[133];
    size_t point_len = 0;
    auto d = bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY);
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &point_len) != 1 || !d)
      return fail(openssl_error("ecdsa key parameters"));
    std::string q(reinterpret_cast<char*>(point), point_len);
    for (Writer* w : {&pub, &priv}) {
      w->string("nistp256");
      w->string(q);
    }
    priv.mpint(d->get());
    return {};
  }
  auto n = bn_param(key, OSSL_PKEY_PARAM_RSA_N), e = bn_param(key, OSSL_PKEY_PARAM_RSA_E),
       dd = bn_param(key, OSSL_PKEY_PARAM_RSA_D), p = bn_param(key, OSSL_PKEY_PARAM_RSA_FACTOR1),
       q = bn_param(key, OSSL_PKEY_PARAM_RSA_FACTOR2), iqmp = bn_param(key, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
  if (!n || !e || !dd || !p || !q || !iqmp) return fail(openssl_error("rsa key parameters"));
  pub.mpint(e->get());
  pub.mpint(n->get());
  for (const BIGNUM* bn : {n->get(), e->get(), dd->get(), iqmp->get(), p->get(), q->get()}) priv.mpint(bn);
  return {};
}

PKey new_key(KeyType type) {
  switch (type) {
    case KeyType::ed25519: return PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
    case KeyType::ecdsa: return PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    case KeyType::rsa: return PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072)), EVP_PKEY_free);
  }
  return PKey(nullptr, EVP_PKEY_free);
}

}  // namespace

std::optional<KeyType> key_type_from_name(const std::string& name) {
  if (name == "ed25519") return KeyType::ed25519;
  if (name == "ecdsa") return KeyType::ecdsa;
  if (name == "rsa") return KeyType::rsa;
  return std::nullopt;
}

std::string key_type_name(KeyType type) {
  return type == KeyType::ed25519 ? "ed25519" : type == KeyType::ecdsa ? "ecdsa" : "rsa";
}

std::string ssh_key_type(KeyType type) {
  return type == KeyType::ed25519 ? "ssh-ed25519" : type == KeyType::ecdsa ? "ecdsa-sha2-nistp256" : "ssh-rsa";
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> unbase64(const std::string& text) {
  std::string clean;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out(clean.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  size_t padding = clean.empty() ? 0 : (clean.back() == '=') + (clean.size() > 1 && clean[clean.size() - 2] == '=');
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string fingerprint(const std::string& public_blob) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(public_blob.data(), public_blob.size(), digest, &length, EVP_sha256(), nullptr);
  std::string b64 = base64(std::string(reinterpret_cast<char*>(digest), length));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

Result<KeyFiles> generate_key(KeyType type, const std::string& comment) {
  PKey key = new_key(type);
  if (!key) return fail(openssl_error(("generating a " + key_type_name(type) + " key").c_str()));
  Writer pub, priv;
  uint32_t check;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&check), sizeof check) != 1)
    return fail(openssl_error("random bytes"));
  priv.u32(check);
  priv.u32(check);
  if (auto encoded = encode_key(type, key.get(), pub, priv); !encoded) return encoded.error();
  priv.string(comment);
  for (char pad = 1; priv.out.size() % 8 != 0; ++pad) priv.out += pad;

  Writer file;
  file.out.append(kMagic);
  file.string("none");  // cipher
  file.string("none");  // kdf
  file.string("");      // kdf options
  file.u32(1);          // one key
  file.string(pub.out);
  file.string(priv.out);
  OPENSSL_cleanse(priv.out.data(), priv.out.size());

  KeyFiles files;
  std::string body = base64(file.out);
  OPENSSL_cleanse(file.out.data(), file.out.size());
  files.private_text = kBegin;
  for (size_t i = 0; i < body.size(); i += 70) files.private_text += body.substr(i, 70) + "\n";
  files.private_text += kEnd;
  OPENSSL_cleanse(body.data(), body.size());
  files.public_blob = pub.out;
  files.public_line = ssh_key_type(type) + " " + base64(pub.out) + " " + comment + "\n";
  return files;
}

Result<std::string> public_blob_of(const std::string& private_text) {
  size_t begin = private_text.find(kBegin), end = private_text.find(kEnd.substr(0, kEnd.size() - 1));
  if (begin == std::string::npos || end == std::string::npos || end < begin)
    return fail("not an OpenSSH private key (no BEGIN/END OPENSSH PRIVATE KEY lines)");
  auto raw = unbase64(private_text.substr(begin + kBegin.size(), end - begin - kBegin.size()));
  if (!raw || raw->compare(0, kMagic.size(), kMagic) != 0) return fail("not openssh-key-v1 data");
  Reader r{std::string_view(*raw).substr(kMagic.size())};
  std::string_view cipher = r.string(), kdf = r.string();
  r.string();
  uint32_t count = r.u32();
  std::string_view blob = r.string(), priv = r.string();
  if (!r.ok) return fail("truncated key data");
  if (cipher != "none" || kdf != "none")
    return fail("the key is encrypted (cipher " + std::string(cipher) + "); sshd could not use it unattended");
  Reader p{priv}, b{blob};
  uint32_t check1 = p.u32(), check2 = p.u32();
  std::string_view priv_type = p.string(), pub_type = b.string();
  if (count != 1 || !p.ok || !b.ok || check1 != check2 || priv_type != pub_type)
    return fail("inconsistent key data (check words or key types differ)");
  return std::string(blob);
}

}  // namespace wsinit::sshd_setup
