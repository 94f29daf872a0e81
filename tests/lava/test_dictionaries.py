#!/usr/bin/python3
"""The LAVA v2 device dictionaries of the 4-node test inventory, rendered
with LAVA's own templates exactly as lava-server does and checked with
LAVA's device schema (render_device.py): the golden files that
mkmaster/lab/lava_dictionary_test.cpp compares labfiles' output with, and a
fresh `mkmaster labfiles` run. No root, no QEMU; needs
scripts/setup-lava.sh (~1 s)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "node", "data")
sys.path.insert(0, HERE)
import render_device  # noqa: E402

TYPES, PY = render_device.lava_paths(render_device.DEFAULT_ROOT)
sys.path.insert(0, PY)
NODES = ["calxeda02-01", "calxeda02-02", "calxeda03-01", "calxeda03-02"]
# highbank.conf of the test data sets these; the dictionary carries them over.
DELAYS = {"boot": 300, "test": 100}


class Dictionaries(unittest.TestCase):
    def check_node(self, path, node, mk, inventory):
        text, d = render_device.check(path, TYPES)
        cmds = d["commands"]
        base = f"{mk} power {{}} {node} --inventory {inventory}"
        self.assertEqual(cmds["power_on"], base.format("on"))
        self.assertEqual(cmds["power_off"], base.format("off"))
        self.assertEqual(cmds["hard_reset"], [base.format("off"), base.format("on")])
        self.assertTrue(cmds["connect"].startswith(f"{mk} console {node} --inventory {inventory} "), cmds["connect"])
        self.assertIn("--take-over", cmds["connect"])
        flasher = d["actions"]["deploy"]["methods"]["flasher"]["commands"]
        self.assertEqual(len(flasher), 1)
        self.assertTrue(flasher[0].startswith(f"{mk} push {{IMAGE}} {node} --inventory {inventory} "), flasher)
        self.assertTrue(flasher[0].endswith(" --lava --leave-off"), flasher)
        self.assertEqual(d["character_delays"], DELAYS)
        self.assertIn("minimal", d["actions"]["boot"]["methods"])
        # highbank.conf's connection_command has `-P admin`: none of it here.
        for word in ("ipmitool", "-P ", "admin -P"):
            self.assertNotIn(word, text)

    def test_golden_dictionaries_are_valid_lava_devices(self):
        for node in NODES:
            with self.subTest(node=node):
                self.check_node(os.path.join(DATA, "golden", "lava", "devices", node + ".jinja2"), node,
                                "/usr/bin/mkmaster", "/etc/mkmaster/lab.ini")

    def test_labfiles_output_renders_and_validates(self):
        mk = os.environ.get("MKMASTER_BIN")
        self.assertTrue(mk and os.access(mk, os.X_OK), f"MKMASTER_BIN: {mk!r}")
        with tempfile.TemporaryDirectory(prefix="mkmaster-lavadict-") as out:
            subprocess.run([mk, "labfiles", "--inventory", os.path.join(DATA, "lab.ini"), "--out", out],
                           check=True, stdout=subprocess.DEVNULL, timeout=30)
            inventory = os.path.realpath(os.path.join(DATA, "lab.ini"))
            for node in NODES:
                with self.subTest(node=node):
                    self.check_node(os.path.join(out, "lava", "devices", node + ".jinja2"), node, "mkmaster",
                                    inventory)

    def test_the_schema_refuses_a_broken_device(self):
        # The same check fails for a device LAVA could not use, so the
        # passes above mean something.
        from lava_common.schemas import device as device_schema
        _, d = render_device.check(os.path.join(DATA, "golden", "lava", "devices", NODES[0] + ".jinja2"), TYPES)
        d["timeouts"]["actions"] = "soon"
        with self.assertRaises(Exception):
            device_schema.validate(d)


if __name__ == "__main__":
    unittest.main()
