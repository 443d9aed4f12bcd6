# config/: example and demo configurations, the config man page.
dist_noinst_DATA += config/demo.conf
examplesdir = $(docdir)/examples
dist_examples_DATA = config/gatewayd.conf.example
dist_man_MANS += config/gatewayd.conf.5
