/*
 * jwt_fixture.h - the key and the clock of the JWT harnesses, fixed so that
 * a run is deterministic; tests/fuzz/mkcorpus.sh signs the seeds with the
 * same key (fuzz_api uses it as SECRET_KEY and the real clock, so its seed
 * tokens expire in 2100).
 */
#ifndef AP_FUZZ_JWT_FIXTURE_H
#define AP_FUZZ_JWT_FIXTURE_H

#define FUZZ_JWT_KEY "fuzz-jwt-key-0123456789abcdef"
#define FUZZ_JWT_OTHER_KEY "fuzz-jwt-key-0123456789abcdeF"
#define FUZZ_JWT_NOW 1700000000LL	/* 2023-11-14T22:13:20Z */

#endif
