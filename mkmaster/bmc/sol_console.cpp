#include "mkmaster/bmc/sol_console.h"

#include <fmt/core.h>

#include <regex>
#include <thread>

#include "base/interrupt.h"
#include "mkmaster/bmc/command_template.h"

namespace bmc {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The helper that makes a command idempotent on the node: mkdir is atomic,
// so whoever creates /tmp/.mk/<id> first runs the command; any later copy
// of the same line (re-typed after a reconnect) only reports the recorded
// exit status ("R" = started but no status yet, i.e. interrupted).
// The echoed definition contains "MK-E-$1-", never "MK-E-<id>-<n>", so the
// echo of what we type cannot be mistaken for a result.
constexpr const char* kHelper =
    "__mk(){ mkdir -p /tmp/.mk;if mkdir /tmp/.mk/$1 2>/dev/null;then echo MK-B-$1;eval \"$2\";"
    "echo $? >/tmp/.mk/$1/rc;fi;echo MK-E-$1-$(cat /tmp/.mk/$1/rc 2>/dev/null||echo R);};echo MK-DEF-$((6*7))";

std::string random_tag() {
  std::random_device rd;
  return fmt::format("{:06x}", rd() & 0xffffff);
}

}  // namespace

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

SolConsole::SolConsole(ConsoleOptions options)
    : opt_(std::move(options)),
      transcript_(opt_.transcript_path.empty() ? Transcript() : Transcript(opt_.transcript_path)),
      tag_(random_tag()) {
  for (const auto& s : opt_.secrets) transcript_.add_secret(s);
  for (const auto& a : opt_.connect_argv) is_ipmitool_ |= a.find("ipmitool") != std::string::npos;
}

SolConsole::~SolConsole() { close(); }

void SolConsole::note(const std::string& text) {
  transcript_.event(text);
  if (opt_.log) opt_.log(transcript_.mask(text));
}

void SolConsole::close() {
  if (!proc_) return;
  transcript_.flush();
  // "~." is ipmitool's own escape to end the session cleanly (the BMC frees
  // the payload at once); SIGTERM follows if it does not go. Wait for
  // ipmitool to go (bounded): a SIGTERM right after the escape can kill it
  // before it told the BMC, leaving the payload active for whoever connects
  // next (LAVA's connection_command after `push --leave-off`). An ipmitool
  // that had to be signalled may leave the payload active: then `sol
  // deactivate` frees it, within 5 s.
  const bool exited_before = proc_->exited();
  if (is_ipmitool_ && !exited_before && proc_->write("\r~."))
    for (int i = 0; i < 20 && !proc_->exited(); ++i) (void)proc_->read(100ms);
  const int rc = proc_->terminate(1000ms);
  proc_.reset();
  if (is_ipmitool_ && !exited_before && rc != 0 && !opt_.deactivate_argv.empty()) {
    const auto r = base::run_process(opt_.deactivate_argv, opt_.env, 5000ms);
    note(fmt::format("console did not end with ~. (exit {}): sol deactivate: exit {}", rc, r.exit_code));
  }
}

void SolConsole::append_clean(std::string_view raw) {
  // Drops CR and ANSI escape sequences (ESC [ … final, ESC x) so that
  // patterns see what a human would read.
  for (char c : raw) {
    switch (esc_state_) {
      case 0:
        if (c == '\x1b')
          esc_state_ = 1;
        else if (c != '\r' && c != '\0')
          clean_.push_back(c);
        break;
      case 1:
        esc_state_ = c == '[' ? 2 : 0;
        break;
      case 2:
        if (c >= 0x40 && c <= 0x7e) esc_state_ = 0;
        break;
    }
  }
  // A long-running command's output must not grow the buffer without bound.
  if (clean_.size() > (1u << 20)) clean_.erase(0, clean_.size() - (64u << 10));
}

void SolConsole::pump(std::chrono::milliseconds timeout) {
  // Every wait of the console comes through here at least every 100 ms.
  base::check_interrupt();
  if (!proc_ || lost_) throw ConsoleLost("console session is not open");
  auto chunk = proc_->read(timeout);
  if (!chunk) {
    lost_ = true;
    transcript_.flush();
    proc_->exited();
    throw ConsoleLost(fmt::format("console command exited (status {})", proc_->exit_code()));
  }
  if (chunk->empty()) return;
  last_activity_ = Clock::now();
  transcript_.received(*chunk);
  append_clean(*chunk);
  if (clean_.find("SOL session closed by BMC") != std::string::npos) {
    lost_ = true;
    transcript_.flush();
    throw ConsoleLost("SOL session closed by BMC");
  }
}

bool SolConsole::connect(bool do_resync) {
  for (int attempt = 1;; ++attempt) {
    lost_ = false;
    clean_.clear();
    esc_state_ = 0;
    note(fmt::format("connect (attempt {}): {}", attempt, masked_command(opt_.connect_argv, opt_.secrets)));
    std::string failure;
    try {
      // Inside the try: a console command that cannot start is one more
      // failed attempt, reported with the others.
      proc_ = std::make_unique<PtyProcess>(opt_.connect_argv, opt_.env);
      last_activity_ = Clock::now();
      last_sent_ = '\n';
      if (is_ipmitool_) {
        expect({R"(SOL Session operational)"}, opt_.connect_timeout, "the SOL session to open");
      } else {
        // Other console commands (telnet, ser2net, conmux) have no banner we
        // know: give them a moment to connect.
        for (auto until = Clock::now() + 500ms; Clock::now() < until;) pump(50ms);
      }
      break;
    } catch (const std::runtime_error& e) {
      failure = e.what();
    }
    const bool busy = clean_.find("already active") != std::string::npos;
    note(fmt::format("connect failed: {}{}", failure, busy ? " (payload busy: deactivating)" : ""));
    if (proc_) proc_->terminate(500ms);
    proc_.reset();
    if (attempt >= opt_.max_reconnects)
      throw ConsoleLost(fmt::format("cannot open the console after {} attempts: {}", attempt, failure));
    if (!opt_.deactivate_argv.empty()) {
      auto r = base::run_process(opt_.deactivate_argv, opt_.env, 15000ms);
      note(fmt::format("sol deactivate: exit {}", r.exit_code));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250 * attempt));
  }
  return do_resync && resync();
}

bool SolConsole::reconnect(const std::string& why) {
  if (++reconnects_ > opt_.max_reconnects)
    throw ConsoleLost(fmt::format("console lost {} times (last: {}); giving up", reconnects_, why));
  note(fmt::format("console lost ({}): reconnecting, {} of at most {}", why, reconnects_, opt_.max_reconnects));
  if (proc_) {
    proc_->terminate(500ms);
    proc_.reset();
  }
  // The BMC may still consider the old session active.
  if (!opt_.deactivate_argv.empty()) {
    auto r = base::run_process(opt_.deactivate_argv, opt_.env, 15000ms);
    note(fmt::format("sol deactivate: exit {}", r.exit_code));
  }
  return connect(true);
}

bool SolConsole::resync() {
  // BMCs drop input at the start of a session (ipmi_sim drops the first
  // packet of a new session), and a line may be half typed from before the
  // session died. ^U erases that partial line without running it — at a
  // prompt and while a command runs; the second ^U covers a dropped first
  // one, each sent as its own packet. Only then CR, for a fresh prompt.
  const auto gap = std::max<std::chrono::milliseconds>(delay(), 300ms);
  for (const char* k : {"\x15", "\x15", "\r"}) {
    transcript_.sent(k);
    if (!proc_->write(k)) throw ConsoleLost("console closed while re-synchronising");
    for (auto until = Clock::now() + gap; Clock::now() < until;) pump(20ms);
  }
  last_sent_ = '\r';
  try {
    expect({opt_.prompt}, 3000ms, "the prompt");
    return true;
  } catch (const ConsoleTimeout&) {
    // A command may be running: the prompt comes when it ends. run() copes.
    note("no prompt after re-synchronising (a command may still be running)");
    return false;
  }
}

void SolConsole::send(std::string_view text) {
  if (!proc_ || lost_) throw ConsoleLost("console session is not open");
  transcript_.sent(text);
  const auto d = delay();
  std::string bytes;
  for (char c : text) {
    // ipmitool treats '~' after a newline as its escape character: "~~"
    // sends one literal '~'.
    if (is_ipmitool_ && c == '~' && (last_sent_ == '\r' || last_sent_ == '\n')) bytes += '~';
    bytes += c;
    last_sent_ = c;
  }
  if (d.count() == 0) {
    if (!proc_->write(bytes)) throw ConsoleLost("console closed while sending");
    pump(0ms);
    return;
  }
  for (char c : bytes) {
    if (!proc_->write(std::string_view(&c, 1))) throw ConsoleLost("console closed while sending");
    for (auto until = Clock::now() + d; Clock::now() < until;)
      pump(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
  }
}

ExpectResult SolConsole::expect(const std::vector<std::string>& patterns, std::chrono::milliseconds timeout,
                                const std::string& what) {
  std::vector<std::regex> res;
  for (const auto& p : patterns) res.emplace_back(p, std::regex::ECMAScript);
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (std::size_t i = 0; i < res.size(); ++i) {
      std::smatch m;
      if (std::regex_search(clean_, m, res[i])) {
        ExpectResult r{i, {}};
        for (const auto& g : m) r.groups.push_back(g.str());
        clean_.erase(0, static_cast<std::size_t>(m.position(0) + m.length(0)));
        return r;
      }
    }
    const auto now = Clock::now();
    if (now >= deadline)
      throw ConsoleTimeout(fmt::format("timed out after {} s waiting for {}; last output: {}", timeout.count() / 1000.0,
                                       what, recent_output()));
    if (phase_ == Phase::Shell && opt_.liveness_interval.count() > 0 && now - last_activity_ > opt_.liveness_interval) {
      transcript_.event("liveness probe (^U)");
      last_activity_ = now;
      if (!proc_->write("\x15")) throw ConsoleLost("console closed (liveness probe)");
    }
    pump(std::min<std::chrono::milliseconds>(
        100ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + 1ms));
  }
}

void SolConsole::wait_for_prompt(std::chrono::milliseconds timeout, std::chrono::milliseconds poke) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw ConsoleTimeout(fmt::format("timed out waiting for the prompt; last output: {}", recent_output()));
    try {
      expect({opt_.prompt}, std::min(left, poke), "the prompt");
      return;
    } catch (const ConsoleTimeout&) {
      if (Clock::now() >= deadline) throw;
      if (Clock::now() - last_activity_ >= poke) send("\x15\r");  // a quiet console: ask for a prompt
    } catch (const ConsoleLost& e) {
      if (reconnect(e.what())) return;  // re-synchronised on a prompt
    }
  }
}

void SolConsole::define_helper() {
  for (;;) {
    try {
      send(std::string(kHelper) + "\r");
      expect({R"(MK-DEF-42\n)"}, std::chrono::seconds(10) + delay() * 200, "the shell to define __mk");
      helper_defined_ = true;
      return;
    } catch (const ConsoleLost& e) {
      reconnect(e.what());  // defining twice is harmless
    }
  }
}

int SolConsole::run(const std::string& command, std::chrono::milliseconds timeout) {
  // Exactly once: the line "__mk <id> '<command>'" may be typed any number
  // of times; the node runs the command only for the first copy that
  // arrives whole (mkdir guard) and every copy prints MK-E-<id>-<status>.
  // A half-typed copy is erased by resync()'s ^U and never runs. So after
  // any failure we reconnect and type the same line again; the id is fresh
  // per command (random tag + counter), so stale markers never match.
  const std::string id = fmt::format("{}-{}", tag_, ++counter_);
  const std::string line = "__mk " + id + " " + shell_quote(command) + "\r";
  note(fmt::format("run [{}]: {}", id, command));
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    try {
      if (!helper_defined_) define_helper();
      send(line);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto r = expect({"MK-E-" + id + R"(-([0-9]+|R)\n)", R"(__mk: not found)"}, std::max(left, 1ms),
                      fmt::format("the end of `{}`", command));
      if (r.index == 1) {  // the shell was restarted: define again and retype
        helper_defined_ = false;
        continue;
      }
      if (r.groups[1] == "R")
        throw std::runtime_error(fmt::format("`{}` was interrupted on the node (not re-run)", command));
      const int rc = std::stoi(r.groups[1]);
      note(fmt::format("run [{}]: exit {}", id, rc));
      return rc;
    } catch (const ConsoleLost& e) {
      if (Clock::now() >= deadline) throw;
      reconnect(e.what());
    }
  }
}

void SolConsole::send_secret_line(const std::string& line) {
  transcript_.add_secret(line);
  opt_.secrets.push_back(line);
  send(line + "\r");
}

std::string SolConsole::recent_output(std::size_t max_chars) const {
  std::string tail = clean_.size() > max_chars ? clean_.substr(clean_.size() - max_chars) : clean_;
  return escape_control(transcript_.mask(tail));
}

}  // namespace bmc
