// libFuzzer: the agent side of the handshake fed arbitrary frames. It must
// refuse (ProtocolError / end of input) without crashing, and never
// authenticate without the key: the fuzzer cannot forge the HMAC, so
// reaching success is a bug.
#include <cstddef>
#include <cstdint>

#include "protocol/handshake.h"

using namespace mkproto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Key key = derive_key("fuzzing secret, never guessed");
  MemoryChannel ch;
  ch.feed({data, size});
  try {
    server_handshake(ch, key, "fuzz agent");
    __builtin_trap();  // authenticated without knowing the key
  } catch (const ProtocolError&) {
  } catch (const ConnectionClosed&) {
  }
  // Whatever the agent answered must itself be well-formed frames.
  FrameDecoder d;
  d.feed(ch.sent);
  while (auto f = d.next()) {
    if (f->type == FrameType::kError) decode<ErrorMsg>(*f);
    else if (f->type == FrameType::kChallenge) decode<Challenge>(*f);
    else __builtin_trap();
  }
  return 0;
}
