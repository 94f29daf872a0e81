#include "mkmaster/bmc/command_template.h"

#include <gtest/gtest.h>

#include "mkmaster/lab/config_error.h"

namespace bmc {

using V = std::vector<std::string>;

TEST(CommandTemplate, SplitsLikeShellWordsWithoutAShell) {
  EXPECT_EQ(split_command("ipmitool -I lanplus  -H 1.2.3.4 sol activate", "t"),
            (V{"ipmitool", "-I", "lanplus", "-H", "1.2.3.4", "sol", "activate"}));
  EXPECT_EQ(split_command(R"(a 'b c' "d \"e\"" f\ g '')", "t"), (V{"a", "b c", "d \"e\"", "f g", ""}));
  // Shell syntax is just text: no command substitution, no second command.
  EXPECT_EQ(split_command("echo $(id); rm -rf x | y", "t"), (V{"echo", "$(id);", "rm", "-rf", "x", "|", "y"}));
  EXPECT_THROW(split_command("a 'b", "t"), lab::ConfigError);
  EXPECT_THROW(split_command("   ", "t"), lab::ConfigError);
}

TEST(CommandTemplate, MasksPasswords) {
  EXPECT_EQ(masked_command({"ipmitool", "-U", "admin", "-P", "admin", "sol", "activate"}),
            "ipmitool -U admin -P **** sol activate");
  EXPECT_EQ(masked_command({"ipmitool", "-Ps3cret", "x"}), "ipmitool -P**** x");
  EXPECT_EQ(masked_command({"tool", "--pw=s3cret", "a b"}, {"s3cret"}), "tool --pw=**** 'a b'");
  EXPECT_EQ(mask_secrets("x s3cret y s3cret", {"s3cret", ""}), "x **** y ****");
}

}  // namespace bmc
