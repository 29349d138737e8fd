/*
 * mirror_scan.c - scan a device's mirror once and print what it cost.
 *
 * usage: helper-mirror_scan STATE_DIR DEVICE
 * Prints one line: "files N hashed H bytes_hashed B ms T" where T is the
 * wall time of opening the mirror (loading its index) and scanning it:
 * what re-checking a board's mirror costs.
 */
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "manifest.h"
#include "mirror.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	struct manifest out = MANIFEST_INIT;
	struct mirror m;
	double start, ms;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s STATE_DIR DEVICE\n", argv[0]);
		return 2;
	}
	log_init("mirror_scan", 0, 0);
	start = now_ms();
	if (mirror_open(&m, argv[1], argv[2]) == -1) {
		mirror_release(&m);
		return 1;
	}
	rc = mirror_scan(&m, &out);
	ms = now_ms() - start;
	if (rc == 0)
		printf("files %zu hashed %lu bytes_hashed %llu ms %.1f\n",
		    out.n, m.stats.files_hashed,
		    (unsigned long long)m.stats.bytes_hashed, ms);
	manifest_release(&out);
	mirror_release(&m);
	return rc == 0 ? 0 : 1;
}
