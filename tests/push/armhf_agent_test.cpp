// The host's push against the *static armhf* target-agent running under
// qemu-arm-static (-cpu cortex-a9): the same wire protocol across
// architectures, with drops and resume, and a repair after verify. The host preset builds that agent
// (MKMASTER_BUILD_ARMHF_AGENT); other builds skip and say why.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "testing/fault_proxy.h"
#include "testing/push_fixture.h"

extern char** environ;

using namespace mktest;

namespace {

std::string armhf_agent() {
  if (const char* e = std::getenv("MKMASTER_ARMHF_AGENT")) return e;
  return MKMASTER_ARMHF_AGENT;
}

// A free loopback port (bound, then released for the agent to take).
std::string free_address() {
  int fd = mkproto::tcp_listen("127.0.0.1:0");
  std::string a = mkproto::local_address(fd);
  ::close(fd);
  return a;
}

class QemuAgent {
 public:
  QemuAgent(const std::string& binary, const std::string& secret_file) : address_(free_address()) {
    std::vector<std::string> args = {"/usr/bin/qemu-arm-static", "-cpu", "cortex-a9", binary, "serve", "--listen",
                                     address_, "--secret-file", secret_file, "--allow-file"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    // Wait until it listens (emulated start-up takes a moment).
    for (int i = 0; i < 200 && pid_ > 0; ++i) {
      try {
        ::close(mkproto::tcp_connect(address_, std::chrono::milliseconds(200)));
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  ~QemuAgent() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& address() const { return address_; }
  bool running() const { return pid_ > 0; }

 private:
  std::string address_;
  pid_t pid_ = -1;
};

}  // namespace

class ArmhfAgent : public PushTest {};

TEST_F(ArmhfAgent, PushDeltaAndResumeAgainstTheQemuAgent) {
  std::string bin = armhf_agent();
  if (::access(bin.c_str(), X_OK) != 0)
    GTEST_SKIP() << "no armhf agent at " << bin << " (built by the host preset, MKMASTER_BUILD_ARMHF_AGENT=ON; "
                 << "or set MKMASTER_ARMHF_AGENT)";
  if (::access("/usr/bin/qemu-arm-static", X_OK) != 0) GTEST_SKIP() << "qemu-arm-static (qemu-user-static) not installed";
  write_file(path("secret"), std::string("armhf-secret-01234"));
  QemuAgent agent(bin, path("secret"));
  ASSERT_TRUE(agent.running());
  auto image = make_sparse_image(12 << 20, 21);
  write_file(path("img.raw"), image);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0x33));
  auto o = options(path("img.raw"), path("disk"));
  o.agent.key = mkproto::load_key(path("secret"));
  o.agent.agent = agent.address();
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
  // Delta + zstd after a small change, through a proxy that drops twice.
  image[3 << 20] ^= 1;
  write_file(path("img.raw"), image);
  FaultProxy proxy(agent.address(), {Fault::drop(200), Fault::drop(300000)});
  o.agent.agent = proxy.address();
  o.delta = true;
  o.compress = true;
  auto r2 = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r2.verified) << r2.verify_message;
  // + the boot sectors wiped at OPEN, twice: a drop while they stream re-sends what was in flight
  EXPECT_LE(r2.bytes_sent, (64u << 10) + 2 * ((1u << 20) + (16u << 10) + 512));
  // A block corrupted behind the emulated agent's back is repaired.
  o.agent.agent = agent.address();
  o.delta = o.compress = false;
  const uint64_t bad = (7u << 20) + 3;
  bool flipped = false;
  o.verify_overlap = mkproto::VerifyOverlap::kAfterFinish;  // the disk changes between FINISHED and VERIFY
  o.on_progress = [&](const push::Progress& p) {
    if (p.kind != push::Progress::Kind::kVerify || flipped) return;
    flipped = true;
    int fd = ::open(path("disk").c_str(), O_RDWR);
    uint8_t b = static_cast<uint8_t>(image[bad] ^ 0x20);
    EXPECT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(bad)), 1);
    ::close(fd);
  };
  auto r3 = push::push_image(o);
  o.on_progress = {};
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r3.verified) << r3.verify_message;
  EXPECT_EQ(r3.repaired, (std::vector<std::pair<uint64_t, uint64_t>>{{7u << 20, 8u << 20}}));
  // Wrong secret: refused by the emulated agent too.
  o.agent.key = mkproto::derive_key("not the secret of the qemu agent");
  EXPECT_THROW(push::push_image(o), mkproto::ProtocolError);
}
