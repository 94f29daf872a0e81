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
  static const char kContext[] = "mkmaster-protocol-v1-key";  // unchanged in v2: the same secret file works
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
std::string proof_message(const char* label, const Transcript& t) {
  std::string msg(label);
  msg.append(reinterpret_cast<const char*>(t.host_nonce.data()), t.host_nonce.size());
  msg.append(reinterpret_cast<const char*>(t.agent_nonce.data()), t.agent_nonce.size());
  for (uint16_t v : {t.version, t.min_version, t.max_version}) {
    msg.push_back(static_cast<char>(v & 0xff));
    msg.push_back(static_cast<char>(v >> 8));
  }
  return msg;
}
Mac proof(const char* label, const Key& k, const Transcript& t) {
  static_assert(crypto_auth_BYTES == kMacSize && crypto_auth_KEYBYTES == 32);
  std::string msg = proof_message(label, t);
  Mac m;
  crypto_auth(m.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), k.data());
  return m;
}
bool check(const char* label, const Key& k, const Transcript& t, const Mac& mac) {
  std::string msg = proof_message(label, t);
  return crypto_auth_verify(mac.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), k.data()) == 0;
}
constexpr const char* kHostLabel = "mkmaster-v2 host proof";
constexpr const char* kAgentLabel = "mkmaster-v2 agent proof";
}  // namespace

Mac host_proof(const Key& k, const Transcript& t) { return proof(kHostLabel, k, t); }
Mac agent_proof(const Key& k, const Transcript& t) { return proof(kAgentLabel, k, t); }
bool check_host_proof(const Key& k, const Transcript& t, const Mac& m) { return check(kHostLabel, k, t, m); }
bool check_agent_proof(const Key& k, const Transcript& t, const Mac& m) { return check(kAgentLabel, k, t, m); }

}  // namespace mkproto
