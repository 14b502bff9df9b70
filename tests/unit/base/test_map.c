/* Unit tests of map.c: put/get/replace/remove, growth to many keys, iteration
 * visiting every entry once, keys that share prefixes or contain NUL bytes,
 * and the empty and cleared map. */
#include "livetally/base/map.h"
#include "livetally/base/mem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#define MANY 10000

static struct lt_map map;
/* Values are pointers into this array, so a value tells which key it was. */
static int slots[MANY];

static int setup(void **state)
{
    (void)state;
    lt_map_init(&map);
    for (int i = 0; i < MANY; i++)
        slots[i] = i;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_map_clear(&map);
    return 0;
}

static size_t key_of(int i, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "stream-%d", i);
    return (size_t)n;
}

static void put_str(const char *key, void *value)
{
    lt_map_put(&map, key, strlen(key), value);
}

static void *get_str(const char *key)
{
    return lt_map_get(&map, key, strlen(key));
}

/* Counts how often iteration yields each of the first n slots; fails on a
 * value that is not one of them. */
static void count_visits(size_t n, int *visits)
{
    size_t bucket = 0;
    memset(visits, 0, n * sizeof *visits);
    for (struct lt_map_entry *e = lt_map_next(&map, NULL, &bucket); e;
         e = lt_map_next(&map, e, &bucket)) {
        int *v = e->value;
        assert_true(v >= slots && v < slots + n);
        visits[*v]++;
    }
}

static void test_empty_map(void **state)
{
    (void)state;
    size_t bucket = 0;
    assert_int_equal(map.count, 0);
    assert_null(get_str("a"));
    assert_null(lt_map_get(&map, "", 0));
    assert_null(lt_map_remove(&map, "a", 1));
    assert_null(lt_map_next(&map, NULL, &bucket));
    assert_int_equal(map.count, 0);
}

static void test_put_get(void **state)
{
    (void)state;
    struct lt_map_entry *e = lt_map_put(&map, "alpha", 5, &slots[1]);
    assert_non_null(e);
    assert_string_equal(e->key, "alpha");
    assert_int_equal(e->key_len, 5);
    assert_ptr_equal(e->value, &slots[1]);
    put_str("beta", &slots[2]);
    assert_int_equal(map.count, 2);
    assert_ptr_equal(get_str("alpha"), &slots[1]);
    assert_ptr_equal(get_str("beta"), &slots[2]);
    assert_null(get_str("gamma"));
}

static void test_key_is_copied(void **state)
{
    (void)state;
    char key[16] = "copied";
    struct lt_map_entry *e = lt_map_put(&map, key, strlen(key), &slots[3]);
    memset(key, 'x', sizeof key - 1);
    assert_string_equal(e->key, "copied");
    assert_ptr_equal(get_str("copied"), &slots[3]);
    assert_null(lt_map_get(&map, key, 6));
}

static void test_len_not_nul_decides(void **state)
{
    (void)state;
    /* The key is (pointer, length): a longer buffer contributes only len bytes. */
    const char buf[] = "viewer-12345";
    lt_map_put(&map, buf, 6, &slots[1]);
    assert_ptr_equal(get_str("viewer"), &slots[1]);
    assert_null(get_str("viewer-12345"));
    assert_null(get_str("viewe"));
}

static void test_replace_keeps_entry(void **state)
{
    (void)state;
    struct lt_map_entry *first = lt_map_put(&map, "k", 1, &slots[1]);
    struct lt_map_entry *again = lt_map_put(&map, "k", 1, &slots[2]);
    assert_ptr_equal(first, again);
    assert_int_equal(map.count, 1);
    assert_ptr_equal(get_str("k"), &slots[2]);
    assert_ptr_equal(lt_map_remove(&map, "k", 1), &slots[2]);
    assert_null(get_str("k"));
}

static void test_remove(void **state)
{
    (void)state;
    put_str("one", &slots[1]);
    put_str("two", &slots[2]);
    put_str("three", &slots[3]);
    assert_ptr_equal(lt_map_remove(&map, "two", 3), &slots[2]);
    assert_int_equal(map.count, 2);
    assert_null(get_str("two"));
    assert_null(lt_map_remove(&map, "two", 3));
    assert_int_equal(map.count, 2);
    assert_ptr_equal(get_str("one"), &slots[1]);
    assert_ptr_equal(get_str("three"), &slots[3]);
    /* A removed key can be put again. */
    put_str("two", &slots[4]);
    assert_ptr_equal(get_str("two"), &slots[4]);
    assert_int_equal(map.count, 3);
}

static void test_null_value_is_stored(void **state)
{
    (void)state;
    /* A NULL value is indistinguishable from absence for get, but the entry
     * exists: it is counted and iterated. */
    put_str("nothing", NULL);
    assert_int_equal(map.count, 1);
    size_t bucket = 0;
    struct lt_map_entry *e = lt_map_next(&map, NULL, &bucket);
    assert_non_null(e);
    assert_string_equal(e->key, "nothing");
    assert_null(lt_map_next(&map, e, &bucket));
}

static void test_same_prefix_keys(void **state)
{
    (void)state;
    static const char *const keys[] = {"s",        "st",        "str",        "stream",
                                       "stream-1", "stream-10", "stream-100", "stream-1000",
                                       "stream-",  ""};
    const size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++)
        put_str(keys[i], &slots[i]);
    assert_int_equal(map.count, n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(get_str(keys[i]), &slots[i]);
    assert_ptr_equal(lt_map_remove(&map, "stream-10", 9), &slots[5]);
    assert_null(get_str("stream-10"));
    assert_ptr_equal(get_str("stream-1"), &slots[4]);
    assert_ptr_equal(get_str("stream-100"), &slots[6]);
    assert_ptr_equal(get_str(""), &slots[9]);
}

static void test_keys_with_nul_bytes(void **state)
{
    (void)state;
    lt_map_put(&map, "a\0b", 3, &slots[1]);
    lt_map_put(&map, "a\0c", 3, &slots[2]);
    lt_map_put(&map, "a", 1, &slots[3]);
    assert_int_equal(map.count, 3);
    assert_ptr_equal(lt_map_get(&map, "a\0b", 3), &slots[1]);
    assert_ptr_equal(lt_map_get(&map, "a\0c", 3), &slots[2]);
    assert_ptr_equal(lt_map_get(&map, "a", 1), &slots[3]);
    assert_null(lt_map_get(&map, "a\0", 2));
}

static void test_growth_many_keys(void **state)
{
    (void)state;
    char key[32];
    size_t initial_buckets = map.n_buckets;
    struct lt_map_entry *first = lt_map_put(&map, "stream-0", 8, &slots[0]);
    for (int i = 1; i < MANY; i++)
        lt_map_put(&map, key, key_of(i, key, sizeof key), &slots[i]);
    assert_int_equal(map.count, MANY);
    assert_true(map.n_buckets > initial_buckets);
    /* Power of two, and chains stay short on average. */
    assert_int_equal(map.n_buckets & (map.n_buckets - 1), 0);
    assert_true(map.n_buckets >= map.count);
    for (int i = 0; i < MANY; i++)
        assert_ptr_equal(lt_map_get(&map, key, key_of(i, key, sizeof key)), &slots[i]);
    assert_null(lt_map_get(&map, key, key_of(MANY, key, sizeof key)));
    /* Entries are not moved by growth: the first entry's key is still valid. */
    assert_ptr_equal(lt_map_get(&map, "stream-0", 8), &slots[0]);
    assert_string_equal(first->key, "stream-0");
    assert_ptr_equal(first->value, &slots[0]);
}

static void test_remove_half_of_many(void **state)
{
    (void)state;
    char key[32];
    for (int i = 0; i < MANY; i++)
        lt_map_put(&map, key, key_of(i, key, sizeof key), &slots[i]);
    for (int i = 0; i < MANY; i += 2)
        assert_ptr_equal(lt_map_remove(&map, key, key_of(i, key, sizeof key)), &slots[i]);
    assert_int_equal(map.count, MANY / 2);
    for (int i = 0; i < MANY; i++) {
        void *v = lt_map_get(&map, key, key_of(i, key, sizeof key));
        if (i % 2)
            assert_ptr_equal(v, &slots[i]);
        else
            assert_null(v);
    }
    static int visits[MANY];
    count_visits(MANY, visits);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(visits[i], i % 2);
}

static void test_iteration_small(void **state)
{
    (void)state;
    int visits[5];
    put_str("a", &slots[0]);
    put_str("b", &slots[1]);
    put_str("c", &slots[2]);
    put_str("d", &slots[3]);
    put_str("e", &slots[4]);
    count_visits(5, visits);
    for (int i = 0; i < 5; i++)
        assert_int_equal(visits[i], 1);
}

static void test_iteration_many_once_each(void **state)
{
    (void)state;
    char key[32];
    static int visits[MANY];
    for (int i = 0; i < MANY; i++)
        lt_map_put(&map, key, key_of(i, key, sizeof key), &slots[i]);
    count_visits(MANY, visits);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(visits[i], 1);
    /* The entry's key matches the key the value was stored under. */
    size_t bucket = 0;
    for (struct lt_map_entry *e = lt_map_next(&map, NULL, &bucket); e;
         e = lt_map_next(&map, e, &bucket)) {
        size_t len = key_of(*(int *)e->value, key, sizeof key);
        assert_int_equal(e->key_len, len);
        assert_memory_equal(e->key, key, len + 1);
    }
}

static void test_clear_then_reuse(void **state)
{
    (void)state;
    int64_t before = lt_mem_live_bytes();
    char key[32];
    for (int i = 0; i < 100; i++)
        lt_map_put(&map, key, key_of(i, key, sizeof key), &slots[i]);
    assert_true(lt_mem_live_bytes() > before);
    lt_map_clear(&map);
    assert_int_equal(map.count, 0);
    assert_null(get_str("stream-1"));
    size_t bucket = 0;
    assert_null(lt_map_next(&map, NULL, &bucket));
    /* Cleared, the map can be used again (teardown clears it once more). */
    put_str("again", &slots[7]);
    assert_ptr_equal(get_str("again"), &slots[7]);
    assert_int_equal(map.count, 1);
}

static void test_clear_frees_entries(void **state)
{
    (void)state;
    lt_map_clear(&map); /* the setup's empty table */
    int64_t before = lt_mem_live_bytes();
    lt_map_init(&map);
    char key[32];
    for (int i = 0; i < 1000; i++)
        lt_map_put(&map, key, key_of(i, key, sizeof key), &slots[i]);
    lt_map_clear(&map);
    assert_int_equal(lt_mem_live_bytes(), before);
    lt_map_init(&map);
}

static void test_hash_bytes(void **state)
{
    (void)state;
    assert_true(lt_hash_bytes("abc", 3) == lt_hash_bytes("abc", 3));
    assert_true(lt_hash_bytes("abc", 3) != lt_hash_bytes("abd", 3));
    assert_true(lt_hash_bytes("abc", 3) != lt_hash_bytes("abc", 2));
    assert_true(lt_hash_bytes("a\0", 2) != lt_hash_bytes("a", 1));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_map),
        T(test_put_get),
        T(test_key_is_copied),
        T(test_len_not_nul_decides),
        T(test_replace_keeps_entry),
        T(test_remove),
        T(test_null_value_is_stored),
        T(test_same_prefix_keys),
        T(test_keys_with_nul_bytes),
        T(test_growth_many_keys),
        T(test_remove_half_of_many),
        T(test_iteration_small),
        T(test_iteration_many_once_each),
        T(test_clear_then_reuse),
        T(test_clear_frees_entries),
        T(test_hash_bytes),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
