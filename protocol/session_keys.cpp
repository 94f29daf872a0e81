#include "protocol/session_keys.h"

#include <sodium.h>

#include <string>

namespace mkproto {

namespace {
using Bytes32 = std::array<uint8_t, 32>;

Bytes32 keyed_blake2b(const Key& key, const std::string& msg) {
  Bytes32 out;
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key.data(),
                     key.size());
  return out;
}

template <size_t N>
std::array<uint8_t, N> subkey(const Bytes32& master, uint64_t id, const char (&context)[crypto_kdf_CONTEXTBYTES + 1]) {
  static_assert(N >= crypto_kdf_BYTES_MIN && N <= crypto_kdf_BYTES_MAX);
  std::array<uint8_t, N> out;
  crypto_kdf_derive_from_key(out.data(), out.size(), id, context, master.data());
  return out;
}

void append(std::string& s, const auto& bytes) { s.append(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }
}  // namespace

SessionKeys derive_session_keys(const Key& key, const Nonce& host_nonce, const Nonce& agent_nonce, uint16_t version) {
  crypto_init();
  std::string msg = "mkmaster-v2 session";
  append(msg, host_nonce);
  append(msg, agent_nonce);
  msg.push_back(static_cast<char>(version & 0xff));
  msg.push_back(static_cast<char>(version >> 8));
  Bytes32 master = keyed_blake2b(key, msg);
  SessionKeys k;
  k.host_to_agent = {subkey<32>(master, 1, "mkmv2frm"), Direction::kHostToAgent};
  k.agent_to_host = {subkey<32>(master, 2, "mkmv2frm"), Direction::kAgentToHost};
  sodium_memzero(master.data(), master.size());
  return k;
}

DeltaKey derive_delta_key(const Key& key, const SessionId& session) {
  crypto_init();
  std::string msg = "mkmaster-v2 delta";
  append(msg, session);
  Bytes32 master = keyed_blake2b(key, msg);
  DeltaKey k = subkey<16>(master, 1, "mkmv2dlt");
  sodium_memzero(master.data(), master.size());
  return k;
}

}  // namespace mkproto
