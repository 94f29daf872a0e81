#pragma once
// Command templates from device configs become argv here: the value is
// interpolated first (DeviceConfig), then split like a POSIX shell splits
// words — whitespace, '…', "…", backslash — but nothing else: no variables,
// globs, pipes or redirections, and it is exec'd directly, never via sh.
// So a value from the inventory can never inject a second command.
#include <cstddef>
#include <string>
#include <vector>

namespace bmc {

// Throws ConfigError("<origin>: …") on an unterminated quote or an empty result.
std::vector<std::string> split_command(const std::string& command, const std::string& origin);

// The inventory's IPMI session for a node: what every ipmitool command gets.
struct IpmiSession {
  std::string user;    // -U
  std::string cipher;  // -C (lanplus cipher suite)
  int port = 623;      // -p
};

// An ipmitool argv (argv[0] named ipmitool) with the session options of the
// template — -U, -P, -f, -E, -a, -C, -p, joined ("-Padmin") or not — taken
// out of its options and the inventory's put first: `ipmitool -U <user> -E
// -C <cipher> -p <port> <the template's other options> <command…>`. So the
// LAVA highbank.conf's `-U admin -P admin` never puts a password into argv
// (where /proc/<pid>/cmdline shows it to every user), and the inventory's
// user, password (IPMI_PASSWORD, for -E), cipher and port are the ones
// used. Other commands are returned unchanged. `replaced`, if given, gets
// the removed options, the password masked ("-U admin -P ****"), or "" if
// they were the inventory's own (the built-in templates).
std::vector<std::string> with_inventory_session(const std::vector<std::string>& argv, const IpmiSession& session,
                                                std::string* replaced = nullptr);

// For logs: argv joined with spaces, with the value of ipmitool's -P (also
// "-Psecret") and every occurrence of any string in `secrets` replaced by
// "****". Arguments with spaces are shown quoted.
std::string masked_command(const std::vector<std::string>& argv, const std::vector<std::string>& secrets = {});

// Replaces each non-empty secret in text with "****": a secret of
// kMaskAnywhereLength characters or more wherever it occurs, a shorter one
// only where it stands whole (at word boundaries, or right after "-P"), so a
// short password does not garble the words it happens to be part of.
inline constexpr std::size_t kMaskAnywhereLength = 8;
std::string mask_secrets(std::string text, const std::vector<std::string>& secrets);

}  // namespace bmc
