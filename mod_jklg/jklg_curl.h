/* Small libcurl helpers shared by the SMTP and gateway clients: one mapping
 * of libcurl's errors to APR's, so that mail and payments agree on what a
 * timeout or an unreachable server is. */
#ifndef JKLG_CURL_H
#define JKLG_CURL_H

#include <apr_errno.h>
#include <curl/curl.h>

/* Appends s to *list; 0 when out of memory (*list is then unchanged, so
 * the caller still frees what it had). */
int jklg_slist_add(struct curl_slist **list, const char *s);

/* APR_SUCCESS for CURLE_OK; APR_TIMEUP: no answer in time; APR_ECONNREFUSED:
 * the server could not be found or reached; APR_ECONNRESET: the connection
 * broke before a whole answer (TLS handshake, send, receive); APR_ENOMEM;
 * APR_EGENERAL for everything else (refused certificate, protocol errors,
 * an answer the caller stopped reading). */
apr_status_t jklg_curl_status(CURLcode rc);

/* 1 when the same request may succeed if tried again: the server was not
 * reached, or did not answer completely in time. */
int jklg_curl_transient(CURLcode rc);

#endif
