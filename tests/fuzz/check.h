#pragma once

#include <cstdio>
#include <cstdlib>

// A property the target checks beyond "does not crash": reported and aborted
// on, so that libFuzzer keeps the input as a crash.
#define FUZZ_CHECK(cond, what)                                                            \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, (what)); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (false)
