/* Browser families from User-Agent headers. Browsers built on another
 * engine name that engine's browser too (Edge and Opera say "Chrome/",
 * Chrome says "Safari/", iOS browsers all say "Safari/"), so the tokens
 * are tried from the most specific to the most generic. */
#include <string.h>
#include <strings.h>
#include "jklg_useragent.h"

typedef struct {
    const char *token;          /* found anywhere in the header */
    const char *family;
} family_token_t;

static const family_token_t tokens[] = {
    {"Edg/", "Edge"},           /* Chromium Edge, desktop */
    {"EdgA/", "Edge"},          /* Android */
    {"EdgiOS/", "Edge"},        /* iOS */
    {"Edge/", "Edge"},          /* EdgeHTML Edge */
    {"OPR/", "Opera"},          /* Chromium Opera */
    {"OPiOS/", "Opera"},
    {"Opera", "Opera"},         /* Presto Opera: "Opera/9.80 ..." */
    {"Firefox/", "Firefox"},
    {"FxiOS/", "Firefox"},
    {"Chrome/", "Chrome"},
    {"CriOS/", "Chrome"},
    {"Chromium/", "Chrome"},
    {"Safari/", "Safari"},
    {NULL, NULL}
};

const char *jklg_browser_family(const char *user_agent)
{
    const family_token_t *t;

    if (!user_agent || !*user_agent) {
        return "other";
    }
    if (!strncasecmp(user_agent, "curl/", 5)) {
        return "curl";
    }
    for (t = tokens; t->token; t++) {
        if (strstr(user_agent, t->token)) {
            return t->family;
        }
    }
    return "other";
}
