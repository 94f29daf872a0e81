// libFuzzer: the frame decoder and every payload decoder on arbitrary bytes.
// Must never crash, hang, over-read or allocate beyond the frame limits;
// every rejection is a ProtocolError.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/fuzz/fuzz_keys.h"

using namespace mkproto;

// Decodes f as the message its type names (DATA and the other raw-byte
// frames have none). What decodes must re-encode to the same payload, except
// that a message without some of its optional trailing fields gains them
// (VERIFY's scope and overlap, HASH_REQUEST's kind, ACK's applied position,
// FILE_END's mode, BYE's revoke, …): so the re-encoding must start with the
// original bytes, and encoding what it decodes to must change nothing more.
template <class... M>
static void decode_one_of(const Frame& f, std::tuple<M...>*) {
  auto as = [&]<class Msg>() {
    if (f.type != Msg::kType) return;
    Frame again = encode(decode<Msg>(f));
    const bool prefix = again.payload.size() >= f.payload.size() &&
                        std::equal(f.payload.begin(), f.payload.end(), again.payload.begin());
    if (!prefix) __builtin_trap();
    if (again.payload.size() != f.payload.size() && encode(decode<Msg>(again)).payload != again.payload)
      __builtin_trap();
  };
  (as.template operator()<M>(), ...);
}

static void decode_payload(const Frame& f) { decode_one_of(f, static_cast<AllMessages*>(nullptr)); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Random bytes almost never carry a valid XXH3-64, so payload decoders are
  // also fed directly: byte 1 is the frame type, the rest the payload.
  if (size >= 2 && known_type(data[1])) {
    Frame f;
    f.type = static_cast<FrameType>(data[1]);
    f.payload.assign(data + 2, data + size);
    try {
      decode_payload(f);
    } catch (const ProtocolError&) {
    }
  }
  // First byte: how to split the rest into feed() calls (exercises the
  // incremental paths, low 6 bits), whether frames are authenticated (bit 6:
  // tagged with the fuzz key, as after a handshake) and the payload limit
  // (bit 7: the one before authentication).
  size_t step = (data[0] % 64) + 1;
  FrameDecoder d(data[0] & 0x80 ? kMaxPayloadUnauthenticated : kMaxPayload);
  static const SessionKeys keys = fuzz_session_keys();
  if (data[0] & 0x40) d.set_mac_key(keys.host_to_agent);
  try {
    for (size_t at = 1; at < size; at += step) {
      d.feed({data + at, std::min(step, size - at)});
      while (auto f = d.next()) {
        try {
          decode_payload(*f);
        } catch (const ProtocolError&) {
        }
      }
    }
  } catch (const ProtocolError&) {
  }
  return 0;
}
