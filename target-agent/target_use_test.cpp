// The exclusive target on real loop devices: swap, dm and md holders (of
// the disk or a partition), mounts in another mount namespace, and a mount
// attempted while a session holds the device. Needs root and loop devices;
// each case skips, saying why, where the kernel lacks a piece.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;
using namespace std::chrono_literals;

namespace {

struct Sh {
  int rc;
  std::string out;
};

// A fixed command line of the test's own paths, bounded by timeout(1).
Sh sh(const std::string& cmd) {
  Sh r{-1, ""};
  FILE* p = ::popen(("timeout 30 sh -c '" + cmd + "' 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r;
}

}  // namespace

class TargetUse : public AgentTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices)";
    const std::string img = path("disk.img");
    if (sh("truncate -s 64M " + img).rc != 0) GTEST_SKIP() << "cannot make the image";
    // Two partitions, so holders and mounts of a partition are covered.
    sh("printf \"label: dos\\n,24M\\n,\\n\" | sfdisk -q " + img);
    Sh l = sh("losetup -f --show -P " + img);
    if (l.rc != 0) GTEST_SKIP() << "no loop device: " << l.out;
    loop_ = l.out;
    start(false, loop_);
  }
  void TearDown() override {
    for (auto it = cleanup_.rbegin(); it != cleanup_.rend(); ++it) sh(*it);
    if (!loop_.empty()) sh("losetup -d " + loop_);
    AgentTest::TearDown();
  }
  // /dev/loopNpM; without udev (containers) the node is made from sysfs;
  // where the kernel made no partitions, the whole device.
  std::string part(int n) {
    const std::string dev = loop_ + "p" + std::to_string(n);
    if (std::filesystem::exists(dev)) return dev;
    const std::string name = dev.substr(dev.rfind('/') + 1);
    Sh mm = sh("cat /sys/class/block/" + name + "/dev");
    const size_t colon = mm.out.find(':');
    // No partitions (loop without max_part): the whole device stands in.
    if (mm.rc != 0 || colon == std::string::npos) return loop_;
    const std::string node = path(name);
    if (!std::filesystem::exists(node))
      sh("mknod " + node + " b " + mm.out.substr(0, colon) + " " + mm.out.substr(colon + 1));
    return node;
  }
  // OPEN of the loop device: the ERROR's message, checked for the code.
  std::string refused(ErrorCode code) {
    auto ch = connect();
    Open o;
    o.session = SessionId{7};
    o.path = loop_;
    o.image_size = 4096;
    ch->send(encode(o));
    return expect_error(*ch, code).message;
  }
  std::string loop_;
  std::vector<std::string> cleanup_;
};

TEST_F(TargetUse, ActiveSwapIsRefused) {
  if (Sh m = sh("mkswap " + part(2)); m.rc != 0) GTEST_SKIP() << "mkswap failed: " << m.out;
  Sh on = sh("swapon " + part(2));
  if (on.rc != 0) GTEST_SKIP() << "swapon not permitted here: " << on.out;
  cleanup_.push_back("swapoff " + part(2));
  auto m = refused(ErrorCode::kSwap);
  EXPECT_NE(m.find(" is an active swap area"), std::string::npos) << m;
}

TEST_F(TargetUse, DeviceMapperHolderIsRefused) {
  Sh c = sh("dmsetup create mk-target-use-" + std::to_string(::getpid()) + " --table \"0 2048 linear " + part(1) + " 0\"");
  if (c.rc != 0) GTEST_SKIP() << "no device-mapper in this kernel: " << c.out;
  cleanup_.push_back("dmsetup remove mk-target-use-" + std::to_string(::getpid()));
  auto m = refused(ErrorCode::kHeld);
  EXPECT_NE(m.find("device-mapper mk-target-use"), std::string::npos) << m;
}

TEST_F(TargetUse, MdHolderIsRefused) {
  const std::string md = "/dev/md/mk-target-use-" + std::to_string(::getpid());
  Sh c = sh("mdadm --build " + md + " --level=linear --raid-devices=1 --force " + part(1));
  if (c.rc != 0) GTEST_SKIP() << "no md in this kernel: " << c.out;
  cleanup_.push_back("mdadm --stop " + md);
  auto m = refused(ErrorCode::kHeld);
  EXPECT_NE(m.find("md RAID"), std::string::npos) << m;
}

TEST_F(TargetUse, AMountInAnotherMountNamespaceIsRefused) {
  if (Sh m = sh("mkfs.ext4 -q -F " + part(1)); m.rc != 0) GTEST_SKIP() << "mkfs.ext4 failed: " << m.out;
  std::filesystem::create_directories(path("mnt"));
  // Mounted only inside a private namespace that this process cannot see in
  // /proc/self/mounts; it lives as long as the sleep.
  const std::string ready = path("mounted");
  Sh bg = sh("unshare -m --propagation private sh -c \"mount " + part(1) + " " + path("mnt") + " && touch " + ready +
             " && exec sleep 25\" >/dev/null 2>&1 & echo $!");
  for (int i = 0; i < 100 && !std::filesystem::exists(ready); ++i) std::this_thread::sleep_for(50ms);
  if (!std::filesystem::exists(ready)) GTEST_SKIP() << "cannot mount in a new mount namespace here";
  cleanup_.push_back("kill " + bg.out);
  auto m = refused(ErrorCode::kMounted);
  EXPECT_NE(m.find("in the mount namespace of pid"), std::string::npos) << m;
}

TEST_F(TargetUse, MountingTheDeviceDuringAPushFails) {
  if (Sh m = sh("mkfs.ext4 -q -F " + loop_); m.rc != 0) GTEST_SKIP() << "mkfs.ext4 failed: " << m.out;
  std::filesystem::create_directories(path("mnt"));
  auto ch = connect();
  open(*ch, loop_, 4096);
  // The session holds the device with O_EXCL: the kernel refuses the mount.
  Sh m = sh("mount " + loop_ + " " + path("mnt"));
  if (m.rc == 0) cleanup_.push_back("umount " + path("mnt"));
  EXPECT_NE(m.rc, 0) << "mounted during the push: " << m.out;
  EXPECT_NE(m.out.find("busy"), std::string::npos) << m.out;
  // And another exclusive opener is refused too, while a plain read works.
  EXPECT_LT(::open(loop_.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC), 0);
  EXPECT_EQ(errno, EBUSY);
  bye(*ch);
  int fd = ::open(loop_.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
  EXPECT_GE(fd, 0) << "the device stayed claimed after the session";
  if (fd >= 0) ::close(fd);
}

// The claim belongs to the session, not to one connection: a connection that
// drops mid-push leaves the device exclusively held until the host resumes
// and says BYE, so nothing can mount it in between.
TEST_F(TargetUse, TheClaimOutlivesADroppedConnectionUntilBye) {
  auto busy = [&] {
    const int fd = ::open(loop_.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    return fd < 0 && errno == EBUSY;
  };
  const SessionId id{7};
  {
    auto ch = connect();
    EXPECT_FALSE(open(*ch, loop_, 4096, HolesMode::kZero, id).resumed);
    ASSERT_TRUE(busy());
    ch->shutdown();  // dropped: no BYE
  }
  // The agent notices the drop and closes its connection; the claim stays.
  for (int i = 0; i < 50; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(busy()) << "the device was given back when the connection dropped";
  auto ch = connect();
  EXPECT_TRUE(open(*ch, loop_, 4096, HolesMode::kZero, id).resumed);
  EXPECT_TRUE(busy());
  bye(*ch);
  EXPECT_FALSE(busy()) << "the device stayed claimed after BYE";
  // A new session on the same device takes over the claim of an idle one.
  {
    auto c1 = connect();
    open(*c1, loop_, 4096, HolesMode::kZero, SessionId{8});
    c1->shutdown();
  }
  for (int i = 0; i < 50; ++i) std::this_thread::sleep_for(20ms);
  auto c2 = connect();
  EXPECT_FALSE(open(*c2, loop_, 4096, HolesMode::kZero, SessionId{9}).resumed);
  bye(*c2);
  EXPECT_FALSE(busy());
}
