/* The fuzz targets' one assertion: a property that must hold for every
 * input, checked in every build (NDEBUG too), reported with its place and
 * ended with abort() so libFuzzer and the corpus replay both see it. */
#ifndef LIVETALLY_FUZZ_CHECK_H
#define LIVETALLY_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
