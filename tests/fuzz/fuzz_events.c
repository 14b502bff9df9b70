/* Fuzz target: an events request body through lt_events_load and
 * lt_event_parse, with a config that has two counters. */
#include "livetally/conf/config.h"
#include "livetally/core/event_validate.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lt_config cfg;
    static int ready;
    if (!ready) {
        static const char json[] = "{\"counters\": [\"shares\", \"gifts\"]}";
        char err[256];
        if (lt_config_load_string(&cfg, "fuzz", json, sizeof json - 1, err, sizeof err) != 0)
            abort();
        ready = 1;
    }
    int status = 0;
    char msg[200];
    json_t *body = lt_events_load((const char *)data, size, 1000, &status, msg, sizeof msg);
    if (!body) {
        assert(status == 400 || status == 413);
        return 0;
    }
    struct lt_event ev;
    if (json_is_object(body)) {
        if (!lt_event_parse(&cfg, body, &ev))
            assert(ev.n >= 1 && ev.n <= cfg.likes_max_per_message);
    } else {
        size_t i;
        json_t *item;
        json_array_foreach(body, i, item)
        {
            if (!lt_event_parse(&cfg, item, &ev)) {
                assert(ev.n >= 1 && ev.n <= cfg.likes_max_per_message);
                assert(ev.type != LT_EVENT_COUNTER || ev.counter < 2);
                assert(!ev.viewer || strlen(ev.viewer) >= 8);
            }
        }
    }
    json_decref(body);
    return 0;
}
