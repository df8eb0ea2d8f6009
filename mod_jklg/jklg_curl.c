#include <pthread.h>
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

apr_status_t jklg_curl_outcome(CURLcode rc)
{
    apr_status_t rv = jklg_curl_status(rc);

    if (rv == APR_SUCCESS || rv == APR_TIMEUP || rv == APR_ECONNREFUSED) {
        return rv;
    }
    /* A failed handshake sent nothing of the request. */
    return rc == CURLE_SSL_CONNECT_ERROR ? APR_ECONNREFUSED : APR_INCOMPLETE;
}

CURLcode jklg_curl_setup(CURL *c, const char *url, const char *protocols,
                         long connect_ms, long total_ms, char *errbuf)
{
    CURLcode rc;

    if ((rc = curl_easy_setopt(c, CURLOPT_URL, url))
        || (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols))
        || (rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L))
        || (rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms))
        || (rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms))
        || (rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf))) {
        return rc;
    }
    return CURLE_OK;
}

/* The handle outlives any pool: a thread-specific key cleans it up when
 * the thread ends. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static int handle_key_ok;

static void handle_destroy(void *handle)
{
    curl_easy_cleanup(handle);
}

static void handle_key_create(void)
{
    handle_key_ok = pthread_key_create(&handle_key, handle_destroy) == 0;
}

CURL *jklg_curl_thread_handle(void)
{
    CURL *c;

    pthread_once(&handle_once, handle_key_create);
    if (!handle_key_ok) {
        return NULL;
    }
    c = pthread_getspecific(handle_key);
    if (c == NULL && (c = curl_easy_init()) != NULL
        && pthread_setspecific(handle_key, c) != 0) {
        curl_easy_cleanup(c);
        c = NULL;
    }
    return c;
}
