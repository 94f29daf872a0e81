#include "protocol/auth.h"

#include <sodium.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>

#include "base/read_file.h"

namespace mkproto {

void crypto_init() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

Key derive_key(std::string secret) {
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.size() < kMinSecret)
    throw ProtocolError(ErrorCode::kBadRequest,
                        fmt::format("secret is {} bytes; at least {} are required", secret.size(), kMinSecret));
  crypto_init();
  static const char kContext[] = "mkmaster-protocol-v1-key";
  Key k;
  crypto_generichash(k.data(), k.size(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(kContext), sizeof kContext - 1);
  sodium_memzero(secret.data(), secret.size());
  return k;
}

Key load_key(const std::string& path) {
  std::string secret;
  if (path == "-") {
    // One line: on a console stdin is a terminal and never reaches EOF.
    std::getline(std::cin, secret);
  } else {
    auto bytes = base::read_file(path);
    if (!bytes) throw std::runtime_error(fmt::format("secret file {}: cannot open: {}", path, std::strerror(errno)));
    secret = std::move(*bytes);
  }
  try {
    return derive_key(std::move(secret));
  } catch (const ProtocolError& e) {
    throw std::runtime_error(fmt::format("secret file {}: {}", path, e.what()));
  }
}

Nonce random_nonce() {
  crypto_init();
  Nonce n;
  randombytes_buf(n.data(), n.size());
  return n;
}

SessionId random_session_id() {
  crypto_init();
  SessionId s;
  randombytes_buf(s.data(), s.size());
  return s;
}

namespace {
Mac proof(const char* label, const Key& k, const Nonce& hn, const Nonce& an, uint16_t version) {
  static_assert(crypto_auth_BYTES == kMacSize && crypto_auth_KEYBYTES == 32);
  std::string msg(label);
  msg.append(reinterpret_cast<const char*>(hn.data()), hn.size());
  msg.append(reinterpret_cast<const char*>(an.data()), an.size());
  msg.push_back(static_cast<char>(version & 0xff));
  msg.push_back(static_cast<char>(version >> 8));
  Mac m;
  crypto_auth(m.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), k.data());
  return m;
}
bool check(const char* label, const Key& k, const Nonce& hn, const Nonce& an, uint16_t version, const Mac& mac) {
  std::string msg(label);
  msg.append(reinterpret_cast<const char*>(hn.data()), hn.size());
  msg.append(reinterpret_cast<const char*>(an.data()), an.size());
  msg.push_back(static_cast<char>(version & 0xff));
  msg.push_back(static_cast<char>(version >> 8));
  return crypto_auth_verify(mac.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), k.data()) == 0;
}
constexpr const char* kHostLabel = "mkmaster-v1 host proof";
constexpr const char* kAgentLabel = "mkmaster-v1 agent proof";
}  // namespace

Mac host_proof(const Key& k, const Nonce& hn, const Nonce& an, uint16_t v) { return proof(kHostLabel, k, hn, an, v); }
Mac agent_proof(const Key& k, const Nonce& hn, const Nonce& an, uint16_t v) { return proof(kAgentLabel, k, hn, an, v); }
bool check_host_proof(const Key& k, const Nonce& hn, const Nonce& an, uint16_t v, const Mac& m) {
  return check(kHostLabel, k, hn, an, v, m);
}
bool check_agent_proof(const Key& k, const Nonce& hn, const Nonce& an, uint16_t v, const Mac& m) {
  return check(kAgentLabel, k, hn, an, v, m);
}

}  // namespace mkproto
