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

apr_status_t jklg_curl_status(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return APR_SUCCESS;
    case CURLE_OPERATION_TIMEDOUT:
        return APR_TIMEUP;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return APR_ECONNREFUSED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return APR_ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return APR_ENOMEM;
    default:
        return APR_EGENERAL;
    }
}

int jklg_curl_transient(CURLcode rc)
{
    apr_status_t rv = jklg_curl_status(rc);

    return rv == APR_TIMEUP || rv == APR_ECONNREFUSED || rv == APR_ECONNRESET;
}
