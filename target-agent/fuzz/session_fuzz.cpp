// libFuzzer: the agent's session state machine (connection.cpp and the ops
// it dispatches to) on authenticated frame sequences. Each input is a list
// of frames a host that knows the secret sends after a real handshake over a
// socketpair; the target is a 1 MiB regular file (the fake disk). The agent
// must answer every sequence without crashing, hanging or touching anything
// but its target: exec and file operations are not offered.
//
// Input: records of  u8 type, u8 flags, u16 offset/4096, u16 length, bytes.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "protocol/channel.h"
#include "protocol/handshake.h"
#include "target-agent/connection.h"

using namespace mkproto;

namespace {

struct World {
  agent::AgentConfig cfg;
  World() {
    char dir[] = "/tmp/session-fuzz-XXXXXX";
    if (!::mkdtemp(dir)) std::abort();
    cfg.target = std::string(dir) + "/disk";
    FILE* f = std::fopen(cfg.target.c_str(), "w");
    if (!f || ::ftruncate(fileno(f), 1 << 20) != 0) std::abort();
    std::fclose(f);
    cfg.allow_file = true;
    cfg.key = derive_key("session fuzzing secret, never guessed");
    cfg.name = "target-agent fuzz";
    cfg.io_timeout = std::chrono::milliseconds(2000);
    cfg.idle_timeout = std::chrono::milliseconds(2000);
    cfg.handshake_timeout = std::chrono::milliseconds(2000);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  agent::Sessions sessions;  // fresh per input: runs do not depend on each other
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  std::thread agent([&, fd = sv[1]] {
    agent::Connection c(w.cfg, sessions, fd);
    c.serve();
  });
  {
    SocketChannel host(sv[0], std::chrono::milliseconds(2000));
    host.set_send_timeout(std::chrono::milliseconds(2000));
    try {
      client_handshake(host, w.cfg.key, "fuzz host");
      // Whatever the agent answers is read and dropped, so it never blocks.
      std::thread drain([&] {
        try {
          for (;;) host.recv();
        } catch (const std::exception&) {
        }
      });
      try {
        for (size_t at = 0; at + 6 <= size;) {
          const uint8_t type = data[at], flags = data[at + 1];
          const uint64_t offset = (uint64_t(data[at + 2]) | uint64_t(data[at + 3]) << 8) * 4096;
          size_t len = size_t(data[at + 4]) | size_t(data[at + 5]) << 8;
          at += 6;
          len = std::min(len, size - at);
          if (known_type(type))
            host.send_raw(static_cast<FrameType>(type), flags & 1, offset, {data + at, len});
          at += len;
        }
      } catch (const std::exception&) {
      }
      ::shutdown(sv[0], SHUT_WR);
      drain.join();
    } catch (const std::exception&) {
    }
  }
  agent.join();
  return 0;
}
