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

TEST(CommandTemplate, MaskingASecretMadeOfStarsEnds) {
  // "****" is the mask: a secret that is part of it must neither loop nor
  // grow the text each time it is masked again (console, then node log).
  EXPECT_EQ(mask_secrets("pw=* ok", {"*"}), "pw=**** ok");
  EXPECT_EQ(mask_secrets("pw=** ok", {"**"}), "pw=**** ok");
  EXPECT_EQ(mask_secrets("pw=******", {"***"}), "pw=****");
  std::string t = "user typed ** then **";
  for (int i = 0; i < 20; ++i) t = mask_secrets(t, {"**", "*", "****"});
  EXPECT_EQ(t, "user typed **** then ****");
  EXPECT_EQ(mask_secrets("a*b*c", {"*", "*"}), "a****b****c");
  EXPECT_EQ(mask_secrets("s3cret and s3cret-long", {"s3cret", "s3cret-long"}), "**** and ****");
}

TEST(CommandTemplate, AShortPasswordIsMaskedOnlyWhereItStandsWhole) {
  // A one-letter password leaves the words it is part of alone...
  EXPECT_EQ(mask_secrets("calxeda02-01: power on as admin", {"a"}), "calxeda02-01: power on as admin");
  // ...and is masked as a token, as a value, and after ipmitool's -P.
  EXPECT_EQ(mask_secrets("pw a, IPMI_PASSWORD=a -Pa 'a'", {"a"}), "pw ****, IPMI_PASSWORD=**** -P**** '****'");
  EXPECT_EQ(mask_secrets("a", {"a"}), "****");
  // The seed's "admin": a word of its own in "-U admin", not in "administrator".
  EXPECT_EQ(mask_secrets("-U admin -P admin; administrator", {"admin"}), "-U **** -P ****; administrator");
  // A secret that begins or ends with punctuation needs no boundary there.
  EXPECT_EQ(mask_secrets("x!ab!y", {"!ab!"}), "x****y");
  // From kMaskAnywhereLength characters on, every occurrence is masked,
  // glued to other text or not.
  EXPECT_EQ(mask_secrets("user:longpass1@bmc xlongpass1y", {"longpass1"}), "user:****@bmc x****y");
  EXPECT_EQ(mask_secrets("user:s3cr3t7@bmc", {"s3cr3t7"}), "user:****@bmc");  // 7: '@' and ':' are boundaries
  EXPECT_EQ(mask_secrets("xs3cr3t7", {"s3cr3t7"}), "xs3cr3t7");
}

TEST(CommandTemplate, IpmitoolGetsTheInventorysSessionNotTheTemplates) {
  const IpmiSession inv{"lava", "3", 6230};
  std::string replaced;
  // The LAVA highbank.conf's connection_command.
  EXPECT_EQ(with_inventory_session(split_command("ipmitool -I lanplus -U admin -P admin -H 10.0.0.9 sol activate", "t"),
                                   inv, &replaced),
            (V{"ipmitool", "-U", "lava", "-E", "-C", "3", "-p", "6230", "-I", "lanplus", "-H", "10.0.0.9", "sol",
               "activate"}));
  EXPECT_EQ(replaced, "-U admin -P ****");
  // Joined forms, -f, -E, -C and -p are replaced too; the command's own
  // words (after the first non-option) are left alone.
  EXPECT_EQ(with_inventory_session({"/usr/bin/ipmitool", "-Padmin", "-Uroot", "-f", "/pw", "-E", "-C17", "-p", "623",
                                    "-H", "h", "raw", "-P", "x"},
                                   inv, &replaced),
            (V{"/usr/bin/ipmitool", "-U", "lava", "-E", "-C", "3", "-p", "6230", "-H", "h", "raw", "-P", "x"}));
  EXPECT_EQ(replaced, "-P**** -Uroot -f /pw -E -C17 -p 623");
  // Bundles are read as getopt reads them: -v kept, -P taken out.
  EXPECT_EQ(with_inventory_session({"ipmitool", "-vPadmin", "-vE", "-Ilanplus", "sol", "activate"}, inv, &replaced),
            (V{"ipmitool", "-U", "lava", "-E", "-C", "3", "-p", "6230", "-v", "-v", "-I", "lanplus", "sol", "activate"}));
  EXPECT_EQ(replaced, "-P**** -E");
  // Options that already say what the inventory says are not "replaced".
  with_inventory_session({"ipmitool", "-C", "3", "-p", "6230", "-U", "lava", "-E", "chassis"}, inv, &replaced);
  EXPECT_EQ(replaced, "");
  // Not ipmitool: untouched.
  EXPECT_EQ(with_inventory_session({"conmux-console", "-P", "x"}, inv, &replaced), (V{"conmux-console", "-P", "x"}));
  EXPECT_EQ(replaced, "");
}

}  // namespace bmc
