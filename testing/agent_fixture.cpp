#include "testing/agent_fixture.h"

namespace mktest {

void AgentTest::SetUp() { start(); }

// The server goes before the directory it writes into (a member, removed
// with the fixture).
void AgentTest::TearDown() { server_.reset(); }

void AgentTest::start(bool allow_file, const std::string& target) {
  server_.reset();
  agent::AgentConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.key = key_;
  cfg.allow_file = allow_file;
  cfg.target = target;
  cfg.name = "target-agent test";
  cfg.io_timeout = io_timeout_;
  cfg.idle_timeout = idle_timeout_;
  cfg.handshake_timeout = handshake_timeout_;
  cfg.allow_exec = allow_exec_;
  cfg.files_root = files_root_;
  cfg.allow_from = allow_from_;
  server_ = std::make_unique<agent::Server>(cfg);
  server_->start();
}

std::unique_ptr<mkproto::SocketChannel> AgentTest::connect_raw() {
  return std::make_unique<mkproto::SocketChannel>(mkproto::tcp_connect(server_->address(), std::chrono::seconds(5)),
                                                  std::chrono::seconds(60));
}

std::unique_ptr<mkproto::SocketChannel> AgentTest::connect() {
  auto ch = connect_raw();
  mkproto::client_handshake(*ch, key_, "agent test");
  return ch;
}

mkproto::Opened AgentTest::open(mkproto::Channel& ch, const std::string& target, uint64_t image_size,
                                mkproto::HolesMode holes, const mkproto::SessionId& id) {
  mkproto::Open o;
  o.session = id;
  o.path = target;
  o.image_size = image_size;
  o.holes = holes;
  ch.send(mkproto::encode(o));
  return mkproto::decode<mkproto::Opened>(ch.recv());
}

mkproto::ErrorMsg AgentTest::expect_error(mkproto::Channel& ch, mkproto::ErrorCode code) {
  for (;;) {
    mkproto::Frame f = ch.recv();
    if (f.type == mkproto::FrameType::kAck) continue;
    EXPECT_EQ(f.type, mkproto::FrameType::kError) << mkproto::type_name(f.type);
    auto e = mkproto::decode<mkproto::ErrorMsg>(f);
    EXPECT_EQ(e.code, code) << mkproto::error_name(e.code) << ": " << e.message;
    return e;
  }
}

void AgentTest::bye(mkproto::Channel& ch) {
  ch.send(mkproto::encode(mkproto::Bye{}));
  try {
    for (int i = 0; i < 100; ++i) ch.recv();
  } catch (const std::exception&) {
    return;  // closed by the agent
  }
  FAIL() << "the agent did not close the connection after BYE";
}

void AgentTest::send_data(mkproto::Channel& ch, uint64_t offset, std::span<const uint8_t> data, size_t frame) {
  for (size_t at = 0; at < data.size(); at += frame) {
    auto part = data.subspan(at, std::min(frame, data.size() - at));
    ch.send_raw(mkproto::FrameType::kData, 0, offset + at, part);
  }
}

}  // namespace mktest
