// target-agent: runs on the node inside the master image and writes disk
// images that mkmaster pushes (see docs/protocol.md).
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "protocol/auth.h"
#include "protocol/version.h"
#include "target-agent/server.h"

int main(int argc, char** argv) {
  CLI::App app{"target-agent: receives disk images from mkmaster and writes them to a block device"};
  app.set_version_flag("--version", fmt::format("target-agent {}", mkproto::kProjectVersion));
  app.require_subcommand(1);
  agent::AgentConfig cfg;
  std::string secret_file;
  bool remove_secret_file = false;
  auto* serve = app.add_subcommand("serve", "listen for mkmaster and serve pushes, files and commands");
  serve->add_option("--listen", cfg.listen, "numeric ADDR:PORT to listen on (names are not resolved)")->required();
  serve->add_option("--secret-file", secret_file, "file holding the session secret ('-': read it from stdin). A host's BYE with "
                    "revoke (the node pipeline's, after its push) makes the agent forget it and exit")
      ->required();
  serve->add_option("--target", cfg.target, "the only device OPEN may write (e.g. /dev/sda)");
  serve->add_flag("--allow-file", cfg.allow_file, "also write regular files as image targets (tests and benchmarks)");
  std::vector<std::string> allow_from;
  serve->add_option("--allow-from", allow_from,
                    "only accept connections from this numeric ADDR or ADDR/BITS (repeatable; default: any)");
  serve->add_flag("--allow-exec", cfg.allow_exec, "offer EXEC (commands as root); refused (not-offered) without it");
  serve->add_option("--files-root", cfg.files_root,
                    "offer GET_FILE/PUT_FILE, confined beneath this directory; refused (not-offered) without it")
      ->check(CLI::ExistingDirectory);
  serve->add_option("--max-file-size", cfg.max_file_size, "largest PUT_FILE in bytes")->capture_default_str();
  serve->add_flag("--allow-setid", cfg.allow_setid, "keep setuid/setgid bits a PUT_FILE asks for (else refused)");
  serve->add_flag("--remove-secret-file", remove_secret_file,
                  "remove --secret-file once read, so the secret lives only in memory (the node pipeline sets it)");
  double handshake_timeout_s = 5;
  serve->add_option("--handshake-timeout", handshake_timeout_s,
                    "seconds a connection may take to authenticate before it is cut")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
  serve->add_option("--max-preauth", cfg.max_preauth,
                    "unauthenticated connections kept at once (the oldest is cut for a new one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  double io_timeout_s = 30, idle_timeout_s = 300;
  serve->add_option("--io-timeout", io_timeout_s,
                    "seconds the host may take no data we send (or send no handshake frame) before we hang up")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  serve->add_option("--idle-timeout", idle_timeout_s,
                    "seconds an authenticated host may stay silent between requests (its session is kept)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  CLI11_PARSE(app, argc, argv);
  cfg.io_timeout = std::chrono::milliseconds(static_cast<int64_t>(io_timeout_s * 1000));
  cfg.idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(idle_timeout_s * 1000));
  cfg.handshake_timeout = std::chrono::milliseconds(static_cast<int64_t>(handshake_timeout_s * 1000));
  ::signal(SIGPIPE, SIG_IGN);
  // One malloc arena for all threads. With one per thread (receiver,
  // writer, delta hasher, read-back), megabyte buffers freed in one arena
  // were not reused by the others and the peak RSS crept up push after
  // push: 12.6 → 16.3 MiB over a flash and two delta reflashes of the
  // bench image; with one arena it stays at 12.5 MiB (same speed).
  ::mallopt(M_ARENA_MAX, 1);
  // Frame, queue and read-back buffers (128 KiB to 4 MiB) always come from
  // mmap and go back to the kernel when freed. glibc otherwise raises its
  // mmap threshold to the size of the first such buffer freed, after which
  // they are carved from the heap, whose holes a relaying agent (receiver,
  // writer, forwarder and read-back threads all freeing out of order) did
  // not reuse: 27.3 MiB of anonymous memory at the head of a 3-node chain,
  // 15.1 MiB with the threshold fixed (loopback, 400 MiB image).
  ::mallopt(M_MMAP_THRESHOLD, 128 << 10);
  try {
    for (const auto& a : allow_from) cfg.allow_from.push_back(agent::parse_address_range(a));
    cfg.key = mkproto::load_key(secret_file);
    // Once in memory the secret file has served its purpose: a later look
    // at the node's tmpfs must not find it.
    if (secret_file != "-" && remove_secret_file && ::unlink(secret_file.c_str()) != 0)
      throw std::runtime_error(fmt::format("remove {} after reading it: {}", secret_file, std::strerror(errno)));
    cfg.name = fmt::format("target-agent {}", mkproto::kProjectVersion);
    agent::Server server(cfg);
    fmt::print(stderr, "target-agent: listening on {}\n", server.address());
    server.run();
    if (server.revoked()) fmt::print(stderr, "target-agent: secret revoked by the host; exiting\n");
    if (server.left_running() > 0) {
      // A connection thread stuck in the kernel: end the process without
      // running destructors under it; the kernel closes the device.
      std::fflush(stderr);
      std::_Exit(0);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "target-agent: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
