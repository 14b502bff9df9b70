/* Intrusive doubly linked lists: the node type has `prev` and `next`
 * pointers of its own type, the head is a plain pointer. Used for the
 * connections of a server and the subscribers of a stream, where a node
 * must leave in O(1) from wherever it is. */
#ifndef LIVETALLY_LIST_H
#define LIVETALLY_LIST_H

#define LT_LIST_PUSH(head, node)                                                                  \
    do {                                                                                          \
        (node)->prev = NULL;                                                                      \
        (node)->next = (head);                                                                    \
        if (head)                                                                                 \
            (head)->prev = (node);                                                                \
        (head) = (node);                                                                          \
    } while (0)

#define LT_LIST_REMOVE(head, node)                                                                \
    do {                                                                                          \
        if ((node)->prev)                                                                         \
            (node)->prev->next = (node)->next;                                                    \
        else                                                                                      \
            (head) = (node)->next;                                                                \
        if ((node)->next)                                                                         \
            (node)->next->prev = (node)->prev;                                                    \
        (node)->prev = (node)->next = NULL;                                                       \
    } while (0)

#endif
