/* Event validation: the contract's rules for one event object of
 * POST /v1/streams/{id}/events and of the WebSocket view and like messages
 * that carry the same fields (through lt_ingest_validate, ingest.h). No I/O,
 * no allocation: pointers refer into the json_t. */
#ifndef LIVETALLY_EVENT_VALIDATE_H
#define LIVETALLY_EVENT_VALIDATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct lt_config;

enum lt_event_type { LT_EVENT_VIEW, LT_EVENT_LIKE, LT_EVENT_COUNTER };

struct lt_event {
    enum lt_event_type type;
    size_t counter;     /* with LT_EVENT_COUNTER: index into cfg->counters */
    int64_t n;          /* 1 when absent; views always 1 */
    const char *viewer; /* NULL when not named */
    const char *source; /* NULL = direct */
};

/* Fills out from a JSON event. Returns NULL when the event is valid, else a
 * short human reason for the client ("n is out of range"). */
const char *lt_event_parse(const struct lt_config *cfg, json_t *event, struct lt_event *out);

/* Parses a request body: a JSON object or an array of at most max_events
 * objects. Returns the JSON (the caller decrefs) or NULL with *status set to
 * 400 (not JSON, not an object or array) or 413 (too many events) and a
 * reason in msg. */
json_t *lt_events_load(const char *body, size_t len, size_t max_events, int *status, char *msg,
                       size_t msg_cap);

#endif
