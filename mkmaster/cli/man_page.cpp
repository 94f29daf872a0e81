#include "mkmaster/cli/man_page.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <cctype>
#include <iterator>

namespace cli {
namespace {

// What --help cannot say: where mkmaster reads and writes, what it reads
// from the environment, how it ends. Kept next to the generator so every
// page build carries them (docs/packaging.md).
struct Entry {
  const char* term;
  const char* text;
};

constexpr Entry kFiles[] = {
    {"PREFIX/share/mkmaster/hooks/master.manifest",
     "the default image content (the LAVA Highbank master-extras hook as a manifest); hook-base.manifest is what "
     "--hook builds on"},
    {"PREFIX/share/mkmaster/pxelinux/default-arm.in", "the template of each board's master/pxelinux.cfg/default-arm-<board>"},
    {"PREFIX/share/mkmaster/boards/", "the board profiles (highbank.ini, midway.ini)"},
    {"PREFIX/share/mkmaster/scripts/fetch-armhf-sysroot.sh", "what mkmaster fetch-sysroot runs, with its package list"},
    {"PREFIX/lib/mkmaster/target-agent", "the static armhf agent embedded in every image as /sbin/target-agent"},
    {"/var/cache/mkmaster/ (root), $XDG_CACHE_HOME/mkmaster/ or ~/.cache/mkmaster/ (other users)",
     "the cache: armhf/debs and armhf/sysroot (mkmaster fetch-sysroot), deflate/ (compressed initrd segments)"},
    {"out/tftp/", "what mkmaster build writes by default: master/pxelinux.cfg/default-arm-highbank, "
                  "master/files/highbank/{vmlinuz,initrd.gz,highbank.dtb}"},
};

constexpr Entry kEnvironment[] = {
    {"MKMASTER_DATA_DIR", "the data directory (as --data-dir, which wins); default: PREFIX/share/mkmaster, found "
                          "from the executable's own path (mkmaster paths shows it)"},
    {"MKMASTER_CACHE", "the cache directory (see FILES)"},
    {"MKMASTER_INVENTORY", "the lab inventory, where a command takes --inventory"},
    {"SOURCE_DATE_EPOCH", "the time of the image's version stamp (/sbin/lava-master-image-info) and of every file in "
                          "the initrd; unset, the newest file taken from the armhf root, so two builds of the same "
                          "inputs are byte-identical either way"},
    {"XDG_CACHE_HOME, HOME", "where a user other than root keeps the cache"},
    {"the variables named by password_env in the inventory",
     "BMC passwords; mkmaster hands them to ipmitool as IPMI_PASSWORD (-E), never in argv"},
};

constexpr Entry kExitStatus[] = {
    {"0", "success"},
    {"1", "an error, printed as \"mkmaster: error: MESSAGE\" naming the file and line, or the node and the step; "
          "with several nodes, 1 when any of them failed"},
    {"100-115", "the command line was not understood (CLI11's codes; 106: a required option is missing, 109: an "
                "unknown argument)"},
    {"N", "mkmaster exec and mkmaster console end with the status of the command they ran"},
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string header(const std::string& name, const std::string& version) {
  return fmt::format(".TH {} 1 \"\" \"mkmaster {}\" \"mkmaster manual\"\n", upper(roff_escape(name)), version);
}

std::vector<const CLI::Option*> visible_options(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) { return !o->get_group().empty(); });
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* a) { return !a->get_group().empty(); });
}

// "--out, -o DIR" for an option, "NODE…" for a positional.
std::string option_term(const CLI::Option& o) {
  if (o.get_positional()) return fmt::format("\\fI{}\\fR", roff_escape(o.get_name()));
  std::vector<std::string> names;
  for (const auto& l : o.get_lnames()) names.push_back("\\fB" + roff_escape("--" + l) + "\\fR");
  for (const auto& s : o.get_snames()) names.push_back("\\fB" + roff_escape("-" + s) + "\\fR");
  std::string t = fmt::format("{}", fmt::join(names, ", "));
  if (o.get_expected_max() > 0) t += " \\fI" + roff_escape(o.get_type_name()) + "\\fR";
  return t;
}

std::string option_text(const CLI::Option& o) {
  std::string t = roff_escape(o.get_description());
  if (!o.get_default_str().empty()) t += roff_escape(fmt::format(" (default: {})", o.get_default_str()));
  if (o.get_required()) t += " (required)";
  if (!o.get_envname().empty()) t += " (environment: " + roff_escape(o.get_envname()) + ")";
  return t;
}

std::string options_section(const CLI::App& app) {
  std::string s;
  for (const auto* o : visible_options(app)) s += fmt::format(".TP\n{}\n{}\n", option_term(*o), option_text(*o));
  return s;
}

std::string entries(const char* title, const Entry* b, const Entry* e) {
  std::string s = fmt::format(".SH {}\n", title);
  for (; b != e; ++b) s += fmt::format(".TP\n\\fB{}\\fR\n{}\n", roff_escape(b->term), roff_escape(b->text));
  return s;
}

std::string synopsis_of(const CLI::App& sub) {
  std::string s = "\\fBmkmaster\\fR [\\fIGLOBAL OPTIONS\\fR] \\fB" + roff_escape(sub.get_name()) + "\\fR [\\fIOPTIONS\\fR]";
  for (const auto* o : visible_options(sub)) {
    if (!o->get_positional()) continue;
    const std::string n = "\\fI" + roff_escape(o->get_name()) + "\\fR" + (o->get_items_expected_max() > 1 ? "..." : "");
    s += o->get_required() ? " " + n : " [" + n + "]";
  }
  return s;
}

ManPage top_page(const CLI::App& top, const std::string& version) {
  std::string t = header("mkmaster", version);
  t += ".SH NAME\nmkmaster \\- " + roff_escape(top.get_description().substr(top.get_description().find(':') + 2)) + "\n";
  t += ".SH SYNOPSIS\n\\fBmkmaster\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n";
  t += ".SH DESCRIPTION\n" + roff_escape(top.get_description()) +
       ".\nEach command has its own page, \\fBmkmaster\\-\\fICOMMAND\\fR(1); \\fBmkmaster \\fICOMMAND\\fB \\-\\-help\\fR "
       "prints the same options.\n";
  t += ".SH GLOBAL OPTIONS\n" + options_section(top);
  t += ".SH COMMANDS\n";
  for (const auto* s : visible_subcommands(top))
    t += fmt::format(".TP\n\\fB{}\\fR\n{} (\\fBmkmaster\\-{}\\fR(1))\n", roff_escape(s->get_name()),
                     roff_escape(s->get_description()), roff_escape(s->get_name()));
  t += entries("FILES", std::begin(kFiles), std::end(kFiles));
  t += ".PP\nPREFIX is the directory above the one holding the mkmaster executable (/usr for the Debian package).\n";
  t += entries("ENVIRONMENT", std::begin(kEnvironment), std::end(kEnvironment));
  t += entries("EXIT STATUS", std::begin(kExitStatus), std::end(kExitStatus));
  t += ".SH SEE ALSO\n";
  std::vector<std::string> see;
  for (const auto* s : visible_subcommands(top)) see.push_back("\\fBmkmaster\\-" + roff_escape(s->get_name()) + "\\fR(1)");
  see.push_back("\\fBipmitool\\fR(1)");
  see.push_back("\\fBdnsmasq\\fR(8)");
  t += fmt::format("{}\n.PP\n/usr/share/doc/mkmaster/ (README.md and docs/)\n", fmt::join(see, ",\n"));
  return {"mkmaster.1", t};
}

ManPage sub_page(const CLI::App& sub, const std::string& version) {
  const std::string name = "mkmaster-" + sub.get_name();
  std::string t = header(name, version);
  t += ".SH NAME\n" + roff_escape(name) + " \\- " + roff_escape(sub.get_description()) + "\n";
  t += ".SH SYNOPSIS\n" + synopsis_of(sub) + "\n";
  t += ".SH DESCRIPTION\n" + roff_escape(sub.get_description()) + ".\n";
  if (!sub.get_footer().empty()) t += ".PP\n" + roff_escape(sub.get_footer()) + "\n";
  t += ".SH OPTIONS\n" + options_section(sub);
  t += ".PP\nThe global options (\\fB\\-\\-data\\-dir\\fR), FILES and ENVIRONMENT are in \\fBmkmaster\\fR(1).\n";
  t += ".SH EXIT STATUS\n0 on success, 1 on an error (\\fBmkmaster\\fR(1) lists all codes).\n";
  t += ".SH SEE ALSO\n\\fBmkmaster\\fR(1)\n";
  return {name + ".1", t};
}

}  // namespace

std::string roff_escape(const std::string& s) {
  std::string out;
  bool line_start = true;
  for (char c : s) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

std::vector<ManPage> man_pages(const CLI::App& top, const std::string& version) {
  std::vector<ManPage> pages{top_page(top, version)};
  for (const auto* s : visible_subcommands(top)) pages.push_back(sub_page(*s, version));
  return pages;
}

}  // namespace cli
