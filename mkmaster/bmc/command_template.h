#pragma once
// Command templates from device configs become argv here: the value is
// interpolated first (DeviceConfig), then split like a POSIX shell splits
// words — whitespace, '…', "…", backslash — but nothing else: no variables,
// globs, pipes or redirections, and it is exec'd directly, never via sh.
// So a value from the inventory can never inject a second command.
#include <string>
#include <vector>

namespace bmc {

// Throws ConfigError("<origin>: …") on an unterminated quote or an empty result.
std::vector<std::string> split_command(const std::string& command, const std::string& origin);

// For logs: argv joined with spaces, with the value of ipmitool's -P (also
// "-Psecret") and every occurrence of any string in `secrets` replaced by
// "****". Arguments with spaces are shown quoted.
std::string masked_command(const std::vector<std::string>& argv, const std::vector<std::string>& secrets = {});

// Replaces every occurrence of each non-empty secret in text with "****".
std::string mask_secrets(std::string text, const std::vector<std::string>& secrets);

}  // namespace bmc
