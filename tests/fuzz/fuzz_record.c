/*
 * fuzz_record - the record a board hands back (src/board/record.c): its
 * index and its pages are read from a board senko does not trust.
 *
 * The first byte of an input picks what the rest is:
 *   bit 0      0: the index (.senko.json, version 1 or 2), 1: a page
 *   bits 1-4   a page's number of pages, as a power of two (1 .. 4096)
 *   byte 1     a page's number, modulo that
 * Whatever it holds, what is accepted must be what the layout promises: an
 * index of 1 .. RECORD_PAGES_MAX pages (a power of two) with a hex digest,
 * a version 1 record of safe paths and hex SHAs; a page whose every path is
 * safe, has a hex SHA, appears once and hashes to that page.  Refused input
 * leaves nothing behind.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "githash.h"
#include "log.h"
#include "manifest.h"
#include "path.h"
#include "record.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_record", -1, 0);
	log_thread_quiet(1);
	return 0;
}

static void
check_entries(struct manifest *m, unsigned k, unsigned npages)
{
	size_t i;

	manifest_sort(m);
	for (i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];

		FUZZ_CHECK(path_is_safe(e->path, strlen(e->path), NULL),
		    "unsafe path '%s'", e->path);
		FUZZ_CHECK(githash_is_hex(e->sha), "bad sha for '%s'", e->path);
		FUZZ_CHECK(i == 0 || strcmp(m->entries[i - 1].path, e->path),
		    "'%s' twice", e->path);
		FUZZ_CHECK(npages == 0 || record_page_of(e->path, npages) == k,
		    "'%s' accepted on page %u of %u", e->path, k, npages);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m = MANIFEST_INIT;
	struct record_index ix;
	unsigned npages, k;
	const char *text;
	size_t len;

	if (size < 2)
		return 0;
	npages = 1u << ((data[0] >> 1 & 15) % 13);
	k = data[1] % npages;
	text = (const char *)data + 2;
	len = size - 2;
	if ((data[0] & 1) == 0) {
		if (record_read_index(text, len, "fuzz", &ix, &m) == 0) {
			FUZZ_CHECK(ix.version == 1 || ix.version == 2,
			    "version %d", ix.version);
			FUZZ_CHECK(*ix.commit == '\0' || githash_is_hex(ix.commit),
			    "bad commit");
			if (ix.version == 2) {
				FUZZ_CHECK(ix.npages >= 1 &&
				    ix.npages <= RECORD_PAGES_MAX &&
				    (ix.npages & (ix.npages - 1)) == 0,
				    "%u pages", ix.npages);
				FUZZ_CHECK(githash_is_hex(ix.digest),
				    "bad digest");
				FUZZ_CHECK(m.n == 0, "an index with files");
			}
			check_entries(&m, 0, 0);
		} else
			FUZZ_CHECK(m.n == 0, "a refused index left files");
	} else if (record_read_page(text, len, k, npages, "fuzz", &m) == 0)
		check_entries(&m, k, npages);
	manifest_release(&m);
	return 0;
}
