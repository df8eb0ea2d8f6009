/* The libcurl pieces shared by the SMTP and gateway clients: one mapping
 * of libcurl's errors to APR's, so that mail and payments agree on what a
 * timeout or an unreachable server is, the options every transfer sets,
 * and a handle per thread for clients that keep connections open. */
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

/* For a request that changes something (a payment): APR_SUCCESS,
 * APR_TIMEUP (no answer in time), APR_ECONNREFUSED (nothing of the
 * request left: the server was not found, not reached, or the TLS
 * handshake failed) or APR_INCOMPLETE (it may have reached the server:
 * the outcome is unknown). Built on jklg_curl_status. */
apr_status_t jklg_curl_outcome(CURLcode rc);

/* The options of every transfer: the URL, the protocols allowed, no
 * signals (threads), the connect and total timeouts in ms, and the
 * buffer for curl's own message (CURL_ERROR_SIZE bytes). */
CURLcode jklg_curl_setup(CURL *c, const char *url, const char *protocols,
                         long connect_ms, long total_ms, char *errbuf);

/* This thread's easy handle, made on first use and cleaned up when the
 * thread ends; NULL when out of memory. Kept between calls so that the
 * connection (and its TLS session) stays open: reset it (curl_easy_reset
 * keeps the connection cache) before use, and after, so that it keeps no
 * pointer into a pool. */
CURL *jklg_curl_thread_handle(void);

#endif
