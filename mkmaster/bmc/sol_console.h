#pragma once
// Console automation over a node's serial console (`connection_command`,
// normally `ipmitool … sol activate`, run on a pty).
//
// * expect(): ECMAScript regexes against the output since the last match,
//   with ANSI escape sequences and CRs removed; every byte also goes to the
//   timestamped transcript.
// * send(): typed one character at a time with bootloader_serial_delay_ms
//   in Phase::Bootloader and test_shell_serial_delay_ms in Phase::Shell.
// * A dead session is noticed by the process exiting, by "SOL session closed
//   by BMC", or — since ipmitool only finds out when it next sends — by a
//   liveness probe: in the shell phase, after liveness_interval of silence a
//   ^U (kill-line: harmless at a prompt and while a command runs) is typed.
// * run(): a command runs exactly once even if the session dies while it is
//   typed or running. See docs/inventory.md "Console automation" and
//   run()'s comment for the protocol.
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/log.h"
#include "mkmaster/bmc/node_access.h"
#include "mkmaster/bmc/pty_process.h"
#include "base/subprocess.h"
#include "mkmaster/bmc/transcript.h"

namespace bmc {

struct ConsoleOptions {
  std::vector<std::string> connect_argv;     // connection_command, split
  std::vector<std::string> deactivate_argv;  // sol deactivate (frees a stale session); may be empty
  base::EnvVars env;                               // e.g. IPMI_PASSWORD for -E
  std::vector<std::string> secrets;          // masked in the transcript and logs
  std::chrono::milliseconds bootloader_delay{0};
  std::chrono::milliseconds shell_delay{0};
  std::string prompt = R"((\((initramfs|initrd)\)|[#$]) ?$)";
  std::chrono::milliseconds liveness_interval{3000};
  std::chrono::milliseconds connect_timeout{15000};
  int max_reconnects = 5;
  std::string transcript_path;  // "" = no transcript file
  base::LogFn log;
};

class SolConsole : public Console {
 public:
  explicit SolConsole(ConsoleOptions options);
  ~SolConsole() override;

  // Opens the session (retrying "payload already active" after a deactivate).
  // resync: also type the ^U ^U CR sequence and wait briefly for a prompt.
  // Returns whether a prompt was seen while re-synchronising.
  bool connect(bool resync) override;
  // Closes the old session, opens a new one and re-synchronises on the
  // prompt. Returns whether a prompt was seen (not when a command runs).
  bool reconnect(const std::string& why) override;
  void close() override;

  void set_phase(Phase p) override { phase_ = p; }
  Phase phase() const { return phase_; }

  // Types text with the phase's per-character delay. Throws ConsoleLost.
  void send(std::string_view text) override;
  // Throws ConsoleTimeout (naming `what`) or ConsoleLost.
  ExpectResult expect(const std::vector<std::string>& patterns, std::chrono::milliseconds timeout,
                      const std::string& what) override;
  // Waits for the shell prompt; after `poke` of silence types ^U CR to make
  // the shell print one. Reconnects if the session dies.
  void wait_for_prompt(std::chrono::milliseconds timeout, std::chrono::milliseconds poke) override;

  // Runs a shell command exactly once and returns its exit status.
  // Throws std::runtime_error on timeout or if the command was interrupted.
  int run(const std::string& command, std::chrono::milliseconds timeout) override;

  // Types `line` + CR into a running `read -rs` on the node; the line is
  // registered as a secret first so it never reaches transcript or log.
  void send_secret_line(const std::string& line) override;

  Transcript& transcript() { return transcript_; }
  int reconnects() const { return reconnects_; }
  // Output since the last match (cleaned), for error messages.
  std::string recent_output(std::size_t max_chars = 300) const;

 private:
  void pump(std::chrono::milliseconds timeout);  // read once; throws ConsoleLost
  void append_clean(std::string_view raw);
  bool resync();
  void define_helper();
  void note(const std::string& text);
  std::chrono::milliseconds delay() const { return phase_ == Phase::Shell ? opt_.shell_delay : opt_.bootloader_delay; }

  ConsoleOptions opt_;
  std::unique_ptr<PtyProcess> proc_;
  Transcript transcript_;
  Phase phase_ = Phase::Shell;
  std::string clean_;         // output since the last consumed match
  int esc_state_ = 0;         // ANSI stripper state across chunks
  char last_sent_ = '\n';
  bool lost_ = false;
  bool helper_defined_ = false;
  int reconnects_ = 0;
  std::string tag_;           // random per console: marker ids never repeat across runs
  int counter_ = 0;
  bool is_ipmitool_ = false;
  std::chrono::steady_clock::time_point last_activity_;
};

// Single-quotes s for a POSIX shell ('…', with ' as '\'').
std::string shell_quote(const std::string& s);

}  // namespace bmc
