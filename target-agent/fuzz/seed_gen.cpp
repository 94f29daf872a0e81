// Writes the seed corpus of session_fuzz: frame sequences of a real push
// (open, place, finish, verify, delta hashes, repair, resume, refusals).
#include <cstdio>
#include <string>
#include <vector>

#include "protocol/messages.h"

using namespace mkproto;

namespace {

struct Seq {
  std::vector<uint8_t> bytes;
  Seq& add(FrameType t, uint64_t offset, const std::vector<uint8_t>& payload, uint8_t flags = 0) {
    const uint64_t o = offset / 4096;
    bytes.insert(bytes.end(), {static_cast<uint8_t>(t), flags, uint8_t(o), uint8_t(o >> 8), uint8_t(payload.size()),
                               uint8_t(payload.size() >> 8)});
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    return *this;
  }
  template <class M>
  Seq& msg(const M& m, uint64_t offset = 0) {
    Frame f = encode(m);
    return add(f.type, offset ? offset : f.offset, f.payload);
  }
};

Open open_of(uint64_t size, HolesMode holes = HolesMode::kZero) {
  Open o;
  o.session = SessionId{3};
  o.image_size = size;
  o.holes = holes;
  return o;
}

void write(const std::string& dir, const std::string& name, const Seq& s) {
  FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
  if (!f) return;
  std::fwrite(s.bytes.data(), 1, s.bytes.size(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  const std::vector<uint8_t> block(4096, 0x5a);
  write(dir, "flash-verify", Seq{}
                                 .msg(TargetQuery{})
                                 .msg(open_of(16384))
                                 .add(FrameType::kData, 0, block)
                                 .msg(Zero{4096, 4096}, 4096)
                                 .msg(Skip{8192, 4096, SkipReason::kDontCare}, 8192)
                                 .add(FrameType::kData, 12288, block)
                                 .msg(Sync{})
                                 .msg(Finish{16384})
                                 .msg(Verify{4096, VerifyScope::kWritten})
                                 .msg(Bye{}));
  write(dir, "delta-hashes", Seq{}
                                 .msg(open_of(8192))
                                 .msg(HashRequest{0, 8192, 4096})
                                 .msg(Skip{0, 4096, SkipReason::kKeep})
                                 .add(FrameType::kData, 4096, block)
                                 .msg(Finish{8192})
                                 .msg(Verify{4096, VerifyScope::kAll}));
  write(dir, "repair", Seq{}
                           .msg(open_of(8192))
                           .add(FrameType::kData, 0, block)
                           .add(FrameType::kData, 4096, block)
                           .msg(Finish{8192})
                           .msg(Repair{4096, 4096}, 4096)
                           .add(FrameType::kData, 4096, block)
                           .msg(Finish{8192})
                           .msg(Verify{4096, VerifyScope::kWritten}));
  write(dir, "unknown-size", Seq{}.msg(open_of(kImageSizeUnknown)).add(FrameType::kData, 0, block).msg(Finish{4096}));
  write(dir, "refusals", Seq{}
                             .add(FrameType::kData, 0, block)
                             .msg(GetFile{"/etc/passwd"})
                             .msg(ExecMsg{{"true"}, 0})
                             .msg(open_of(4096))
                             .add(FrameType::kData, 8192, block)
                             .msg(Bye{true}));
  return 0;
}
