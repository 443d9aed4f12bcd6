# lwm2m/: the LwM2M client engine on libcoap, data model, codecs, object table.
noinst_LTLIBRARIES += lwm2m/libgwlwm2m.la
lwm2m_libgwlwm2m_la_SOURCES = \
	lwm2m/lwm_types.c lwm2m/lwm_types.h \
	lwm2m/codec.c lwm2m/codec.h \
	lwm2m/codec_text.c lwm2m/codec_tlv.c lwm2m/codec_senml_json.c lwm2m/codec_link.c \
	lwm2m/codec_cbor.c lwm2m/codec_senml_cbor.c lwm2m/codec_lwm2m_json.c \
	lwm2m/codec_lwm2m_cbor.c lwm2m/senml.c lwm2m/senml.h lwm2m/cbor_io.c lwm2m/cbor_io.h \
	lwm2m/objdefs.c lwm2m/objdefs.h lwm2m/objdefs_table.c lwm2m/objdefs_ddf.c \
	lwm2m/model.c lwm2m/model.h lwm2m/acl.c lwm2m/acl.h \
	lwm2m/client.c lwm2m/client.h lwm2m/client_internal.h \
	lwm2m/engine.c lwm2m/engine.h lwm2m/block1.c lwm2m/block1.h lwm2m/oversize.c lwm2m/oversize.h \
	lwm2m/ops.c lwm2m/attrs.c lwm2m/observe.c lwm2m/observe.h \
	lwm2m/security.c lwm2m/security.h lwm2m/dtls_poll.c lwm2m/dtls_poll.h lwm2m/uri.c lwm2m/uri.h \
	lwm2m/store.c lwm2m/store.h lwm2m/send.c lwm2m/send.h \
	lwm2m/bootstrap.c lwm2m/bootstrap.h
lwm2m_libgwlwm2m_la_CFLAGS = $(AM_CFLAGS) $(COAP_CFLAGS) $(GNUTLS_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS) $(LIBXML_CFLAGS) $(LIBCBOR_CFLAGS)
lwm2m_libgwlwm2m_la_LIBADD = gatewayd/libgwbase.la $(COAP_LIBS) $(GNUTLS_LIBS) $(JANSSON_LIBS) $(LIBXML_LIBS) $(LIBCBOR_LIBS)

# The object table is generated from the OMA registry's DDF files and kept in
# git, so a build needs neither the registry nor python.  Regenerate with
#   make regen-objdefs LWM2M_REGISTRY=../shared/lwm2m-registry
LWM2M_REGISTRY ?= $(top_srcdir)/../shared/lwm2m-registry
regen-objdefs:
	$(PYTHON3) $(top_srcdir)/lwm2m/gen-objdefs.py $(LWM2M_REGISTRY) > $(top_srcdir)/lwm2m/objdefs_table.c.tmp
	mv $(top_srcdir)/lwm2m/objdefs_table.c.tmp $(top_srcdir)/lwm2m/objdefs_table.c
.PHONY: regen-objdefs
dist_noinst_SCRIPTS += lwm2m/gen-objdefs.py
