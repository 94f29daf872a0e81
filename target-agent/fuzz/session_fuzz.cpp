// libFuzzer: the agent's session state machine (connection.cpp and the ops
// it dispatches to) on authenticated frame sequences, without a socket. Each
// input is a list of frames a host that knows the secret sends once the
// handshake is done: they are tagged with the session keys a handshake with
// fixed nonces derives, fed to the agent's own Connection through a
// MemoryChannel (Connection::serve_requests), and every frame the agent
// answers must decode and authenticate on the host's side. The target is a
// 1 MiB regular file (the fake disk, in /dev/shm when there is one). The
// handshake itself is handshake_fuzz's; exec and file operations are not
// offered.
//
// Input: records of  u8 type, u8 flags, u16 offset/4096, u16 length, bytes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "protocol/auth.h"
#include "protocol/channel.h"
#include "protocol/errors.h"
#include "protocol/session_keys.h"
#include "target-agent/connection.h"

using namespace mkproto;

namespace {

struct World {
  agent::AgentConfig cfg;
  SessionKeys keys;
  World() {
    const char* shm = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = std::string(shm) + "/session-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    cfg.target = tmpl + "/disk";
    FILE* f = std::fopen(cfg.target.c_str(), "w");
    if (!f || ::ftruncate(fileno(f), 1 << 20) != 0) std::abort();
    std::fclose(f);
    cfg.allow_file = true;  // the target may be a regular file
    cfg.key = derive_key("session fuzzing secret, never guessed");
    cfg.name = "target-agent fuzz";
    Nonce host{}, agent{};
    host.fill(1);
    agent.fill(2);
    keys = derive_session_keys(cfg.key, host, agent, kProtocolVersion);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  MemoryChannel host;
  host.set_session_keys(w.keys, Channel::Role::kHost);
  for (size_t at = 0; at + 6 <= size;) {
    const uint8_t type = data[at], flags = data[at + 1];
    const uint64_t offset = (uint64_t(data[at + 2]) | uint64_t(data[at + 3]) << 8) * 4096;
    size_t len = size_t(data[at + 4]) | size_t(data[at + 5]) << 8;
    at += 6;
    len = std::min(len, size - at);
    if (known_type(type)) host.send_raw(static_cast<FrameType>(type), flags & 1, offset, {data + at, len});
    at += len;
  }
  auto link = std::make_unique<MemoryChannel>();
  link->set_session_keys(w.keys, Channel::Role::kAgent);
  link->feed(host.sent);
  MemoryChannel* agent_side = link.get();
  agent::Sessions sessions;  // fresh per input: runs do not depend on each other
  agent::Connection c(w.cfg, sessions, std::move(link));
  c.serve_requests();  // ends with the session closed: no agent thread sends any more
  // What the agent said must be frames the host accepts, in order.
  host.feed(agent_side->sent);
  try {
    for (;;) host.recv();
  } catch (const ConnectionClosed&) {  // all of it read
  } catch (const ProtocolError& e) {
    std::fprintf(stderr, "session_fuzz: the agent sent a frame the host refuses: %s\n", e.what());
    std::abort();
  }
  return 0;
}
