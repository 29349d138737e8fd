/*
 * fuzz.h - what every libFuzzer target in tests/fuzz/ shares.
 *
 * A target is tests/fuzz/fuzz_NAME.c with its seed corpus in
 * tests/fuzz/corpus/NAME/ (and optionally a dictionary tests/fuzz/NAME.dict);
 * make picks up every such file.  Seeds that follow a protocol are written
 * by a script, tests/fuzz/corpus/NAME.py (agent_frames.py), so that a
 * change to the protocol is one edit there and a rerun.  Sanitizers catch memory and undefined
 * behaviour; FUZZ_CHECK states what the code under test promises beyond
 * that, and a broken promise aborts, which libFuzzer records as a finding.
 */
#ifndef SENKO_FUZZ_H
#define SENKO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                              \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "fuzz check failed: %s (%s:%d): ",  \
			    #cond, __FILE__, __LINE__);                    \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			abort();                                           \
		}                                                          \
	} while (0)

#endif
