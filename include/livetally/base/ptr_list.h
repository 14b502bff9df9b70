/* A list of pointers collected while walking something that must not change
 * under the walk (a map under lt_map_next), acted on after it. The first
 * LT_PTR_LIST_INLINE live inside the struct (usually on the stack); more go
 * on the heap through lt_mem, so nothing is ever dropped or left for later.
 *
 * Ownership: the list owns only its heap block; lt_ptr_list_free releases
 * it. The pointers are the caller's. */
#ifndef LIVETALLY_PTR_LIST_H
#define LIVETALLY_PTR_LIST_H

#include <stddef.h>

#define LT_PTR_LIST_INLINE 64

struct lt_ptr_list {
    void **items; /* inline, or lt_malloc'd once past it */
    size_t n, cap;
    void *inline_items[LT_PTR_LIST_INLINE];
};

void lt_ptr_list_init(struct lt_ptr_list *l);
void lt_ptr_list_push(struct lt_ptr_list *l, void *p);
void lt_ptr_list_free(struct lt_ptr_list *l);

#endif
