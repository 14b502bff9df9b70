/* Event validation (see event_validate.h). */
#include "livetally/core/event_validate.h"

#include "livetally/base/ids.h"
#include "livetally/conf/config.h"

#include <stdio.h>
#include <string.h>

const char *lt_event_parse(const struct lt_config *cfg, json_t *ev, struct lt_event *out)
{
    if (!json_is_object(ev))
        return "an event is a JSON object";
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        return "type is required";
    if (strcmp(type, "view") == 0) {
        out->type = LT_EVENT_VIEW;
    } else if (strcmp(type, "like") == 0) {
        out->type = LT_EVENT_LIKE;
    } else {
        size_t i;
        for (i = 0; i < cfg->counters.n; i++)
            if (strcmp(type, cfg->counters.items[i]) == 0)
                break;
        if (i == cfg->counters.n)
            return "type is view, like or a configured counter";
        out->type = LT_EVENT_COUNTER;
        out->counter = i;
    }
    /* n is never clamped: a value out of range rejects the event. */
    json_t *n = json_object_get(ev, "n");
    out->n = 1;
    if (n) {
        if (!json_is_integer(n))
            return "n is a whole number";
        out->n = json_integer_value(n);
        if (out->n < 1 || out->n > cfg->likes_max_per_message)
            return "n is out of range";
        if (out->type == LT_EVENT_VIEW && out->n != 1)
            return "a view event counts one view (n is 1)";
    }
    json_t *viewer = json_object_get(ev, "viewer");
    out->viewer = NULL;
    if (viewer && !json_is_null(viewer)) {
        const char *v = json_string_value(viewer);
        if (!v || !lt_valid_viewer_id(v, json_string_length(viewer)))
            return "viewer is 8-64 characters of A-Z a-z 0-9 _ -";
        out->viewer = v;
    }
    json_t *source = json_object_get(ev, "source");
    out->source = NULL;
    if (source && !json_is_null(source)) {
        const char *s = json_string_value(source);
        if (!s || !lt_valid_source_id(s, json_string_length(source)))
            return "source is 1-32 characters of a-z 0-9 _ -";
        out->source = s;
    }
    return NULL;
}

json_t *lt_events_load(const char *body, size_t len, size_t max_events, int *status, char *msg,
                       size_t msg_cap)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        *status = 400;
        snprintf(msg, msg_cap, "the body is not JSON: %s at byte %d", jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(root) && !json_is_array(root)) {
        json_decref(root);
        *status = 400;
        snprintf(msg, msg_cap, "the body is an event object or an array of them");
        return NULL;
    }
    if (json_is_array(root) && json_array_size(root) > max_events) {
        json_decref(root);
        *status = 413;
        snprintf(msg, msg_cap, "at most %zu events per request", max_events);
        return NULL;
    }
    return root;
}
