#pragma once
// The two things the flash pipeline needs from a node's BMC, as narrow
// interfaces: power and boot device (IPMI chassis control), and the serial
// console (SOL). The real ones are NodeControl (ipmi.h) and SolConsole
// (sol_console.h); tests drive the pipeline with fakes.
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bmc {

enum class PowerAction { On, Off, Reset, Status };
enum class BootDevice { Pxe, Disk };
enum class Phase { Bootloader, Shell };

const char* to_string(PowerAction a);
const char* to_string(BootDevice d);

class PowerControl {
 public:
  virtual ~PowerControl() = default;
  // Status returns "on" or "off". Throws std::runtime_error naming node and
  // action on failure.
  virtual std::string power(PowerAction action) = 0;
  virtual void bootdev(BootDevice device) = 0;
  // Cleanup after an interrupt: from now on each action is tried once and
  // given at most `limit`, so the cleanup as a whole has a deadline.
  virtual void limit_for_cleanup(std::chrono::milliseconds limit) { (void)limit; }
};

struct ExpectResult {
  std::size_t index = 0;            // which pattern matched
  std::vector<std::string> groups;  // [0] = whole match, then sub-matches
};

// The session died (the BMC closed it, ipmitool exited): reconnect() and
// try again.
struct ConsoleLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// What was expected did not come in time.
struct ConsoleTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A shell on the node's serial console. Failures are ConsoleLost or
// ConsoleTimeout.
class Console {
 public:
  virtual ~Console() = default;
  // Every wait of a Console ends with base::Interrupted (base/interrupt.h)
  // soon after SIGINT/SIGTERM, so the pipeline can clean up.
  // Opens the session. resync: also bring a prompt up. Returns whether a
  // prompt was seen.
  virtual bool connect(bool resync) = 0;
  virtual bool reconnect(const std::string& why) = 0;
  // Ends the session so that the BMC's SOL payload is free again (a new
  // `sol activate` is accepted); bounded, never waits for a signal.
  virtual void close() = 0;
  // The per-character typing delay follows the phase (bootloader or shell).
  virtual void set_phase(Phase p) = 0;
  virtual void send(std::string_view text) = 0;
  // Types `line` into a `read -rs` on the node; never logged.
  virtual void send_secret_line(const std::string& line) = 0;
  virtual ExpectResult expect(const std::vector<std::string>& patterns, std::chrono::milliseconds timeout,
                              const std::string& what) = 0;
  // Waits for the shell prompt, typing ^U CR after `poke` of silence.
  virtual void wait_for_prompt(std::chrono::milliseconds timeout, std::chrono::milliseconds poke) = 0;
  // Runs a shell command exactly once; returns its exit status.
  virtual int run(const std::string& command, std::chrono::milliseconds timeout) = 0;
};

}  // namespace bmc
