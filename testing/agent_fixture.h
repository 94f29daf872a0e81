#pragma once
// An in-process agent on 127.0.0.1 and a raw mkproto client, for the
// protocol tests (run natively and under qemu-arm-static).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "protocol/channel.h"
#include "protocol/handshake.h"
#include "target-agent/server.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace mktest {

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // (Re)starts the agent with these settings.
  void start(bool allow_file = true, const std::string& target = "");
  std::unique_ptr<mkproto::SocketChannel> connect();  // authenticated
  std::unique_ptr<mkproto::SocketChannel> connect_raw();  // no handshake
  std::string path(const std::string& name) const { return dir_.file(name); }
  // OPEN, expecting OPENED.
  mkproto::Opened open(mkproto::Channel& ch, const std::string& target, uint64_t image_size,
                       mkproto::HolesMode holes = mkproto::HolesMode::kZero,
                       const mkproto::SessionId& id = mkproto::SessionId{1});
  // Next frame must be an ERROR with this code; returns it.
  mkproto::ErrorMsg expect_error(mkproto::Channel& ch, mkproto::ErrorCode code);
  // BYE, then waits until the agent has closed the connection (and so
  // released its session), as mkmaster push does before it returns.
  void bye(mkproto::Channel& ch);
  // Sends data as DATA frames of `frame` bytes at `offset`.
  void send_data(mkproto::Channel& ch, uint64_t offset, std::span<const uint8_t> data, size_t frame = 256 << 10);

  mkproto::Key key_ = mkproto::derive_key("test secret for the agent tests");
  // The agent's deadlines for the next start() (AgentConfig's defaults).
  std::chrono::milliseconds io_timeout_{30000}, idle_timeout_{300000}, handshake_timeout_{5000};
  // What the next start() offers (AgentConfig's defaults: nothing).
  bool allow_exec_ = false;
  std::string files_root_;
  std::vector<agent::AddressRange> allow_from_;
  TempDir dir_{"agent-test"};
  std::unique_ptr<agent::Server> server_;
};

}  // namespace mktest
