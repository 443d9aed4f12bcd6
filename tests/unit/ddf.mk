# Run-time object definitions from DDF files (lwm2m/objdefs_ddf.c) and their
# fixtures: the OMA's 3442.xml (BSD-3-Clause; its licence comment is kept),
# which the built-in table leaves out, a vendor object, and broken files.
check_PROGRAMS += tests/unit/test_objdefs_ddf
tests_unit_test_objdefs_ddf_SOURCES = tests/unit/test_objdefs_ddf.c
tests_unit_test_objdefs_ddf_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_objdefs_ddf_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_objdefs_ddf
EXTRA_DIST += \
	tests/fixtures/ddf/3442.xml \
	tests/fixtures/ddf/vendor-10300.xml \
	tests/fixtures/ddf/bad-malformed.xml \
	tests/fixtures/ddf/bad-no-objectid.xml \
	tests/fixtures/ddf/bad-type.xml \
	tests/fixtures/ddf/bad-dup-resource.xml \
	tests/fixtures/ddf/bad-id-range.xml \
	tests/fixtures/ddf/bad-res-range.xml \
	tests/fixtures/ddf/bad-ops.xml \
	tests/fixtures/ddf/bad-oma-3303.xml \
	tests/fixtures/ddf/bad-entity-bomb.xml \
	tests/fixtures/ddf/bad-external-entity.xml
