/* Fuzzes the chunked decoder's incrementality: the input is decoded in one
 * piece, in two pieces split at a point chosen by its first byte, and a byte
 * at a time; all three must end the same way, at the same input position,
 * with the same body. A decoder that kept state in the wrong place (or looked
 * ahead) shows up as a difference. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetally/net/http_parse.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BODY_CAP 512

struct run {
    int rc;
    struct lt_chunked st;
    char out[BODY_CAP];
};

static void check_result(const struct run *r, size_t size)
{
    CHECK(r->rc == LT_HTTP_NEED_MORE || r->rc == 1 || r->rc == LT_HTTP_BAD ||
          r->rc == LT_HTTP_BODY_TOO_LARGE);
    CHECK(r->st.in_pos <= size);
    CHECK(r->st.out_len <= BODY_CAP);
    CHECK(r->st.out_len <= r->st.in_pos);
    /* Every byte given is consumed unless decoding ended. */
    if (r->rc == LT_HTTP_NEED_MORE)
        CHECK(r->st.in_pos == size);
}

static void same(const struct run *a, const struct run *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->st.in_pos == b->st.in_pos);
    CHECK(a->st.out_len == b->st.out_len);
    CHECK(memcmp(a->out, b->out, a->st.out_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    static struct run whole, split, bytes;

    memset(&whole.st, 0, sizeof whole.st);
    whole.rc = lt_chunked_step(&whole.st, buf, size, whole.out, BODY_CAP);
    check_result(&whole, size);

    size_t cut = size ? data[0] % (size + 1) : 0;
    memset(&split.st, 0, sizeof split.st);
    split.rc = lt_chunked_step(&split.st, buf, cut, split.out, BODY_CAP);
    check_result(&split, cut);
    /* Called again after an end, the decoder must repeat itself. */
    int first = split.rc;
    split.rc = lt_chunked_step(&split.st, buf, size, split.out, BODY_CAP);
    if (first != LT_HTTP_NEED_MORE)
        CHECK(split.rc == first);
    same(&whole, &split);

    memset(&bytes.st, 0, sizeof bytes.st);
    bytes.rc = LT_HTTP_NEED_MORE;
    for (size_t i = 1; i <= size && bytes.rc == LT_HTTP_NEED_MORE; i++)
        bytes.rc = lt_chunked_step(&bytes.st, buf, i, bytes.out, BODY_CAP);
    same(&whole, &bytes);
    return 0;
}
