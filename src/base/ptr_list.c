/* Pointers collected during a walk (see ptr_list.h). */
#include "livetally/base/ptr_list.h"

#include "livetally/base/mem.h"

#include <string.h>

void lt_ptr_list_init(struct lt_ptr_list *l)
{
    l->items = l->inline_items;
    l->n = 0;
    l->cap = LT_PTR_LIST_INLINE;
}

void lt_ptr_list_push(struct lt_ptr_list *l, void *p)
{
    if (l->n == l->cap) {
        /* cap * 2 cannot wrap: the list would have filled memory first. */
        size_t cap = l->cap * 2;
        if (l->items == l->inline_items) {
            l->items = lt_malloc(cap * sizeof *l->items);
            memcpy(l->items, l->inline_items, l->n * sizeof *l->items);
        } else {
            l->items = lt_realloc(l->items, cap * sizeof *l->items);
        }
        l->cap = cap;
    }
    l->items[l->n++] = p;
}

void lt_ptr_list_free(struct lt_ptr_list *l)
{
    if (l->items != l->inline_items)
        lt_free(l->items);
    lt_ptr_list_init(l);
}
