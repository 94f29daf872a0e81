// Writes the seed corpus (valid frames of every kind) into corpus/<target>.
// Run by run.sh when the corpus directory is empty; the result is committed.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/auth.h"
#include "protocol/messages.h"
#include "protocol/fuzz/fuzz_keys.h"

using namespace mkproto;

// Each stream twice: as handshake-style XXH3-checked frames, and as v2
// authenticated frames sealed with the fuzz key (bit 6 of the first byte).
static void put(const std::string& dir, const std::string& name, uint8_t first, const std::vector<Frame>& frames) {
  for (bool sealed : {false, true}) {
    std::vector<uint8_t> out{static_cast<uint8_t>(sealed ? (first & 0x3f) | 0x40 : first & ~0x40)};
    FrameEncoder enc;
    if (sealed) enc.set_mac_key(fuzz_session_keys().host_to_agent);
    for (const Frame& f : frames) {
      auto b = enc.encode(f.type, f.flags, f.offset, f.payload);
      out.insert(out.end(), b.begin(), b.end());
    }
    std::ofstream(dir + "/" + name + (sealed ? "-sealed" : ""), std::ios::binary)
        .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  }
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  std::string frames = argv[1], hs = argv[2];
  Frame data;
  data.type = FrameType::kData;
  data.offset = 4096;
  data.payload.assign(100, 7);
  put(frames, "open", 5, {encode(Open{SessionId{1}, "/dev/sda", 1 << 20, HolesMode::kZero})});
  put(frames, "data-zero-skip", 17, {data, encode(Zero{8192, 4096}), encode(Skip{12288, 4096, SkipReason::kDontCare})});
  put(frames, "hashes", 3, {encode(HashRequest{0, 1 << 20, 65536}), encode(Hashes{0, {1, 2, 3}})});
  put(frames, "verify", 9, {encode(Verify{1 << 20}), encode(Digests{0, {Digest128{}}}), encode(VerifyEnd{})});
  put(frames, "verify-scope", 9, {encode(Verify{1 << 20, VerifyScope::kWritten})});
  put(frames, "files", 40, {encode(GetFile{"/etc/hostname"}), encode(PutFile{"/tmp/x", 3, 0644}),
                            encode(FileEnd{3, Digest128{}})});
  put(frames, "exec", 1, {encode(ExecMsg{{"sh", "-c", "true"}, 5}), encode(ExitMsg{0, false, false})});
  put(frames, "target", 2, {encode(TargetInfo{"/dev/sda", TargetKind::kBlockDevice, 1 << 30, 512, true, "/"}),
                            encode(ErrorMsg{ErrorCode::kMounted, 0, "mounted"})});
  Hello h;
  h.client = "mkmaster";
  // Handshake inputs are raw frame streams (no leading split byte).
  auto raw = [&](const std::string& name, std::vector<Frame> fs) {
    std::vector<uint8_t> out;
    uint32_t seq = 0;
    for (Frame f : fs) {
      f.seq = seq++;
      auto b = encode_frame(f);
      out.insert(out.end(), b.begin(), b.end());
    }
    std::ofstream(hs + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(out.data()), out.size());
  };
  raw("hello", {encode(h)});
  raw("hello-auth", {encode(h), encode(Auth{})});
  raw("open-first", {encode(Open{})});
  Hello v1 = h;
  v1.min_version = v1.max_version = 1;
  raw("hello-v1-only", {encode(v1)});
  return 0;
}
