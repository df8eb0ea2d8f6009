#include "jklg_curl.h"

int jklg_slist_add(struct curl_slist **list, const char *s)
{
    struct curl_slist *l = curl_slist_append(*list, s);

    if (l == NULL) {
        return 0;
    }
    *list = l;
    return 1;
}
