# config/: example and demo configurations, the config man page.
dist_noinst_DATA += config/demo.conf
examplesdir = $(docdir)/examples
dist_examples_DATA = config/gatewayd.conf.example
dist_man_MANS += config/gatewayd.conf.5
# An example firmware_command (gatewayd.conf(5), FIRMWARE COMMAND HOOK).
dist_examples_SCRIPTS = config/firmware-hook-example.sh
