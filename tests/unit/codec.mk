# Unit tests of the LwM2M value/codec layer and the object table.
check_PROGRAMS += tests/unit/test_lwm_types
tests_unit_test_lwm_types_SOURCES = tests/unit/test_lwm_types.c $(WIPE_CHECK_SRC)
tests_unit_test_lwm_types_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_lwm_types_LDFLAGS = $(WIPE_CHECK_WRAP)
tests_unit_test_lwm_types_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_lwm_types

check_PROGRAMS += tests/unit/test_codec_text
tests_unit_test_codec_text_SOURCES = tests/unit/test_codec_text.c
tests_unit_test_codec_text_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_text_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_text

check_PROGRAMS += tests/unit/test_codec_tlv
tests_unit_test_codec_tlv_SOURCES = tests/unit/test_codec_tlv.c
tests_unit_test_codec_tlv_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_tlv_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_tlv

check_PROGRAMS += tests/unit/test_codec_senml_json
tests_unit_test_codec_senml_json_SOURCES = tests/unit/test_codec_senml_json.c
tests_unit_test_codec_senml_json_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_senml_json_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_senml_json

check_PROGRAMS += tests/unit/test_objdefs
tests_unit_test_objdefs_SOURCES = tests/unit/test_objdefs.c
tests_unit_test_objdefs_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_objdefs_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_objdefs

check_PROGRAMS += tests/unit/test_codec_senml_cbor
tests_unit_test_codec_senml_cbor_SOURCES = tests/unit/test_codec_senml_cbor.c
tests_unit_test_codec_senml_cbor_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_senml_cbor_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_senml_cbor

check_PROGRAMS += tests/unit/test_codec_senml_paths
tests_unit_test_codec_senml_paths_SOURCES = tests/unit/test_codec_senml_paths.c
tests_unit_test_codec_senml_paths_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_senml_paths_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_senml_paths

check_PROGRAMS += tests/unit/test_codec_cbor
tests_unit_test_codec_cbor_SOURCES = tests/unit/test_codec_cbor.c
tests_unit_test_codec_cbor_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_cbor_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_cbor

check_PROGRAMS += tests/unit/test_codec_lwm2m_json
tests_unit_test_codec_lwm2m_json_SOURCES = tests/unit/test_codec_lwm2m_json.c
tests_unit_test_codec_lwm2m_json_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_lwm2m_json_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_lwm2m_json

check_PROGRAMS += tests/unit/test_codec_lwm2m_cbor
tests_unit_test_codec_lwm2m_cbor_SOURCES = tests/unit/test_codec_lwm2m_cbor.c
tests_unit_test_codec_lwm2m_cbor_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_codec_lwm2m_cbor_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_codec_lwm2m_cbor

EXTRA_DIST += tests/unit/codec_test.h
