#include "wipe_check.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

void __real_free(void *p);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);

static const void *armed;
static size_t armed_len;
static unsigned found;

void wipe_check_arm(const void *pattern, size_t n)
{
	armed = pattern;
	armed_len = n;
	found = 0;
}

unsigned wipe_check_found(void)
{
	return found;
}

unsigned wipe_check_disarm(void)
{
	armed = NULL;
	return found;
}

void __wrap_free(void *p)
{
	size_t n;

	if (p && armed) {
		/* The block's unused tail was never written: tell valgrind that
		 * reading it here is meant (it is being freed anyway). */
		n = malloc_usable_size(p);
		VALGRIND_MAKE_MEM_DEFINED(p, n);
		if (memmem(p, n, armed, armed_len))
			found++;
	}
	__real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	if (!n) {
		__wrap_free(p);
		return NULL;
	}
	q = malloc(n);
	if (!q)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	__wrap_free(p);
	return q;
}
